"""Each module of the core imports on its own (no import circle hides behind an import
order), and listing components imports no torch."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import ganzoo

IMPORT_EACH_ALONE = r"""
import importlib, sys
failures = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "ganzoo" or m.startswith(("ganzoo.", "ganzoo_plugins"))]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001
        failures.append(f"{name}: {type(exc).__name__}: {exc}")
print("\n".join(failures))
"""


def core_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(ganzoo.__path__, "ganzoo.")
                  if m.name != "ganzoo.__main__")


def test_every_core_module_imports_alone():
    modules = core_modules()
    assert {"ganzoo.training.run", "ganzoo.outputs.sampling", "ganzoo.metrics.evaluate", "ganzoo.plugins.build",
            "ganzoo.training.loop", "ganzoo.testing.models"} <= set(modules)
    result = subprocess.run([sys.executable, "-c", IMPORT_EACH_ALONE, *modules], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_run_sampling_and_evaluation_import_in_one_direction():
    """run -> evaluate -> sampling -> components: the lower modules never import the higher."""
    code = ("import sys, ganzoo.outputs.sampling, ganzoo.metrics.evaluate; "
            "print('ganzoo.training.run' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_listing_components_imports_no_torch():
    code = "import sys, ganzoo; ganzoo.list(); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"

"""Each module of the core and of the built-in plugins imports on its own (no import circle
hides behind an import order), a built-in family imports no other family, and listing
components imports no torch."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import ganzoo
import ganzoo_plugins

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


def plugin_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(ganzoo_plugins.__path__, "ganzoo_plugins."))


def test_every_plugin_module_imports_alone():
    modules = plugin_modules()
    assert {"ganzoo_plugins.layers.dcgan", "ganzoo_plugins.cyclegan.algorithm", "ganzoo_plugins.relgan.metrics",
            "ganzoo_plugins.wavegan.data"} <= set(modules)
    result = subprocess.run([sys.executable, "-c", IMPORT_EACH_ALONE, *modules], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", result.stdout


def imported_plugin_packages(path: Path, package: str) -> set[str]:
    """The ``ganzoo_plugins`` subpackages the module at ``path`` (in ``package``) imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                names = [".".join(base + ([node.module] if node.module else []))]
                if not node.module:
                    names = [f"{names[0]}.{alias.name}" for alias in node.names]
            else:
                names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {n.split(".")[1] for n in names if n.startswith("ganzoo_plugins.")}
    return found


def test_a_family_imports_the_core_the_shared_layers_and_itself_only():
    """A family folder may import ganzoo, ganzoo_plugins.layers and its own modules; the layers
    import no family."""
    root = Path(ganzoo_plugins.__file__).parent
    families = [p for p in root.iterdir() if (p / "__init__.py").is_file() and p.name != "layers"]
    assert len(families) >= 17
    for folder in [*families, root / "layers"]:
        allowed = {folder.name, "layers"}
        for path in folder.glob("*.py"):
            package = f"ganzoo_plugins.{folder.name}"
            other = imported_plugin_packages(path, package) - allowed
            assert not other, f"{path.relative_to(root)} imports ganzoo_plugins.{sorted(other)[0]}"


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

"""`ganzoo plugin new`: the generated package, refusals, and a third party's whole path
(scaffold, install into a fresh environment, list, train, test, uninstall)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import sysconfig
import types
from pathlib import Path

import pytest

from ganzoo.scaffold import create_plugin, render
from ganzoo.testing import check_plugin

from .conftest import BUILTIN_PLUGINS


def test_render_fills_every_placeholder():
    files = render("style-gan")
    assert set(files) == {"pyproject.toml", "README.md", "ganzoo_style_gan/__init__.py",
                          "ganzoo_style_gan/nets.py", "tests/test_plugin.py"}
    for path, text in files.items():
        assert "${" not in text and "$name" not in text, path
    pyproject = files["pyproject.toml"]
    assert 'name = "ganzoo-style-gan"' in pyproject
    assert '[project.entry-points.ganzoo]\nstyle-gan = "ganzoo_style_gan"' in pyproject
    init = files["ganzoo_style_gan/__init__.py"]
    assert 'GANZOO_API = ">=2,<3"' in init and "class StyleGanConfig(BaseModel)" in init
    assert 'build="ganzoo_style_gan.nets:build"' in init and "import torch" not in init
    assert 'assert_plugin_conforms("style-gan")' in files["tests/test_plugin.py"]
    for path in ("ganzoo_style_gan/__init__.py", "ganzoo_style_gan/nets.py", "tests/test_plugin.py"):
        compile(files[path], path, "exec")  # valid Python


def test_plugin_new_writes_the_package(cli, tmp_path):
    result = cli("plugin", "new", "zebra", "--dir", str(tmp_path / "src"))
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip())
    assert path == tmp_path / "src" / "ganzoo-zebra"
    assert sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()) == [
        "README.md", "ganzoo_zebra/__init__.py", "ganzoo_zebra/nets.py", "pyproject.toml", "tests/test_plugin.py"]
    assert "pip install -e" in result.stderr and "ganzoo plugin check zebra" in result.stderr
    assert oct(path.stat().st_mode & 0o777) != oct(0o700)  # not the private mode of a temporary folder


# chosen: each way a name is refused (every built-in name: test_every_builtin_name_is_refused)
@pytest.mark.parametrize("name, reason", [
    ("My_Plugin", "use lowercase letters, digits and single hyphens"),
    ("9lives", "use lowercase letters"),
    ("double--hyphen", "use lowercase letters"),
    ("ganzoo-extra", "leave out the 'ganzoo-' prefix"),
    ("dcgan", "a built-in plugin has that name"),
    ("cyclegan", "a built-in plugin has that name"),
    ("inpainting", "a built-in plugin has that name"),
    ("context-encoder", "the built-in plugin 'inpainting' has a model of that name"),
    ("x" * 41, "at most 40 characters"),
])
def test_bad_names_are_refused_with_one_line(cli, tmp_path, name, reason):
    result = cli("plugin", "new", name, "--dir", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: invalid plugin name {name!r}: ") and reason in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_every_builtin_name_is_refused(cli, tmp_path):
    """The scaffold asks the plugins it finds, so no built-in is missed (it once knew 7 of 18)."""
    for name in BUILTIN_PLUGINS:
        result = cli("plugin", "new", name, "--dir", str(tmp_path / "out"))
        assert result.exit_code == 2 and "a built-in plugin has that name" in result.stderr, name
    assert not (tmp_path / "out").exists()


def test_a_name_an_installed_third_party_plugin_has_is_refused(cli, manager, tmp_path):
    manager.register(types.ModuleType("ganzoo_zebra"), name="zebra", distribution="ganzoo-zebra", version="1.0")
    result = cli("plugin", "new", "zebra", "--dir", str(tmp_path / "out"))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == ("error: invalid plugin name 'zebra': the installed plugin from ganzoo-zebra has "
                             "that name; choose another\n")
    assert not (tmp_path / "out").exists()
    assert cli("plugin", "new", "zebra-two", "--dir", str(tmp_path / "out")).exit_code == 0


def test_an_existing_folder_is_never_overwritten(cli, tmp_path):
    target = tmp_path / "ganzoo-zebra"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    result = cli("plugin", "new", "zebra", "--dir", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {target} already exists; remove it or choose another --dir"
    assert [p.name for p in target.iterdir()] == ["mine.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ganzoo-")]  # no temporary folder left


def test_a_failure_while_writing_leaves_nothing_behind(tmp_path, monkeypatch):
    written = []
    original = Path.write_text

    def flaky(self, text, *args, **kwargs):
        if written:
            raise OSError(28, "No space left on device")
        written.append(self)
        return original(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", flaky)
    with pytest.raises(OSError, match="No space left"):
        create_plugin("zebra", tmp_path / "out")
    assert len(written) == 1  # it got partway
    assert list((tmp_path / "out").iterdir()) == []  # no package, no temporary folder


def test_the_generated_plugin_passes_the_kit_in_process(manager, tmp_path, monkeypatch):
    path = create_plugin("zebra", tmp_path)
    monkeypatch.syspath_prepend(str(path))
    module = importlib.import_module("ganzoo_zebra")
    try:
        manager.register(module, name="zebra")
        report = check_plugin("zebra", manager=manager, losses=["bce", "hinge"])
        assert report.ok, str(report)
        checks = {r.check: r.status for r in report.results}
        assert checks["api"] == "pass" and checks["light import"] == "pass" and checks["train[hinge]"] == "pass"
        shapes = next(r for r in report.results if r.check == "shapes")
        assert "1x8x8" in shapes.message and "3x64x64" in shapes.message
    finally:
        for name in ("ganzoo_zebra", "ganzoo_zebra.nets"):
            sys.modules.pop(name, None)


# -- end to end, as a third party -------------------------------------------------------------

def throwaway_env(root: Path) -> Path:
    """A fresh virtual environment that sees this environment's packages (ganzoo, torch, pip).

    ``python -m venv --system-site-packages`` made from a virtual environment's python
    sees the *base* interpreter's site-packages, not the virtual environment's, so a
    ``.pth`` file in the new environment adds ours with ``site.addsitedir`` (which also
    runs our ``.pth`` files, e.g. ganzoo's editable install). The new environment's own
    site-packages comes first, so what is installed there wins and can be uninstalled.
    """
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(root)],
                   check=True, timeout=120)
    python = root / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    (Path(site) / "_ganzoo_parent_env.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return python


@pytest.mark.slow
def test_a_third_party_plugin_from_scaffold_to_uninstall(tmp_path, data_dir):
    env = {**os.environ, "PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    env.pop("GANZOO_DISABLE_PLUGINS", None)
    python = throwaway_env(tmp_path / "venv")

    def run(*args: str, cwd: Path = tmp_path, timeout: int = 300) -> subprocess.CompletedProcess:
        result = subprocess.run([str(python), *args], cwd=cwd, env=env, capture_output=True, text=True,
                                timeout=timeout)
        assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    def models() -> set[str]:
        return {c["qualified_name"] for c in json.loads(run("-m", "ganzoo", "list", "models", "--json").stdout)}

    assert "zebra:zebra" not in models()
    package = tmp_path / run("-m", "ganzoo", "plugin", "new", "zebra").stdout.strip()  # printed relative to cwd
    assert package == tmp_path / "ganzoo-zebra" and (package / "pyproject.toml").is_file()
    run("-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q", str(package))
    assert "zebra:zebra" in models() and "dcgan:dcgan" in models()

    trained = run("-m", "ganzoo", "train", "zebra", "--dataset", "mnist", "--data-dir", str(data_dir),
                  "--steps", "2", "--batch-size", "8", "--device", "cpu", "--run-name", "z", "-q")
    run_dir = Path(trained.stdout.strip())
    assert json.loads((run_dir / "config.json").read_text())["model"] == "zebra:zebra"
    assert (run_dir / "checkpoints" / "latest").is_file()

    checked = run("-m", "ganzoo", "plugin", "check", "zebra", "--loss", "bce")
    assert "FAIL" not in checked.stdout
    tests = run("-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests"), cwd=package)
    assert "2 passed" in tests.stdout

    run("-m", "pip", "uninstall", "-y", "-q", "ganzoo-zebra")
    assert "zebra:zebra" not in models()
    gone = subprocess.run([str(python), "-m", "ganzoo", "train", "zebra", "--steps", "1"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert gone.returncode == 2 and "unknown model 'zebra'" in gone.stderr

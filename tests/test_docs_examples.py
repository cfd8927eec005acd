"""Every code example in README.md and docs/*.md is checked, so none can go stale.

Each fenced block is one test, named ``FILE:LINE-LANGUAGE``; a failure names the file and line.

- ``bash`` blocks: every command of program ``ganzoo`` (also ``.venv/bin/ganzoo``, ``python -m
  ganzoo`` and ``torchrun ... -m ganzoo``), comments stripped and ``&&``/``;``/``|`` chains split,
  is parsed by the real CLI (``ganzoo.cli.create_app``'s click command, ``make_context``: options,
  arguments and their types, without running the command), so a renamed or removed option fails.
  A ``ganzoo train`` without ``--resume`` is also resolved (``ganzoo.config.resolve_config``, the
  built-in registry), so unknown components, config keys and bad values fail too; a ``--config
  NAME.toml`` is the page's ``toml`` block whose first line is ``# NAME.toml``. Paths are
  placeholders (``runs/<cgan-run>``, ``DATA``) and are not checked. The script of ``python[3]
  SCRIPT.py`` or ``bash SCRIPT.sh``, and a script run by its path (``.ci/run``), must exist in the
  repository. Every other
  program (pip, python -c, python -m pytest, mlflow, apt-get, source) is skipped.
- ``python`` blocks run for real in a temporary folder, each on its own, with the tiny MNIST data of
  ``conftest.data_dir``, a folder ``my_digits/`` of 8 digit images (the examples' "your own
  images") and the files of ``EXAMPLE_FILES`` that a block names. ``ganzoo.train`` is wrapped to
  train 2 steps of batch 8 with small networks on that data; every name, argument and attribute
  the example uses is the real one.
- ``pycon`` blocks run as doctests (ELLIPSIS, NORMALIZE_WHITESPACE): the outputs they show are
  compared.
- ``toml`` and ``json`` blocks must parse.
- ``text`` blocks (outputs, file trees, messages) are not run; any other language, or none, fails.

Plus: every relative link (and ``#anchor``) in these files points at something that exists;
README.md's zoo table is what docs/gen_zoo.py writes; docs/cli.md is what docs/gen_cli.py writes;
docs/training.md's table of config keys lists every key of ``ganzoo.config.RunConfig``.
"""

from __future__ import annotations

import doctest
import importlib.util
import io
import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

import ganzoo
from ganzoo.errors import ConfigError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .conftest import make_digits

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

SKIPPED_BLOCKS: dict[str, str] = {}
"""Pages whose code blocks are not checked yet, and why (delete an entry when its page is rewritten;
tests/test_docs_example.py runs the plugin guide's package example)."""

PENDING_LINK_TARGETS: dict[str, str] = {}
"""Pages that links may name before they exist. Once a page exists, its entry must go."""

CHECKED = {"bash", "python", "pycon", "toml", "json"}
NOT_RUN = {"text"}

SMALL_ARCH = {"ngf": 8, "ndf": 8, "latent_dim": 8, "hidden": 32, "embed_dim": 8, "n_blocks": 1}
"""What the wrapped ``ganzoo.train`` sets of each model's ``arch.*`` options that it has."""


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str

    @property
    def name(self) -> str:
        return self.path.relative_to(ROOT).as_posix() if self.path.is_relative_to(ROOT) else self.path.name

    @property
    def where(self) -> str:
        return f"{self.name}:{self.line}"


FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,}|~{3,})(?P<lang>[^`\s]*)[^`]*$")


def code_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a markdown file, with their first line and language."""
    blocks, lines = [], path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, ticks = opening["indent"], opening["ticks"]
        body, j = [], i + 1
        while j < len(lines) and not (lines[j].strip().startswith(ticks) and lines[j].strip().strip(ticks[0]) == ""):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        blocks.append(Block(path, i + 1, opening["lang"].lower(), "\n".join(body) + "\n"))
        i = j + 1
    return blocks


ALL_BLOCKS = [b for path in DOC_FILES for b in code_blocks(path)]


def blocks_of(*langs: str) -> list:
    """Parameters for the blocks of these languages; a page in SKIPPED_BLOCKS gives skipped ones."""
    params = []
    for b in ALL_BLOCKS:
        if b.lang in langs:
            marks = [pytest.mark.skip(reason=SKIPPED_BLOCKS[b.name])] if b.name in SKIPPED_BLOCKS else []
            params.append(pytest.param(b, id=f"{b.where}-{b.lang}", marks=marks))
    return params


def test_every_block_says_what_it_holds():
    """A block without a language (or an unknown one) would go unchecked without anyone noticing."""
    unknown = [f"{b.where}: ```{b.lang}" for b in ALL_BLOCKS
               if b.name not in SKIPPED_BLOCKS and b.lang not in CHECKED | NOT_RUN]
    assert not unknown, ("give these blocks a language (bash, python, pycon, toml, json, or text for "
                         "what is not run):\n" + "\n".join(unknown))
    assert len(blocks_of("bash")) > 20 and blocks_of("python") and blocks_of("pycon")


# ----------------------------------------------------------------------------- shell commands

def shell_commands(code: str) -> list[tuple[int, list[str]]]:
    """``(line offset, argv)`` of every command in a shell block: continuation lines joined,
    comments dropped, chains (``&&``, ``||``, ``;``, ``|``) split, ``VAR=value`` prefixes dropped."""
    commands, pending, start = [], "", 0
    for offset, line in enumerate(code.splitlines()):
        if not pending:
            start = offset
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text, pending = pending + line, ""
        lexer = shlex.shlex(text, posix=True, punctuation_chars="&|;")
        lexer.whitespace_split = True
        tokens = list(lexer)
        argv: list[str] = []
        for token in [*tokens, ";"]:
            if token and set(token) <= set("&|;"):
                while argv and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", argv[0]):
                    argv.pop(0)
                if argv:
                    commands.append((start, argv))
                argv = []
            else:
                argv.append(token)
    return commands


def ganzoo_args(argv: list[str]) -> list[str] | None:
    """The ganzoo arguments of a command line, or ``None`` when it runs another program."""
    program = Path(argv[0]).name
    if program == "ganzoo":
        return argv[1:]
    if program in ("python", "python3", "torchrun") and "-m" in argv:
        at = argv.index("-m")
        return argv[at + 2:] if argv[at + 1:at + 2] == ["ganzoo"] else None
    return None


def check_script(argv: list[str]) -> str | None:
    """An error if the command runs a repository script that does not exist."""
    program = Path(argv[0]).name
    if program in ("python", "python3", "bash", "sh") and "-c" not in argv and "-m" not in argv:
        script = next((a for a in argv[1:] if not a.startswith("-")), None)
        if script and not (ROOT / script).is_file():
            return f"no script {script} in the repository"
    elif "/" in argv[0] and not argv[0].startswith((".venv/", "/", "~")) and not (ROOT / argv[0]).is_file():
        return f"no script {argv[0]} in the repository"
    return None


def parse_command(root, args: list[str]):
    """Parse ``ganzoo ARGS`` with the real click commands; returns (command path, parameters).

    Raises the CLI's own usage errors (unknown option, bad value, missing argument)."""
    ctx = root.make_context("ganzoo", list(args))
    command, path = root, ["ganzoo"]
    rest = [*(getattr(ctx, "protected_args", None) or getattr(ctx, "_protected_args", [])), *ctx.args]
    while hasattr(command, "resolve_command"):  # a group: the next word names a subcommand
        assert rest, f"`{' '.join(path)}` needs a subcommand"
        name, command, rest = command.resolve_command(ctx, rest)
        path.append(name)
        ctx = command.make_context(name, rest, parent=ctx)
        rest = [*(getattr(ctx, "protected_args", None) or getattr(ctx, "_protected_args", [])), *ctx.args]
    assert not rest, f"unexpected extra arguments {rest}"
    return path[1:], ctx.params


def train_flags(params: dict) -> dict:
    """``ganzoo train``'s options as the flag layer of the run config (as the command builds it)."""
    flags = {"steps": params["steps"], "epochs": params["epochs"], "batch_size": params["batch_size"],
             "image_size": params["image_size"], "device": params["device"], "seed": params["seed"],
             "run_name": params["run_name"], "precision": params["precision"], "compile": params["compile_"],
             "data_dir": str(params["data_dir"]) if params["data_dir"] else None,
             "out": str(params["out"]) if params["out"] else None, "eval_every": params["eval_every"],
             "logger": params["logger"],
             "eval_metrics": [m.strip() for m in params["eval_metrics"].split(",") if m.strip()]
             if params["eval_metrics"] else None}
    if params["lr"] is not None:
        flags["lr"] = params["lr"]
    return flags


def config_files(block: Block, folder: Path) -> dict[str, Path]:
    """The page's ``toml``/``json`` blocks that start with ``# NAME.toml`` (or ``// NAME.json``),
    written into ``folder``."""
    files = {}
    for b in code_blocks(block.path):
        first = b.code.splitlines()[0] if b.code.strip() else ""
        named = re.match(r"^(?:#|//)\s*([\w.-]+\.(?:toml|json))\b", first)
        if b.lang in ("toml", "json") and named:
            files[named[1]] = folder / named[1]
            files[named[1]].write_text(b.code, encoding="utf-8")
    return files


@pytest.mark.parametrize("block", blocks_of("bash"))
def test_shell_example(block, manager, tmp_path):
    from ganzoo.cli import create_app
    from ganzoo.config import resolve_config

    root = typer.main.get_command(create_app(manager))
    files = config_files(block, tmp_path)
    failures = []
    for offset, argv in shell_commands(block.code):
        where = f"{block.name}:{block.line + 1 + offset}"
        args = ganzoo_args(argv)
        if args is None:
            problem = check_script(argv)
            if problem:
                failures.append(f"{where}: {problem}")
            continue
        try:
            path, params = parse_command(root, args)
            if path == ["train"] and params["resume"] is None:
                assert params["model"], "name a model to train, or pass --resume"
                config = params["config"]
                if config is not None:
                    assert config.name in files, (f"--config {config}: no toml/json block of {block.name} "
                                                  f"starts with '# {config.name}'")
                    config = files[config.name]
                resolve_config(manager.registry, params["model"], loss=params["loss"], dataset=params["dataset"],
                               config_file=config, flags=train_flags(params), sets=params["sets"])
        except Exception as exc:  # noqa: BLE001 - every way a command can be wrong is reported the same
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            failures.append(f"{where}: `ganzoo {shlex.join(args)}`: {type(exc).__name__}: {message}")
    assert not failures, "\n".join(failures)


def test_the_shell_parser_splits_and_strips_as_a_shell_does():
    code = ("ganzoo train dcgan --set 'run_name=\"2024\"'   # a comment --bogus\n"
            "A=1 B=2 ganzoo eval runs/x && ganzoo report runs/x; pip install x | tee log\n"
            "torchrun --nproc-per-node 2 \\\n  -m ganzoo train dcgan\n")
    assert shell_commands(code) == [
        (0, ["ganzoo", "train", "dcgan", "--set", 'run_name="2024"']),
        (1, ["ganzoo", "eval", "runs/x"]), (1, ["ganzoo", "report", "runs/x"]),
        (1, ["pip", "install", "x"]), (1, ["tee", "log"]),
        (2, ["torchrun", "--nproc-per-node", "2", "-m", "ganzoo", "train", "dcgan"])]
    assert ganzoo_args(["torchrun", "--nproc-per-node", "2", "-m", "ganzoo", "train", "x"]) == ["train", "x"]
    assert ganzoo_args(["python", "-m", "pytest", "-q"]) is None
    assert check_script(["python", "benchmarks/no_such.py"]) == "no script benchmarks/no_such.py in the repository"
    assert check_script(["python", "benchmarks/families.py", "--data-dir", "x"]) is None
    assert check_script(["bash", "benchmarks/gpu.sh", "--dry-run"]) is None
    assert check_script(["benchmarks/nope.sh"]) == "no script benchmarks/nope.sh in the repository"


def test_a_stale_shell_example_fails(manager, tmp_path):
    """What the shell check catches: the command's own usage errors and the run config's."""
    from ganzoo.cli import create_app

    page = tmp_path / "page.md"
    page.write_text("```bash\nganzoo train dcgan --stepz 5\n```\n", encoding="utf-8")
    stale = [*code_blocks(page)]
    for line in ("ganzoo train dcgan --steps five", "ganzoo train dcgan --set arch.ngff=3",
                 "ganzoo train nosuchgan", "ganzoo train dcgan --config nope.toml", "ganzoo sample",
                 "ganzoo plugin nosuch x", "ganzoo eval runs/x --metrics fid && ganzoo reprot runs/x"):
        page.write_text(f"```bash\n{line}\n```\n", encoding="utf-8")
        stale += code_blocks(page)
    root = typer.main.get_command(create_app(manager))
    for block in stale:
        with pytest.raises(AssertionError, match=r"page\.md:2: `ganzoo [^\n]*`: \w+"):
            test_shell_example(block, manager, tmp_path)
    assert parse_command(root, ["train", "dcgan", "--steps", "5"])[1]["steps"] == 5


# ----------------------------------------------------------------------------- python

def write_my_digits(folder: Path, n: int = 8) -> Path:
    """``n`` 28x28 grey PNGs: the examples' folder of "your own images"."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    images, _ = make_digits(n, seed=3)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i}.png")
    return folder


def make_dcgan_onnx(folder: Path, data_dir: Path, cli) -> None:
    """dcgan.onnx, as ``ganzoo export RUN --out dcgan.onnx`` writes it (a 1-step DCGAN)."""
    trained = cli("train", "dcgan", "--data-dir", str(data_dir), "--steps", "1", "--batch-size", "8",
                  "--set", "arch.ngf=8", "--set", "arch.ndf=8", "--device", "cpu", "--quiet",
                  "--out", str(folder / "onnx-runs"), "--run-name", "dcgan")
    assert trained.exit_code == 0, trained.output
    exported = cli("export", str(folder / "onnx-runs" / "dcgan"), "--out", str(folder / "dcgan.onnx"))
    assert exported.exit_code == 0, exported.output


EXAMPLE_FILES = {"dcgan.onnx": make_dcgan_onnx}
"""Files that python examples read, made (in the example's folder) by a previous shell step."""


@pytest.fixture
def example_folder(manager, data_dir, tmp_path, monkeypatch, cli):
    """The folder a python example runs in, with ``ganzoo.train`` shrunk to 2 tiny steps."""
    real_train = ganzoo.train

    def small_train(model, **kwargs):
        spec = manager.registry.get("model", model).spec
        fields = spec.config_class.model_fields if spec.config_class else {}
        kwargs.pop("epochs", None)
        kwargs.update(steps=2, batch_size=8, device="cpu", data_dir=str(data_dir), progress=False,
                      arch={**kwargs.get("arch", {}), **{k: v for k, v in SMALL_ARCH.items() if k in fields}})
        return real_train(model, **kwargs)

    monkeypatch.setattr(ganzoo, "train", small_train)
    folder = tmp_path / "example"
    folder.mkdir()
    write_my_digits(folder / "my_digits")
    monkeypatch.chdir(folder)
    return folder


def run_python(block: Block, folder: Path, data_dir: Path, cli) -> None:
    for name, make in EXAMPLE_FILES.items():
        if name in block.code:
            make(folder, data_dir, cli)
    # blank lines first: a traceback names the markdown file and its line
    code = compile("\n" * block.line + block.code, str(block.path), "exec")
    exec(code, {"__name__": "__docs_example__"})  # noqa: S102 - the example is this repository's own text


@pytest.mark.parametrize("block", blocks_of("python"))
def test_python_example(block, example_folder, data_dir, cli):
    run_python(block, example_folder, data_dir, cli)


def test_a_broken_python_example_fails_with_its_line(example_folder, data_dir, cli, tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n\n```python\nimport ganzoo\n\nganzoo.train('dcgan', arch={'ngff': 8})\n```\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown config key 'arch.ngff'") as raised:
        run_python(code_blocks(page)[0], example_folder, data_dir, cli)
    assert any(str(entry.path) == str(page) and entry.lineno + 1 == 6 for entry in raised.traceback)  # 0-based


def run_doctest(block: Block) -> str:
    """The doctest report of a pycon block ('' when every example printed what it shows)."""
    parser, out = doctest.DocTestParser(), io.StringIO()
    test = parser.get_doctest(block.code, {"__name__": "__docs_example__"}, block.where, str(block.path),
                              block.line)
    runner = doctest.DocTestRunner(verbose=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=out.write)
    assert test.examples, f"{block.where}: a pycon block without >>> lines"
    return out.getvalue()


@pytest.mark.parametrize("block", blocks_of("pycon"))
def test_pycon_example(block, example_folder):
    report = run_doctest(block)
    assert not report, report


def test_a_pycon_example_with_a_stale_output_fails(manager, tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```pycon\n>>> import ganzoo\n>>> ganzoo.list('losses')[:2]\n['bce', 'minimax']\n```\n",
                    encoding="utf-8")
    report = run_doctest(code_blocks(page)[0])
    assert "Expected:\n    ['bce', 'minimax']\nGot:\n    ['bce', 'hinge']" in report


@pytest.mark.parametrize("block", blocks_of("toml", "json"))
def test_config_example_parses(block):
    if block.lang == "toml":
        tomllib.loads(block.code)
    else:
        json.loads(re.sub(r"^//.*\n", "", block.code))


# ----------------------------------------------------------------------------- links

LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")


def outside_blocks(path: Path) -> list[str]:
    """The lines of a markdown file that are not inside a fenced block."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def prose(path: Path) -> str:
    """A markdown file without its fenced blocks and inline code (links there are not links)."""
    return "\n".join(re.sub(r"`[^`]*`", "", line) for line in outside_blocks(path))


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a markdown file's headings."""
    headings = [m[1] for line in outside_blocks(path) if (m := re.match(r"^#{1,6}\s+(.+?)\s*#*$", line))]
    return {re.sub(r"[^\w\- ]", "", h.replace("`", "").strip().lower()).replace(" ", "-") for h in headings}


def broken_links(path: Path) -> list[str]:
    problems = []
    for match in LINK.finditer(prose(path)):
        target = match["target"]
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        shown = resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else str(resolved)
        if not resolved.exists():
            if shown not in PENDING_LINK_TARGETS:
                problems.append(f"{path.relative_to(ROOT)}: ({target}): no such file {shown}")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{path.relative_to(ROOT)}: ({target}): {shown} has no heading #{anchor}")
    return problems


def test_every_relative_link_points_at_something_that_exists():
    problems = [p for path in DOC_FILES for p in broken_links(path)]
    assert not problems, "\n".join(problems)
    landed = [page for page in PENDING_LINK_TARGETS if (ROOT / page).exists()]
    assert not landed, f"{landed} exist now: delete them from PENDING_LINK_TARGETS in {Path(__file__).name}"


def test_a_broken_link_is_found(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n## Its `part`\n", encoding="utf-8")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/a.md#its-part) [gone](docs/b.md) [bad anchor](docs/a.md#nope) "
                    "[web](https://example.org/x.md) `[code](docs/c.md)`\n", encoding="utf-8")
    assert broken_links(page) == ["README.md: (docs/b.md): no such file docs/b.md",
                                  "README.md: (docs/a.md#nope): docs/a.md has no heading #nope"]


# ----------------------------------------------------------------------------- generated parts

def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_zoo_table_is_what_gen_zoo_writes(manager):
    gen_zoo = load_script("gen_zoo")
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert gen_zoo.with_table(text, gen_zoo.zoo_table()) == text, (
        "README.md's zoo table differs from the registry's: run .venv/bin/python docs/gen_zoo.py")
    rows = gen_zoo.zoo_rows()
    assert len(rows) == len(manager.registry.list("models"))
    assert rows[[r.split(" | ")[0] for r in rows].index("| `dcgan`")].split(" | ")[5:] == [
        "`bce`", "`alternating`", "`mnist` |"]


def test_the_zoo_table_shortens_citations():
    gen_zoo = load_script("gen_zoo")
    assert gen_zoo.paper_cell("Radford, Metz & Chintala 2015, Unsupervised ... (arXiv:1511.06434)") == \
        "[Radford et al. 2015](https://arxiv.org/abs/1511.06434)"
    assert gen_zoo.paper_cell("Mirza & Osindero 2014, Conditional GANs (arXiv:1411.1784); projection D: "
                              "Miyato & Koyama 2018, cGANs (arXiv:1802.05637)") == \
        ("[Mirza & Osindero 2014](https://arxiv.org/abs/1411.1784); "
         "[Miyato & Koyama 2018](https://arxiv.org/abs/1802.05637)")
    assert gen_zoo.paper_cell("Nie et al. 2019, RelGAN (ICLR 2019); LSTM generator as the official code") == \
        "Nie et al. 2019"
    assert gen_zoo.cell("a | b\n c") == "a \\| b c"


def test_docs_cli_md_is_what_gen_cli_writes(tmp_path, monkeypatch):
    for var in ("COLUMNS", "TERM", "NO_COLOR", "FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS", "TERMINAL_WIDTH"):
        monkeypatch.setenv(var, "")  # gen_cli sets or drops these: monkeypatch restores them afterwards
        monkeypatch.delenv(var)
    gen_cli = load_script("gen_cli")
    monkeypatch.setattr(gen_cli, "OUT", tmp_path / "cli.md")
    gen_cli.main()
    assert (tmp_path / "cli.md").read_text(encoding="utf-8") == (ROOT / "docs" / "cli.md").read_text(
        encoding="utf-8"), "docs/cli.md differs from the commands' --help: run .venv/bin/python docs/gen_cli.py"


def test_the_config_key_table_lists_every_run_config_key():
    """docs/training.md's table of run-config keys: every key of RunConfig, and no other."""
    from ganzoo.config import RunConfig

    text = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    section = text.split("## Every config key", 1)[1].split("\n## ", 1)[0]
    listed = {key for row in re.findall(r"^\| (.+?) \|", section, re.M)
              for key in re.findall(r"`([a-z_][a-z0-9_.*]*)`", row)}
    fields = set(RunConfig.model_fields)
    assert fields - listed == set(), "add these keys to the table in docs/training.md"
    others = {k for k in listed if "." not in k and "*" not in k and not re.fullmatch(r"[a-z][a-z0-9]*_optim", k)}  # e_optim, ...
    assert others - fields == set(), "not run-config keys"

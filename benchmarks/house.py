"""How easy the code is to live in: figures read from the source alone.

Usage (from the repository root; nothing is imported or run, the files are parsed)::

    python benchmarks/house.py            # a table
    python benchmarks/house.py --json     # the same as JSON

Measured:

- the lines of the training loop (``Trainer.fit``);
- comparisons of a kind with a kind's name (``kind == "audio"``, ``shape.kind in ("audio",
  "video")``, ``"image" in spec.data_kinds``) outside the kinds' own modules (``ganzoo/kinds/``):
  code that should ask the kind instead. A field's *name* (``"label" in data.fields``) is not a
  kind; the core (``ganzoo/``) is counted, and the families (``plugins/``) apart;
- hand-kept lists of the built-in families: Python literals naming three or more of the
  families that ``pyproject.toml`` registers (outside ``pyproject.toml`` itself, whose entry
  points are the one list). A literal marked ``# chosen: why`` (on its line or the line above)
  is a deliberate selection or a table of per-family settings, not a list of the built-ins:
  those are counted apart, so that each can be read with its reason;
- import circles between the core's modules, counting every import (inside functions and
  under ``TYPE_CHECKING`` too): strongly connected groups of modules;
- the largest modules of the core, by lines.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "ganzoo"
KINDS = CORE / "kinds"
FIELD_KINDS = ("image", "points", "label", "mask", "audio", "video", "tokens")
"""The kinds, for a checkout older than ``ganzoo/kinds/`` (``--root``)."""
SOURCES = ("ganzoo", "plugins", "benchmarks", "tests", "docs")


def kind_names() -> set[str]:
    """The kinds: the modules of ``ganzoo/kinds/``."""
    return {p.stem for p in KINDS.glob("*.py") if not p.stem.startswith("_")} or set(FIELD_KINDS)


def builtin_families() -> set[str]:
    """The entry-point names ``pyproject.toml`` registers, but the core's own plugin."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    table = text.split("[project.entry-points.ganzoo]", 1)[1].split("\n[", 1)[0]
    return {m.group(1) for m in re.finditer(r"^\s*([\w-]+)\s*=", table, flags=re.M)} - {"core"}


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def _strings(node: ast.AST) -> list[str]:
    """String constants of a node: itself, or the items of a tuple, list or set literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for item in node.elts for s in _strings(item)]
    return []


def kind_checks(*folders: str) -> list[str]:
    """``file:line`` of every comparison of a kind with a kind's name outside ``ganzoo/kinds/``:
    one side names a kind, another is an expression about kinds (its text says ``kind``)."""
    kinds, found = kind_names(), []
    for path in python_files(*folders):
        if KINDS in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Compare):
                continue
            if not all(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops):
                continue
            sides = (node.left, *node.comparators)
            named = [side for side in sides if any(s in kinds for s in _strings(side))]
            about_kinds = [side for side in sides if side not in named and "kind" in ast.unparse(side).lower()]
            if named and about_kinds:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def hand_kept_lists() -> tuple[list[str], list[str]]:
    """``file:line`` of every Python literal naming three or more built-in families: those not
    marked ``# chosen``, and those marked."""
    families, found, chosen = builtin_families(), [], []
    for path in python_files(*SOURCES):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                names = {s for s in _strings(node) if s in families}
            elif isinstance(node, ast.Dict):
                names = {k.value for k in node.keys if isinstance(k, ast.Constant) and k.value in families}
            else:
                continue
            if len(names) >= 3:
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                marked = any("# chosen" in line for line in lines[max(0, node.lineno - 2):node.lineno])
                (chosen if marked else found).append(where)
    return found, sorted(set(chosen))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the core modules it imports (every import statement, wherever it stands)."""
    modules = {_module_name(p): p for p in python_files("ganzoo")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*parent, *([node.module] if node.module else [])])
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def import_circles() -> list[list[str]]:
    """The groups of core modules that import each other, directly or around a circle."""
    graph, index, low, stack, on_stack, circles, counter = import_graph(), {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def loop_lines() -> int:
    """Lines of ``Trainer.fit`` (docstring included)."""
    tree = ast.parse((CORE / "training" / "loop.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "fit":
            return node.end_lineno - node.lineno + 1
    raise SystemExit("Trainer.fit not found")


def trainer_size() -> tuple[int, int]:
    """``(public methods and properties, lines)`` of the ``Trainer`` class."""
    tree = ast.parse((CORE / "training" / "loop.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Trainer":
            public = [n for n in node.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
            return len(public), node.end_lineno - node.lineno + 1
    raise SystemExit("Trainer not found")


def largest_modules(n: int = 5) -> list[tuple[str, int]]:
    sizes = [(str(p.relative_to(ROOT)), len(p.read_text(encoding="utf-8").splitlines())) for p in python_files("ganzoo")]
    return sorted(sizes, key=lambda item: -item[1])[:n]


def measure() -> dict:
    methods, lines = trainer_size()
    return {"loop_lines": loop_lines(), "trainer_public_members": methods, "trainer_lines": lines,
            "kind_checks": kind_checks("ganzoo"), "kind_checks_in_families": kind_checks("plugins"),
            "hand_kept_lists": hand_kept_lists()[0],
            "chosen_selections": hand_kept_lists()[1],
            "import_circles": import_circles(), "largest_modules": largest_modules()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--root", type=Path, help="another checkout to measure (default: this one)")
    args = parser.parse_args()
    if args.root:
        global ROOT, CORE, KINDS
        ROOT = args.root.resolve()
        CORE, KINDS = ROOT / "ganzoo", ROOT / "ganzoo" / "kinds"
    figures = measure()
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"lines of the loop (Trainer.fit):          {figures['loop_lines']}")
    print(f"Trainer: public members, lines:           {figures['trainer_public_members']}, {figures['trainer_lines']}")
    print(f"kind checks in the core, not its kinds:   {len(figures['kind_checks'])}  {' '.join(figures['kind_checks'])}")
    print(f"kind checks in the families:              {len(figures['kind_checks_in_families'])}  "
          f"{' '.join(figures['kind_checks_in_families'])}")
    print(f"hand-kept lists of built-in families:     {len(figures['hand_kept_lists'])}  "
          f"{' '.join(figures['hand_kept_lists'])}")
    print(f"  chosen selections, each with its reason: {len(figures['chosen_selections'])}  "
          f"{' '.join(figures['chosen_selections'])}")
    print(f"import circles in the core:               {len(figures['import_circles'])}  "
          + "; ".join(" <-> ".join(c) for c in figures["import_circles"]))
    print("largest core modules:                     "
          + ", ".join(f"{path} {lines}" for path, lines in figures["largest_modules"]))


if __name__ == "__main__":
    main()

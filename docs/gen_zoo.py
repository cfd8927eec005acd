"""Regenerate the zoo table in README.md from the built-in models' specs.

Run from anywhere, with the project installed:

    .venv/bin/python docs/gen_zoo.py           # rewrite the table in README.md
    .venv/bin/python docs/gen_zoo.py --check   # exit 1 if README.md's table is not what it would write

The table sits between the two marker comments ``BEGIN`` and ``END`` in README.md; the rest
of the README is left alone. One row per model that ships with ganzoo (``ganzoo.list("models")``,
``ganzoo.info(name, kind="model")``), from its ``ModelSpec``: task, paper, summary, the kinds of
data it takes, default loss, algorithm and default dataset. Models of third-party plugins
installed beside ganzoo are left out. tests/test_docs_examples.py fails when the README's
table differs from what this script writes.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import ganzoo

README = Path(__file__).resolve().parent.parent / "README.md"

BEGIN = "<!-- zoo table: written by docs/gen_zoo.py from the models' specs; do not edit by hand -->"
END = "<!-- end of zoo table -->"

DEFAULT_DATASET = "mnist"
"""The dataset a model trains on when its spec names none (``ganzoo.config.DEFAULT_DATASET``)."""

HEADER = ("| model | task | paper | what it is | data | default loss | algorithm | default dataset |\n"
          "|---|---|---|---|---|---|---|---|")

_CITATION = re.compile(r"(?:^|: )(?P<authors>[^:;]+?) (?P<year>(?:19|20)\d\d)\b")
_ARXIV = re.compile(r"arXiv:(?P<id>\d{4}\.\d{4,5})")


def short_citation(part: str) -> str | None:
    """``"Radford, Metz & Chintala 2015, Unsupervised ... (arXiv:1511.06434)"`` ->
    ``"[Radford et al. 2015](https://arxiv.org/abs/1511.06434)"``; ``None`` for a part
    that names no authors and year (a remark such as "LSTM generator as ...")."""
    found = _CITATION.search(part)
    if found is None:
        return None
    authors = found["authors"].strip()
    people = re.split(r", | & | and ", authors.replace(" et al.", ""))
    first = people[0]
    name = f"{first} et al." if len(people) > 2 or "et al." in authors else " & ".join(people)
    text = f"{name} {found['year']}"
    arxiv = _ARXIV.search(part)
    return f"[{text}](https://arxiv.org/abs/{arxiv['id']})" if arxiv else text


def paper_cell(paper: str) -> str:
    """Every citation of a spec's ``paper`` text, shortened, joined by "; "."""
    shorts = [short_citation(part) for part in paper.split("; ")]
    return "; ".join(s for s in shorts if s) or "-"


def cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def zoo_rows() -> list[str]:
    """One table row per built-in model, sorted by name."""
    rows = []
    for name in ganzoo.list("models"):
        entry = ganzoo.info(name, kind="model")
        if not entry.builtin:
            continue
        spec = entry.spec
        task = getattr(spec, "task_name", None) or spec.task or ("conditional" if spec.needs_labels
                                                                  else "unconditional")
        loss = ganzoo.info(spec.default_loss, kind="loss").name  # specs may qualify names: core:bce
        algorithm = ganzoo.info(spec.algorithm, kind="algorithm").name
        dataset = ganzoo.info(spec.default_dataset or DEFAULT_DATASET, kind="dataset").name
        rows.append("| " + " | ".join([
            f"`{spec.name}`", cell(task), paper_cell(spec.paper), cell(spec.summary),
            cell(", ".join(spec.data_kinds)), f"`{loss}`", f"`{algorithm}`", f"`{dataset}`"]) + " |")
    return rows


def zoo_table() -> str:
    """The whole block between the markers, markers included."""
    return "\n".join([BEGIN, HEADER, *zoo_rows(), END])


def with_table(text: str, table: str) -> str:
    """``text`` (a README) with its marked block replaced by ``table``."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"README.md lacks the zoo-table markers:\n{BEGIN}\n{END}")
    return text[:start] + table + text[end + len(END):]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if README.md differs")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    new = with_table(text, zoo_table())
    if args.check:
        if new != text:
            print("README.md's zoo table is stale: run .venv/bin/python docs/gen_zoo.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    print(f"wrote the zoo table in {README} ({len(zoo_rows())} models)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

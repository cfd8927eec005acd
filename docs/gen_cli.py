"""Regenerate docs/cli.md from the CLI's own --help texts.

Run from anywhere, with the project installed:

    .venv/bin/python docs/gen_cli.py

It builds the app with ``ganzoo.cli.create_app()`` and runs ``ganzoo --help`` and
``ganzoo COMMAND --help`` for every command through typer's ``CliRunner``, at 100
columns and without colour, writing each into a fenced block. Plugins are not
loaded: ``--help`` never touches the registry.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Before typer/rich are imported: plain output at a fixed width.
PLAIN_ENV = {"COLUMNS": "100", "TERM": "dumb", "NO_COLOR": "1"}
os.environ.update(PLAIN_ENV)
for var in ("FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS", "TERMINAL_WIDTH"):
    os.environ.pop(var, None)

import typer  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from ganzoo.cli import create_app  # noqa: E402

OUT = Path(__file__).resolve().parent / "cli.md"

HEADER = """\
# `ganzoo` command-line reference

Generated from the commands' `--help` texts by `docs/gen_cli.py`; do not edit by hand.
Regenerate with `.venv/bin/python docs/gen_cli.py` after changing a command.
"""


def help_text(runner: CliRunner, app: typer.Typer, args: list[str]) -> str:
    """The output of ``ganzoo ARGS --help``, trailing spaces removed."""
    result = runner.invoke(app, [*args, "--help"], prog_name="ganzoo", env=PLAIN_ENV)
    if result.exit_code != 0:
        raise SystemExit(f"`ganzoo {' '.join(args)} --help` exited {result.exit_code}:\n{result.output}")
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def main() -> int:
    app = create_app()
    runner = CliRunner()
    root = typer.main.get_command(app)
    commands = list(root.commands)  # in the order --help lists them
    parts = [HEADER, "## `ganzoo`\n", "```text\n" + help_text(runner, app, []) + "\n```\n"]
    for name in commands:
        parts += [f"## `ganzoo {name}`\n", "```text\n" + help_text(runner, app, [name]) + "\n```\n"]
        for sub in getattr(root.commands[name], "commands", {}):  # a group: `ganzoo plugin new`, ...
            parts += [f"### `ganzoo {name} {sub}`\n",
                      "```text\n" + help_text(runner, app, [name, sub]) + "\n```\n"]
    OUT.write_text("\n".join(parts), encoding="utf-8")
    print(f"wrote {OUT} ({len(commands)} commands)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

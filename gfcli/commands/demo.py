"""`gfcli demo`: a short tour of gfcli over the small example files bundled with it."""

from typing import Annotated

import typer

from gfcli.commands.helpfmt import add_command

HELP = """\
Run a short tour over the bundled example files (a VCF with a few samples, a sorted and
indexed BAM with its reference), printing each command before its output.
"""

EXAMPLES = """\
Examples:
  gfcli demo
  gfcli demo --lines 5
"""


def demo(
    lines: Annotated[
        int,
        typer.Option("--lines", "-n", help="Lines of each command's output to show.", min=1),
    ] = 8,
) -> None:
    from gfcli.engine.demo import run_demo

    run_demo(lines)


def register(app: typer.Typer) -> None:
    add_command(
        app,
        demo,
        name="demo",
        summary="Tour gfcli on small bundled example files.",
        description=HELP,
        examples=EXAMPLES,
    )

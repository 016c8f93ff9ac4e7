"""The subcommands `gfcli --help` lists. A command is listed once it works."""

from __future__ import annotations

import typer


def register_all(app: typer.Typer) -> None:
    from gfcli.commands import demo, depth, filter, flagstat, stats, validate, view

    for module in (view, filter, flagstat, validate, demo, stats, depth):
        module.register(app)

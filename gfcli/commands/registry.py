"""The subcommands `gfcli --help` lists. A command is listed once it works."""

from __future__ import annotations

import typer


def register_all(app: typer.Typer) -> None:
    from gfcli.commands import flagstat, validate, view

    for module in (view, flagstat, validate):
        module.register(app)

"""Plain-text help with options grouped in sections, as samtools/bcftools print it.

Typer's rich help costs ~0.1 s of imports on every `--help`; this formatter keeps the
grouping (each option's `rich_help_panel` names its section) at click's cost.
"""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperCommand


class GroupedCommand(TyperCommand):
    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments: list[tuple[str, str]] = []
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append(record)
                continue
            section = getattr(param, "rich_help_panel", None) or "General"
            sections.setdefault(section, []).append(record)
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        for name, rows in sections.items():
            with formatter.section(name):
                formatter.write_dl(rows)

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        # Examples are command lines: print them as written, never re-wrapped.
        if self.epilog:
            formatter.write("\n")
            for line in self.epilog.rstrip("\n").splitlines():
                formatter.write(f"{line}\n")
            formatter.write("\n")


def add_command(
    app: typer.Typer,
    function: Callable[..., Any],
    *,
    name: str,
    summary: str,
    description: str,
    examples: str,
) -> None:
    """Register a subcommand: one-line summary for `gfcli --help`, grouped options, examples."""
    app.command(
        name,
        cls=GroupedCommand,
        help=description,
        short_help=summary,
        epilog=examples,
    )(_pipe_aware(function))


def _pipe_aware(function: Callable[..., Any]) -> Callable[..., Any]:
    """Report a closed stdout as `PipeClosed`, so the CLI can end quietly with 141."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from gfcli.engine.errors import PipeClosed

        try:
            return function(*args, **kwargs)
        except BrokenPipeError:
            raise PipeClosed() from None
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise PipeClosed() from None
            raise

    return wrapper

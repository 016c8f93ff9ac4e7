"""Regenerate the man pages (man/) and shell completions (completions/) from the CLI itself.

Run after changing any option: `python scripts/make_docs.py`. A test checks that the
committed files equal what this script produces.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gfcli import __version__  # noqa: E402


def _roff(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line
                     for line in text.splitlines())


def _click_command(name: str | None):
    import typer

    from gfcli.cli import app

    group = typer.main.get_command(app)
    if name is None:
        return group, None
    return group, group.commands[name]


def _option_sections(command, ctx) -> list[tuple[str, list[tuple[str, str]]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        section = "ARGUMENTS" if param.param_type_name == "argument" else (
            getattr(param, "rich_help_panel", None) or "General"
        )
        sections.setdefault(section, []).append(record)
    return list(sections.items())


def _arguments(command) -> str:
    names = [
        f"[{(p.metavar or p.name).upper()}]"
        for p in command.params
        if p.param_type_name == "argument"
    ]
    return " ".join(names)


def command_page(name: str) -> str:
    from typer._click import Context

    group, command = _click_command(name)
    ctx = Context(command, info_name=f"gfcli {name}")
    lines = [
        f'.TH GFCLI-{name.upper()} 1 "" "gfcli {__version__}" "gfcli manual"',
        ".SH NAME",
        _roff(f"gfcli-{name} - {command.short_help or ''}"),
        ".SH SYNOPSIS",
        _roff(f"gfcli {name} [OPTIONS] {_arguments(command)}".rstrip()),
        ".SH DESCRIPTION",
    ]
    for paragraph in (command.help or "").strip().split("\n\n"):
        lines += [".PP", _roff(" ".join(paragraph.split()))]
    for section, rows in _option_sections(command, ctx):
        lines.append(f".SH {section.upper()}")
        for term, text in rows:
            lines += [".TP", f"\\fB{_roff(term)}\\fR", _roff(text)]
    if command.epilog:
        lines += [".SH EXAMPLES", ".nf"]
        lines += [_roff(line.strip()) for line in command.epilog.splitlines()[1:] if line.strip()]
        lines.append(".fi")
    extra = getattr(sys.modules.get(command.callback.__module__), "MAN_EXTRA", None)
    if extra:
        lines.append(extra.rstrip("\n"))
    lines += [".SH SEE ALSO", "\\fBgfcli\\fR(1)"]
    return "\n".join(lines) + "\n"


def main_page() -> str:
    group, _ = _click_command(None)
    lines = [
        f'.TH GFCLI 1 "" "gfcli {__version__}" "gfcli manual"',
        ".SH NAME",
        _roff("gfcli - genomics command-line toolkit in the style of samtools and bcftools"),
        ".SH SYNOPSIS",
        _roff("gfcli [--version] [--debug] COMMAND [OPTIONS] [FILE]"),
        ".SH DESCRIPTION",
        ".PP",
        _roff(" ".join((group.help or "").split())),
        ".PP",
        _roff("Data goes to stdout unless -o names a file (written under a temporary name and "
              "renamed on success); diagnostics go to stderr. Errors are one line "
              "'gfcli CMD: error: FILE: line N: message'; exit status 1 means bad data, 2 bad "
              "usage, 130 an interrupt. Set GFCLI_DEBUG=1 (or --debug) for tracebacks."),
        ".SH COMMANDS",
    ]
    for name, command in sorted(group.commands.items()):
        if command.hidden:
            continue
        lines += [".TP", f"\\fB{name}\\fR", _roff(command.short_help or ""),]
    lines += [".SH SEE ALSO"]
    lines.append(", ".join(f"\\fBgfcli\\-{n}\\fR(1)" for n in sorted(group.commands)))
    return "\n".join(lines) + "\n"


def completion(shell: str) -> str:
    env = dict(os.environ, _GFCLI_COMPLETE=f"source_{shell}")
    result = subprocess.run(
        [sys.executable, "-c", "from gfcli.cli import main; main()"],
        env=env, capture_output=True, text=True, check=False,
    )
    return result.stdout.replace(sys.executable, "gfcli")


def expected_files() -> dict[Path, str]:
    group, _ = _click_command(None)
    files = {ROOT / "man" / "gfcli.1": main_page()}
    for name in group.commands:
        files[ROOT / "man" / f"gfcli-{name}.1"] = command_page(name)
    for shell, suffix in (("bash", "bash"), ("zsh", "zsh"), ("fish", "fish")):
        files[ROOT / "completions" / f"gfcli.{suffix}"] = completion(shell)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if any file is stale")
    args = parser.parse_args()
    stale = []
    for path, text in expected_files().items():
        current = path.read_text() if path.exists() else None
        if current != text:
            stale.append(path)
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    for path in stale:
        print(("stale: " if args.check else "wrote: ") + str(path.relative_to(ROOT)))
    if args.check and stale:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""The `gfcli` command: subcommand registry, global behaviour and error handling.

Only typer/click are imported here; every subcommand imports its engine modules
inside its body, so start-up (`gfcli --help`) never pays for numba, pyarrow, pysam
or cyvcf2.
"""

from __future__ import annotations

import errno
import os
import signal
import sys

import typer

try:  # typer >= 0.16 vendors click; older releases use the click package
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions

from gfcli import __version__
from gfcli.commands import registry
from gfcli.engine import cleanup
from gfcli.engine.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    GfcliError,
    PipeClosed,
)

app = typer.Typer(
    name="gfcli",
    help="Genomics command-line toolkit: samtools/bcftools-compatible commands on one "
    "streaming engine with pushdown filters and chunked parallel execution.",
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["--help"], "max_content_width": 100},
)

_state = {"command": None, "debug": False}


def _version_text() -> str:
    lines = [f"gfcli {__version__}"]
    # Versions of the libraries doing the work; imported only when asked.
    try:
        import pysam

        lines.append(f"pysam {pysam.__version__} (htslib {pysam.version.__htslib_version__})")
    except Exception as exc:  # pragma: no cover - a broken install should still print a version
        lines.append(f"pysam unavailable ({exc})")
    try:
        import cyvcf2

        lines.append(f"cyvcf2 {cyvcf2.__version__}")
    except Exception as exc:  # pragma: no cover
        lines.append(f"cyvcf2 unavailable ({exc})")
    for name in ("numpy", "numba", "pyarrow"):
        try:
            module = __import__(name)
            lines.append(f"{name} {module.__version__}")
        except Exception as exc:  # pragma: no cover
            lines.append(f"{name} unavailable ({exc})")
    return "\n".join(lines)


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(_version_text() + "\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the gfcli version (first line 'gfcli X.Y.Z') and library versions.",
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show a traceback on errors (also GFCLI_DEBUG=1)."
    ),
) -> None:
    _state["command"] = ctx.invoked_subcommand
    _state["debug"] = debug or _state["debug"]


registry.register_all(app)


def _debug_enabled() -> bool:
    return bool(_state["debug"]) or os.environ.get("GFCLI_DEBUG", "") not in ("", "0")


def _prefix() -> str:
    command = _state["command"]
    return f"gfcli {command}" if command else "gfcli"


def _report(message: str) -> None:
    try:
        sys.stderr.write(f"{_prefix()}: error: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _quiet_stdout() -> None:
    # After a closed pipe, make the interpreter's final flush of stdout silent.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class _Terminated(BaseException):
    """SIGTERM (a workflow manager cancelling a job): unwind so temp files are removed."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `gfcli` console script."""
    # numpy's OpenBLAS starts a thread per core at import, and its threads spin after a
    # call: gfcli parallelises with its own worker processes, so BLAS runs on one thread
    # (perf: 2 % of a cohort `stats` run was OpenBLAS spinning). A user's setting wins.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    signal.signal(signal.SIGTERM, _on_sigterm)
    if "--debug" in (argv if argv is not None else sys.argv[1:]):
        _state["debug"] = True
    code = 0
    try:
        result = app(args=argv, prog_name="gfcli", standalone_mode=False)
        if isinstance(result, int):
            code = result
    except typer.Exit as exc:
        code = exc.exit_code
    except click_exceptions.ClickException as exc:
        # Bad usage: unknown option, missing argument, invalid value.
        ctx = getattr(exc, "ctx", None)
        if ctx is not None and ctx.command_path:
            command = ctx.command_path.split(" ", 1)
            if len(command) == 2:
                _state["command"] = command[1]
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _report(exc.format_message() + hint)
        code = exc.exit_code if exc.exit_code else EXIT_USAGE
    except GfcliError as exc:
        if _debug_enabled():
            import traceback

            traceback.print_exc()
        _report(str(exc))
        code = exc.exit_code
    except (BrokenPipeError, PipeClosed):
        _quiet_stdout()
        code = EXIT_BROKEN_PIPE
    except (KeyboardInterrupt, typer.Abort):
        code = EXIT_INTERRUPTED
    except _Terminated:
        code = 128 + signal.SIGTERM
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            _quiet_stdout()
            code = EXIT_BROKEN_PIPE
        else:
            if _debug_enabled():
                import traceback

                traceback.print_exc()
            where = f"{exc.filename}: " if exc.filename else ""
            _report(f"{where}{exc.strerror or exc}")
            code = 1
    except Exception as exc:
        import traceback

        if _debug_enabled():
            traceback.print_exc()
        _report(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)")
        code = 1
    finally:
        cleanup.remove_all()
    if code != 0 and argv is None:  # the console script; in-process callers get SystemExit
        # A failed or interrupted run can leave worker pools, feeder threads and htslib
        # handles on damaged files mid-flight; the interpreter's exit hooks would join
        # them (which can hang) or let their destructors print tracebacks. The error is
        # reported and outputs are removed, so leave at once.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    # The process ends next, and the interpreter's last collection would scan every object
    # still alive (12 ms after a 0.4 s `stats` run); frozen objects are left out of it.
    import gc

    gc.freeze()
    sys.exit(code)

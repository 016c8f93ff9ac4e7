"""Scatter-gather for `gfcli stats`: the JSON partial, `--merge`, and writing the result.

A partial is the envelope `{"format": "gfcli-stats", "version": 1, "kind": ...,
"inputs": [...], "stats": accumulator.to_json()}`. `--merge a.json b.json ...` rebuilds
each accumulator with `from_json`, adds them with `+=` and renders the sum in any output
format: what one pass over all the shards would have printed.
"""

from __future__ import annotations

import json
import os

from gfcli.engine.errors import DataError, UsageError
from gfcli.engine.sinks import AtomicOutput
from gfcli.engine.stats.base import JSON, JSON_FORMAT, JSON_VERSION, KINDS, StatsRequest


def envelope(kind: str, acc, req: StatsRequest) -> dict:
    return {
        "format": JSON_FORMAT,
        "version": JSON_VERSION,
        "kind": kind,
        "inputs": list(req.inputs) if not req.merge else list(req.merge),
        "stats": acc.to_json(),
    }


def read_partial(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"not a gfcli stats JSON partial ({exc})", path=path) from None
    if not isinstance(data, dict) or data.get("format") != JSON_FORMAT:
        raise DataError("not a gfcli stats JSON partial (made by 'gfcli stats -O json')",
                        path=path)
    if data.get("version") != JSON_VERSION or data.get("kind") not in KINDS:
        raise DataError(
            f"gfcli stats JSON version {data.get('version')} / kind {data.get('kind')} "
            "is not understood by this gfcli",
            path=path,
        )
    return data


def load_partials(req: StatsRequest):
    from gfcli.engine.stats import module_for

    kind = None
    acc = None
    for path in req.merge:
        data = read_partial(path)
        if kind is None:
            kind = data["kind"]
        elif data["kind"] != kind:
            raise UsageError(f"{path}: {data['kind']} statistics cannot be merged with {kind}")
        module = module_for(kind)
        try:
            part = module.from_json(data["stats"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"damaged gfcli stats partial ({type(exc).__name__}: {exc})",
                            path=path) from None
        if acc is None:
            acc = part
        else:
            acc += part
    assert kind is not None
    return kind, acc, req.resolve(kind)


def render(kind: str, acc, req: StatsRequest) -> str:
    if req.pretty:
        return render_pretty(acc, req)
    if req.output_type == JSON:
        return json.dumps(envelope(kind, acc, req), indent=1) + "\n"
    return acc.render_text(req)


def render_pretty(acc, req: StatsRequest) -> str:
    import io

    from rich.console import Console

    to_terminal = req.output in ("-", "") and os.isatty(1)
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=to_terminal, width=None if to_terminal
                      else 100, color_system="auto" if to_terminal else None)
    pretty = getattr(acc, "render_pretty", None)
    if pretty is None:
        console.print(acc.render_text(req))
    else:
        pretty(req, console)
    return buffer.getvalue()


def write_result(kind: str, acc, req: StatsRequest) -> None:
    text = render(kind, acc, req)
    data = text.encode()
    with AtomicOutput(req.output) as out:
        if out.is_stdout:
            view = memoryview(data)
            while view:
                written = os.write(1, view)
                view = view[written:]
        else:
            with open(out.path, "wb") as handle:
                handle.write(data)

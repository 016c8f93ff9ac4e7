"""SAM headers as samtools writes them: the @PG line gfcli adds, and BAM header bytes."""

from __future__ import annotations

import struct

from gfcli.engine.errors import DataError


def _pg_fields(line: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in line.rstrip("\n").split("\t")[1:]:
        if len(part) >= 3 and part[2] == ":":
            fields.setdefault(part[:2], part[3:])
    return fields


def _chain_ends(pg_lines: list[dict[str, str]]) -> list[str]:
    """The @PG IDs a new program line links to with PP, as htslib 1.24 picks them.

    Measured against samtools 1.24: the ends are the lines that have a PP and that no
    other line names in its PP, in header order; a line with neither PP nor a successor
    is not an end. With no such line, the new line follows the last @PG line.
    """
    referenced = {pg["PP"] for pg in pg_lines if "PP" in pg}
    ends = [pg["ID"] for pg in pg_lines if "PP" in pg and "ID" in pg and pg["ID"] not in referenced]
    if ends:
        return ends
    for pg in reversed(pg_lines):
        if "ID" in pg:
            return [pg["ID"]]
    return []


def _clean(text: str) -> str:
    # A header field cannot hold a tab or a newline.
    return text.replace("\t", " ").replace("\n", " ")


def add_pg(header_text: str, program: str, version: str, command_line: str) -> str:
    """`header_text` with @PG lines for `program` appended after the existing ones, chained
    with PP to every chain end and with IDs made unique (`gfcli`, `gfcli.1`, ...)
    as `sam_hdr_add_pg` does."""
    lines = header_text.splitlines()
    pg_lines = [_pg_fields(line) for line in lines if line.startswith("@PG\t")]
    used = {pg["ID"] for pg in pg_lines if "ID" in pg}
    counter = 1

    def unique_id() -> str:
        nonlocal counter
        if program not in used:
            used.add(program)
            return program
        while f"{program}.{counter}" in used:
            counter += 1
        new = f"{program}.{counter}"
        counter += 1
        used.add(new)
        return new

    new_lines = []
    ends = _chain_ends(pg_lines) or [None]
    for end in ends:
        parts = ["@PG", f"ID:{unique_id()}", f"PN:{program}"]
        if end is not None:
            parts.append(f"PP:{end}")
        parts += [f"VN:{version}", f"CL:{_clean(command_line)}"]
        new_lines.append("\t".join(parts))
    # htslib inserts a new @PG after the last existing @PG line (or at the end).
    last_pg = max((i for i, line in enumerate(lines) if line.startswith("@PG\t")), default=None)
    if last_pg is None:
        out = lines + new_lines
    else:
        out = lines[: last_pg + 1] + new_lines + lines[last_pg + 1 :]
    return "".join(line + "\n" for line in out)


def bam_header_length(data: bytes | bytearray | memoryview, name: str | None = None) -> int | None:
    """Length of the BAM header at the start of decompressed `data`, None if incomplete."""
    if len(data) < 12:
        return None
    if bytes(data[:4]) != b"BAM\x01":
        raise DataError("not a BAM file (bad magic)", path=name)
    (l_text,) = struct.unpack_from("<i", data, 4)
    pos = 8 + l_text
    if len(data) < pos + 4:
        return None
    (n_ref,) = struct.unpack_from("<i", data, pos)
    pos += 4
    for _ in range(n_ref):
        if len(data) < pos + 4:
            return None
        (l_name,) = struct.unpack_from("<i", data, pos)
        pos += 4 + l_name + 4
    return pos if len(data) >= pos else None


def reference_names(data: bytes | bytearray | memoryview) -> list[str]:
    """The reference names of a whole BAM header (decompressed, from its magic)."""
    (l_text,) = struct.unpack_from("<i", data, 4)
    pos = 8 + l_text
    (n_ref,) = struct.unpack_from("<i", data, pos)
    pos += 4
    names = []
    for _ in range(n_ref):
        (l_name,) = struct.unpack_from("<i", data, pos)
        names.append(bytes(data[pos + 4 : pos + 4 + l_name]).rstrip(b"\0").decode())
        pos += 4 + l_name + 4
    return names

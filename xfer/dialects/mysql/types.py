"""MySQL/MariaDB column types: the type tables (stated once, read by the dialect, its catalogue
reader and the connectorx reader) and the parsing of text-protocol bytes into Arrow, column by
column, which every MySQL reader shares (pymysql's raw bytes, connectorx's `CAST(... AS BINARY)`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from xfer.core.policies import Flag, ValuePolicies
from xfer.core.schema import Column
from xfer.core.typemap import parse_type
from xfer.dialects.base import split_type

# MySQL type name -> neutral Arrow type (signed, unsigned). Parametrised types are code below.
INTEGERS: dict[str, tuple[pa.DataType, pa.DataType]] = {
    "tinyint": (pa.int8(), pa.uint8()),
    "smallint": (pa.int16(), pa.uint16()),
    "mediumint": (pa.int32(), pa.uint32()),
    "int": (pa.int32(), pa.uint32()),
    "integer": (pa.int32(), pa.uint32()),
    "bigint": (pa.int64(), pa.uint64()),
}
SIMPLE: dict[str, pa.DataType] = {
    "float": pa.float32(),
    "double": pa.float64(),
    "double precision": pa.float64(),
    "real": pa.float64(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "time": pa.duration("us"),  # MySQL TIME spans -838:59:59..838:59:59: an interval, not a time of day
    "year": pa.int16(),
    "json": pa.string(),
}
TEXT = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "uuid", "inet4", "inet6"}
BINARY = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
DECIMALS = {"decimal", "numeric", "dec", "fixed"}
GEOMETRY = {
    "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
    "multipolygon", "geometrycollection", "geomcollection",
}  # fmt: skip
TEMPORAL = {"date", "datetime", "timestamp"}

_ZERO_DATE = r"^0000-|-00[- ]|-00$"


# -- catalogue rows -> neutral model (pure functions: unit-tested on recorded rows) ----------
def arrow_type_of(native_type: str) -> pa.DataType:
    """The neutral Arrow type of a MySQL column type as COLUMN_TYPE prints it."""
    base, p, s, unsigned = split_type(native_type)
    if base in INTEGERS:
        return INTEGERS[base][1 if unsigned else 0]
    if base in ("decimal", "numeric", "dec", "fixed"):
        p, s = p or 10, s or 0
        return pa.decimal128(p, s) if p <= 38 else pa.decimal256(p, s)
    if base == "bit":
        return pa.bool_() if (p or 1) == 1 else pa.string()  # bit(n): a string of n '0'/'1' digits
    if base in SIMPLE:
        return SIMPLE[base]
    if base in TEXT:
        return pa.string()
    if base in BINARY or base in GEOMETRY:
        return pa.binary()
    return pa.string()  # unknown types travel as their text form


def labels_of(native_type: str) -> list[str]:
    """enum('a','it''s') -> ['a', "it's"]"""
    t = parse_type(native_type)
    return [unquote_string(a) for a in (t.args or ())]


def meta_of(native_type: str) -> dict[str, Any]:
    """Facts Arrow cannot carry about a MySQL column type."""
    base, p, _s, unsigned = split_type(native_type)
    meta: dict[str, Any] = {"unsigned": True} if unsigned else {}
    if base == "json":
        meta["json"] = True
    elif base in ("char", "varchar") and p:
        meta.update(length=p, char=base == "char")
    elif base in GEOMETRY:
        meta.update(geometry=base, wkb=True)
    elif base in ("enum", "set"):
        meta[base] = labels_of(native_type)
    elif base == "bit" and (p or 1) > 1:
        meta["bits"] = p
    return meta


_ESCAPES = {"0": "\0", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "Z": "\x1a", "%": "\\%", "_": "\\_"}


def unquote_string(literal: str) -> str:
    """A MySQL string literal as it prints in the catalogue ('it''s', 'a\\\\b') -> its value."""
    body = literal[1:-1] if len(literal) >= 2 and literal[0] == literal[-1] == "'" else literal
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        elif ch == "'" and body[i + 1 : i + 2] == "'":
            out.append("'")
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


# -- values: text-protocol bytes -> Arrow, one column at a time --------------------------
def text_batch(
    columns: Sequence[Column],
    schema: pa.Schema,
    values: Iterable[Sequence[bytes | None]],
    policies: ValuePolicies | None,
) -> pa.RecordBatch:
    """One batch of `schema` from the text protocol's bytes, a sequence of values per column
    (pymysql's raw rows transposed, or binlog row images decoded by `rowdecode`): every MySQL
    row reader and the change stream build their batches here. Zero dates are flagged for
    `policies` (NULL and counted, or the row rejected)."""
    arrays, flags = [], []
    for col, column_values in zip(columns, values, strict=True):
        raw = pa.array(column_values, pa.binary())
        if pa.types.is_date(col.arrow) or pa.types.is_timestamp(col.arrow):
            text = raw.cast(pa.string())
            arr, zero = parse_temporal(text, col.arrow)
            arrays.append(arr)
            if zero is not None:
                flags.append(Flag(col.name, zero, text, "zero date"))
        else:
            arrays.append(parse_column(col, raw))
    batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
    if flags and policies is not None:
        batch = policies.apply_flags(batch, flags)
    return batch


def parse_column(col: Column, values: pa.Array | Iterable[bytes | None]) -> pa.Array:
    """Raw text-protocol bytes of one column -> an Arrow array of `col.arrow`, vectorised.
    Zero and partial dates come out NULL; `zero_dates` finds them for the policy."""
    raw = values if isinstance(values, pa.Array) else pa.array(list(values), pa.binary())
    t = col.arrow
    base = split_type(col.native_type)[0]
    if base == "bit":
        return _parse_bits(raw, t, col.meta.get("bits") or 1)
    if pa.types.is_binary(t):
        return raw
    text = raw.cast(pa.string())
    if pa.types.is_boolean(t):
        return pc.not_equal(text.cast(pa.int64()), 0)
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return parse_temporal(text, t)[0]
    if pa.types.is_duration(t):
        return _parse_time(text)
    return text.cast(t)


def zero_dates(col: Column, raw: pa.Array) -> pa.Array | None:
    """Where a DATE/DATETIME/TIMESTAMP column holds a zero or partial date ('0000-00-00',
    '2021-00-15') or one no calendar has ('2021-02-31' under ALLOW_INVALID_DATES): a boolean
    mask, or None for other columns or when there is none."""
    if not (pa.types.is_date(col.arrow) or pa.types.is_timestamp(col.arrow)):
        return None
    return parse_temporal(raw.cast(pa.string()), col.arrow)[1]


def parse_temporal(text: pa.Array, t: pa.DataType) -> tuple[pa.Array, pa.Array | None]:
    """MySQL date/time text -> (date32 or timestamp array, mask of the values that have no date
    in any other engine, or None). Those come out NULL; the reader applies the declared policy
    to them. Valid data costs one regex and one cast; the per-value calendar check runs only
    when the cast finds a date that does not exist."""
    zero = pc.match_substring_regex(text, _ZERO_DATE)
    bad = zero if pc.any(zero).as_py() else None
    if bad is not None:
        text = pc.if_else(pc.fill_null(bad, False), pa.scalar(None, pa.string()), text)
    try:
        out = _cast_temporal(text, t)
    except pa.ArrowInvalid:  # '2021-02-31': find the impossible ones, NULL them
        impossible = _impossible_dates(text)
        bad = impossible if bad is None else pc.or_(pc.fill_null(bad, False), impossible)
        out = _cast_temporal(pc.if_else(impossible, pa.scalar(None, pa.string()), text), t)
    return out, (pc.fill_null(bad, False) if bad is not None else None)


def _cast_temporal(text: pa.Array, t: pa.DataType) -> pa.Array:
    if pa.types.is_date(t):
        return text.cast(t)
    return text.cast(pa.timestamp("us")).cast(t) if t.tz else text.cast(t)


def _impossible_dates(text: pa.Array) -> pa.Array:
    """True where the date part is not on the calendar (strptime would roll '2021-02-31' over to
    March: a round trip through it tells)."""
    day = pc.utf8_slice_codeunits(text, 0, 10)
    parsed = pc.strptime(day, "%Y-%m-%d", "s", error_is_null=True)
    real = pc.fill_null(pc.equal(pc.strftime(parsed, "%Y-%m-%d"), day), False)
    return pc.fill_null(pc.and_(pc.invert(real), pc.is_valid(text)), False)


def _parse_bits(raw: pa.Array, t: pa.DataType, n: int) -> pa.Array:
    """BIT(n) arrives as n/8 big-endian bytes: bit(1) -> boolean, bit(n) -> 'n binary digits'."""
    ints = [None if v is None else int.from_bytes(v, "big") for v in raw.to_pylist()]
    if pa.types.is_boolean(t):
        return pc.not_equal(pa.array(ints, pa.uint64()), 0)
    return pa.array([None if v is None else format(v, f"0{n}b") for v in ints], pa.string())


_TIME = r"^(?P<sign>-?)(?P<h>\d+):(?P<m>\d{2}):(?P<s>\d{2})(?:\.(?P<f>\d{1,6}))?$"


def _parse_time(text: pa.Array) -> pa.Array:
    """MySQL TIME text ('-838:59:59.000000') -> duration[us]."""
    parts = pc.extract_regex(text, _TIME)
    h = pc.struct_field(parts, "h").cast(pa.int64())
    m = pc.struct_field(parts, "m").cast(pa.int64())
    s = pc.struct_field(parts, "s").cast(pa.int64())
    frac = pc.utf8_rpad(pc.struct_field(parts, "f"), 6, "0")
    frac = pc.if_else(pc.equal(frac, "000000"), pa.scalar("0"), frac).cast(pa.int64())
    us = pc.add(pc.multiply(pc.add(pc.add(pc.multiply(h, 3600), pc.multiply(m, 60)), s), 1_000_000), frac)
    neg = pc.equal(pc.struct_field(parts, "sign"), "-")
    us = pc.if_else(neg, pc.negate(us), us)
    return us.cast(pa.duration("us"))

"""The canonical encoding every checksum is computed over, wherever it is computed.

A row is the concatenation of its columns, each encoded as `N` (NULL) or
`<byte length>:<text>`: no separator or NULL marker can make two different rows look alike.
The text of a value depends only on its *kind* (decided from the comparison type, which is the
target's type as the plan maps it), never on the engine it came from:

| kind      | canonical text                                        |
|-----------|-------------------------------------------------------|
| int       | decimal digits (unsigned 64-bit values too)          |
| decimal   | plain decimal text with exactly `scale` fraction digits |
| float     | exact: the IEEE-754 bits as a signed integer; with `--float-digits N`: N significant digits |
| bool      | `1` / `0` (a source integer other than 0 or 1 is `?<n>`: a difference) |
| date      | days since 1970-01-01                                 |
| timestamp | microseconds since 1970-01-01 00:00 (UTC for time-zone-aware types) |
| time      | microseconds since midnight                           |
| duration  | microseconds (MySQL TIME, PostgreSQL interval)        |
| text      | the UTF-8 text (lower-cased for uuid)                 |
| binary    | upper-case hex                                        |
| json      | sorted keys, no insignificant spaces, numbers by value (client side only) |

This module renders the encoding client side (Arrow + DuckDB); each dialect renders the same
text in its own SQL (`Dialect.canonical_sql`) so that hashes can be computed in the database.
"""

from __future__ import annotations

import datetime
import functools
import json
from dataclasses import dataclass
from decimal import Decimal, localcontext
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from xfer.core.schema import Column

KINDS = ("int", "decimal", "float", "bool", "date", "timestamp", "time", "duration", "text", "binary", "json", "other")


@dataclass(frozen=True)
class Canon:
    """How one column is compared. `name` is the comparison (target) column name."""

    name: str
    kind: str
    scale: int = 0  # decimal
    bits: int = 64  # float: 32 | 64
    digits: int | None = None  # float: None = exact bits, else significant digits
    lower: bool = False  # text compared case-insensitively (uuid)
    wide: bool = False  # decimal beyond 38 digits (DuckDB cannot hold it: formatted in Python)
    ignored: bool = False  # left out of the comparison (a mapping file's verify settings)
    policy: str = ""  # what a person reads in the report


def canon_for(source: Column, target: Column, float_digits: int | None = None, zero_dates: bool = False) -> Canon:
    """The comparison rule for one column: `source` as the source engine declares it,
    `target` as the plan maps it (its Arrow type is the comparison type). `zero_dates`: the
    source engine has zero dates, read as NULL (the declared policy), which the rule says."""
    t = target.arrow
    src = source.native_type
    name = target.name
    if target.meta.get("json") or source.meta.get("json"):
        return Canon(name, "json", policy="JSON: canonical (key order and spaces ignored, numbers by value)")
    if pa.types.is_boolean(t):
        strict = "" if pa.types.is_boolean(source.arrow) else " (only 0 and 1; any other value is a difference)"
        return Canon(name, "bool", policy=f"{src} -> boolean{strict}")
    if pa.types.is_integer(t):
        return Canon(name, "int", policy=f"{src}: integer, exact")
    if pa.types.is_decimal(t):
        if t.scale == 0 and pa.types.is_integer(source.arrow):
            return Canon(name, "int", policy=f"{src}: integer, exact (as {target.native_type})")
        return Canon(
            name,
            "decimal",
            scale=t.scale,
            wide=t.precision > 38,
            policy=f"{src}: decimal, exact at scale {t.scale}",
        )
    if pa.types.is_floating(t):
        bits = 32 if t == pa.float32() else 64
        if float_digits:
            return Canon(
                name, "float", bits=bits, digits=float_digits, policy=f"{src}: {float_digits} significant digits"
            )
        return Canon(name, "float", bits=bits, policy=f"{src}: float{bits}, exact (IEEE bits)")
    if pa.types.is_date(t):
        return Canon(name, "date", policy=f"{src}: date, exact" + _zero_dates(zero_dates))
    if pa.types.is_timestamp(t):
        zone = "compared in UTC, " if t.tz else "no time zone, "
        return Canon(name, "timestamp", policy=f"{src}: {zone}microseconds" + _zero_dates(zero_dates))
    if pa.types.is_time(t):
        return Canon(name, "time", policy=f"{src}: time of day, microseconds")
    if pa.types.is_duration(t):
        return Canon(name, "duration", policy=f"{src}: interval, microseconds")
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        if target.native_type.lower() == "uuid":
            return Canon(name, "text", lower=True, policy=f"{src}: uuid, case ignored")
        if source.meta.get("char") or target.meta.get("char"):
            return Canon(name, "text", policy=f"{src}: text, CHAR padding ignored, otherwise exact")
        return Canon(name, "text", policy=f"{src}: text, exact (trailing spaces count)")
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return Canon(name, "binary", policy=f"{src}: bytes, exact")
    return Canon(name, "other", policy=f"{src}: compared as text (client side)")


def _zero_dates(zero_dates: bool) -> str:
    return "; zero dates = NULL" if zero_dates else ""


# -- client side: Arrow preparation and DuckDB expressions ---------------------------------
def prepare(arr: pa.Array, canon: Canon) -> pa.Array:
    """Turn one column's values into what `duck_text` renders: integers for temporal kinds,
    IEEE bits for exact floats, canonical text for JSON. Vectorised except JSON and `other`."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    k = canon.kind
    t = arr.type
    if k == "json":
        return _json_column(arr)
    if k == "float":
        return _float_bits(arr, canon.bits) if canon.digits is None else arr.cast(pa.float64())
    if k == "decimal" and (canon.wide or pa.types.is_decimal256(t)):
        return _decimal_text(arr, canon.scale)
    if k == "bool":
        return arr if pa.types.is_boolean(t) or pa.types.is_integer(t) else arr.cast(pa.bool_())
    if k == "date":
        return arr.cast(pa.date32()).cast(pa.int32())
    if k == "timestamp":
        return arr.cast(pa.timestamp("us", tz=getattr(t, "tz", None))).cast(pa.int64())
    if k == "time":
        return arr.cast(pa.time64("us")).cast(pa.int64())
    if k == "duration":
        return arr.cast(pa.duration("us")).cast(pa.int64())
    if k == "text" and not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return arr.cast(pa.string())
    if k == "binary" and not (pa.types.is_binary(t) or pa.types.is_large_binary(t)):
        return arr.cast(pa.binary())
    if k == "other":
        return pa.array([None if v is None else _display_json(v) for v in arr.to_pylist()], pa.string())
    return arr


def duck_text(col: str, canon: Canon) -> str:
    """DuckDB expression: the canonical text of the non-NULL prepared value in `col`."""
    k = canon.kind
    if k == "bool":
        return f"CASE CAST({col} AS BIGINT) WHEN 0 THEN '0' WHEN 1 THEN '1' ELSE '?' || CAST({col} AS VARCHAR) END"
    if k == "float" and canon.digits is not None:
        fmt = f"%.{max(canon.digits - 1, 0)}e"
        return f"CASE WHEN isnan({col}) THEN 'NaN' WHEN {col} = 0 THEN '0' ELSE printf('{fmt}', {col}) END"
    if k == "text":
        return f"lower({col})" if canon.lower else col
    if k == "binary":
        return f"hex({col})"
    if k in ("json", "other") or (k == "decimal" and canon.wide):
        return col
    return f"CAST({col} AS VARCHAR)"


def duck_encoded(col: str, canon: Canon) -> str:
    """`N` or `<bytes>:<text>` for one prepared column (DuckDB)."""
    text = duck_text(col, canon)
    return f"(CASE WHEN {col} IS NULL THEN 'N' ELSE CAST(strlen({text}) AS VARCHAR) || ':' || {text} END)"


def _float_bits(arr: pa.Array, bits: int) -> pa.Array:
    """The IEEE-754 bit pattern as signed integer text; every NaN is 'NaN'."""
    width = pa.float32() if bits == 32 else pa.float64()
    arr = arr.cast(width)
    values = arr.fill_null(0).to_numpy(zero_copy_only=False)
    ints = values.view(np.int32 if bits == 32 else np.int64)
    text = pa.array(ints).cast(pa.string())
    text = pc.if_else(pc.is_nan(arr.fill_null(0)), pa.scalar("NaN"), text)
    return pc.if_else(pc.is_null(arr), pa.scalar(None, pa.string()), text)


def _decimal_text(arr: pa.Array, scale: int) -> pa.Array:
    # Arrow prints small decimals in scientific notation ("1E-10"): format exactly in Python.
    q = Decimal(1).scaleb(-scale)
    with localcontext(prec=160):
        return pa.array(
            [None if v is None else format(Decimal(v).quantize(q), "f") for v in arr.to_pylist()], pa.string()
        )


DEDUP_SAMPLE = 1024  # documents looked at to decide whether deduplicating pays


def _json_column(arr: pa.Array) -> pa.Array:
    arr = arr.cast(pa.string())
    if _repeats(arr):
        # Deduplicate in Arrow (same exact-text equality as a dict of the texts, without a Python
        # str per row): NULLs stay NULL in the indices, each distinct document is canonicalised once.
        encoded = pc.dictionary_encode(arr)
        canon, _exact = canonical_json_texts(encoded.dictionary)
        return pc.take(canon, encoded.indices)
    if not arr.null_count:
        return canonical_json_texts(arr)[0]
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    canon, _exact = canonical_json_texts(arr.filter(valid))
    at = pa.array(np.cumsum(valid) - 1, mask=~valid)  # each document's place among the non-NULL ones
    return pc.take(canon, at)


def _repeats(arr: pa.Array) -> bool:
    """Whether the column's documents repeat enough for deduplication to pay: hashing every text
    costs about a third of canonicalising it, so a sample of mostly distinct documents (ids,
    timestamps inside: the usual case) skips it."""
    sample = arr.slice(0, DEDUP_SAMPLE).drop_null()
    return len(sample) > 0 and len(pc.unique(sample)) < 0.75 * len(sample)


# A document goes to the exact path (stdlib json + `_exact_float`) when its text may hold a number
# orjson would not render as the exact path does. orjson reads every number with a fraction or an
# exponent as a double (1.0 -> 1.0, not 1; 0.10000000000000001 -> 0.1): in JSON such a number
# starts where a value may (the start, after white space, `[`, `:` or `,`) and its digits are
# followed by `.`, `e` or `E` (`\u00e9` in a string does not match: `u` comes before its digits).
# Integers are exact in orjson only within [-2**63, 2**64 - 1]; beyond, it returns a double
# (2**64 -> 1.8446744073709552e+19), so any run of 20 digits, or of 19 after a minus sign, is
# routed too. False alarms (a string "v 1.2", a long run of digits) only cost speed. Everything
# else orjson does like the exact path (tests/test_canonical_json_fast.py): it escapes the same
# characters the same way, sorts keys by code point, keeps the last of duplicate keys, reads -0
# as 0; what it refuses (NaN, lone surrogates, invalid JSON, nesting deeper than 254) raises and
# that document takes the exact path.
_RISKY_JSON = r"(?:^|[\[:,\s])-?[0-9]+[.eE]|[0-9]{20}|-[0-9]{19}"


def canonical_json_texts(docs: pa.Array) -> tuple[pa.Array, int]:
    """`canonical_json` of each string in `docs` (no NULLs: `_json_column` passes the distinct
    non-NULL texts), and how many took the exact path rather than orjson (for tests and
    measurements)."""
    if docs.null_count:
        raise ValueError("canonical_json_texts: NULL documents")
    orjson = _orjson()
    if orjson is None or len(docs) == 0:
        return pa.array([canonical_json(d) for d in docs.to_pylist()], pa.string()), len(docs)
    risky = pc.match_substring_regex(docs, _RISKY_JSON).to_numpy(zero_copy_only=False)
    fast_at, exact_at = np.flatnonzero(~risky), np.flatnonzero(risky)
    texts = docs.take(pa.array(fast_at)).to_pylist() if len(exact_at) else docs.to_pylist()
    fast, failed = _orjson_many(orjson, texts)
    if failed:
        exact_at = np.concatenate([exact_at, fast_at[failed]])
        fast_at = np.delete(fast_at, failed)
        fast = [t for t in fast if t is not None]
    if not len(exact_at):
        return pa.array(fast, pa.string()), 0
    exact = _canonical_many(orjson, docs.take(pa.array(exact_at)).to_pylist())
    # Back into `docs`' order: the fast results then the exact ones, permuted by where they came from.
    order = np.empty(len(docs), np.int64)
    order[np.concatenate([fast_at, exact_at])] = np.arange(len(docs))
    return pa.array(fast + exact, pa.string()).take(pa.array(order)), len(exact_at)


def _orjson_many(orjson: ModuleType, texts: list[str]) -> tuple[list[str | None], list[int]]:
    """orjson's canonical text of each document; None (and its index in the second list) where
    orjson refuses it. One comprehension for the common case: no per-document bookkeeping.
    Each result is decoded at once: holding ~1M of orjson's bytes objects for a later bulk
    conversion measured erratically slower (0.5-10 s for 667k documents vs ~0.3 s)."""
    loads, dumps, sort = orjson.loads, orjson.dumps, orjson.OPT_SORT_KEYS
    try:
        return [dumps(loads(t), option=sort).decode() for t in texts], []
    except (ValueError, TypeError):  # JSONDecodeError is a ValueError, JSONEncodeError a TypeError
        pass
    out: list[str | None] = []
    failed: list[int] = []
    for i, t in enumerate(texts):
        try:
            out.append(dumps(loads(t), option=sort).decode())
        except (ValueError, TypeError):
            out.append(None)
            failed.append(i)
    return out, failed


@functools.cache
def _orjson() -> ModuleType | None:
    """orjson when it can be imported, else None: the stdlib path gives the same texts, slower."""
    try:
        import orjson
    except Exception:  # a missing or broken native wheel must not stop a verify
        return None
    return orjson


_NO_VALUE: Any = object()
_DUMP = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _canonical_many(orjson: ModuleType, docs: list[str]) -> list[str]:
    """`canonical_json` of each document. The ones orjson reads (each valid JSON on its own) are
    parsed as one JSON array, ~2x faster than one call each; the rest one call each. Only valid
    documents may be joined: '"a' and 'b"' joined make the string "a,b" and '1,2' two numbers,
    so the count of values can match while values and documents do not."""
    valid, alone = [], []
    for i, d in enumerate(docs):
        try:
            orjson.loads(d)
            valid.append(i)
        except (ValueError, TypeError):
            alone.append(i)
    out = [""] * len(docs)
    texts = [docs[i] for i in valid]
    try:
        values = json.loads("[" + ",".join(texts) + "]", parse_float=_exact_float) if texts else []
    except (ValueError, _Inexact, RecursionError):
        values = None
    if values is None or len(values) != len(texts):  # an inexact number somewhere: one call each
        alone = list(range(len(docs)))
    else:
        for i, v in zip(valid, values, strict=True):
            out[i] = _storable(_DUMP(v), v)
    for i in alone:
        out[i] = canonical_json(docs[i])
    return out


def canonical_json(text: str) -> str:
    """JSON with sorted keys, no insignificant spaces and numbers by value (1.0 == 1,
    1e2 == 100, 2.50 == 2.5), so that the text as MariaDB keeps it and PostgreSQL's jsonb
    rendering of the same document compare equal. Numbers are compared exactly: a document
    with a number no double holds exactly takes the slower, all-decimal path."""
    try:
        value = json.loads(text, parse_float=_exact_float)
    except _Inexact:
        return _storable(_canonical_decimal(text))
    except (ValueError, RecursionError):  # not JSON, or nested too deep to read: its text
        return "invalid:" + _storable(text)
    return _storable(_DUMP(value), value)


def _storable(text: str, value: Any = _NO_VALUE) -> str:
    """`text` unless it holds a lone surrogate (an escaped `\\ud800` read back), which UTF-8 and
    so Arrow cannot store: then the same document with every non-ASCII character escaped, a
    rendering just as canonical (both sides make the same choice for the same value)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        if value is _NO_VALUE:
            return text.encode("utf-8", "backslashreplace").decode("ascii")
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return text


class _Inexact(Exception):
    pass


def _exact_float(s: str) -> int | float:
    """A JSON number with a fraction or exponent: an int when integral, a float when the float's
    shortest text is the same value, else the document needs exact decimals."""
    f = float(s)
    if repr(f) == s:  # the common case: already the shortest text of a double
        return int(f) if f.is_integer() else f
    d = Decimal(s)
    if d == d.to_integral_value():
        return int(d)
    if Decimal(repr(f)) != d:
        raise _Inexact
    return f


def _canonical_decimal(text: str) -> str:
    value = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    return _dump(value)


def _dump(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ",".join(_string(k) + ":" + _dump(v[k]) for k in sorted(v)) + "}"
    if isinstance(v, list):
        return "[" + ",".join(_dump(x) for x in v) + "]"
    if isinstance(v, Decimal):
        return _number(v)
    if isinstance(v, str):
        return _string(v)
    return "true" if v is True else "false" if v is False else "null"


def _string(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _number(d: Decimal) -> str:
    if d.is_zero():
        return "0"
    n = d.normalize()
    return format(n, "f") if -30 < n.adjusted() < 30 else format(n, "E")


def _display_json(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str, ensure_ascii=False)


# -- displaying values in reports ------------------------------------------------------------
def display(v: Any, canon: Canon, limit: int = 200) -> Any:
    """A value as a report shows it: JSON-native where exact, else text; long text cut."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v if abs(v) < 2**53 else str(v)
    if isinstance(v, float):
        if canon.kind == "float" and canon.bits == 32:
            return str(np.float32(v))
        return repr(v)
    if isinstance(v, bytes):
        text = v.hex()
        return "0x" + (text if len(text) <= limit else text[:limit] + f"... ({len(v)} bytes)")
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, (datetime.date, datetime.time)):  # datetime is a date
        return v.isoformat()
    text = v if isinstance(v, str) else str(v)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"

"""The fast MySQL/MariaDB reader, and key-range chunking of big tables.

Two readers produce the same batches (`table.arrow_schema`, the neutral types introspection
gave):

- **connectorx** (default where it loads): Rust, MySQL's binary protocol, no per-row Python;
  measured 0.5-0.9 client CPU-s per 1M rows against 7.5 for the pure-Python reader. Each call
  reads one key range (a *chunk*) whole into Arrow, with the GIL released. A chunk is bounded in
  bytes, which bounds memory (connectorx's own streaming mode buffers without limit), and it is
  read completely before any of its rows is written, so a value connectorx cannot read
  (it panics on some) sends that chunk to the other reader with nothing half-written. Every
  call opens its own connection: connectorx readers are consistent with each other only while
  the tables are locked against writes (`--consistency lock`).
- **pymysql**, raw bytes parsed column-wise by `mysql.parse_column`: pure Python, slower, but it
  reads over a connection the caller owns, so parallel workers can share one snapshot
  (`--consistency snapshot`), and it is the fallback when connectorx is missing.

connectorx reads natively only what it reads exactly (`native`): integers, floats, DECIMALs
up to 28 digits and 10 decimals, text and binary columns. Every other column travels as the
bytes the text protocol would send (`CAST(… AS BINARY)`), parsed by the pymysql reader's own
functions: zero and impossible dates become NULL and are flagged for the zero-date policy
exactly as there (connectorx itself panics on them), TIME keeps its ±838 hours, BIT its digits.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc

from xfer.core.errors import CopyError
from xfer.core.policies import Flag, ValuePolicies
from xfer.core.schema import Column, Table
from xfer.core.urls import Url, redact
from xfer.dialects.base import split_type
from xfer.dialects.mysql.auth import credentials
from xfer.dialects.mysql.types import BINARY, GEOMETRY, INTEGERS, TEMPORAL, parse_column

READER_ENV = "XFER_MYSQL_READER"  # auto (default) | connectorx | pymysql

# Session settings for every fast-reader connection: UTC (TIMESTAMP values come out as UTC, as
# in the pymysql reader), utf8mb4, and no server-side cut-off of a slow stream.
CX_SESSION = [
    "SET time_zone = '+00:00'",
    "SET NAMES utf8mb4",
    "SET SESSION net_write_timeout = 3600, net_read_timeout = 3600",
]

# Column types connectorx reads exactly in MySQL's binary protocol, by neutral Arrow type.
# Every other column (dates and times, YEAR, BIT, SET, JSON, UUID, wide DECIMALs, …) is read as
# the very bytes the text protocol would send (`CAST(… AS BINARY)`) and parsed by the same
# functions as the pymysql reader (`parse_column`, `parse_temporal`): same values, same zero-date
# policy, same flags.
CX_NATIVE_TEXT = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum"}
CX_FLOATS = {"float", "double", "double precision", "real"}
CX_DECIMAL_DIGITS, CX_DECIMAL_SCALE = 28, 10  # what connectorx's decimal carries exactly


def reader_choice(url: Url | None = None) -> str:
    """'connectorx' when it can be imported (and is not switched off), else 'pymysql'. A URL
    with TLS settings (ssl_ca=...) is read with pymysql, which takes them."""
    wanted = os.environ.get(READER_ENV, "auto").strip().lower()
    if wanted == "pymysql" or (url is not None and any(k.startswith("ssl_") for k in url.query)):
        return "pymysql"
    try:
        import connectorx  # noqa: F401
    except Exception:  # a broken native wheel must not stop the run: the pure-Python reader works
        return "pymysql"
    return "connectorx"


# The complement of types._ZERO_DATE in SQL (no part zero, year 1 or later): TO_DAYS is NULL when
# the month or day is 0 and below 366 in year 0. One function call instead of YEAR(), MONTH() and
# DAYOFMONTH(): ~0.15 server CPU-s less per 2M rows and temporal column.
_VALID = "TO_DAYS({q}) >= 366"


def kinds(table: Table, mariadb: bool) -> list[str]:
    """How connectorx reads each column: 'native' (its binary-protocol value converts exactly),
    'temporal' (natively, zero dates NULLed in the SELECT and flagged by second columns: see
    `cx_query`), 'bits' (BIT's raw bytes) or 'text' (the text protocol's bytes)."""
    return [_kind(c, mariadb) for c in table.columns]


def _kind(c: Column, mariadb: bool) -> str:
    base, p, s, _unsigned = split_type(c.native_type)
    t = c.arrow
    if base in INTEGERS and (pa.types.is_integer(t) or pa.types.is_boolean(t)):
        return "native"
    if base in CX_FLOATS and pa.types.is_floating(t):
        return "native"
    if base in ("decimal", "numeric", "dec", "fixed"):
        exact = (p or 10) <= CX_DECIMAL_DIGITS and (s or 0) <= CX_DECIMAL_SCALE
        return "native" if pa.types.is_decimal128(t) and exact else "text"
    if (base in CX_NATIVE_TEXT or (base == "json" and mariadb)) and pa.types.is_string(t):
        return "native"  # MariaDB's JSON is LONGTEXT; MySQL 8's would come back re-serialised
    if (base in BINARY or base in GEOMETRY) and pa.types.is_binary(t):
        return "native"
    if base in TEMPORAL and (pa.types.is_date(t) or pa.types.is_timestamp(t)):
        return "temporal"
    return "bits" if base == "bit" else "text"


def native(c: Column) -> bool:
    return _kind(c, mariadb=False) == "native"


def has_flag(c: Column, kind: str, flags: str) -> bool:
    """Whether the query has a `z<i>` column for `c`."""
    return kind == "temporal" and (flags == "text" or (flags == "null" and c.nullable))


def cx_query(table: Table, where: str, dialect: Any, how: list[str], flags: str = "text") -> str:
    """The connectorx SELECT. Zero dates come back NULL; `flags` says what else is read about
    them (`z<i>` columns): "text", each zero date's text (the reject file wants it);
    "null", only whether a nullable column was NULL, so that a NULL read back is known to be a
    zero date (counting them for --zero-dates null: no second zero test on the server);
    "none" (the verifier). The text flags cost MariaDB about 0.3 s per million rows."""
    main, extra = [], []
    for i, (c, kind) in enumerate(zip(table.columns, how, strict=True)):
        e = dialect.select_expr(c)  # the pymysql reader's expression (FLOAT as DOUBLE, geometry as WKB)
        if split_type(c.native_type)[0] in CX_FLOATS:
            e = dialect.quote(c.name)  # the binary protocol carries FLOAT exactly
        if kind == "temporal":
            valid = _VALID.format(q=e)
            z = dialect.quote(f"z{i}")
            if flags == "text":  # (valid) IS NOT TRUE holds for a NULL too: its text is NULL all the same
                extra.append(f"IF(({valid}) IS NOT TRUE, CAST(CONVERT({e} USING utf8mb4) AS BINARY), NULL) AS {z}")
            elif has_flag(c, kind, flags):
                extra.append(f"({e} IS NULL) AS {z}")
            e = f"IF({valid}, {e}, NULL)"  # connectorx panics on zero dates
        elif kind == "bits":
            e = f"CAST({e} AS BINARY)"
        elif kind == "text":
            # the bytes the text protocol sends: the value's text in the connection's utf8mb4
            # (CAST alone would keep a latin1 column's own bytes)
            e = f"CAST(CONVERT({e} USING utf8mb4) AS BINARY)"
        main.append(f"{e} AS {dialect.quote(f'c{i}')}")
    return f"SELECT {', '.join(main + extra)} FROM {dialect.quote(table.name)}{where}"


def connectorx_url(url: Url) -> str:
    """The URL connectorx connects with (in this process: never printed, never an argument)."""
    username, secret = credentials(url)  # the password from wherever the user keeps it
    user = quote(username, safe="")
    password = quote(secret, safe="")
    return f"mysql://{user}:{password}@{url.host or '127.0.0.1'}:{url.port or 3306}/{url.database}"


def read_chunk_cx(url: Url, table: Table, where: str, dialect: Any, how: list[str], flags: str = "text") -> pa.Table:
    """Read one chunk whole with connectorx (GIL released), as connectorx types it; raises
    CopyError when connectorx cannot read it (the caller then uses pymysql)."""
    import connectorx as cx

    sql = cx_query(table, where, dialect, how, flags)
    try:
        got = cx.read_sql(connectorx_url(url), sql, return_type="arrow", pre_execution_query=CX_SESSION)
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        msg = redact(str(exc).splitlines()[0], credentials(url)[1])
        # a lost or killed connection is the server's doing, not connectorx's: said as such
        raise CopyError(f"{table.name}: connectorx: {msg}", transient=dialect.is_transient(exc)) from None
    return got


def neutral_batch(
    raw: pa.RecordBatch, table: Table, how: list[str], policies: ValuePolicies | None, flags: str = "text"
) -> pa.RecordBatch:
    """A batch of connectorx's output -> `table.arrow_schema`, exactly as the pymysql reader
    makes it, zero-date policy included (`flags`: how the chunk was read, see `cx_query`)."""
    extra = len(table.columns)
    if raw.num_columns != extra + sum(has_flag(c, k, flags) for c, k in zip(table.columns, how, strict=True)):
        return _empty(table)  # no rows: maybe no columns
    arrays, found = [], []
    for c, kind, arr in zip(table.columns, how, raw.columns[: len(table.columns)], strict=True):
        if kind == "native":
            arrays.append(to_neutral(arr, c))
        elif kind == "temporal":
            value = to_neutral(arr, c)
            arrays.append(value)
            if flags == "text":
                zero_text = raw.column(extra)
                if zero_text.null_count < len(zero_text):
                    text = zero_text.cast(pa.binary()).cast(pa.string())
                    found.append(Flag(c.name, pc.is_valid(text), text, "zero date"))
            elif flags == "null" and value.null_count:
                zero = pc.is_null(value)  # read back NULL: a zero date, unless it was NULL
                if c.nullable:
                    zero = pc.and_(zero, pc.equal(raw.column(extra), 0))
                found.append(Flag(c.name, zero, value, "zero date"))
            extra += has_flag(c, kind, flags)
        else:
            arrays.append(parse_column(c, arr.cast(pa.binary())))
    batch = pa.RecordBatch.from_arrays(arrays, schema=table.arrow_schema)
    return policies.apply_flags(batch, found) if found and policies is not None else batch


def sliced(table: pa.Table, max_rows: int, max_bytes: int) -> Iterator[pa.RecordBatch]:
    """Zero-copy batches of a range read whole: at most max_rows rows and about max_bytes bytes."""
    if table.num_rows == 0:
        return
    per_row = max(table.nbytes / table.num_rows, 1)
    step = max(1, min(max_rows, int(max_bytes / per_row)))
    yield from table.to_batches(max_chunksize=step)


def _empty(table: Table) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=table.arrow_schema)


def to_neutral(arr: pa.Array, c: Column) -> pa.Array:
    """connectorx's Arrow type for a natively read column -> its neutral type."""
    t = c.arrow
    if arr.type == t:
        return arr
    if pa.types.is_boolean(t):
        return pc.not_equal(arr, 0)  # TINYINT(1) holding only 0/1
    if pa.types.is_timestamp(t):  # DATETIME, and TIMESTAMP read in a UTC session
        return arr.cast(pa.timestamp("us")).cast(t)
    if pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type):
        arr = arr.cast(pa.string() if pa.types.is_large_string(arr.type) else pa.binary())
    return arr.cast(t)  # safe: an overflow or a lost digit raises instead of changing a value


# -- chunking -------------------------------------------------------------------------------
def integer_key(table: Table) -> str | None:
    """The single-column integer primary key that key ranges can split, if there is one."""
    if len(table.primary_key) != 1:
        return None
    col = table.column(table.primary_key[0])
    return col.name if split_type(col.native_type)[0] in INTEGERS else None


def range_predicate(key: str | None, lo: int | None, hi: int | None, quote_ident: Callable[[str], str]) -> str | None:
    """'k > lo AND k <= hi' (either bound may be open), or None for the whole table."""
    if key is None:
        return None
    parts = []
    if lo is not None:
        parts.append(f"{quote_ident(key)} > {int(lo)}")
    if hi is not None:
        parts.append(f"{quote_ident(key)} <= {int(hi)}")
    return " AND ".join(parts) or None


def range_conditions(key: str | None, points: list[int], quote_ident: Callable[[str], str]) -> list[str | None]:
    """One condition per key range that `points` cut the table into ([None]: the whole table)."""
    bounds = [None, *points, None]
    return [range_predicate(key, lo, hi, quote_ident) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def split_points(query: Callable[[str], list[tuple[Any, ...]]], table: Table, key: str, chunks: int) -> list[int]:
    """chunks-1 increasing key values cutting `table` into ranges of about equal row counts.

    Dense keys (most values between MIN and MAX in use, the AUTO_INCREMENT case) are cut
    evenly by value; sparse ones at the quantiles of a random sample of about 200 keys per
    chunk, so ranges hold equal rows, not equal key spans."""
    if chunks < 2:
        return []
    q = f"`{key.replace('`', '``')}`"
    t = f"`{table.name.replace('`', '``')}`"
    ((lo, hi),) = query(f"SELECT MIN({q}), MAX({q}) FROM {t}")
    if lo is None:
        return []
    lo, hi = int(lo), int(hi)
    rows = max(table.row_estimate or 0, 1)
    span = hi - lo + 1
    if rows >= span // 2:
        points = [lo - 1 + span * i // chunks for i in range(1, chunks)]
    else:
        rate = min(1.0, 200.0 * chunks / rows)
        sample = sorted(int(r[0]) for r in query(f"SELECT {q} FROM {t} WHERE RAND() < {rate:.8f}"))
        if len(sample) < chunks:
            return []
        points = [sample[len(sample) * i // chunks] for i in range(1, chunks)]
    return sorted(set(p for p in points if lo <= p < hi))


def chunk_count(table_bytes: int, chunk_bytes: int) -> int:
    return max(1, math.ceil(table_bytes / max(chunk_bytes, 1)))

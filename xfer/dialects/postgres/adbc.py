"""PostgreSQL → Arrow through ADBC's PostgreSQL driver, for the verifier's full-table scans.

The driver (Apache Arrow's, C++ over libpq) runs the query as `COPY … TO STDOUT (FORMAT
binary)` and builds Arrow arrays straight from the binary rows: no Python object per value,
and the server does not format values as text. Measured on the 2M-row benchmark table (README,
Verification speed): 3.5 CPU-s (server and client together, start-up included) and 1.6 s,
against 4.1 CPU-s and 2.5 s for `COPY … CSV` through psql parsed by Arrow, the reader it
replaced; and it reads outside the GIL, so both sides of a verify hash in one process.

The session adopts the caller's exported snapshot, so it reads exactly what the caller's
transaction sees. Used unless the driver cannot be imported or `XFER_PG_READER=psycopg`; the
caller then reads with psycopg (`COPY … CSV` parsed by Arrow).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from xfer.core.errors import CopyError
from xfer.core.schema import Column, Table
from xfer.core.urls import redact

READER_ENV = "XFER_PG_READER"  # auto (default) | psycopg
BATCH_HINT_BYTES = 4 << 20  # the driver's batches (its default, 16 MB, held two at a time here)
IDLE_SESSIONS = 2  # ADBC sessions kept between reads (the verifier reads one table at a time)


class NotStarted(CopyError):
    """ADBC failed before the first row (cannot load, cannot log in): read another way."""


def available() -> bool:
    if os.environ.get(READER_ENV, "auto").strip().lower() == "psycopg":
        return False
    try:
        import adbc_driver_postgresql.dbapi  # noqa: F401
    except ImportError:
        return False
    return True


def conninfo(params: dict[str, Any]) -> str:
    """libpq's key=value form of the keywords psycopg was given (password included: the string
    stays in this process)."""

    def quoted(v: Any) -> str:
        return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"

    return " ".join(f"{k}={quoted(v)}" for k, v in params.items() if v is not None)


def select_expr(d: Any, c: Column) -> str | None:
    """What to select for column `c` so that the driver's Arrow type converts to `c.arrow`
    exactly (`convert`), or None: not supported here (the caller reads another way)."""
    q, t = d.quote(c.name), c.arrow
    if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_binary(t):
        return q
    if pa.types.is_decimal(t) or pa.types.is_string(t):
        # numeric as text: the server's numeric_out is cheaper than the driver's decoding of
        # binary numerics, and Arrow parses the text exactly; JSON, enums, CHAR (unpadded) as text
        return f"{q}::text" if pa.types.is_decimal(t) else d.select_expr(c)
    if pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_time(t):
        return q  # binary: PostgreSQL's own 64-bit microseconds (32-bit days), no formatting
    if pa.types.is_duration(t):
        return d.select_expr(c)  # interval as epoch microseconds (Arrow has no exact match)
    if pa.types.is_list(t) and pa.types.is_string(t.value_type):
        # text[] (a MySQL SET becomes one): the driver builds the lists, but flattens arrays of
        # more dimensions and drops lower bounds; such a value travels as one element holding
        # its text, so that it still compares exactly
        odd = f"array_ndims({q}) > 1 OR array_lower({q}, 1) <> 1"
        return f"CASE WHEN {odd} THEN ARRAY[{q}::text] ELSE {q}::text[] END"
    return None


def convert(arr: pa.Array, t: pa.DataType) -> pa.Array:
    if isinstance(arr.type, pa.ExtensionType):  # the driver tags json, numeric … as extensions
        arr = arr.storage
    if arr.type == t:
        return arr
    temporal = pa.types.is_timestamp(t) or pa.types.is_time(t) or pa.types.is_duration(t)
    if temporal and getattr(t, "unit", "us") == "us" and arr.type.bit_width == 64:
        # Same microseconds, other tag (time zone, duration from an integer): reinterpret.
        # ±infinity arrive as values far outside any real date and compare unequal to them.
        return arr.view(pa.int64()).view(t)
    if pa.types.is_date32(t) and pa.types.is_date32(arr.type):
        return arr
    return arr.cast(t)


def read(
    params: dict[str, Any], snapshot: str, sql: str, table: Table, batch_rows: int, idle: list[Any] | None = None
) -> Iterator[pa.RecordBatch]:
    """The rows of `sql` in `snapshot`, as batches of `table`'s Arrow schema. Raises NotStarted
    when it fails before the first row, CopyError after. `idle`: sessions to take one from and
    to leave this one in after a clean read (a new session costs a connection and the driver's
    read of the type catalogue: a quarter of a second per table, measured over 1,000 tables)."""
    import adbc_driver_postgresql.dbapi as adbc

    secret = str(params.get("password") or "")
    schema = table.arrow_schema
    started = clean = False
    try:
        conn = idle.pop() if idle else adbc.connect(conninfo(params), autocommit=False)
    except adbc.Error as exc:
        raise NotStarted(f"reading {table.name}: ADBC: {redact(_message(exc), secret)}") from None
    cur = conn.cursor()
    try:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cur.execute(f"SET TRANSACTION SNAPSHOT '{snapshot.replace(chr(39), '')}'")
        cur.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(BATCH_HINT_BYTES)})
        cur.execute(sql)
        for chunk in cur.fetch_record_batch():
            started = True
            arrays = [convert(a, f.type) for a, f in zip(chunk.columns, schema, strict=True)]
            batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
            for start in range(0, batch.num_rows, batch_rows):
                yield batch.slice(start, batch_rows)
        clean = True
    except (adbc.Error, pa.ArrowException, OSError) as exc:  # a lost connection surfaces as OSError
        cls = CopyError if started else NotStarted
        lost = isinstance(exc, OSError | adbc.OperationalError)  # the session, not the data: retry
        raise cls(f"reading {table.name}: ADBC: {redact(_message(exc), secret)}", transient=lost) from None
    finally:
        if clean and idle is not None and len(idle) < IDLE_SESSIONS and _release(cur, conn):
            idle.append(conn)
        else:
            _close(cur, conn)


def close_idle(idle: list[Any]) -> None:
    while idle:
        _close(None, idle.pop())


def _release(cur: Any, conn: Any) -> bool:
    """End the read's transaction, keeping the session; False when that fails."""
    try:
        cur.close()
        conn.rollback()
        return True
    except Exception:  # noqa: BLE001 - then it is closed instead
        return False


def _close(cur: Any, conn: Any) -> None:
    """Release the session (its transaction only read: rolling back loses nothing); a session
    that already broke has nothing left to release."""
    for step in (cur.close if cur is not None else None, conn.rollback, conn.close):
        if step is None:
            continue
        try:
            step()
        except Exception:  # noqa: BLE001 - the error that matters was raised before
            pass


def _message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]

"""Reading PostgreSQL: batches through a named (streaming) cursor, in the snapshot when one is
open; the verifier's full scans through ADBC (binary COPY decoded in C++, `adbc`) or
`COPY (SELECT …) TO STDOUT (FORMAT csv)` parsed by Arrow's CSV reader."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from xfer.core.errors import CopyError
from xfer.core.schema import Column, Table
from xfer.dialects.postgres import adbc as pg_adbc
from xfer.dialects.postgres.errors import pg_message

log = logging.getLogger("xfer")


class PostgresReading:
    """The reading methods of the PostgreSQL dialect (needs its connection and `quote`)."""

    conn: Any
    _psycopg: Any
    verify_reader: str
    quote: Any
    qualified: Any
    is_transient: Any
    _query: Any
    _params: Any
    _adbc_idle: list[Any]  # ADBC sessions a finished read left for the next one (`pg_adbc.read`)

    # -- reading --------------------------------------------------------------------------
    @contextmanager
    def snapshot(self) -> Iterator[None]:
        self.conn.autocommit = False
        self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield
        finally:
            try:
                self.conn.rollback()
                self.conn.autocommit = True
            except self._psycopg.Error:  # the connection was lost: nothing left to end
                pass

    def select_expr(self, c: Column) -> str:
        q = self.quote(c.name)
        t = c.arrow
        if c.native_type == "inet":
            return f"abbrev({q})"  # inet's own output form ('::1'), not text(inet)'s '::1/128'
        if c.meta.get("char") or c.meta.get("json") or (pa.types.is_string(t) and c.native_type != "text"):
            return f"{q}::text"  # drops CHAR's pad; JSON as text; enums, uuid, numeric as text
        if pa.types.is_duration(t):
            return f"(extract(epoch FROM {q}) * 1000000)::bigint"
        return q

    def read_batches(
        self, table: Table, batch_rows: int, where: str | None = None, policies: Any = None
    ) -> Iterator[pa.RecordBatch]:
        cols = ", ".join(self.select_expr(c) for c in table.columns)
        sql = f"SELECT {cols} FROM {self.qualified(table.name)}" + (f" WHERE ({where})" if where else "")
        try:
            yield from self._cursor_batches("xfer_read", sql, None, table, batch_rows)
        except self._psycopg.Error as exc:
            raise CopyError(f"reading {table.name}: {pg_message(exc)}", transient=self.is_transient(exc)) from None

    @contextmanager
    def _read_transaction(self) -> Iterator[None]:
        """The block runs in a transaction: snapshot()'s when one is open, else one of its own,
        rolled back after (named cursors and exported snapshots need one)."""
        own_tx = self.conn.autocommit
        if own_tx:
            self.conn.autocommit = False
        try:
            yield
        finally:
            if own_tx:
                try:
                    self.conn.rollback()
                    self.conn.autocommit = True
                except self._psycopg.Error:  # the connection was lost: nothing left to end (the error
                    pass  # raised in the block says so)

    def _cursor_batches(
        self, name: str, sql: str, params: Sequence[Any] | None, table: Table, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """`sql`'s rows through a named (server-side, streaming) cursor, as batches of `table`."""
        with self._read_transaction(), self.conn.cursor(name=name) as cur:
            cur.itersize = batch_rows
            cur.execute(sql, params)
            while rows := cur.fetchmany(batch_rows):
                columns = list(zip(*rows, strict=True))
                arrays = [_to_arrow(col, c, table.name) for c, col in zip(table.columns, columns, strict=True)]
                yield pa.RecordBatch.from_arrays(arrays, schema=table.arrow_schema)

    def read_rows(self, table: Table, where: str, params: Sequence[Any], batch_rows: int) -> Iterator[pa.RecordBatch]:
        cols = ", ".join(self.select_expr(c) for c in table.columns)
        sql = f"SELECT {cols} FROM {self.qualified(table.name)} WHERE {where}"
        try:
            yield from self._cursor_batches("xfer_read_rows", sql, tuple(params) or None, table, batch_rows)
        except self._psycopg.Error as exc:
            raise CopyError(f"reading {table.name}: {pg_message(exc)}") from None

    def verify_batches(self, table: Table, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Every row, in this transaction's snapshot, without a Python object per value: through
        ADBC's driver (binary COPY decoded into Arrow in C++, `pg_adbc`) where it loads, else
        `COPY (SELECT …) TO STDOUT (FORMAT csv)` through psycopg parsed by Arrow's CSV reader.
        Types neither handles go through `read_batches`."""
        exprs = [pg_adbc.select_expr(self, c) for c in table.columns]
        held = self._held()
        if pg_adbc.available() and None not in exprs:
            sql = f"SELECT {', '.join(e for e in exprs if e)} FROM {self.qualified(table.name)}"
            with self._read_transaction():
                # the driver's own session joins this transaction's snapshot
                snapshot = self._export_snapshot(table)
                try:
                    self.verify_reader = f"ADBC (binary COPY), {held}"
                    yield from pg_adbc.read(self._params(), snapshot, sql, table, batch_rows, self._adbc_idle)
                    return
                except pg_adbc.NotStarted as exc:  # e.g. the driver's libpq cannot log in as psycopg did
                    log.info("verify: %s; reading with psycopg instead", exc)
        yield from self._csv_verify_batches(table, batch_rows)

    def _held(self) -> str:
        """How the verifier's read sees the table, for the report (`snapshot()` turns autocommit off)."""
        return "in the snapshot" if not self.conn.autocommit else "as it is (no snapshot held)"

    def _export_snapshot(self, table: Table) -> str:
        try:
            ((snapshot,),) = self._query("SELECT pg_export_snapshot()")
            return str(snapshot)
        except self._psycopg.Error as exc:  # no retry brings a lost snapshot back
            raise CopyError(
                f"reading {table.name}: the connection holding the snapshot is gone ({pg_message(exc)}); "
                "run the check again"
            ) from None

    def _csv_verify_batches(self, table: Table, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """`verify_batches` through psycopg's COPY: temporal values travel as integers (epoch
        days / microseconds), bytea as hex."""
        plan = [_copy_column(self, c) for c in table.columns]
        if any(p is None for p in plan):
            self.verify_reader = f"psycopg (cursor), {self._held()}"
            yield from self.read_batches(table, batch_rows)
            return
        self.verify_reader = f"psycopg (COPY … CSV), {self._held()}"
        exprs = ", ".join(p[0] for p in plan if p)
        sql = f"COPY (SELECT {exprs} FROM {self.qualified(table.name)}) TO STDOUT (FORMAT csv)"
        names = [f"c{i}" for i in range(len(plan))]
        convert = pacsv.ConvertOptions(
            column_types={n: p[1] for n, p in zip(names, plan, strict=True) if p},
            null_values=[""],  # COPY writes NULL as an empty field and '' as "" (quoted)
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        )
        read = pacsv.ReadOptions(column_names=names, block_size=8 << 20)
        parse = pacsv.ParseOptions(newlines_in_values=True)
        try:
            with self._read_transaction(), self.conn.cursor() as cur, cur.copy(sql) as copy:
                yield from _csv_batches(_CopyStream(copy), table.arrow_schema, batch_rows, (read, parse, convert))
        except self._psycopg.Error as exc:
            raise CopyError(f"reading {table.name}: {pg_message(exc)}") from None


class _CopyStream(io.RawIOBase):
    """A readable file over psycopg's COPY TO chunks (about one row each), for Arrow's CSV
    reader, which asks for large blocks: `read(n)` gathers chunks up to `n` bytes."""

    def __init__(self, copy: Any) -> None:
        self._chunks = iter(copy)
        self._left = b""

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        parts, size = [self._left], len(self._left)
        while n < 0 or size < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            parts.append(chunk)
            size += len(chunk)
        data = b"".join(parts)
        if n < 0 or len(data) <= n:
            self._left = b""
            return data
        self._left = data[n:]
        return data[:n]

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def _csv_batches(
    stream: Any, schema: pa.Schema, batch_rows: int, csv: tuple[Any, Any, Any]
) -> Iterator[pa.RecordBatch]:
    """Arrow's CSV reader over a COPY's output, converted to `schema`, in batches of at most
    `batch_rows` rows."""
    read, parse, convert = csv
    try:
        reader = pacsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            return  # an empty table: COPY wrote nothing
        raise
    for chunk in reader:
        arrays = [_from_copy(a, f.type) for a, f in zip(chunk.columns, schema, strict=True)]
        batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
        for start in range(0, batch.num_rows, batch_rows):
            yield batch.slice(start, batch_rows)


def _copy_column(d: PostgresReading, c: Column) -> tuple[str, pa.DataType] | None:
    """(select expression, CSV column type) for the COPY-based scan, or None: not supported."""
    q, t = d.quote(c.name), c.arrow
    micros = f"(extract(epoch FROM {q}) * 1000000)::bigint"
    if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal128(t):
        return q, t
    if pa.types.is_decimal256(t):
        return q, pa.string()
    if pa.types.is_string(t):
        return d.select_expr(c), pa.string()
    if pa.types.is_binary(t):
        return f"encode({q}, 'hex')", pa.string()
    if pa.types.is_date(t):
        return f"({q} - DATE '1970-01-01')", pa.int32()
    if pa.types.is_timestamp(t) or pa.types.is_time(t) or pa.types.is_duration(t):
        return micros, pa.int64()
    return None


def _from_copy(arr: pa.Array, t: pa.DataType) -> pa.Array:
    if arr.type == t:
        return arr
    if pa.types.is_binary(t):
        return _unhex(arr)
    if pa.types.is_timestamp(t) or pa.types.is_time(t) or pa.types.is_duration(t) or pa.types.is_date(t):
        return arr.cast(pa.int64() if not pa.types.is_date(t) else pa.int32()).view(t)
    return arr.cast(t)


_NIBBLE = np.zeros(256, dtype=np.uint8)
_NIBBLE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)


def _unhex(arr: pa.Array) -> pa.Array:
    """Lower-case hex text -> binary, vectorised (the inverse of `bytea_hex`, without the '\\x')."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.string())
    if len(arr) == 0:
        return pa.array([], pa.binary())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    text = np.frombuffer(arr.buffers()[2] or b"", dtype=np.uint8)[offsets[0] : offsets[-1]]
    data = (_NIBBLE[text[0::2]] << 4) | _NIBBLE[text[1::2]]
    new_offsets = ((offsets - offsets[0]) // 2).astype(np.int32)
    validity = arr.buffers()[0] if arr.null_count and arr.offset == 0 else None
    out = pa.Array.from_buffers(
        pa.binary(), len(arr), [validity, pa.py_buffer(new_offsets.tobytes()), pa.py_buffer(data.tobytes())]
    )
    if arr.null_count and validity is None:
        out = pc.if_else(pc.is_null(arr), pa.scalar(None, pa.binary()), out)
    return out


def _to_arrow(values: tuple[Any, ...], col: Column, table: str) -> pa.Array:
    t = col.arrow
    try:
        if pa.types.is_duration(t):
            return pa.array(values, pa.int64()).cast(t)
        return pa.array(values, t)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:  # e.g. a 2-D array in an array column
        why = "arrays of more than one dimension cannot be read" if pa.types.is_list(t) else str(exc)
        raise CopyError(f"reading {table}: column {col.name!r} ({col.native_type}): {why}") from None

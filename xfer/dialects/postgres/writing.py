"""Writing PostgreSQL: `COPY … FROM STDIN (FORMAT csv)` fed by Arrow's C++ CSV writer, or the
bulk path (`BulkWriter`): binary COPY encoded by pgpq (`binary`) for the tables it supports; one
transaction per batch either way (a batch is fully in or not at all)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from xfer.core.errors import CopyError, XferError
from xfer.core.schema import Table
from xfer.dialects.capabilities import BulkWriter
from xfer.dialects.postgres.binary import BinaryEncoder, binary_supported, copy_sql, send, written
from xfer.dialects.postgres.errors import pg_message
from xfer.dialects.postgres.parts import PostgresPart


class PostgresWriting(PostgresPart, BulkWriter):
    """The writing methods of the PostgreSQL dialect (needs its connection, `execute`, `quote`)."""

    conn: Any
    _psycopg: Any
    _prepared: bool
    ddl_hook: Any
    execute: Any
    is_transient: Any
    schema_sql: Any

    # -- writing --------------------------------------------------------------------------
    def create_schema(self) -> None:
        for sql in self.schema_sql():  # the statement `xfer plan --sql` writes too (script.py)
            self.execute(sql)

    def drop_table(self, name: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS {self.qualified(name)} CASCADE")

    def truncate_tables(self, names: list[str]) -> None:
        # One statement, no CASCADE: a table outside the run that references one of these
        # makes PostgreSQL refuse, instead of silently emptying that table too.
        tables = ", ".join(self.qualified(n) for n in names)
        try:
            if self.ddl_hook is not None:  # a journaled step: a resumed run must not empty them again
                self.ddl_hook(self, [f"TRUNCATE {tables}"])
                return
            with self.conn.cursor() as cur:
                cur.execute(f"TRUNCATE {tables}")
        except (self._psycopg.Error, XferError) as exc:
            if isinstance(exc, XferError) and exc.transient:
                raise
            why = exc.message.rsplit(": ", 1)[-1] if isinstance(exc, XferError) else pg_message(exc)
            raise XferError(
                f"cannot empty the target tables: {why}",
                hint="include the referencing tables in the run (--tables), or use --if-exists replace",
            ) from None

    def prepare_for_load(self, concurrent_builds: bool = False) -> None:
        # Losing the last commits in a server crash is acceptable mid-load (the run is
        # re-done); waiting for each WAL flush is not.
        # (committed chunks and their journal marks stay atomic: a crash loses both or neither)
        with self.conn.cursor() as cur:  # session settings: not journaled steps
            cur.execute("SET synchronous_commit = off")
            cur.execute("SET maintenance_work_mem = '256MB'")
            if concurrent_builds:
                # Builds running side by side already use the cores: PostgreSQL's own parallel
                # workers per build then only compete (2 indexes of 2M rows: 1.03 -> 0.82 s).
                cur.execute("SET max_parallel_maintenance_workers = 0")
        self._prepared = True

    def write_batches(self, table: Table, batches: Iterable[pa.RecordBatch]) -> Iterator[int]:
        # Generated columns are computed by PostgreSQL (and compared with the source's values
        # by verification): they are not written.
        keep = [i for i, c in enumerate(table.columns) if not c.generated]
        cols = self.column_list(table.columns[i].name for i in keep)
        sql = f"COPY {self.qualified(table.name)} ({cols}) FROM STDIN (FORMAT csv)"
        for batch in batches:
            data = to_csv(batch.select(keep) if len(keep) < batch.num_columns else batch)
            try:
                with self.conn.transaction(), self.conn.cursor() as cur:
                    send(cur, sql, [data])
            except self._psycopg.Error as exc:
                raise self._batch_refused(table, exc) from None
            yield batch.num_rows

    # -- the bulk path (BulkWriter) ------------------------------------------------------------
    def bulk_supported(self, table: Table) -> bool:
        return binary_supported(table)

    def write_path(self, bulk: bool) -> str:
        return "binary COPY (pgpq)" if bulk else "CSV COPY"

    def write_bulk(self, table: Table, batch: pa.RecordBatch, stages: dict[str, float]) -> None:
        t0 = time.perf_counter()
        payload = BinaryEncoder(table).encode(batch)
        t1 = time.perf_counter()
        stages["transform"] = stages.get("transform", 0.0) + t1 - t0
        sql = copy_sql(self.qualified(table.name), self.column_list(c.name for c in written(table)))
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                send(cur, sql, payload)
        except self._psycopg.Error as exc:
            raise self._batch_refused(table, exc) from None
        finally:
            stages["write"] = stages.get("write", 0.0) + time.perf_counter() - t1

    def _batch_refused(self, table: Table, exc: Any) -> CopyError:
        """A refused batch: transient as the connection's fate says (a terminated backend, a
        deadlock: the journal retries), a row error when it is about the data (22) or integrity
        (23), so the caller can isolate the rows; 23505 (unique_violation) is a duplicate key."""
        sqlstate = getattr(exc, "sqlstate", None) or ""
        return CopyError(
            f"writing {table.name}: PostgreSQL refused a batch: {pg_message(exc)}",
            transient=self.is_transient(exc),
            row_error=sqlstate[:2] in ("22", "23"),
            duplicate_key=sqlstate == "23505",
        )


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def bytea_hex(arr: pa.Array) -> pa.Array:
    """binary -> PostgreSQL's bytea hex text ('\\x0aff'), vectorised with numpy."""
    arr = arr.cast(pa.binary())
    if len(arr) == 0:
        return pa.array([], pa.string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2] or b"", dtype=np.uint8)[offsets[0] : offsets[-1]]
    hexed = np.empty(len(data) * 2, dtype=np.uint8)
    hexed[0::2] = _HEX[data >> 4]
    hexed[1::2] = _HEX[data & 0x0F]
    rel = offsets - offsets[0]
    idx = np.arange(len(arr) + 1, dtype=np.int64)
    new_offsets = (rel.astype(np.int64) * 2 + idx * 2).astype(np.int32)  # + "\x" per value
    out = np.empty(int(new_offsets[-1]), dtype=np.uint8)
    # every value: "\x" then its hex digits
    starts = new_offsets[:-1]
    out[starts] = ord("\\")
    out[starts + 1] = ord("x")
    mask = np.ones(len(out), dtype=bool)
    mask[starts] = False
    mask[starts + 1] = False
    out[mask] = hexed
    result = pa.StringArray.from_buffers(len(arr), pa.py_buffer(new_offsets.tobytes()), pa.py_buffer(out.tobytes()))
    if arr.null_count:  # the input's validity bitmap may be offset (a slice): rebuild it
        result = pc.if_else(pc.is_null(arr), pa.scalar(None, pa.string()), result)
    return result


def to_csv(batch: pa.RecordBatch) -> bytes:
    """Encode a batch as the CSV `COPY … (FORMAT csv)` reads: NULL is an empty unquoted field,
    '' is a quoted empty string (Arrow's writer keeps them apart)."""
    arrays = []
    for arr in batch.columns:
        t = arr.type
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            arr = bytea_hex(arr)
        elif pa.types.is_duration(t):
            arr = pc.binary_join_element_wise(arr.cast(pa.int64()).cast(pa.string()), pa.scalar(" microseconds"), "")
        elif pa.types.is_list(t):
            arr = _pg_array_literal(arr)
        arrays.append(arr)
    sink = io.BytesIO()
    table = pa.Table.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return sink.getvalue()


def _pg_array_literal(arr: pa.Array) -> pa.Array:
    """list<string> -> '{"a","b"}' text (rare: SET columns), per value."""
    out: list[str | None] = []
    for v in arr.to_pylist():
        if v is None:
            out.append(None)
        else:
            items = ("NULL" if x is None else '"' + str(x).replace("\\", "\\\\").replace('"', '\\"') + '"' for x in v)
            out.append("{" + ",".join(items) + "}")
    return pa.array(out, pa.string())

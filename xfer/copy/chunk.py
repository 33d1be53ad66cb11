"""One chunk of a table copied MySQL/MariaDB -> PostgreSQL: read (connectorx or pymysql), value
policies, conversion to the target's types, binary or CSV COPY one commit per batch, checksum.

A `ChunkTask` carries everything it needs (URLs, table plans, key range, policies) and pickles;
`run_task` runs one on connections of its own, anywhere that reaches both servers, and returns
`ChunkStats` (rows, bytes, checksum, stage seconds, policy counts). The local parallel copy
(`xfer.parallel`) hands it an open `Session` instead and reads the next chunk ahead.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from xfer.copy.table import MAX_ISOLATED_REJECTS, _drain, _reject_record
from xfer.core.checksum import BucketMap, MapHasher
from xfer.core.conform import conform
from xfer.core.errors import CopyError, XferError
from xfer.core.policies import RejectFile, ValuePolicies
from xfer.core.report import TableResult
from xfer.core.urls import Url
from xfer.dialects.base import Dialect
from xfer.dialects.mysql import fast as mf
from xfer.dialects.postgres.binary import BinaryEncoder, copy_sql, send, written
from xfer.planning.build import TablePlan

log = logging.getLogger("xfer")

QUEUE_DEPTH = 2  # batches between a chunk's reader and its writer
STAGES = ("read", "transform", "write", "checksum")


@dataclass(frozen=True)
class ChunkTask:
    """Everything one chunk needs, picklable: `run_task(task)` runs it anywhere that reaches
    both servers (locally the copy passes it an open session instead)."""

    source_url: Url
    target_url: Url
    source: TablePlan
    key: str | None
    lo: int | None  # exclusive
    hi: int | None  # inclusive
    reader: str  # connectorx | pymysql
    binary: bool
    batch_rows: int
    batch_bytes: int
    checksum: bool
    zero_dates: str = "null"  # the value policies (xfer.policies)
    nul_bytes: str = "reject"
    nul_texts: tuple[str, ...] = ()  # text columns the target cannot store U+0000 in
    size: int = 0  # estimated bytes, for scheduling the biggest first
    cmp: Any = None  # xfer.comparison.Comparison: how rows are hashed into bucket maps (verify)


@dataclass
class ChunkStats:
    rows: int = 0
    bytes: int = 0
    checksum: BucketMap | None = None  # the written rows' bucket map (verification)
    stages: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    reader: str = ""
    notes: list[str] = field(default_factory=list)
    policies: dict[str, dict[str, int]] = field(default_factory=dict)  # column -> policy -> values
    rejected: list[dict[str, Any]] = field(default_factory=list)  # when no reject file was given


@dataclass
class Session:
    """One worker's connections: a PostgreSQL writer, and in snapshot mode a MySQL dialect
    whose reads go through this worker's snapshot connection."""

    target: Dialect
    mysql: Any = None


# -- one chunk --------------------------------------------------------------------------------
@dataclass
class Started:
    """A chunk whose reader thread is running (reading ahead of the writer)."""

    task: ChunkTask
    pipe: Pipe
    stats: ChunkStats


def start_chunk(task: ChunkTask, session: Session, source: Dialect) -> Started:
    """Start reading (and converting) `task`'s rows in a thread of their own."""
    stats = ChunkStats(reader=task.reader)
    return Started(task, Pipe(lambda: _converted(task, session, source, stats)), stats)


def run_chunk(
    task: ChunkTask,
    session: Session,
    source: Dialect,
    on_rows: Callable[[int], None],
    started: Started | None = None,
    rejects: RejectFile | None = None,
    result: TableResult | None = None,
) -> ChunkStats:
    """Copy one chunk: read it, apply the value policies, convert it to the target's types,
    write it one batch per commit (isolating rows the target refuses, as the serial copy does)
    and hash what was written. Rejected rows go to `rejects` (counted in `result`), or into
    `stats.rejected` without a reject file. Raises XferError, whose `stats` attribute holds
    the rows committed so far."""
    started = started or start_chunk(task, session, source)
    stats = started.stats
    tp = task.source
    cmp = task.cmp
    hasher = MapHasher(tp.target.arrow_schema, cmp.canons, cmp.spec, tp.source.name) if task.checksum and cmp else None
    try:
        for batch, records in started.pipe:
            isolated: list[dict[str, Any]] = []
            n = _write_rows(session.target, tp, batch, task.binary, hasher, isolated, stats)
            stats.rows += n
            stats.bytes += batch.nbytes
            on_rows(n)
            if records or isolated:
                if rejects is not None and result is not None:
                    _drain(records + isolated, rejects, result)
                else:
                    stats.rejected.extend(records + isolated)
    except XferError as exc:
        exc.stats = stats  # type: ignore[attr-defined]
        raise
    finally:
        started.pipe.close()
        if hasher:
            stats.checksum = hasher.map
            hasher.close()
    return stats


def _converted(task: ChunkTask, session: Session, source: Dialect, stats: ChunkStats) -> Iterator[tuple[Any, Any]]:
    """(batch in the target's types, rows the policies rejected), batch by batch; runs in the
    chunk's reader thread."""
    tp = task.source
    schema = tp.target.arrow_schema
    policies = ValuePolicies(tp.source.name, list(tp.source.primary_key), task.zero_dates, task.nul_bytes)
    try:
        for batch in _read(task, session, source, policies, stats):
            t0 = time.perf_counter()
            if task.nul_texts:
                batch = policies.apply_nul_bytes(batch, list(task.nul_texts))
            out = conform(batch, schema, tp.source.name)
            records = list(policies.rejects)
            policies.rejects.clear()
            stats.stages["transform"] += time.perf_counter() - t0
            yield out, records
    finally:
        stats.policies = {c: dict(n) for c, n in policies.counts.items()}


def _read(
    task: ChunkTask, session: Session, source: Dialect, policies: ValuePolicies, stats: ChunkStats
) -> Iterator[pa.RecordBatch]:
    """The chunk's rows in the neutral types, zero-date policy applied."""
    t = task.source.source
    t0 = time.perf_counter()
    if task.reader == "connectorx":
        where = mf.range_predicate(task.key, task.lo, task.hi, source.quote)
        how = mf.kinds(t, getattr(source, "mariadb", False))
        try:
            flags = "null" if task.zero_dates == "null" else "text"  # zero dates: counted, or their text kept
            whole = mf.read_chunk_cx(source.url, t, f" WHERE {where}" if where else "", source, how, flags)
        except CopyError as exc:
            stats.reader = "pymysql"
            stats.notes.append(f"read with pymysql: {exc}")
            # a lost or killed connection is worth saying (it is a retry); a type connectorx
            # cannot read is routine
            (log.warning if exc.transient else log.info)("%s: %s; reading this chunk with pymysql", t.name, exc)
        else:
            stats.stages["read"] += time.perf_counter() - t0
            for raw in _sliced(whole, task.batch_rows, task.batch_bytes):
                t0 = time.perf_counter()
                batch = mf.neutral_batch(raw, t, how, policies, flags)
                stats.stages["transform"] += time.perf_counter() - t0
                yield batch
            return
    reader = session.mysql if session.mysql is not None else source  # snapshot connection, or its own
    where = mf.range_predicate(task.key, task.lo, task.hi, source.quote)
    it = reader.read_batches(t, task.batch_rows, where=where, policies=policies)
    try:
        while True:
            t0 = time.perf_counter()
            batch = next(it, None)
            stats.stages["read"] += time.perf_counter() - t0
            if batch is None:
                return
            yield batch
    finally:
        it.close()


def _sliced(table: pa.Table, max_rows: int, max_bytes: int) -> Iterator[pa.RecordBatch]:
    """Zero-copy batches of at most max_rows rows and about max_bytes bytes."""
    if table.num_rows == 0:
        return
    per_row = max(table.nbytes / table.num_rows, 1)
    step = max(1, min(max_rows, int(max_bytes / per_row)))
    yield from table.to_batches(max_chunksize=step)


_DONE = object()


class Pipe:
    """Runs the iterator `make()` in its own thread from construction on, at most QUEUE_DEPTH
    items ahead of the consumer (the bounded queue that keeps memory bounded)."""

    def __init__(self, make: Callable[[], Iterator[Any]]) -> None:
        self._q: queue.Queue[Any] = queue.Queue(QUEUE_DEPTH)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(make,), daemon=True, name="xfer-read")
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, make: Callable[[], Iterator[Any]]) -> None:
        gen = make()
        try:
            for item in gen:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)
        finally:
            if hasattr(gen, "close"):
                gen.close()  # closes a connection the reader opened, in this thread

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _write_rows(
    target: Dialect,
    tp: TablePlan,
    batch: pa.RecordBatch,
    binary: bool,
    hasher: MapHasher | None,
    isolated: list[dict[str, Any]],
    stats: ChunkStats,
) -> int:
    """Write one batch in one transaction; when PostgreSQL refuses it for its data, split it
    until the refused rows are isolated (recorded in `isolated`, as the serial copy does) and
    write the rest. Only written rows are hashed."""
    try:
        _write(target, tp.target, batch, binary, stats)
    except CopyError as exc:
        if not getattr(exc, "row_error", False) or len(isolated) >= MAX_ISOLATED_REJECTS:
            raise
        if batch.num_rows == 1 and binary:  # the CSV path's message names the column and value
            return _write_rows(target, tp, batch, False, hasher, isolated, stats)
        if batch.num_rows == 1:
            isolated.append(_reject_record(tp, batch, exc))
            return 0
        mid = batch.num_rows // 2
        return _write_rows(target, tp, batch.slice(0, mid), binary, hasher, isolated, stats) + _write_rows(
            target, tp, batch.slice(mid), binary, hasher, isolated, stats
        )
    if hasher:
        t0 = time.perf_counter()
        hasher.update(batch)
        stats.stages["checksum"] += time.perf_counter() - t0
    return batch.num_rows


def _write(target: Dialect, table: Any, batch: pa.RecordBatch, binary: bool, stats: ChunkStats) -> None:
    t0 = time.perf_counter()
    if not binary:
        for _ in target.write_batches(table, [batch]):
            pass
        stats.stages["write"] += time.perf_counter() - t0
        return
    payload = BinaryEncoder(table).encode(batch)
    t1 = time.perf_counter()
    stats.stages["transform"] += t1 - t0
    psycopg = target._psycopg
    sql = copy_sql(target.qualified(table.name), target.column_list(c.name for c in written(table)))
    try:
        with target.conn.transaction(), target.conn.cursor() as cur:
            send(cur, sql, payload)
    except psycopg.Error as exc:
        from xfer.dialects.postgres.dialect import _pg_message

        err = CopyError(
            f"writing {table.name}: PostgreSQL refused a batch: {_pg_message(exc)}",
            transient=target.is_transient(exc),  # a terminated backend, a deadlock: the journal retries
        )
        # data (22) and integrity (23) errors are about rows: they can be isolated
        err.row_error = (getattr(exc, "sqlstate", None) or "")[:2] in ("22", "23")  # type: ignore[attr-defined]
        raise err from None
    finally:
        stats.stages["write"] += time.perf_counter() - t1


def run_task(task: ChunkTask) -> ChunkStats:
    """Run one chunk task on its own connections (e.g. on another machine). Consistency across
    tasks is then the caller's: lock the tables for the duration (`--consistency lock`)."""
    from xfer.dialects import dialect_for

    source, target = dialect_for(task.source_url), dialect_for(task.target_url)
    source.connect()
    try:
        target.connect()
        try:
            target.prepare_for_load()
            return run_chunk(task, Session(target), source, lambda n: None)
        finally:
            target.close()
    finally:
        source.close()

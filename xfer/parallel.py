"""The parallel copy, MySQL/MariaDB -> PostgreSQL: tables and key ranges of big tables copied
by `--jobs` workers, each chunk read -> converted -> written through a bounded queue.

Chunk tasks are self-contained (`ChunkTask`: URLs, table, key range, planned types in;
`ChunkStats`: counts, checksum, stage seconds out), so another executor could run them on
other machines; here a thread pool runs them, the native reader and writer releasing the GIL.

Consistency (`--consistency`):
- `lock` (default): `LOCK TABLES … READ` on every copied table, held by one coordinator session
  until the last row is read. Readers on any connection see the same rows, so each chunk can
  use connectorx (one connection per call); writes to those tables wait until the copy is done.
  mysqldump's default (`--lock-tables`) does the same.
- `snapshot`: the source stays writable. One InnoDB snapshot shared by every worker, lined up
  the way mydumper does it: the coordinator takes `FLUSH TABLES WITH READ LOCK` (commits pause
  for milliseconds), each worker opens its connection and runs `START TRANSACTION WITH
  CONSISTENT SNAPSHOT`, then `UNLOCK TABLES`. Workers read over those connections (pymysql).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from copy import copy as shallow_copy
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from .checksum import Checksum, Hasher
from .copy import MAX_ISOLATED_REJECTS, _drain, _reject_record, nul_columns
from .dialects import mysql_fast as mf
from .dialects.base import Dialect
from .dialects.pg_binary import BinaryEncoder, binary_supported, copy_sql, send, written
from .errors import CopyError, XferError
from .options import Options
from .plan import Plan, TablePlan, load_order
from .policies import RejectFile, ValuePolicies
from .progress import ProgressFactory
from .report import TableResult
from .transform import conform
from .urls import Url

log = logging.getLogger("xfer")

QUEUE_DEPTH = 2  # batches between a chunk's reader and its writer
STAGES = ("read", "transform", "write", "checksum")


def applicable(source: Dialect, target: Dialect, the_plan: Plan) -> bool:
    """The parallel path copies MySQL/MariaDB tables into PostgreSQL as they are; a mapping
    file's reads (renames, filters, computed columns) go through the serial copy."""
    return source.name == "mysql" and target.name == "postgres" and all(tp.mapped is None for tp in the_plan.tables)


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


@dataclass
class ChunkStats:
    rows: int = 0
    bytes: int = 0
    checksum: Checksum = field(default_factory=Checksum)
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


# -- planning the chunks ----------------------------------------------------------------------
def make_tasks(source: Dialect, target: Dialect, the_plan: Plan, options: Options, reader: str) -> list[ChunkTask]:
    sizes = _table_sizes(source)
    tasks: list[ChunkTask] = []
    for tp in the_plan.tables:
        t = tp.source
        size = sizes.get(t.name, 0)
        table_reader = reader
        key = mf.integer_key(t)
        n = mf.chunk_count(size, options.chunk_bytes) if key else 1
        if table_reader == "connectorx" and key is None and size > options.chunk_bytes:
            table_reader = "pymysql"  # one connectorx call would hold the whole table in memory
        points = mf.split_points(source._query, t, key, n) if key and n > 1 else []
        bounds = [None, *points, None]
        # the pymysql reader holds a batch as Python objects first: size it in bytes too
        per_row = max(size // max(t.row_estimate or 1, 1), 1)
        rows = max(1000, min(options.batch_size, options.batch_bytes // per_row))
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            tasks.append(
                ChunkTask(
                    source.url,
                    target.url,
                    tp,
                    key if points else None,
                    lo,
                    hi,
                    table_reader,
                    binary_supported(tp.target),
                    rows if table_reader == "pymysql" else options.batch_size,
                    options.batch_bytes,
                    options.verify,
                    options.zero_dates,
                    options.nul_bytes,
                    tuple(nul_columns(tp, target)),
                    size // max(len(bounds) - 1, 1),
                )
            )
    return tasks


def _table_sizes(source: Dialect) -> dict[str, int]:
    rows = source._query(
        "SELECT TABLE_NAME, DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
    )
    return {name: int(n or 0) for name, n in rows}


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
    hasher = Hasher(tp.hash_schema, tp.json_columns) if task.checksum else None
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
            stats.checksum = hasher.checksum
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
            whole = mf.read_chunk_cx(source.url, t, f" WHERE {where}" if where else "", source, how)
        except CopyError as exc:
            stats.reader = "pymysql"
            stats.notes.append(f"read with pymysql: {exc}")
            log.info("%s: %s; reading this chunk with pymysql", t.name, exc)
        else:
            stats.stages["read"] += time.perf_counter() - t0
            for raw in _sliced(whole, task.batch_rows, task.batch_bytes):
                t0 = time.perf_counter()
                batch = mf.neutral_batch(raw, t, how, policies)
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
    hasher: Hasher | None,
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
        hasher.update(tp.for_hash(batch))
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
        from .dialects.postgres import _pg_message

        err = CopyError(f"writing {table.name}: PostgreSQL refused a batch: {_pg_message(exc)}")
        # data (22) and integrity (23) errors are about rows: they can be isolated
        err.row_error = (getattr(exc, "sqlstate", None) or "")[:2] in ("22", "23")  # type: ignore[attr-defined]
        raise err from None
    finally:
        stats.stages["write"] += time.perf_counter() - t1


# -- the whole copy -----------------------------------------------------------------------------
def copy_all(
    source: Dialect,
    target: Dialect,
    target_factory: Callable[[], Dialect],
    the_plan: Plan,
    results: dict[str, TableResult],
    options: Options,
    progress: ProgressFactory,
    rejects: RejectFile | None = None,
    ordered: bool = False,
) -> tuple[dict[str, Checksum], list[str]]:
    """Copy every planned table; fill `results`; return per-table source checksums and notes.
    `ordered`: the target tables already have their foreign keys (load parents first)."""
    reader = mf.reader_choice() if options.consistency == "lock" else "pymysql"
    notes = [f"reader: {reader}; consistency: {options.consistency}; jobs: {options.jobs}"]
    tasks = sorted(make_tasks(source, target, the_plan, options, reader), key=lambda t: -t.size)
    writers = {("binary COPY (pgpq)" if t.binary else "CSV COPY") for t in tasks}
    notes[0] += f"; writer: {', '.join(sorted(writers))}"
    for tp in the_plan.tables:
        ranges = [t for t in tasks if t.source is tp]
        if len(ranges) > 1:
            results[tp.source.name].notes.append(f"copied in {len(ranges)} key ranges of {ranges[0].key}")
    jobs = max(1, min(options.jobs, len(tasks)))
    opened: list[Session] = []
    sums: dict[str, Checksum] = {tp.source.name: Checksum() for tp in the_plan.tables}
    lock = threading.Lock()
    failed: set[str] = set()
    spans: dict[str, list[float]] = {}
    bars = {tp.source.name: progress(tp.target.name, tp.source.row_estimate) for tp in the_plan.tables}
    pending: queue.Queue[ChunkTask] = queue.Queue()
    # A connectorx chunk is read on a connection of its own: a worker reads its next chunk while
    # it writes the current one. Snapshot readers share their worker's connection: no read-ahead.
    read_ahead = options.consistency == "lock"

    def take() -> ChunkTask | None:
        while True:
            try:
                t = pending.get_nowait()
            except queue.Empty:
                return None
            if t.source.source.name not in failed:
                return t

    def process(s: Session, started: Started) -> None:
        task = started.task
        name = task.source.source.name
        r = results[name]
        t0 = time.monotonic()
        try:
            if name in failed:
                started.pipe.close()
                return
            stats = run_chunk(task, s, source, bars[name].update, started, rejects, r)
        except XferError as exc:
            with lock:
                failed.add(name)
                r.status = "failed"
                r.error = r.error or str(exc)
                _add(r, getattr(exc, "stats", ChunkStats()))
            log.error("%s: %s", name, exc)
            return
        finally:
            _trim_heap()
            with lock:
                span = spans.setdefault(name, [t0, t0])
                span[0], span[1] = min(span[0], t0), max(span[1], time.monotonic())
        with lock:
            _add(r, stats)
            sums[name] = sums[name] + stats.checksum
            r.notes.extend(n for n in stats.notes if n not in r.notes)

    def worker(s: Session) -> None:
        task = take()
        started = start_chunk(task, s, source) if task else None
        try:
            while started is not None:
                current, started = started, None
                if read_ahead and (ahead := take()):
                    started = start_chunk(ahead, s, source)
                process(s, current)
                if not read_ahead and (ahead := take()):
                    started = start_chunk(ahead, s, source)
        finally:
            if started is not None:  # a bug stopped this worker: stop the read it had begun
                started.pipe.close()

    coordinator = None
    # Arrow's buffers from the C heap, which _trim_heap returns to the OS after each chunk
    # (mimalloc, pyarrow's default, keeps freed pages per thread: +25 MB peak RSS measured)
    arrow_pool = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        for _ in range(jobs):
            s = Session(target_factory())
            s.target.prepare_for_load()
            opened.append(s)
        coordinator = _consistency_start(source, the_plan, options, opened, notes)
        # Into tables that already have their foreign keys (--data-only, --if-exists truncate or
        # append), parents are loaded before children: one level of the dependency order at a time.
        levels = _levels(the_plan) if ordered else [list(the_plan.tables)]
        for level in levels:
            names = {tp.source.name for tp in level}
            for t in tasks:
                if t.source.source.name in names:
                    pending.put(t)
            with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="xfer-copy") as pool:
                for f in [pool.submit(worker, s) for s in opened]:
                    f.result()
    finally:
        pa.set_memory_pool(arrow_pool)
        _consistency_end(coordinator, opened)
        for b in bars.values():
            b.close()
        for s in opened:
            s.target.close()
    for name, r in results.items():
        if name in spans:
            r.seconds = spans[name][1] - spans[name][0]
        if r.status == "failed":
            if r.source_rows:
                r.error = f"{r.error} ({r.source_rows} rows had been committed)"
            r.source_rows = None
    return sums, notes


def _levels(the_plan: Plan) -> list[list[TablePlan]]:
    """The tables grouped so that every table's parents are in an earlier group (cycles keep
    the order `load_order` gives them)."""
    by_name = {tp.target.name: tp for tp in the_plan.tables}
    level: dict[str, int] = {}
    for tp in load_order(the_plan):
        parents = [fk.ref_table for fk in tp.target.foreign_keys if fk.ref_table in by_name]
        level[tp.target.name] = 1 + max((level.get(p, -1) for p in parents if p != tp.target.name), default=-1)
    out: list[list[TablePlan]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for tp in the_plan.tables:
        out[level[tp.target.name]].append(tp)
    return out


def _trim_heap() -> None:
    """Give freed C heap back to the OS. The native reader allocates each chunk with glibc's
    malloc from several threads; without this, fragmentation grows RSS ~5 MB per chunk read
    (measured), so memory would grow with the table."""
    global _LIBC
    if _LIBC is None:
        try:
            import ctypes

            _LIBC = ctypes.CDLL("libc.so.6")
        except OSError:  # not glibc: nothing to trim
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC: Any = None


def run_task(task: ChunkTask) -> ChunkStats:
    """Run one chunk task on its own connections (e.g. on another machine). Consistency across
    tasks is then the caller's: lock the tables for the duration (`--consistency lock`)."""
    from .dialects import dialect_for

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


def _add(r: TableResult, stats: ChunkStats) -> None:
    r.source_rows = (r.source_rows or 0) + stats.rows
    r.bytes += stats.bytes
    for k, v in stats.stages.items():
        r.stages[k] = r.stages.get(k, 0.0) + v
    for col, counts in stats.policies.items():
        mine = r.policies.setdefault(col, {})
        for what, n in counts.items():
            mine[what] = mine.get(what, 0) + n


def _consistency_start(
    source: Dialect, the_plan: Plan, options: Options, sessions: list[Session], notes: list[str]
) -> Any:
    """Lock the copied tables (lock mode) or line every worker's snapshot up (snapshot mode);
    returns the coordinator connection to release at the end."""
    coord = source._open(streaming=False)
    pymysql = source._pymysql
    try:
        with coord.cursor() as cur:
            cur.execute("SET SESSION lock_wait_timeout = 60")
            if options.consistency == "lock":
                names = ", ".join(f"{source.quote(tp.source.name)} READ" for tp in the_plan.tables)
                cur.execute(f"LOCK TABLES {names}")
                return coord
            aligned = False
            try:
                if len(sessions) > 1:  # one worker has one snapshot: nothing to line up
                    cur.execute("FLUSH TABLES WITH READ LOCK")
                    aligned = True
            except pymysql.err.MySQLError as exc:
                notes.append(
                    f"snapshots not aligned across workers ({exc.args[-1]}): "
                    "use --jobs 1 for one snapshot, or grant RELOAD"
                )
            try:
                for s in sessions:
                    s.mysql = shallow_copy(source)  # the same dialect, reading through its own snapshot
                    s.mysql.reader = _snapshot_connection(source)
            finally:
                if aligned:
                    cur.execute("UNLOCK TABLES")
        return coord
    except pymysql.err.MySQLError as exc:
        coord.close()
        other = "snapshot" if options.consistency == "lock" else "lock"
        raise CopyError(
            f"--consistency {options.consistency}: MySQL refused: {exc.args[-1]}",
            hint=f"nothing was copied; --consistency {other} needs other privileges",
        ) from None


def _snapshot_connection(source: Dialect) -> Any:
    conn = source._open(streaming=True)
    with conn.cursor() as cur:
        cur.execute("SET SESSION net_write_timeout = 3600, net_read_timeout = 3600")
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
    return conn


def _consistency_end(coord: Any, sessions: list[Session]) -> None:
    for s in sessions:
        if s.mysql is not None:
            try:
                s.mysql.reader.rollback()
                s.mysql.reader.close()
            except Exception:  # a dead connection must not mask the run's own error
                pass
    if coord is not None:
        try:
            with coord.cursor() as cur:
                cur.execute("UNLOCK TABLES")
            coord.close()
        except Exception:
            pass


# -- keys and indexes, in parallel ------------------------------------------------------------
def build_constraints_parallel(
    target: Dialect,
    target_factory: Callable[[], Dialect],
    plans: list[TablePlan],
    results: dict[str, TableResult],
    jobs: int,
) -> None:
    """Primary keys and indexes of every table built at once on `jobs` connections, then
    foreign keys. A primary key is built as a unique index (which, unlike ALTER TABLE … ADD
    PRIMARY KEY, does not lock out the table's other index builds) and then attached with
    `ADD CONSTRAINT … PRIMARY KEY USING INDEX`, which takes no time."""
    builds: list[tuple[str, str]] = []  # (source table, statement), run concurrently
    after: list[tuple[str, str]] = []  # run after the builds, one by one, in their order
    for tp in plans:
        name = tp.source.name
        attach = []
        for sql in target.post_data_sql(tp.target):
            steps = _pk_steps(target, tp, sql)
            if steps:
                builds.append((name, steps[0]))
                attach.append((name, steps[1]))
            elif _INDEX.match(sql):
                builds.append((name, sql))
            else:  # checks, sequences, triggers and their functions: as the serial build runs them
                attach.append((name, sql))
        after.extend(attach)
    pool_size = max(1, min(jobs, len(builds)))
    conns: queue.Queue[Dialect] = queue.Queue()
    opened = []
    try:
        for _ in range(pool_size):
            d = target_factory()
            d.prepare_for_load()
            opened.append(d)
            conns.put(d)

        def run(item: tuple[str, str]) -> None:
            d = conns.get()
            try:
                _constraint(d, item[1], results[item[0]])
            finally:
                conns.put(d)

        with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="xfer-index") as pool:
            for f in [pool.submit(run, b) for b in builds]:
                f.result()
    finally:
        for d in opened:
            d.close()
    for name, sql in after:
        if results[name].status != "failed":
            _constraint(target, sql, results[name])
    for tp in plans:
        for sql in target.foreign_keys_sql(tp.target):
            _constraint(target, sql, results[tp.source.name])


_INDEX = re.compile(r"CREATE (UNIQUE )?INDEX ", re.I)


def _pk_steps(target: Dialect, tp: TablePlan, sql: str) -> tuple[str, str] | None:
    t = tp.target
    if target.name != "postgres" or not t.primary_key or " ADD PRIMARY KEY (" not in sql:
        return None
    # PostgreSQL's own name for it: the table name cut to fit, then "_pkey"
    name = t.name.encode()[: target.max_identifier_length - 5].decode(errors="ignore") + "_pkey"
    if name in {ix.name for ix in t.indexes} or name == t.name:
        return None
    cols = target.column_list(t.primary_key)
    return (
        f"CREATE UNIQUE INDEX {target.quote(name)} ON {target.qualified(t.name)} ({cols})",
        f"ALTER TABLE {target.qualified(t.name)} ADD CONSTRAINT {target.quote(name)} "
        f"PRIMARY KEY USING INDEX {target.quote(name)}",
    )


def _constraint(target: Dialect, sql: str, r: TableResult) -> None:
    log.debug("%s", sql)
    t0 = time.perf_counter()
    try:
        target.execute(sql)
    except XferError as exc:
        r.status = "failed"
        r.error = f"{exc}"
        log.error("%s: %s", r.name, exc)
    finally:
        r.stages["index"] = r.stages.get("index", 0.0) + time.perf_counter() - t0

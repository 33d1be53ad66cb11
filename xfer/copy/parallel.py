"""The parallel copy, MySQL/MariaDB -> PostgreSQL: tables and key ranges of big tables copied
by `--jobs` workers, each chunk read -> converted -> written through a bounded queue
(`xfer.chunks`), the worker reading its next chunk while it writes the current one.

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
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from copy import copy as shallow_copy
from typing import Any

import pyarrow as pa

from xfer.copy.chunk import ChunkStats, ChunkTask, Session, Started, run_chunk, run_task, start_chunk
from xfer.copy.constraints import build_constraints_parallel
from xfer.copy.journaled import journaled_tasks, run_journaled
from xfer.copy.table import nul_columns
from xfer.core.checksum import BucketMap, KeySpec
from xfer.core.errors import CopyError, XferError
from xfer.core.journal import ChunkState, Journal
from xfer.core.options import Options
from xfer.core.policies import RejectFile
from xfer.core.progress import ProgressFactory
from xfer.core.report import TableResult
from xfer.core.retry import RetryPolicy
from xfer.dialects.base import Dialect
from xfer.dialects.mysql import fast as mf
from xfer.dialects.postgres.binary import binary_supported
from xfer.planning.build import Plan, TablePlan, load_order
from xfer.verification.comparison import hash_scheme, plan_comparison

log = logging.getLogger("xfer")

__all__ = ["ChunkTask", "applicable", "build_constraints_parallel", "copy_all", "make_tasks", "run_task"]


def applicable(source: Dialect, target: Dialect, the_plan: Plan) -> bool:
    """The parallel path copies MySQL/MariaDB tables into PostgreSQL as they are; a mapping
    file's reads (renames, filters, computed columns) go through the serial copy."""
    return source.name == "mysql" and target.name == "postgres" and all(tp.mapped is None for tp in the_plan.tables)


# -- planning the chunks ----------------------------------------------------------------------
def make_tasks(source: Dialect, target: Dialect, the_plan: Plan, options: Options, reader: str) -> list[ChunkTask]:
    sizes = _table_sizes(source)
    tasks: list[ChunkTask] = []
    scheme = hash_scheme(options.verify.method, target)  # the source is hashed here, as it is copied
    for tp in the_plan.tables:
        t = tp.source
        size = sizes.get(t.name, 0)
        table_reader = reader
        key = mf.integer_key(t)
        verified = options.verify.enabled and not tp.skip_verify
        cmp = plan_comparison(source, tp, options.verify.float_digits, scheme=scheme) if verified else None
        n = mf.chunk_count(size, options.copy.chunk_bytes) if key else 1
        if table_reader == "connectorx" and key is None and size > options.copy.chunk_bytes:
            table_reader = "pymysql"  # one connectorx call would hold the whole table in memory
        points = mf.split_points(source._query, t, key, n) if key and n > 1 else []
        bounds = [None, *points, None]
        # the pymysql reader holds a batch as Python objects first: size it in bytes too
        per_row = max(size // max(t.row_estimate or 1, 1), 1)
        rows = max(1000, min(options.copy.batch_size, options.copy.batch_bytes // per_row))
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
                    rows if table_reader == "pymysql" else options.copy.batch_size,
                    options.copy.batch_bytes,
                    options.verify.enabled,
                    options.policies.zero_dates,
                    options.policies.nul_bytes,
                    tuple(nul_columns(tp, target)),
                    size // max(len(bounds) - 1, 1),
                    cmp=cmp,
                )
            )
    return tasks


def _table_sizes(source: Dialect) -> dict[str, int]:
    rows = source._query(
        "SELECT TABLE_NAME, DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
    )
    return {name: int(n or 0) for name, n in rows}


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
    journal: Journal | None = None,
    retry: RetryPolicy | None = None,
) -> tuple[dict[str, BucketMap], list[str]]:
    """Copy every planned table; fill `results`; return per-table source checksums and notes.
    `ordered`: the target tables already have their foreign keys (load parents first).
    `journal`: each chunk is copied in one transaction with its done mark, chunks done before
    are skipped, and transient errors are retried (xfer.chunked)."""
    reader = mf.reader_choice(source.url) if options.copy.consistency == "lock" else "pymysql"
    notes = [f"reader: {reader}; consistency: {options.copy.consistency}; jobs: {options.copy.jobs}"]
    tasks = sorted(make_tasks(source, target, the_plan, options, reader), key=lambda t: -t.size)
    writers = {("binary COPY (pgpq)" if t.binary else "CSV COPY") for t in tasks}
    notes[0] += f"; writer: {', '.join(sorted(writers))}"
    for tp in the_plan.tables:
        ranges = [t for t in tasks if t.source is tp]
        if len(ranges) > 1:
            results[tp.source.name].notes.append(f"copied in {len(ranges)} key ranges of {ranges[0].key}")
    jobs = max(1, min(options.copy.jobs, len(tasks)))
    opened: list[Session] = []
    # every table's source bucket map; chunk maps add up (their buckets are sums)
    sums: dict[str, BucketMap] = {tp.source.name: BucketMap(KeySpec("rows")) for tp in the_plan.tables}
    for t in tasks:
        if t.cmp is not None:
            sums[t.source.source.name] = BucketMap(t.cmp.spec)
    states: dict[int, ChunkState] = {}
    if journal is not None:  # the recorded chunks; those done before count, the rest are copied
        tasks, states = journaled_tasks(journal, tasks, results, sums)
        jobs = max(1, min(options.copy.jobs, len(tasks)))
    lock = threading.Lock()
    failed: set[str] = set()
    spans: dict[str, list[float]] = {}
    bars = {tp.source.name: progress(tp.target.name, tp.source.row_estimate) for tp in the_plan.tables}
    pending: queue.Queue[ChunkTask] = queue.Queue()
    # A connectorx chunk is read on a connection of its own: a worker reads its next chunk while
    # it writes the current one. Snapshot readers share their worker's connection: no read-ahead.
    read_ahead = options.copy.consistency == "lock"

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
            if journal is not None and retry is not None:
                c = states[id(task)]
                stats = run_journaled(task, c, s, source, bars[name].update, started, journal, retry, run_chunk)
            else:
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
            if journal is not None:
                r.rejected_rows += states[id(task)].rejected
            if stats.checksum is not None:
                sums[name].merge(stats.checksum)
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
        _consistency_end(coordinator, opened, locked=options.copy.consistency == "lock")
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
            if options.copy.consistency == "lock":
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
                    s.mysql.reader = source._snapshot_reader()
            finally:
                if aligned:
                    cur.execute("UNLOCK TABLES")
        return coord
    except pymysql.err.MySQLError as exc:
        coord.close()
        other = "snapshot" if options.copy.consistency == "lock" else "lock"
        raise CopyError(
            f"--consistency {options.copy.consistency}: MySQL refused: {exc.args[-1]}",
            hint=f"nothing was copied; --consistency {other} needs other privileges",
        ) from None


def _consistency_end(coord: Any, sessions: list[Session], locked: bool = False) -> None:
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
            if locked:  # the lock went with its connection, at some point during the copy
                log.warning(
                    "the connection holding the source tables' read lock was lost during the copy: rows "
                    "written to the source since may be missing; run `xfer verify` to compare"
                )

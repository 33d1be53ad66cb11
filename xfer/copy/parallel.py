"""The parallel copy, from a source that reads key ranges in one consistent view (`RangeReader`:
MySQL/MariaDB) into a target with a bulk write path (`BulkWriter`: PostgreSQL): tables and key
ranges of big tables copied by `--jobs` workers, each chunk read -> converted -> written through
a bounded queue (`xfer.copy.chunk`), the worker reading its next chunk while it writes the
current one.

Chunk tasks are self-contained (`ChunkTask`: URLs, table, key range, planned types in;
`ChunkStats`: counts, checksum, stage seconds out), so another executor could run them on
other machines; here a thread pool runs them, the native reader and writer releasing the GIL.

Consistency (`--consistency`): `lock` keeps the copied tables from being written until the
last row is read, `snapshot` lines up one snapshot per worker; the source engine does either
(`RangeReader.begin_consistent`, see `xfer.dialects.mysql.ranges`).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

import pyarrow as pa

from xfer.copy.chunk import ChunkStats, ChunkTask, Session, Started, run_chunk, run_task, start_chunk
from xfer.copy.journaled import journaled_tasks, run_journaled
from xfer.copy.rows import CopyJob, nul_columns
from xfer.core import heap, interrupt
from xfer.core.checksum import BucketMap, KeySpec
from xfer.core.errors import XferError
from xfer.core.journal import ChunkState
from xfer.core.options import Options
from xfer.core.report import TableResult
from xfer.dialects.base import Dialect
from xfer.dialects.capabilities import BulkWriter, RangeReader
from xfer.planning.build import Plan, TablePlan, load_order
from xfer.verification.comparison import hash_scheme, plan_comparison

log = logging.getLogger("xfer")

__all__ = ["ChunkTask", "applicable", "copy_all", "make_tasks", "run_task"]


def applicable(source: Dialect, target: Dialect, the_plan: Plan) -> bool:
    """The parallel path copies tables as they are from a source that reads key ranges into a
    target with a bulk path; a mapping file's reads (renames, filters, computed columns) go
    through the serial copy."""
    return (
        isinstance(source, RangeReader)
        and isinstance(target, BulkWriter)
        and all(tp.mapped is None for tp in the_plan.tables)
    )


# -- planning the chunks ----------------------------------------------------------------------
def make_tasks(source: Dialect, target: Dialect, the_plan: Plan, options: Options, reader: str) -> list[ChunkTask]:
    """The chunk tasks of every planned table, read with `reader` (`RangeReader.range_reader`)."""
    reading, bulk = _capabilities(source, target)
    copy_options = options.copy
    sizes = reading.table_sizes()
    tasks: list[ChunkTask] = []
    scheme = hash_scheme(options.verify.method, target)  # the source is hashed here, as it is copied
    for tp in the_plan.tables:
        t = tp.source
        size = sizes.get(t.name, 0)
        key = reading.chunk_key(t)
        verified = options.verify.enabled and not tp.skip_verify
        cmp = plan_comparison(source, tp, options.verify.float_digits, scheme=scheme) if verified else None
        n = max(1, math.ceil(size / max(copy_options.chunk_bytes, 1))) if key else 1
        table_reader, batch_rows = reading.table_reader(
            reader, t, size, key is not None, copy_options, len(the_plan.tables)
        )
        points = reading.split_points(t, key, n) if key and n > 1 else []
        bounds = [None, *points, None]
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
                    bulk.bulk_supported(tp.target),
                    batch_rows,
                    copy_options.batch_bytes,
                    options.verify.enabled,
                    options.policies.zero_dates,
                    options.policies.nul_bytes,
                    tuple(nul_columns(tp, target)),
                    size // max(len(bounds) - 1, 1),
                    cmp=cmp,
                )
            )
    return tasks


def _capabilities(source: Dialect, target: Dialect) -> tuple[RangeReader, BulkWriter]:
    if not isinstance(source, RangeReader) or not isinstance(target, BulkWriter):  # `applicable` said so
        raise TypeError(f"no parallel copy from {source.name} to {target.name}")
    return source, target


# -- the whole copy -----------------------------------------------------------------------------
def copy_all(job: CopyJob, ordered: bool = False) -> tuple[dict[str, BucketMap], list[str]]:
    """Copy every planned table; fill `job.results`; return per-table source checksums and notes.
    `ordered`: the target tables already have their foreign keys (load parents first).
    With `job.journal`, each chunk is copied in one transaction with its done mark, chunks done
    before are skipped, and transient errors are retried (xfer.copy.journaled)."""
    source, target, target_factory, the_plan = job.source, job.target, job.more, job.plan
    results, options, events, rejects = job.results, job.options, job.progress, job.rejects
    journal, retry = job.journal, job.retry
    reading, bulk = _capabilities(source, target)
    reader = reading.range_reader(options.copy.consistency)
    notes = [f"reader: {reader}; consistency: {options.copy.consistency}; jobs: {options.copy.jobs}"]
    tasks = sorted(make_tasks(source, target, the_plan, options, reader), key=lambda t: -t.size)
    writers = {bulk.write_path(t.binary) for t in tasks}
    notes[0] += f"; writer: {', '.join(sorted(writers))}"
    for tp in the_plan.tables:
        chunks = [t for t in tasks if t.source is tp]
        if len(chunks) > 1:
            results[tp.source.name].notes.append(f"copied in {len(chunks)} key ranges of {chunks[0].key}")
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
    shown, remaining = _expect(job, tasks)
    pending: queue.Queue[ChunkTask] = queue.Queue()
    # A connectorx chunk is read on a connection of its own: a worker reads its next chunk while
    # it writes the current one. Snapshot readers share their worker's connection: no read-ahead.
    read_ahead = options.copy.consistency in ("lock", "none")

    def take() -> ChunkTask | None:
        while not interrupt.requested():  # Ctrl-C: no worker takes a further chunk
            try:
                t = pending.get_nowait()
            except queue.Empty:
                return None
            if t.source.source.name not in failed:
                return t
        return None

    def process(s: Session, started: Started) -> None:
        task = started.task
        name = task.source.source.name
        r = results[name]
        t0 = time.monotonic()
        label, estimate = shown[name]
        on_rows = partial(events.table_rows, label)
        try:
            if name in failed:
                started.pipe.close()
                return
            events.table_started(label, estimate)  # its first chunk: its bar appears
            if journal is not None and retry is not None:
                c = states[id(task)]
                stats = run_journaled(task, c, s, source, on_rows, started, journal, retry, run_chunk)
            else:
                stats = run_chunk(task, s, source, on_rows, started, rejects, r)
        except XferError as exc:
            events.table_done(label)
            if interrupt.requested():  # a statement cancelled by a second Ctrl-C: rolled back, not a failure
                return
            with lock:
                failed.add(name)
                r.status = "failed"
                r.error = r.error or str(exc)
                # the rows this chunk committed (a journaled chunk's were rolled back: none)
                _add(r, started.stats if journal is None else ChunkStats())
            log.error("%s: %s", name, exc)
            return
        finally:
            heap.trim()
            with lock:
                span = spans.setdefault(name, [t0, t0])
                span[0], span[1] = min(span[0], t0), max(span[1], time.monotonic())
                remaining[name] -= 1
                last = remaining[name] == 0
            if last:  # its last chunk: its bar goes
                events.table_done(label)
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
                if interrupt.requested():  # (the chunk begun ahead is stopped in `finally`)
                    break
                current, started = started, None
                if read_ahead and (ahead := take()):
                    started = start_chunk(ahead, s, source)
                process(s, current)
                if not read_ahead and (ahead := take()):
                    started = start_chunk(ahead, s, source)
        finally:
            if started is not None:  # a bug stopped this worker: stop the read it had begun
                started.pipe.close()

    readers: list[Dialect | None] = []
    # Arrow's buffers from the C heap, which heap.trim returns to the OS after each chunk
    # (mimalloc, pyarrow's default, keeps freed pages per thread: +25 MB peak RSS measured)
    arrow_pool = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        for _ in range(jobs):
            s = Session(target_factory())
            s.target.prepare_for_load()
            opened.append(s)
        readers = reading.begin_consistent(
            [tp.source.name for tp in the_plan.tables], options.copy.consistency, len(opened), notes
        )
        for s, mine in zip(opened, readers, strict=True):
            s.reader = mine
        # Into tables that already have their foreign keys (--data-only, --if-exists truncate or
        # append), parents are loaded before children: one level of the dependency order at a time.
        levels = _levels(the_plan) if ordered else [list(the_plan.tables)]
        for level in levels:
            names = {tp.source.name for tp in level}
            for t in tasks:
                if t.source.source.name in names:
                    pending.put(t)
            # the workers block SIGINT/SIGTERM (so do the native reader threads they start), and
            # the main thread waits for them with a timeout: a signal taken by another thread left
            # an untimed wait asleep until every chunk was copied (xfer.core.interrupt, #16)
            pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="xfer-copy", initializer=interrupt.shield)
            futures: list[Future[None]] = []
            try:
                futures.extend(pool.submit(worker, s) for s in opened)
                interrupt.wait_all(futures)
                for f in futures:
                    f.result()
            except KeyboardInterrupt:
                # no worker takes another chunk; the ones in hand finish (a journaled chunk
                # commits with its mark, so --resume skips it) before the connections close
                interrupt.request()
                log.warning("interrupted: finishing the chunks in hand (Ctrl-C again to abort them)")
                _finish_in_hand(futures, opened)
                raise
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
    finally:
        pa.set_memory_pool(arrow_pool)
        reading.end_consistent(readers)
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


def _finish_in_hand(futures: list[Future[None]], sessions: list[Session]) -> None:
    """Wait for the workers to finish their chunk in hand. A second Ctrl-C aborts them: their
    target statements are cancelled, so each chunk's transaction (with its journal mark) rolls
    back whole, and nothing is retried after the interrupt (`RetryPolicy.run`)."""
    while True:
        try:
            interrupt.wait_all(futures)
            return
        except KeyboardInterrupt:
            interrupt.request()
            log.warning("interrupted again: aborting the chunks in hand (each rolls back whole)")
            for s in sessions:
                s.target.cancel()


def _expect(job: CopyJob, tasks: list[ChunkTask]) -> tuple[dict[str, tuple[str, int | None]], dict[str, int]]:
    """Tell the progress events the rows still to copy per table (a resumed run's chunks done
    before are not this run's). Returns per source table the name progress shows (the target's)
    with that estimate, and its number of chunks (its bar goes with the last)."""
    shown: dict[str, tuple[str, int | None]] = {}
    remaining: dict[str, int] = {}
    for t in tasks:
        remaining[t.source.source.name] = remaining.get(t.source.source.name, 0) + 1
    for tp in job.plan.tables:
        name, est = tp.source.name, tp.source.row_estimate
        before = job.results[name].source_rows or 0
        left = max(est - before, 0) if est is not None else None
        shown[name] = (tp.target.name, left)
        job.progress.expect(tp.target.name, left if remaining.get(name) else 0)
    return shown, remaining


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


def _add(r: TableResult, stats: ChunkStats) -> None:
    r.source_rows = (r.source_rows or 0) + stats.rows
    r.bytes += stats.bytes
    for k, v in stats.stages.items():
        r.stages[k] = r.stages.get(k, 0.0) + v
    for col, counts in stats.policies.items():
        mine = r.policies.setdefault(col, {})
        for what, n in counts.items():
            mine[what] = mine.get(what, 0) + n

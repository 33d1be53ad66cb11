"""A journaled table copy, chunk by chunk (the sequential path: any source, a PostgreSQL target).

A table with a single-column integer primary key is cut into key ranges of about
`--batch-size` rows (`k > lo AND k <= hi`, the first and last open-ended, so every row falls in
exactly one); any other table is one chunk. Each chunk is read, converted and written in one
transaction on the target, which also marks it done in the journal (xfer.journal), so it is
copied exactly once however often the run is interrupted and resumed. A chunk that fails with
a transient error (a lost connection, a deadlock) is rolled back and tried again, reconnecting
first; a permanent error fails the table, naming the chunk.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from dataclasses import replace
from typing import Any

import pyarrow as pa

from xfer.copy.chunk import ChunkStats, ChunkTask, Session, Started, run_chunk
from xfer.copy.rows import TableCopy, converted, write_isolating, write_plain
from xfer.core import interrupt
from xfer.core.checksum import BucketMap, KeySpec, MapHasher
from xfer.core.errors import CopyError, XferError
from xfer.core.journal import ChunkState, Journal
from xfer.core.report import TableResult
from xfer.core.retry import RetryPolicy
from xfer.core.urls import redact
from xfer.dialects.base import Dialect
from xfer.planning.build import TablePlan
from xfer.verification.comparison import Comparison

log = logging.getLogger("xfer")

Range = tuple[str | None, int | None, int | None]  # (source key column, exclusive low, inclusive high)


def key_ranges(source: Dialect, tp: TablePlan, chunk_rows: int) -> list[Range]:
    """Key ranges of about `chunk_rows` rows each (cut evenly between MIN and MAX of the key),
    or one range for the whole table."""
    t = tp.source
    whole: list[Range] = [(None, None, None)]
    if tp.mapped is not None or len(t.primary_key) != 1:
        return whole
    col = t.column(t.primary_key[0])
    if not pa.types.is_integer(col.arrow):
        return whole
    try:
        lo, hi, n = source.key_bounds(t, col.name)
    except Exception as exc:  # the driver's own error: transient or not, as the dialect says
        msg = redact(str(exc), source.url.secret)
        raise CopyError(f"{t.name}: finding its key ranges: {msg}", transient=source.is_transient(exc)) from None
    if lo is None or n <= chunk_rows:
        return whole
    lo, hi = int(lo), int(hi)
    chunks = math.ceil(n / chunk_rows)
    points = sorted({lo - 1 + (hi - lo + 1) * i // chunks for i in range(1, chunks)} - {lo - 1})
    bounds: list[int | None] = [None, *points, None]
    return [(col.name, a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def range_where(source: Dialect, c: ChunkState) -> str | None:
    if c.key is None:
        return None
    q = source.quote(c.key)
    parts = ([f"{q} > {int(c.lo)}"] if c.lo is not None else []) + ([f"{q} <= {int(c.hi)}"] if c.hi is not None else [])
    return " AND ".join(parts) or None


def describe(c: ChunkState, total: int) -> str:
    """'chunk 3/10 (id > 2000 and <= 3000)', for messages."""
    what = f"chunk {c.chunk + 1}/{total}"
    if c.key is None:
        return what + " (the whole table)"
    lo = f"{c.key} > {c.lo}" if c.lo is not None else ""
    hi = f"{c.key} <= {c.hi}" if c.hi is not None else ""
    return f"{what} ({' and '.join(p for p in (lo, hi) if p)})"


def copy_chunks(job: TableCopy, journal: Journal, retry: RetryPolicy) -> BucketMap:
    """Copy the chunks of `job.tp` not yet done in `journal`; return the table's bucket map (every
    chunk's, done before or now) for verification. A permanent error marks the table failed."""
    tp, r, source, target, options = job.tp, job.result, job.source, job.target, job.options
    t0 = time.monotonic()
    name = tp.source.name
    events, shown = job.progress, tp.target.name
    total = BucketMap(KeySpec("rows"))
    rows = 0
    cmp: Comparison | None = None
    counts: dict[str, Counter[str]] = {}  # what value policies did, over every chunk
    chunks: list[ChunkState] = []
    c: ChunkState | None = None
    try:
        cmp = job.comparison(journal.spec(name))  # bucketed as first recorded, so chunk maps add up
        if cmp is not None:
            total = BucketMap(cmp.spec)
        chunks = journal.chunks(name) or journal.add_chunks(
            name,
            retry.run(f"{name}: key ranges", lambda: key_ranges(source, tp, options.copy.batch_size), source.reconnect),
            cmp.spec if cmp is not None else None,
        )
        pending = [c for c in chunks if not c.done]
        before = sum(c.rows for c in chunks if c.done)  # copied by an earlier run: not this one's progress
        estimate = max((tp.source.row_estimate or 0) - before, 0) if tp.source.row_estimate is not None else None
        events.expect(shown, estimate if pending else 0)
        if pending:
            events.table_started(shown, estimate)
        if pending and len(pending) < len(chunks):
            log.info("%s: %d of %d chunks already copied", name, len(chunks) - len(pending), len(chunks))
        if pending:
            journal.set_table(name, "copying")
        for c in chunks:
            interrupt.check()  # (a signal handled outside the chunk's statements)
            if not c.done:
                what = f"{name}: {describe(c, len(chunks))}"

                def once(c: ChunkState = c) -> None:
                    journal.attempt(c)
                    _copy_one(job, journal, c, cmp)

                retry.run(what, once, lambda: _reconnect(source, target))
                events.table_rows(shown, c.rows, c.bytes)
            for col, n in c.policies.items():
                counts.setdefault(col, Counter()).update(n)
            r.bytes += c.bytes
            for b, sums in c.buckets.items():
                total.add(b, sums)
            rows += c.rows
            r.rejected_rows += c.rejected
        journal.set_table(name, "copied")
        r.source_rows = rows
    except XferError as exc:
        interrupt.check()  # an error caused by Ctrl-C (a cancelled statement) is the interrupt
        where = describe(c, len(chunks)) if c is not None else "planning its chunks"
        r.status = "failed"
        r.error = f"{where}: {exc}" + (f" ({rows} rows had been committed)" if rows else "")
        r.source_rows = None
        journal.set_table(name, "failed", r.error)
        log.debug("%s: %s", name, r.error)
    finally:
        events.table_done(shown)
        r.seconds = time.monotonic() - t0
        r.policies = {col: dict(n) for col, n in counts.items()}
    return total


def _copy_one(job: TableCopy, journal: Journal, c: ChunkState, cmp: Comparison | None) -> None:
    """One chunk, in one target transaction that also marks it done."""
    tp, source, target = job.tp, job.source, job.target
    batch_size = job.options.copy.batch_size
    policies = job.policies()
    hasher = MapHasher(tp.target.arrow_schema, cmp.canons, cmp.spec, tp.source.name) if cmp is not None else None
    isolated: list[dict[str, Any]] = []
    where = range_where(source, c)

    def read() -> Iterator[pa.RecordBatch]:  # a generator: closing it ends the source's read
        if where is None:
            yield from tp.read(source, batch_size, policies=policies)
        else:
            yield from source.read_batches(tp.source, batch_size, where=where, policies=policies)

    batches = read()

    def write(batch: pa.RecordBatch, _bulk: bool) -> None:
        write_plain(target, tp, batch)

    try:
        with journal.chunk(target, c) as mark:
            for out in converted(tp, batches, policies, job.nul_texts()):
                mark.bytes += out.nbytes
                mark.rows += write_isolating(tp, out, write, isolated, done=hasher.update if hasher else None)
            mark.checksum = hasher.map if hasher is not None else None
            mark.rejects = policies.rejects + isolated
            mark.policies = {col: dict(n) for col, n in policies.counts.items()}
    finally:
        if hasher is not None:
            hasher.close()
        # end the source's read now (a half-read MySQL stream would block the retry's query),
        # not whenever the traceback that references it is collected
        try:
            if isinstance(batches, Generator):
                batches.close()
        except Exception:  # a dead connection: the error that matters is already on its way
            pass


def _reconnect(source: Dialect, target: Dialect) -> None:
    """Both ends afresh: which one was lost does not matter, and a new source reader starts a
    new snapshot (noted by the dialect)."""
    source.reconnect()
    target.reconnect()


# -- the parallel copy's chunks (xfer.copy.parallel, xfer.copy.chunk), journaled ----------------------------
def journaled_tasks(
    journal: Journal, tasks: list[ChunkTask], results: dict[str, TableResult], sums: dict[str, BucketMap]
) -> tuple[list[ChunkTask], dict[int, ChunkState]]:
    """The chunk tasks still to copy, as recorded in the journal: the first run records the key
    ranges and bucket spec it planned; a resumed run gets those back, whatever it planned now.
    Chunks done before are counted into `results` and `sums` here. Returns the tasks and, by
    task id, their journal entries."""
    by_table: dict[str, list[ChunkTask]] = {}
    for t in tasks:
        by_table.setdefault(t.source.source.name, []).append(t)
    out: list[ChunkTask] = []
    states: dict[int, ChunkState] = {}
    for name, planned in by_table.items():
        template = planned[0]
        cmp = template.cmp
        chunks = journal.chunks(name) or journal.add_chunks(
            name, [(t.key, t.lo, t.hi) for t in planned], cmp.spec if cmp is not None else None
        )
        if cmp is not None and journal.spec(name) is not None and journal.spec(name) != cmp.spec:
            cmp = replace(cmp, spec=journal.spec(name))  # the first run's buckets: chunk maps add up
        if cmp is not None:
            sums[name] = BucketMap(cmp.spec)
        size = sum(t.size for t in planned) // max(len(chunks), 1)
        r = results[name]
        for c in chunks:
            if c.done:
                r.source_rows = (r.source_rows or 0) + c.rows
                r.bytes += c.bytes
                r.rejected_rows += c.rejected
                for col, counts in c.policies.items():
                    mine = r.policies.setdefault(col, {})
                    for what, n in counts.items():
                        mine[what] = mine.get(what, 0) + n
                for b, sum_ in c.buckets.items():
                    sums[name].add(b, sum_)
                continue
            t = replace(template, key=c.key, lo=c.lo, hi=c.hi, size=size, cmp=cmp)
            out.append(t)
            states[id(t)] = c
        journal.set_table(name, "copying" if any(not c.done for c in chunks) else "copied")
    return sorted(out, key=lambda t: -t.size), states


def run_journaled(
    task: ChunkTask,
    c: ChunkState,
    s: Session,
    source: Dialect,
    on_rows: Callable[[int, int], None],
    started: Started | None,
    journal: Journal,
    retry: RetryPolicy,
    run: Callable[..., ChunkStats] = run_chunk,
) -> ChunkStats:
    """`run` (`run_chunk`) in one target transaction with the chunk's done mark (refused rows kept in
    the journal), retried from scratch after a transient error on fresh connections. A failure
    names the chunk; the rows of a failed chunk were rolled back (none is counted)."""
    name = task.source.source.name
    total = len(journal.chunks(name))
    first = [started] if started is not None else []

    def once() -> ChunkStats:
        st = first.pop() if first else None  # the read-ahead started for the first try only
        with journal.chunk(s.target, c) as mark:
            stats = run(task, s, source, on_rows, st, None, None)
            mark.rows, mark.bytes, mark.checksum = stats.rows, stats.bytes, stats.checksum
            mark.rejects, mark.policies = stats.rejected, stats.policies
        return stats

    def reconnect() -> None:
        s.target.reconnect()
        (s.reader if s.reader is not None else source).reconnect()

    journal.attempt(c)
    try:
        return retry.run(f"{name}: {describe(c, total)}", once, reconnect)
    except XferError as exc:
        exc.message = f"{describe(c, total)}: {exc.message}"
        exc.args = (exc.message,)
        raise
    finally:
        for st in first:  # never consumed (the chunk's transaction failed to begin): stop its reader
            st.pipe.close()

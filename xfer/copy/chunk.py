"""One chunk (a key range) of a table copied by the parallel copy: read by the source's
`RangeReader`, value policies, conversion to the target's types, written one commit per batch
through the target's `BulkWriter` (or its plain path), checksum.

A `ChunkTask` carries everything it needs (URLs, table plans, key range, policies) and pickles;
`run_task` runs one on connections of its own, anywhere that reaches both servers, and returns
`ChunkStats` (rows, bytes, checksum, stage seconds, policy counts). The local parallel copy
(`xfer.copy.parallel`) hands it an open `Session` instead and reads the next chunk ahead.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from xfer.copy.rows import convert, drain_rejects, write_isolating, write_plain
from xfer.core import interrupt
from xfer.core.checksum import BucketMap, MapHasher
from xfer.core.policies import RejectFile, ValuePolicies
from xfer.core.report import TableResult
from xfer.core.urls import Url
from xfer.dialects.base import Dialect
from xfer.dialects.capabilities import BulkWriter, KeyRange, RangeReader, Tally
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
    reader: str  # the source's reader for it (RangeReader.table_reader)
    binary: bool  # written through the target's bulk path (BulkWriter)
    batch_rows: int
    batch_bytes: int
    checksum: bool
    zero_dates: str = "null"  # the value policies (xfer.policies)
    nul_bytes: str = "reject"
    nul_texts: tuple[str, ...] = ()  # text columns the target cannot store U+0000 in
    size: int = 0  # estimated bytes, for scheduling the biggest first
    cmp: Any = None  # xfer.comparison.Comparison: how rows are hashed into bucket maps (verify)


@dataclass
class ChunkStats(Tally):
    stages: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    rows: int = 0
    bytes: int = 0
    checksum: BucketMap | None = None  # the written rows' bucket map (verification)
    policies: dict[str, dict[str, int]] = field(default_factory=dict)  # column -> policy -> values
    rejected: list[dict[str, Any]] = field(default_factory=list)  # when no reject file was given


@dataclass
class Session:
    """One worker's connections: its target, and the reader the source's consistent view gave
    it (`RangeReader.begin_consistent`; None: the source itself)."""

    target: Dialect
    reader: Dialect | None = None


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
    on_rows: Callable[[int, int], None],
    started: Started | None = None,
    rejects: RejectFile | None = None,
    result: TableResult | None = None,
) -> ChunkStats:
    """Copy one chunk: read it, apply the value policies, convert it to the target's types,
    write it one batch per commit (isolating rows the target refuses, as the serial copy does)
    and hash what was written. Rejected rows go to `rejects` (counted in `result`), or into
    `stats.rejected` without a reject file. Raises XferError; `started.stats` then holds
    the rows committed so far."""
    started = started or start_chunk(task, session, source)
    stats = started.stats
    tp = task.source
    cmp = task.cmp
    hasher = MapHasher(tp.target.arrow_schema, cmp.canons, cmp.spec, tp.source.name) if task.checksum and cmp else None
    target = session.target

    def write(batch: pa.RecordBatch, bulk: bool) -> None:
        if bulk and isinstance(target, BulkWriter):
            target.write_bulk(tp.target, batch, stats.stages)
            return
        t0 = time.perf_counter()
        write_plain(target, tp, batch)
        stats.stages["write"] += time.perf_counter() - t0

    def hashed(batch: pa.RecordBatch) -> None:
        if hasher is not None:
            t0 = time.perf_counter()
            hasher.update(batch)
            stats.stages["checksum"] += time.perf_counter() - t0

    try:
        for batch, records in started.pipe:
            isolated: list[dict[str, Any]] = []
            n = write_isolating(tp, batch, write, isolated, task.binary, hashed)
            stats.rows += n
            stats.bytes += batch.nbytes
            on_rows(n, batch.nbytes)
            if records or isolated:
                if rejects is not None and result is not None:
                    drain_rejects(records + isolated, rejects, result)
                else:
                    stats.rejected.extend(records + isolated)
    finally:
        started.pipe.close()
        if hasher:
            stats.checksum = hasher.map
            hasher.close()
    return stats


def _converted(
    task: ChunkTask, session: Session, source: Dialect, stats: ChunkStats
) -> Generator[tuple[Any, Any], None, None]:
    """(batch in the target's types, rows the policies rejected), batch by batch; runs in the
    chunk's reader thread."""
    tp = task.source
    policies = ValuePolicies(tp.source.name, list(tp.source.primary_key), task.zero_dates, task.nul_bytes)
    reader = session.reader if session.reader is not None else source  # its snapshot, or any connection
    if not isinstance(reader, RangeReader):
        raise TypeError(f"{reader.name} cannot read key ranges")  # the copy checked it: a bug
    part = KeyRange(tp.source, task.key, task.lo, task.hi)
    read = reader.read_range(part, task.reader, task.batch_rows, task.batch_bytes, policies, stats)
    texts = list(task.nul_texts)
    try:
        for batch in read:
            t0 = time.perf_counter()
            out = convert(tp, batch, policies, texts)
            records = list(policies.rejects)
            policies.rejects.clear()
            stats.stages["transform"] += time.perf_counter() - t0
            yield out, records
    finally:
        read.close()
        stats.policies = {c: dict(n) for c, n in policies.counts.items()}


_DONE = object()


class Pipe:
    """Runs the iterator `make()` in its own thread from construction on, at most QUEUE_DEPTH
    items ahead of the consumer (the bounded queue that keeps memory bounded)."""

    def __init__(self, make: Callable[[], Generator[Any, None, None]]) -> None:
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

    def _produce(self, make: Callable[[], Generator[Any, None, None]]) -> None:
        interrupt.shield()  # signals go to the main thread (xfer.core.interrupt)
        gen = make()
        try:
            for item in gen:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)
        finally:
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
            return run_chunk(task, Session(target), source, lambda n, nbytes: None)
        finally:
            target.close()
    finally:
        source.close()

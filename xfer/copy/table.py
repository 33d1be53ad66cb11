"""Copying one table: read batches from the source, convert them to the target's types,
hash them for verification on the way, and write them (one commit per batch).

Values the target cannot take never vanish silently: declared policies (zero dates, NUL bytes)
are applied and counted, and a batch the target refuses for its data is split until the
offending rows are isolated (`xfer.copy.rows`); those go to the reject file and the rest of
the table is written. With a run journal the table is copied chunk by chunk instead, each chunk
exactly once (`xfer.copy.journaled`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from xfer.copy.journaled import copy_chunks
from xfer.copy.rows import CopyJob, TableCopy, converted, drain_rejects, write_isolating, write_plain
from xfer.core import interrupt
from xfer.core.checksum import BucketMap, KeySpec, MapHasher
from xfer.core.errors import XferError
from xfer.core.policies import RejectFile
from xfer.core.retry import RetryPolicy
from xfer.planning.build import TablePlan

log = logging.getLogger("xfer")


def copy_table(job: CopyJob, tp: TablePlan) -> BucketMap:
    """Copy `tp`'s rows, filling its result in `job.results`; return the bucket map of the rows
    written (verification). With `job.journal`, chunk by chunk as the journal records them,
    retried as `job.retry` says."""
    table = TableCopy(job.source, job.target, tp, job.results[tp.source.name], job.options, job.progress)
    if job.journal is not None:
        return copy_chunks(table, job.journal, job.retry or RetryPolicy(attempts=job.options.run.retries))
    return _copy(table, job.rejects)


def _copy(job: TableCopy, rejects: RejectFile | None) -> BucketMap:
    tp, r, target = job.tp, job.result, job.target
    t0 = time.monotonic()
    # the source side of the final check: bucket checksums of the rows as they are written
    cmp = job.comparison()
    hasher = MapHasher(tp.target.arrow_schema, cmp.canons, cmp.spec, tp.source.name) if cmp is not None else None
    events, name = job.progress, tp.target.name
    events.table_started(name, tp.source.row_estimate)
    policies = job.policies()
    isolated: list[dict[str, Any]] = []
    rows = 0

    def batches() -> Iterator[pa.RecordBatch]:
        read = tp.read(job.source, job.options.copy.batch_size, policies=policies)
        for out in converted(tp, read, policies, job.nul_texts()):
            r.bytes += out.nbytes
            yield out

    def write(batch: pa.RecordBatch, _bulk: bool) -> None:
        write_plain(target, tp, batch)

    try:
        for batch in batches():
            n = write_isolating(tp, batch, write, isolated, done=hasher.update if hasher is not None else None)
            rows += n
            events.table_rows(name, n, batch.nbytes)
            drain_rejects(policies.rejects + isolated, rejects, r)
            policies.rejects.clear()
            isolated.clear()
        r.source_rows = rows
    except XferError as exc:
        drain_rejects(policies.rejects + isolated, rejects, r)
        interrupt.check()  # an error caused by Ctrl-C (a cancelled statement) is the interrupt
        r.status = "failed"
        r.error = str(exc) + (f" ({rows} rows had been committed)" if rows else "")
        r.source_rows = None
        log.debug("%s: %s", tp.source.name, r.error)  # the summary and the exit message say it
    finally:
        events.table_done(name)
        if hasher is not None:
            hasher.close()
        r.seconds = time.monotonic() - t0
        r.policies = {c: dict(n) for c, n in policies.counts.items()}
    return hasher.map if hasher is not None else BucketMap(KeySpec("rows"))

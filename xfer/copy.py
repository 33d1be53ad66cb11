"""Copying one table: read batches from the source, convert them to the target's types,
hash them for verification on the way, and write them (one commit per batch)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pyarrow as pa

from .checksum import Checksum, Hasher
from .dialects.base import Dialect
from .errors import XferError
from .options import Options
from .plan import TablePlan
from .progress import ProgressFactory
from .report import TableResult
from .transform import conform

log = logging.getLogger("xfer")


def copy_table(
    source: Dialect, target: Dialect, tp: TablePlan, r: TableResult, options: Options, progress: ProgressFactory
) -> Checksum:
    t0 = time.monotonic()
    # No checksum is needed when nothing will be verified (and hashing costs as much as writing)
    hasher = Hasher(tp.target.arrow_schema, tp.json_columns) if options.verify else None
    bar = progress(tp.target.name, tp.source.row_estimate)
    schema = tp.target.arrow_schema
    rows = 0

    stages = r.stages
    for k in ("read", "transform", "write", "checksum"):
        stages.setdefault(k, 0.0)

    def batches() -> Iterator[pa.RecordBatch]:
        reader = source.read_batches(tp.source, options.batch_size)
        while True:
            t = time.perf_counter()
            batch = next(reader, None)
            stages["read"] += time.perf_counter() - t
            if batch is None:
                return
            t = time.perf_counter()
            out = conform(batch, schema, tp.source.name)
            stages["transform"] += time.perf_counter() - t
            if hasher:
                t = time.perf_counter()
                hasher.update(out)
                stages["checksum"] += time.perf_counter() - t
            r.bytes += out.nbytes
            handed[0] = time.perf_counter()  # the writer reports the batch committed after this
            yield out

    handed = [0.0]
    try:
        for n in target.write_batches(tp.target, batches()):
            stages["write"] += time.perf_counter() - handed[0]
            rows += n
            bar.update(n)
        r.source_rows = hasher.checksum.rows if hasher else rows
    except XferError as exc:
        r.status = "failed"
        r.error = str(exc) + (f" ({rows} rows had been committed)" if rows else "")
        r.source_rows = None
        log.error("%s: %s", tp.source.name, r.error)
    finally:
        bar.close()
        if hasher:
            hasher.close()
        r.seconds = time.monotonic() - t0
    return hasher.checksum if hasher else Checksum(rows)

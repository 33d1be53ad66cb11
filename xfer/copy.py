"""Copying one table: read batches from the source, convert them to the target's types,
hash them for verification on the way, and write them (one commit per batch)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pyarrow as pa

from .checksum import BucketMap, KeySpec, MapHasher
from .comparison import plan_comparison
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
) -> BucketMap:
    t0 = time.monotonic()
    # the source side of the final check: bucket checksums of the rows as they are written
    hasher = None
    if options.verify:
        cmp = plan_comparison(source, tp, options.float_digits)
        hasher = MapHasher(tp.target.arrow_schema, cmp.canons, cmp.spec, tp.source.name)
    bar = progress(tp.target.name, tp.source.row_estimate)
    schema = tp.target.arrow_schema
    rows = 0

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in source.read_batches(tp.source, options.batch_size):
            out = conform(batch, schema, tp.source.name)
            if hasher is not None:
                hasher.update(out)
            r.bytes += out.nbytes
            yield out

    try:
        for n in target.write_batches(tp.target, batches()):
            rows += n
            bar.update(n)
        r.source_rows = rows
    except XferError as exc:
        r.status = "failed"
        r.error = str(exc) + (f" ({rows} rows had been committed)" if rows else "")
        r.source_rows = None
        log.error("%s: %s", tp.source.name, r.error)
    finally:
        bar.close()
        if hasher is not None:
            hasher.close()
        r.seconds = time.monotonic() - t0
    return hasher.map if hasher is not None else BucketMap(KeySpec("rows"))

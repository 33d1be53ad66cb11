"""Copying one table: read batches from the source, convert them to the target's types,
hash them for verification on the way, and write them (one commit per batch).

Values the target cannot take never vanish silently: declared policies (zero dates, NUL bytes)
are applied and counted, and a batch the target refuses for its data is split in halves until
the offending rows are isolated; those go to the reject file and the rest of the table is
written.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from xfer.core.checksum import BucketMap, KeySpec, MapHasher
from xfer.core.conform import conform
from xfer.core.errors import CopyError, XferError
from xfer.core.options import Options
from xfer.core.policies import RejectFile, ValuePolicies, jsonable
from xfer.core.progress import ProgressFactory
from xfer.core.report import TableResult
from xfer.dialects.base import Dialect
from xfer.planning.build import TablePlan
from xfer.verification.comparison import hash_scheme, plan_comparison

log = logging.getLogger("xfer")

MAX_ISOLATED_REJECTS = 1000  # past this a table's failure is not about a few bad rows


def table_policies(tp: TablePlan, options: Options) -> ValuePolicies:
    return ValuePolicies(
        tp.source.name, list(tp.source.primary_key), options.policies.zero_dates, options.policies.nul_bytes
    )


def nul_columns(tp: TablePlan, target: Dialect) -> list[str]:
    """Source columns whose target type is text that cannot hold U+0000."""
    if target.text_holds_nul:
        return []
    out = []
    for sc, tc in zip(tp.source.columns, tp.target.columns, strict=True):
        t = tc.arrow.value_type if pa.types.is_list(tc.arrow) else tc.arrow
        if pa.types.is_string(t) and pa.types.is_string(sc.arrow):
            out.append(sc.name)
    return out


def copy_table(
    source: Dialect,
    target: Dialect,
    tp: TablePlan,
    r: TableResult,
    options: Options,
    progress: ProgressFactory,
    rejects: RejectFile | None = None,
) -> BucketMap:
    t0 = time.monotonic()
    # the source side of the final check: bucket checksums of the rows as they are written
    hasher = None
    if options.verify.enabled and not tp.skip_verify:
        cmp = plan_comparison(
            source, tp, options.verify.float_digits, scheme=hash_scheme(options.verify.method, target)
        )
        hasher = MapHasher(tp.target.arrow_schema, cmp.canons, cmp.spec, tp.source.name)
    bar = progress(tp.target.name, tp.source.row_estimate)
    schema = tp.target.arrow_schema
    policies = table_policies(tp, options)
    texts = nul_columns(tp, target)
    isolated: list[dict[str, Any]] = []
    rows = 0

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in tp.read(source, options.copy.batch_size, policies=policies):
            if texts:
                batch = policies.apply_nul_bytes(batch, texts)
            out = conform(batch, schema, tp.source.name)
            r.bytes += out.nbytes
            yield out

    try:
        for batch in batches():
            n = _write(target, tp, batch, hasher, isolated)
            rows += n
            bar.update(n)
            _drain(policies.rejects + isolated, rejects, r)
            policies.rejects.clear()
            isolated.clear()
        r.source_rows = rows
    except XferError as exc:
        _drain(policies.rejects + isolated, rejects, r)
        r.status = "failed"
        r.error = str(exc) + (f" ({rows} rows had been committed)" if rows else "")
        r.source_rows = None
        log.debug("%s: %s", tp.source.name, r.error)  # the summary and the exit message say it
    finally:
        bar.close()
        if hasher is not None:
            hasher.close()
        r.seconds = time.monotonic() - t0
        r.policies = {c: dict(n) for c, n in policies.counts.items()}
    return hasher.map if hasher is not None else BucketMap(KeySpec("rows"))


def _drain(records: list[dict[str, Any]], rejects: RejectFile | None, r: TableResult) -> None:
    if not records:
        return
    # a line per refused value; a row with several is still one row
    r.rejected_rows += len({json.dumps(rec["key"], sort_keys=True, default=str) for rec in records})
    if rejects is None:
        raise CopyError(f"{r.name}: {len(records)} row(s) rejected and no reject file to write them to")
    rejects.write(records)


def _write(
    target: Dialect, tp: TablePlan, batch: pa.RecordBatch, hasher: MapHasher | None, isolated: list[dict[str, Any]]
) -> int:
    """Write one batch; when the target refuses it for its data, split it to isolate the rows
    it refuses (recorded in `isolated`) and write the rest. Only written rows are hashed."""
    try:
        n = sum(target.write_batches(tp.target, [batch]))
    except CopyError as exc:
        if not getattr(exc, "row_error", False) or len(isolated) >= MAX_ISOLATED_REJECTS:
            raise
        if batch.num_rows == 1:
            isolated.append(_reject_record(tp, batch, exc))
            return 0
        mid = batch.num_rows // 2
        return _write(target, tp, batch.slice(0, mid), hasher, isolated) + _write(
            target, tp, batch.slice(mid), hasher, isolated
        )
    if hasher is not None:
        hasher.update(batch)
    return n


_COLUMN = re.compile(r"column (\S+?):")


def _reject_record(tp: TablePlan, batch: pa.RecordBatch, exc: CopyError) -> dict[str, Any]:
    """The one row in `batch` that the target refused, as a reject-file record (source names)."""
    back = {tc.name: sc.name for sc, tc in zip(tp.source.columns, tp.target.columns, strict=True)}
    row = batch.to_pylist()[0]
    m = _COLUMN.search(exc.message)
    col = m[1].strip('"') if m else None
    reason = exc.message.split("refused a batch: ", 1)[-1]
    key = {back[k]: jsonable(row[k]) for k in tp.target.primary_key if k in row}
    return {
        "table": tp.source.name,
        "key": key or {"row": {back[k]: jsonable(v) for k, v in row.items()}},
        "column": back.get(col or "", col),
        "value": jsonable(row.get(col)) if col in row else None,
        "reason": reason,
    }

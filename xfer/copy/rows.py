"""What every copy path shares, whatever cuts the table and whoever writes it: the value
policies and NUL-byte columns of a table, batches converted to the target's types, a batch
written with the rows the target refuses isolated, and refused rows recorded.

A batch the target refuses for its data (`CopyError.row_error`) is split in halves until the
offending rows are isolated; those become reject-file records and the rest is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from xfer.core.checksum import KeySpec
from xfer.core.conform import conform
from xfer.core.errors import CopyError
from xfer.core.journal import Journal
from xfer.core.options import Options
from xfer.core.policies import RejectFile, ValuePolicies, count_duplicate_keys, jsonable
from xfer.core.progress import ProgressEvents
from xfer.core.report import TableResult
from xfer.core.retry import RetryPolicy
from xfer.dialects.base import Dialect
from xfer.planning.build import Plan, TablePlan
from xfer.verification.comparison import Comparison, hash_scheme, plan_comparison

MAX_ISOLATED_REJECTS = 1000  # past this a table's failure is not about a few bad rows


@dataclass(frozen=True)
class TableCopy:
    """One table's copy: both ends, its plan, the result it fills, the run's options and its
    progress events."""

    source: Dialect
    target: Dialect
    tp: TablePlan
    result: TableResult
    options: Options
    progress: ProgressEvents

    def policies(self) -> ValuePolicies:
        return table_policies(self.tp, self.options)

    def nul_texts(self) -> list[str]:
        return nul_columns(self.tp, self.target)

    def comparison(self, spec: KeySpec | None = None) -> Comparison | None:
        """How the written rows are hashed for the final check (None: the table is not
        verified); `spec`: the buckets a journal recorded before."""
        options = self.options
        if not options.verify.enabled or self.tp.skip_verify:
            return None
        scheme = hash_scheme(options.verify.method, self.target)
        return plan_comparison(self.source, self.tp, options.verify.float_digits, spec=spec, scheme=scheme)


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


def converted(
    tp: TablePlan, batches: Iterable[pa.RecordBatch], policies: ValuePolicies, texts: list[str]
) -> Iterator[pa.RecordBatch]:
    """The source's batches in the target's types, the NUL-byte policy applied to `texts`."""
    for batch in batches:
        yield convert(tp, batch, policies, texts)


def convert(tp: TablePlan, batch: pa.RecordBatch, policies: ValuePolicies, texts: list[str]) -> pa.RecordBatch:
    if texts:
        batch = policies.apply_nul_bytes(batch, texts)
    return conform(batch, tp.target.arrow_schema, tp.source.name)


def write_plain(target: Dialect, tp: TablePlan, batch: pa.RecordBatch) -> None:
    """One batch through the dialect's own write path, in one transaction."""
    for _ in target.write_batches(tp.target, [batch]):
        pass


def write_isolating(
    tp: TablePlan,
    batch: pa.RecordBatch,
    write: Callable[[pa.RecordBatch, bool], None],
    isolated: list[dict[str, Any]],
    bulk: bool = False,
    done: Callable[[pa.RecordBatch], None] | None = None,
) -> int:
    """Write `batch` with `write(batch, bulk)` (one transaction); when the target refuses it
    for its data, split it until the refused rows are isolated (recorded in `isolated`) and
    write the rest. A single row refused on the bulk path is tried once more on the plain one,
    whose message names the column and value. `done` sees every batch written (for hashing:
    only written rows are hashed). Returns the rows written."""
    try:
        write(batch, bulk)
    except CopyError as exc:
        if not exc.row_error or len(isolated) >= MAX_ISOLATED_REJECTS:
            raise
        if batch.num_rows == 1 and bulk:
            return write_isolating(tp, batch, write, isolated, False, done)
        if batch.num_rows == 1:
            isolated.append(reject_record(tp, batch, exc))
            return 0
        mid = batch.num_rows // 2
        return write_isolating(tp, batch.slice(0, mid), write, isolated, bulk, done) + write_isolating(
            tp, batch.slice(mid), write, isolated, bulk, done
        )
    if done is not None:
        done(batch)
    return batch.num_rows


def drain_rejects(records: list[dict[str, Any]], rejects: RejectFile | None, r: TableResult) -> None:
    """Count refused rows into `r` and write them to the reject file (none: the table fails)."""
    if not records:
        return
    # a line per refused value; a row with several is still one row
    r.rejected_rows += len({json.dumps(rec["key"], sort_keys=True, default=str) for rec in records})
    r.duplicate_keys += count_duplicate_keys(records)
    if rejects is None:
        raise CopyError(f"{r.name}: {len(records)} row(s) rejected and no reject file to write them to")
    rejects.write(records)


_COLUMN = re.compile(r"column (\S+?):")


def reject_record(tp: TablePlan, batch: pa.RecordBatch, exc: CopyError) -> dict[str, Any]:
    """The one row in `batch` that the target refused, as a reject-file record (source names)."""
    back = {tc.name: sc.name for sc, tc in zip(tp.source.columns, tp.target.columns, strict=True)}
    row = batch.to_pylist()[0]
    m = _COLUMN.search(exc.message)
    col = m[1].strip('"') if m else None
    reason = exc.message.split("refused a batch: ", 1)[-1]
    key = {back[k]: jsonable(row[k]) for k in tp.target.primary_key if k in row}
    record = {
        "table": tp.source.name,
        "key": key or {"row": {back[k]: jsonable(v) for k, v in row.items()}},
        "column": back.get(col or "", col),
        "value": jsonable(row.get(col)) if col in row else None,
        "reason": reason,
    }
    if exc.duplicate_key:  # the target holds that key already: said apart, the advice differs
        record["duplicate_key"] = True
    return record


@dataclass
class CopyJob:
    """One run's copy, as every strategy takes it: the open source and target, `more()` for
    another session on the target, the plan, the per-table results to fill, the options and
    progress events, where refused rows go (`rejects`, or the `journal`), and the retry policy."""

    source: Dialect
    target: Dialect
    more: Callable[[], Dialect]
    plan: Plan
    results: dict[str, TableResult]
    options: Options
    progress: ProgressEvents
    rejects: RejectFile | None = None
    journal: Journal | None = None
    retry: RetryPolicy | None = None

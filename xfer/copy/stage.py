"""The copy stage as the run sees it: the rows of every planned table, then their keys, indexes
and foreign keys, each by the strategy the engines' declared capabilities allow.

- a `RangeReader` source and a `BulkWriter` target, no mapping file (`parallel.applicable`):
  tables and key ranges on `--jobs` workers (`copy.parallel`), keys and indexes built at once
  on as many sessions (`copy.constraints`);
- anything else: one table after another inside the source's snapshot (`copy.table`, chunked by
  the run journal when there is one), keys and indexes one statement after another (`copy.ddl`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from xfer.copy import parallel
from xfer.copy.constraints import build_constraints_parallel
from xfer.copy.ddl import build_constraints
from xfer.copy.rows import CopyJob
from xfer.copy.table import copy_table
from xfer.core import interrupt
from xfer.core.checksum import BucketMap
from xfer.core.options import Options
from xfer.core.progress import ProgressEvents
from xfer.core.report import TableResult
from xfer.dialects.base import Dialect
from xfer.planning.build import Plan, load_order
from xfer.runs.lifecycle import mark_tables


@dataclass
class Copied:
    """What the copy leaves for the rest of the run."""

    parallel: bool  # the parallel strategy ran (its keys and indexes are built the same way)
    sums: dict[str, BucketMap] = field(default_factory=dict)  # per source table: bucket checksums
    notes: list[str] = field(default_factory=list)  # for the run report


def copy_rows(job: CopyJob, existing: set[str]) -> Copied:
    """Copy every planned table's rows into `job.target`, filling `job.results`. `existing`:
    target tables that were there before the run (they keep their foreign keys, so parents are
    loaded first)."""
    options = job.options
    out = Copied(parallel.applicable(job.source, job.target, job.plan))
    if options.copy.schema_only:
        return out
    for tp in job.plan.tables:  # the overall total and ETA, before the first row arrives
        job.progress.expect(tp.target.name, tp.source.row_estimate)
    job.progress.phase_started("copy")
    if out.parallel:
        ordered = options.copy.data_only or bool(existing)  # foreign keys already there
        out.sums, out.notes = parallel.copy_all(job, ordered)
        mark_tables(job.journal, job.results)  # the parallel copy does not keep the tables' states itself
        return out
    with job.source.snapshot():
        for tp in load_order(job.plan):
            interrupt.check()
            out.sums[tp.source.name] = copy_table(job, tp)
    return out


def build_keys(
    target: Dialect,
    more: Callable[[], Dialect],
    the_plan: Plan,
    results: dict[str, TableResult],
    existing: set[str],
    options: Options,
    copied: Copied,
    events: ProgressEvents | None = None,
) -> None:
    """Primary keys and indexes of the tables the run created, after their rows, then foreign
    keys; a statement the target refuses fails its table (with the reason), not the run."""
    if copied.parallel and options.copy.jobs > 1:
        fresh = [tp for tp in the_plan.tables if tp.target.name not in existing]
        build_constraints_parallel(target, more, fresh, results, options.copy.jobs, options.run.follow, events)
    else:
        build_constraints(target, the_plan, results, existing, options.run.follow, events)

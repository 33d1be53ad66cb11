"""Verification: read both sides, cast to the same (target) types, and compare row counts
and order-independent checksums table by table."""

from __future__ import annotations

import time
from contextlib import ExitStack

from .checksum import Checksum, Hasher
from .connect import open_source, open_target
from .dialects.base import Dialect
from .options import Options
from .plan import Plan, TablePlan, make_plan
from .progress import ProgressFactory, no_progress
from .report import RunReport, TableResult
from .schema import Table
from .transform import conform


def verify(source_url: str, target_url: str, options: Options, progress: ProgressFactory = no_progress) -> RunReport:
    """Row counts and checksums of every selected table, source (as the migration maps it)
    against target. Each side is read in one consistent snapshot."""
    started = time.monotonic()
    with ExitStack() as stack:
        source = open_source(source_url, stack)
        target = open_target(target_url, stack, must_exist=True)
        report = RunReport("verify", str(source.url), str(target.url))
        the_plan = make_plan(source, target, options)
        present = set(target.list_tables())
        sums: dict[str, Checksum] = {}
        with source.snapshot():
            for tp in the_plan.tables:
                r = TableResult(tp.source.name, tp.target.name)
                report.tables.append(r)
                if tp.skip_verify:
                    continue
                t0 = time.monotonic()
                sums[tp.source.name] = hash_table(
                    source, tp.source, tp, options, progress, conform_to=tp.target, source_side=True
                )
                r.seconds = time.monotonic() - t0
                r.source_rows = sums[tp.source.name].rows
        results = {r.name: r for r in report.tables}
        for tp in the_plan.tables:
            if tp.target.name not in present:
                results[tp.source.name].status = "missing"
                results[tp.source.name].error = f"table {tp.target.name!r} does not exist in the target"
        compare_targets(target, [tp for tp in the_plan.tables if tp.target.name in present], results, sums, options)
        report.seconds = time.monotonic() - started
        return report


def hash_table(
    dialect: Dialect,
    table: Table,
    tp: TablePlan,
    options: Options,
    progress: ProgressFactory,
    conform_to: Table,
    *,
    source_side: bool = False,
) -> Checksum:
    """`source_side`: read the rows as the plan maps them (`tp.read`), not `table` as it is."""
    hasher = Hasher(tp.hash_schema, tp.json_columns)
    bar = progress(f"{table.name} ({dialect.name})", table.row_estimate)
    batches = tp.read(dialect, options.batch_size) if source_side else dialect.read_batches(table, options.batch_size)
    try:
        for batch in batches:
            hasher.update(tp.for_hash(conform(batch, conform_to.arrow_schema, table.name)))
            bar.update(batch.num_rows)
        return hasher.checksum
    finally:
        bar.close()
        hasher.close()


def compare_targets(
    target: Dialect,
    tables: Plan | list[TablePlan],
    results: dict[str, TableResult],
    sums: dict[str, Checksum],
    options: Options,
) -> None:
    plans = tables.tables if isinstance(tables, Plan) else tables
    live = {
        t.name: t
        for t in target.introspect([tp.target.name for tp in plans if results[tp.source.name].status != "failed"])
    }
    for tp in plans:
        r = results[tp.source.name]
        if r.status == "failed" or tp.target.name not in live:
            continue
        if tp.skip_verify:
            r.status, r.checksum_match = "ok", None
            r.notes.append("not verified: the mapping file says verify: false")
            continue
        actual = live[tp.target.name]
        try:
            reading = _readable(actual, tp.target)
        except KeyError as exc:
            r.status, r.error = "mismatch", f"column {exc} is missing in the target table"
            continue
        got = hash_table(target, reading, tp, options, no_progress, conform_to=tp.target)
        want = sums.get(tp.source.name, Checksum())
        r.source_rows, r.target_rows = want.rows, got.rows
        r.source_checksum, r.target_checksum = want.hex, got.hex
        r.checksum_match = got == want
        if options.if_exists == "append" and r.checksum_match is False and got.rows >= want.rows:
            r.status = "ok"
            r.checksum_match = None
            r.notes.append("appended to existing rows: checksum not comparable")
        elif got.rows != want.rows:
            r.status = "mismatch"
            r.error = f"row count differs: source {want.rows}, target {got.rows}"
        elif not r.checksum_match:
            r.status = "mismatch"
            r.error = "same row count, different content (checksum)"
        else:
            r.status = "ok"


def _readable(actual: Table, planned: Table) -> Table:
    """The target table as it is, restricted to (and ordered like) the planned columns."""
    cols = [actual.column(c.name) for c in planned.columns]
    return Table(actual.name, cols, row_estimate=actual.row_estimate)

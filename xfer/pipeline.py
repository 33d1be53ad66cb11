"""The run: plan -> create tables -> copy (read -> transform -> write) -> keys, indexes,
foreign keys -> verify. `migrate`, `verify`, `plan` and `inspect` are the library's entry
points; the CLI only parses arguments, calls one of them and formats what it returns.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack

from . import parallel, urls
from .checksum import Checksum
from .connect import open_source, open_target
from .copy import copy_table
from .dialects import dialect_for
from .dialects.base import Dialect
from .errors import TargetExistsError, UsageError, XferError
from .options import CONSISTENCY, IF_EXISTS, Options
from .plan import Plan, make_plan
from .progress import Progress, ProgressFactory, no_progress
from .report import RunReport, TableResult
from .schema import Table
from .verify import compare_targets, verify

__all__ = [
    "CONSISTENCY",
    "IF_EXISTS",
    "Options",
    "Progress",
    "ProgressFactory",
    "RunReport",
    "inspect",
    "migrate",
    "no_progress",
    "plan",
    "verify",
]

log = logging.getLogger("xfer")


# -- commands ---------------------------------------------------------------------------
def plan(source_url: str, target_url: str, options: Options) -> tuple[Plan, Dialect]:
    """What `migrate` would do; touches nothing (an embedded target is opened in memory)."""
    with ExitStack() as stack:
        source = open_source(source_url, stack)
        target = dialect_for(urls.parse(target_url, role="target"))
        if target.url.engine in ("sqlite", "duckdb"):
            # Plan against an in-memory engine of the same kind: never create the file.
            target = dialect_for(urls.parse(f"{target_url.split(':', 1)[0]}://", role="target"))
        target.connect()
        stack.callback(target.close)
        return make_plan(source, target, options), target


def inspect(url: str) -> list[Table]:
    with ExitStack() as stack:
        d = open_source(url, stack)
        tables = d.introspect(d.list_tables())
        for t in tables:
            t.row_estimate = d.count_rows(t.name)
        return tables


def migrate(source_url: str, target_url: str, options: Options, progress: ProgressFactory = no_progress) -> RunReport:
    if options.if_exists not in IF_EXISTS:
        raise UsageError(f"--if-exists must be one of {', '.join(IF_EXISTS)}")
    if options.consistency not in CONSISTENCY:
        raise UsageError(f"--consistency must be one of {', '.join(CONSISTENCY)}")
    if options.schema_only and options.data_only:
        raise UsageError("--schema-only and --data-only exclude each other")
    started = time.monotonic()
    with ExitStack() as stack:
        source = open_source(source_url, stack)
        target = open_target(target_url, stack)
        report = RunReport("migrate", str(source.url), str(target.url))
        the_plan = make_plan(source, target, options)
        report.notes.extend(the_plan.notes)
        results = {tp.source.name: TableResult(tp.source.name, tp.target.name) for tp in the_plan.tables}
        report.tables = list(results.values())
        for tp in the_plan.tables:
            results[tp.source.name].notes.extend(tp.notes)
        existing = _preflight(target, the_plan, options)
        target.prepare_for_load()
        phase = time.monotonic()
        _create_tables(target, the_plan, options, existing)
        phase = _phase(report, "create", phase)
        sums: dict[str, Checksum] = {}
        fast = parallel.applicable(source, target)
        if not options.schema_only:
            if fast:
                sums, notes = parallel.copy_all(
                    source, target.url, lambda: open_target(target_url, stack), the_plan, results, options, progress
                )
                report.notes.extend(notes)
            else:
                with source.snapshot():
                    for tp in the_plan.tables:
                        r = results[tp.source.name]
                        sums[tp.source.name] = copy_table(source, target, tp, r, options, progress)
            phase = _phase(report, "copy", phase)
        if fast and options.jobs > 1:
            fresh = [tp for tp in the_plan.tables if tp.target.name not in existing]
            parallel.build_constraints_parallel(
                target, lambda: open_target(target_url, stack), fresh, results, options.jobs
            )
        else:
            _build_constraints(target, the_plan, results, existing)
        phase = _phase(report, "index", phase)
        if options.schema_only:
            for r in report.tables:
                r.status = "created" if r.status == "pending" else r.status
        elif options.verify:
            compare_targets(target, the_plan, results, sums, options)
        else:
            for r in report.tables:
                r.status = "ok" if r.status == "pending" else r.status
        if options.verify and not options.schema_only:
            _phase(report, "verify", phase)
        report.seconds = time.monotonic() - started
        return report


def _phase(report: RunReport, name: str, since: float) -> float:
    now = time.monotonic()
    report.phases[name] = report.phases.get(name, 0.0) + now - since
    return now


# -- steps ------------------------------------------------------------------------------
def _preflight(target: Dialect, the_plan: Plan, options: Options) -> set[str]:
    """Check every target table before changing anything; return those that exist."""
    existing = set(target.list_tables()) & {tp.target.name for tp in the_plan.tables}
    if options.data_only:
        missing = [tp.target.name for tp in the_plan.tables if tp.target.name not in existing]
        if missing:
            raise UsageError(
                f"--data-only: target tables missing: {', '.join(missing)}", hint="run without --data-only"
            )
        return existing
    if options.if_exists == "fail":
        busy = [name for name in sorted(existing) if target.table_has_rows(name)]
        if busy:
            raise TargetExistsError(
                f"target already has rows in {len(busy)} table(s): {', '.join(busy[:10])}"
                + (" ..." if len(busy) > 10 else ""),
                hint="nothing was changed; choose --if-exists truncate|append|replace to overwrite or add",
            )
    return existing


def _create_tables(target: Dialect, the_plan: Plan, options: Options, existing: set[str]) -> None:
    if hasattr(target, "create_schema"):
        target.create_schema()
    if options.data_only:
        return
    # Drop in reverse dependency order is not needed: PostgreSQL drops CASCADE, the others
    # do not enforce foreign keys on DROP.
    for tp in the_plan.tables:
        name = tp.target.name
        if name in existing:
            if options.if_exists in ("replace", "fail"):
                # "fail" only gets here when the table is empty: recreate it with the planned shape
                log.info("dropping existing table %s", name)
                target.drop_table(name)
                existing.discard(name)
            elif options.if_exists == "truncate":
                log.info("emptying existing table %s", name)
                target.truncate_table(name)
                continue
            else:
                continue
        for sql in target.create_table_sql(tp.target):
            log.debug("%s", sql)
            target.execute(sql)


def _build_constraints(target: Dialect, the_plan: Plan, results: dict[str, TableResult], existing: set[str]) -> None:
    """Keys and indexes after the data (much faster than maintaining them row by row),
    foreign keys last, once every table they point to is complete."""
    fresh = [tp for tp in the_plan.tables if tp.target.name not in existing]
    for tp in fresh:
        for sql in target.post_data_sql(tp.target):
            _constraint(target, sql, results[tp.source.name])
    for tp in fresh:
        for sql in target.foreign_keys_sql(tp.target):
            _constraint(target, sql, results[tp.source.name])


def _constraint(target: Dialect, sql: str, r: TableResult) -> None:
    log.debug("%s", sql)
    try:
        target.execute(sql)
    except XferError as exc:
        r.status = "failed"
        r.error = f"{exc}"
        log.error("%s: %s", r.name, exc)

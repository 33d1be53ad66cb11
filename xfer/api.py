"""The run: plan -> create tables -> copy (read -> transform -> write) -> keys, indexes,
foreign keys -> verify. `migrate`, `verify`, `plan` and `inspect` are the library's entry
points; the CLI only parses arguments, calls one of them and formats what it returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack

from xfer.copy import parallel
from xfer.copy.journaled import copy_chunks
from xfer.copy.table import copy_table
from xfer.core.checksum import BucketMap
from xfer.core.errors import ConnectError, TargetExistsError, UsageError, XferError
from xfer.core.journal import Journal
from xfer.core.options import CONSISTENCY, IF_EXISTS, Options
from xfer.core.policies import RejectFile
from xfer.core.progress import Progress, ProgressFactory, no_progress
from xfer.core.report import RunReport, TableResult
from xfer.core.schema import Table
from xfer.dialects.base import Dialect
from xfer.dialects.capabilities import SQLTranslator
from xfer.dialects.connect import discard_file, new_embedded_file, open_plan_target, open_source, open_target
from xfer.planning.build import Plan, TablePlan, load_order, make_plan, source_tables
from xfer.planning.hooks import run_hooks
from xfer.runs import lifecycle as runs
from xfer.verification.run import compare_targets, verify

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
def plan(source_url: str, target_url: str, options: Options) -> Plan:
    """What `migrate` would do; touches nothing (an embedded target is opened in memory)."""
    with ExitStack() as stack:
        source = open_source(source_url, stack)
        target = open_plan_target(target_url, stack)
        the_plan = make_plan(source, target, options)
        for tp in the_plan.tables:  # the DDL as `migrate` would run it, while the target is open
            tp.ddl = (
                target.create_table_sql(tp.target)
                + (target.checks_sql(tp.target) if isinstance(target, SQLTranslator) else [])
                + target.post_data_sql(tp.target)
                + target.foreign_keys_sql(tp.target)
            )
        return the_plan


def inspect(url: str) -> list[Table]:
    with ExitStack() as stack:
        d = open_source(url, stack)
        tables = d.introspect(d.list_tables())
        for t in tables:
            t.row_estimate = d.count_rows(t.name)
        return tables


def migrate(source_url: str, target_url: str, options: Options, progress: ProgressFactory = no_progress) -> RunReport:
    started = time.monotonic()
    with ExitStack() as stack:
        source = open_source(source_url, stack)
        # Select tables before opening the target: a usage error must leave no trace there.
        tables = source_tables(source, options)
        fresh_file = new_embedded_file(target_url)
        try:
            target = open_target(target_url, stack, must_exist=options.copy.data_only)
        except ConnectError as exc:
            if not options.copy.data_only or "does not exist" not in exc.message:
                raise
            raise UsageError(f"--data-only: {exc.message}", hint="run without --data-only to create it") from None
        report = RunReport("migrate", str(source.url), str(target.url))
        try:
            the_plan = make_plan(source, target, options, tables)
            resumable = runs.find_resumable(source, target, options, stack)
            existing = set() if resumable else _preflight(target, the_plan, options)
        except TargetExistsError as exc:
            raise runs.explain_busy_target(exc, source, target) from None
        except XferError:
            if fresh_file:  # nothing was created in it: leave no empty database file behind
                target.close()
                discard_file(fresh_file)
            raise
        journal = runs.open_run(source, target, the_plan, options, resumable, existing, stack)
        if journal is not None and journal.resumed:
            existing = runs.preexisting(journal)

        def more() -> Dialect:  # one more session on the target (parallel copy and index builds)
            d = open_target(target_url, stack)
            return journal.attach(d) if journal is not None else d

        if journal is None:
            return _migrate(source, target, more, the_plan, options, existing, report, progress, started, None)
        report.run_id = journal.run_id
        try:
            _migrate(source, target, more, the_plan, options, existing, report, progress, started, journal)
        except BaseException as exc:
            runs.abandon(journal, exc)
            raise
        runs.finish(journal, report)
        return report


def _migrate(
    source: Dialect,
    target: Dialect,
    more: Callable[[], Dialect],
    the_plan: Plan,
    options: Options,
    existing: set[str],
    report: RunReport,
    progress: ProgressFactory,
    started: float,
    journal: Journal | None,
) -> RunReport:
    report.notes.extend(the_plan.notes)
    report.renames = [str(rn) for rn in the_plan.renames]
    results = {tp.source.name: TableResult(tp.source.name, tp.target.name) for tp in the_plan.tables}
    report.tables = list(results.values())
    for tp in the_plan.tables:
        results[tp.source.name].notes.extend(tp.notes)
    run_hooks(the_plan.before, source, target, report)
    target.prepare_for_load()
    runs.take_backup(target, the_plan, options, existing, journal)
    phase = time.monotonic()
    _create_tables(target, the_plan, options, existing, results)
    phase = _phase(report, "create", phase)
    sums: dict[str, BucketMap] = {}
    # a journaled run keeps refused rows in the journal (exactly once) and writes the file at the end
    rejects = RejectFile(options.policies.reject_file or "xfer-rejects.jsonl") if journal is None else None
    fast = parallel.applicable(source, target, the_plan)
    retry = runs.retry_policy(options)
    if not options.copy.schema_only:
        try:
            if fast:
                ordered = options.copy.data_only or bool(existing)  # foreign keys already there
                sums, notes = parallel.copy_all(
                    source, target, more, the_plan, results, options, progress, rejects, ordered, journal, retry
                )
                report.notes.extend(notes)
                runs.mark_tables(journal, results)
            else:
                with source.snapshot():
                    for tp in load_order(the_plan):
                        r = results[tp.source.name]
                        if journal is not None:
                            sums[tp.source.name] = copy_chunks(source, target, tp, r, options, progress, journal, retry)
                        else:
                            sums[tp.source.name] = copy_table(source, target, tp, r, options, progress, rejects)
        finally:
            if rejects is not None:
                rejects.close()
        phase = _phase(report, "copy", phase)
    report.reject_file = str(rejects.path) if rejects is not None and rejects.rows else None
    if journal is not None:
        report.reject_file = runs.write_rejects(journal, options.policies.reject_file)
        if note := runs.results_note(journal):
            report.notes.append(note)
    if fast and options.copy.jobs > 1:
        fresh = [tp for tp in the_plan.tables if tp.target.name not in existing]
        parallel.build_constraints_parallel(target, more, fresh, results, options.copy.jobs)
    else:
        _build_constraints(target, the_plan, results, existing)
    phase = _phase(report, "index", phase)
    if not options.copy.data_only:
        report.views = _create_views(target, the_plan)
        report.triggers = _create_triggers(target, the_plan)
    run_hooks(the_plan.after, source, target, report)
    if options.copy.schema_only:
        for r in report.tables:
            r.status = "created" if r.status == "pending" else r.status
    elif options.verify.enabled:
        compare_targets(target, the_plan, results, sums, options, source=source)
    else:
        for r in report.tables:
            r.status = "ok" if r.status == "pending" else r.status
    if options.verify.enabled and not options.copy.schema_only:
        _phase(report, "verify", phase)
    runs.enforce_max_errors(report, options, journal)  # after verification: what was copied is checked
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
    if options.copy.data_only:
        missing = [tp.target.name for tp in the_plan.tables if tp.target.name not in existing]
        if missing:
            raise UsageError(
                f"--data-only: target tables missing: {', '.join(missing)}", hint="run without --data-only"
            )
        return existing
    if options.copy.if_exists == "fail":
        busy = [name for name in sorted(existing) if target.table_has_rows(name)]
        if busy:
            raise TargetExistsError(
                f"target already has rows in {len(busy)} table(s): {', '.join(busy[:10])}"
                + (" ..." if len(busy) > 10 else ""),
                hint="nothing was changed; choose --if-exists truncate|append|replace to overwrite or add",
            )
    return existing


def _create_tables(
    target: Dialect, the_plan: Plan, options: Options, existing: set[str], results: dict[str, TableResult] | None = None
) -> None:
    target.create_schema()
    if options.copy.data_only:
        return
    present = [tp.target.name for tp in load_order(the_plan) if tp.target.name in existing]
    if present and options.copy.if_exists == "truncate":
        log.info("emptying existing tables %s", ", ".join(present))
        target.truncate_tables(present)
    elif present and options.copy.if_exists in ("replace", "fail"):
        # "fail" only gets here when the tables are empty: recreate them with the planned shape.
        for name in reversed(present):  # children first
            log.info("dropping existing table %s", name)
            target.drop_table(name)
            existing.discard(name)
    for tp in the_plan.tables:
        name = tp.target.name
        if name in existing:
            continue  # truncate / append: the table keeps its own shape, keys and indexes
        try:
            _run(target, target.create_table_sql(tp.target))
        except XferError as exc:
            generated = [c for c in tp.target.columns if c.generated]
            if not generated:
                raise
            # PostgreSQL refused a translated generation expression (e.g. a function that is
            # not IMMUTABLE there): keep the columns as plain ones holding the copied values.
            for c in generated:
                c.generated = None
            note = f"generated column(s) {', '.join(c.name for c in generated)} created as plain columns: {exc}"
            log.warning("%s: %s", tp.source.name, note)
            if results is not None:
                results[tp.source.name].notes.append(note)
            target.drop_table(name)
            _run(target, target.create_table_sql(tp.target))
        _add_checks(target, tp, results)


def _add_checks(target: Dialect, tp: TablePlan, results: dict[str, TableResult] | None) -> None:
    """CHECKs before the rows (a row breaking one is refused alone, into the reject file); one
    the target refuses is reported, never fatal."""
    for sql in target.checks_sql(tp.target) if isinstance(target, SQLTranslator) else []:
        try:
            _run(target, [sql])
        except XferError as exc:
            note = f"check not created: {exc}"
            log.warning("%s: %s", tp.source.name, note)
            if results is not None:
                results[tp.source.name].notes.append(note)


def _create_triggers(target: Dialect, the_plan: Plan) -> list[dict[str, object]]:
    """Translated triggers, after the data (a trigger must not fire on copied rows). One that
    PostgreSQL refuses is reported with its reason; it never fails the run."""
    for tr in the_plan.triggers:
        if not tr.statements:
            continue
        try:
            _run(target, tr.statements)
            tr.status = "created"
        except XferError as exc:
            tr.status, tr.reason = "failed", str(exc)
            log.warning("trigger %s: %s", tr.name, exc)
    return [{"name": t.name, "table": t.table, "status": t.status, "reason": t.reason} for t in the_plan.triggers]


def _run(target: Dialect, statements: list[str]) -> None:
    for sql in statements:
        log.debug("%s", sql)
        target.execute(sql)


def _create_views(target: Dialect, the_plan: Plan) -> list[dict[str, object]]:
    """Create the translated views; a view may use another, so retry until nothing moves.
    A view that fails is reported with PostgreSQL's reason; it never fails the run."""
    pending = [v for v in the_plan.views if v.sql]
    errors: dict[str, str] = {}
    while pending:
        left = []
        for v in pending:
            try:
                target.execute(f"DROP VIEW IF EXISTS {target.qualified(v.target_name)} CASCADE")
                target.execute(v.sql or "")
                v.status, v.reason = "created", None
            except XferError as exc:
                errors[v.name] = str(exc)
                left.append(v)
        if len(left) == len(pending):
            for v in left:
                v.status, v.reason = "failed", errors[v.name]
            break
        pending = left
    for v in the_plan.views:
        if v.status != "created":
            log.warning("view %s: %s: %s", v.name, v.status, v.reason)
    return [
        {"name": v.name, "target_name": v.target_name, "status": v.status, "reason": v.reason} for v in the_plan.views
    ]


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
        log.debug("%s: %s", r.name, exc)

"""The schema steps of a migration around the copy: checking the target before anything changes,
creating tables (with CHECKs, before the rows), and after the rows keys, indexes, foreign keys,
views and triggers. A step the target refuses is reported on its table, never silently skipped."""

from __future__ import annotations

import logging
import time

from xfer.core.errors import TargetExistsError, UsageError, XferError
from xfer.core.options import Options
from xfer.core.progress import ProgressEvents
from xfer.core.report import TableResult
from xfer.core.schema import Table
from xfer.dialects.base import Dialect
from xfer.dialects.capabilities import BatchedDDL, ChangeTarget, CollationTarget, SQLTranslator
from xfer.planning.build import Plan, TablePlan, ViewPlan, load_order

log = logging.getLogger("xfer")

#: a table this small has its DDL sent together with other small tables' (`BatchedDDL`)
SMALL_TABLE_ROWS = 100_000
#: statements sent together at most
GROUP_STATEMENTS = 200


def preflight(target: Dialect, the_plan: Plan, options: Options) -> set[str]:
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


def create_tables(
    target: Dialect, the_plan: Plan, options: Options, existing: set[str], results: dict[str, TableResult] | None = None
) -> None:
    target.create_schema()
    if options.copy.data_only:
        return
    _run(target, collations_sql(target, the_plan))  # before the tables whose columns use them
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
    fresh = [tp for tp in the_plan.tables if tp.target.name not in existing]  # truncate / append: kept as is
    if isinstance(target, BatchedDDL):  # many tables: their statements together, in few round trips
        groups = grouped([(tp, target.create_table_sql(tp.target) + checks_sql(target, tp.target)) for tp in fresh])
        for group in groups:
            if not _together(target, [sql for _tp, statements in group for sql in statements]):
                for tp, _statements in group:  # one refused (or one too many): table by table, as below
                    _create_table(target, tp, results)
        return
    for tp in fresh:
        _create_table(target, tp, results)


def grouped(items: list[tuple[TablePlan, list[str]]]) -> list[list[tuple[TablePlan, list[str]]]]:
    """Tables with their statements, in groups of at most GROUP_STATEMENTS statements sent
    together; a table of more than SMALL_TABLE_ROWS rows (as estimated) is a group of its own."""
    out: list[list[tuple[TablePlan, list[str]]]] = []
    size = GROUP_STATEMENTS
    for tp, statements in items:
        if (tp.source.row_estimate or 0) > SMALL_TABLE_ROWS:
            out.append([(tp, statements)])
            size = GROUP_STATEMENTS  # the next small table starts a group
            continue
        if size + len(statements) > GROUP_STATEMENTS:
            out.append([])
            size = 0
        out[-1].append((tp, statements))
        size += len(statements)
    return out


def _together(target: Dialect, statements: list[str]) -> bool:
    """Run `statements` together (all or none); False when the target refused one of them (the
    caller runs them again one by one to tell which)."""
    if not statements:
        return True
    if len(statements) == 1 or not isinstance(target, BatchedDDL):
        return False
    try:
        target.execute_together(statements)
        return True
    except XferError as exc:
        if exc.transient:
            raise
        log.debug("statements run together were refused (%s): one by one", exc)
        return False


def _create_table(target: Dialect, tp: TablePlan, results: dict[str, TableResult] | None) -> None:
    """One table, with its checks; a refused generated column is created as a plain one."""
    name = tp.target.name
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
    for sql in checks_sql(target, tp.target):
        try:
            _run(target, [sql])
        except XferError as exc:
            note = f"check not created: {exc}"
            log.warning("%s: %s", tp.source.name, note)
            if results is not None:
                results[tp.source.name].notes.append(note)


def collations_sql(target: Dialect, the_plan: Plan) -> list[str]:
    """The collations the plan's columns use, created once in the target schema (IF NOT EXISTS)."""
    return target.collation_sql(the_plan.collations) if isinstance(target, CollationTarget) else []


def checks_sql(target: Dialect, table: Table) -> list[str]:
    """`table`'s CHECK constraints, where the target translates them (created before the rows)."""
    return target.checks_sql(table) if isinstance(target, SQLTranslator) else []


def create_triggers(target: Dialect, the_plan: Plan) -> list[dict[str, object]]:
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


def create_views(target: Dialect, the_plan: Plan) -> list[dict[str, object]]:
    """Create the translated views; a view may use another, so retry until nothing moves.
    A view that fails is reported with PostgreSQL's reason; it never fails the run."""
    pending = [v for v in the_plan.views if v.sql]
    errors: dict[str, str] = {}
    while pending:
        left = []
        for v in pending:
            try:
                for sql in view_sql(target, v):
                    target.execute(sql)
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


def view_sql(target: Dialect, v: ViewPlan) -> list[str]:
    """The statements creating view `v` (one left by an earlier run is replaced)."""
    return [f"DROP VIEW IF EXISTS {target.qualified(v.target_name)} CASCADE", v.sql or ""]


def foreign_keys_sql(target: Dialect, table: Table, follow: bool) -> list[str]:
    """`table`'s foreign keys; a followed run's as the target creates them for following."""
    if follow and isinstance(target, ChangeTarget):
        return target.following_foreign_keys_sql(table)
    return target.foreign_keys_sql(table)


def build_constraints(
    target: Dialect,
    the_plan: Plan,
    results: dict[str, TableResult],
    existing: set[str],
    follow: bool = False,
    events: ProgressEvents | None = None,
) -> None:
    """Keys and indexes after the data (much faster than maintaining them row by row),
    foreign keys last, once every table they point to is complete."""
    fresh = [tp for tp in the_plan.tables if tp.target.name not in existing]
    steps = [(tp, sql) for tp in fresh for sql in target.post_data_sql(tp.target)]
    steps += [(tp, sql) for tp in fresh for sql in foreign_keys_sql(target, tp.target, follow)]
    events = events or ProgressEvents()
    events.phase_started("index", len(steps))
    for group in groups_of([(tp.source.name, sql) for tp, sql in steps], fresh):
        run_constraints(target, group, results, events=events)


def run_constraints(
    target: Dialect,
    items: list[tuple[str, str]],
    results: dict[str, TableResult],
    *,
    level: int = logging.DEBUG,
    stage: str | None = None,
    events: ProgressEvents | None = None,
    skip_failed: bool = False,
) -> None:
    """(source table, statement) pairs as `run_constraint` runs each, but sent together
    (`BatchedDDL`, all or none) when they are several; when the target refuses one of them, they
    are run again one by one, so the refused one fails its table alone. `skip_failed`: the
    statements of a table that failed (before, or meanwhile) are left out."""
    if skip_failed:
        if events is not None:
            events.phase_step(sum(results[name].status == "failed" for name, _sql in items))
        items = [(name, sql) for name, sql in items if results[name].status != "failed"]
    t0 = time.perf_counter()
    if len(items) > 1 and _together(target, [sql for _name, sql in items]):
        if stage is not None:  # the group's seconds, shared out between its statements
            share = (time.perf_counter() - t0) / len(items)
            for name, _sql in items:
                r = results[name]
                r.stages[stage] = r.stages.get(stage, 0.0) + share
        if events is not None:
            events.phase_step(len(items))
        return
    for name, sql in items:
        if not (skip_failed and results[name].status == "failed"):
            run_constraint(target, sql, results[name], level=level, stage=stage)
        if events is not None:
            events.phase_step()


def groups_of(items: list[tuple[str, str]], plans: list[TablePlan]) -> list[list[tuple[str, str]]]:
    """(source table, statement) pairs in groups to send together: the statements of small
    tables (SMALL_TABLE_ROWS) up to GROUP_STATEMENTS a group, each of a big table's alone."""
    rows = {tp.source.name: tp.source.row_estimate or 0 for tp in plans}
    out: list[list[tuple[str, str]]] = []
    small: list[tuple[str, str]] = []
    for name, sql in items:
        if rows.get(name, 0) > SMALL_TABLE_ROWS:
            out.append([(name, sql)])
            continue
        if len(small) >= GROUP_STATEMENTS:
            out.append(small)
            small = []
        small.append((name, sql))
    return out + ([small] if small else [])


def run_constraint(
    target: Dialect, sql: str, r: TableResult, *, level: int = logging.DEBUG, stage: str | None = None
) -> None:
    """One key, index or foreign key statement; one the target refuses fails its table (logged
    at `level`), never the run. `stage`: the seconds it took are added to `r.stages[stage]`."""
    log.debug("%s", sql)
    t0 = time.perf_counter()
    try:
        target.execute(sql)
    except XferError as exc:
        r.status = "failed"
        r.error = f"{exc}"
        log.log(level, "%s: %s", r.name, exc)
    finally:
        if stage is not None:
            r.stages[stage] = r.stages.get(stage, 0.0) + time.perf_counter() - t0

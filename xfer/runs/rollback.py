"""`xfer rollback`: undo a run -- drop exactly what it created, and its journal entries.

What a run created is what its journal recorded, step by step, with OIDs (xfer.journal). An
object is dropped only while it is still the very object the run made (same OID): a table a
later run re-created under the same name is left alone. Nothing is dropped with CASCADE, so
an object someone else made on top of the run's (a view, a foreign key) makes the rollback
stop, unchanged, naming it. Everything happens in one transaction.

Rows a run wrote into tables that existed before it (--if-exists truncate|append|replace) are
not the rollback's to judge: it names those tables, and `xfer restore` puts back what
`--backup DIR` saved.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

from xfer.core import urls
from xfer.core.errors import UsageError, XferError
from xfer.dialects import dialect_for
from xfer.dialects.base import Dialect
from xfer.dialects.postgres import journal
from xfer.dialects.postgres.catalog import JOURNAL_SCHEMA, CatalogObject


@dataclass
class RollbackPlan:
    run: journal.RunInfo
    drop: list[CatalogObject] = field(default_factory=list)
    kept: list[tuple[CatalogObject, str]] = field(default_factory=list)  # created by the run, left alone: why
    notes: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    drop_journal: bool = False  # the run created the journal's schema and is the last one in it


def plan_rollback(d: Dialect, run_id: str | None) -> RollbackPlan:
    if not journal.supported(d):
        raise UsageError(f"rollback needs a PostgreSQL target (runs are journaled there); {d.url} is {d.name}")
    runs = journal.list_runs(d)
    if not runs:
        raise UsageError(f"no run is recorded in {d.url} (no {JOURNAL_SCHEMA} journal schema, or it is empty)")
    if run_id is None:
        run = runs[-1]
    else:
        found = [r for r in runs if r.run_id == run_id]
        if not found:
            raise UsageError(
                f"no run {run_id!r} in the journal of {d.url}", hint=f"runs: {', '.join(r.run_id for r in runs[-5:])}"
            )
        run = found[0]
    if journal.busy(d, run.run_id):
        raise UsageError(f"run {run.run_id} is in progress right now", hint="stop it first, then roll it back")
    created, dropped = journal.run_objects(d, run.run_id)
    with d.conn.cursor() as cur:  # type: ignore[attr-defined]
        live = {o.key: o for o in d.catalog_objects(cur)}  # type: ignore[attr-defined]
    plan = RollbackPlan(run)
    seen: set[tuple[str, str, str, str]] = set()
    for o in created:
        if o.key in seen:
            continue
        seen.add(o.key)
        now = live.get(o.key)
        if now is None:
            continue  # gone already (dropped later in the run, or by hand)
        if now.oid != o.oid:
            plan.kept.append((o, "re-created since the run (not the object it made)"))
            continue
        plan.drop.append(o)
    _keep_schemas_with_others(plan, live)
    for t in journal.preexisting_tables(d, run.run_id):
        plan.notes.append(
            f"table {t} existed before the run, which changed its rows (--if-exists): left as it is; "
            "`xfer restore` puts back what --backup saved"
        )
    replaced = sorted({str(o) for o in dropped if o.kind == "table"})
    for what in replaced:
        plan.notes.append(f"{what} was dropped by the run (--if-exists replace); `xfer restore` puts back a --backup")
    plan.drop_journal = run.created_journal and len(runs) == 1
    plan.statements = d.drop_objects_sql(plan.drop)  # type: ignore[attr-defined]
    return plan


def _keep_schemas_with_others(plan: RollbackPlan, live: dict[tuple[str, str, str, str], CatalogObject]) -> None:
    """A schema the run created is dropped only when nothing but the run's objects is in it."""
    ours = {o.key for o in plan.drop}
    for o in [o for o in plan.drop if o.kind == "schema"]:
        others = [x for x in live.values() if x.schema == o.name and x.kind != "schema" and x.key not in ours]
        if others:
            plan.drop.remove(o)
            plan.kept.append((o, f"it holds objects the run did not create (e.g. {others[0]})"))


def apply_rollback(d: Dialect, plan: RollbackPlan) -> None:
    """Drop everything in one transaction, with the run's journal entries; raise XferError
    (nothing changed) when PostgreSQL refuses, naming the object."""
    conn = d.conn  # type: ignore[attr-defined]
    psycopg = d._psycopg  # type: ignore[attr-defined]
    S = JOURNAL_SCHEMA
    sql = ""
    try:
        with conn.transaction(), conn.cursor() as cur:
            for sql in plan.statements:
                cur.execute(sql)
            sql = "DELETE FROM the journal"
            for table in ("rejects", "chunks"):
                cur.execute(f"DELETE FROM {S}.{table} WHERE run_id = %s", (plan.run.run_id,))
            cur.execute(f"DELETE FROM {S}.runs WHERE run_id = %s", (plan.run.run_id,))  # cascades to the rest
            if plan.drop_journal:
                sql = f"DROP SCHEMA {S}"
                cur.execute(f"DROP SCHEMA {S} CASCADE")  # only the journal's own tables are in it
    except psycopg.Error as exc:
        err = d.refused(sql, exc)  # type: ignore[attr-defined]
        detail = getattr(getattr(exc, "diag", None), "message_detail", None)  # names the dependent object
        raise XferError(
            f"rollback of run {plan.run.run_id} changed nothing: {err.message}"
            + (f" ({'; '.join(detail.splitlines())})" if detail else ""),
            hint="an object outside the run depends on one the run created: drop or change it first",
        ) from None


def open_for_rollback(target_url: str, stack: ExitStack) -> Dialect:
    """The target, which must exist; the schema its URL names may be gone (a rollback drops it)."""
    d = dialect_for(urls.parse(target_url, role="target"))
    d.check_exists()
    d.connect()
    stack.callback(d.close)
    return d


def rollback(target_url: str, run_id: str | None, confirm: Callable[[RollbackPlan], bool]) -> RollbackPlan | None:
    """Plan the rollback of `run_id` (default: the latest run), let `confirm` see it, and carry
    it out if it says yes; None when it says no."""
    with ExitStack() as stack:
        d = open_for_rollback(target_url, stack)
        plan = plan_rollback(d, run_id)
        if not confirm(plan):
            return None
        apply_rollback(d, plan)
        return plan


def runs(target_url: str) -> list[tuple[journal.RunInfo, bool]]:
    """The journal's runs, oldest first, each with whether a process holds it right now."""
    with ExitStack() as stack:
        d = open_for_rollback(target_url, stack)
        if not journal.supported(d):
            raise UsageError(f"runs are journaled in PostgreSQL targets only; {d.url} is {d.name}")
        return [(r, journal.busy(d, r.run_id)) for r in journal.list_runs(d)]

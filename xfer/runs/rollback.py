"""`xfer rollback`: undo a run -- drop exactly what it created, and its journal entries.

What a run created is what its journal recorded, step by step, with OIDs (xfer.core.journal); the
target keeps it and drops things as a `JournalStore` (xfer.dialects.capabilities). An
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
from xfer.core.journal import JOURNAL_SCHEMA, CatalogObject, RunInfo
from xfer.dialects import dialect_for
from xfer.dialects.base import Dialect
from xfer.dialects.capabilities import JournalStore


@dataclass
class RollbackPlan:
    run: RunInfo
    drop: list[CatalogObject] = field(default_factory=list)
    kept: list[tuple[CatalogObject, str]] = field(default_factory=list)  # created by the run, left alone: why
    notes: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    drop_journal: bool = False  # the run created the journal's schema and is the last one in it


def _store(d: Dialect, what: str) -> JournalStore:
    """`d` as the journal's keeper; UsageError (`what` says so) for an engine that keeps none."""
    if not isinstance(d, JournalStore):
        raise UsageError(f"{what}; {d.url} is {d.name}")
    return d


def plan_rollback(d: Dialect, run_id: str | None) -> RollbackPlan:
    store = _store(d, "rollback needs a PostgreSQL target (runs are journaled there)")
    runs = store.journal_runs()
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
    if store.run_busy(run.run_id):
        raise UsageError(f"run {run.run_id} is in progress right now", hint="stop it first, then roll it back")
    created, dropped = store.run_objects(run.run_id)
    live = {o.key: o for o in store.catalogue()}
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
    for t in store.run_preexisting_tables(run.run_id):
        plan.notes.append(
            f"table {t} existed before the run, which changed its rows (--if-exists): left as it is; "
            "`xfer restore` puts back what --backup saved"
        )
    replaced = sorted({str(o) for o in dropped if o.kind == "table"})
    for what in replaced:
        plan.notes.append(f"{what} was dropped by the run (--if-exists replace); `xfer restore` puts back a --backup")
    plan.drop_journal = run.created_journal and len(runs) == 1
    plan.statements = store.drop_objects_sql(plan.drop)
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
    (nothing changed) when the target refuses, naming the object."""
    store = _store(d, "rollback needs a PostgreSQL target (runs are journaled there)")
    try:
        store.drop_run(plan.run.run_id, plan.statements, plan.drop_journal)
    except XferError as exc:
        raise XferError(
            f"rollback of run {plan.run.run_id} changed nothing: {exc.message}",
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


def runs(target_url: str) -> list[tuple[RunInfo, bool]]:
    """The journal's runs, oldest first, each with whether a process holds it right now."""
    with ExitStack() as stack:
        store = _store(open_for_rollback(target_url, stack), "runs are journaled in PostgreSQL targets only")
        return [(r, store.run_busy(r.run_id)) for r in store.journal_runs()]

"""The plan of a run: from the source's catalogue and the options (or a mapping file) to what
the target gets. `make_plan` chooses: a mapping file's own planning (`planning.mapped`), or every
selected table translated as it is (`planning.build`)."""

from __future__ import annotations

from xfer.core.naming import Namer
from xfer.core.options import Options
from xfer.core.schema import Table
from xfer.dialects.base import Dialect
from xfer.planning.behaviour import find, source_facts, views_using_like
from xfer.planning.build import Plan, build_plan, plan_trigger, select_tables
from xfer.planning.mapped import plan_mapping


def source_tables(source: Dialect, options: Options) -> list[Table] | None:
    """The selected source tables, introspected (None with a mapping file: the mapping
    selects and checks its own tables)."""
    if options.mapping is not None:
        return None
    names = select_tables(
        source.list_tables(), options.selection.tables, options.selection.exclude, where=str(source.url)
    )
    return source.introspect(names)


def make_plan(
    source: Dialect,
    target: Dialect,
    options: Options,
    tables: list[Table] | None = None,
    *,
    behaviour: bool = True,
    scan: bool = True,
) -> Plan:
    """The plan; `behaviour=False` leaves out the behaviour section, which only the plan and the
    reports show; `scan=False` finds its items in the catalogue only, without reading the data
    (`migrate`: a full scan of every table before the copy would cost as much as reading it; the
    copy counts the zero dates itself, `behaviour.copied`)."""
    if options.mapping is not None:
        plan = plan_mapping(options.mapping, source, target, options)
        if behaviour:
            plan.behaviour = find(plan.tables, source_facts(source, []), options)
        return plan
    if tables is None:
        tables = source_tables(source, options) or []
    views = source.list_views()
    plan = build_plan(source, target, tables, options, views)
    namer = Namer([], [], target.max_identifier_length, options.policies.identifiers)
    namer.tables = {tp.source.name: tp.target.name for tp in plan.tables}
    namer.columns = {tp.source.name: {s.name: t.name for s, t in zip(tp.source.columns, tp.target.columns, strict=True)}
                     for tp in plan.tables}  # fmt: skip
    for trig in source.list_triggers():
        plan.triggers.append(plan_trigger(trig, source, target, namer))
    for tr in plan.triggers:
        if tr.status == "not translated":
            plan.notes.append(
                f"trigger {tr.name!r} on {tr.table} not migrated: {tr.reason}; recreate it in the target if needed"
            )
    plan.notes.extend(source.catalogue_notes())
    if behaviour:
        plan.behaviour = find(plan.tables, source_facts(source, tables if scan else []), options)
        plan.behaviour += views_using_like(plan.tables, plan.views)
    return plan

"""A plan as `xfer plan` prints it: the run's notes, then per table its columns (source type ->
target type, with the rule or decision behind each), notes and DDL; then renames, views and
triggers, each said to be created (translated) or not, and why."""

from __future__ import annotations

from xfer.planning.build import Plan, TablePlan
from xfer.report.text import behaviour_lines


def render_plan(plan: Plan) -> str:
    """The plan as text, every line ended by a newline ("" for an empty plan)."""
    lines = [f"note: {note}" for note in plan.notes]
    lines.extend(f"note: {h.phase} hook ({h.at}) on the {h.on}: {h.sql}" for h in plan.before + plan.after)
    if plan.policies:  # rules that apply if the data holds such values: not findings
        lines.append("\n== policies")
        lines.extend(f"  {policy}" for policy in plan.policies)
    if plan.collations:  # created once, before the tables
        lines.append("\n== collations (created in the target schema)")
        lines.extend(
            f"  {d.name}: ICU {d.locale}, {'deterministic' if d.deterministic else 'non-deterministic'}"
            for d in plan.collations
        )
    for tp in plan.tables:
        lines.extend(_table_lines(tp))
    if plan.renames:
        lines.append("\n== renames")
        lines.extend(f"  {rn}" for rn in plan.renames)
    if plan.views:
        lines.append("\n== views")
        for v in plan.views:
            if v.sql:
                lines.append(f"  {v.name}: created as {v.target_name} (translated)")
                lines.append("    " + v.sql)
            else:
                lines.append(f"  {v.name}: NOT created ({v.reason})")
    if plan.triggers:
        lines.append("\n== triggers")
        for tr in plan.triggers:
            if tr.statements:
                lines.append(f"  {tr.name} on {tr.table}: created (translated)")
                lines.extend("    " + sql.replace("\n", "\n    ") + ";" for sql in tr.statements)
            else:
                lines.append(f"  {tr.name} on {tr.table}: NOT created ({tr.reason})")
    if plan.behaviour:
        lines.append("")
        lines.append("== " + behaviour_lines(plan.behaviour)[0].rstrip(":"))
        lines.extend(behaviour_lines(plan.behaviour)[1:])
    return "".join(line + "\n" for line in lines)


def _table_lines(tp: TablePlan) -> list[str]:
    # a split table's parts are named "orig -> part" already: no second arrow for them
    shown = tp.source.name == tp.target.name or tp.source.name.endswith(f" -> {tp.target.name}")
    rename = "" if shown else f" -> {tp.target.name}"
    est = f" (~{tp.source.row_estimate:,} rows)" if tp.source.row_estimate is not None else ""
    lines = [f"\n== {tp.source.name}{rename}{est}"]
    names = [
        s.name if s.name == t.name else f"{s.name} -> {t.name}"
        for s, t in zip(tp.source.columns, tp.target.columns, strict=True)
    ]
    width = max(len(n) for n in names)
    for name, sc, tc in zip(names, tp.source.columns, tp.target.columns, strict=True):
        flag = "" if sc.nullable else " NOT NULL"
        lines.append(f"  {name.ljust(width)}  {sc.native_type} -> {tc.native_type}{flag}")
        lines.extend(f"  {''.ljust(width)}    {why}" for why in tp.column_notes.get(sc.name, []))
    lines.extend(f"  note: {note}" for note in tp.notes)
    lines.append("  -- DDL")
    lines.extend("  " + sql.replace("\n", "\n  ") + ";" for sql in tp.ddl)
    return lines

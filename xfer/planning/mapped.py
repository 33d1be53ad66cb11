"""A mapping file applied to a source catalogue: the plan `migrate`, `plan` and `verify` share.

Every name the file uses is checked against the source (tables, columns, types) and the
target (type names), every row filter is tried in the source (`WHERE (...) AND 1=0`, which
reads nothing) and every expression in DuckDB over no rows, all before anything changes.
"""

from __future__ import annotations

import fnmatch
from dataclasses import replace

import pyarrow as pa

from xfer.core.errors import UsageError, XferError
from xfer.core.naming import Namer, shorten
from xfer.core.options import Options
from xfer.core.schema import Column, Table
from xfer.core.typemap import TypeMap, default_map
from xfer.dialects.base import Dialect
from xfer.mapping.model import Mapping, MergeSpec, Output, TableSpec
from xfer.mapping.problems import Problems, did_you_mean
from xfer.mapping.typerules import first_match
from xfer.planning.build import Plan, TablePlan, run_policies, translate
from xfer.planning.checks import check_cast, check_type, check_type_rules, probe_filters, verify_settings
from xfer.planning.collations import Collations
from xfer.planning.draft import Draft
from xfer.planning.hooks import bind_hooks
from xfer.planning.keys import plan_keys
from xfer.planning.read import MappedRead, Op
from xfer.planning.shape import OutCol, shape


def plan_mapping(m: Mapping, source: Dialect, target: Dialect, options: Options) -> Plan:
    problems = Problems(m.marks)
    available = source.list_tables()
    _check_table_names(m, available, problems)
    selected = _select(m, available, options, problems, str(source.url))

    plan_notes: list[str] = []
    merged_into = {name: mg for mg in m.merges.values() for name, _ in mg.sources}
    singles = [n for n in available if n in selected and n not in merged_into]
    merges = []
    for mg in m.merges.values():
        missing = [n for n, _ in mg.sources if n not in selected]
        if any(n not in available for n, _ in mg.sources):
            continue  # already a problem
        if missing and not (options.selection.tables or options.selection.exclude):
            problems.add(
                mg.path,
                f"merge into {mg.target!r} needs {', '.join(map(repr, missing))}, which include/exclude leave out",
                "select every table it merges",
                key=True,
            )
        elif missing:  # --tables/--exclude picked a part of the file: say what is left out
            plan_notes.append(f"merge into {mg.target!r} skipped: {', '.join(missing)} not selected")
        else:
            merges.append(mg)
    for name in m.tables:
        if name in available and name not in selected:
            plan_notes.append(f"tables.{name} is not migrated: include/exclude or --tables/--exclude leave it out")
    if not singles and not merges:
        problems.raise_if_any()
        raise UsageError(f"no tables to migrate in {source.url}", hint="check include/exclude and --tables/--exclude")
    needed = list(dict.fromkeys(singles + [n for mg in merges for n, _ in mg.sources]))
    tables = {t.name: t for t in source.introspect(needed)}

    drafts: list[Draft] = []
    for name in singles:
        spec = m.tables.get(name) or TableSpec(name, ("tables", name), [Output(path=("tables", name), target=name)])
        for out in spec.outputs:
            drafts.append(_single(tables[name], spec, out, problems))
    for mg in merges:
        drafts.append(_merged(mg, tables, problems))
    _unique_targets(drafts, target, problems)
    check_type_rules(m, source, target, drafts, plan_notes, problems)
    for d in drafts:
        for c in d.cols:
            if c.type is not None:
                check_type(c.type, c.path + ("type",), target, m, d.notes, problems)
    probe_filters(drafts, source, problems)
    problems.raise_if_any()  # the rest needs every column in place

    plan_keys(drafts, problems)
    namer = _namer(drafts, target)
    types = default_map(source.name, target.name)
    collations = Collations.for_run(target, types, options)
    plans = [_translate(d, m, target, drafts, problems, namer, types, options, collations) for d in drafts]
    problems.raise_if_any()

    before, after = bind_hooks(m)  # not notes: `plan` shows them, `migrate` notes each as it runs
    plan = Plan(plans, plan_notes, before, after, policies=run_policies(target, options))
    plan.collations = collations.definitions()
    return plan


# -- which tables ---------------------------------------------------------------------------
def _check_table_names(m: Mapping, available: list[str], problems: Problems) -> None:
    for name, spec in m.tables.items():
        if name not in available:
            problems.add(
                spec.path, f"no table {name!r} in the source", did_you_mean(name, available, listing="tables"), key=True
            )
    owner: dict[str, str] = {}
    for mg in m.merges.values():
        for name, sel in mg.sources:
            if name not in available:
                problems.add(
                    sel.path,
                    f"no table {name!r} in the source",
                    did_you_mean(name, available, listing="tables"),
                    key=True,
                )
            elif name in m.tables:
                problems.add(
                    m.tables[name].path,
                    f"table {name!r} is merged into {mg.target!r}, so it cannot have its own entry",
                    f"move its where/only/columns under merge.{mg.target}.from.{name}",
                    key=True,
                )
            elif name in owner:
                problems.add(
                    sel.path,
                    f"table {name!r} is already merged into {owner[name]!r}",
                    "a source table can go into one merge only",
                    key=True,
                )
            owner.setdefault(name, mg.target)


def _select(m: Mapping, available: list[str], options: Options, problems: Problems, where: str) -> set[str]:
    """Source tables picked by the globs: --tables/--exclude when given, else include/exclude."""
    picked: dict[str, list[str]] = {}
    for flag, cli, key, file in (
        ("--tables", options.selection.tables, "include", m.include),
        ("--exclude", options.selection.exclude, "exclude", m.exclude),
    ):
        globs = list(cli) if cli else file
        for i, g in enumerate(globs):
            if fnmatch.filter(available, g):
                continue
            hint = did_you_mean(g, available, listing="tables")
            if cli:
                raise UsageError(f"{flag} {g!r} matches no table in {where}", hint=hint)
            problems.add((key, i), f"{key} glob {g!r} matches no table in the source", hint)
        picked[key] = globs
    include = picked["include"] or ["*"]
    return {
        t
        for t in available
        if any(fnmatch.fnmatchcase(t, g) for g in include)
        and not any(fnmatch.fnmatchcase(t, g) for g in picked["exclude"])
    }


# -- what each target table is made of -------------------------------------------------------
def _single(table: Table, spec: TableSpec, out: Output, problems: Problems) -> Draft:
    shaped = shape(table, out, problems)
    _unique_columns(shaped.cols, out.target, problems)
    label = f"{table.name} -> {out.target}" if spec.split else table.name
    path = out.path if spec.split else (out.path + ("rename",) if out.target != table.name else out.path)
    d = Draft(label, out.target, path, [shaped], shaped.cols, out.verify, out.primary_key, split=spec.split)
    if out.where:
        d.notes.append(f"rows: WHERE {out.where}")
    return d


def _merged(mg: MergeSpec, tables: dict[str, Table], problems: Problems) -> Draft:
    inputs = [shape(tables[name], sel, problems) for name, sel in mg.sources]
    for s in inputs:
        _unique_columns(s.cols, mg.target, problems)
    order: dict[str, OutCol] = {}
    variants: dict[str, list[pa.DataType]] = {}
    for s in inputs:
        for c in s.cols:
            first = order.setdefault(c.name, replace(c))
            variants.setdefault(c.name, []).append(c.arrow)
            if c.type is not None and first.type is not None and c.type != first.type:
                problems.add(
                    c.path + ("type",),
                    f"merged column {c.name!r} is given two types: {first.type!r} and {c.type!r}",
                    "give it one type",
                )
            elif c.type is not None:
                first.type = c.type
    d = Draft(
        " + ".join(n for n, _ in mg.sources),
        mg.target,
        mg.path,
        inputs,
        list(order.values()),
        mg.verify,
        mg.primary_key,
        merged=True,
    )
    d.variants = variants
    d.notes.append("merged from " + ", ".join(n for n, _ in mg.sources))
    for s in inputs:
        have = {c.name: (c, op) for c, op in zip(s.cols, s.read.ops, strict=True)}
        for c in d.cols:
            if c.name not in have:
                d.notes.append(f"{s.table.name} has no column {c.name!r}: NULL in its rows")
                c.nullable = True
            elif have[c.name][0].nullable:
                c.nullable = True
        s.read.ops = [have[c.name][1] if c.name in have else Op(c.name, "const") for c in d.cols]
        if s.sel.where:
            d.notes.append(f"rows of {s.table.name}: WHERE {s.sel.where}")
    disc = mg.discriminator
    if disc is not None:
        if disc.column in order:
            problems.add(
                disc.path,
                f"discriminator column {disc.column!r} is also a column of the merged tables",
                "choose another name",
            )
        shown = " | ".join(repr(v) for v in disc.values.values())
        d.discriminator = disc.column
        d.cols.append(OutCol(disc.column, pa.string(), disc.column, f"= {shown}", disc.path, nullable=False))
        for (name, _), s in zip(mg.sources, inputs, strict=True):
            s.read.ops.append(Op(disc.column, "const", value=disc.values[name]))
    return d


def _unique_columns(cols: list[OutCol], table: str, problems: Problems) -> None:
    seen: dict[str, OutCol] = {}
    for c in cols:
        if c.name in seen:
            first = seen[c.name]
            renamed = c.column is not None and c.label != c.name
            problems.add(
                c.path + ("rename",) if renamed else c.path,
                f"two columns would be named {c.name!r} in target table {table!r} ({first.label!r} and {c.label!r})",
                "rename one of them",
                key=not renamed,
            )
        seen.setdefault(c.name, c)


def _unique_targets(drafts: list[Draft], target: Dialect, problems: Problems) -> None:
    seen: dict[str, Draft] = {}
    for d in drafts:
        key = shorten(d.target, target.max_identifier_length)
        if key in seen:
            problems.add(
                d.path,
                f"{d.label!r} and {seen[key].label!r} would both write target table {d.target!r}",
                "rename one of them (or merge them with `merge:`)",
                key=True,
            )
        seen.setdefault(key, d)


# -- types -------------------------------------------------------------------------------------
def _namer(drafts: list[Draft], target: Dialect) -> Namer:
    """One namer over every output table, so foreign keys and indexes agree on names. A
    mapping's names are the file's own choices: kept as written (shortened only past the
    target's identifier limit)."""
    tables = [
        Table(d.target, [Column(c.name, "", pa.null()) for c in d.cols], indexes=list(d.keys.indexes if d.keys else []))
        for d in drafts
    ]
    return Namer(tables, [], target.max_identifier_length, "preserve")


def _translate(
    d: Draft,
    m: Mapping,
    target: Dialect,
    drafts: list[Draft],
    problems: Problems,
    namer: Namer,
    types: TypeMap | None,
    options: Options,
    collations: Collations,
) -> TablePlan:
    vcols = []
    for i, c in enumerate(d.cols):
        vc = _virtual_column(c)
        override, given = c.type, c.path + ("type",)
        if override is None and c.column is not None:
            rule = first_match(m.types, d.inputs[0].table.name, c.column.name, c.column.native_type)
            if rule is not None:
                override, given = rule.target, rule.path + ("target",)
                d.notes.append(f"{c.name}: {c.column.native_type} -> {rule.target} (type rule at {m.where(rule.path)})")
        if override is not None:
            d.overrides[i] = (override, given)
            vc = replace(vc, arrow=target.arrow_type(override), meta={})
        else:
            try:
                target.native_type(vc)
            except XferError:
                problems.add(
                    c.path,
                    f"column {c.name!r} holds {c.arrow}, which {target.name} has no type for",
                    "give it a `type:`",
                )
                vc = replace(vc, arrow=pa.string())
        vcols.append(vc)
    assert d.keys is not None
    virtual = replace(d.keys, columns=vcols, row_estimate=_estimate(d))
    selected = {x.target for x in drafts}
    tp = translate(virtual, target, selected, namer=namer, types=types, options=options, collations=collations)
    for i, (native, _given) in d.overrides.items():
        col = tp.target.columns[i]
        kept = {k: v for k, v in col.meta.items() if k.startswith("collation")}
        tp.target.columns[i] = replace(
            col, native_type=native, arrow=target.arrow_type(native), meta={**target.column_meta(native), **kept}
        )
    for i, c in enumerate(d.cols):
        for src in d.variants.get(c.name, [c.arrow]):
            col = tp.target.columns[i]
            check_cast(c, src, col.arrow, col.native_type, d.overrides.get(i, (None, c.path))[1], problems)
    check = verify_settings(d, tp.target, problems)
    label = Table(
        d.label, [_label_column(c, vc) for c, vc in zip(d.cols, vcols, strict=True)], row_estimate=virtual.row_estimate
    )
    mapped = MappedRead(d.label, [s.read for s in d.inputs], tp.target.arrow_schema, check)
    return TablePlan(label, tp.target, d.notes + tp.notes, mapped=mapped, origin=virtual)


def _virtual_column(c: OutCol) -> Column:
    if c.column is not None:
        meta = dict(c.column.meta)
        if c.collation:
            meta["collation_override"] = c.collation
        return replace(c.column, name=c.name, arrow=c.arrow, nullable=c.nullable, meta=meta)
    # a computed column has no source type for the default type rules to match
    return Column(c.name, c.label_type, c.arrow, nullable=c.nullable, meta={"computed": True})


def _label_column(c: OutCol, vc: Column) -> Column:
    kind = c.label_type + "".join(f" | {t}" for t in c.transforms)
    name = c.label if c.column is not None else c.name
    return Column(name, kind, vc.arrow, nullable=c.nullable)


def _estimate(d: Draft) -> int | None:
    ests = [s.table.row_estimate for s in d.inputs]
    return None if any(e is None for e in ests) else sum(e or 0 for e in ests)

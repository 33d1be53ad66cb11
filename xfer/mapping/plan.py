"""A mapping file applied to a source catalogue: the plan `migrate`, `plan` and `verify` share.

Every name the file uses is checked against the source (tables, columns, types) and the
target (type names), every row filter is tried in the source (`WHERE (...) AND 1=0`, which
reads nothing) and every expression in DuckDB over no rows, all before anything changes.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field, replace

import pyarrow as pa

from ..dialects.base import Dialect
from ..errors import CopyError, UsageError, XferError
from ..options import Options
from ..plan import Plan, TablePlan, shorten, translate
from ..schema import Column, ForeignKey, Index, Table
from .hooks import bind_hooks
from .model import Mapping, MergeSpec, Output, Selection, TableSpec, TableVerify
from .problems import Path, Problems, did_you_mean
from .read import Check, MappedRead, Op
from .shape import OutCol, Shaped, shape
from .typerules import base_name, first_match, rule_matches


@dataclass
class Draft:
    """One target table, before translation to the target's types."""

    label: str
    target: str
    path: Path  # where its name was written
    inputs: list[Shaped]
    cols: list[OutCol]
    verify: TableVerify
    primary_key: list[str] | None
    split: bool = False
    merged: bool = False
    notes: list[str] = field(default_factory=list)
    keys: Table | None = None  # primary key, indexes, foreign keys in target column names
    overrides: dict[int, tuple[str, Path]] = field(default_factory=dict)  # column -> (target type, where given)
    variants: dict[str, list[pa.DataType]] = field(default_factory=dict)  # merged column -> its inputs' types
    discriminator: str | None = None


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
        if missing:
            plan_notes.append(f"merge into {mg.target!r} skipped: {', '.join(missing)} not selected")
        else:
            merges.append(mg)
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
    _check_type_rules(m, source, target, drafts, plan_notes, problems)
    for d in drafts:
        for c in d.cols:
            if c.type is not None:
                _check_type(c.type, c.path + ("type",), target, m, d.notes, problems)
    _probe_filters(drafts, source, problems)
    problems.raise_if_any()  # the rest needs every column in place

    _keys(drafts, problems)
    plans = [_translate(d, m, target, drafts, problems) for d in drafts]
    problems.raise_if_any()

    before, after = bind_hooks(m)
    plan_notes.extend(f"{h.phase} hook ({h.at}) on the {h.on}: {h.sql}" for h in before + after)
    return Plan(plans, plan_notes, before, after)


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
        ("--tables", options.tables, "include", m.include),
        ("--exclude", options.exclude, "exclude", m.exclude),
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
            order.setdefault(c.name, replace(c))
            variants.setdefault(c.name, []).append(c.arrow)
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


# -- keys, indexes, foreign keys --------------------------------------------------------------
def _keys(drafts: list[Draft], problems: Problems) -> None:
    one_to_one = {d.inputs[0].table.name: d for d in drafts if not d.split and not d.merged}
    migrated = {s.table.name for d in drafts for s in d.inputs}
    for d in drafts:
        names = [c.name for c in d.cols]
        pk = _primary_key(d, names, problems)
        if d.merged:
            indexes, fks = _merged_indexes(d, names), []
        else:
            indexes, fks = _single_indexes(d), _foreign_keys(d, one_to_one, migrated)
        d.keys = Table(d.target, [], pk, indexes, fks)


def _primary_key(d: Draft, names: list[str], problems: Problems) -> list[str]:
    if d.primary_key is not None:
        for i, c in enumerate(d.primary_key):
            if c not in names:
                problems.add(
                    d.inputs[0].sel.path + ("primary_key", i) if not d.merged else d.path + ("primary_key", i),
                    f"primary key column {c!r} is not a column of target table {d.target!r}",
                    did_you_mean(c, names, listing="its columns"),
                )
        return list(d.primary_key)
    keys = []
    for s in d.inputs:
        missing = [c for c in s.table.primary_key if c not in s.renames]
        if missing:
            d.notes.append(f"no primary key: {s.table.name}.{', '.join(missing)} not copied")
            return []
        keys.append([s.renames[c] for c in s.table.primary_key])
    if not d.merged:
        return keys[0]
    if any(k != keys[0] for k in keys):
        d.notes.append("no primary key: the merged tables' keys differ (set primary_key:)")
        return []
    if not keys[0]:
        return []
    if d.discriminator is None:
        d.notes.append("primary key kept: the merged tables must not share key values (or add a discriminator)")
        return keys[0]
    return [d.discriminator, *keys[0]]


def _single_indexes(d: Draft) -> list[Index]:
    s = d.inputs[0]
    out = []
    for ix in s.table.indexes:
        missing = [c for c in ix.columns if c not in s.renames]
        if missing:
            d.notes.append(f"index {ix.name!r} skipped: {', '.join(missing)} not copied")
            continue
        name = f"{d.target}_{ix.name}" if d.split else ix.name
        out.append(Index(name, [s.renames[c] for c in ix.columns], ix.unique))
    return out


def _merged_indexes(d: Draft, names: list[str]) -> list[Index]:
    s = d.inputs[0]
    out = []
    for ix in s.table.indexes:
        cols = [s.renames.get(c) for c in ix.columns]
        if ix.unique or any(c is None or c not in names for c in cols):
            d.notes.append(f"index {ix.name!r} of {s.table.name} not created on the merged table")
            continue
        out.append(Index(f"{d.target}_{ix.name}", [c for c in cols if c], False))
    return out


def _foreign_keys(d: Draft, one_to_one: dict[str, Draft], migrated: set[str]) -> list[ForeignKey]:
    s = d.inputs[0]
    out = []
    for fk in s.table.foreign_keys:
        ref = one_to_one.get(fk.ref_table)
        why = None
        if any(c not in s.renames for c in fk.columns):
            why = "a column of it is not copied"
        elif ref is None and fk.ref_table not in migrated:
            why = f"it references {fk.ref_table!r}, which is not migrated"
        elif ref is None:
            why = f"it references {fk.ref_table!r}, which is split or merged (no single target table)"
        elif any(c not in ref.inputs[0].renames for c in fk.ref_columns):
            why = f"a referenced column of {fk.ref_table!r} is not copied"
        if why or ref is None:
            d.notes.append(f"foreign key {fk.name!r} skipped: {why}")
            continue
        ref_cols = [ref.inputs[0].renames[c] for c in fk.ref_columns]
        out.append(
            ForeignKey(fk.name, [s.renames[c] for c in fk.columns], ref.target, ref_cols, fk.on_delete, fk.on_update)
        )
    return out


# -- types -------------------------------------------------------------------------------------
def _translate(d: Draft, m: Mapping, target: Dialect, drafts: list[Draft], problems: Problems) -> TablePlan:
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
    clashing = _clashing(drafts)
    tp = translate(virtual, target, {x.target for x in drafts}, clashing)
    for i, (native, _given) in d.overrides.items():
        col = tp.target.columns[i]
        tp.target.columns[i] = replace(
            col, native_type=native, arrow=target.arrow_type(native), meta=target.column_meta(native)
        )
    for i, c in enumerate(d.cols):
        for src in d.variants.get(c.name, [c.arrow]):
            col = tp.target.columns[i]
            _check_cast(c, src, col.arrow, col.native_type, d.overrides.get(i, (None, c.path))[1], problems)
    check = _check(d, tp.target, problems)
    label = Table(
        d.label, [_label_column(c, vc) for c, vc in zip(d.cols, vcols, strict=True)], row_estimate=virtual.row_estimate
    )
    mapped = MappedRead(d.label, [s.read for s in d.inputs], tp.target.arrow_schema, check)
    return TablePlan(label, tp.target, d.notes + tp.notes, mapped=mapped)


def _virtual_column(c: OutCol) -> Column:
    if c.column is not None:
        return replace(c.column, name=c.name, arrow=c.arrow, nullable=c.nullable, meta=dict(c.column.meta))
    return Column(c.name, c.label_type, c.arrow, nullable=c.nullable)


def _label_column(c: OutCol, vc: Column) -> Column:
    kind = c.label_type + "".join(f" | {t}" for t in c.transforms)
    name = c.label if c.column is not None else c.name
    return Column(name, kind, vc.arrow, nullable=c.nullable)


def _estimate(d: Draft) -> int | None:
    ests = [s.table.row_estimate for s in d.inputs]
    return None if any(e is None for e in ests) else sum(e or 0 for e in ests)


def _clashing(drafts: list[Draft]) -> set[str]:
    seen: dict[str, int] = {}
    for name in [ix.name for d in drafts if d.keys for ix in d.keys.indexes] + [d.target for d in drafts]:
        seen[name] = seen.get(name, 0) + 1
    return {n for n, k in seen.items() if k > 1}


def _check_type(native: str, path: Path, target: Dialect, m: Mapping, notes: list[str], problems: Problems) -> None:
    if target.type_exists(native) is False:
        base, params = re.match(r"\s*([^(\[]*)(.*)", native).groups()  # type: ignore[union-attr]
        if any(h.on == "target" and base.strip().lower() in h.sql.lower() for h in m.before):
            # CREATE EXTENSION citext / CREATE DOMAIN / CREATE TYPE in a before hook: not there yet
            note = f"type {native!r} does not exist in the target yet: a before hook is expected to create it"
            if note not in notes:
                notes.append(note)
            return
        hint = did_you_mean(base.strip(), sorted(target.known_type_names()), listing="types")
        hint = re.sub(r"'([^']*)'", lambda g: repr(g[1] + params), hint) if hint.startswith("did you") else hint
        problems.add(path, f"{target.name} has no type {native!r}", hint)


def _check_cast(c: OutCol, src: pa.DataType, dst: pa.DataType, native: str, path: Path, problems: Problems) -> None:
    if src == dst:
        return
    try:
        pa.array([], src).cast(dst)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        problems.add(
            path,
            f"column {c.name!r}: values of type {src} cannot become {native}",
            "choose another type, or convert with `expr:`",
        )


def _check(d: Draft, table: Table, problems: Problems) -> Check:
    """Verification settings, in the target's (possibly shortened) column names."""
    names = [c.name for c in d.cols]
    final = {c.name: t.name for c, t in zip(d.cols, table.columns, strict=True)}
    v = d.verify
    check = Check(skip=v.skip)
    for i, name in enumerate(v.ignore_columns):
        if name in final:
            check.ignored.add(final[name])
        else:
            problems.add(
                v.path + ("ignore_columns", i),
                f"{name!r} is not a column of target table {d.target!r}",
                did_you_mean(name, names, listing="its columns"),
            )
    for c, t in zip(d.cols, table.columns, strict=True):
        floating = pa.types.is_floating(t.arrow)
        if c.verify.ignore:
            check.ignored.add(t.name)
        if c.verify.float_digits is not None and not floating:
            problems.add(
                c.path + ("verify", "float_digits"),
                f"float_digits applies to floating-point columns; {c.name!r} is {t.native_type}",
                "remove it",
            )
        digits = c.verify.float_digits or (v.float_digits if floating else None)
        if digits and floating:
            check.float_digits[t.name] = digits
    if check.ignored:
        d.notes.append("verification leaves out: " + ", ".join(sorted(check.ignored)))
    if check.float_digits:
        d.notes.append(
            "verification compares floats to "
            + ", ".join(f"{n}: {k} significant digits" for n, k in sorted(check.float_digits.items()))
        )
    if check.skip:
        d.notes.append("not verified (verify: false)")
    return check


def _check_type_rules(
    m: Mapping, source: Dialect, target: Dialect, drafts: list[Draft], notes: list[str], problems: Problems
) -> None:
    known = source.known_type_names()
    cols = [(s.table.name, c) for d in drafts for s in d.inputs for c in s.table.columns]
    for i, rule in enumerate(m.types):
        _check_type(rule.target, rule.path + ("target",), target, m, notes, problems)
        if rule.source is not None and known:
            name = base_name(rule.source)
            if name not in known and not any(ch in name for ch in "*?["):
                problems.add(
                    rule.path + ("match", "source"),
                    f"{source.name} has no type {name!r}",
                    did_you_mean(name, sorted(known), listing="types"),
                )
                continue
        if not any(rule_matches(rule, t, c.name, c.native_type) for t, c in cols):
            notes.append(f"type rule {i + 1} ({m.where(rule.path)}) matches no column")


_COLUMN_IN_MESSAGE = re.compile(r"column ['\"`]?([\w$]+)", re.I)


def _probe_filters(drafts: list[Draft], source: Dialect, problems: Problems) -> None:
    """Run each row filter in the source over no rows: the engine checks names and syntax."""
    for d in drafts:
        for s in d.inputs:
            where = s.sel.where
            if not where:
                continue
            try:
                for _ in source.read_batches(s.read.table, 1, where=f"({where}) AND 1=0"):
                    pass
            except CopyError as exc:
                msg = exc.message.split(": ", 1)[-1]
                msg = re.sub(r"""^\(\d+, ["'](.*)["']\)$""", r"\1", msg)  # pymysql's (errno, "text")
                names = [c.name for c in s.table.columns]
                m = _COLUMN_IN_MESSAGE.search(msg)
                hint = did_you_mean(m[1], names, listing="columns") if m and m[1] not in names else None
                problems.add(
                    _where_path(s.sel),
                    f"the source rejects the row filter of {s.table.name!r}: {msg}",
                    hint or "`where` is an SQL condition in the source's dialect",
                )


def _where_path(sel: Selection) -> Path:
    return sel.path + ("where",)

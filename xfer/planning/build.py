"""Planning: which tables, and how each becomes a table of the target engine.

A plan is computed from the source's catalogue and the target dialect alone; it changes
nothing, so `xfer plan` prints exactly what `xfer migrate` will do: per column the source type,
the target type, the rule or data-aware decision behind it and the value policies that apply;
every rename; every schema object and what happens to it (views, triggers, checks).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from xfer.core import typemap
from xfer.core.errors import UsageError
from xfer.core.naming import Namer, Rename, shorten
from xfer.core.options import Options
from xfer.core.report import Behaviour
from xfer.core.schema import Check, Column, ForeignKey, Index, Table, Trigger, View
from xfer.dialects.base import Dialect
from xfer.dialects.capabilities import EnumTypes, SQLTranslator, TriggerTarget, ViewTarget
from xfer.dialects.sqlexpr import tables_in
from xfer.planning.collations import Collations

if TYPE_CHECKING:
    from xfer.planning.read import MappedRead


@dataclass
class TablePlan:
    source: Table
    target: Table
    notes: list[str] = field(default_factory=list)
    # per source column: the rule, data-aware decision and value policies that apply to it
    column_notes: dict[str, list[str]] = field(default_factory=dict)
    #: set by a mapping file: how the rows are read and shaped, and what verification compares
    #: (then `source` describes the mapped rows, and its name labels the table in reports)
    mapped: MappedRead | None = None
    #: the target DDL in the order `migrate` runs it (filled by `xfer.plan()`; empty otherwise)
    ddl: list[str] = field(default_factory=list)
    #: with a mapping: the source columns (with their catalogue facts) the target's were made from,
    #: parallel to `target.columns` (`source` then holds labels); None: `source` is that
    origin: Table | None = None

    @property
    def json_columns(self) -> set[str]:
        return {c.name for c in self.target.columns if c.meta.get("json")}

    def read(self, source: Dialect, batch_rows: int, policies: Any = None) -> Iterator[pa.RecordBatch]:
        """The source's rows as the target is to hold them (column for column, before the
        cast to the target's types): what is copied, and what verification hashes.
        `policies` (xfer.policies.ValuePolicies) counts or rejects values the target cannot hold."""
        if self.mapped is None:
            return source.read_batches(self.source, batch_rows, policies=policies)
        return self.mapped.batches(source, batch_rows, policies=policies)

    @property
    def skip_verify(self) -> bool:
        return self.mapped is not None and self.mapped.check.skip

    @property
    def hash_schema(self) -> pa.Schema:
        """The columns verification compares (a mapping may leave some out or round floats)."""
        schema = self.target.arrow_schema
        return schema if self.mapped is None else self.mapped.check.schema(schema)

    def for_hash(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """A batch in the target's types -> what is hashed (both sides alike)."""
        return batch if self.mapped is None else self.mapped.check.apply(batch)


@dataclass
class ViewPlan:
    name: str  # in the source
    target_name: str
    definition: str  # the source's SELECT
    sql: str | None  # the target's CREATE VIEW, None when it cannot be translated
    status: str = "planned"  # planned | not translated | created | failed
    reason: str | None = None


@dataclass
class TriggerPlan:
    name: str
    table: str  # source table
    statements: list[str]  # the target's DDL; empty when it cannot be translated
    status: str = "planned"  # planned | not translated | created | failed
    reason: str | None = None


@dataclass
class Plan:
    tables: list[TablePlan]
    notes: list[str] = field(default_factory=list)
    #: a mapping file's hooks (xfer.mapping.hooks.BoundHook), run by `migrate` before and after the data
    before: list[Any] = field(default_factory=list)
    after: list[Any] = field(default_factory=list)
    renames: list[Rename] = field(default_factory=list)
    views: list[ViewPlan] = field(default_factory=list)
    triggers: list[TriggerPlan] = field(default_factory=list)
    policies: list[str] = field(default_factory=list)  # value policies that apply to the whole run
    #: collations the target gets before the tables (`typemap.CollationDef`s; --collations keep)
    collations: list[Any] = field(default_factory=list)
    #: what the application meets after cutover, per column (`xfer.planning.behaviour`)
    behaviour: list[Behaviour] = field(default_factory=list)

    @property
    def status(self) -> str:
        """ "ok": a plan is made or a UsageError is raised (the reports' status word)."""
        return "ok"


def select_tables(available: list[str], include: tuple[str, ...], exclude: tuple[str, ...], where: str) -> list[str]:
    """Apply --tables / --exclude globs; a glob that matches nothing is a usage error
    (a typo must not silently migrate nothing)."""
    chosen = list(available)
    if include:
        for g in include:
            if not fnmatch.filter(available, g):
                raise UsageError(f"--tables {g!r} matches no table in {where}", hint=_suggest(g, available))
        chosen = [t for t in available if any(fnmatch.fnmatchcase(t, g) for g in include)]
    for g in exclude:
        if not fnmatch.filter(available, g):
            raise UsageError(f"--exclude {g!r} matches no table in {where}", hint=_suggest(g, available))
    chosen = [t for t in chosen if not any(fnmatch.fnmatchcase(t, g) for g in exclude)]
    if not chosen:
        raise UsageError(f"no tables to migrate in {where}" + (" after --exclude" if exclude else ""))
    return chosen


def _suggest(glob: str, names: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(glob, names, n=3)
    if close:
        return "did you mean " + ", ".join(repr(c) for c in close) + "?"
    return "tables there: " + (", ".join(names[:10]) + (" ..." if len(names) > 10 else "") if names else "none")


def run_policies(target: Dialect, options: Options) -> list[str]:
    """The value policies that apply to every table of the run, each said as "if the data holds
    such a value, then ..." (`xfer plan` lists them under "== policies": a rule, not a finding)."""
    policies = []
    if not target.text_holds_nul:
        then = (
            "its row is rejected (--nul-bytes strip removes the byte instead)"
            if options.policies.nul_bytes == "reject"
            else "the byte is removed (counted per column in the report)"
        )
        policies.append(f"if a text value holds a NUL byte (U+0000), which PostgreSQL cannot store, then {then}")
    return policies


def build_plan(
    source: Dialect,
    target: Dialect,
    tables: list[Table],
    options: Options | None = None,
    views: list[View] | None = None,
) -> Plan:
    options = options or Options()
    views = views or []
    selected = {t.name for t in tables}
    plan = Plan([])
    if not target.supports_foreign_keys and any(t.foreign_keys for t in tables):
        plan.notes.append(f"{target.name}: foreign keys are not created (the engine cannot add them after the data)")
    namer = Namer(tables, views, target.max_identifier_length, options.policies.identifiers)
    types = typemap.default_map(source.name, target.name)
    plan.policies = run_policies(target, options)
    collations = Collations.for_run(target, types, options)
    if collations.unavailable:
        plan.notes.append(f"collations not kept: {collations.unavailable}; text columns compare byte-wise")
    for t in tables:
        plan.tables.append(
            translate(
                t,
                target,
                selected,
                namer=namer,
                types=types,
                options=options,
                source=source.name,
                collations=collations,
            )
        )
    plan.collations = collations.definitions()
    for ix_rename in [(t.name, ix.name) for t in tables for ix in t.indexes]:
        new = namer.indexes[ix_rename]
        if new != ix_rename[1]:
            namer.note("index", ix_rename[0], ix_rename[1], new)
    for v in views:
        plan.views.append(_plan_view(v, source, target, namer))
    plan.renames = namer.renames
    return plan


def _plan_view(v: View, source: Dialect, target: Dialect, namer: Namer) -> ViewPlan:
    name = namer.tables[v.name]
    if not isinstance(target, ViewTarget):
        return ViewPlan(v.name, name, v.definition, None, "not translated", f"{target.name} targets get no views")
    try:
        missing = sorted(tables_in(v.definition, source.name) - set(namer.tables))
        if missing:
            why = f"it uses {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not migrated"
            return ViewPlan(v.name, name, v.definition, None, "not translated", why)
        return ViewPlan(v.name, name, v.definition, target.view_sql(name, v.definition, source.name, namer))
    except Exception as exc:  # a view is reported, never a reason to stop the run
        return ViewPlan(v.name, name, v.definition, None, "not translated", str(exc))


def translate(
    table: Table,
    target: Dialect,
    selected: set[str],
    clashing: frozenset[str] | set[str] = frozenset(),
    *,
    namer: Namer | None = None,
    types: typemap.TypeMap | None = None,
    options: Options | None = None,
    source: str = "",
    collations: Collations | None = None,
) -> TablePlan:
    options = options or Options()
    collations = collations or Collations.for_run(target, types, options)
    namer = namer or Namer([table], [], target.max_identifier_length, options.policies.identifiers)
    notes: list[str] = []
    col_notes: dict[str, list[str]] = {}
    renamed = namer.columns[table.name]
    name = namer.tables[table.name]
    cols: list[Column] = []
    checks: list[Check] = []
    for c in table.columns:
        why: list[str] = []
        native = _target_type(c, target, types, why)
        if c.meta.get("enum") is not None and options.policies.enum == "native" and isinstance(target, EnumTypes):
            native = target.qualified(namer.extra(f"{name}_{renamed[c.name]}"))
            why.append("enum -> a PostgreSQL enum type (--enum native)")
        elif (c.meta.get("enum") is not None or c.meta.get("set") is not None) and isinstance(target, SQLTranslator):
            ck_name = shorten(f"{name}_{renamed[c.name]}_check", namer.limit)
            checks.append(target.labels_check(ck_name, renamed[c.name], c.meta))
            why.append(f"{'enum' if c.meta.get('enum') is not None else 'set'} labels kept by a CHECK constraint")
        meta = {**c.meta, **target.column_meta(native)}
        tc = replace(c, name=renamed[c.name], native_type=native, arrow=target.arrow_type(native), meta=meta)
        _carry_defaults(c, tc, target, source, table.name, namer, why)
        collations.decide(c, tc, target, why)
        if "decision" in c.meta:
            why.append(c.meta["decision"])
        why.extend(_policies(c, options))
        if why:
            col_notes[c.name] = why
        cols.append(tc)
    indexes = []
    for ix in table.indexes:
        exprs = list(ix.expressions)
        if any(exprs):
            if not isinstance(target, SQLTranslator):
                notes.append(f"index {ix.name!r} not created: {target.name} targets get no expression indexes")
                continue
            try:
                exprs = [target.check_sql(e, source, table.name, namer) if e else None for e in exprs]
            except Exception as exc:
                notes.append(f"index {ix.name!r} not created: its expression cannot be translated: {exc}")
                continue
        idx = Index(
            namer.indexes[(table.name, ix.name)],
            [renamed[c] if c else "" for c in ix.columns],
            ix.unique,
            kind=ix.kind,
            lengths=list(ix.lengths),
            descending=list(ix.descending),
            expressions=exprs,
        )
        why_ix = target.index_note(idx) if isinstance(target, SQLTranslator) else None
        if why_ix:
            notes.append(why_ix)
        indexes.append(idx)
    constraint_names = namer.constraints(
        table.name, [fk.name for fk in table.foreign_keys] + [ck.name for ck in table.checks]
    )
    fks = []
    for fk in table.foreign_keys:
        if fk.ref_table not in selected:
            notes.append(f"foreign key {fk.name!r} skipped: it references {fk.ref_table!r}, which is not migrated")
            continue
        fks.append(
            ForeignKey(
                constraint_names[fk.name],
                [renamed[c] for c in fk.columns],
                namer.tables[fk.ref_table],
                [namer.column(fk.ref_table, c) for c in fk.ref_columns],
                fk.on_delete,
                fk.on_update,
            )
        )
    for ck in table.checks:
        if not isinstance(target, SQLTranslator):
            notes.append(f"check {ck.name!r} not created ({target.name} targets get no CHECK constraints)")
            continue
        try:
            checks.append(
                Check(constraint_names[ck.name], target.check_sql(ck.expression, source, table.name, namer), ck.columns)
            )
        except Exception as exc:
            notes.append(f"check {ck.name!r} not created: {exc} (source: {ck.expression})")
    out = Table(
        name=name,
        columns=cols,
        primary_key=[renamed[c] for c in table.primary_key],
        indexes=indexes,
        foreign_keys=fks,
        row_estimate=table.row_estimate,
        comment=table.comment,
        checks=checks,
        auto_increment=table.auto_increment,
    )
    if not table.primary_key:
        notes.append("no primary key: copied as is; verification compares the rows as a multiset")
    return TablePlan(table, out, notes, col_notes)


def _target_type(c: Column, target: Dialect, types: typemap.TypeMap | None, why: list[str]) -> str:
    if types is None or c.meta.get("computed"):
        return target.native_type(c)
    found = types.target_for(c.native_type, frozenset(c.meta.get("facts", ())))
    if found is None:
        return target.native_type(c)
    native, rule = found
    if rule.source == "*":
        why.append(f"no type rule for {c.native_type!r}: carried as its text form")
    return native


def _carry_defaults(
    c: Column, tc: Column, target: Dialect, source: str, table: str, namer: Namer, why: list[str]
) -> None:
    """Defaults, generated columns and ON UPDATE, rewritten for the target (or noted)."""
    tc.default = tc.generated = None
    if not isinstance(target, SQLTranslator):
        return
    if c.generated:
        try:
            tc.generated = target.generated_sql(c.generated, source, table, namer)
            why.append("generated column" + ("" if c.generated_stored else " (VIRTUAL in the source: STORED here)"))
        except Exception as exc:
            why.append(f"generated column kept as a plain column holding the copied values: {exc}")
    elif c.default_kind:
        tc.default, note = target.default_sql(c, tc, source)
        if note:
            why.append(note)
    if c.on_update == "now":
        why.append("ON UPDATE CURRENT_TIMESTAMP -> a BEFORE UPDATE trigger")


def _policies(c: Column, options: Options) -> list[str]:
    out = []
    base = c.native_type.lower().split("(")[0].strip()
    if base in ("date", "datetime", "timestamp"):
        out.append(
            "zero/partial dates -> NULL (counted)"
            if options.policies.zero_dates == "null"
            else "zero/partial dates -> row rejected"
        )
    if "policy" in c.meta:
        out.append(c.meta["policy"])
    return out


def plan_trigger(trig: Trigger, source: Dialect, target: Dialect, namer: Namer) -> TriggerPlan:
    if trig.table not in namer.tables:
        return TriggerPlan(trig.name, trig.table, [], "not translated", "its table is not migrated")
    if not isinstance(target, TriggerTarget):
        return TriggerPlan(trig.name, trig.table, [], "not translated", f"{target.name} targets get no triggers")
    try:
        sql = target.trigger_sql(trig.name, trig.table, trig.timing, trig.event, trig.body, source.name, namer)
        return TriggerPlan(trig.name, trig.table, sql)
    except Exception as exc:
        return TriggerPlan(trig.name, trig.table, [], "not translated", str(exc))


def load_order(the_plan: Plan) -> list[TablePlan]:
    """Parents before children, so rows can go into tables whose foreign keys already exist
    (--data-only, --if-exists truncate). Cycles keep their plan order."""
    by_name = {tp.target.name: tp for tp in the_plan.tables}
    done: list[TablePlan] = []
    seen: set[str] = set()

    def visit(tp: TablePlan, path: set[str]) -> None:
        if tp.target.name in seen or tp.target.name in path:
            return
        path.add(tp.target.name)
        for fk in tp.target.foreign_keys:
            parent = by_name.get(fk.ref_table)
            if parent is not None and parent is not tp:
                visit(parent, path)
        seen.add(tp.target.name)
        done.append(tp)

    for tp in the_plan.tables:
        visit(tp, set())
    return done

"""Planning: which tables, and how each becomes a table of the target engine.

A plan is computed from the source's catalogue and the target dialect alone; it changes
nothing, so `xfer plan` prints exactly what `xfer migrate` will do.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .dialects.base import Dialect
from .errors import UsageError
from .options import Options
from .schema import ForeignKey, Index, Table

if TYPE_CHECKING:
    from .mapping.read import MappedRead


@dataclass
class TablePlan:
    source: Table
    target: Table
    notes: list[str] = field(default_factory=list)
    #: set by a mapping file: how the rows are read and shaped, and what verification compares
    #: (then `source` describes the mapped rows, and its name labels the table in reports)
    mapped: MappedRead | None = None

    @property
    def json_columns(self) -> set[str]:
        return {c.name for c in self.target.columns if c.meta.get("json")}

    def read(self, source: Dialect, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """The source's rows as the target is to hold them (column for column, before the
        cast to the target's types): what is copied, and what verification hashes."""
        if self.mapped is None:
            return source.read_batches(self.source, batch_rows)
        return self.mapped.batches(source, batch_rows)

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
class Plan:
    tables: list[TablePlan]
    notes: list[str] = field(default_factory=list)
    #: a mapping file's hooks (xfer.mapping.hooks.BoundHook), run by `migrate` before and after the data
    before: list[Any] = field(default_factory=list)
    after: list[Any] = field(default_factory=list)


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


def shorten(name: str, limit: int) -> str:
    """Names over the target's identifier limit (bytes) get a stable hash suffix, so two long
    names that share a prefix never collide and a re-run picks the same name."""
    if len(name.encode()) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    head = name.encode()[: limit - 9].decode(errors="ignore")
    return f"{head}_{digest}"


def build_plan(source: Dialect, target: Dialect, tables: list[Table]) -> Plan:
    selected = {t.name for t in tables}
    plan = Plan([])
    if not target.supports_foreign_keys and any(t.foreign_keys for t in tables):
        plan.notes.append(f"{target.name}: foreign keys are not created (the engine cannot add them after the data)")
    # Index names share one namespace with tables in PostgreSQL and SQLite schemas: keep a
    # source name when it is unique there, else prefix it with its table's name.
    seen: dict[str, int] = {}
    for name in [ix.name for t in tables for ix in t.indexes] + [t.name for t in tables]:
        seen[name] = seen.get(name, 0) + 1
    clashing = {n for n, k in seen.items() if k > 1}
    for t in tables:
        plan.tables.append(translate(t, target, selected, clashing))
    return plan


def translate(
    table: Table, target: Dialect, selected: set[str], clashing: frozenset[str] | set[str] = frozenset()
) -> TablePlan:
    limit = target.max_identifier_length
    notes: list[str] = []
    cols = []
    for c in table.columns:
        native = target.native_type(c)
        arrow = target.arrow_type(native)
        meta = dict(c.meta)
        cols.append(replace(c, name=shorten(c.name, limit), native_type=native, arrow=arrow, meta=meta))
        if "decision" in c.meta:
            notes.append(f"{c.name}: {c.meta['decision']}")
    renamed = {c.name: shorten(c.name, limit) for c in table.columns}
    name = shorten(table.name, limit)
    if name != table.name:
        notes.append(f"table name shortened to {name!r} ({limit}-byte limit)")
    for old, new in renamed.items():
        if old != new:
            notes.append(f"column {old!r} shortened to {new!r} ({limit}-byte limit)")
    indexes = [
        Index(
            shorten(f"{name}_{ix.name}" if ix.name in clashing else ix.name, limit),
            [renamed[c] for c in ix.columns],
            ix.unique,
        )
        for ix in table.indexes
    ]
    fks = []
    for fk in table.foreign_keys:
        if fk.ref_table not in selected:
            notes.append(f"foreign key {fk.name!r} skipped: it references {fk.ref_table!r}, which is not migrated")
            continue
        fks.append(
            ForeignKey(
                shorten(fk.name, limit),
                [renamed[c] for c in fk.columns],
                shorten(fk.ref_table, limit),
                [shorten(c, limit) for c in fk.ref_columns],
                fk.on_delete,
                fk.on_update,
            )
        )
    out = Table(
        name=name,
        columns=cols,
        primary_key=[renamed[c] for c in table.primary_key],
        indexes=indexes,
        foreign_keys=fks,
        row_estimate=table.row_estimate,
        comment=table.comment,
    )
    if not table.primary_key:
        notes.append("no primary key: copied as is; verification compares the rows as a multiset")
    return TablePlan(table, out, notes)


def source_tables(source: Dialect, options: Options) -> list[Table] | None:
    """The selected source tables, introspected (None with a mapping file: the mapping
    selects and checks its own tables)."""
    if options.mapping is not None:
        return None
    names = select_tables(source.list_tables(), options.tables, options.exclude, where=str(source.url))
    return source.introspect(names)


def make_plan(source: Dialect, target: Dialect, options: Options, tables: list[Table] | None = None) -> Plan:
    if options.mapping is not None:
        from .mapping.plan import plan_mapping

        return plan_mapping(options.mapping, source, target, options)
    return build_plan(source, target, source_tables(source, options) if tables is None else tables)


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

"""PostgreSQL DDL for everything beyond columns and plain keys: defaults (incl.
`CURRENT_TIMESTAMP(n)` and translated expressions), generated columns, identities that go on
after the copied maximum, `ON UPDATE CURRENT_TIMESTAMP` as a trigger, CHECK constraints, enum
labels (CHECK or a native enum type), prefix / functional / FULLTEXT indexes, comments, views.

A mixin of the `Postgres` dialect, kept apart from its connection and COPY code.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from xfer.core.naming import shorten
from xfer.core.schema import Check, Column, Index, Table
from xfer.dialects.base import split_type
from xfer.dialects.capabilities import (
    CollationTarget,
    ConcurrentBuilds,
    EnumTypes,
    SQLTranslator,
    TriggerTarget,
    ViewTarget,
)
from xfer.dialects.postgres.parts import PostgresPart
from xfer.dialects.sqlexpr import split_top, tables_in, translate

INTEGER_TYPES = {"smallint", "integer", "bigint"}
_ZERO_DATE = re.compile(r"^0000-|-00[- ]|-00$")
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def literal(value: str) -> str:
    """A PostgreSQL string literal (standard_conforming_strings: only quotes double)."""
    return "'" + value.replace("'", "''") + "'"


def _precision(native: str) -> int:
    m = re.search(r"\((\d+)\)", native)
    return int(m[1]) if m else 6


_INDEX = re.compile(r"CREATE (UNIQUE )?INDEX ", re.I)


class PostgresDDL(PostgresPart, SQLTranslator, EnumTypes, ViewTarget, ConcurrentBuilds, CollationTarget):
    """DDL methods of the PostgreSQL dialect (needs `quote`, `qualified`, `schema`)."""

    # -- columns --------------------------------------------------------------------------
    def default_sql(self, src: Column, tgt: Column, source: str = "mysql") -> tuple[str | None, str | None]:
        """The source column's default as a PostgreSQL expression for `tgt`'s type, and a note
        when it is changed or dropped."""
        native = tgt.native_type.lower()
        base = split_type(native)[0]
        v = src.default_value
        if src.default_kind == "now":
            if base == "date":
                return "CURRENT_DATE", None
            if base.startswith("timestamptz") or "with time zone" in native:
                return f"CURRENT_TIMESTAMP({_precision(native)})", None
            if base.startswith("timestamp"):
                return f"LOCALTIMESTAMP({_precision(native)})", None
            return None, f"default {src.default} not carried: no current-time default for {tgt.native_type}"
        if src.default_kind == "literal" and v is not None:
            if base in ("date",) or base.startswith("timestamp"):
                if _ZERO_DATE.search(v):
                    return None, f"default {src.default} dropped: a zero date has no PostgreSQL value"
                return literal(v), None
            if base == "boolean":
                return ("true" if v.strip() not in ("0", "") else "false"), None
            if base == "bit":
                n = _precision(native)
                return f"B'{int(v):0{n}b}'", None
            if base in INTEGER_TYPES or base in ("numeric", "real", "double precision"):
                return (v if _NUMBER.match(v) else literal(v)), None
            if native.endswith("[]"):  # SET
                items = [x for x in v.split(",") if x]
                return (
                    "ARRAY[" + ", ".join(literal(x) for x in items) + "]::text[]"
                ) if items else "'{}'::text[]", None
            if base == "bytea":
                return "'\\x" + v.encode().hex() + "'::bytea", None
            if base in ("interval", "jsonb", "uuid", "inet"):
                return f"{literal(v)}::{base}", None
            return literal(v), None
        if src.default_kind == "expression" and src.default:
            try:
                return translate(src.default, source, "postgres"), "default expression translated"
            except Exception as exc:
                return None, f"default {src.default} not carried: {exc}"
        return None, None

    def generated_sql(self, expr: str, source: str, table: str, namer: Any) -> str:
        return translate(expr, source, "postgres", column=lambda n: namer.column(table, n))

    def check_sql(self, expr: str, source: str, table: str, namer: Any) -> str:
        return translate(expr, source, "postgres", column=lambda n: namer.column(table, n))

    def labels_check(self, name: str, column: str, meta: dict[str, Any]) -> Check:
        q = self.quote(column)
        if meta.get("set") is not None:
            labels = ", ".join(literal(x) for x in meta["set"])
            return Check(name, f"{q} <@ ARRAY[{labels}]::text[]", [column])
        return Check(name, f"{q} IN ({', '.join(literal(x) for x in meta['enum'])})", [column])

    def enum_type_sql(self, c: Column) -> list[str]:
        labels = ", ".join(literal(x) for x in c.meta["enum"])
        return [f"DROP TYPE IF EXISTS {c.native_type} CASCADE", f"CREATE TYPE {c.native_type} AS ENUM ({labels})"]

    # -- collations -------------------------------------------------------------------------
    def collations_available(self) -> str | None:
        conn: Any = getattr(self, "conn", None)
        if conn is None:
            return None
        # PostgreSQL built without ICU has no provider 'i' collations (initdb imports them)
        row = conn.execute("SELECT count(*) FROM pg_collation WHERE collprovider = 'i'").fetchone()
        return None if row and row[0] else "this PostgreSQL server is built without ICU"

    def collation_sql(self, defs: Any) -> list[str]:
        return [
            f"CREATE COLLATION IF NOT EXISTS {self.qualified(d.name)} (provider = icu, locale = {literal(d.locale)}, "
            f"deterministic = {'true' if d.deterministic else 'false'})"
            for d in defs
        ]

    def collation_ref(self, name: str, created: bool) -> str:
        return self.qualified(name) if created else self.quote(name)

    def column_ddl(self, c: Column) -> str:
        ddl = f"{self.quote(c.name)} {c.native_type}"
        if c.meta.get("collation_ref"):
            ddl += f" COLLATE {c.meta['collation_ref']}"
        if c.generated:
            ddl += f" GENERATED ALWAYS AS ({c.generated}) STORED"
        elif c.autoincrement and c.native_type.lower() in INTEGER_TYPES:
            ddl += " GENERATED BY DEFAULT AS IDENTITY"
        elif c.autoincrement:  # numeric(20,0) (bigint unsigned): an owned sequence does it
            ddl += f" DEFAULT nextval('{self._sequence(c)}')"
        elif c.default is not None:
            ddl += f" DEFAULT {c.default}"
        return ddl if c.nullable else ddl + " NOT NULL"

    def _table_of(self, c: Column) -> str:
        return getattr(self, "_creating", "")

    def _sequence(self, c: Column) -> str:
        name = shorten(f"{self._table_of(c)}_{c.name}_seq", self.max_identifier_length)
        return self.qualified(name).replace("'", "''")

    def create_table_sql(self, table: Table) -> list[str]:
        self._creating = table.name
        out: list[str] = []
        for c in table.columns:
            if c.meta.get("enum") is not None and c.native_type.startswith('"'):
                out.extend(self.enum_type_sql(c))
            if c.autoincrement and c.native_type.lower() not in INTEGER_TYPES and not c.generated:
                out.append(f"CREATE SEQUENCE IF NOT EXISTS {self._sequence(c)}")
        cols = [self.column_ddl(c) for c in table.columns]
        out.append(f"CREATE TABLE {self.qualified(table.name)} (\n  " + ",\n  ".join(cols) + "\n)")
        for c in table.columns:
            if c.autoincrement and c.native_type.lower() not in INTEGER_TYPES and not c.generated:
                out.append(
                    f"ALTER SEQUENCE {self._sequence(c)} OWNED BY {self.qualified(table.name)}.{self.quote(c.name)}"
                )
        if table.comment:
            out.append(f"COMMENT ON TABLE {self.qualified(table.name)} IS {literal(table.comment)}")
        for c in table.columns:
            if c.comment:
                out.append(
                    f"COMMENT ON COLUMN {self.qualified(table.name)}.{self.quote(c.name)} IS {literal(c.comment)}"
                )
        return out

    def checks_sql(self, table: Table) -> list[str]:
        """CHECK constraints, added right after the table is created (before the rows), so a row
        that breaks one is refused on its own -- into the reject file -- instead of failing the
        constraint for the whole table after the copy."""
        target = self.qualified(table.name)
        return [
            f"ALTER TABLE {target} ADD CONSTRAINT {self.quote(ck.name)} CHECK ({ck.expression})" for ck in table.checks
        ]

    # -- after the data -------------------------------------------------------------------
    def index_note(self, ix: Index) -> str | None:
        if ix.kind == "fulltext":
            return (
                f"FULLTEXT index {ix.name!r} -> GIN index on to_tsvector('simple', {' || '.join(ix.columns)}); "
                "search it with to_tsvector('simple', ...) @@ plainto_tsquery('simple', ...)"
            )
        if ix.kind == "spatial":
            return f"SPATIAL index {ix.name!r} not created: geometry is stored as WKB bytea (no PostGIS type)"
        if any(ix.lengths):
            return f"prefix index {ix.name!r} -> an expression index on left(column, n)"
        return None

    def index_sql(self, table: Table, ix: Index) -> str | None:
        target = self.qualified(table.name)
        unique = "UNIQUE " if ix.unique else ""
        if ix.kind == "spatial":
            return None
        if ix.kind == "fulltext":
            doc = " || ' ' || ".join(f"coalesce({self.quote(c)}, '')" for c in ix.columns)
            return f"CREATE INDEX {self.quote(ix.name)} ON {target} USING gin (to_tsvector('simple', {doc}))"
        types = {c.name: c for c in table.columns}
        parts = []
        for i, col in enumerate(ix.columns):
            expr = ix.expressions[i] if i < len(ix.expressions) else None
            length = ix.lengths[i] if i < len(ix.lengths) else None
            if expr:
                part = f"({expr})"
            elif length and col in types and pa.types.is_binary(types[col].arrow):
                part = f"(substring({self.quote(col)} FROM 1 FOR {length}))"
            elif length:
                part = f"(left({self.quote(col)}, {length}))"
            else:
                part = self.quote(col)
            if i < len(ix.descending) and ix.descending[i]:
                part += " DESC"
            parts.append(part)
        return f"CREATE {unique}INDEX {self.quote(ix.name)} ON {target} ({', '.join(parts)})"

    def post_data_sql(self, table: Table) -> list[str]:
        """Primary key, indexes, identities moved past the copied maximum, ON UPDATE
        triggers: run after the rows are in."""
        out = []
        target = self.qualified(table.name)
        if table.primary_key:
            out.append(f"ALTER TABLE {target} ADD PRIMARY KEY ({self.column_list(table.primary_key)})")
        for ix in table.indexes:
            sql = self.index_sql(table, ix)
            if sql:
                out.append(sql)
        for c in table.columns:
            if c.autoincrement and not c.generated:
                # continue after the copied maximum, and after the source counter (which may be
                # ahead of it when the last rows were deleted): ids are never handed out twice
                floor = table.auto_increment or 1
                out.append(
                    f"SELECT setval(pg_get_serial_sequence({literal(target)}, {literal(c.name)}), "
                    f"GREATEST(COALESCE(MAX({self.quote(c.name)}), 0) + 1, {int(floor)})::bigint, false) FROM {target}"
                )
        out.extend(self.on_update_sql(table))
        return out

    def build_steps(self, table: Table) -> tuple[list[str], list[str]]:
        """Indexes build side by side; the primary key too, as a unique index (which, unlike
        ALTER TABLE … ADD PRIMARY KEY, does not lock out the table's other index builds) then
        attached with `ADD CONSTRAINT … PRIMARY KEY USING INDEX`, which takes no time. Checks,
        sequences, triggers and their functions run after, as the serial build runs them."""
        builds: list[str] = []
        after: list[str] = []
        for sql in self.post_data_sql(table):
            steps = self._pk_steps(table, sql)
            if steps:
                builds.append(steps[0])
                after.append(steps[1])
            elif _INDEX.match(sql):
                builds.append(sql)
            else:
                after.append(sql)
        return builds, after

    def _pk_steps(self, t: Table, sql: str) -> tuple[str, str] | None:
        if not t.primary_key or " ADD PRIMARY KEY (" not in sql:
            return None
        # PostgreSQL's own name for it: the table name cut to fit, then "_pkey"
        name = t.name.encode()[: self.max_identifier_length - 5].decode(errors="ignore") + "_pkey"
        if name in {ix.name for ix in t.indexes} or name == t.name:
            return None
        cols = self.column_list(t.primary_key)
        return (
            f"CREATE UNIQUE INDEX {self.quote(name)} ON {self.qualified(t.name)} ({cols})",
            f"ALTER TABLE {self.qualified(t.name)} ADD CONSTRAINT {self.quote(name)} "
            f"PRIMARY KEY USING INDEX {self.quote(name)}",
        )

    def on_update_sql(self, table: Table) -> list[str]:
        cols = [c for c in table.columns if c.on_update == "now"]
        if not cols:
            return []
        fn = self.qualified(shorten(f"{table.name}_on_update", self.max_identifier_length))
        sets = []
        for c in cols:
            native = c.native_type.lower()
            now = "CURRENT_TIMESTAMP" if "tz" in native or "with time zone" in native else "LOCALTIMESTAMP"
            if native.startswith("date"):
                now = "CURRENT_DATE"
            elif native.startswith("timestamp"):
                now += f"({_precision(native)})"
            q = self.quote(c.name)
            # MySQL semantics: set when some other column changed and this one was not set
            sets.append(f"    IF NEW.{q} IS NOT DISTINCT FROM OLD.{q} THEN NEW.{q} := {now}; END IF;")
        body = "\n".join(sets)
        trig = self.quote(shorten(f"{table.name}_on_update", self.max_identifier_length))
        return [
            f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $xfer$\nBEGIN\n"
            f"  IF NEW IS DISTINCT FROM OLD THEN\n{body}\n  END IF;\n  RETURN NEW;\nEND\n$xfer$",
            f"CREATE TRIGGER {trig} BEFORE UPDATE ON {self.qualified(table.name)} FOR EACH ROW EXECUTE FUNCTION {fn}()",
        ]

    # -- views ----------------------------------------------------------------------------
    def view_sql(self, name: str, definition: str, source: str, namer: Any) -> str:
        def table(n: str) -> str:
            return namer.table(n) or (n.lower() if namer.policy == "lower" else n)

        def column(n: str) -> str:
            return n.lower() if namer.policy == "lower" else n

        select = translate(definition, source, "postgres", column=column, table=table, schema=self.schema)
        return f"CREATE VIEW {self.qualified(name)} AS {select}"


# NEW.col / OLD.col as the translator writes them (every identifier quoted): "NEW" would be a
# table there, while PL/pgSQL's row variables are new and old (folded to lower case)
_ROW_REF = re.compile(r'"(new|old)"\.', re.I)


def _row_refs(sql: str) -> str:
    return _ROW_REF.sub(lambda m: m[1].upper() + ".", sql)


_SET = re.compile(r"^\s*set\s+(.*)$", re.I | re.S)
_ASSIGN = re.compile(r"^\s*(new)\.`?([^`=\s]+)`?\s*=\s*(.+)$", re.I | re.S)


class PostgresTriggers(PostgresPart, TriggerTarget):
    """MySQL triggers whose body is assignments to NEW (`SET NEW.x = ...`) and plain
    INSERT/UPDATE/DELETE statements become a PL/pgSQL function and a trigger; anything with
    control flow is reported as not translated."""

    def trigger_sql(
        self, name: str, table: str, timing: str, event: str, body: str, source: str, namer: Any
    ) -> list[str]:
        text = body.strip()
        if re.match(r"^begin\b", text, re.I):
            text = re.sub(r"^begin\b|\bend\s*;?\s*$", "", text, flags=re.I).strip()
        if re.search(r"\b(if|while|loop|repeat|declare|call|signal|case|leave|iterate|cursor)\b", text, re.I):
            raise ValueError("its body has control flow, which is not translated")
        lines = []
        for stmt in split_top(text, ";"):
            if m := _SET.match(stmt):
                for assign in split_top(m[1], ","):
                    a = _ASSIGN.match(assign)
                    if not a:
                        raise ValueError(f"cannot translate {assign!r}")
                    expr = translate(a[3], source, "postgres", column=lambda n: namer.column(table, n))
                    lines.append(f"  NEW.{self.quote(namer.column(table, a[2]))} := {_row_refs(expr)};")
            else:
                lines.append("  " + _row_refs(self._statement(stmt, source, namer)) + ";")
        returns = "NEW" if timing.upper() == "BEFORE" and event.upper() != "DELETE" else "OLD"
        if timing.upper() == "AFTER":
            returns = "NULL"
        target = namer.table(table) or table
        fn = self.qualified(shorten(f"{target}_{name}", self.max_identifier_length))
        trig = self.quote(shorten(name.lower() if namer.policy == "lower" else name, self.max_identifier_length))
        return [
            f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $xfer$\nBEGIN\n"
            + "\n".join(lines)
            + f"\n  RETURN {returns};\nEND\n$xfer$",
            f"CREATE TRIGGER {trig} {timing.upper()} {event.upper()} ON {self.qualified(target)} "
            f"FOR EACH ROW EXECUTE FUNCTION {fn}()",
        ]

    def _statement(self, stmt: str, source: str, namer: Any) -> str:
        def table(n: str) -> str:
            return namer.table(n) or (n.lower() if namer.policy == "lower" else n)

        def column(n: str) -> str:
            return n.lower() if namer.policy == "lower" else n

        known = lambda n: namer.table(n) is not None  # noqa: E731
        missing = sorted(n for n in tables_in(stmt, source) if not known(n))
        if missing:
            raise ValueError(f"it uses {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not migrated")
        return translate(stmt, source, "postgres", column=column, table=table, schema=self.schema, known=known)

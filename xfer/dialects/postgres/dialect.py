"""PostgreSQL (source and target): connections, introspection, types, verification.

Reading is in `reading`, writing (CSV COPY, and binary COPY as the `BulkWriter`) in `writing`,
DDL in `ddl`, the type tables in `types`. The target schema comes from `?schema=` in the URL
(default `public`). Sessions run with TimeZone UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from xfer.core.canonical import Canon
from xfer.core.errors import ConnectError, XferError
from xfer.core.schema import Column, ForeignKey, Index, Table
from xfer.core.urls import redact
from xfer.dialects.base import Dialect, HashSQL, TargetTypes, require, split_type
from xfer.dialects.capabilities import BatchedDDL
from xfer.dialects.postgres import adbc as pg_adbc
from xfer.dialects.postgres.apply import PostgresApply
from xfer.dialects.postgres.catalog import PostgresCatalog
from xfer.dialects.postgres.ddl import PostgresDDL, PostgresTriggers
from xfer.dialects.postgres.errors import pg_message
from xfer.dialects.postgres.journal import PostgresJournalStore
from xfer.dialects.postgres.reading import PostgresReading
from xfer.dialects.postgres.script import PostgresScripts
from xfer.dialects.postgres.types import ARROW_TO_PG, PG_TO_ARROW, TYPE_ALIASES
from xfer.dialects.postgres.writing import PostgresWriting

# SQLSTATE classes that mean "your URL is wrong"
CONNECT_HINTS = {
    "28P01": "password authentication failed",
    "28000": "the role is not allowed to connect",
    "3D000": "the database does not exist",
}

FK_ACTIONS = {"a": None, "r": None, "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}

# SQLSTATEs worth another try (besides class 08, connection exceptions): serialization failure,
# deadlock, administrator/crash shutdown (pg_terminate_backend, a restart), cannot connect now
# (starting up), too many connections.
TRANSIENT_SQLSTATES = {"40001", "40P01", "57P01", "57P02", "57P03", "53300"}
# URL query parameters passed to libpq as they are: TLS (sslmode=verify-full, sslrootcert=...)
log = logging.getLogger("xfer")
TLS_AND_SESSION_PARAMS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "sslpassword", "application_name")


class Postgres(
    PostgresApply,
    PostgresJournalStore,
    PostgresReading,
    PostgresWriting,
    PostgresCatalog,
    PostgresDDL,
    PostgresTriggers,
    PostgresScripts,
    BatchedDDL,
    Dialect,
):
    name = "postgres"
    max_identifier_length = 63  # NAMEDATALEN - 1, https://www.postgresql.org/docs/current/limits.html
    text_holds_nul = False  # https://www.postgresql.org/docs/current/datatype-character.html

    @property
    def schema(self) -> str:
        return self.url.query.get("schema", "public")

    def connect(self) -> None:
        self._psycopg = require("psycopg", "PostgreSQL")
        self.conn = self._open()
        self._adbc_idle: list[Any] = []

    def _params(self) -> dict[str, Any]:
        """libpq connection keywords (psycopg's, and ADBC's for `pg_adbc`)."""
        u = self.url
        params: dict[str, Any] = {
            "host": u.host or "127.0.0.1",
            "port": u.port or 5432,
            "user": u.username or "postgres",
            "dbname": u.database,
            "connect_timeout": 10,
            "options": "-c TimeZone=UTC",
        }
        if u.secret:  # else libpq looks in PGPASSWORD, PGPASSFILE and ~/.pgpass itself
            params["password"] = u.secret
        for k in TLS_AND_SESSION_PARAMS:
            if k in u.query:
                params[k] = u.query[k]
        return params

    def _open(self) -> Any:
        psycopg = self._psycopg
        try:
            return psycopg.connect(**self._params(), autocommit=True)
        except psycopg.Error as exc:
            raise self._connect_error(exc) from None

    def _connect_error(self, exc: Any) -> XferError:
        where = f"PostgreSQL at {self.url.host or '127.0.0.1'}:{self.url.port or 5432}, database {self.url.database!r}"
        what = CONNECT_HINTS.get(getattr(exc, "sqlstate", None) or "")
        if what is None:
            text = str(exc).strip() or type(exc).__name__
            # libpq: 'connection to server at "h", port p failed: FATAL:  database "x" does not exist'
            text = text.split("FATAL:", 1)[-1].strip().splitlines()[0]
            if "failed:" in text:
                text = text.rsplit("failed:", 1)[-1].strip() or text
            what = redact(text, self.url.secret)
        return ConnectError(f"{where}: {what}", transient=self.is_transient(exc))

    def is_transient(self, exc: BaseException) -> bool:
        """A lost connection (terminated backend, server restart), a deadlock or a
        serialization failure: trying again may work. Data and syntax errors never do."""
        psycopg = self._psycopg
        state = getattr(exc, "sqlstate", None) or ""
        if state:
            return state[:2] == "08" or state in TRANSIENT_SQLSTATES
        # no SQLSTATE: the client lost the server ("server closed the connection", "the
        # connection is closed", "consuming input failed")
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)

    def reconnect(self) -> None:
        """A fresh connection if the current one was lost, with the same session settings."""
        old = getattr(self, "conn", None)
        if old is not None and self._alive():
            return
        if old is not None:
            try:
                old.close()
            except Exception:  # it is already dead
                pass
        self.conn = self._open()
        if getattr(self, "_prepared", False):
            self.prepare_for_load()

    def _alive(self) -> bool:
        conn = self.conn
        if conn.closed or conn.broken:
            return False
        try:
            conn.execute("SELECT 1")
            return True
        except self._psycopg.Error:
            return False

    def check_source(self) -> None:
        if not self.schema_exists():
            raise ConnectError(f"PostgreSQL database {self.url.database!r} has no schema {self.schema!r}")

    def close(self) -> None:
        pg_adbc.close_idle(getattr(self, "_adbc_idle", []))
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()

    def cancel(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None and not conn.closed:
            try:
                conn.cancel_safe(timeout=5.0)  # a cancel request on a connection of its own
            except self._psycopg.Error:  # the statement ended meanwhile, or the server is away
                pass

    def _query(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall()) if cur.description else []

    def execute(self, sql: str) -> None:
        if self.ddl_hook is not None:  # a journaled run: the statement is a recorded step
            self.ddl_hook(self, [sql])
            return
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql)
        except self._psycopg.Error as exc:
            raise self.refused(sql, exc) from None

    def execute_together(self, statements: list[str]) -> None:
        if len(statements) == 1:
            self.execute(statements[0])
            return
        if self.ddl_hook is not None:  # recorded steps, in the statements' one transaction
            self.ddl_hook(self, statements)
            return
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.execute(";\n".join(statements))  # one round trip (no parameters: simple query)
        except self._psycopg.Error as exc:
            raise self.refused(f"{len(statements)} statements run together ({statements[0][:80]} ...)", exc) from None

    def refused(self, sql: str, exc: Exception) -> XferError:
        """A driver error on `sql` as the error xfer reports (transient or not)."""
        return XferError(
            f"PostgreSQL refused: {sql.splitlines()[0][:120]}: {pg_message(exc)}", transient=self.is_transient(exc)
        )

    def qualified(self, table: str) -> str:
        return f"{self.quote(self.schema)}.{self.quote(table)}"

    # -- introspection --------------------------------------------------------------------
    def list_tables(self) -> list[str]:
        rows = self._query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1",
            (self.schema,),
        )
        return [r[0] for r in rows]

    def schema_exists(self) -> bool:
        return bool(self._query("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)))

    def introspect(self, names: Iterable[str]) -> list[Table]:
        wanted = list(names)
        tables = {n: Table(n, []) for n in wanted}
        for tname, cname, ctype, notnull, default, identity, comment in self._query(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid), a.attidentity, col_description(c.oid, a.attnum) "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE n.nspname = %s AND a.attnum > 0 AND NOT a.attisdropped AND c.relname = ANY(%s) "
            "ORDER BY c.relname, a.attnum",
            (self.schema, wanted),
        ):
            tables[tname].columns.append(
                Column(
                    name=cname,
                    native_type=ctype,
                    arrow=self.arrow_type(ctype),
                    nullable=not notnull,
                    default=default,
                    autoincrement=bool(identity) or "nextval(" in (default or ""),
                    comment=comment,
                    meta=self.column_meta(ctype),
                )
            )
        for tname, iname, is_pk, is_unique, cols in self._query(
            "SELECT t.relname, i.relname, x.indisprimary, x.indisunique, "
            "array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, o) "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.o) "
            "FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE n.nspname = %s AND t.relname = ANY(%s) AND x.indexprs IS NULL ORDER BY 1, 2",
            (self.schema, wanted),
        ):
            if is_pk:
                tables[tname].primary_key = list(cols)
            else:
                tables[tname].indexes.append(Index(iname, list(cols), unique=is_unique))
        for tname, cname, cols, rtable, rcols, deltype, updtype in self._query(
            "SELECT t.relname, con.conname, "
            "array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, o) "
            "  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o), "
            "r.relname, "
            "array(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, o) "
            "  JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o), "
            "con.confdeltype, con.confupdtype "
            "FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid "
            "JOIN pg_class r ON r.oid = con.confrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE con.contype = 'f' AND n.nspname = %s AND t.relname = ANY(%s) ORDER BY 1, 2",
            (self.schema, wanted),
        ):
            tables[tname].foreign_keys.append(
                ForeignKey(cname, list(cols), rtable, list(rcols), FK_ACTIONS.get(deltype), FK_ACTIONS.get(updtype))
            )
        for tname, est in self._query(
            "SELECT c.relname, c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = ANY(%s)",
            (self.schema, wanted),
        ):
            tables[tname].row_estimate = max(int(est), 0) if est is not None else None
        return [tables[n] for n in wanted]

    def count_rows(self, table: str) -> int:
        return int(self._query(f"SELECT count(*) FROM {self.qualified(table)}")[0][0])

    def type_exists(self, native_type: str) -> bool | None:
        try:
            return self._query("SELECT to_regtype(%s) IS NOT NULL", (native_type,))[0][0]
        except self._psycopg.Error:  # a syntax error in the type name itself
            return False

    def known_type_names(self) -> set[str]:
        rows = self._query(
            "SELECT format_type(oid, NULL) FROM pg_type WHERE typtype IN ('b', 'd', 'e', 'r', 'm') "
            "AND typname NOT LIKE '\\_%%' AND typisdefined"
        )
        return {r[0] for r in rows} | set(TYPE_ALIASES)

    def table_has_rows(self, table: str) -> bool:
        return bool(self._query(f"SELECT 1 FROM {self.qualified(table)} LIMIT 1"))

    # -- types ----------------------------------------------------------------------------
    def arrow_type(self, native_type: str) -> pa.DataType:
        lowered = native_type.lower().strip()
        base, p, s, _ = split_type(lowered)
        if base in ("numeric", "decimal"):
            if p is None:
                return pa.string()  # unconstrained numeric: any scale; carried as exact text
            return pa.decimal128(p, s or 0) if p <= 38 else pa.decimal256(p, s or 0)
        if lowered.endswith("[]"):
            return pa.list_(self.arrow_type(lowered[:-2]))
        for name in (lowered, base, lowered.split("(")[0].strip()):
            if name in PG_TO_ARROW:
                return PG_TO_ARROW[name]
        if base.startswith("timestamp") and "with time zone" in lowered:
            return pa.timestamp("us", tz="UTC")
        if base.startswith("timestamp"):
            return pa.timestamp("us")
        if base.startswith("time"):
            return pa.time64("us")
        return pa.string()  # enums, domains, geometry...: their text form

    def column_meta(self, native_type: str) -> dict[str, Any]:
        base, p, _s, _ = split_type(native_type)
        if base in ("json", "jsonb"):
            return {"json": True}
        if base in ("character", "char", "bpchar"):
            return {"length": p, "char": True}
        if base in ("character varying", "varchar") and p:
            return {"length": p}
        return {}

    target_types = TargetTypes(
        "PostgreSQL",
        ARROW_TO_PG,
        json="jsonb",
        timestamp="timestamp(6)",
        timestamptz="timestamptz(6)",
        decimal="numeric({p},{s})",
    )

    def native_type(self, column: Column) -> str:
        if pa.types.is_string(column.arrow) and column.meta.get("length") and not column.meta.get("json"):
            n = column.meta["length"]
            return f"char({n})" if column.meta.get("char") else f"varchar({n})"
        return super().native_type(column)

    # -- verification (added for xfer verify; see Dialect.canonical_sql) --------------------
    hash_sql = HashSQL(
        concat=("", " || ", ""),
        length="octet_length({x})::text",
        md5="md5({x})",
        hex_int="('x' || substr({x}, {start}, 15))::bit(60)::bigint",
        int_div="div({x}, {w})",
    )

    def verify_query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._query(sql, tuple(params) or None)
        except self._psycopg.Error as exc:
            raise XferError(f"PostgreSQL: verification query failed: {pg_message(exc)}") from None

    def _can_hash(self) -> bool:
        """md5() must see UTF-8 bytes, and extract(epoch ...) must be exact (numeric: 14+)."""
        if not hasattr(self, "_hash_ok"):
            ((enc, version),) = self._query(
                "SELECT current_setting('server_encoding'), current_setting('server_version_num')::int"
            )
            self._hash_ok = enc == "UTF8" and version >= 140000
        return self._hash_ok

    def canonical_sql(self, column: Column, canon: Canon) -> tuple[str, str] | None:
        if not self._can_hash():
            return None
        q = self.quote(column.name)
        native = column.native_type.lower()
        base, _p, scale, _u = split_type(native)
        null = f"{q} IS NULL"
        kind = canon.kind
        t = column.arrow
        if kind == "int" and (pa.types.is_integer(t) or (base in ("numeric", "decimal") and scale == 0)):
            return null, f"{q}::text"
        if kind == "decimal" and base in ("numeric", "decimal") and scale == canon.scale:
            return null, f"{q}::text"
        if kind == "decimal" and (base in ("numeric", "decimal") or pa.types.is_integer(t)):
            return null, f"round({q}, {canon.scale})::text"
        if kind == "float" and canon.digits is None and pa.types.is_floating(t):
            send, cast, bits, int_type = (
                ("float4send", "real", 32, "int") if canon.bits == 32 else ("float8send", "float8", 64, "bigint")
            )
            ieee = f"('x' || encode({send}({q}::{cast}), 'hex'))::bit({bits})::{int_type}::text"
            return null, f"CASE WHEN {q} = 'NaN' THEN 'NaN' ELSE {ieee} END"
        if kind == "bool" and pa.types.is_boolean(t):
            return null, f"CASE WHEN {q} THEN '1' ELSE '0' END"
        if kind == "bool" and pa.types.is_integer(t):
            return null, f"CASE {q} WHEN 0 THEN '0' WHEN 1 THEN '1' ELSE '?' || {q}::text END"
        if kind == "date" and base == "date":
            return null, f"({q} - DATE '1970-01-01')::text"
        micros = f"(extract(epoch FROM {q}) * 1000000)::bigint::text"  # exact: numeric since 14
        if kind == "timestamp" and pa.types.is_timestamp(t):
            return null, micros
        if kind == "time" and pa.types.is_time(t):
            return null, micros
        if kind == "duration" and pa.types.is_duration(t):
            return null, micros
        if kind == "text" and pa.types.is_string(t) and not column.meta.get("json") and not native.endswith("[]"):
            return null, f"lower({q}::text)" if canon.lower else f"{q}::text"  # ::text drops CHAR's pad
        if kind == "binary" and base == "bytea":
            return null, f"upper(encode({q}, 'hex'))"
        return None  # JSON (canonicalised client side), floats by digits, arrays, others

"""PostgreSQL (source and target).

Writes go through `COPY … FROM STDIN (FORMAT csv)` fed by Arrow's C++ CSV writer, one
transaction per batch (a batch is either fully in or not at all). The target schema comes
from `?schema=` in the URL (default `public`). Sessions run with TimeZone UTC.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from xfer.core.canonical import Canon
from xfer.core.errors import ConnectError, CopyError, XferError
from xfer.core.schema import Column, ForeignKey, Index, Table
from xfer.core.urls import redact
from xfer.dialects.base import Dialect, HashSQL, require, split_type
from xfer.dialects.postgres import adbc as pg_adbc
from xfer.dialects.postgres.catalog import PostgresCatalog
from xfer.dialects.postgres.ddl import PostgresDDL, PostgresTriggers
from xfer.dialects.postgres.journal import PostgresJournalStore

# Neutral Arrow type -> PostgreSQL type. PostgreSQL has no unsigned integers: each unsigned
# type goes to the next wider signed one, and uint64 to numeric(20,0), which holds 2**64-1.
ARROW_TO_PG: dict[pa.DataType, str] = {
    pa.bool_(): "boolean",
    pa.int8(): "smallint",
    pa.int16(): "smallint",
    pa.int32(): "integer",
    pa.int64(): "bigint",
    pa.uint8(): "smallint",
    pa.uint16(): "integer",
    pa.uint32(): "bigint",
    pa.uint64(): "numeric(20,0)",
    pa.float32(): "real",
    pa.float64(): "double precision",
    pa.string(): "text",
    pa.large_string(): "text",
    pa.binary(): "bytea",
    pa.large_binary(): "bytea",
    pa.date32(): "date",
    pa.timestamp("us"): "timestamp(6)",
    pa.timestamp("us", tz="UTC"): "timestamptz(6)",
    pa.time64("us"): "time(6)",
    pa.duration("us"): "interval",
}

# PostgreSQL type name (format_type output, before any "(") -> neutral Arrow type
PG_TO_ARROW: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double precision": pa.float64(),
    "text": pa.string(),
    "character varying": pa.string(),
    "varchar": pa.string(),
    "character": pa.string(),
    "char": pa.string(),
    "bpchar": pa.string(),
    "uuid": pa.string(),
    "json": pa.string(),
    "jsonb": pa.string(),
    "bytea": pa.binary(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamp without time zone": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "time": pa.time64("us"),
    "time without time zone": pa.time64("us"),
    "interval": pa.duration("us"),
}

# Short names PostgreSQL accepts besides format_type()'s spelling (for "did you mean" only)
TYPE_ALIASES = ("int", "int2", "int4", "int8", "float4", "float8", "bool", "varchar", "char", "timestamptz", "decimal")

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

COPY_CHUNK = 128 * 1024  # psycopg copy.write() works best with writes of this size or less


class Postgres(PostgresJournalStore, PostgresCatalog, PostgresDDL, PostgresTriggers, Dialect):
    name = "postgres"
    max_identifier_length = 63  # NAMEDATALEN - 1, https://www.postgresql.org/docs/current/limits.html
    text_holds_nul = False  # https://www.postgresql.org/docs/current/datatype-character.html

    @property
    def schema(self) -> str:
        return self.url.query.get("schema", "public")

    def connect(self) -> None:
        self._psycopg = require("psycopg", "PostgreSQL")
        self.conn = self._open()

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
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()

    def _query(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall()) if cur.description else []

    def execute(self, sql: str) -> None:
        if self.ddl_hook is not None:  # a journaled run: the statement is a recorded step
            self.ddl_hook(self, sql)
            return
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql)
        except self._psycopg.Error as exc:
            raise self.refused(sql, exc) from None

    def refused(self, sql: str, exc: Exception) -> XferError:
        """A driver error on `sql` as the error xfer reports (transient or not)."""
        return XferError(
            f"PostgreSQL refused: {sql.splitlines()[0][:120]}: {_pg_message(exc)}", transient=self.is_transient(exc)
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

    def native_type(self, column: Column) -> str:
        t = column.arrow
        if column.meta.get("json"):
            return "jsonb"
        if pa.types.is_string(t) and column.meta.get("length"):
            n = column.meta["length"]
            return f"char({n})" if column.meta.get("char") else f"varchar({n})"
        if pa.types.is_decimal(t):
            return f"numeric({t.precision},{t.scale})"
        if pa.types.is_timestamp(t):
            return "timestamptz(6)" if t.tz else "timestamp(6)"
        if pa.types.is_list(t):
            return self.native_type(Column(column.name, "", t.value_type)) + "[]"
        if t in ARROW_TO_PG:
            return ARROW_TO_PG[t]
        raise XferError(f"column {column.name!r}: no PostgreSQL type for Arrow type {t}")

    # -- reading --------------------------------------------------------------------------
    @contextmanager
    def snapshot(self) -> Iterator[None]:
        self.conn.autocommit = False
        self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield
        finally:
            try:
                self.conn.rollback()
                self.conn.autocommit = True
            except self._psycopg.Error:  # the connection was lost: nothing left to end
                pass

    def select_expr(self, c: Column) -> str:
        q = self.quote(c.name)
        t = c.arrow
        if c.native_type == "inet":
            return f"abbrev({q})"  # inet's own output form ('::1'), not text(inet)'s '::1/128'
        if c.meta.get("char") or c.meta.get("json") or (pa.types.is_string(t) and c.native_type != "text"):
            return f"{q}::text"  # drops CHAR's pad; JSON as text; enums, uuid, numeric as text
        if pa.types.is_duration(t):
            return f"(extract(epoch FROM {q}) * 1000000)::bigint"
        return q

    def read_batches(
        self, table: Table, batch_rows: int, where: str | None = None, policies: Any = None
    ) -> Iterator[pa.RecordBatch]:
        cols = ", ".join(self.select_expr(c) for c in table.columns)
        sql = f"SELECT {cols} FROM {self.qualified(table.name)}" + (f" WHERE ({where})" if where else "")
        try:
            yield from self._cursor_batches("xfer_read", sql, None, table, batch_rows)
        except self._psycopg.Error as exc:
            raise CopyError(f"reading {table.name}: {_pg_message(exc)}", transient=self.is_transient(exc)) from None

    @contextmanager
    def _read_transaction(self) -> Iterator[None]:
        """The block runs in a transaction: snapshot()'s when one is open, else one of its own,
        rolled back after (named cursors and exported snapshots need one)."""
        own_tx = self.conn.autocommit
        if own_tx:
            self.conn.autocommit = False
        try:
            yield
        finally:
            if own_tx:
                self.conn.rollback()
                self.conn.autocommit = True

    def _cursor_batches(
        self, name: str, sql: str, params: Sequence[Any] | None, table: Table, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """`sql`'s rows through a named (server-side, streaming) cursor, as batches of `table`."""
        with self._read_transaction(), self.conn.cursor(name=name) as cur:
            cur.itersize = batch_rows
            cur.execute(sql, params)
            while rows := cur.fetchmany(batch_rows):
                columns = list(zip(*rows, strict=True))
                arrays = [_to_arrow(col, c, table.name) for c, col in zip(table.columns, columns, strict=True)]
                yield pa.RecordBatch.from_arrays(arrays, schema=table.arrow_schema)

    # -- writing --------------------------------------------------------------------------
    def create_schema(self) -> None:
        if not self.schema_exists():  # (IF NOT EXISTS alone still needs CREATE on the database)
            self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.quote(self.schema)}")

    def drop_table(self, name: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS {self.qualified(name)} CASCADE")

    def truncate_tables(self, names: list[str]) -> None:
        # One statement, no CASCADE: a table outside the run that references one of these
        # makes PostgreSQL refuse, instead of silently emptying that table too.
        tables = ", ".join(self.qualified(n) for n in names)
        try:
            if self.ddl_hook is not None:  # a journaled step: a resumed run must not empty them again
                self.ddl_hook(self, f"TRUNCATE {tables}")
                return
            with self.conn.cursor() as cur:
                cur.execute(f"TRUNCATE {tables}")
        except (self._psycopg.Error, XferError) as exc:
            if isinstance(exc, XferError) and exc.transient:
                raise
            why = exc.message.rsplit(": ", 1)[-1] if isinstance(exc, XferError) else _pg_message(exc)
            raise XferError(
                f"cannot empty the target tables: {why}",
                hint="include the referencing tables in the run (--tables), or use --if-exists replace",
            ) from None

    def prepare_for_load(self, concurrent_builds: bool = False) -> None:
        # Losing the last commits in a server crash is acceptable mid-load (the run is
        # re-done); waiting for each WAL flush is not.
        # (committed chunks and their journal marks stay atomic: a crash loses both or neither)
        with self.conn.cursor() as cur:  # session settings: not journaled steps
            cur.execute("SET synchronous_commit = off")
            cur.execute("SET maintenance_work_mem = '256MB'")
            if concurrent_builds:
                # Builds running side by side already use the cores: PostgreSQL's own parallel
                # workers per build then only compete (2 indexes of 2M rows: 1.03 -> 0.82 s).
                cur.execute("SET max_parallel_maintenance_workers = 0")
        self._prepared = True

    def write_batches(self, table: Table, batches: Iterable[pa.RecordBatch]) -> Iterator[int]:
        # Generated columns are computed by PostgreSQL (and compared with the source's values
        # by verification): they are not written.
        keep = [i for i, c in enumerate(table.columns) if not c.generated]
        cols = self.column_list(table.columns[i].name for i in keep)
        copy_sql = f"COPY {self.qualified(table.name)} ({cols}) FROM STDIN (FORMAT csv)"
        for batch in batches:
            data = to_csv(batch.select(keep) if len(keep) < batch.num_columns else batch)
            try:
                with self.conn.transaction(), self.conn.cursor() as cur, cur.copy(copy_sql) as cp:
                    view = memoryview(data)
                    for i in range(0, len(view), COPY_CHUNK):
                        cp.write(view[i : i + COPY_CHUNK])
            except self._psycopg.Error as exc:
                err = CopyError(
                    f"writing {table.name}: PostgreSQL refused a batch: {_pg_message(exc)}",
                    transient=self.is_transient(exc),
                )
                # data (22) and integrity (23) errors are about rows: the caller may isolate them
                err.row_error = (getattr(exc, "sqlstate", None) or "")[:2] in ("22", "23")
                raise err from None
            yield batch.num_rows

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
            raise XferError(f"PostgreSQL: verification query failed: {_pg_message(exc)}") from None

    def read_rows(self, table: Table, where: str, params: Sequence[Any], batch_rows: int) -> Iterator[pa.RecordBatch]:
        cols = ", ".join(self.select_expr(c) for c in table.columns)
        sql = f"SELECT {cols} FROM {self.qualified(table.name)} WHERE {where}"
        try:
            yield from self._cursor_batches("xfer_read_rows", sql, tuple(params) or None, table, batch_rows)
        except self._psycopg.Error as exc:
            raise CopyError(f"reading {table.name}: {_pg_message(exc)}") from None

    def verify_batches(self, table: Table, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Every row, in this transaction's snapshot, without a Python object per value: through
        ADBC's driver (binary COPY decoded into Arrow in C++, `pg_adbc`) where it loads, else
        `COPY (SELECT …) TO STDOUT (FORMAT csv)` through psycopg parsed by Arrow's CSV reader.
        Types neither handles go through `read_batches`."""
        exprs = [pg_adbc.select_expr(self, c) for c in table.columns]
        if pg_adbc.available() and None not in exprs:
            sql = f"SELECT {', '.join(e for e in exprs if e)} FROM {self.qualified(table.name)}"
            with self._read_transaction():
                # the driver's own session joins this transaction's snapshot
                snapshot = self._export_snapshot(table)
                try:
                    self.verify_reader = "ADBC (binary COPY), in the snapshot"
                    yield from pg_adbc.read(self._params(), snapshot, sql, table, batch_rows)
                    return
                except pg_adbc.NotStarted as exc:  # e.g. the driver's libpq cannot log in as psycopg did
                    log.info("verify: %s; reading with psycopg instead", exc)
        yield from self._csv_verify_batches(table, batch_rows)

    def _export_snapshot(self, table: Table) -> str:
        try:
            ((snapshot,),) = self._query("SELECT pg_export_snapshot()")
            return str(snapshot)
        except self._psycopg.Error as exc:  # no retry brings a lost snapshot back
            raise CopyError(
                f"reading {table.name}: the connection holding the snapshot is gone ({_pg_message(exc)}); "
                "run the check again"
            ) from None

    def _csv_verify_batches(self, table: Table, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """`verify_batches` through psycopg's COPY: temporal values travel as integers (epoch
        days / microseconds), bytea as hex."""
        plan = [_copy_column(self, c) for c in table.columns]
        if any(p is None for p in plan):
            self.verify_reader = "psycopg (cursor), in the snapshot"
            yield from self.read_batches(table, batch_rows)
            return
        self.verify_reader = "psycopg (COPY … CSV), in the snapshot"
        exprs = ", ".join(p[0] for p in plan if p)
        sql = f"COPY (SELECT {exprs} FROM {self.qualified(table.name)}) TO STDOUT (FORMAT csv)"
        names = [f"c{i}" for i in range(len(plan))]
        convert = pacsv.ConvertOptions(
            column_types={n: p[1] for n, p in zip(names, plan, strict=True) if p},
            null_values=[""],  # COPY writes NULL as an empty field and '' as "" (quoted)
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        )
        read = pacsv.ReadOptions(column_names=names, block_size=8 << 20)
        parse = pacsv.ParseOptions(newlines_in_values=True)
        try:
            with self._read_transaction(), self.conn.cursor() as cur, cur.copy(sql) as copy:
                yield from _csv_batches(_CopyStream(copy), table.arrow_schema, batch_rows, (read, parse, convert))
        except self._psycopg.Error as exc:
            raise CopyError(f"reading {table.name}: {_pg_message(exc)}") from None

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


class _CopyStream(io.RawIOBase):
    """A readable file over psycopg's COPY TO chunks (about one row each), for Arrow's CSV
    reader, which asks for large blocks: `read(n)` gathers chunks up to `n` bytes."""

    def __init__(self, copy: Any) -> None:
        self._chunks = iter(copy)
        self._left = b""

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        parts, size = [self._left], len(self._left)
        while n < 0 or size < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            parts.append(chunk)
            size += len(chunk)
        data = b"".join(parts)
        if n < 0 or len(data) <= n:
            self._left = b""
            return data
        self._left = data[n:]
        return data[:n]

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def _csv_batches(
    stream: Any, schema: pa.Schema, batch_rows: int, csv: tuple[Any, Any, Any]
) -> Iterator[pa.RecordBatch]:
    """Arrow's CSV reader over a COPY's output, converted to `schema`, in batches of at most
    `batch_rows` rows."""
    read, parse, convert = csv
    try:
        reader = pacsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            return  # an empty table: COPY wrote nothing
        raise
    for chunk in reader:
        arrays = [_from_copy(a, f.type) for a, f in zip(chunk.columns, schema, strict=True)]
        batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
        for start in range(0, batch.num_rows, batch_rows):
            yield batch.slice(start, batch_rows)


def _copy_column(d: Postgres, c: Column) -> tuple[str, pa.DataType] | None:
    """(select expression, CSV column type) for the COPY-based scan, or None: not supported."""
    q, t = d.quote(c.name), c.arrow
    micros = f"(extract(epoch FROM {q}) * 1000000)::bigint"
    if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal128(t):
        return q, t
    if pa.types.is_decimal256(t):
        return q, pa.string()
    if pa.types.is_string(t):
        return d.select_expr(c), pa.string()
    if pa.types.is_binary(t):
        return f"encode({q}, 'hex')", pa.string()
    if pa.types.is_date(t):
        return f"({q} - DATE '1970-01-01')", pa.int32()
    if pa.types.is_timestamp(t) or pa.types.is_time(t) or pa.types.is_duration(t):
        return micros, pa.int64()
    return None


def _from_copy(arr: pa.Array, t: pa.DataType) -> pa.Array:
    if arr.type == t:
        return arr
    if pa.types.is_binary(t):
        return _unhex(arr)
    if pa.types.is_timestamp(t) or pa.types.is_time(t) or pa.types.is_duration(t) or pa.types.is_date(t):
        return arr.cast(pa.int64() if not pa.types.is_date(t) else pa.int32()).view(t)
    return arr.cast(t)


_NIBBLE = np.zeros(256, dtype=np.uint8)
_NIBBLE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)


def _unhex(arr: pa.Array) -> pa.Array:
    """Lower-case hex text -> binary, vectorised (the inverse of `bytea_hex`, without the '\\x')."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.string())
    if len(arr) == 0:
        return pa.array([], pa.binary())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    text = np.frombuffer(arr.buffers()[2] or b"", dtype=np.uint8)[offsets[0] : offsets[-1]]
    data = (_NIBBLE[text[0::2]] << 4) | _NIBBLE[text[1::2]]
    new_offsets = ((offsets - offsets[0]) // 2).astype(np.int32)
    validity = arr.buffers()[0] if arr.null_count and arr.offset == 0 else None
    out = pa.Array.from_buffers(
        pa.binary(), len(arr), [validity, pa.py_buffer(new_offsets.tobytes()), pa.py_buffer(data.tobytes())]
    )
    if arr.null_count and validity is None:
        out = pc.if_else(pc.is_null(arr), pa.scalar(None, pa.binary()), out)
    return out


def _pg_message(exc: Any) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).strip().splitlines()[0]
    context = getattr(diag, "context", None) or ""
    copy_line = next((line for line in context.splitlines() if line.startswith("COPY ")), None)
    if copy_line:  # "COPY t, line 3, column doc: ..." names the column
        primary += f" ({copy_line})"
    return primary


def _to_arrow(values: tuple[Any, ...], col: Column, table: str) -> pa.Array:
    t = col.arrow
    try:
        if pa.types.is_duration(t):
            return pa.array(values, pa.int64()).cast(t)
        return pa.array(values, t)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:  # e.g. a 2-D array in an array column
        why = "arrays of more than one dimension cannot be read" if pa.types.is_list(t) else str(exc)
        raise CopyError(f"reading {table}: column {col.name!r} ({col.native_type}): {why}") from None


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def bytea_hex(arr: pa.Array) -> pa.Array:
    """binary -> PostgreSQL's bytea hex text ('\\x0aff'), vectorised with numpy."""
    arr = arr.cast(pa.binary())
    if len(arr) == 0:
        return pa.array([], pa.string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2] or b"", dtype=np.uint8)[offsets[0] : offsets[-1]]
    hexed = np.empty(len(data) * 2, dtype=np.uint8)
    hexed[0::2] = _HEX[data >> 4]
    hexed[1::2] = _HEX[data & 0x0F]
    rel = offsets - offsets[0]
    idx = np.arange(len(arr) + 1, dtype=np.int64)
    new_offsets = (rel.astype(np.int64) * 2 + idx * 2).astype(np.int32)  # + "\x" per value
    out = np.empty(int(new_offsets[-1]), dtype=np.uint8)
    # every value: "\x" then its hex digits
    starts = new_offsets[:-1]
    out[starts] = ord("\\")
    out[starts + 1] = ord("x")
    mask = np.ones(len(out), dtype=bool)
    mask[starts] = False
    mask[starts + 1] = False
    out[mask] = hexed
    result = pa.StringArray.from_buffers(len(arr), pa.py_buffer(new_offsets.tobytes()), pa.py_buffer(out.tobytes()))
    if arr.null_count:  # the input's validity bitmap may be offset (a slice): rebuild it
        result = pc.if_else(pc.is_null(arr), pa.scalar(None, pa.string()), result)
    return result


def to_csv(batch: pa.RecordBatch) -> bytes:
    """Encode a batch as the CSV `COPY … (FORMAT csv)` reads: NULL is an empty unquoted field,
    '' is a quoted empty string (Arrow's writer keeps them apart)."""
    arrays = []
    for arr in batch.columns:
        t = arr.type
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            arr = bytea_hex(arr)
        elif pa.types.is_duration(t):
            arr = pc.binary_join_element_wise(arr.cast(pa.int64()).cast(pa.string()), pa.scalar(" microseconds"), "")
        elif pa.types.is_list(t):
            arr = _pg_array_literal(arr)
        arrays.append(arr)
    sink = io.BytesIO()
    table = pa.Table.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return sink.getvalue()


def _pg_array_literal(arr: pa.Array) -> pa.Array:
    """list<string> -> '{"a","b"}' text (rare: SET columns), per value."""
    out = []
    for v in arr.to_pylist():
        if v is None:
            out.append(None)
        else:
            items = ("NULL" if x is None else '"' + str(x).replace("\\", "\\\\").replace('"', '\\"') + '"' for x in v)
            out.append("{" + ",".join(items) + "}")
    return pa.array(out, pa.string())

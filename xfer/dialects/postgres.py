"""PostgreSQL (source and target).

Writes go through `COPY … FROM STDIN (FORMAT csv)` fed by Arrow's C++ CSV writer, one
transaction per batch (a batch is either fully in or not at all). The target schema comes
from `?schema=` in the URL (default `public`). Sessions run with TimeZone UTC.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..errors import ConnectError, CopyError, XferError
from ..schema import Column, ForeignKey, Index, Table
from ..urls import redact
from .base import Dialect, require, split_type
from .postgres_ddl import PostgresDDL, PostgresTriggers

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

COPY_CHUNK = 128 * 1024  # psycopg copy.write() works best with writes of this size or less


class Postgres(PostgresDDL, PostgresTriggers, Dialect):
    name = "postgres"
    max_identifier_length = 63  # NAMEDATALEN - 1, https://www.postgresql.org/docs/current/limits.html
    text_holds_nul = False  # https://www.postgresql.org/docs/current/datatype-character.html

    @property
    def schema(self) -> str:
        return self.url.query.get("schema", "public")

    def connect(self) -> None:
        self._psycopg = require("psycopg", "PostgreSQL")
        self.conn = self._open()

    def _open(self) -> Any:
        psycopg = self._psycopg
        u = self.url
        params: dict[str, Any] = {
            "host": u.host or "127.0.0.1",
            "port": u.port or 5432,
            "user": u.username or "postgres",
            "dbname": u.database,
            "connect_timeout": 10,
            "options": "-c TimeZone=UTC",
            "autocommit": True,
        }
        if u.password:
            params["password"] = u.password
        for k in ("sslmode", "sslrootcert", "sslcert", "sslkey", "application_name"):
            if k in u.query:
                params[k] = u.query[k]
        try:
            return psycopg.connect(**params)
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
            what = redact(text, self.url.password)
        return ConnectError(f"{where}: {what}")

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
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql)
        except self._psycopg.Error as exc:
            raise XferError(f"PostgreSQL refused: {sql.splitlines()[0][:120]}: {_pg_message(exc)}") from None

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
            self.conn.rollback()
            self.conn.autocommit = True

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
        schema = table.arrow_schema
        # A named (server-side) cursor streams; it needs a transaction, which snapshot() or
        # this function opens.
        own_tx = self.conn.autocommit
        if own_tx:
            self.conn.autocommit = False
        try:
            with self.conn.cursor(name="xfer_read") as cur:
                cur.itersize = batch_rows
                cur.execute(f"SELECT {cols} FROM {self.qualified(table.name)}" + (f" WHERE ({where})" if where else ""))
                while rows := cur.fetchmany(batch_rows):
                    columns = list(zip(*rows, strict=True))
                    arrays = [_to_arrow(col, c) for c, col in zip(table.columns, columns, strict=True)]
                    yield pa.RecordBatch.from_arrays(arrays, schema=schema)
        except self._psycopg.Error as exc:
            raise CopyError(f"reading {table.name}: {_pg_message(exc)}") from None
        finally:
            if own_tx:
                self.conn.rollback()
                self.conn.autocommit = True

    # -- writing --------------------------------------------------------------------------
    def create_schema(self) -> None:
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.quote(self.schema)}")

    def drop_table(self, name: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS {self.qualified(name)} CASCADE")

    def truncate_tables(self, names: list[str]) -> None:
        # One statement, no CASCADE: a table outside the run that references one of these
        # makes PostgreSQL refuse, instead of silently emptying that table too.
        tables = ", ".join(self.qualified(n) for n in names)
        try:
            with self.conn.cursor() as cur:
                cur.execute(f"TRUNCATE {tables}")
        except self._psycopg.Error as exc:
            raise XferError(
                f"cannot empty the target tables: {_pg_message(exc)}",
                hint="include the referencing tables in the run (--tables), or use --if-exists replace",
            ) from None

    def prepare_for_load(self) -> None:
        # Losing the last commits in a server crash is acceptable mid-load (the run is
        # re-done); waiting for each WAL flush is not.
        self.execute("SET synchronous_commit = off")
        self.execute("SET maintenance_work_mem = '256MB'")

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
                err = CopyError(f"writing {table.name}: PostgreSQL refused a batch: {_pg_message(exc)}")
                # data (22) and integrity (23) errors are about rows: the caller may isolate them
                err.row_error = (getattr(exc, "sqlstate", None) or "")[:2] in ("22", "23")
                raise err from None
            yield batch.num_rows


def _pg_message(exc: Any) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).strip().splitlines()[0]
    context = getattr(diag, "context", None) or ""
    copy_line = next((line for line in context.splitlines() if line.startswith("COPY ")), None)
    if copy_line:  # "COPY t, line 3, column doc: ..." names the column
        primary += f" ({copy_line})"
    return primary


def _to_arrow(values: tuple[Any, ...], col: Column) -> pa.Array:
    t = col.arrow
    if pa.types.is_duration(t):
        return pa.array(values, pa.int64()).cast(t)
    return pa.array(values, t)


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

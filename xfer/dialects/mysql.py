"""MySQL and MariaDB (source).

Reading is pymysql's text protocol with every cell left as raw bytes (no per-value Python
conversion); each column is then parsed in Arrow's C++ kernels. Consistent reads: one
connection in REPEATABLE READ with `START TRANSACTION WITH CONSISTENT SNAPSHOT`, session
time zone UTC (so TIMESTAMP values come out as UTC), `SET NAMES utf8mb4` (so latin1 columns
arrive decoded by the server as cp1252, which MySQL's latin1 really is).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..canonical import Canon
from ..errors import ConnectError, CopyError, XferError
from ..schema import Column, ForeignKey, Index, Table
from ..urls import redact
from .base import Dialect, HashSQL, require, split_type

# MySQL type name -> neutral Arrow type (signed, unsigned). Parametrised types are code below.
INTEGERS: dict[str, tuple[pa.DataType, pa.DataType]] = {
    "tinyint": (pa.int8(), pa.uint8()),
    "smallint": (pa.int16(), pa.uint16()),
    "mediumint": (pa.int32(), pa.uint32()),
    "int": (pa.int32(), pa.uint32()),
    "integer": (pa.int32(), pa.uint32()),
    "bigint": (pa.int64(), pa.uint64()),
}
SIMPLE: dict[str, pa.DataType] = {
    "float": pa.float32(),
    "double": pa.float64(),
    "double precision": pa.float64(),
    "real": pa.float64(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "time": pa.duration("us"),  # MySQL TIME spans -838:59:59..838:59:59: an interval, not a time of day
    "year": pa.int16(),
    "json": pa.string(),
}
TEXT = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"}
BINARY = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
DECIMALS = {"decimal", "numeric", "dec", "fixed"}
GEOMETRY = {
    "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
    "multipolygon", "geometrycollection", "geomcollection",
}  # fmt: skip

# MySQL error numbers that mean "your URL is wrong", with what to say
CONNECT_ERRORS = {
    1044: "access denied to the database",
    1045: "access denied (wrong user or password)",
    1049: "the database does not exist",
    2003: "cannot connect to the server (is it running, and is the host/port right?)",
    2005: "unknown host",
    2013: "lost connection to the server",
}

_ZERO_DATE = r"^0000-|-00[- ]|-00$"


class MySQL(Dialect):
    name = "mysql"
    max_identifier_length = 64

    def connect(self) -> None:
        self._pymysql = require("pymysql", "MySQL")
        self.meta = self._open(streaming=False)
        self.reader: Any = None

    def _open(self, *, streaming: bool) -> Any:
        pymysql = self._pymysql
        u = self.url
        kwargs: dict[str, Any] = dict(
            host=u.host or "127.0.0.1",
            port=u.port or 3306,
            user=u.username or "root",
            password=u.password or "",
            database=u.database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=10,
            init_command="SET time_zone = '+00:00'",
        )
        if streaming:
            # Only the encoder half of pymysql's converters: every cell arrives as raw bytes
            # and is parsed column-wise in Arrow instead of value by value in Python.
            kwargs["conv"] = {k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)}
            kwargs["use_unicode"] = False
            kwargs["cursorclass"] = pymysql.cursors.SSCursor
        try:
            return pymysql.connect(**kwargs)
        except pymysql.err.MySQLError as exc:
            raise self._connect_error(exc) from None

    def _connect_error(self, exc: Exception) -> XferError:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        where = f"MySQL at {self.url.host or '127.0.0.1'}:{self.url.port or 3306}, database {self.url.database!r}"
        what = CONNECT_ERRORS.get(code or 0) or redact(str(exc.args[-1] if exc.args else exc), self.url.password)
        return ConnectError(f"{where}: {what}")

    def close(self) -> None:
        for conn in (getattr(self, "meta", None), getattr(self, "reader", None)):
            if conn is not None:
                try:
                    conn.close()
                except Exception:  # closing a dead connection must not mask the real error
                    pass

    def _query(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        with self.meta.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def quote(self, ident: str) -> str:
        return "`" + ident.replace("`", "``") + "`"

    # -- introspection --------------------------------------------------------------------
    def list_tables(self) -> list[str]:
        rows = self._query(
            "SELECT TABLE_NAME FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME"
        )
        return [r[0] for r in rows]

    def introspect(self, names: Iterable[str]) -> list[Table]:
        wanted = list(names)
        if not wanted:
            return []
        tables = {n: Table(n, []) for n in wanted}
        json_checks = self._json_checked_columns()
        for tname, cname, ctype, nullable, default, extra, comment in self._query(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, "
            "COLUMN_COMMENT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            "ORDER BY TABLE_NAME, ORDINAL_POSITION"
        ):
            if tname not in tables:
                continue
            native = ctype.decode() if isinstance(ctype, bytes) else ctype
            if (tname, cname) in json_checks:
                native = "json"  # MariaDB's JSON is LONGTEXT + CHECK (json_valid(col))
            col = Column(
                name=cname,
                native_type=native,
                arrow=self.arrow_type(native),
                nullable=nullable == "YES",
                default=default,
                autoincrement="auto_increment" in (extra or "").lower(),
                comment=comment or None,
                meta=self.column_meta(native),
            )
            tables[tname].columns.append(col)
        self._add_indexes(tables)
        self._add_foreign_keys(tables)
        for tname, rows, comment in self._query(
            "SELECT TABLE_NAME, TABLE_ROWS, TABLE_COMMENT FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE()"
        ):
            if tname in tables:
                tables[tname].row_estimate = rows
                tables[tname].comment = comment or None
        self._decide_tinyint_booleans(tables.values())
        return [tables[n] for n in wanted]

    def _json_checked_columns(self) -> set[tuple[str, str]]:
        try:
            rows = self._query(
                "SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
                "WHERE CONSTRAINT_SCHEMA = DATABASE()"
            )
        except self._pymysql.err.MySQLError:  # MySQL < 8.0.16 has no CHECK_CONSTRAINTS
            return set()
        out = set()
        for tname, clause in rows:
            m = re.fullmatch(r"\s*json_valid\(`((?:[^`]|``)+)`\)\s*", clause or "", re.I)
            if m:
                out.add((tname, m[1].replace("``", "`")))
        return out

    def _add_indexes(self, tables: dict[str, Table]) -> None:
        found: dict[tuple[str, str], Index] = {}
        for tname, iname, non_unique, cname in self._query(
            "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
        ):
            if tname not in tables:
                continue
            if iname == "PRIMARY":
                tables[tname].primary_key.append(cname)
                continue
            ix = found.get((tname, iname))
            if ix is None:
                ix = found[(tname, iname)] = Index(iname, [], unique=not int(non_unique))
                tables[tname].indexes.append(ix)
            ix.columns.append(cname)

    def _add_foreign_keys(self, tables: dict[str, Table]) -> None:
        found: dict[tuple[str, str], ForeignKey] = {}
        for tname, cname, col, rtable, rcol, on_update, on_delete in self._query(
            "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, "
            "k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE "
            "FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r "
            "ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
            "AND r.TABLE_NAME = k.TABLE_NAME "
            "WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL "
            "ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION"
        ):
            if tname not in tables:
                continue
            fk = found.get((tname, cname))
            if fk is None:
                fk = found[(tname, cname)] = ForeignKey(
                    cname, [], rtable, [], on_delete=_rule(on_delete), on_update=_rule(on_update)
                )
                tables[tname].foreign_keys.append(fk)
            fk.columns.append(col)
            fk.ref_columns.append(rcol)

    def _decide_tinyint_booleans(self, tables: Iterable[Table]) -> None:
        """tinyint(1) is MySQL's BOOLEAN, but nothing stops it holding 2 or -1: it becomes
        boolean only when the data holds nothing but 0, 1 and NULL (one scan per table)."""
        for t in tables:
            cols = [c for c in t.columns if c.native_type.lower().startswith("tinyint(1)")]
            if not cols:
                continue
            probes = ", ".join(f"MAX({self.quote(c.name)} NOT IN (0, 1))" for c in cols)
            (row,) = self._query(f"SELECT {probes} FROM {self.quote(t.name)}")
            for c, other in zip(cols, row, strict=True):
                if not other:
                    c.arrow = pa.bool_()
                    c.meta["decision"] = "tinyint(1) holding only 0/1/NULL -> boolean"
                else:
                    c.meta["decision"] = "tinyint(1) holding values other than 0/1 -> kept an integer"

    def count_rows(self, table: str) -> int:
        return int(self._query(f"SELECT COUNT(*) FROM {self.quote(table)}")[0][0])

    # -- types ----------------------------------------------------------------------------
    def arrow_type(self, native_type: str) -> pa.DataType:
        base, p, s, unsigned = split_type(native_type)
        if base in INTEGERS:
            return INTEGERS[base][1 if unsigned else 0]
        if base in ("decimal", "numeric", "dec", "fixed"):
            p, s = p or 10, s or 0
            return pa.decimal128(p, s) if p <= 38 else pa.decimal256(p, s)
        if base == "bit":
            return pa.bool_() if (p or 1) == 1 else pa.uint64()
        if base in SIMPLE:
            return SIMPLE[base]
        if base in TEXT:
            return pa.string()
        if base in BINARY or base in GEOMETRY:
            return pa.binary()
        return pa.string()  # unknown types travel as their text form

    def column_meta(self, native_type: str) -> dict[str, Any]:
        base, p, _s, _u = split_type(native_type)
        if base == "json":
            return {"json": True}
        if base in ("char", "varchar") and p:
            return {"length": p, "char": base == "char"}
        if base in GEOMETRY:
            return {"geometry": base, "wkb": True}
        return {}

    def native_type(self, column: Column) -> str:
        raise XferError("MySQL/MariaDB is supported as a source only in this version")

    # -- reading --------------------------------------------------------------------------
    @contextmanager
    def snapshot(self) -> Iterator[None]:
        self.reader = self._open(streaming=True)
        with self.reader.cursor() as cur:
            # Streams of big tables can stall on a slow writer: don't let the server cut us off.
            cur.execute("SET SESSION net_write_timeout = 3600, net_read_timeout = 3600")
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        try:
            yield
        finally:
            try:
                self.reader.rollback()
            finally:
                self.reader.close()
                self.reader = None

    def select_expr(self, c: Column) -> str:
        q = self.quote(c.name)
        base = split_type(c.native_type)[0]
        if base == "float":
            return f"CAST({q} AS DOUBLE)"  # the text protocol prints FLOAT with 6 digits only
        if base in GEOMETRY:
            return f"ST_AsBinary({q})"
        return q

    def read_batches(self, table: Table, batch_rows: int) -> Iterator[pa.RecordBatch]:
        conn = self.reader
        own = conn is None
        if own:
            conn = self._open(streaming=True)
        cols = ", ".join(self.select_expr(c) for c in table.columns)
        schema = table.arrow_schema
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT {cols} FROM {self.quote(table.name)}")
                while True:
                    rows = cur.fetchmany(batch_rows)
                    if not rows:
                        break
                    columns = list(zip(*rows, strict=True))
                    arrays = [parse_column(c, col) for c, col in zip(table.columns, columns, strict=True)]
                    yield pa.RecordBatch.from_arrays(arrays, schema=schema)
        except self._pymysql.err.MySQLError as exc:
            raise CopyError(f"reading {table.name}: {redact(str(exc), self.url.password)}") from None
        finally:
            if own:
                conn.close()

    # -- verification (added for xfer verify; see Dialect.canonical_sql) --------------------
    hash_sql = HashSQL(
        concat=("CONCAT(", ", ", ")"),
        length="LENGTH({x})",  # bytes: every piece is utf8mb4 text
        md5="MD5({x})",
        hex_int="CAST(CONV(SUBSTRING({x}, {start}, 15), 16, 10) AS UNSIGNED)",
        int_div="({x} DIV {w})",
    )

    def verify_query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        conn = self.reader if self.reader is not None else self.meta  # the snapshot, when open
        try:
            with conn.cursor() as cur:
                cur.execute(sql, tuple(params) or None)
                return list(cur.fetchall())
        except self._pymysql.err.MySQLError as exc:
            raise XferError(f"MySQL: verification query failed: {redact(str(exc), self.url.password)}") from None

    def read_rows(self, table: Table, where: str, params: Sequence[Any], batch_rows: int) -> Iterator[pa.RecordBatch]:
        conn = self.reader
        own = conn is None
        if own:
            conn = self._open(streaming=True)
        cols = ", ".join(self.select_expr(c) for c in table.columns)
        schema = table.arrow_schema
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT {cols} FROM {self.quote(table.name)} WHERE {where}", tuple(params) or None)
                while rows := cur.fetchmany(batch_rows):
                    columns = list(zip(*rows, strict=True))
                    arrays = [parse_column(c, col) for c, col in zip(table.columns, columns, strict=True)]
                    yield pa.RecordBatch.from_arrays(arrays, schema=schema)
        except self._pymysql.err.MySQLError as exc:
            raise CopyError(f"reading {table.name}: {redact(str(exc), self.url.password)}") from None
        finally:
            if own:
                conn.close()

    def canonical_sql(self, column: Column, canon: Canon) -> tuple[str, str] | None:
        q = self.quote(column.name)
        base, _p, scale, _u = split_type(column.native_type)
        null = f"{q} IS NULL"
        kind = canon.kind
        if base in GEOMETRY:
            return (null, f"HEX(ST_AsBinary({q}))") if kind == "binary" else None
        if kind == "int" and (base in INTEGERS or (base in DECIMALS and not scale)):
            return null, f"CAST({q} AS CHAR)"
        if kind == "int" and base in ("bit", "year"):
            return null, f"CAST({q} + 0 AS CHAR)"
        if kind == "decimal" and base in DECIMALS and (scale or 0) == canon.scale:
            return null, f"CAST({q} AS CHAR)"
        if kind == "decimal" and (base in DECIMALS or base in INTEGERS) and canon.scale <= 30:
            return null, f"CAST(CAST({q} AS DECIMAL(65, {canon.scale})) AS CHAR)"
        if kind == "bool" and (base in INTEGERS or base == "bit"):
            return null, f"CASE {q} + 0 WHEN 0 THEN '0' WHEN 1 THEN '1' ELSE CONCAT('?', {q} + 0) END"
        if kind in ("date", "timestamp") and base in ("date", "datetime", "timestamp"):
            # zero and partial dates are NULL, as the reader makes them (the declared policy)
            null = f"({q} IS NULL OR YEAR({q}) = 0 OR MONTH({q}) = 0 OR DAYOFMONTH({q}) = 0)"
            if kind == "date":
                return null, f"CAST(DATEDIFF({q}, '1970-01-01') AS CHAR)"
            # the session runs at UTC (+00:00), so TIMESTAMP values are UTC here too
            return null, f"CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {q}) AS CHAR)"
        if kind == "duration" and base == "time":
            return null, f"CAST(CAST(TIME_TO_SEC({q}) * 1000000 AS SIGNED) AS CHAR)"
        if kind == "text" and base in TEXT:
            text = f"CONVERT({q} USING utf8mb4)"  # latin1 columns decoded as the reader decodes them
            return null, f"LOWER({text})" if canon.lower else text
        if kind == "binary" and base in BINARY:
            return null, f"HEX({q})"
        return None  # floats (no exact text in MySQL), JSON (canonicalised client side), others


def _rule(rule: str | None) -> str | None:
    return None if rule in (None, "RESTRICT", "NO ACTION") else rule


def parse_column(col: Column, values: tuple[bytes | None, ...]) -> pa.Array:
    """Raw text-protocol bytes of one column -> an Arrow array of `col.arrow`, vectorised."""
    raw = pa.array(values, pa.binary())
    t = col.arrow
    base = split_type(col.native_type)[0]
    if pa.types.is_binary(t) and base != "bit":
        return raw
    if base == "bit":
        return _parse_bits(values, t)
    text = raw.cast(pa.string())
    if pa.types.is_boolean(t):
        return pc.not_equal(text.cast(pa.int64()), 0)
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        # Zero and partial dates ('0000-00-00', '2021-00-15') have no value in any other
        # engine: they become NULL (the declared default policy).
        text = pc.if_else(pc.match_substring_regex(text, _ZERO_DATE), pa.scalar(None, pa.string()), text)
        if pa.types.is_date(t):
            return text.cast(t)
        return text.cast(pa.timestamp("us")).cast(t) if t.tz else text.cast(t)
    if pa.types.is_duration(t):
        return _parse_time(text)
    return text.cast(t)


def _parse_bits(values: tuple[bytes | None, ...], t: pa.DataType) -> pa.Array:
    ints = [None if v is None else int.from_bytes(v, "big") for v in values]
    arr = pa.array(ints, pa.uint64())
    return pc.not_equal(arr, 0) if pa.types.is_boolean(t) else arr


_TIME = r"^(?P<sign>-?)(?P<h>\d+):(?P<m>\d{2}):(?P<s>\d{2})(?:\.(?P<f>\d{1,6}))?$"


def _parse_time(text: pa.Array) -> pa.Array:
    """MySQL TIME text ('-838:59:59.000000') -> duration[us]."""
    parts = pc.extract_regex(text, _TIME)
    h = pc.struct_field(parts, "h").cast(pa.int64())
    m = pc.struct_field(parts, "m").cast(pa.int64())
    s = pc.struct_field(parts, "s").cast(pa.int64())
    frac = pc.utf8_rpad(pc.struct_field(parts, "f"), 6, "0")
    frac = pc.if_else(pc.equal(frac, "000000"), pa.scalar("0"), frac).cast(pa.int64())
    us = pc.add(pc.multiply(pc.add(pc.add(pc.multiply(h, 3600), pc.multiply(m, 60)), s), 1_000_000), frac)
    neg = pc.equal(pc.struct_field(parts, "sign"), "-")
    us = pc.if_else(neg, pc.negate(us), us)
    return us.cast(pa.duration("us"))

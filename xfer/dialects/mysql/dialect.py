"""MySQL and MariaDB (source).

Reading is pymysql's text protocol with every cell left as raw bytes (no per-value Python
conversion); each column is then parsed in Arrow's C++ kernels (`parse_column`, reusable by any
reader that yields the text protocol's bytes). Consistent reads: one connection in REPEATABLE
READ with `START TRANSACTION WITH CONSISTENT SNAPSHOT`, session time zone UTC (so TIMESTAMP
values come out as UTC), `SET NAMES utf8mb4` (so latin1 columns arrive decoded by the server as
cp1252, which MySQL's latin1 really is).

Introspection reads `information_schema` and turns its rows into the neutral model with the
pure functions of `catalog`; the type tables and the column parsers are in `types`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from xfer.core.canonical import Canon
from xfer.core.errors import ConnectError, CopyError, XferError
from xfer.core.policies import ValuePolicies
from xfer.core.schema import Column, Table, Trigger, View
from xfer.core.urls import redact
from xfer.dialects.base import Dialect, HashSQL, require, split_type
from xfer.dialects.capabilities import BehaviourFacts, BehaviourSource
from xfer.dialects.mysql.auth import credentials, tls_options
from xfer.dialects.mysql.binlog import MySQLBinlog
from xfer.dialects.mysql.catalog import checks_from_rows, column_from_row, foreign_keys_from_rows, indexes_from_rows
from xfer.dialects.mysql.fast import (
    integer_key,
    range_conditions,
    split_points,
)
from xfer.dialects.mysql.ranges import MySQLRanges, close_quietly
from xfer.dialects.mysql.types import (
    BINARY,
    DECIMALS,
    GEOMETRY,
    INTEGERS,
    SIMPLE,
    TEXT,
    arrow_type_of,
    meta_of,
    text_batch,
)

IDLE_READERS = 4  # streaming connections kept between reads (thousands of small tables: not as many connects)
PROBE_SPLIT_ROWS = 500_000  # a table this big has its data probes split into key ranges
log = logging.getLogger("xfer")

# MySQL/MariaDB error numbers worth another try: server gone away / lost connection (2006, 2013,
# 2055), cannot connect (2003: restarting), connection killed (1927, MariaDB), query interrupted
# by KILL (1317), server shutting down (1053), too many connections (1040), deadlock (1213),
# lock wait timeout (1205).
TRANSIENT_ERRORS = {2006, 2013, 2055, 2003, 1927, 1317, 1053, 1040, 1213, 1205}
# ... and the same in words, for readers that give only text (connectorx)
TRANSIENT_TEXT = (
    "lost connection", "gone away", "connection reset", "broken pipe", "connection was killed",
    "connection refused", "deadlock", "query execution was interrupted", "server shutdown", "unexpected eof",
)  # fmt: skip

# MySQL error numbers that mean "your URL is wrong", with what to say
CONNECT_ERRORS = {
    1044: "access denied to the database",
    1045: "access denied (wrong user or password)",
    1049: "the database does not exist",
    2003: "cannot connect to the server (is it running, and is the host/port right?)",
    2005: "unknown host",
    2013: "lost connection to the server",
}


class MySQL(MySQLBinlog, MySQLRanges, BehaviourSource, Dialect):
    name = "mysql"
    max_identifier_length = 64
    has_zero_dates = True

    def connect(self) -> None:
        self._pymysql = require("pymysql", "MySQL")
        self.meta = self._open(streaming=False)
        self.reader: Any = None
        self._idle: list[Any] = []  # streaming connections a finished read left for the next one
        self._locked = False  # inside read_lock: connectorx may read for the verifier
        version = str(self._query("SELECT VERSION()")[0][0])
        self.mariadb = "mariadb" in version.lower()
        self.version = version

    def _open(self, *, streaming: bool) -> Any:
        pymysql = self._pymysql
        u = self.url
        user, password = credentials(u)
        kwargs: dict[str, Any] = dict(
            host=u.host or "127.0.0.1",
            port=u.port or 3306,
            user=user,
            password=password,
            database=u.database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=10,
            init_command="SET time_zone = '+00:00'",
            **tls_options(u),
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
        except OSError as exc:  # TLS: an unreadable certificate or key, a failed handshake
            where = f"MySQL at {u.host or '127.0.0.1'}:{u.port or 3306}"
            raise ConnectError(f"{where}: TLS: {redact(str(exc), self.secret)}") from None

    def _connect_error(self, exc: Exception) -> XferError:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        where = f"MySQL at {self.url.host or '127.0.0.1'}:{self.url.port or 3306}, database {self.url.database!r}"
        what = CONNECT_ERRORS.get(code or 0) or redact(str(exc.args[-1] if exc.args else exc), self.secret)
        return ConnectError(f"{where}: {what}", transient=self.is_transient(exc))

    @property
    def secret(self) -> str | None:
        """The password in use, wherever it came from (masked in every message)."""
        return credentials(self.url)[1] or None

    def is_transient(self, exc: BaseException) -> bool:
        """Lost or killed connections, a server going away or restarting, deadlocks and lock
        wait timeouts: worth another try. Also connectorx's errors, which are only text."""
        pymysql = self._pymysql
        if isinstance(exc, XferError):  # already classified (`_refused`)
            return exc.transient
        if isinstance(exc, pymysql.err.MySQLError):
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
            if isinstance(exc, pymysql.err.InterfaceError):  # the connection object is closed
                return True
            return code in TRANSIENT_ERRORS
        text = str(exc).lower()
        return any(s in text for s in TRANSIENT_TEXT)

    def reconnect(self) -> None:
        """Replace whichever connection was lost. A lost snapshot reader cannot get its
        snapshot back (MySQL cannot share or export one): the rest is read from a new one,
        and the log says so."""
        if not _alive(self.meta):
            self.meta = self._open(streaming=False)
        if getattr(self, "reader", None) is not None and not _alive(self.reader):
            log.warning(
                "the source connection holding the consistent snapshot was lost: the rest of the copy reads "
                "from a new snapshot (run `xfer verify` afterwards if the source is being written to)"
            )
            self.reader = self._snapshot_reader()

    def close(self) -> None:
        idle = getattr(self, "_idle", [])
        for conn in (getattr(self, "meta", None), getattr(self, "reader", None), *idle):
            if conn is not None:
                try:
                    conn.close()
                except Exception:  # closing a dead connection must not mask the real error
                    pass

    def _query(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        """Every row of `sql` on the main connection (catalogue, counts, key ranges). A driver
        error becomes an XferError with the server's words (`_refused`)."""
        try:
            with self.meta.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        except self._pymysql.err.MySQLError as exc:
            raise self._refused(exc) from None

    def _rows(self, sql: str, args: Any = None) -> list[dict[str, Any]]:
        """Catalogue rows as dicts keyed by upper-case column name, bytes decoded (MySQL 8
        returns some information_schema columns as binary strings)."""
        try:
            with self.meta.cursor() as cur:
                cur.execute(sql, args)
                names = [d[0].upper() for d in cur.description]
                return [
                    {n: v.decode() if isinstance(v, bytes) else v for n, v in zip(names, row, strict=True)}
                    for row in cur.fetchall()
                ]
        except self._pymysql.err.MySQLError as exc:
            raise self._refused(exc) from None

    def _refused(self, exc: Any, what: str = "MySQL") -> XferError:
        """A driver error as one line with the server's words, and whether another try may help
        (a lost connection: yes; a syntax error: no)."""
        msg = redact(str(exc.args[-1] if exc.args else exc), self.secret)
        return XferError(f"{what}: {msg}", transient=self.is_transient(exc))

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
        checks, json_cols, self.check_notes = checks_from_rows(self._check_rows(), self.mariadb)
        for row in self._rows(
            "SELECT * FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            "ORDER BY TABLE_NAME, ORDINAL_POSITION"
        ):
            t = tables.get(row["TABLE_NAME"])
            if t is None:
                continue
            col = column_from_row(row, self.mariadb)
            if (t.name, col.name) in json_cols:
                col.meta["decision"] = f"{col.native_type} with CHECK (json_valid(...)): MariaDB's JSON"
                col.native_type, col.meta["json"] = "json", True
            t.columns.append(col)
        for tname, (pk, indexes) in indexes_from_rows(
            self._rows("SELECT * FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()")
        ).items():
            if tname in tables:
                tables[tname].primary_key, tables[tname].indexes = pk, indexes
        for tname, fks in foreign_keys_from_rows(
            self._rows(
                "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.ORDINAL_POSITION, k.REFERENCED_TABLE_NAME, "
                "k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE "
                "FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r "
                "ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
                "AND r.TABLE_NAME = k.TABLE_NAME "
                "WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL"
            )
        ).items():
            if tname in tables:
                tables[tname].foreign_keys = fks
        for tname, t_checks in checks.items():
            if tname in tables:
                tables[tname].checks = t_checks
        for r in self._rows(
            "SELECT TABLE_NAME, TABLE_ROWS, TABLE_COMMENT, AUTO_INCREMENT, TABLE_COLLATION "
            "FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
        ):
            t = tables.get(r["TABLE_NAME"])
            if t is not None:
                t.row_estimate = r["TABLE_ROWS"]
                t.comment = r["TABLE_COMMENT"] or None
                t.auto_increment = int(r["AUTO_INCREMENT"]) if r["AUTO_INCREMENT"] else None
                t.collation = r.get("TABLE_COLLATION") or None
        self._decide_tinyint_booleans(tables.values())
        return [tables[n] for n in wanted]

    def _check_rows(self) -> list[dict[str, Any]]:
        try:
            if self.mariadb:  # constraint names are per table there: CHECK_CONSTRAINTS has TABLE_NAME
                return self._rows(
                    "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
                    "WHERE CONSTRAINT_SCHEMA = DATABASE()"
                )
            return self._rows(
                "SELECT t.TABLE_NAME, t.CONSTRAINT_NAME, c.CHECK_CLAUSE, t.ENFORCED "
                "FROM information_schema.TABLE_CONSTRAINTS t JOIN information_schema.CHECK_CONSTRAINTS c "
                "ON c.CONSTRAINT_SCHEMA = t.CONSTRAINT_SCHEMA AND c.CONSTRAINT_NAME = t.CONSTRAINT_NAME "
                "WHERE t.TABLE_SCHEMA = DATABASE() AND t.CONSTRAINT_TYPE = 'CHECK'"
            )
        except XferError as exc:  # MySQL < 8.0.16 has no CHECK_CONSTRAINTS
            if exc.transient:  # but a lost connection is no answer
                raise
            return []

    def _decide_tinyint_booleans(self, tables: Iterable[Table]) -> None:
        """tinyint(1) is MySQL's BOOLEAN, but nothing stops it holding 2 or -1: it becomes
        boolean only when the data holds nothing but 0, 1 and NULL (one scan per table, split
        into key ranges scanned at once on a big table: the scan is on the migration's and the
        verifier's critical path, about 0.4 s per million rows)."""
        for t in tables:
            cols = [c for c in t.columns if c.native_type.lower().startswith("tinyint(1)")]
            if not cols:
                continue
            probes = ", ".join(f"MAX({self.quote(c.name)} NOT IN (0, 1))" for c in cols)
            rows = self._probe(f"SELECT {probes} FROM {self.quote(t.name)}", t) if self.probe_data else []
            for i, c in enumerate(cols):
                if not any(r[i] for r in rows):
                    c.arrow = pa.bool_()
                    c.meta["facts"] = ["only_0_1"]
                    c.meta["decision"] = "tinyint(1) holding only 0/1/NULL -> boolean"
                else:
                    c.meta["decision"] = "tinyint(1) holding values other than 0/1 -> kept an integer"

    def behaviour_facts(self, tables: Iterable[Table]) -> BehaviourFacts:
        facts = BehaviourFacts(sql_mode=str(self._query("SELECT @@GLOBAL.sql_mode")[0][0] or ""))
        if not self.probe_data:
            return facts
        for t in tables:
            probes: list[tuple[str, str, str]] = []
            for c in t.columns:
                base = split_type(c.native_type)[0]
                q = self.quote(c.name)
                if base in ("date", "datetime", "timestamp"):
                    # what the copy reads as NULL: year, month or day 0 ('0000-00-00', '2021-00-15')
                    zero = f"SUM(YEAR({q}) = 0 OR MONTH({q}) = 0 OR DAYOFMONTH({q}) = 0)"
                    probes.append((c.name, "zero_dates", zero))
                elif c.meta.get("pad_space") and base in ("varchar", "tinytext", "text", "mediumtext", "longtext"):
                    probes.append((c.name, "trailing_spaces", f"SUM({q} LIKE '% ')"))
            if not probes:
                continue
            rows = self._probe(f"SELECT {', '.join(p[2] for p in probes)} FROM {self.quote(t.name)}", t)
            for i, (col, what, _) in enumerate(probes):
                n = sum(int(r[i] or 0) for r in rows)
                if n:
                    facts.counts.setdefault((t.name, col), {})[what] = n
        return facts

    def _probe(self, sql: str, t: Table) -> list[tuple[Any, ...]]:
        """`sql` (an aggregate over the whole table) once per key range, the ranges on
        connections of their own at the same time; one row per range."""
        key = integer_key(t) if (t.row_estimate or 0) >= PROBE_SPLIT_ROWS else None
        parts = min(os.cpu_count() or 1, 4)
        points = split_points(self._query, t, key, parts) if key and parts > 1 else []
        if not points:
            return self._query(sql)
        conds = range_conditions(key, points, self.quote)

        def one(cond: str | None) -> tuple[Any, ...]:
            conn = self._open(streaming=False)
            try:
                with conn.cursor() as cur:
                    cur.execute(f"{sql} WHERE {cond}")
                    return tuple(cur.fetchone())
            finally:
                close_quietly(conn)

        with ThreadPoolExecutor(max_workers=len(conds), thread_name_prefix="xfer-probe") as pool:
            return list(pool.map(one, conds))

    def list_views(self) -> list[View]:
        rows = self._rows(
            "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() "
            "ORDER BY TABLE_NAME"
        )
        return [View(r["TABLE_NAME"], r["VIEW_DEFINITION"] or "") for r in rows]

    def list_triggers(self) -> list[Trigger]:
        rows = self._rows(
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_STATEMENT "
            "FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY TRIGGER_NAME"
        )
        return [
            Trigger(r["TRIGGER_NAME"], r["EVENT_OBJECT_TABLE"], r["ACTION_TIMING"], r["EVENT_MANIPULATION"],
                    r["ACTION_STATEMENT"] or "")
            for r in rows
        ]  # fmt: skip

    def catalogue_notes(self) -> list[str]:
        """Schema objects xfer does not carry, so the plan can say so."""
        notes = list(getattr(self, "check_notes", []))
        for r in self._rows(
            "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() "
            "ORDER BY ROUTINE_NAME"
        ):
            notes.append(
                f"{r['ROUTINE_TYPE'].lower()} {r['ROUTINE_NAME']!r} not migrated (stored routines are not translated)"
            )
        return notes

    def count_rows(self, table: str) -> int:
        return int(self._query(f"SELECT COUNT(*) FROM {self.quote(table)}")[0][0])

    def execute(self, sql: str) -> None:
        """One statement (a mapping file's hook on the source), autocommitted."""
        try:
            with self.meta.cursor() as cur:
                cur.execute(sql)
        except self._pymysql.err.MySQLError as exc:
            raise self._refused(exc, f"MySQL refused: {sql.splitlines()[0][:120]}") from None

    def known_type_names(self) -> set[str]:
        return set(INTEGERS) | set(SIMPLE) | TEXT | BINARY | GEOMETRY | {"decimal", "numeric", "dec", "fixed", "bit"}

    # -- types ----------------------------------------------------------------------------
    def arrow_type(self, native_type: str) -> pa.DataType:
        return arrow_type_of(native_type)

    def column_meta(self, native_type: str) -> dict[str, Any]:
        return meta_of(native_type)

    def native_type(self, column: Column) -> str:
        raise XferError("MySQL/MariaDB is supported as a source only in this version")

    # -- reading --------------------------------------------------------------------------
    @contextmanager
    def snapshot(self) -> Iterator[None]:
        self.reader = self._snapshot_reader()
        try:
            yield
        finally:
            try:
                self.reader.rollback()
            finally:
                self.reader.close()
                self.reader = None

    def _snapshot_reader(self) -> Any:
        reader = self._open(streaming=True)
        with reader.cursor() as cur:
            # Streams of big tables can stall on a slow writer: don't let the server cut us off.
            cur.execute("SET SESSION net_write_timeout = 3600, net_read_timeout = 3600")
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        return reader

    def select_expr(self, c: Column) -> str:
        q = self.quote(c.name)
        base = split_type(c.native_type)[0]
        if base == "float":
            return f"CAST({q} AS DOUBLE)"  # the text protocol prints FLOAT with 6 digits only
        if base in GEOMETRY:
            # MySQL 8 would give latitude first for geographic SRSs; WKB is longitude first.
            return f"ST_AsBinary({q})" if getattr(self, "mariadb", True) else f"ST_AsBinary({q}, 'axis-order=long-lat')"
        return q

    def read_batches(
        self, table: Table, batch_rows: int, where: str | None = None, policies: ValuePolicies | None = None
    ) -> Iterator[pa.RecordBatch]:
        return self._stream(table, where, (), batch_rows, policies)

    def _stream(
        self, table: Table, where: str | None, params: Sequence[Any], batch_rows: int, policies: ValuePolicies | None
    ) -> Iterator[pa.RecordBatch]:
        """The rows of `table` (matching `where`, with `params`) over the snapshot connection, or
        a streaming one of its own, parsed column-wise; zero dates flagged for `policies`."""
        conn = self.reader
        own = conn is None
        if own:  # a streaming connection of its own, kept for the next read when this one ends well
            conn = self._idle.pop() if self._idle else self._open(streaming=True)
        clean = False
        cols = ", ".join(self.select_expr(c) for c in table.columns)
        schema = table.arrow_schema
        cur = conn.cursor()
        try:
            # (the cursor is closed in `finally`, where a killed connection cannot fail the close)
            sql = f"SELECT {cols} FROM {self.quote(table.name)}" + (f" WHERE ({where})" if where else "")
            cur.execute(sql, tuple(params) or None)
            while True:
                rows = cur.fetchmany(batch_rows)
                if not rows:
                    break
                yield text_batch(table.columns, schema, zip(*rows, strict=True), policies)
            clean = True
        except self._pymysql.err.MySQLError as exc:
            raise CopyError(
                f"reading {table.name}: {redact(str(exc), self.secret)}", transient=self.is_transient(exc)
            ) from None
        except AttributeError:
            if conn._sock is not None:  # not pymysql reading from a connection that is gone: a bug
                raise
            raise CopyError(f"reading {table.name}: lost connection to the server", transient=True) from None
        finally:
            close_quietly(cur)
            if own and clean and len(self._idle) < IDLE_READERS:
                self._idle.append(conn)  # list.append/pop are atomic: workers share the list
            elif own:
                close_quietly(conn)

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
            raise XferError(f"MySQL: verification query failed: {redact(str(exc), self.secret)}") from None

    def read_rows(self, table: Table, where: str, params: Sequence[Any], batch_rows: int) -> Iterator[pa.RecordBatch]:
        return self._stream(table, where, params, batch_rows, None)

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


def _alive(conn: Any) -> bool:
    if conn is None:
        return False
    try:
        conn.ping(reconnect=False)
        return True
    except Exception:  # any failure means: replace it
        return False

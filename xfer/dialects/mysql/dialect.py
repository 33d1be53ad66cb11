"""MySQL and MariaDB (source).

Reading is pymysql's text protocol with every cell left as raw bytes (no per-value Python
conversion); each column is then parsed in Arrow's C++ kernels (`parse_column`, reusable by any
reader that yields the text protocol's bytes). Consistent reads: one connection in REPEATABLE
READ with `START TRANSACTION WITH CONSISTENT SNAPSHOT`, session time zone UTC (so TIMESTAMP
values come out as UTC), `SET NAMES utf8mb4` (so latin1 columns arrive decoded by the server as
cp1252, which MySQL's latin1 really is).

Introspection reads `information_schema` and turns its rows into the neutral model with pure
functions (`column_from_row`, `indexes_from_rows`, `checks_from_rows`, ...), so both catalogue
shapes -- MariaDB's and MySQL 8's (no display widths, literal defaults unquoted, expression
defaults flagged DEFAULT_GENERATED, CHECK_CONSTRAINTS without TABLE_NAME) -- are unit-tested
on recorded rows.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from xfer.core.canonical import Canon
from xfer.core.errors import ConnectError, CopyError, XferError
from xfer.core.policies import Flag, ValuePolicies
from xfer.core.schema import Check, Column, ForeignKey, Index, Table, Trigger, View
from xfer.core.typemap import parse_type
from xfer.core.urls import redact
from xfer.dialects.base import Dialect, HashSQL, require, split_type
from xfer.dialects.mysql.auth import credentials, tls_options

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
TEXT = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "uuid", "inet4", "inet6"}
BINARY = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
DECIMALS = {"decimal", "numeric", "dec", "fixed"}
GEOMETRY = {
    "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
    "multipolygon", "geometrycollection", "geomcollection",
}  # fmt: skip
TEMPORAL = {"date", "datetime", "timestamp"}

PROBE_SPLIT_ROWS = 500_000  # a table this big has its data probes split into key ranges
VERIFY_CHUNK_BYTES = 24 << 20  # a connectorx read holds its key range whole (two at a time): bounds memory
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

_ZERO_DATE = r"^0000-|-00[- ]|-00$"
_NOW = re.compile(
    r"^(current_timestamp|now|localtimestamp|localtime)\s*(\(\s*(\d*)\s*\))?$|^(curdate|current_date)\s*(\(\s*\))?$",
    re.I,
)
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_BITS = re.compile(r"^b'([01]*)'$", re.I)
# MySQL 8 writes string literals inside expressions as _utf8mb4\'x\' (escaped, with a charset)
_INTRODUCER = re.compile(r"_(?:utf8mb4|utf8mb3|utf8|latin1|binary|ascii|ucs2|utf16|utf32)\s*(?=')", re.I)


# -- catalogue rows -> neutral model (pure functions: unit-tested on recorded rows) ----------
def arrow_type_of(native_type: str) -> pa.DataType:
    """The neutral Arrow type of a MySQL column type as COLUMN_TYPE prints it."""
    base, p, s, unsigned = split_type(native_type)
    if base in INTEGERS:
        return INTEGERS[base][1 if unsigned else 0]
    if base in ("decimal", "numeric", "dec", "fixed"):
        p, s = p or 10, s or 0
        return pa.decimal128(p, s) if p <= 38 else pa.decimal256(p, s)
    if base == "bit":
        return pa.bool_() if (p or 1) == 1 else pa.string()  # bit(n): a string of n '0'/'1' digits
    if base in SIMPLE:
        return SIMPLE[base]
    if base in TEXT:
        return pa.string()
    if base in BINARY or base in GEOMETRY:
        return pa.binary()
    return pa.string()  # unknown types travel as their text form


def labels_of(native_type: str) -> list[str]:
    """enum('a','it''s') -> ['a', "it's"]"""
    t = parse_type(native_type)
    return [unquote_string(a) for a in (t.args or ())]


def meta_of(native_type: str) -> dict[str, Any]:
    """Facts Arrow cannot carry about a MySQL column type."""
    base, p, _s, unsigned = split_type(native_type)
    meta: dict[str, Any] = {"unsigned": True} if unsigned else {}
    if base == "json":
        meta["json"] = True
    elif base in ("char", "varchar") and p:
        meta.update(length=p, char=base == "char")
    elif base in GEOMETRY:
        meta.update(geometry=base, wkb=True)
    elif base in ("enum", "set"):
        meta[base] = labels_of(native_type)
    elif base == "bit" and (p or 1) > 1:
        meta["bits"] = p
    return meta


_ESCAPES = {"0": "\0", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "Z": "\x1a", "%": "\\%", "_": "\\_"}


def unquote_string(literal: str) -> str:
    """A MySQL string literal as it prints in the catalogue ('it''s', 'a\\\\b') -> its value."""
    body = literal[1:-1] if len(literal) >= 2 and literal[0] == literal[-1] == "'" else literal
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        elif ch == "'" and body[i + 1 : i + 2] == "'":
            out.append("'")
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def mysql8_expression(text: str) -> str:
    """MySQL 8 prints expressions (defaults, generated columns, checks) with escaped quotes and
    charset introducers: concat(_utf8mb4\\'a\\',`b`) -> concat('a',`b`)."""
    return _INTRODUCER.sub("", text.replace("\\'", "'"))


def parse_default(row: Mapping[str, Any], mariadb: bool) -> tuple[str | None, str | None, str | None]:
    """(default as MySQL SQL, kind, literal value) of an information_schema.COLUMNS row.

    MariaDB (10.2.7+) prints every default as SQL: 'text' quoted, NULL as the word, functions
    as current_timestamp(). MySQL prints literals bare ('abc', not "'abc'") and flags
    expression defaults (CURRENT_TIMESTAMP too) with EXTRA DEFAULT_GENERATED."""
    raw = row.get("COLUMN_DEFAULT")
    if raw is None:
        return None, None, None
    data_type = str(row.get("DATA_TYPE") or "").lower()
    extra = str(row.get("EXTRA") or "").lower()
    if mariadb:
        if raw == "NULL":
            return None, None, None
        if len(raw) >= 2 and raw[0] == raw[-1] == "'":
            return raw, "literal", unquote_string(raw)
        if m := _BITS.match(raw):
            return raw, "literal", str(int(m[1] or "0", 2))
        if _NUMBER.match(raw):
            return raw, "literal", raw
        if _NOW.match(raw):
            return raw, "now", None
        return raw, "expression", None
    if "default_generated" in extra:
        expr = mysql8_expression(raw)
        return expr, "now" if _NOW.match(expr) else "expression", None
    if data_type in ("timestamp", "datetime") and _NOW.match(raw):  # MySQL 5.7
        return raw, "now", None
    if data_type == "bit" and (m := _BITS.match(raw)):
        return raw, "literal", str(int(m[1] or "0", 2))
    return (raw if _NUMBER.match(raw) else quote_string(raw)), "literal", raw


def column_from_row(row: Mapping[str, Any], mariadb: bool) -> Column:
    """One information_schema.COLUMNS row (a dict) -> a neutral Column."""
    native = str(row["COLUMN_TYPE"])
    if str(row.get("DATA_TYPE") or "").lower() == "json":
        native = "json"  # MySQL 8's native JSON
    extra = str(row.get("EXTRA") or "").lower()
    col = Column(
        name=row["COLUMN_NAME"],
        native_type=native,
        arrow=arrow_type_of(native),
        nullable=row.get("IS_NULLABLE") == "YES",
        autoincrement="auto_increment" in extra,
        comment=row.get("COLUMN_COMMENT") or None,
        meta=meta_of(native),
    )
    generation = row.get("GENERATION_EXPRESSION")
    if generation and ("generated" in extra or row.get("IS_GENERATED") == "ALWAYS"):
        col.generated = generation if mariadb else mysql8_expression(generation)
        col.generated_stored = "stored" in extra or "persistent" in extra
    else:
        col.default, col.default_kind, col.default_value = parse_default(row, mariadb)
    if "on update current_timestamp" in extra or "on update now" in extra:
        col.on_update = "now"
    charset = row.get("CHARACTER_SET_NAME")
    if charset:
        col.meta["charset"] = charset
        if charset == "latin1":
            col.meta["policy"] = "latin1 decoded as cp1252 (what MySQL's latin1 is)"
    return col


def indexes_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, tuple[list[str], list[Index]]]:
    """information_schema.STATISTICS rows -> per table: (primary key columns, other indexes).
    Prefix lengths (SUB_PART), DESC parts (COLLATION 'D'), MySQL 8 functional parts
    (EXPRESSION, COLUMN_NAME NULL) and the index kind (FULLTEXT, SPATIAL) are kept."""
    out: dict[str, tuple[list[str], list[Index]]] = {}
    found: dict[tuple[str, str], Index] = {}
    ordered = sorted(rows, key=lambda r: (r["TABLE_NAME"], r["INDEX_NAME"], int(r["SEQ_IN_INDEX"])))
    for r in ordered:
        pk, indexes = out.setdefault(r["TABLE_NAME"], ([], []))
        if r["INDEX_NAME"] == "PRIMARY":
            pk.append(r["COLUMN_NAME"])
            continue
        key = (r["TABLE_NAME"], r["INDEX_NAME"])
        ix = found.get(key)
        if ix is None:
            kind = str(r.get("INDEX_TYPE") or "BTREE").lower()
            ix = found[key] = Index(r["INDEX_NAME"], [], unique=not int(r["NON_UNIQUE"]), kind=kind)
            indexes.append(ix)
        expr = r.get("EXPRESSION")
        ix.columns.append(r["COLUMN_NAME"] or "")
        ix.lengths.append(int(r["SUB_PART"]) if r.get("SUB_PART") else None)
        ix.descending.append(r.get("COLLATION") == "D")
        ix.expressions.append(mysql8_expression(expr) if expr else None)
    return out


def foreign_keys_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[ForeignKey]]:
    """KEY_COLUMN_USAGE joined with REFERENTIAL_CONSTRAINTS -> per table foreign keys."""
    out: dict[str, list[ForeignKey]] = {}
    found: dict[tuple[str, str], ForeignKey] = {}
    for r in sorted(rows, key=lambda r: (r["TABLE_NAME"], r["CONSTRAINT_NAME"], int(r["ORDINAL_POSITION"]))):
        key = (r["TABLE_NAME"], r["CONSTRAINT_NAME"])
        fk = found.get(key)
        if fk is None:
            fk = found[key] = ForeignKey(
                r["CONSTRAINT_NAME"],
                [],
                r["REFERENCED_TABLE_NAME"],
                [],
                on_delete=_rule(r.get("DELETE_RULE")),
                on_update=_rule(r.get("UPDATE_RULE")),
            )
            out.setdefault(r["TABLE_NAME"], []).append(fk)
        fk.columns.append(r["COLUMN_NAME"])
        fk.ref_columns.append(r["REFERENCED_COLUMN_NAME"])
    return out


_JSON_VALID = re.compile(r"\s*\(?\s*json_valid\(`((?:[^`]|``)+)`\)\s*\)?\s*", re.I)


def checks_from_rows(
    rows: Iterable[Mapping[str, Any]], mariadb: bool
) -> tuple[dict[str, list[Check]], set[tuple[str, str]], list[str]]:
    """CHECK constraints -> (per table checks, MariaDB JSON columns, notes).

    MariaDB's JSON type is LONGTEXT + CHECK (json_valid(col)): that check marks the column as
    JSON instead of becoming a constraint. MySQL 8's NOT ENFORCED checks are not carried."""
    checks: dict[str, list[Check]] = {}
    json_cols: set[tuple[str, str]] = set()
    notes: list[str] = []
    for r in rows:
        table, name = r["TABLE_NAME"], r["CONSTRAINT_NAME"]
        clause = str(r.get("CHECK_CLAUSE") or "")
        if not mariadb:
            clause = mysql8_expression(clause)
        if m := _JSON_VALID.fullmatch(clause):
            json_cols.add((table, m[1].replace("``", "`")))
            continue
        if str(r.get("ENFORCED") or "YES").upper() == "NO":
            notes.append(f"{table}: check {name!r} is NOT ENFORCED in the source: not created")
            continue
        cols = [c.replace("``", "`") for c in re.findall(r"`((?:[^`]|``)+)`", clause)]
        checks.setdefault(table, []).append(Check(name, clause, cols))
    return checks, json_cols, notes


def _rule(rule: str | None) -> str | None:
    return None if rule in (None, "RESTRICT", "NO ACTION") else rule


class MySQL(Dialect):
    name = "mysql"
    max_identifier_length = 64

    def connect(self) -> None:
        self._pymysql = require("pymysql", "MySQL")
        self.meta = self._open(streaming=False)
        self.reader: Any = None
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
        for conn in (getattr(self, "meta", None), getattr(self, "reader", None)):
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
            "SELECT TABLE_NAME, TABLE_ROWS, TABLE_COMMENT, AUTO_INCREMENT FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE()"
        ):
            t = tables.get(r["TABLE_NAME"])
            if t is not None:
                t.row_estimate = r["TABLE_ROWS"]
                t.comment = r["TABLE_COMMENT"] or None
                t.auto_increment = int(r["AUTO_INCREMENT"]) if r["AUTO_INCREMENT"] else None
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

    def _probe(self, sql: str, t: Table) -> list[tuple[Any, ...]]:
        """`sql` (an aggregate over the whole table) once per key range, the ranges on
        connections of their own at the same time; one row per range."""
        from xfer.dialects.mysql.fast import integer_key, range_conditions, split_points

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
                _close_quietly(conn)

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
        conn = self.reader
        own = conn is None
        if own:
            conn = self._open(streaming=True)
        cols = ", ".join(self.select_expr(c) for c in table.columns)
        schema = table.arrow_schema
        cur = conn.cursor()
        try:
            # (the cursor is closed in `finally`, where a killed connection cannot fail the close)
            cur.execute(f"SELECT {cols} FROM {self.quote(table.name)}" + (f" WHERE ({where})" if where else ""))
            while True:
                rows = cur.fetchmany(batch_rows)
                if not rows:
                    break
                arrays, flags = [], []
                for col, values in zip(table.columns, zip(*rows, strict=True), strict=True):
                    raw = pa.array(values, pa.binary())
                    if pa.types.is_date(col.arrow) or pa.types.is_timestamp(col.arrow):
                        text = raw.cast(pa.string())
                        arr, zero = parse_temporal(text, col.arrow)
                        arrays.append(arr)
                        if zero is not None:
                            flags.append(Flag(col.name, zero, text, "zero date"))
                    else:
                        arrays.append(parse_column(col, raw))
                batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
                if flags and policies is not None:
                    batch = policies.apply_flags(batch, flags)
                yield batch
        except self._pymysql.err.MySQLError as exc:
            raise CopyError(
                f"reading {table.name}: {redact(str(exc), self.secret)}", transient=self.is_transient(exc)
            ) from None
        except AttributeError:
            if conn._sock is not None:  # not pymysql reading from a connection that is gone: a bug
                raise
            raise CopyError(f"reading {table.name}: lost connection to the server", transient=True) from None
        finally:
            _close_quietly(cur)
            if own:
                _close_quietly(conn)

    @contextmanager
    def read_lock(self, tables: Sequence[str]) -> Iterator[str | None]:
        """`LOCK TABLES … READ` on a connection of its own (mysqldump's --lock-tables): while it
        is held, the verifier's connectorx readers, one connection per key range, see what the
        snapshot sees. Without connectorx there is nothing to gain: no lock."""
        from xfer.dialects.mysql.fast import reader_choice

        if not tables or reader_choice(self.url) != "connectorx":
            yield None
            return
        conn = self._open(streaming=False)
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION lock_wait_timeout = 60")
                cur.execute("LOCK TABLES " + ", ".join(f"{self.quote(t)} READ" for t in tables))
        except self._pymysql.err.MySQLError as exc:
            _close_quietly(conn)
            raise XferError(
                f"MySQL: could not lock the source tables for reading: {redact(str(exc), self.secret)}",
                hint="use --consistency snapshot (no lock, a slower reader)",
            ) from None
        self._locked = True
        try:
            yield "source tables locked against writes while they were read (--consistency lock)"
        finally:
            self._locked = False
            _close_quietly(conn)  # closing the session releases the lock

    def verify_batches(self, table: Table, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Under `read_lock`, connectorx reads the table in key ranges of about VERIFY_CHUNK_BYTES
        (bounded memory, no per-row Python); otherwise, or when a range cannot be read that
        way, the snapshot's pymysql reader."""
        from xfer.dialects.mysql import fast as mf

        key = mf.integer_key(table)
        ((size,),) = self._query(
            "SELECT COALESCE(DATA_LENGTH, 0) FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            (table.name,),
        ) or [(0,)]
        if not self._locked or (key is None and int(size) > VERIFY_CHUNK_BYTES):
            self.verify_reader = "pymysql, in the snapshot"
            yield from self.read_batches(table, batch_rows)
            return
        self.verify_reader = "connectorx, in key ranges under the read lock"
        points = mf.split_points(self._query, table, key, mf.chunk_count(int(size), VERIFY_CHUNK_BYTES)) if key else []
        conds = mf.range_conditions(key, points, self.quote)
        how = mf.kinds(table, getattr(self, "mariadb", True))

        def read(cond: str | None) -> pa.Table | CopyError:
            try:
                return mf.read_chunk_cx(self.url, table, f" WHERE {cond}" if cond else "", self, how, flags="none")
            except CopyError as exc:
                return exc

        # The next key range is read (GIL released) while this one's batches are hashed.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xfer-verify-cx") as pool:
            ahead = pool.submit(read, conds[0])
            for i, cond in enumerate(conds):
                got = ahead.result()
                if i + 1 < len(conds):
                    ahead = pool.submit(read, conds[i + 1])
                if isinstance(got, CopyError):
                    if got.transient:
                        raise got
                    log.info("verify: %s; reading %s with pymysql instead", got, table.name)
                    self.verify_reader = "connectorx and pymysql, in key ranges under the read lock"
                    yield from self.read_batches(table, batch_rows, cond)
                    continue
                for raw in got.to_batches(batch_rows):
                    yield mf.neutral_batch(raw, table, how, None, flags="none")
                del got

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
            raise CopyError(f"reading {table.name}: {redact(str(exc), self.secret)}") from None
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


def _close_quietly(thing: Any) -> None:
    """Close a cursor or connection whose connection may have been killed: pymysql then fails
    while finishing the stream, and that must not hide the error being raised."""
    try:
        thing.close()
    except Exception:
        pass


def _alive(conn: Any) -> bool:
    if conn is None:
        return False
    try:
        conn.ping(reconnect=False)
        return True
    except Exception:  # any failure means: replace it
        return False


# -- values: text-protocol bytes -> Arrow, one column at a time --------------------------
def parse_column(col: Column, values: pa.Array | Iterable[bytes | None]) -> pa.Array:
    """Raw text-protocol bytes of one column -> an Arrow array of `col.arrow`, vectorised.
    Zero and partial dates come out NULL; `zero_dates` finds them for the policy."""
    raw = values if isinstance(values, pa.Array) else pa.array(list(values), pa.binary())
    t = col.arrow
    base = split_type(col.native_type)[0]
    if base == "bit":
        return _parse_bits(raw, t, col.meta.get("bits") or 1)
    if pa.types.is_binary(t):
        return raw
    text = raw.cast(pa.string())
    if pa.types.is_boolean(t):
        return pc.not_equal(text.cast(pa.int64()), 0)
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return parse_temporal(text, t)[0]
    if pa.types.is_duration(t):
        return _parse_time(text)
    return text.cast(t)


def zero_dates(col: Column, raw: pa.Array) -> pa.Array | None:
    """Where a DATE/DATETIME/TIMESTAMP column holds a zero or partial date ('0000-00-00',
    '2021-00-15') or one no calendar has ('2021-02-31' under ALLOW_INVALID_DATES): a boolean
    mask, or None for other columns or when there is none."""
    if not (pa.types.is_date(col.arrow) or pa.types.is_timestamp(col.arrow)):
        return None
    return parse_temporal(raw.cast(pa.string()), col.arrow)[1]


def parse_temporal(text: pa.Array, t: pa.DataType) -> tuple[pa.Array, pa.Array | None]:
    """MySQL date/time text -> (date32 or timestamp array, mask of the values that have no date
    in any other engine, or None). Those come out NULL; the reader applies the declared policy
    to them. Valid data costs one regex and one cast; the per-value calendar check runs only
    when the cast finds a date that does not exist."""
    zero = pc.match_substring_regex(text, _ZERO_DATE)
    bad = zero if pc.any(zero).as_py() else None
    if bad is not None:
        text = pc.if_else(pc.fill_null(bad, False), pa.scalar(None, pa.string()), text)
    try:
        out = _cast_temporal(text, t)
    except pa.ArrowInvalid:  # '2021-02-31': find the impossible ones, NULL them
        impossible = _impossible_dates(text)
        bad = impossible if bad is None else pc.or_(pc.fill_null(bad, False), impossible)
        out = _cast_temporal(pc.if_else(impossible, pa.scalar(None, pa.string()), text), t)
    return out, (pc.fill_null(bad, False) if bad is not None else None)


def _cast_temporal(text: pa.Array, t: pa.DataType) -> pa.Array:
    if pa.types.is_date(t):
        return text.cast(t)
    return text.cast(pa.timestamp("us")).cast(t) if t.tz else text.cast(t)


def _impossible_dates(text: pa.Array) -> pa.Array:
    """True where the date part is not on the calendar (strptime would roll '2021-02-31' over to
    March: a round trip through it tells)."""
    day = pc.utf8_slice_codeunits(text, 0, 10)
    parsed = pc.strptime(day, "%Y-%m-%d", "s", error_is_null=True)
    real = pc.fill_null(pc.equal(pc.strftime(parsed, "%Y-%m-%d"), day), False)
    return pc.fill_null(pc.and_(pc.invert(real), pc.is_valid(text)), False)


def _parse_bits(raw: pa.Array, t: pa.DataType, n: int) -> pa.Array:
    """BIT(n) arrives as n/8 big-endian bytes: bit(1) -> boolean, bit(n) -> 'n binary digits'."""
    ints = [None if v is None else int.from_bytes(v, "big") for v in raw.to_pylist()]
    if pa.types.is_boolean(t):
        return pc.not_equal(pa.array(ints, pa.uint64()), 0)
    return pa.array([None if v is None else format(v, f"0{n}b") for v in ints], pa.string())


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

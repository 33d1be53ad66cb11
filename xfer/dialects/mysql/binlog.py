"""MySQL/MariaDB's binary log as a `ChangeSource`: what following needs from the server, the
log's position, its row events read from a position, and writes held for a cutover.

The replication connection, the positions and the table maps (with full row metadata: names,
signedness, enum and set labels) come from `mysql-replication` (PyPI), the maintained pure-Python
reader pg_chameleon uses. Its per-value decoding is the slow part (about 10,000 rows/s here), so
the row images are decoded by `rowdecode` instead, into the text protocol's bytes that every
MySQL reader of xfer parses into Arrow the same way.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

from xfer.core.changes import ChangeBatch, Position, RowsChange, SchemaChange
from xfer.core.errors import UsageError, XferError
from xfer.core.policies import ValuePolicies
from xfer.core.schema import Table
from xfer.dialects.base import require, split_type
from xfer.dialects.capabilities import ChangeSource
from xfer.dialects.mysql.auth import credentials
from xfer.dialects.mysql.rowdecode import UnsupportedColumn, column_decoder, decode_rows
from xfer.dialects.mysql.types import text_batch
from xfer.dialects.sqlexpr import split_top

log = logging.getLogger("xfer")

SETTINGS = {  # server variable -> the value following needs
    "log_bin": "ON",
    "binlog_format": "ROW",
    "binlog_row_image": "FULL",
    "binlog_row_metadata": "FULL",
}
HEARTBEAT_S = 0.1  # the server says "nothing new" this often when idle: a waiting batch is flushed
_TRUNCATE = re.compile(r"^\s*TRUNCATE\s+(?:TABLE\s+)?(\S+)\s*$", re.I | re.S)
_QUOTED = re.compile(r"`((?:[^`]|``)+)`|\b(\w+)\b")
_TableDecoders = tuple[list[Any], list[str], list[bool] | None]  # decoders, names, key columns (None: all)


def _name(token: str) -> tuple[str | None, str]:
    """`db`.`t` / db.t / `t` -> (db or None, t)."""
    parts = [(m[1] or m[2]).replace("``", "`") for m in _QUOTED.finditer(token)]
    return (parts[-2], parts[-1]) if len(parts) >= 2 else (None, parts[-1] if parts else token)


class MySQLBinlog(ChangeSource):
    """The change-capture methods of the MySQL dialect (needs its connection and catalogue)."""

    url: Any
    mariadb: bool
    _pymysql: Any
    _query: Any
    _rows: Any
    introspect: Any
    quote: Any
    _open: Any
    reader: Any  # the snapshot's connection, inside snapshot()

    @property
    def secret(self) -> str | None:  # overridden by the dialect (the password in use)
        return None

    def _variables(self) -> dict[str, str]:
        names = ", ".join(f"'{n}'" for n in (*SETTINGS, "server_id", "gtid_binlog_pos"))
        return {
            str(k).lower(): str(v) for k, v in self._query(f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({names})")
        }

    def follow_problems(self, tables: Sequence[Table]) -> tuple[list[str], list[str]]:
        problems: list[str] = []
        values = self._variables()
        for name, want in SETTINGS.items():
            have = values.get(name)
            if have is None and name == "binlog_row_metadata":
                problems.append("the server has no binlog_row_metadata (MariaDB 10.5+ / MySQL 8.0.1+ needed)")
            elif have is not None and have.upper() != want:
                fix = "--log-bin" if name == "log_bin" else f"--{name.replace('_', '-')}={want}"
                problems.append(f"{name} is {have}, following needs {want} (start the server with {fix})")
        grants = " ".join(str(r[0]) for r in self._query("SHOW GRANTS")).upper()
        if "ALL PRIVILEGES ON *.*" not in grants:
            for priv in ("REPLICATION SLAVE", "REPLICATION CLIENT"):
                alt = {"REPLICATION SLAVE": "REPLICATION REPLICA", "REPLICATION CLIENT": "BINLOG MONITOR"}[priv]
                if priv not in grants and alt not in grants:
                    problems.append(f"the user lacks {priv} (GRANT {priv} ON *.* TO the user)")
        notes = [
            f"{t.name}: no primary key: copied but not followed (its changes cannot be matched to rows)"
            for t in tables
            if not t.primary_key
        ]
        return problems, notes

    def change_position(self) -> Position:
        rows = self._query("SHOW MASTER STATUS")
        if not rows:
            raise UsageError("the source's binary log is off", hint="start the server with --log-bin")
        gtid = self._variables().get("gtid_binlog_pos", "")
        return Position(str(rows[0][0]), int(rows[0][1]), gtid)

    def snapshot_position(self) -> Position | None:
        reader = self.reader
        if reader is None:
            return None
        with reader.cursor() as cur:  # MariaDB: the binlog position of this very snapshot, no lock
            cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
            status = {_text(k).lower(): _text(v) for k, v in cur.fetchall()}
        if not status.get("binlog_snapshot_file"):
            return None  # MySQL has no such status: the cutover then verifies under the lock
        return Position(status["binlog_snapshot_file"], int(status["binlog_snapshot_position"]))

    def position_available(self, position: Position) -> bool:
        logs = {str(r[0]): int(r[1]) for r in self._query("SHOW BINARY LOGS")}
        return position.file in logs and position.pos <= logs[position.file]

    def image_batch(
        self, table: Table, columns: Sequence[str], rows: Sequence[tuple[bytes | None, ...]], policies: ValuePolicies
    ) -> pa.RecordBatch:
        at = {name: i for i, name in enumerate(columns)}
        none: list[bytes | None] = [None] * len(rows)
        by_column = list(zip(*rows, strict=True)) if rows else [()] * len(columns)  # (transposed in C)
        values = [by_column[at[c.name]] if c.name in at else none for c in table.columns]
        return text_batch(table.columns, table.arrow_schema, values, policies)

    def hold_writes(self, tables: Sequence[str], mode: str) -> Callable[[], None]:
        conn = self._open(streaming=False)
        pymysql = self._pymysql
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION lock_wait_timeout = 30")
                if mode == "read_only":
                    cur.execute("SET GLOBAL read_only = ON")
                else:
                    names = ", ".join(self.quote(t) for t in tables)
                    cur.execute(f"FLUSH TABLES {names} WITH READ LOCK")
        except pymysql.err.MySQLError as exc:
            conn.close()
            what = "SET GLOBAL read_only" if mode == "read_only" else "FLUSH TABLES … WITH READ LOCK"
            raise XferError(
                f"cutover: the source refused {what}: {exc.args[-1]}",
                hint="nothing was changed; grant RELOAD (lock) or SUPER (--read-only), or stop the "
                "application and use --no-lock",
            ) from None

        def release() -> None:
            try:
                with conn.cursor() as cur:
                    cur.execute("SET GLOBAL read_only = OFF" if mode == "read_only" else "UNLOCK TABLES")
            except Exception as exc:  # noqa: BLE001 - closing the session releases a lock anyway
                log.warning("cutover: releasing the source: %s", exc)
            finally:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass

        return release

    # -- reading the log --------------------------------------------------------------------
    def read_changes(
        self,
        start: Position,
        tables: Mapping[str, Table],
        stop: Callable[[], bool],
        until: Position | None = None,
        max_events: int = 10_000,
        max_seconds: float = 0.5,
    ) -> Iterator[ChangeBatch]:
        replication = require("pymysqlreplication", "MySQL change capture (pip install mysql-replication)")
        binlogstream = require("pymysqlreplication.binlogstream", "MySQL change capture")
        event = require("pymysqlreplication.event", "MySQL change capture")
        row_event = require("pymysqlreplication.row_event", "MySQL change capture")

        # mysql-replication reconnects by itself, from the last *event* it saw (which may lie
        # inside a transaction), and logs a warning forever when the server is gone. xfer resumes
        # from the last *applied* transaction instead: let the error reach it.
        binlogstream.MYSQL_EXPECTED_ERROR_CODES.clear()
        user, password = credentials(self.url)
        settings = {
            "host": self.url.host or "127.0.0.1",
            "port": self.url.port or 3306,
            "user": user,
            "password": password or "",
        }
        db = self.url.database
        rows_events = (row_event.WriteRowsEvent, row_event.UpdateRowsEvent, row_event.DeleteRowsEvent)
        stream = replication.BinLogStreamReader(
            connection_settings=settings,
            server_id=_server_id(),
            only_events=[
                *rows_events,
                event.RotateEvent,
                event.XidEvent,
                event.QueryEvent,
                event.MariadbGtidEvent,
                event.HeartbeatLogEvent,
            ],  # fmt: skip
            only_schemas=[db],
            resume_stream=True,
            log_file=start.file,
            log_pos=start.pos,
            blocking=True,
            slave_heartbeat=HEARTBEAT_S,
            is_mariadb=False,  # (its MariaDB mode positions by GTID only; file/offset works on both)
        )
        decoders: dict[tuple[int, str], _TableDecoders] = {}
        kinds = {
            row_event.WriteRowsEvent: "insert",
            row_event.UpdateRowsEvent: "update",
            row_event.DeleteRowsEvent: "delete",
        }
        changes: list[RowsChange | SchemaChange] = []
        events = 0
        gtid = start.gtid
        committed = start
        first_at = 0.0
        event_time = 0.0
        try:
            while True:
                if stop():
                    return
                try:
                    ev = stream.fetchone()
                except self._pymysql.err.MySQLError as exc:
                    raise self._log_error(exc, committed) from None
                except (OSError, AttributeError) as exc:
                    raise XferError(f"reading the binlog: lost the connection ({exc})", transient=True) from None
                if ev is None:
                    continue
                here = Position(stream.log_file, stream.log_pos, gtid)
                boundary = False
                if isinstance(ev, rows_events):
                    if ev.table not in tables:
                        continue
                    change = self._rows_change(ev, kinds[type(ev)], decoders, tables[ev.table])
                    changes.append(change)
                    events += change.rows
                    first_at = first_at or time.monotonic()
                    event_time = float(ev.timestamp)
                elif isinstance(ev, event.MariadbGtidEvent):
                    gtid = ev.gtid
                elif isinstance(ev, event.XidEvent):
                    boundary = True
                elif isinstance(ev, event.QueryEvent):
                    schema_change = self._schema_change(ev, tables, here)
                    if schema_change is not None:
                        if changes:  # the rows before it, on their own
                            yield ChangeBatch(changes, committed, events, event_time)
                            changes, events, first_at = [], 0, 0.0
                        committed = here
                        yield ChangeBatch([schema_change], here, 0, float(ev.timestamp))
                        continue
                    boundary = True
                elif isinstance(ev, event.HeartbeatLogEvent):
                    if not changes:
                        committed = Position(committed.file if not ev.ident else ev.ident, stream.log_pos, gtid)
                        yield ChangeBatch([], committed, 0, 0.0)
                    elif changes:
                        yield ChangeBatch(changes, committed, events, event_time)
                        changes, events, first_at = [], 0, 0.0
                    if until is not None and committed.key() >= until.key():
                        return
                    continue
                if not boundary:
                    continue
                committed = Position(here.file, here.pos, gtid)
                full = events >= max_events or (first_at and time.monotonic() - first_at >= max_seconds)
                done = until is not None and committed.key() >= until.key()
                if changes and (full or done):
                    yield ChangeBatch(changes, committed, events, event_time)
                    changes, events, first_at = [], 0, 0.0
                if done:
                    if not changes:
                        yield ChangeBatch([], committed, 0, 0.0)
                    return
        finally:
            try:
                stream.close()
            except Exception:  # noqa: BLE001 - the connection may be gone already
                pass

    def _rows_change(
        self, ev: Any, kind: str, decoders: dict[tuple[int, str], _TableDecoders], table: Table
    ) -> RowsChange:
        cols = ev.columns
        key = (ev.table_id, ev.table)
        cached = decoders.get(key)
        if cached is None or len(cached[0]) != len(cols):
            try:
                known = table.columns
                pads = {c.name: _binary_length(c.native_type) for c in known}
                decs = [column_decoder(c, pads.get(str(c.name))) for c in cols]
            except UnsupportedColumn as exc:
                raise XferError(f"following {ev.table}: {exc}", hint="this type cannot be followed yet") from None
            names = [str(c.name) for c in cols]
            if any(n in (None, "None") for n in names):
                raise XferError(
                    f"following {ev.table}: the binlog has no column names",
                    hint="set binlog_row_metadata=FULL on the source",
                )
            # an update's before-image and a delete are matched by the key alone: the other
            # columns are stepped over (all are decoded when the event lacks a key column)
            pk = set(table.primary_key)
            keys = [n in pk for n in names] if pk and pk <= set(names) else None
            cached = decoders[key] = (decs, names, keys)
        decs, names, keys = cached
        n = ev.number_of_columns
        present = _bits(ev.columns_present_bitmap, n)
        body = ev.packet.read(ev.event_size - ev.packet.read_bytes)
        if kind == "update":
            present2 = _bits(ev.columns_present_bitmap2, n)
            if present2 != present or not all(present):
                raise XferError(
                    f"following {ev.table}: a partial row image", hint="set binlog_row_image=FULL on the source"
                )
            before, after = decode_rows(body, decs, present, 2, wanted=[keys, None])
            return RowsChange(ev.table, "update", names, before, after)
        if not all(present):
            raise XferError(
                f"following {ev.table}: a partial row image", hint="set binlog_row_image=FULL on the source"
            )
        (image,) = decode_rows(body, decs, present, 1, wanted=[keys if kind == "delete" else None])
        if kind == "insert":
            return RowsChange(ev.table, "insert", names, after=image)
        return RowsChange(ev.table, "delete", names, before=image)

    def _schema_change(self, ev: Any, tables: Mapping[str, Table], here: Position) -> SchemaChange | None:
        sql = str(ev.query).strip()
        head = sql[:16].upper()
        if head.startswith(("BEGIN", "COMMIT", "SAVEPOINT", "ROLLBACK", "XA ")):
            return None
        db = self.url.database
        if (m := _TRUNCATE.match(sql)) is not None:
            schema, name = _name(m[1])
            current = ev.schema.decode() if isinstance(ev.schema, bytes) else str(ev.schema)
            if name in tables and (schema or current) == db:
                return SchemaChange(sql, "truncate", name, here)
            return None
        touched = [t for t in tables if re.search(rf"(?<![\w$])`?{re.escape(t)}`?(?![\w$])", sql)]
        if not touched:
            return None
        added = _added_columns(sql)
        if added is not None and added[0] in tables:
            return SchemaChange(sql, "add_column", added[0], here, added[1])
        return SchemaChange(sql, "other", touched[0], here)

    def _log_error(self, exc: Any, at: Position) -> XferError:
        code = exc.args[0] if exc.args else None
        text = str(exc.args[-1]) if exc.args else str(exc)
        if code == 1236:  # ER_MASTER_FATAL_ERROR_READING_BINLOG: purged, or not there
            return XferError(
                f"the source's binlog no longer has position {at}: {text}",
                hint="the log was purged before it was read: start again with `xfer migrate --follow "
                "--if-exists replace` (and keep binlogs longer: binlog_expire_logs_seconds)",
            )
        transient = code in (2006, 2013, 2003, 1053, 1927) or "Lost connection" in text
        return XferError(f"reading the binlog at {at}: {text}", transient=transient)


_ALTER = re.compile(r"^\s*ALTER\s+(?:ONLINE\s+|IGNORE\s+)*TABLE\s+(\S+)\s+(.*)$", re.I | re.S)
_ADD = re.compile(r"^ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(`(?:[^`]|``)+`|\w+)\s", re.I | re.S)
_NOT_A_COLUMN = {"INDEX", "KEY", "CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "FULLTEXT", "SPATIAL", "CHECK", "PERIOD"}


def _added_columns(sql: str) -> tuple[str, list[str]] | None:
    """`ALTER TABLE t ADD [COLUMN] a …, ADD b …` -> (t, [a, b]); None for any other statement."""
    m = _ALTER.match(sql)
    if m is None:
        return None
    clauses = split_top(m[2], ",")
    names = []
    for clause in clauses:
        a = _ADD.match(clause + " ")
        if a is None or a[1].upper() in _NOT_A_COLUMN:
            return None
        names.append(_name(a[1])[1])
    return _name(m[1])[1], names


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _binary_length(native_type: str) -> int | None:
    base, p, _s, _u = split_type(native_type)
    return p if base == "binary" else None


def _bits(bitmap: bytes, n: int) -> list[bool]:
    value = int.from_bytes(bytes(bitmap), "little")
    return [bool(value >> i & 1) for i in range(n)]


def _server_id() -> int:
    """A replica id of our own: distinct from real replicas' (and from other followers')."""
    import os

    return 0x58000000 + (os.getpid() % 0xFFFFFF)

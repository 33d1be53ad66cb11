"""Applying captured changes to PostgreSQL (`ChangeTarget`), set-based and exactly once.

Per batch, in one transaction: each table's net deletes are loaded by binary COPY into a
temporary staging table of its key and removed with `DELETE … USING`; the ON DELETE actions of
the foreign keys pointing at it are repeated (the source's InnoDB ran them without logging
them); each table's net upserts are loaded into a staging table of its columns and merged with
`INSERT … ON CONFLICT (key) DO UPDATE`; and the follower's position is recorded in
`_xfer.follow`. A crash loses the batch and its position together, never one of them.

The transaction runs with `session_replication_role = replica`, as PostgreSQL's own logical
replication does: the target's triggers (translated from the source's, or emulating ON UPDATE
CURRENT_TIMESTAMP) and foreign-key checks do not fire on rows whose effects the source's log
already holds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa

from xfer.core.errors import XferError
from xfer.core.journal import JOURNAL_SCHEMA
from xfer.core.schema import Column, Table
from xfer.dialects.capabilities import ChangeTarget, FollowState, TableDelta
from xfer.dialects.postgres.binary import BinaryEncoder, binary_supported, copy_sql, send, written
from xfer.dialects.postgres.errors import pg_message
from xfer.dialects.postgres.writing import to_csv

S = JOURNAL_SCHEMA
FOLLOW_DDL = f"""CREATE TABLE IF NOT EXISTS {S}.follow (
    run_id text PRIMARY KEY REFERENCES {S}.runs ON DELETE CASCADE,
    source text NOT NULL,
    target text NOT NULL,
    state text NOT NULL,
    position jsonb NOT NULL,
    copy_end jsonb NOT NULL,
    events bigint NOT NULL DEFAULT 0,
    event_time double precision,
    lag_seconds double precision,
    tables jsonb NOT NULL DEFAULT '{{}}',
    last_error text,
    stop_requested boolean NOT NULL DEFAULT false,
    options jsonb NOT NULL DEFAULT '{{}}',
    updated timestamptz NOT NULL DEFAULT now())"""
_FOLLOW_SALT = 0x78666573  # advisory locks of followers ("xfes"), beside the runs' ("xfer")
_COLUMNS = "run_id, source, target, state, position, copy_end, events, event_time, lag_seconds, tables, last_error, stop_requested, options, updated"  # noqa: E501


def _follow_key(run_id: str) -> int:
    return int.from_bytes(hashlib.sha1(run_id.encode()).digest()[:4], "big") & 0x7FFFFFFF


class PostgresApply(ChangeTarget):
    """The change-applying methods of the PostgreSQL dialect (needs its connection)."""

    conn: Any
    _psycopg: Any
    _query: Any
    quote: Any
    qualified: Any
    column_list: Any
    column_ddl: Any
    post_data_sql: Any
    is_transient: Any
    journal_exists: Any
    foreign_key_ddl: Any

    def follow_target_problems(self) -> list[str]:
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.execute("SET LOCAL session_replication_role = replica")
        except self._psycopg.Error as exc:
            return [
                f"the target user cannot set session_replication_role ({pg_message(exc)}): "
                "changes must be applied without firing the target's triggers; connect as a superuser "
                "or GRANT SET ON PARAMETER session_replication_role TO the user (PostgreSQL 15+)"
            ]
        return []

    # -- the follower's state ---------------------------------------------------------------
    def start_follow(self, state: FollowState) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(FOLLOW_DDL)
            cur.execute(f"DELETE FROM {S}.follow WHERE run_id = %s", (state.run_id,))
            cur.execute(
                f"INSERT INTO {S}.follow (run_id, source, target, state, position, copy_end, options) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    state.run_id, state.source, state.target, state.state, json.dumps(state.position),
                    json.dumps(state.copy_end), json.dumps(state.options, default=str),
                ),
            )  # fmt: skip

    def follow_states(self) -> list[FollowState]:
        if not self.journal_exists() or not self._query(
            "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'follow'", (S,)
        ):
            return []
        rows = self._query(f"SELECT {_COLUMNS} FROM {S}.follow ORDER BY updated")
        held = {
            int(r[0])
            for r in self._query(
                "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND granted", (_FOLLOW_SALT,)
            )
        }
        out = []
        for r in rows:
            out.append(
                FollowState(
                    run_id=r[0],
                    source=r[1],
                    target=r[2],
                    state=r[3],
                    position=r[4],
                    copy_end=r[5],
                    events=int(r[6]),
                    event_time=r[7],
                    lag_seconds=r[8],
                    tables=r[9] or {},
                    last_error=r[10],
                    stop_requested=bool(r[11]),
                    options=r[12] or {},
                    updated=r[13].isoformat(timespec="seconds"),
                    alive=_follow_key(r[0]) in held,
                )  # fmt: skip
            )
        return out

    def claim_follow(self, run_id: str) -> bool:
        got = bool(self._query("SELECT pg_try_advisory_lock(%s, %s)", (_FOLLOW_SALT, _follow_key(run_id)))[0][0])
        if got:  # a request to stop was for the follower before this one
            self._query(f"UPDATE {S}.follow SET stop_requested = false WHERE run_id = %s", (run_id,))
        return got

    def save_follow(self, state: FollowState) -> None:
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                self._record(cur, state)
        except self._psycopg.Error as exc:
            raise XferError(
                f"recording the follower's state: {pg_message(exc)}", transient=self.is_transient(exc)
            ) from None

    def request_stop(self, run_id: str) -> None:
        """Ask the run's follower to stop after its batch in hand (it reads this between batches)."""
        self._query(f"UPDATE {S}.follow SET stop_requested = true WHERE run_id = %s", (run_id,))

    def stop_requested(self, run_id: str) -> bool:
        rows = self._query(f"SELECT stop_requested FROM {S}.follow WHERE run_id = %s", (run_id,))
        return bool(rows and rows[0][0])

    def _record(self, cur: Any, state: FollowState) -> None:
        cur.execute(
            f"UPDATE {S}.follow SET state = %s, position = %s, events = %s, event_time = %s, lag_seconds = %s, "
            "tables = %s, last_error = %s, updated = now() WHERE run_id = %s",
            (
                state.state, json.dumps(state.position), state.events, state.event_time, state.lag_seconds,
                json.dumps(state.tables), state.last_error, state.run_id,
            ),
        )  # fmt: skip

    # -- applying -----------------------------------------------------------------------------
    def apply_changes(self, state: FollowState, deltas: Sequence[TableDelta], ddl: Sequence[str] = ()) -> None:
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.execute("SET LOCAL session_replication_role = replica")
                cur.execute("SET LOCAL synchronous_commit = off")  # a lost commit is re-applied from the log
                for sql in ddl:
                    cur.execute(sql)
                for d in deltas:
                    if d.moves is not None and d.moves[0].num_rows:
                        self._move(cur, d)
                staged: dict[int, str] = {}
                for d in deltas:
                    if d.deletes is not None and d.deletes.num_rows:
                        removed = self._delete(cur, d)
                        if removed:
                            staged[id(d)] = removed
                for d in deltas:
                    if d.upserts is not None and d.upserts.num_rows:
                        self._upsert(cur, d)
                for d in deltas:  # children the batch's own upserts gave a parent it deleted
                    if id(d) in staged:
                        self._cascade(cur, d, staged[id(d)], after=True)
                self._record(cur, state)
        except self._psycopg.Error as exc:
            raise XferError(
                f"applying changes up to {state.position.get('file')}:{state.position.get('pos')}: {pg_message(exc)}",
                transient=self.is_transient(exc),
            ) from None

    def _stage(self, cur: Any, table: Table, columns: list[Column], tag: str, exprs: list[str] | None = None) -> str:
        """A temporary table of `columns` of `table` (or of `exprs` over it), emptied at each
        commit; made once per session (a new connection makes its own)."""
        names = [c.name for c in columns]
        digest = hashlib.sha1(json.dumps([table.name, names, tag]).encode()).hexdigest()[:16]
        stage = f"_xfer_{tag}_{digest}"
        sessions: dict[int, set[str]] = self.__dict__.setdefault("_stages", {})
        made = sessions.setdefault(self.conn.info.backend_pid, set())
        if stage not in made:
            select = ", ".join(exprs) if exprs else self.column_list(names)
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
                f"SELECT {select} FROM {self.qualified(table.name)} WITH NO DATA"
            )
            made.add(stage)
        return stage

    def _load(self, cur: Any, stage: str, table: Table, batch: Any) -> None:
        """`batch` into the staging table, by the copy's own writer: binary COPY, or CSV COPY
        for the tables binary cannot carry exactly (as `write_bulk` / `write_batches` choose)."""
        cols = written(table)
        names = self.column_list(c.name for c in cols)
        if binary_supported(table):
            send(cur, copy_sql(stage, names), BinaryEncoder(table).encode(batch))
            return
        keep = [i for i, c in enumerate(table.columns) if not c.generated]
        data = to_csv(batch.select(keep) if len(keep) < batch.num_columns else batch)
        send(cur, f"COPY {stage} ({names}) FROM STDIN (FORMAT csv)", [data])

    def _delete(self, cur: Any, d: TableDelta) -> str:
        t = d.table
        keys = [c for c in t.columns if c.name in t.primary_key]
        key_table = Table(t.name, keys, primary_key=list(t.primary_key))
        stage = self._stage(cur, t, keys, "d")
        self._load(cur, stage, key_table, d.deletes)
        match = " AND ".join(f"t.{self.quote(k)} = d.{self.quote(k)}" for k in t.primary_key)
        removed = ""
        if d.removed is not None and d.removed.num_rows:
            removed = self._stage(cur, t, keys, "r")
            self._load(cur, removed, key_table, d.removed)
            self._cascade(cur, d, removed, after=False)
        cur.execute(f"DELETE FROM {self.qualified(t.name)} t USING {stage} d WHERE {match}")
        return removed

    def _move(self, cur: Any, d: TableDelta) -> None:
        """Children follow their parent's new key (ON UPDATE CASCADE) or lose it (SET NULL)."""
        assert d.moves is not None
        t = d.table
        keys = [c for c in t.columns if c.name in t.primary_key]
        pairs = [replace(c, name=f"old_{i}") for i, c in enumerate(keys)] + [
            replace(c, name=f"new_{i}") for i, c in enumerate(keys)
        ]
        exprs = [f"{self.quote(c.name)} AS old_{i}" for i, c in enumerate(keys)] + [
            f"{self.quote(c.name)} AS new_{i}" for i, c in enumerate(keys)
        ]
        stage = self._stage(cur, t, keys, "m", exprs)
        old, new = d.moves
        batch = pa.RecordBatch.from_arrays([*old.columns, *new.columns], names=[c.name for c in pairs])
        self._load(cur, stage, Table(t.name, pairs), batch)
        for child, fk in d.children:
            if list(fk.ref_columns) != list(t.primary_key) or fk.on_update not in ("CASCADE", "SET NULL"):
                continue
            at = {k: i for i, k in enumerate(t.primary_key)}
            on = " AND ".join(
                f"c.{self.quote(col)} = m.old_{at[ref]}" for col, ref in zip(fk.columns, fk.ref_columns, strict=True)
            )
            value = "m.new_{}" if fk.on_update == "CASCADE" else "NULL"
            sets = ", ".join(
                f"{self.quote(col)} = {value.format(at[ref])}"
                for col, ref in zip(fk.columns, fk.ref_columns, strict=True)
            )
            cur.execute(f"UPDATE {self.qualified(child.name)} c SET {sets} FROM {stage} m WHERE {on}")

    def _cascade(self, cur: Any, d: TableDelta, stage: str, after: bool) -> None:
        """The ON DELETE actions the source ran without logging them, repeated for the deleted
        keys: before the upserts for the children already there, and `after` them for children
        the batch itself added to a parent it deleted (whose key is not back)."""
        t = d.table
        gone = ""
        if after:
            same = " AND ".join(f"p.{self.quote(k)} = d.{self.quote(k)}" for k in t.primary_key)
            gone = f" AND NOT EXISTS (SELECT 1 FROM {self.qualified(t.name)} p WHERE {same})"
        for child, fk in d.children:
            if list(fk.ref_columns) != list(t.primary_key) or fk.on_delete not in ("CASCADE", "SET NULL"):
                continue
            on = " AND ".join(
                f"c.{self.quote(col)} = d.{self.quote(ref)}"
                for col, ref in zip(fk.columns, fk.ref_columns, strict=True)
            )
            if fk.on_delete == "CASCADE":
                cur.execute(f"DELETE FROM {self.qualified(child.name)} c USING {stage} d WHERE {on}{gone}")
            elif fk.on_delete == "SET NULL":
                sets = ", ".join(f"{self.quote(col)} = NULL" for col in fk.columns)
                cur.execute(f"UPDATE {self.qualified(child.name)} c SET {sets} FROM {stage} d WHERE {on}{gone}")

    def _upsert(self, cur: Any, d: TableDelta) -> None:
        t = d.table
        cols = written(t)
        stage = self._stage(cur, t, cols, "u")
        self._load(cur, stage, t, d.upserts)
        names = self.column_list(c.name for c in cols)
        # A row holding a unique value that a staged row takes: it changed in this batch too (the
        # source's state at the batch's end is unique) and comes back with its own new values, or,
        # while the copy is caught up, a later event brings it back. Out of the way first.
        keys = " AND ".join(f"t.{self.quote(k)} = s.{self.quote(k)}" for k in t.primary_key)
        for ix in t.indexes:
            if ix.unique and not any(ix.expressions) and set(ix.columns) - set(t.primary_key):
                same = " AND ".join(f"t.{self.quote(c)} = s.{self.quote(c)}" for c in ix.columns)
                cur.execute(f"DELETE FROM {self.qualified(t.name)} t USING {stage} s WHERE {same} AND NOT ({keys})")
        others = [c.name for c in cols if c.name not in t.primary_key]
        action = (
            "DO UPDATE SET " + ", ".join(f"{self.quote(n)} = EXCLUDED.{self.quote(n)}" for n in others)
            if others
            else "DO NOTHING"
        )
        cur.execute(
            f"INSERT INTO {self.qualified(t.name)} ({names}) OVERRIDING SYSTEM VALUE SELECT {names} FROM {stage} "
            f"ON CONFLICT ({self.column_list(t.primary_key)}) {action}"
        )

    # -- DDL while following, and the cutover ---------------------------------------------------
    def add_column_sql(self, table: Table, column: Column) -> list[str]:
        return [f"ALTER TABLE {self.qualified(table.name)} ADD COLUMN {self.column_ddl(column)}"]

    def finish_cutover_sql(self, table: Table) -> list[str]:
        out = [s for s in self.post_data_sql(table) if s.startswith("SELECT setval(")]
        for fk in table.foreign_keys:
            out.append(f"ALTER TABLE {self.qualified(table.name)} VALIDATE CONSTRAINT {self.quote(fk.name)}")
        return out

    def following_foreign_keys_sql(self, table: Table) -> list[str]:
        return [
            f"ALTER TABLE {self.qualified(table.name)} ADD {self.foreign_key_ddl(fk)} NOT VALID"
            for fk in table.foreign_keys
        ]

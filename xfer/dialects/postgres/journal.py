"""The run journal in a PostgreSQL target (schema `_xfer`), which makes a run resumable,
exactly-once and reversible: `Postgres` declares `JournalStore` through `PostgresJournalStore`
(below), and `PostgresJournal` is the `xfer.core.journal.Journal` of one run.

What it holds, per run (`xfer runs TARGET` lists them):

- `_xfer.runs`: id, start/end, status (running | failed | done), source and target URLs and
  the run's options (passwords masked), a fingerprint and summary of the plan.
- `_xfer.tables`: each table's state (pending | copying | copied | failed), whether it existed
  before the run.
- `_xfer.chunks`: each chunk's key range, rows, refused rows, the bucket checksums of its rows
  (verification adds them up, so a resumed run verifies whole tables), attempts, done time.
  A chunk's rows, its done mark and its refused rows are committed **in one transaction on the
  connection that wrote them**: after any crash a chunk is either wholly in the target and
  marked, or not there at all. A resumed run copies exactly the chunks not marked.
- `_xfer.steps`: every DDL statement the run executed, marked done in the statement's own
  transaction (PostgreSQL DDL is transactional): a resumed run skips the done ones, so tables
  are created, emptied and indexed once.
- `_xfer.objects`: what each step created (and dropped), with OIDs, found by comparing the
  catalogue before and after the statement inside its transaction. `xfer rollback` drops
  exactly these.
- `_xfer.rejects`: rows the target refused, per chunk (the reject file is written from here).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from xfer.core.checksum import KeySpec
from xfer.core.errors import UsageError, XferError
from xfer.core.journal import (
    JOURNAL_SCHEMA,
    CatalogObject,
    ChunkMark,
    ChunkState,
    DDLTarget,
    Journal,
    RunInfo,
    RunStart,
    buckets_of,
    buckets_text,
    check_resumable,
    fingerprint,
    new_run_id,
    rejected_rows,
    spec_of,
    spec_text,
)
from xfer.core.retry import RetryPolicy
from xfer.core.urls import mask
from xfer.dialects.base import Dialect
from xfer.dialects.capabilities import JournalStore
from xfer.dialects.postgres.catalog import PostgresCatalog

log = logging.getLogger("xfer")

S = JOURNAL_SCHEMA
SCHEMA_DDL = [
    f"CREATE SCHEMA IF NOT EXISTS {S}",
    f"""CREATE TABLE IF NOT EXISTS {S}.runs (
        run_id text PRIMARY KEY,
        started timestamptz NOT NULL DEFAULT now(),
        updated timestamptz NOT NULL DEFAULT now(),
        finished timestamptz,
        status text NOT NULL DEFAULT 'running',
        source text NOT NULL,
        target text NOT NULL,
        fingerprint text NOT NULL,
        args jsonb NOT NULL,
        plan jsonb NOT NULL,
        created_journal boolean NOT NULL DEFAULT false,
        resumes integer NOT NULL DEFAULT 0,
        pid integer,
        error text)""",
    f"""CREATE TABLE IF NOT EXISTS {S}.tables (
        run_id text NOT NULL REFERENCES {S}.runs ON DELETE CASCADE,
        source_table text NOT NULL,
        target_table text NOT NULL,
        preexisting boolean NOT NULL,
        bucket_spec text,
        state text NOT NULL DEFAULT 'pending',
        error text,
        PRIMARY KEY (run_id, source_table))""",
    f"""CREATE TABLE IF NOT EXISTS {S}.chunks (
        run_id text NOT NULL,
        source_table text NOT NULL,
        chunk integer NOT NULL,
        key_column text,
        key_lo numeric,
        key_hi numeric,
        attempts integer NOT NULL DEFAULT 0,
        rows bigint,
        bytes bigint,
        rejected bigint,
        checksum text,
        policies jsonb,
        done_at timestamptz,
        PRIMARY KEY (run_id, source_table, chunk),
        FOREIGN KEY (run_id, source_table) REFERENCES {S}.tables ON DELETE CASCADE)""",
    f"""CREATE TABLE IF NOT EXISTS {S}.steps (
        run_id text NOT NULL REFERENCES {S}.runs ON DELETE CASCADE,
        step text NOT NULL,
        statement text NOT NULL,
        done_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (run_id, step))""",
    f"""CREATE TABLE IF NOT EXISTS {S}.objects (
        run_id text NOT NULL REFERENCES {S}.runs ON DELETE CASCADE,
        seq bigint GENERATED ALWAYS AS IDENTITY,
        action text NOT NULL,
        kind text NOT NULL,
        schema_name text NOT NULL,
        name text NOT NULL,
        ident text NOT NULL,
        oid bigint NOT NULL,
        step text NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {S}.rejects (
        run_id text NOT NULL,
        source_table text NOT NULL,
        chunk integer NOT NULL,
        n integer NOT NULL,
        record text NOT NULL,
        PRIMARY KEY (run_id, source_table, chunk, n),
        FOREIGN KEY (run_id, source_table, chunk) REFERENCES {S}.chunks ON DELETE CASCADE)""",
]
_LOCK_SALT = 0x78666572  # "xfer": namespaces our advisory locks


def _lock_key(run_id: str) -> int:
    return int.from_bytes(hashlib.sha1(run_id.encode()).digest()[:4], "big") & 0x7FFFFFFF


class PostgresJournalStore(PostgresCatalog, JournalStore, Dialect):
    """`JournalStore` for PostgreSQL, a mixin of the `Postgres` dialect: its DDL is
    transactional and its catalogue (`PostgresCatalog`) says what each statement made."""

    conn: Any  # the psycopg connection (`Postgres.connect`)
    _psycopg: Any  # the driver module, imported lazily

    @abstractmethod
    def _query(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        """`sql` on the connection, in autocommit: its rows ([] for a statement without)."""

    @abstractmethod
    def refused(self, sql: str, exc: Exception) -> XferError:
        """A driver error on `sql` as the error xfer reports (transient or not)."""

    # -- reading the journal (rollback, resume lookups) --------------------------------------------
    def journal_exists(self) -> bool:
        return bool(self._query("SELECT 1 FROM pg_namespace WHERE nspname = %s", (S,)))

    def journal_runs(self) -> list[RunInfo]:
        if not self.journal_exists():
            return []
        rows = self._query(
            f"SELECT run_id, started, finished, status, source, target, fingerprint, plan, created_journal, "
            f"resumes, error FROM {S}.runs ORDER BY started, run_id"
        )
        return [RunInfo(*r) for r in rows]

    def run_objects(self, run_id: str) -> tuple[list[CatalogObject], list[CatalogObject]]:
        rows = self._query(
            f"SELECT action, kind, schema_name, name, ident, oid FROM {S}.objects WHERE run_id = %s ORDER BY seq",
            (run_id,),
        )
        created = [CatalogObject(k, s, n, i, o) for a, k, s, n, i, o in rows if a == "created"]
        dropped = [CatalogObject(k, s, n, i, o) for a, k, s, n, i, o in rows if a == "dropped"]
        return created, dropped

    def run_preexisting_tables(self, run_id: str) -> list[str]:
        rows = self._query(
            f"SELECT target_table FROM {S}.tables WHERE run_id = %s AND preexisting ORDER BY 1",
            (run_id,),
        )
        return [r[0] for r in rows]

    def run_busy(self, run_id: str) -> bool:
        """True while an xfer process holds the run (its session-level advisory lock)."""
        rows = self._query(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s AND granted",
            (_LOCK_SALT, _lock_key(run_id) & 0xFFFFFFFF),
        )
        return bool(rows[0][0])

    # -- opening a run ---------------------------------------------------------------------------
    def start_run(self, start: RunStart, retry: RetryPolicy) -> Journal:
        run_id = new_run_id()
        args_json = mask(json.dumps(start.args, default=str, sort_keys=True))
        try:
            created = self._record_start(run_id, start.source, start.target, args_json, start.plan, start.tables)
        except self._psycopg.Error as exc:
            raise self.refused(f"CREATE SCHEMA {S} (the run journal)", exc) from None
        (run,) = [r for r in self.journal_runs() if r.run_id == run_id]
        log.info("run %s: journal in schema %s of the target%s", run_id, S, " (created)" if created else "")
        return PostgresJournal(self, run, retry, resumed=False)

    def _record_start(
        self,
        run_id: str,
        source: str,
        target: str,
        args_json: str,
        plan: dict[str, Any],
        tables: list[tuple[str, str, bool]],
    ) -> bool:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_SALT,))  # two first runs at once
            cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (S,))
            created = cur.fetchone() is None
            for sql in SCHEMA_DDL:
                cur.execute(sql)
            cur.execute(
                f"INSERT INTO {S}.runs (run_id, source, target, fingerprint, args, plan, created_journal, pid) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    run_id,
                    mask(source),
                    mask(target),
                    fingerprint(plan),
                    args_json,
                    json.dumps(plan, default=str),
                    created,
                    os.getpid(),
                ),
            )
            cur.executemany(
                f"INSERT INTO {S}.tables (run_id, source_table, target_table, preexisting) VALUES (%s, %s, %s, %s)",
                [(run_id, src, tgt, pre) for src, tgt, pre in tables],
            )
        return bool(created)

    def resume_run(self, run: RunInfo, plan: dict[str, Any], retry: RetryPolicy) -> Journal:
        check_resumable(run, plan)
        self._query(
            f"UPDATE {S}.runs SET resumes = resumes + 1, status = 'running', error = NULL, updated = now(), "
            "pid = %s WHERE run_id = %s",
            (os.getpid(), run.run_id),
        )
        return PostgresJournal(self, run, retry, resumed=True)

    # -- rollback --------------------------------------------------------------------------------
    def catalogue(self) -> set[CatalogObject]:
        with self.conn.cursor() as cur:
            return self.catalog_objects(cur)

    def drop_run(self, run_id: str, statements: list[str], drop_journal: bool) -> None:
        sql = ""
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                for sql in statements:
                    cur.execute(sql)
                sql = "DELETE FROM the journal"
                for table in ("rejects", "chunks"):
                    cur.execute(f"DELETE FROM {S}.{table} WHERE run_id = %s", (run_id,))
                cur.execute(f"DELETE FROM {S}.runs WHERE run_id = %s", (run_id,))  # cascades to the rest
                if drop_journal:
                    sql = f"DROP SCHEMA {S}"
                    cur.execute(f"DROP SCHEMA {S} CASCADE")  # only the journal's own tables are in it
        except self._psycopg.Error as exc:
            err = self.refused(sql, exc)
            detail = getattr(getattr(exc, "diag", None), "message_detail", None)  # names the dependent object
            raise XferError(err.message + (f" ({'; '.join(detail.splitlines())})" if detail else "")) from None


# Statements that may drop objects (their steps compare the whole catalogue before and after),
# and statements that always create one.
_MAY_DROP = re.compile(r"\b(DROP|TRUNCATE|CASCADE|REPLACE)\b|\bALTER\b.*\bTYPE\b", re.I | re.S)
_CREATES = re.compile(r"\s*CREATE\s+(UNIQUE\s+)?(TABLE|INDEX|SEQUENCE|TYPE|SCHEMA|VIEW)\s+(?!IF\s+NOT\s+EXISTS)", re.I)


class _OidsWrapped(Exception):
    """A step found nothing above the OID watermark although it created something."""


def _first(todo: dict[str, str]) -> str:
    """The step an object is recorded under (the first of the statements run together)."""
    return next(iter(todo))


def _several(todo: dict[str, str]) -> str:
    first = next(iter(todo.values())).splitlines()[0][:80]
    return f"{len(todo)} statements run together ({first} ...)"


def _store(d: object) -> PostgresJournalStore:
    """`d` as the PostgreSQL dialect it is: a run's chunks and steps run on its connection."""
    if not isinstance(d, PostgresJournalStore):
        raise TypeError(f"a PostgreSQL journal cannot record work done on {type(d).__name__}")
    return d


# -- one run ----------------------------------------------------------------------------------------
class PostgresJournal(Journal):
    """The journal of one run, on its own connection to the target (`d`)."""

    def __init__(self, d: PostgresJournalStore, run: RunInfo, retry: RetryPolicy, *, resumed: bool) -> None:
        self.d = d
        self.run = run
        self.retry = retry
        self.resumed = resumed
        self._steps: set[str] = set()
        self._specs: dict[str, KeySpec] = {}
        self._chunks: dict[str, list[ChunkState]] = {}
        self._full_diff = False  # set once the OID counter is seen to have wrapped around
        self._lock()
        self._load()
        self.kept_chunks = sum(c.done for cs in self._chunks.values() for c in cs)

    def _lock(self) -> None:
        got = self.d._query("SELECT pg_try_advisory_lock(%s, %s)", (_LOCK_SALT, _lock_key(self.run_id)))[0][0]
        if not got:
            raise UsageError(
                f"run {self.run_id} is being carried on by another xfer process right now",
                hint="wait for it to end (or stop it) before resuming",
            )

    def _load(self) -> None:
        rows = self.d._query(f"SELECT step FROM {S}.steps WHERE run_id = %s", (self.run_id,))
        self._steps = {r[0] for r in rows}
        self._specs = {
            t: spec_of(spec)
            for t, spec in self.d._query(
                f"SELECT source_table, bucket_spec FROM {S}.tables WHERE run_id = %s AND bucket_spec IS NOT NULL",
                (self.run_id,),
            )
        }
        self._chunks = {}
        for table, n, key, lo, hi, rows_, rejected, checksum, bytes_, policies, done in self.d._query(
            f"SELECT source_table, chunk, key_column, key_lo, key_hi, rows, rejected, checksum, bytes, policies, "
            "done_at IS NOT NULL "
            f"FROM {S}.chunks WHERE run_id = %s ORDER BY source_table, chunk",
            (self.run_id,),
        ):
            self._chunks.setdefault(table, []).append(
                ChunkState(
                    table,
                    n,
                    key,
                    None if lo is None else int(lo),
                    None if hi is None else int(hi),
                    done,
                    rows_ or 0,
                    rejected or 0,
                    buckets_of(checksum),
                    bytes_ or 0,
                    policies or {},
                )
            )

    def _write(self, sql: str, args: Any = None) -> None:
        """A journal update on the journal's own connection, retried over a lost connection."""
        self.retry.run(f"journal of run {self.run_id}", lambda: self._exec(sql, args), self._reconnect)

    def _exec(self, sql: str, args: Any) -> None:
        try:
            self.d._query(sql, args)
        except self.d._psycopg.Error as exc:
            raise self.d.refused(sql, exc) from None

    def _reconnect(self) -> None:
        self.d.reconnect()
        self._lock()

    def close(self) -> None:
        self.d.close()

    # -- tables and chunks -------------------------------------------------------------------------
    def chunks(self, table: str) -> list[ChunkState]:
        return self._chunks.get(table, [])

    def spec(self, table: str) -> KeySpec | None:
        return self._specs.get(table)

    def add_chunks(
        self, table: str, ranges: list[tuple[str | None, int | None, int | None]], spec: KeySpec | None = None
    ) -> list[ChunkState]:
        if table in self._chunks:
            return self._chunks[table]
        values = [(self.run_id, table, i, k, lo, hi) for i, (k, lo, hi) in enumerate(ranges)]

        def insert() -> None:
            conn = self.d.conn  # after a reconnect: the new one
            try:
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(
                        f"INSERT INTO {S}.chunks (run_id, source_table, chunk, key_column, key_lo, key_hi) "
                        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        values,
                    )
                    if spec is not None:
                        cur.execute(
                            f"UPDATE {S}.tables SET bucket_spec = %s WHERE run_id = %s AND source_table = %s",
                            (spec_text(spec), self.run_id, table),
                        )
            except self.d._psycopg.Error as exc:
                raise self.d.refused("INSERT INTO _xfer.chunks", exc) from None

        self.retry.run(f"journal of run {self.run_id}", insert, self._reconnect)
        # kept as recorded, without reading the journal back (that grew with every table)
        if spec is not None:
            self._specs[table] = spec
        self._chunks[table] = [ChunkState(table, i, k, lo, hi) for i, (k, lo, hi) in enumerate(ranges)]
        return self._chunks[table]

    def set_table(self, table: str, state: str, error: str | None = None) -> None:
        self._write(
            f"UPDATE {S}.tables SET state = %s, error = %s WHERE run_id = %s AND source_table = %s",
            (state, mask(error) if error else None, self.run_id, table),
        )

    def attempt(self, c: ChunkState) -> None:
        self._write(
            f"UPDATE {S}.chunks SET attempts = attempts + 1 WHERE run_id = %s AND source_table = %s AND chunk = %s",
            (self.run_id, c.table, c.chunk),
        )

    @contextmanager
    def chunk(self, d: object, c: ChunkState) -> Iterator[ChunkMark]:
        """Nested transactions inside (a writer's per-batch commit) become savepoints."""
        pg = _store(d)
        try:
            with self._chunk_tx(pg.conn, c) as mark:
                yield mark
        except pg._psycopg.Error as exc:  # the journal's own statements, or the commit
            raise pg.refused(f"COMMIT of {c.table} chunk {c.chunk + 1}", exc) from None
        c.done, c.rows, c.policies, c.bytes = True, mark.rows, mark.policies, mark.bytes
        c.buckets = dict(mark.checksum.buckets) if mark.checksum is not None else {}
        c.rejected = rejected_rows(mark.rejects)

    @contextmanager
    def _chunk_tx(self, conn: Any, c: ChunkState) -> Iterator[ChunkMark]:
        mark = ChunkMark()
        with conn.transaction():
            with conn.cursor() as cur:
                cur.execute(
                    f"SELECT done_at IS NOT NULL FROM {S}.chunks WHERE run_id = %s AND source_table = %s "
                    "AND chunk = %s FOR UPDATE",
                    (self.run_id, c.table, c.chunk),
                )
                row = cur.fetchone()
                if row is None or row[0]:
                    raise XferError(f"{c.table}: chunk {c.chunk} is already done (or unknown) in run {self.run_id}")
            yield mark
            with conn.cursor() as cur:
                cur.execute(
                    f"UPDATE {S}.chunks SET done_at = clock_timestamp(), rows = %s, rejected = %s, checksum = %s, "
                    "bytes = %s, policies = %s "
                    "WHERE run_id = %s AND source_table = %s AND chunk = %s AND done_at IS NULL",
                    (
                        mark.rows,
                        rejected_rows(mark.rejects),
                        buckets_text(mark.checksum),
                        mark.bytes,
                        json.dumps(mark.policies),
                        self.run_id,
                        c.table,
                        c.chunk,
                    ),
                )
                if cur.rowcount != 1:  # never: the row is locked FOR UPDATE above
                    raise XferError(f"{c.table}: chunk {c.chunk} was marked done twice")
                if mark.rejects:
                    cur.executemany(
                        f"INSERT INTO {S}.rejects (run_id, source_table, chunk, n, record) VALUES (%s, %s, %s, %s, %s)",
                        [
                            (self.run_id, c.table, c.chunk, i, json.dumps(r, default=str, ensure_ascii=False))
                            for i, r in enumerate(mark.rejects)
                        ],
                    )

    def rejects(self) -> list[dict[str, Any]]:
        rows = self.d._query(
            f"SELECT record FROM {S}.rejects WHERE run_id = %s ORDER BY source_table, chunk, n", (self.run_id,)
        )
        return [json.loads(r[0]) for r in rows]  # text, not jsonb: a refused value may hold U+0000

    def preexisting_tables(self) -> list[str]:
        return self.d.run_preexisting_tables(self.run_id)

    # -- DDL steps -------------------------------------------------------------------------------
    def attach(self, d: DDLTarget) -> DDLTarget:
        d.ddl_hook = self.step
        return d

    def step(self, d: object, statements: list[str]) -> None:
        """Run DDL `statements` on `d` as recorded steps, together in one transaction (and one
        round trip) with the record of what they created: those this run has done already are
        skipped. An error leaves none of them done."""
        pg = _store(d)
        todo: dict[str, str] = {}
        for sql in statements:
            key = hashlib.sha1(sql.encode()).hexdigest()
            if key in self._steps:
                log.debug("already done in run %s: %s", self.run_id, sql.splitlines()[0][:120])
            else:
                todo.setdefault(key, sql)
        if not todo:
            return

        def reconnect() -> None:
            pg.reconnect()
            # the statements may have committed just before the connection was lost
            got = self.d._query(
                f"SELECT step FROM {S}.steps WHERE run_id = %s AND step = ANY(%s)", (self.run_id, list(todo))
            )
            self._steps.update(r[0] for r in got)

        def once() -> None:
            left = {k: sql for k, sql in todo.items() if k not in self._steps}
            if left:
                self._step_once(pg, left)

        self.retry.run("DDL step", once, reconnect)  # the error message quotes the statement
        self._steps.update(todo)

    def _step_once(self, d: PostgresJournalStore, todo: dict[str, str]) -> None:
        full = self._full_diff or any(_MAY_DROP.search(sql) for sql in todo.values())
        try:
            self._record_step(d, todo, full)
        except _OidsWrapped:
            log.info("the OID counter has wrapped around: each DDL step now reads the whole catalogue")
            self._full_diff = True
            self._record_step(d, todo, True)
        except d._psycopg.Error as exc:
            raise d.refused(next(iter(todo.values())) if len(todo) == 1 else _several(todo), exc) from None

    def _record_step(self, d: PostgresJournalStore, todo: dict[str, str], full: bool) -> None:
        """The statements and the record of what they made, in one REPEATABLE READ transaction:
        one snapshot for the catalogue reads, so what they find is the statements' doing."""
        conn = d.conn
        sql = ";\n".join(todo.values())
        log.debug("%s", sql)
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            if full:
                before = d.catalog_objects(cur)
                cur.execute(sql)
                after = d.catalog_objects(cur)
                changes = [("created", o) for o in sorted(after - before)]
                changes += [("dropped", o) for o in sorted(before - after)]
            else:
                # A statement that drops nothing: what it made is what has a higher OID than
                # anything the snapshot saw before it (found on the OID indexes, not by listing
                # the catalogue twice), unless the OID counter wrapped around and hands out
                # low numbers again: a CREATE that seems to make nothing says so.
                above = d.catalog_watermark(cur)
                cur.execute(sql)
                changes = [("created", o) for o in sorted(d.catalog_objects(cur, above))]
                if not changes and any(_CREATES.match(s) for s in todo.values()):
                    raise _OidsWrapped
            if changes:
                cur.executemany(
                    f"INSERT INTO {S}.objects (run_id, action, kind, schema_name, name, ident, oid, step) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    [(self.run_id, a, o.kind, o.schema, o.name, o.ident, o.oid, _first(todo)) for a, o in changes],
                )
            cur.executemany(
                f"INSERT INTO {S}.steps (run_id, step, statement) VALUES (%s, %s, %s)",
                [(self.run_id, key, stmt[:2000]) for key, stmt in todo.items()],
            )

    # -- the end -----------------------------------------------------------------------------------
    def finish(self, status: str, error: str | None = None) -> None:
        self._write(
            f"UPDATE {S}.runs SET status = %s, error = %s, updated = now(), "
            "finished = CASE WHEN %s = 'done' THEN now() END WHERE run_id = %s",
            (status, mask(error) if error else None, status, self.run_id),
        )

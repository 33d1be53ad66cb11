"""Thousands of tables (#18): the catalogue queries a migration sends do not grow with the
number of tables (counted per phase, not timed), and a few hundred tables still roll back
exactly and resume after a kill in the index phase."""

from __future__ import annotations

import re
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from conftest import MyConn, PgConn, RunCli
from faults import catalogue, wait_until, xfer_process
from sqlalchemy.engine import make_url

import xfer
from benchmarks.many_tables import ROWS, table_ddl, table_name, table_rows
from xfer.core.progress import ProgressEvents

# a query that reads the database's catalogue (what tables, columns, indexes, objects there are)
CATALOGUE = re.compile(
    r"\b(information_schema|pg_class|pg_namespace|pg_attribute|pg_index|pg_type|pg_constraint)\b", re.I
)


def with_schema(url: str, schema: str) -> str:
    return make_url(url).update_query_dict({"schema": schema}).render_as_string(hide_password=False)


def add_tables(conn: MyConn, first: int, last: int) -> None:
    """Tables `first`..`last` of the benchmark's schema (every tenth references its neighbour)."""
    with conn.cursor() as cur:
        for i in range(first, last + 1):
            cur.execute(table_ddl(i))
            cur.execute(table_rows(i))


class Phases(ProgressEvents):
    """Which phase the run is in ('plan and create' before the first the run announces)."""

    def __init__(self) -> None:
        self.phase = "plan and create"

    def phase_started(self, name: str, total: int | None = None) -> None:
        self.phase = name


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Phases, Counter[tuple[str, str]]]]:
    """Counts every statement that reads a catalogue, by (phase, engine), at the drivers' own
    `execute` (the run's worker threads included)."""
    phases = Phases()
    counts: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()

    def wrap(cls: Any, engine: str) -> None:
        original = cls.execute

        def execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            text = query if isinstance(query, str) else str(getattr(query, "_obj", query))
            if CATALOGUE.search(text):
                with lock:
                    counts[(phases.phase, engine)] += 1
            return original(self, query, *args, **kwargs)

        monkeypatch.setattr(cls, "execute", execute)

    wrap(psycopg.Cursor, "postgres")
    wrap(pymysql.cursors.Cursor, "mysql")
    yield phases, counts


def test_catalogue_queries_do_not_grow_with_the_number_of_tables(
    mysql_url: str, mysql_conn: MyConn, pg_url: str, pg_conn: PgConn, counting: Any
) -> None:
    phases, counts = counting
    got: dict[int, dict[tuple[str, str], int]] = {}
    add_tables(mysql_conn, 1, 50)
    for n, schema in ((50, "few"), (300, "many")):
        if n == 300:
            add_tables(mysql_conn, 51, 300)
        phases.phase = "plan and create"
        counts.clear()
        report = xfer.migrate(mysql_url, with_schema(pg_url, schema), progress=phases)
        assert report.status == "ok", [(t.name, t.status, t.error) for t in report.tables if t.status != "ok"]
        assert len(report.tables) == n and all(t.target_rows == ROWS for t in report.tables)
        got[n] = dict(counts)
        # every table is there with its rows, key, index and (every tenth) foreign key
        rows = pg_conn.execute(
            "SELECT count(*) FILTER (WHERE contype = 'p'), count(*) FILTER (WHERE contype = 'f') "
            "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = %s",
            (schema,),
        ).fetchone()
        assert rows == (n, n // 10)
    few, many = got[50], got[300]
    assert set(many) == set(few), (few, many)
    for key in few:
        phase, engine = key
        if phase in ("copy", "verify") or engine == "mysql":
            assert many[key] == few[key], (key, few, many)  # not one more for 250 more tables
        else:
            # DDL steps: the journal reads the OID watermark and what is above it once per
            # group of statements sent together (up to 200), not per statement or table
            assert many[key] - few[key] <= 8, (key, few, many)
    assert sum(many.values()) < 100, many  # the run before #18 sent more than 2 per table


def test_rollback_after_a_run_of_300_tables(
    mysql_url: str, mysql_conn: MyConn, pg_url: str, pg_conn: PgConn, run_cli: RunCli
) -> None:
    add_tables(mysql_conn, 1, 300)
    pg_conn.execute("CREATE TABLE keep_me (id int PRIMARY KEY)")
    before = catalogue(pg_conn)
    target = with_schema(pg_url, "app")
    result = run_cli("migrate", mysql_url, target)
    assert result.exit_code == 0, result.output
    made = catalogue(pg_conn) - before
    relations = Counter(m[0] for m in made if m[0].startswith("relation ") and m[1] == "app")
    assert relations["relation r"] == 300 and relations["relation i"] == 600  # tables; keys and indexes
    done = run_cli("rollback", target, "--yes")
    assert done.exit_code == 0, done.output
    assert catalogue(pg_conn) == before


def test_resume_after_a_kill_in_the_index_phase(
    mysql_url: str, mysql_conn: MyConn, pg_url: str, pg_conn: PgConn, run_cli: RunCli, tmp_path: Path
) -> None:
    """The index phase of 300 tables is held up on the last table (the test locks it once its
    rows are in), the run is killed there with some index builds committed and others not, and
    --resume finishes it: every key, index and foreign key, each once."""
    n = 300
    add_tables(mysql_conn, 1, n)
    target = with_schema(pg_url, "app")
    last = table_name(n)
    p = xfer_process(["migrate", mysql_url, target, "--no-verify"], tmp_path)
    blocker = psycopg.connect(pg_url, autocommit=False)
    try:

        def last_copied() -> bool:
            try:
                row = pg_conn.execute(
                    "SELECT done_at IS NOT NULL FROM _xfer.chunks WHERE source_table = %s", (last,)
                ).fetchone()
            except psycopg.errors.UndefinedTable:  # the journal is being created
                return False
            return bool(row and row[0])

        assert wait_until(last_copied, timeout=300), p.communicate(timeout=5)[0].decode()[-2000:]
        blocker.execute(f'LOCK TABLE app."{last}" IN EXCLUSIVE MODE')  # the index builds on it wait

        def index_steps() -> int:
            q = "SELECT count(*) FROM _xfer.steps WHERE statement LIKE 'CREATE UNIQUE INDEX%%'"
            return int(pg_conn.execute(q).fetchone()[0])

        assert wait_until(lambda: index_steps() > 0, timeout=120)
        assert p.poll() is None, "the run ended before it could be stopped in its index phase"
        assert index_steps() < n  # some keys built, not all
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
        blocker.close()
    result = run_cli("migrate", mysql_url, target, "--no-verify", "--resume")
    assert result.exit_code == 0, result.output
    assert "ok" in result.output
    keys = pg_conn.execute(
        "SELECT count(*) FILTER (WHERE contype = 'p'), count(*) FILTER (WHERE contype = 'f') "
        "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'app'"
    ).fetchone()
    assert keys == (n, n // 10)
    indexes = pg_conn.execute("SELECT count(*) FROM pg_indexes WHERE schemaname = 'app'").fetchone()[0]
    assert indexes == 2 * n  # the key's and the secondary one, each once
    rows = pg_conn.execute(f'SELECT count(*) FROM app."{last}"').fetchone()[0]
    assert rows == ROWS

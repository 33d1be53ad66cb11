"""`xfer rollback` leaves the target exactly as it was before the run -- after a complete run
and after a run killed half-way -- compared over the whole catalogue (every schema, relation,
column, type, function, trigger, constraint and sequence), and drops nothing it did not create."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from conftest import MyConn, PgConn, RunCli
from faults import catalogue, chunks_done, wait_until, xfer_process
from sqlalchemy.engine import make_url
from sqlfile import run_sql_file

PRE_EXISTING = [
    "CREATE TABLE keep_me (id int PRIMARY KEY, v text)",
    "INSERT INTO keep_me VALUES (1, 'mine')",
    "CREATE VIEW keep_view AS SELECT id FROM keep_me",
    "CREATE TYPE keep_mood AS ENUM ('ok', 'meh')",
    "CREATE SEQUENCE keep_seq",
    "CREATE FUNCTION keep_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    "CREATE TRIGGER keep_trg BEFORE INSERT ON keep_me FOR EACH ROW EXECUTE FUNCTION keep_fn()",
]


def with_schema(url: str, schema: str) -> str:
    return make_url(url).update_query_dict({"schema": schema}).render_as_string(hide_password=False)


@pytest.fixture
def prepared(mysql_conn: MyConn, pg_conn: PgConn) -> None:
    """The source: the sakila-like schema; the target: objects of its own (PRE_EXISTING)."""
    run_sql_file(mysql_conn, "sakila_like.sql")
    for sql in PRE_EXISTING:
        pg_conn.execute(sql)


def test_rollback_after_a_complete_run(
    prepared: None, mysql_url: str, pg_url: str, pg_conn: PgConn, run_cli: RunCli
) -> None:
    before = catalogue(pg_conn)
    target = with_schema(pg_url, "app")
    result = run_cli("migrate", mysql_url, target, "--enum", "native")
    assert result.exit_code == 0, result.output
    made = catalogue(pg_conn) - before
    kinds = {k.split()[0] for k, *_ in made}
    assert {"schema", "relation", "type", "function", "trigger", "constraint", "sequence"} <= kinds

    # without --yes and without a terminal: shows the list, refuses, changes nothing
    refused = run_cli("rollback", target)
    assert refused.exit_code == 2
    assert "will drop" in refused.output and "table app.film" in refused.output and "add --yes" in refused.output
    assert catalogue(pg_conn) - before == made

    done = run_cli("rollback", target, "--yes")
    assert done.exit_code == 0, done.output
    assert "rolled back run" in done.output
    assert catalogue(pg_conn) == before  # exactly as before: the journal's schema is gone too
    assert pg_conn.execute("SELECT v FROM keep_me").fetchall() == [("mine",)]


def test_rollback_after_a_killed_run_keeps_an_earlier_run(
    prepared: None, mysql_url: str, mysql_conn: MyConn, pg_url: str, pg_conn: PgConn, run_cli: RunCli, tmp_path: Path
) -> None:
    # an earlier, finished run into schema "first": the later run's rollback must not touch it
    assert run_cli("migrate", mysql_url, with_schema(pg_url, "first"), "--tables", "actor").exit_code == 0
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE digits (i INT)")
        cur.execute("INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)")
        cur.execute("CREATE TABLE zz_big (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute(
            "INSERT INTO zz_big SELECT 1 + a.i + 10 * b.i + 100 * c.i + 1000 * d.i + 10000 * e.i, 'v' "
            "FROM digits a, digits b, digits c, digits d, digits e"
        )
        cur.execute("ANALYZE TABLE zz_big")  # sizes for the planner (fresh InnoDB statistics)
    before = catalogue(pg_conn)
    target = with_schema(pg_url, "second")
    p = xfer_process(
        ["migrate", mysql_url, target, "--batch-size", "500", "--chunk-bytes", "0.05", "--enum", "native"], tmp_path
    )
    try:
        # killed in the middle of copying the last table (the others are created and copied)
        assert wait_until(lambda: chunks_done(pg_conn) >= 30, timeout=120)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert pg_conn.execute("SELECT count(*) FROM _xfer.chunks WHERE done_at IS NULL").fetchone()[0] > 0
    assert catalogue(pg_conn) != before

    result = run_cli("rollback", target, "--yes")
    assert result.exit_code == 0, result.output
    assert catalogue(pg_conn) == before
    # the earlier run is still recorded; the killed one is gone from the journal
    assert len(pg_conn.execute("SELECT run_id FROM _xfer.runs").fetchall()) == 1
    assert pg_conn.execute("SELECT count(*) FROM first.actor").fetchone()[0] > 0


def test_rollback_drops_nothing_it_did_not_create(
    prepared: None, mysql_url: str, pg_url: str, pg_conn: PgConn, run_cli: RunCli
) -> None:
    """A view someone built on a table of the run stops the rollback (nothing is dropped, and
    the message names it); a same-named object re-created since the run is kept."""
    assert run_cli("migrate", mysql_url, pg_url, "--tables", "actor", "--tables", "language").exit_code == 0
    pg_conn.execute("CREATE VIEW their_view AS SELECT actor_id FROM actor")
    before = catalogue(pg_conn)
    stopped = run_cli("rollback", pg_url, "--yes")
    assert stopped.exit_code == 1
    assert "changed nothing" in stopped.output and "their_view" in stopped.output
    assert catalogue(pg_conn) == before

    pg_conn.execute("DROP VIEW their_view")
    pg_conn.execute("DROP TABLE language")
    pg_conn.execute("CREATE TABLE language (mine int)")  # same name, not the run's table
    result = run_cli("rollback", pg_url, "--yes")
    assert result.exit_code == 0, result.output
    assert "kept: table public.language: re-created since the run" in result.output
    tables = {r[0] for r in pg_conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables == {"keep_me", "language"}

"""The journal's edges: a role that may not create it, a resume planned differently, engines
without a journal."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import psycopg
import pymysql
from conftest import RunCli
from sqlalchemy.engine import make_url


def _source(my: pymysql.connections.Connection) -> None:
    with my.cursor() as cur:
        cur.execute("CREATE TABLE a (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO a VALUES (1), (2)")
        cur.execute("CREATE TABLE b (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO b VALUES (1)")


def test_a_role_that_may_not_create_the_journal_is_told_about_no_journal(
    mysql_url: str,
    mysql_conn: pymysql.connections.Connection,
    pg_url: str,
    pg_conn: psycopg.Connection[Any],
    run_cli: RunCli,
) -> None:
    _source(mysql_conn)
    role = f"xfer_nj_{secrets.token_hex(4)}"
    pg_conn.execute(f"CREATE ROLE {role} LOGIN")
    pg_conn.execute(f"CREATE SCHEMA app AUTHORIZATION {role}")  # its own schema, no CREATE on the database
    target = make_url(pg_url).set(username=role).update_query_dict({"schema": "app"})
    url = target.render_as_string(hide_password=False)
    try:
        refused = run_cli("migrate", mysql_url, url)
        assert refused.exit_code == 1
        assert "permission denied" in refused.output and "--no-journal" in refused.output
        assert pg_conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'app'").fetchone() == (0,)
        done = run_cli("migrate", mysql_url, url, "--no-journal")
        assert done.exit_code == 0, done.output
        assert pg_conn.execute("SELECT count(*) FROM app.a").fetchone() == (2,)
    finally:
        pg_conn.execute(f"DROP OWNED BY {role}")
        pg_conn.execute(f"DROP ROLE {role}")


def test_resume_of_a_run_planned_differently_names_the_difference(
    mysql_url: str,
    mysql_conn: pymysql.connections.Connection,
    pg_url: str,
    pg_conn: psycopg.Connection[Any],
    run_cli: RunCli,
) -> None:
    _source(mysql_conn)
    assert run_cli("migrate", mysql_url, pg_url, "--tables", "a").exit_code == 0
    pg_conn.execute("UPDATE _xfer.runs SET status = 'failed'")  # as if it had not finished
    result = run_cli("migrate", mysql_url, pg_url, "--resume")  # now with both tables
    assert result.exit_code == 2
    assert "planned differently (tables added: b)" in result.output and "xfer rollback" in result.output
    assert run_cli("migrate", mysql_url, pg_url, "--tables", "a", "--resume").exit_code == 0


def test_engines_without_a_journal_say_so(
    mysql_url: str, mysql_conn: pymysql.connections.Connection, run_cli: RunCli, tmp_path: Path
) -> None:
    _source(mysql_conn)
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert run_cli("migrate", mysql_url, target).exit_code == 0
    resumed = run_cli("migrate", mysql_url, target, "--resume")
    assert resumed.exit_code == 2 and "PostgreSQL targets only" in resumed.output
    rb = run_cli("rollback", target, "--yes")
    assert rb.exit_code == 2 and "PostgreSQL target" in rb.output

"""The journal's edges: a role that may not create it, a resume planned differently, engines
without a journal."""

from __future__ import annotations

import secrets
from pathlib import Path

from conftest import PgConn, RunCli, mysql_source
from sqlalchemy.engine import make_url

# the source: tables `a` (two rows) and `b` (one)
source = mysql_source("""
    CREATE TABLE a (id INT PRIMARY KEY);
    INSERT INTO a VALUES (1), (2);
    CREATE TABLE b (id INT PRIMARY KEY);
    INSERT INTO b VALUES (1);
""")


def test_a_role_that_may_not_create_the_journal_is_told_about_no_journal(
    source: None, mysql_url: str, pg_url: str, pg_conn: PgConn, run_cli: RunCli
) -> None:
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
    source: None, mysql_url: str, pg_url: str, pg_conn: PgConn, run_cli: RunCli
) -> None:
    assert run_cli("migrate", mysql_url, pg_url, "--tables", "a").exit_code == 0
    pg_conn.execute("UPDATE _xfer.runs SET status = 'failed'")  # as if it had not finished
    result = run_cli("migrate", mysql_url, pg_url, "--resume")  # now with both tables
    assert result.exit_code == 2
    assert "planned differently (tables added: b)" in result.output and "xfer rollback" in result.output
    assert run_cli("migrate", mysql_url, pg_url, "--tables", "a", "--resume").exit_code == 0


def test_engines_without_a_journal_say_so(source: None, mysql_url: str, run_cli: RunCli, tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert run_cli("migrate", mysql_url, target).exit_code == 0
    resumed = run_cli("migrate", mysql_url, target, "--resume")
    assert resumed.exit_code == 2 and "PostgreSQL targets only" in resumed.output
    rb = run_cli("rollback", target, "--yes")
    assert rb.exit_code == 2 and "PostgreSQL target" in rb.output

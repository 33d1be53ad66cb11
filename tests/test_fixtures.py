"""The per-test database fixtures give working, empty, isolated databases that are dropped.

Each test stands alone (any order, any subset): the one that checks the dropping runs its own
small pytest session in a child process, with this directory's conftest as a plugin, and looks
for the databases it was handed once that session is over."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from sqlalchemy.engine import URL, make_url

TEXT = "Zoë O'Brien — 山田 🚀"
TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("round_", [1, 2])
def test_mysql_database_is_fresh_and_works(
    mysql_url: str, mysql_conn: pymysql.connections.Connection, round_: int
) -> None:
    url = make_url(mysql_url)
    assert url.drivername == "mysql"
    assert url.database is not None and url.database.startswith("xfer_t_")

    with mysql_conn.cursor() as cur:
        cur.execute("SELECT DATABASE()")
        assert cur.fetchone() == (url.database,)
        cur.execute("SHOW TABLES")
        assert cur.fetchall() == ()  # empty, whatever another test left behind
        # Same table name in every round: a shared database would make the second one fail.
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, txt VARCHAR(50))")
        cur.execute("INSERT INTO t VALUES (%s, %s), (%s, NULL)", (round_, TEXT, round_ + 10))
        cur.execute("SELECT id, txt FROM t ORDER BY id")
        assert cur.fetchall() == ((round_, TEXT), (round_ + 10, None))


@pytest.mark.parametrize("round_", [1, 2])
def test_pg_database_is_fresh_and_works(pg_url: str, pg_conn: psycopg.Connection[tuple[Any, ...]], round_: int) -> None:
    url = make_url(pg_url)
    assert url.drivername == "postgresql"
    assert url.database is not None and url.database.startswith("xfer_t_")

    assert pg_conn.execute("SELECT current_database()").fetchone() == (url.database,)
    assert pg_conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
    tables = pg_conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    assert tables.fetchone() == (0,)
    pg_conn.execute("CREATE TABLE t (id int PRIMARY KEY, txt varchar(50))")
    pg_conn.execute("INSERT INTO t VALUES (%s, %s), (%s, NULL)", (round_, TEXT, round_ + 10))
    rows = pg_conn.execute("SELECT id, txt FROM t ORDER BY id").fetchall()
    assert rows == [(round_, TEXT), (round_ + 10, None)]


# Two tests that each take a MySQL and a PostgreSQL database, fill them and write their names down.
CHILD_TESTS = """
    import os

    def _note(*urls):
        with open(os.environ["XFER_TEST_NAMES_FILE"], "a") as f:
            f.writelines(url.rsplit("/", 1)[1].split("?")[0] + "\\n" for url in urls)

    def test_one(mysql_url, mysql_conn, pg_url, pg_conn):
        _note(mysql_url, pg_url)
        with mysql_conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id INT)")
        pg_conn.execute("CREATE TABLE t (id int)")

    def test_two(mysql_url, pg_url):
        _note(mysql_url, pg_url)
"""


def test_databases_are_distinct_and_dropped_afterwards(mysql_server: URL, pg_server: URL, tmp_path: Path) -> None:
    (tmp_path / "test_child.py").write_text(textwrap.dedent(CHILD_TESTS))
    names_file = tmp_path / "names.txt"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")]),
        "XFER_TEST_NAMES_FILE": str(names_file),
        # the servers this session found (perhaps in containers), not the defaults again
        "XFER_TEST_MYSQL_URL": mysql_server.render_as_string(hide_password=False),
        "XFER_TEST_POSTGRES_URL": pg_server.render_as_string(hide_password=False),
    }
    child = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider", "test_child.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stdout + child.stderr
    assert "2 passed" in child.stdout, child.stdout

    names = names_file.read_text().split()
    mysql_names, pg_names = names[0::2], names[1::2]
    assert len(set(mysql_names)) == 2 and len(set(pg_names)) == 2, names  # a database per test
    assert all(n.startswith("xfer_t_") for n in names)
    with contextlib.closing(pymysql.connect(**_mysql_kwargs(mysql_server))) as conn:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            left = {name for (name,) in cur.fetchall()} & set(mysql_names)
    assert left == set()

    with psycopg.connect(**_pg_kwargs(pg_server)) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname = ANY(%s)", (pg_names,)).fetchall()
    assert rows == []


def _mysql_kwargs(url: URL) -> dict[str, Any]:
    return {
        "host": url.host,
        "port": url.port or 3306,
        "user": url.username,
        "password": url.password or "",
    }


def _pg_kwargs(url: URL) -> dict[str, Any]:
    params = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
    }
    return {k: v for k, v in params.items() if v is not None}

"""The per-test database fixtures give working, empty, isolated databases that are dropped."""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg
import pymysql
import pytest
from sqlalchemy.engine import URL, make_url

TEXT = "Zoë O'Brien — 山田 🚀"

# Names of the databases handed out so far, to check later that they were dropped.
_seen: dict[str, list[str]] = {"mysql": [], "postgres": []}


@pytest.mark.parametrize("round_", [1, 2])
def test_mysql_database_is_fresh_and_works(
    mysql_url: str, mysql_conn: pymysql.connections.Connection, round_: int
) -> None:
    url = make_url(mysql_url)
    assert url.drivername == "mysql"
    assert url.database is not None and url.database.startswith("xfer_t_")
    assert url.database not in _seen["mysql"]
    _seen["mysql"].append(url.database)

    with mysql_conn.cursor() as cur:
        cur.execute("SELECT DATABASE()")
        assert cur.fetchone() == (url.database,)
        cur.execute("SHOW TABLES")
        assert cur.fetchall() == ()  # empty, whatever the previous round left behind
        # Same table name in both rounds: the second would fail if databases were shared.
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, txt VARCHAR(50))")
        cur.execute("INSERT INTO t VALUES (%s, %s), (%s, NULL)", (round_, TEXT, round_ + 10))
        cur.execute("SELECT id, txt FROM t ORDER BY id")
        assert cur.fetchall() == ((round_, TEXT), (round_ + 10, None))


@pytest.mark.parametrize("round_", [1, 2])
def test_pg_database_is_fresh_and_works(pg_url: str, pg_conn: psycopg.Connection[tuple[Any, ...]], round_: int) -> None:
    url = make_url(pg_url)
    assert url.drivername == "postgresql"
    assert url.database is not None and url.database.startswith("xfer_t_")
    assert url.database not in _seen["postgres"]
    _seen["postgres"].append(url.database)

    assert pg_conn.execute("SELECT current_database()").fetchone() == (url.database,)
    assert pg_conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
    tables = pg_conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    assert tables.fetchone() == (0,)
    pg_conn.execute("CREATE TABLE t (id int PRIMARY KEY, txt varchar(50))")
    pg_conn.execute("INSERT INTO t VALUES (%s, %s), (%s, NULL)", (round_, TEXT, round_ + 10))
    rows = pg_conn.execute("SELECT id, txt FROM t ORDER BY id").fetchall()
    assert rows == [(round_, TEXT), (round_ + 10, None)]


def test_databases_are_dropped_afterwards(mysql_server: URL, pg_server: URL) -> None:
    # Runs after the tests above (file order); their fixtures have been torn down by now.
    if len(_seen["mysql"]) < 2 or len(_seen["postgres"]) < 2:
        pytest.skip("needs the earlier tests of this module to have run first")
    with contextlib.closing(pymysql.connect(**_mysql_kwargs(mysql_server))) as conn:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            left = {name for (name,) in cur.fetchall()} & set(_seen["mysql"])
    assert left == set()

    with psycopg.connect(**_pg_kwargs(pg_server)) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname = ANY(%s)", (_seen["postgres"],)).fetchall()
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

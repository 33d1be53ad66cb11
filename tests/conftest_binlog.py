"""Fixtures for the change-capture tests: a binlog-enabled MariaDB of the session's own, and a
fresh database on it per test (loaded by ``pytest_plugins`` in conftest.py).

The system MariaDB has the binary log off and must not be reconfigured, so ``binlog_mysql``
starts a throw-away server (``tests.binlog_server``: ``mariadb-install-db`` in a temporary
directory, its own port and socket, ``--log-bin --binlog-format=ROW --binlog-row-image=FULL
--binlog-row-metadata=FULL``) once per session and removes it at the end. Where the MariaDB
server package is missing the tests that need it are skipped with the reason (``-ra``), and fail
under ``CI=true`` like every other missing server. Tests using these fixtures are marked
``db``, ``mysql`` and ``binlog``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pymysql
import pytest
from conftest import _new_db_name, _unavailable

from tests.binlog_server import BinlogMariaDB, available, binlog_mariadb

BINLOG_FIXTURES = {"binlog_mysql", "binlog_url", "binlog_conn"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "binlog: needs the throw-away binlog-enabled MariaDB")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if set(getattr(item, "fixturenames", ())) & BINLOG_FIXTURES:
            for mark in ("db", "mysql", "binlog"):
                item.add_marker(getattr(pytest.mark, mark))


@pytest.fixture(scope="session")
def binlog_mysql() -> Iterator[BinlogMariaDB]:
    """The session's binlog-enabled MariaDB (``.url(db)``, ``.connect(db)``, ``.restart()``)."""
    why = available()
    if why:
        _unavailable(f"no binlog-enabled MariaDB for the change-capture tests: {why}")
    try:
        server_cm = binlog_mariadb()
        server = server_cm.__enter__()
    except Exception as exc:  # noqa: BLE001 - any start failure: the reason is shown
        _unavailable(f"the binlog-enabled MariaDB did not start: {exc}")
    try:
        yield server
    finally:
        server_cm.__exit__(None, None, None)


@pytest.fixture
def binlog_url(binlog_mysql: BinlogMariaDB) -> Iterator[str]:
    """URL (str) of a brand-new, empty utf8mb4 database on the binlog server, dropped after."""
    name = _new_db_name()
    with contextlib.closing(binlog_mysql.connect()) as admin, admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield binlog_mysql.url(name)
    finally:
        if binlog_mysql.process is not None:  # a test may have stopped the server
            with contextlib.closing(binlog_mysql.connect()) as admin, admin.cursor() as cur:
                # sessions a test (or a killed xfer) left behind would hold metadata locks
                cur.execute(
                    "SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()",
                    (name,),
                )
                for (session_id,) in cur.fetchall():
                    with contextlib.suppress(pymysql.err.MySQLError):
                        cur.execute(f"KILL {int(session_id)}")
                cur.execute("SET SESSION lock_wait_timeout = 30")
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def binlog_conn(binlog_mysql: BinlogMariaDB, binlog_url: str) -> Iterator[pymysql.connections.Connection]:
    """pymysql connection (autocommit, utf8mb4, UTC session) to the test's ``binlog_url`` database."""
    conn = pymysql.connect(
        host="127.0.0.1", port=binlog_mysql.port, user="root", password="", database=binlog_url.rsplit("/", 1)[1],
        charset="utf8mb4", autocommit=True, init_command="SET time_zone = '+00:00'",
    )  # fmt: skip
    try:
        yield conn
    finally:
        conn.close()

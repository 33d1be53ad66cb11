"""Shared fixtures: a fresh, throw-away database per test on real MySQL/MariaDB and PostgreSQL.

Servers are found, in order:

1. at ``XFER_TEST_MYSQL_URL`` / ``XFER_TEST_POSTGRES_URL`` (defaults: local servers with
   passwordless ``root`` / ``postgres``);
2. else in a session-wide testcontainers container, but only if a Docker engine answers;
3. else the test is skipped with the reason shown by ``-ra`` -- unless ``CI=true``, where a
   missing server fails the test instead (CI must never go green by skipping everything).

A few things cannot exist on the CI machine (no Docker engine: no live MySQL 8). Such a skip is
named (``_unavailable(..., allow="mysql8")``) and is allowed under ``CI=true`` only when the name
is listed in ``XFER_TEST_ALLOW_SKIP`` (comma-separated; ``.ci/run`` sets and prints it); the
skip's reason then says so, and the end of the run counts every allowed skip by name, so nothing
is hidden.

Each test that asks for ``mysql_url`` / ``pg_url`` gets its own ``xfer_t_<hex>`` database,
dropped when the test ends. Tests using those fixtures are auto-marked ``db`` (plus ``mysql`` or
``postgres``), so ``pytest -m "not db"`` runs only the server-free tests.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pymysql
import pytest
from click.testing import CliRunner, Result
from psycopg import sql
from sqlalchemy.engine import URL, make_url
from sqlfile import statements

MYSQL_URL_ENV = "XFER_TEST_MYSQL_URL"
POSTGRES_URL_ENV = "XFER_TEST_POSTGRES_URL"
MYSQL_DEFAULT_URL = "mysql://root@127.0.0.1:3306/test"
POSTGRES_DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"

# Images used only in the testcontainers fallback; same majors as the reference servers.
MYSQL_IMAGE = os.environ.get("XFER_TEST_MYSQL_IMAGE", "mariadb:10.11")
POSTGRES_IMAGE = os.environ.get("XFER_TEST_POSTGRES_IMAGE", "postgres:15")

DB_PREFIX = "xfer_t_"
CONNECT_TIMEOUT_S = 3  # probing a dead server must fail fast, not hang the session

_DB_FIXTURES = {
    "mysql": {"mysql_url", "mysql_conn", "mysql_server"},
    "postgres": {"pg_url", "pg_conn", "pg_server"},
}

# the binlog-enabled MariaDB of the change-capture tests (binlog_mysql, binlog_url, binlog_conn)
pytest_plugins = ["conftest_binlog"]

RunCli = Callable[..., Result]
MyConn = pymysql.connections.Connection
PgConn = psycopg.Connection[tuple[Any, ...]]


# --------------------------------------------------------------------------- pytest hooks


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "db: needs a MySQL/MariaDB or PostgreSQL server")
    config.addinivalue_line("markers", "mysql: needs a MySQL/MariaDB server")
    config.addinivalue_line("markers", "postgres: needs a PostgreSQL server")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Mark by fixture use so nobody has to remember to decorate server tests by hand.
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for engine, names in _DB_FIXTURES.items():
            if used & names:
                item.add_marker(pytest.mark.db)
                item.add_marker(getattr(pytest.mark, engine))


# --------------------------------------------------------------------------- helpers


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


ALLOW_SKIP_ENV = "XFER_TEST_ALLOW_SKIP"
ALLOWED_PREFIX = "[allowed skip: "  # how an allowed skip's reason starts (counted at the end)


def allowed_skips() -> set[str]:
    """The names in $XFER_TEST_ALLOW_SKIP: skips CI accepts, each a documented exception."""
    return {name.strip() for name in os.environ.get(ALLOW_SKIP_ENV, "").split(",") if name.strip()}


def _unavailable(message: str, allow: str | None = None) -> NoReturn:
    """Skip locally; fail on CI, where a missing server means a broken pipeline -- unless this
    skip is named (`allow`) and that name is in $XFER_TEST_ALLOW_SKIP: then an expected skip,
    said so in its reason and counted in the run's summary."""
    if _in_ci():
        if allow is not None and allow in allowed_skips():
            pytest.skip(f"{ALLOWED_PREFIX}{allow} ({ALLOW_SKIP_ENV})] {message}")
        named = f"; {ALLOW_SKIP_ENV}={allow} would accept it" if allow else ""
        pytest.fail(f"{message} [CI=true: a missing server or tool is an error, not a skip{named}]", pytrace=False)
    pytest.skip(message)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Count the skips $XFER_TEST_ALLOW_SKIP accepted, by name, so that none goes unnoticed."""
    counts: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
        if reason.startswith(f"Skipped: {ALLOWED_PREFIX}") or reason.startswith(ALLOWED_PREFIX):
            name = reason.split(ALLOWED_PREFIX, 1)[1].split(" ", 1)[0]
            counts[name] = counts.get(name, 0) + 1
    if counts:
        listed = ", ".join(f"{name}: {n} test(s)" for name, n in sorted(counts.items()))
        terminalreporter.write_line(f"allowed skips ({ALLOW_SKIP_ENV}): {listed}", yellow=True)


def _show(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _new_db_name() -> str:
    return f"{DB_PREFIX}{uuid.uuid4().hex[:12]}"


def mysql_connect(url: URL, database: str | None = None) -> pymysql.connections.Connection:
    """pymysql connection (autocommit, utf8mb4) from a URL; ``database=None`` selects none."""
    kwargs: dict[str, Any] = {
        "host": url.host or "127.0.0.1",
        "port": url.port or 3306,
        "user": url.username or "root",
        "password": url.password or "",
        "database": database,
        "charset": "utf8mb4",
        "autocommit": True,
        "connect_timeout": CONNECT_TIMEOUT_S,
    }
    if isinstance(url.query.get("unix_socket"), str):
        kwargs["unix_socket"] = url.query["unix_socket"]
    return pymysql.connect(**kwargs)


def pg_connect(url: URL, database: str | None = None) -> psycopg.Connection[tuple[Any, ...]]:
    """psycopg 3 connection (autocommit) from a URL; ``database=None`` keeps the URL's."""
    params: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": database or url.database,
        "connect_timeout": CONNECT_TIMEOUT_S,
    }
    return psycopg.connect(autocommit=True, **{k: v for k, v in params.items() if v is not None})


def _probe_mysql(url: URL) -> URL:
    with contextlib.closing(mysql_connect(url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
    return url


def _probe_pg(url: URL) -> URL:
    """Return a URL whose database accepts admin connections (CREATE/DROP DATABASE)."""
    try:
        with pg_connect(url) as conn:
            conn.execute("SELECT 1")
        return url
    except psycopg.OperationalError as exc:
        # The server is up but the URL's database (e.g. "test") may not exist: administer
        # from the maintenance database instead.
        if "does not exist" not in str(exc) or url.database == "postgres":
            raise
    fallback = url.set(database="postgres")
    with pg_connect(fallback) as conn:
        conn.execute("SELECT 1")
    return fallback


def _docker_problem() -> str | None:
    """None if a Docker engine answers a ping now, else why not. Returns in ~ms when absent."""
    try:
        import docker  # installed with testcontainers

        client = docker.from_env(timeout=2)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - any failure just means "no Docker"
        return f"{type(exc).__name__}: {exc}"
    return None


def _wait_for(probe: Callable[[URL], URL], url: URL, timeout_s: float = 60) -> URL:
    """Retry ``probe`` until the (just started) server accepts connections."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return probe(url)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


@dataclass(frozen=True)
class Server:
    """How to find one kind of server: where to look first, how to probe it, and the container
    to start when it is not there."""

    label: str
    env_var: str
    default_url: str
    probe: Callable[[URL], URL]
    start_container: Callable[[contextlib.ExitStack], URL]


def _server(server: Server) -> Iterator[URL]:
    """Body shared by the session-scoped server fixtures: yield an admin URL, or skip/fail."""
    url = make_url(os.environ.get(server.env_var) or server.default_url)
    try:
        admin_url = server.probe(url)
    except Exception as exc:  # noqa: BLE001 - every connection failure means "not here"
        reason = f"{server.label} not reachable at {_show(url)} (set {server.env_var}): {exc}"
    else:
        yield admin_url
        return

    docker_problem = _docker_problem()
    if docker_problem is not None:
        _unavailable(f"{reason}; no Docker engine for testcontainers ({docker_problem})")

    with contextlib.ExitStack() as stack:
        try:
            container_url = _wait_for(server.probe, server.start_container(stack))
        except Exception as exc:  # noqa: BLE001
            _unavailable(f"{reason}; testcontainers fallback failed too: {exc}")
        yield container_url


def _start_mysql_container(stack: contextlib.ExitStack) -> URL:
    try:
        from testcontainers.community.mysql import MySqlContainer
    except ImportError:  # testcontainers < 4.14 layout
        from testcontainers.mysql import MySqlContainer

    container = stack.enter_context(MySqlContainer(MYSQL_IMAGE, username="root", password="xfer", dbname="test"))
    return make_url(container.get_connection_url())


def _start_pg_container(stack: contextlib.ExitStack) -> URL:
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:  # testcontainers < 4.14 layout
        from testcontainers.postgres import PostgresContainer

    container = stack.enter_context(
        PostgresContainer(POSTGRES_IMAGE, username="postgres", password="xfer", dbname="test", driver=None)
    )
    return make_url(container.get_connection_url())


# --------------------------------------------------------------------------- server fixtures


MYSQL = Server("MySQL/MariaDB", MYSQL_URL_ENV, MYSQL_DEFAULT_URL, _probe_mysql, _start_mysql_container)
POSTGRES = Server("PostgreSQL", POSTGRES_URL_ENV, POSTGRES_DEFAULT_URL, _probe_pg, _start_pg_container)


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[URL]:
    """Admin URL of the MySQL/MariaDB server (skips/fails the test when there is none)."""
    yield from _server(MYSQL)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[URL]:
    """Admin URL of the PostgreSQL server (skips/fails the test when there is none)."""
    yield from _server(POSTGRES)


# --------------------------------------------------------------------------- per-test databases


@pytest.fixture
def mysql_url(mysql_server: URL) -> Iterator[str]:
    """URL (str) of a brand-new, empty utf8mb4 database, dropped after the test."""
    name = _new_db_name()
    with contextlib.closing(mysql_connect(mysql_server)) as admin, admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield mysql_server.set(database=name).render_as_string(hide_password=False)
    finally:
        with contextlib.closing(mysql_connect(mysql_server)) as admin, admin.cursor() as cur:
            # DROP DATABASE waits (lock_wait_timeout, a day by default) on metadata locks held
            # by sessions a test leaked, e.g. an unclosed xfer connection: kill those first.
            cur.execute(
                "SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()",
                (name,),
            )
            for (session_id,) in cur.fetchall():
                with contextlib.suppress(pymysql.err.MySQLError):  # may have ended meanwhile
                    cur.execute(f"KILL {int(session_id)}")
            cur.execute("SET SESSION lock_wait_timeout = 30")
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def pg_url(pg_server: URL) -> Iterator[str]:
    """URL (str) of a brand-new, empty UTF8 database, dropped after the test."""
    name = _new_db_name()
    with pg_connect(pg_server) as admin:
        # template0: nobody can be connected to it, so parallel CREATE DATABASEs never collide,
        # and it carries nothing a local admin may have added to template1.
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(name)))
    try:
        yield pg_server.set(database=name).render_as_string(hide_password=False)
    finally:
        with pg_connect(pg_server) as admin:
            # WITH (FORCE) (PostgreSQL 13+) terminates sessions a test leaked.
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def mysql_conn(mysql_url: str) -> Iterator[pymysql.connections.Connection]:
    """pymysql connection (autocommit, utf8mb4) to the test's own ``mysql_url`` database."""
    url = make_url(mysql_url)
    conn = mysql_connect(url, database=url.database)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def pg_conn(pg_url: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """psycopg 3 connection (autocommit) to the test's own ``pg_url`` database."""
    conn = pg_connect(make_url(pg_url))
    try:
        yield conn
    finally:
        conn.close()


def mysql_source(sql_text: str) -> Any:
    """A fixture that fills the test's MySQL database (``mysql_conn``) with ``sql_text``:
    statements ending in ";", "--" comment lines, as in ``fixtures/*.sql``. A test module names
    its source once, ``shop = mysql_source('''CREATE TABLE ...;''')``, and each test that
    wants it asks for ``shop`` instead of building it in its body."""

    @pytest.fixture
    def source(mysql_conn: MyConn) -> None:
        with mysql_conn.cursor() as cur:
            for statement in statements(sql_text):
                cur.execute(statement)

    return source


# --------------------------------------------------------------------------- CLI


@pytest.fixture(autouse=True)
def _in_tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own empty working directory, so files xfer writes there by
    default (a reject file, a relative DuckDB path) never land in the repository."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def run_cli() -> RunCli:
    """``run_cli(*args, env=None)`` runs ``xfer`` in-process and returns click's ``Result``.

    ``result.output`` is stdout and stderr interleaved as a terminal would show them (click
    >= 8.2 always captures both; ``result.stdout`` / ``result.stderr`` are also separate).
    Exceptions are caught (exit code 1, ``result.exception``); the command, its output and any
    traceback are printed so they appear in pytest's report when the test fails.
    """

    def _run(*args: str | os.PathLike[str] | int, env: Mapping[str, str | None] | None = None) -> Result:
        from xfer.cli.app import main  # imported late: the CLI module may not exist yet

        argv = [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args]
        result = CliRunner().invoke(main, argv, env=env, prog_name="xfer")
        print(f"$ xfer {shlex.join(argv)}\n{result.output}[exit code {result.exit_code}]")
        if result.exc_info is not None and not isinstance(result.exception, SystemExit):
            print("".join(traceback.format_exception(*result.exc_info)))
        return result

    return _run

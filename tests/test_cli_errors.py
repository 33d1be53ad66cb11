"""Bad input: one clear `error:` line (plus at most a hint), the documented exit code, no
traceback, and never a password. Also: XFER_SOURCE / XFER_TARGET, --help and --version."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from click.testing import Result
from sqlalchemy.engine import URL, make_url

from xfer.cli import main

RunCli = Callable[..., Result]
PgConn = psycopg.Connection[tuple[Any, ...]]
MyConn = pymysql.connections.Connection

REPO = Path(__file__).parents[1]
SHOP = REPO / "xfer" / "samples" / "shop.sqlite"
SHOP_URL = f"sqlite:///{SHOP}"

PW_USER = "xfer_pw"
PASSWORD = "S3cr3t-pw"
PG_PASSWORD = "Pg-S3cr3t-pw"  # the local PostgreSQL trusts the connection: any password works
WRONG_PASSWORD = "Wr0ng/p@ss:word"  # URL-special characters, percent-encoded in the URL
WRONG_PASSWORD_ENCODED = "Wr0ng%2Fp%40ss%3Aword"
SECRETS = (PASSWORD, PG_PASSWORD, WRONG_PASSWORD, WRONG_PASSWORD_ENCODED)


def assert_one_error(result: Result, exit_code: int, *phrases: str) -> str:
    """The documented exit code, one `error:` line (an optional `  hint:` line), no traceback."""
    out = result.output
    assert result.exit_code == exit_code, out
    assert "Traceback" not in out
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in out.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, out
    assert all(line.startswith("  hint: ") for line in lines if line not in errors), out
    assert len(lines) <= 2, out
    for phrase in phrases:
        assert phrase.lower() in errors[0].lower(), (phrase, out)
    return errors[0]


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# ------------------------------------------------------------------------------ no server needed

# (id, argv with {tmp} for the test's directory, exit code, phrases in the error line)
SERVERLESS_CASES = [
    ("unknown-scheme", ["inspect", "oracle://scott:tiger@127.0.0.1/orcl"], 2, ["unknown engine", "oracle"]),
    ("unknown-scheme-target", ["migrate", SHOP_URL, "mongodb://127.0.0.1/db"], 2, ["unknown engine", "mongodb"]),
    ("not-a-url", ["migrate", "shop.sqlite", "duckdb:///{tmp}/x.duckdb"], 2, ["not a connection URL"]),
    ("empty-url", ["inspect", ""], 2, ["not a connection URL"]),
    ("bad-port", ["inspect", "mysql://root@127.0.0.1:port/db"], 2, ["127.0.0.1:port"]),
    ("port-with-a-letter", ["inspect", "mysql://root@127.0.0.1:33o6/db"], 2, ["the port '33o6' is not a number"]),
    # -m: a directory, or a file that is not there, gets xfer's message (never click's Usage:)
    ("mapping-is-a-directory", ["plan", "-m", "{tmp}"], 2, ["mapping file", "is a directory"]),
    ("mapping-missing", ["plan", "-m", "{tmp}/nope.yaml"], 2, ["mapping file", "does not exist"]),
    ("mysql-without-database", ["inspect", "mysql://root@127.0.0.1:3306"], 2, ["names no database"]),
    ("pg-without-database", ["migrate", SHOP_URL, "postgresql://postgres@127.0.0.1:5432"], 2, ["no database"]),
    (
        "missing-sqlite-source",
        ["migrate", "sqlite:///{tmp}/missing.sqlite", "duckdb:///{tmp}/x.duckdb"],
        1,
        ["missing.sqlite", "does not exist"],
    ),
    ("missing-sqlite-inspect", ["inspect", "sqlite:///{tmp}/missing.sqlite"], 1, ["does not exist"]),
    (
        "missing-duckdb-source",
        ["migrate", "duckdb:///{tmp}/missing.duckdb", "sqlite:///{tmp}/x.sqlite"],
        1,
        ["missing.duckdb", "does not exist"],
    ),
    (
        "missing-source-verify",
        ["verify", "sqlite:///{tmp}/missing.sqlite", "duckdb:///{tmp}/x.duckdb"],
        1,
        ["does not exist"],
    ),
    (
        "schema-only-and-data-only",
        ["migrate", SHOP_URL, "duckdb:///{tmp}/x.duckdb", "--schema-only", "--data-only"],
        2,
        ["--schema-only", "--data-only"],
    ),
    ("glob-matches-nothing", ["migrate", SHOP_URL, "duckdb:///:memory:", "-t", "nope*"], 2, ["nope*", "no table"]),
    ("exclude-matches-nothing", ["verify", SHOP_URL, SHOP_URL, "--exclude", "nope*"], 2, ["nope*", "no table"]),
    ("exclude-everything", ["plan", SHOP_URL, "duckdb:///{tmp}/x.duckdb", "--exclude", "*"], 2, ["no tables"]),
    ("mysql-unreachable", ["inspect", "mysql://root@127.0.0.1:1/xfer_db"], 1, ["127.0.0.1:1", "cannot connect"]),
    (
        "pg-unreachable",
        ["migrate", SHOP_URL, f"postgresql://postgres:{PG_PASSWORD}@127.0.0.1:1/xfer_db"],
        1,
        ["127.0.0.1:1"],
    ),
]


@pytest.mark.parametrize(
    ("argv", "exit_code", "phrases"), [c[1:] for c in SERVERLESS_CASES], ids=[c[0] for c in SERVERLESS_CASES]
)
def test_bad_input_gives_one_line(
    run_cli: RunCli, tmp_path: Path, argv: list[str], exit_code: int, phrases: list[str]
) -> None:
    with_tmp = [a.replace("{tmp}", str(tmp_path)) for a in argv]

    result = run_cli(*with_tmp)

    assert_one_error(result, exit_code, *phrases)
    assert_no_secret(result.output)
    assert list(tmp_path.iterdir()) == [], "a failed run must not create files"


def test_an_unreadable_mapping_file_gets_xfer_s_message(run_cli: RunCli, tmp_path: Path) -> None:
    """Not click's `Usage: ... Invalid value`: one `error:` line, exit 2, as for a missing file.
    A socket cannot be opened even by root (who reads a chmod 000 file)."""
    import socket

    sock_path = tmp_path / "m.yaml"
    with contextlib.closing(socket.socket(socket.AF_UNIX)) as sock:
        sock.bind(str(sock_path))
        assert_one_error(run_cli("plan", "-m", sock_path), 2, f"cannot read mapping file '{sock_path}'")
    locked = tmp_path / "locked.yaml"
    locked.write_text("include: [t]\n")
    locked.chmod(0)
    result = run_cli("plan", "-m", locked)
    if os.geteuid() != 0:
        assert_one_error(result, 2, f"cannot read mapping file '{locked}'", "permission denied")
    assert "Usage:" not in result.output and "Invalid value" not in result.output


def test_missing_sqlite_source_is_not_created(run_cli: RunCli, tmp_path: Path) -> None:
    missing = tmp_path / "sub" / "missing.sqlite"
    missing.parent.mkdir()

    result = run_cli("migrate", f"sqlite:///{missing}", f"sqlite:///{tmp_path / 'out.sqlite'}")

    assert_one_error(result, 1, "does not exist")
    assert not missing.exists()
    assert not (tmp_path / "out.sqlite").exists()


UNTOUCHING_USAGE_ERRORS = [
    ("tables-glob", ["--tables", "nope*"]),
    ("exclude-glob", ["--exclude", "nope*"]),
    ("data-only-without-tables", ["--data-only"]),
]


@pytest.mark.parametrize("scheme", ["duckdb", "sqlite"])
@pytest.mark.parametrize(
    "options", [c[1] for c in UNTOUCHING_USAGE_ERRORS], ids=[c[0] for c in UNTOUCHING_USAGE_ERRORS]
)
def test_usage_error_creates_no_target_file(run_cli: RunCli, tmp_path: Path, scheme: str, options: list[str]) -> None:
    target = tmp_path / f"out.{scheme}"

    result = run_cli("migrate", SHOP_URL, f"{scheme}:///{target}", *options)

    assert_one_error(result, 2)
    assert not target.exists()


# Click's own usage errors: exit 2 and a usage message, never a traceback.
CLICK_USAGE_CASES = [
    ("no-arguments", ["migrate"]),
    ("one-argument", ["verify", SHOP_URL]),
    ("zero-batch-size", ["migrate", SHOP_URL, "sqlite:///x.sqlite", "--batch-size", "0"]),
    ("bad-if-exists", ["migrate", SHOP_URL, "sqlite:///x.sqlite", "--if-exists", "overwrite"]),
    ("unknown-option", ["migrate", SHOP_URL, "sqlite:///x.sqlite", "--frobnicate"]),
    ("unknown-command", ["transmogrify"]),
]


@pytest.mark.parametrize("argv", [c[1] for c in CLICK_USAGE_CASES], ids=[c[0] for c in CLICK_USAGE_CASES])
def test_usage_errors_exit_2(run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    monkeypatch.chdir(tmp_path)

    result = run_cli(*argv, env={"XFER_SOURCE": None, "XFER_TARGET": None})

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "error:" in result.output.lower()
    assert list(tmp_path.iterdir()) == []


def test_no_traceback_even_for_an_internal_error_unless_debug(run_cli: RunCli, tmp_path: Path) -> None:
    """A file that is not a database: whatever breaks, the user sees one line."""
    bogus = tmp_path / "not-a-db.sqlite"
    bogus.write_bytes(b"this is not an SQLite database, just some bytes" * 100)

    result = run_cli("inspect", f"sqlite:///{bogus}")

    assert result.exit_code == 1, result.output
    assert_one_error(result, 1)


def test_closed_stdout_pipe_is_not_an_internal_error(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head -1` having exited already
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "xfer", "inspect", SHOP_URL],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    finally:
        os.close(write_end)
    assert "internal error" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_password_with_a_space_is_not_shown(run_cli: RunCli) -> None:
    result = run_cli("inspect", "mysql://u:my secret@127.0.0.1:3306")

    assert_one_error(result, 2, "names no database")
    assert "secret" not in result.output


# ------------------------------------------------------------------------------ --help


def _commands() -> list[str]:
    return sorted(main.commands)


@pytest.mark.parametrize("command", [[], *([c] for c in _commands())], ids=["xfer", *_commands()])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(run_cli: RunCli, command: list[str], flag: str) -> None:
    result = run_cli(*command, flag)

    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: xfer")
    assert "Traceback" not in result.output
    if not command:
        for name in _commands():
            assert name in result.output


def test_version(run_cli: RunCli) -> None:
    from xfer import __version__

    result = run_cli("--version")

    assert result.exit_code == 0
    assert __version__ in result.output


# ------------------------------------------------------------------------------ environment variables


def test_env_vars_replace_the_arguments(run_cli: RunCli, tmp_path: Path) -> None:
    target = tmp_path / "shop.duckdb"
    env = {"XFER_SOURCE": SHOP_URL, "XFER_TARGET": f"duckdb:///{target}"}

    migrated = run_cli("migrate", "--batch-size", "1000", env=env)
    verified = run_cli("verify", env=env)
    planned = run_cli("plan", "-t", "customers", env=env)
    inspected = run_cli("inspect", env={"XFER_SOURCE": f"duckdb:///{target}"})

    for result in (migrated, verified, planned, inspected):
        assert result.exit_code == 0, result.output
    assert target.exists()
    assert "order_items" in migrated.output and "ok" in verified.output
    assert "CREATE TABLE" in planned.output
    assert "customers  (500 rows)" in inspected.output


def test_arguments_win_over_env_vars(run_cli: RunCli, tmp_path: Path) -> None:
    env = {"XFER_SOURCE": f"sqlite:///{tmp_path}/missing.sqlite", "XFER_TARGET": "oracle://nowhere/db"}
    target = tmp_path / "out.duckdb"

    result = run_cli("migrate", SHOP_URL, f"duckdb:///{target}", "-t", "products", env=env)

    assert result.exit_code == 0, result.output
    assert target.exists()


def test_bad_env_var_url_is_reported_like_an_argument(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("migrate", env={"XFER_SOURCE": SHOP_URL, "XFER_TARGET": "not a url"})

    assert_one_error(result, 2, "target", "not a connection URL")


# ------------------------------------------------------------------------------ servers


def _url_with(url: URL, **parts: Any) -> str:
    return url.set(**parts).render_as_string(hide_password=False)


def test_mysql_missing_database(run_cli: RunCli, mysql_server: URL, tmp_path: Path) -> None:
    result = run_cli("migrate", _url_with(mysql_server, database="xfer_no_such_db"), f"duckdb:///{tmp_path}/x.duckdb")

    assert_one_error(result, 1, "xfer_no_such_db", "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_pg_missing_database(run_cli: RunCli, pg_server: URL, tmp_path: Path) -> None:
    missing = _url_with(pg_server, database="xfer_no_such_db", password=PG_PASSWORD)

    as_target = run_cli("migrate", SHOP_URL, missing)
    as_source = run_cli("inspect", missing)

    assert_one_error(as_target, 1, "xfer_no_such_db", "does not exist")
    assert_one_error(as_source, 1, "xfer_no_such_db", "does not exist")
    assert_no_secret(as_target.output + as_source.output)


def _admin(url: URL) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=url.host,
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        autocommit=True,
    )


@pytest.fixture(scope="module")
def password_user(mysql_server: URL) -> Iterator[str]:
    """A MySQL user with a password (the test servers' admin has none); dropped at the end."""
    with contextlib.closing(_admin(mysql_server)) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER IF NOT EXISTS '{PW_USER}'@'%' IDENTIFIED BY '{PASSWORD}'")
        cur.execute(f"ALTER USER '{PW_USER}'@'%' IDENTIFIED BY '{PASSWORD}'")
    try:
        yield PW_USER
    finally:
        with contextlib.closing(_admin(mysql_server)) as conn, conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{PW_USER}'@'%'")


@pytest.fixture
def pw_mysql_url(password_user: str, mysql_url: str, mysql_conn: MyConn) -> str:
    """The test's MySQL database with a little data, reached as the password user."""
    url = make_url(mysql_url)
    with mysql_conn.cursor() as cur:
        cur.execute(f"GRANT ALL ON `{url.database}`.* TO '{password_user}'@'%'")
        cur.execute(
            "CREATE TABLE accounts (id INT PRIMARY KEY, owner VARCHAR(50) NOT NULL, UNIQUE KEY uq_owner (owner))"
        )
        cur.executemany("INSERT INTO accounts VALUES (%s, %s)", [(i, f"owner {i}") for i in range(1, 31)])
    return url.set(username=password_user, password=PASSWORD).render_as_string(hide_password=False)


def test_mysql_as_target_is_refused(run_cli: RunCli, mysql_url: str, tmp_path: Path) -> None:
    result = run_cli("migrate", SHOP_URL, mysql_url)

    assert_one_error(result, 1, "source only")


def test_mysql_wrong_password(run_cli: RunCli, pw_mysql_url: str) -> None:
    # percent-encoded in the URL: neither the encoded nor the decoded form may be shown
    wrong = pw_mysql_url.replace(f":{PASSWORD}@", f":{WRONG_PASSWORD_ENCODED}@")
    assert make_url(wrong).password == WRONG_PASSWORD

    result = run_cli("inspect", wrong)
    debug = run_cli("migrate", wrong, "sqlite:///:memory:", "--debug")

    assert_one_error(result, 1, "access denied")
    assert debug.exit_code == 1
    assert_no_secret(result.output + debug.output)


def test_passwords_never_appear_in_any_output(
    run_cli: RunCli, pw_mysql_url: str, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    src = pw_mysql_url
    dst = make_url(pg_url).set(password=PG_PASSWORD).render_as_string(hide_password=False)
    assert PASSWORD in src and PG_PASSWORD in dst
    reports = [tmp_path / f"r{i}.json" for i in range(4)]

    results = {
        "inspect": run_cli("inspect", src),
        "inspect-json": run_cli("inspect", "--json", src),
        "plan": run_cli("plan", src, dst),
        "migrate": run_cli("migrate", src, dst, "--report", reports[0]),
        "migrate-debug": run_cli("migrate", src, dst, "--debug", "--if-exists", "replace", "--report", reports[1]),
        "migrate-again": run_cli("migrate", src, dst, "--report", reports[2]),
        "glob-error": run_cli("migrate", src, dst, "--tables", "nope*"),
        "verify": run_cli("verify", src, dst),
        "env": run_cli("verify", env={"XFER_SOURCE": src, "XFER_TARGET": dst}),
    }
    pg_conn.execute("UPDATE accounts SET owner = 'someone else' WHERE id = 3")
    results["verify-mismatch"] = run_cli("verify", src, dst, "--report", reports[3])

    codes = {name: r.exit_code for name, r in results.items()}
    assert codes == {
        "inspect": 0,
        "inspect-json": 0,
        "plan": 0,
        "migrate": 0,
        "migrate-debug": 0,
        "migrate-again": 1,
        "glob-error": 2,
        "verify": 0,
        "env": 0,
        "verify-mismatch": 3,
    }
    for name, result in results.items():
        for secret in SECRETS:
            assert secret not in result.output, f"{name} shows a password"
    for path in reports:
        if path.exists():  # migrate-again fails before it has anything to report
            text = path.read_text()
            assert_no_secret(text)
            report = json.loads(text)
            assert report["source"].startswith(f"mysql://{PW_USER}:***@"), report["source"]
            assert ":***@" in report["target"], report["target"]
    assert {p.name for p in reports if p.exists()} >= {"r0.json", "r1.json", "r3.json"}


def test_a_lost_mysql_connection_while_reading_the_catalogue_is_one_line(mysql_url: str, mysql_conn: MyConn) -> None:
    """The main connection dies between two catalogue queries: an XferError with the server's
    words that the retry logic sees as transient, not a driver exception."""
    from contextlib import ExitStack

    from xfer.core.errors import XferError
    from xfer.dialects.connect import open_source

    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    with ExitStack() as stack:
        source = open_source(mysql_url, stack)
        ((meta_id,),) = source._query("SELECT CONNECTION_ID()")
        with mysql_conn.cursor() as cur:
            cur.execute(f"KILL {int(meta_id)}")
        with pytest.raises(XferError) as caught:
            source.introspect(["t"])
    assert caught.value.transient
    assert str(caught.value).startswith("MySQL: ") and "\n" not in str(caught.value)

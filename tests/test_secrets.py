"""Passwords never show: not in output (with --debug too), error messages, reports, reject
files or the journal -- whether they come in the URL, from XFER_*_PASSWORD, or ~/.my.cnf.
Runs use a password-protected MariaDB user and PostgreSQL role made for the test."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pymysql
import pytest
from conftest import RunCli
from faults import run_xfer
from sqlalchemy.engine import make_url


@pytest.fixture
def accounts(
    mysql_url: str, mysql_conn: pymysql.connections.Connection, pg_url: str, pg_conn: psycopg.Connection[Any]
) -> Iterator[dict[str, str]]:
    tag = secrets.token_hex(4)
    password = f"Pw!{secrets.token_hex(6)}%x"  # '%' and '!' must survive URL quoting and masking
    my_user, pg_role = f"xfer_u_{tag}", f"xfer_r_{tag}"
    my_db, pg_db = make_url(mysql_url).database, make_url(pg_url).database
    with mysql_conn.cursor() as cur:
        for host in ("%", "127.0.0.1", "localhost"):
            cur.execute(f"CREATE USER '{my_user}'@'{host.replace('%', '%%')}' IDENTIFIED BY %s", (password,))
            cur.execute(f"GRANT ALL ON `{my_db}`.* TO '{my_user}'@'{host}'")
    pg_conn.execute(f"CREATE ROLE {pg_role} LOGIN PASSWORD '{password}'")
    pg_conn.execute(f'ALTER DATABASE "{pg_db}" OWNER TO {pg_role}')
    pg_conn.execute(f"ALTER SCHEMA public OWNER TO {pg_role}")
    try:
        yield {"password": password, "my_user": my_user, "pg_role": pg_role, "my_db": my_db, "pg_db": pg_db}
    finally:
        with mysql_conn.cursor() as cur:
            for host in ("%", "127.0.0.1", "localhost"):
                cur.execute(f"DROP USER IF EXISTS '{my_user}'@'{host}'")
        pg_conn.execute(f"REASSIGN OWNED BY {pg_role} TO CURRENT_USER")
        pg_conn.execute(f"DROP OWNED BY {pg_role}")
        pg_conn.execute(f"DROP ROLE {pg_role}")


def test_no_password_in_any_output(
    accounts: dict[str, str],
    mysql_conn: pymysql.connections.Connection,
    pg_conn: psycopg.Connection[Any],
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pw, enc = accounts["password"], quote(accounts["password"], safe="")
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
        cur.execute("INSERT INTO t VALUES (1, 'a'), (2, CONCAT('b', CHAR(0)))")  # one refused row: a failing run
    src = f"mysql://{accounts['my_user']}:{enc}@127.0.0.1:3306/{accounts['my_db']}"
    tgt = f"postgresql://{accounts['pg_role']}:{enc}@127.0.0.1:5432/{accounts['pg_db']}"
    bare_src = f"mysql://{accounts['my_user']}@127.0.0.1:3306/{accounts['my_db']}"
    bare_tgt = f"postgresql://{accounts['pg_role']}@127.0.0.1:5432/{accounts['pg_db']}"
    outputs: list[str] = []

    def cli(*args: Any, expect: int | None = None, **kw: Any) -> None:
        r = run_cli(*args, **kw)
        outputs.append(r.output)
        if expect is not None:
            assert r.exit_code == expect, r.output

    report = tmp_path / "report.json"
    cli("plan", src, tgt, "--debug", expect=0)
    cli("migrate", src, tgt, "--debug", "--report", report, expect=1)  # the NUL row is refused
    cli("migrate", src, tgt, "--debug", "--resume", "--max-errors", "1", "--report", report, expect=0)
    cli("verify", src, tgt, "--debug", expect=3)  # the refused row is missing: said, exit 3
    cli("runs", tgt, expect=0)
    cli("inspect", src, "--debug", expect=0)
    # wrong password, unreachable host, missing database: errors quote the URL, masked
    cli("verify", src.replace(enc, enc + "x"), tgt, "--debug", expect=1)
    cli("migrate", f"mysql://u:{enc}@127.0.0.1:1/db", tgt, expect=1)
    cli("migrate", src, f"postgresql://u:{enc}@127.0.0.1:1/db", expect=1)
    cli("migrate", src, tgt + "_missing", expect=1)
    cli("migrate", src, tgt, "--tables", "nope*", expect=2)
    cli("rollback", tgt, "--yes", "--debug", expect=0)
    # from the environment, as a child process: the password is in no argument
    env = {"XFER_SOURCE_PASSWORD": pw, "XFER_TARGET_PASSWORD": pw}
    code, out = run_xfer(["migrate", bare_src, bare_tgt, "--max-errors", "1", "--debug"], tmp_path, env)
    outputs.append(out)
    assert code == 0, out
    cli("rollback", bare_tgt, "--yes", expect=0, env=env)
    # from ~/.my.cnf (user and password)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".my.cnf").write_text(f'[client]\nuser = {accounts["my_user"]}\npassword = "{pw}"\n')
    monkeypatch.setenv("HOME", str(home))
    cli("inspect", f"mysql://127.0.0.1:3306/{accounts['my_db']}", "--debug", expect=0)
    cli("verify", f"mysql://127.0.0.1:3306/{accounts['my_db']}", tgt, expect=3)  # rolled back: the table is missing

    files = [report.read_text(), *(p.read_text() for p in tmp_path.glob("*.jsonl"))]
    assert json.loads(files[0])["status"] == "rejected"
    journal = [str(r) for r in pg_conn.execute("SELECT * FROM _xfer.runs").fetchall()] if _journal(pg_conn) else []
    everything = "\n".join(outputs + files + journal)
    assert "***" in everything  # URLs were printed, masked
    for form in (pw, enc, quote(pw)):
        assert form not in everything


def _journal(pg: psycopg.Connection[Any]) -> bool:
    return pg.execute("SELECT 1 FROM pg_namespace WHERE nspname = '_xfer'").fetchone() is not None


def test_journal_records_no_password(
    accounts: dict[str, str],
    mysql_conn: pymysql.connections.Connection,
    pg_conn: psycopg.Connection[Any],
    run_cli: RunCli,
) -> None:
    pw = quote(accounts["password"], safe="")
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO t VALUES (1)")
    src = f"mysql://{accounts['my_user']}:{pw}@127.0.0.1:3306/{accounts['my_db']}"
    tgt = f"postgresql://{accounts['pg_role']}:{pw}@127.0.0.1:5432/{accounts['pg_db']}"
    assert run_cli("migrate", src, tgt).exit_code == 0
    dump = "\n".join(
        str(r)
        for table in ("runs", "tables", "chunks", "steps", "objects", "rejects")
        for r in pg_conn.execute(f"SELECT * FROM _xfer.{table}").fetchall()
    )
    assert accounts["my_user"] in dump and "***" in dump
    assert pw not in dump and accounts["password"] not in dump


def test_unencoded_at_in_the_password(
    mysql_url: str, mysql_conn: pymysql.connections.Connection, run_cli: RunCli
) -> None:
    """`mysql://root:Tr0ub@dor&3@host/db`: the last "@" ends the password, as browsers read it.
    The run connects; no message shows any part of the password (the first "@" once made its
    tail a host name, printed and looked up in DNS)."""
    tag = secrets.token_hex(4)
    head, tail = f"Tr0ub{tag}", f"dor&3{tag}"
    user, db = f"xfer_at_{tag}", make_url(mysql_url).database
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY)")
        for host in ("%", "127.0.0.1", "localhost"):
            cur.execute(f"CREATE USER '{user}'@'{host.replace('%', '%%')}' IDENTIFIED BY %s", (f"{head}@{tail}",))
            cur.execute(f"GRANT ALL ON `{db}`.* TO '{user}'@'{host}'")
    try:
        ok = run_cli("inspect", f"mysql://{user}:{head}@{tail}@127.0.0.1:3306/{db}")
        wrong = run_cli("inspect", f"mysql://{user}:{head}@{tail}x@127.0.0.1:3306/{db}")
        bad_port = run_cli("inspect", f"mysql://{user}:{head}@{tail}@127.0.0.1:33o6/{db}")
    finally:
        with mysql_conn.cursor() as cur:
            for host in ("%", "127.0.0.1", "localhost"):
                cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")

    assert ok.exit_code == 0, ok.output
    assert "t" in ok.output.split()
    assert wrong.exit_code == 1 and "127.0.0.1:3306" in wrong.output
    assert bad_port.exit_code == 2 and "port '33o6' is not a number" in bad_port.output
    for output in (ok.output, wrong.output, bad_port.output):
        assert head not in output and tail not in output and tag not in output.replace(user, "")

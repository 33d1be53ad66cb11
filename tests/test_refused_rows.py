"""Rows the target refuses (a NUL byte in text, a CHECK violation) go to the reject file, the
others into the target; past --max-errors the table fails, and the message says what to do."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pymysql
from conftest import PgConn, RunCli, mysql_source

# the source: `stock`, with a row PostgreSQL cannot store (NUL) and one its CHECK refuses, and a
# plain table `fine`
stock = mysql_source("""
    CREATE TABLE stock (id INT PRIMARY KEY, name VARCHAR(30), qty INT, CONSTRAINT qty_positive CHECK (qty > 0));
    INSERT INTO stock VALUES (1, 'bolt', 5), (2, 'nut', 7), (3, 'nail', 9), (5, 'pin', 1);
    -- PostgreSQL cannot store U+0000
    INSERT INTO stock VALUES (4, CONCAT('wa', CHAR(0), 'sher'), 3);
    -- MariaDB: let a violating row in
    SET SESSION check_constraint_checks = 0;
    INSERT INTO stock VALUES (6, 'screw', -2);
    SET SESSION check_constraint_checks = 1;
    CREATE TABLE fine (id INT PRIMARY KEY);
    INSERT INTO fine VALUES (1), (2);
""")


def test_refused_rows_go_to_the_reject_file_and_the_run_fails(
    stock: None, mysql_url: str, pg_url: str, pg_conn: PgConn, run_cli: RunCli, tmp_path: Path
) -> None:
    rejects = tmp_path / "refused.jsonl"
    result = run_cli("migrate", mysql_url, pg_url, "--reject-file", rejects)
    assert result.exit_code == 1
    out = result.output
    assert "stock: 2 row(s) refused by the target (more than --max-errors 0)" in out
    assert str(rejects) in out
    assert "fix those values in the source" in out and "--max-errors N" in out  # what to do
    assert "--resume" in out and "xfer rollback" in out
    # the others are in the target
    assert pg_conn.execute("SELECT id FROM stock ORDER BY id").fetchall() == [(1,), (2,), (3,), (5,)]
    assert pg_conn.execute("SELECT count(*) FROM fine").fetchone() == (2,)
    # the refused ones are in the file, with key, column, value and reason
    records = [json.loads(line) for line in rejects.read_text().splitlines()]
    by_key = {r["key"]["id"]: r for r in records}
    assert set(by_key) == {4, 6}
    assert by_key[4]["column"] == "name" and by_key[4]["value"] == "wa\x00sher" and "NUL" in by_key[4]["reason"]
    assert "qty_positive" in by_key[6]["reason"] and by_key[6]["table"] == "stock"
    # the journal and the report say the table failed
    assert pg_conn.execute("SELECT source_table, state FROM _xfer.tables ORDER BY 1").fetchall() == [
        ("fine", "copied"),
        ("stock", "failed"),
    ]
    assert pg_conn.execute("SELECT status FROM _xfer.runs").fetchone() == ("failed",)
    # the CHECK is in place: it refused the row during the copy
    assert pg_conn.execute("SELECT count(*) FROM pg_constraint WHERE conname = 'qty_positive'").fetchone() == (1,)


def test_refused_rows_within_max_errors_are_accepted(
    stock: None, mysql_url: str, pg_url: str, pg_conn: PgConn, run_cli: RunCli, tmp_path: Path
) -> None:
    report = tmp_path / "run.json"
    result = run_cli("migrate", mysql_url, pg_url, "--max-errors", "2", "--report", report)
    assert result.exit_code == 0, result.output
    assert "2 refused row(s) accepted (--max-errors)" in result.output
    assert (tmp_path / "run.rejects.jsonl").read_text().count("\n") == 2
    data = json.loads(report.read_text())
    assert data["totals"]["rejected_rows"] == 2 and data["status"] == "rejected"
    assert pg_conn.execute("SELECT status FROM _xfer.runs").fetchone() == ("done",)


def test_refused_rows_reject_file_is_exact_after_a_resume(
    stock: None, mysql_url: str, pg_url: str, pg_conn: PgConn, run_cli: RunCli, tmp_path: Path
) -> None:
    """A failed run resumed with a higher --max-errors finishes; the reject file still lists
    each refused row once (it is written from the journal, not appended to)."""
    assert run_cli("migrate", mysql_url, pg_url).exit_code == 1
    result = run_cli("migrate", mysql_url, pg_url, "--resume", "--max-errors", "5")
    assert result.exit_code == 0, result.output
    assert "resuming run" in result.output
    lines = (tmp_path / "xfer-rejects.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["key"]["id"] for line in lines) == [4, 6]
    assert pg_conn.execute("SELECT count(*) FROM stock").fetchone() == (4,)


def test_rows_appended_again_are_refused_as_duplicate_keys_and_said_so(
    stock: None,
    mysql_url: str,
    pg_url: str,
    pg_conn: PgConn,
    mysql_conn: pymysql.connections.Connection,
    run_cli: RunCli,
    tmp_path: Path,
) -> None:
    """`--if-exists append` of rows already there: the summary counts the rows this run copied
    (not the table's), the JSON agrees, and the advice is about duplicate keys, not about fixing
    values in the source. A table with new rows and a NUL row gets both hints."""
    assert run_cli("migrate", mysql_url, pg_url, "-t", "fine").exit_code == 0
    with mysql_conn.cursor() as cur:
        cur.execute("INSERT INTO fine VALUES (3)")
    report = tmp_path / "again.json"
    result = run_cli("migrate", mysql_url, pg_url, "-t", "fine", "--if-exists", "append", "--report", report)

    assert result.exit_code == 1
    assert re.search(r"^fine\s+1\s", result.output, re.M), "the summary's rows: the 1 row copied, not 3 in the table"
    assert "fine: 2 row(s) refused by the target, 2 of them for a key the table already held" in result.output
    assert "1 row(s) appended; the table holds 3" in result.output
    assert "--if-exists truncate or replace" in result.output
    assert "fix those values in the source" not in result.output
    table = json.loads(report.read_text())["tables"][0]
    assert (table["source_rows"], table["target_rows"], table["rejected_rows"], table["duplicate_keys"]) == (1, 3, 2, 2)
    records = [json.loads(line) for line in (tmp_path / "again.rejects.jsonl").read_text().splitlines()]
    assert sorted(r["key"]["id"] for r in records) == [1, 2] and all(r["duplicate_key"] for r in records)
    assert pg_conn.execute("SELECT count(*) FROM fine").fetchone() == (3,)

    # the stock table refuses a NUL row and a CHECK: values to fix, not duplicates
    mixed = run_cli("migrate", mysql_url, pg_url, "-t", "stock")
    assert mixed.exit_code == 1
    assert "fix those values in the source" in mixed.output and "duplicate key" not in mixed.output

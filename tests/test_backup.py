"""--backup DIR saves the target tables --if-exists truncate|replace overwrites (Parquet), and
`xfer restore` puts them back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from conftest import PgConn, RunCli, mysql_source

# the source: a table `items` with two rows
items = mysql_source("""
    CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), price DECIMAL(8,2));
    INSERT INTO items VALUES (1, 'new one', 1.50), (2, 'new two', 2.50);
""")


def test_truncate_with_backup_then_restore(
    items: None, mysql_url: str, pg_url: str, pg_conn: PgConn, run_cli: RunCli, tmp_path: Path
) -> None:
    pg_conn.execute("CREATE TABLE items (id int PRIMARY KEY, name varchar(20), price numeric(8,2))")
    pg_conn.execute("INSERT INTO items VALUES (7, 'old ''seven''', 7.77), (8, NULL, 0)")
    old = pg_conn.execute("SELECT * FROM items ORDER BY id").fetchall()
    backups = tmp_path / "backups"
    result = run_cli("migrate", mysql_url, pg_url, "--if-exists", "truncate", "--backup", backups)
    assert result.exit_code == 0, result.output
    assert "backup: items (2 rows)" in result.output
    assert pg_conn.execute("SELECT id FROM items ORDER BY id").fetchall() == [(1,), (2,)]
    assert len(list(backups.glob("*/manifest.json"))) == 1

    assert run_cli("restore", backups, pg_url).exit_code == 2  # no terminal, no --yes: nothing done
    result = run_cli("restore", backups, pg_url, "--yes")
    assert result.exit_code == 0, result.output
    assert "items: replace its rows with the 2 saved row(s)" in result.output
    assert pg_conn.execute("SELECT * FROM items ORDER BY id").fetchall() == old


def test_replace_with_backup_rollback_then_restore(
    items: None, mysql_url: str, pg_url: str, pg_conn: PgConn, run_cli: RunCli, tmp_path: Path
) -> None:
    """replace drops the old table; rolling the run back and restoring brings it back, with
    its columns, types, primary key and rows."""
    pg_conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL, seen timestamptz)")
    pg_conn.execute("INSERT INTO items VALUES (10, 'kept', '2024-05-01 10:00:00+00')")
    result = run_cli("migrate", mysql_url, pg_url, "--if-exists", "replace", "--backup", tmp_path / "b")
    assert result.exit_code == 0, result.output
    rb = run_cli("rollback", pg_url, "--yes")
    assert rb.exit_code == 0, rb.output
    assert "was dropped by the run (--if-exists replace)" in rb.output
    result = run_cli("restore", tmp_path / "b", pg_url, "--yes")
    assert result.exit_code == 0, result.output
    assert "create it (it is gone)" in result.output
    cols = pg_conn.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'items' ORDER BY ordinal_position"
    ).fetchall()
    assert cols == [("id", "bigint", "NO"), ("label", "text", "NO"), ("seen", "timestamp with time zone", "YES")]
    assert pg_conn.execute("SELECT id, label FROM items").fetchall() == [(10, "kept")]
    assert pg_conn.execute(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'items'::regclass AND contype = 'p'"
    ).fetchone() == (1,)


def test_backup_of_an_embedded_target(items: None, mysql_url: str, run_cli: RunCli, tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price TEXT)")
        conn.execute("INSERT INTO items VALUES (5, 'five', '5.00')")
    target = f"sqlite:///{db}"
    result = run_cli("migrate", mysql_url, target, "--if-exists", "replace", "--backup", tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert run_cli("restore", tmp_path / "b", target, "--yes").exit_code == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT id, name FROM items").fetchall() == [(5, "five")]

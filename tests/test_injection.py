"""Identifiers are always quoted: a table and columns named to inject SQL migrate, verify and
roll back like any other, and the table `x` they name survives everywhere."""

from __future__ import annotations

from conftest import MyConn, PgConn, RunCli
from faults import mysql_rows, pg_rows

EVIL = 'a"b; DROP TABLE x; --'
COLUMNS = ['c"1; DROP TABLE x; --', "sp ace", "ünï ✓", "back`tick", "it's"]


def test_hostile_names_migrate_verify_and_roll_back(
    mysql_url: str, mysql_conn: MyConn, pg_url: str, pg_conn: PgConn, run_cli: RunCli
) -> None:
    def q(name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    cols = ", ".join(f"{q(c)} VARCHAR(40)" for c in COLUMNS)
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE x (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO x VALUES (1)")
        cur.execute(
            f"CREATE TABLE {q(EVIL)} (id INT PRIMARY KEY, {cols}, INDEX {q('ix; DROP TABLE x')} ({q(COLUMNS[1])}))"
        )
        for i in range(1, 6):
            cur.execute(
                f"INSERT INTO {q(EVIL)} VALUES (%s, %s, %s, %s, %s, %s)",
                (i, f"'; DROP TABLE x; -- {i}", f'"{i}"', "é" * i, "`", None if i % 2 else "o'k"),
            )
    pg_conn.execute("CREATE TABLE x (id int)")  # a target table the names point at, not in the run
    result = run_cli("migrate", mysql_url, pg_url, "--tables", EVIL, "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert run_cli("verify", mysql_url, pg_url, "--tables", EVIL).exit_code == 0
    evil = EVIL.lower()  # target names are lower-cased by default (--identifiers lower)
    assert mysql_rows(mysql_conn, EVIL) == pg_rows(pg_conn, evil)
    names = [
        r[0]
        for r in pg_conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 ORDER BY attnum",
            ('"' + evil.replace('"', '""') + '"',),
        )
    ]
    assert names == ["id", *(c.lower() for c in COLUMNS)]
    assert pg_conn.execute("SELECT count(*) FROM x").fetchone() == (0,)  # untouched
    # the journal and the rollback handle the names too
    assert run_cli("rollback", pg_url, "--yes").exit_code == 0
    assert [r[0] for r in pg_conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")] == ["x"]
    with mysql_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM x")
        assert cur.fetchone() == (1,)

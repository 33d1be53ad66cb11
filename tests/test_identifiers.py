"""Target names: lower-cased by default (or kept), odd names quoted everywhere, names over
PostgreSQL's 63 bytes shortened without collisions, every rename in the plan and the report."""

from __future__ import annotations

import json

from xfer.core.naming import shorten, target_names

LONG_A = "a" * 60 + "_first_table"  # 72 bytes: MySQL allows 64, so these are columns/aliases
LONG_B = "a" * 60 + "_second_table"


def test_target_names_lower_shorten_and_never_collide() -> None:
    names = ["Foo", "foo", "BAR", LONG_A, LONG_B, "é" * 40]
    out = target_names(names, "lower", 63)
    assert out["foo"] == "foo" and out["Foo"].startswith("foo_") and out["BAR"] == "bar"
    assert len(set(out.values())) == len(names)
    assert all(len(v.encode()) <= 63 for v in out.values())
    assert out[LONG_A] == shorten(LONG_A, 63) and out[LONG_A] != out[LONG_B]
    assert out["é" * 40].encode().decode() == out["é" * 40]  # never cut inside a character
    # deterministic: same names in another order, same result
    assert target_names(list(reversed(names)), "lower", 63) == out
    assert target_names(names, "preserve", 63)["Foo"] == "Foo"


def test_target_names_avoid_names_already_taken() -> None:
    out = target_names(["Orders"], "lower", 63, taken={"orders"})
    assert out["Orders"] != "orders" and out["Orders"].startswith("orders_")


def test_odd_names_migrate_lower_cased_and_renames_are_reported(
    mysql_url, mysql_conn, pg_url, pg_conn, run_cli, tmp_path
) -> None:
    long_table = "T" + "x" * 63  # 64 bytes: legal in MySQL, over PostgreSQL's 63
    long_twin = "T" + "x" * 62 + "y"
    with mysql_conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE `Order Items` (`Id` INT PRIMARY KEY AUTO_INCREMENT, `select` VARCHAR(5), "
            '`we"ird ``col` INT, `UserName` VARCHAR(20), KEY `Ix User` (`UserName`))'
        )
        cur.execute("INSERT INTO `Order Items` VALUES (1, 'a', 2, 'Zoë')")
        cur.execute(f"CREATE TABLE `{long_table}` (id INT PRIMARY KEY, `Parent` INT, "
                    f"CONSTRAINT `Fk Self` FOREIGN KEY (`Parent`) REFERENCES `{long_table}` (id))")  # fmt: skip
        cur.execute(f"CREATE TABLE `{long_twin}` (id INT PRIMARY KEY)")
        cur.execute(f"INSERT INTO `{long_table}` VALUES (1, NULL), (2, 1)")
        cur.execute("CREATE TABLE `Foo` (id INT PRIMARY KEY)")
        cur.execute("CREATE TABLE `foo` (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO `Foo` VALUES (1)")
        cur.execute("INSERT INTO `foo` VALUES (2)")
        cur.execute("CREATE VIEW `Big Orders` AS SELECT `Id`, `UserName` FROM `Order Items` WHERE `Id` > 0")

    plan = run_cli("plan", mysql_url, pg_url).output
    assert "table Order Items -> order items (lower-cased)" in plan
    assert "column Order Items.UserName -> username (lower-cased)" in plan
    assert f"table {long_table} -> {shorten(long_table.lower(), 63)} (over the 63-byte limit)" in plan

    report = tmp_path / "r.json"
    result = run_cli("migrate", mysql_url, pg_url, "--report", report, "-q")
    assert result.exit_code == 0, result.output
    doc = json.loads(report.read_text())
    assert 'column Order Items.we"ird `col -> we"ird `col' not in doc["renames"]  # unchanged: not a rename
    assert any(r.startswith("table Foo -> foo_") for r in doc["renames"])
    assert pg_conn.execute('SELECT "id", "select", "we""ird `col", "username" FROM "order items"').fetchall() == [
        (1, "a", 2, "Zoë")
    ]
    assert pg_conn.execute("SELECT id FROM foo").fetchall() == [(2,)]
    tables = {r[0] for r in pg_conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert len(tables) == 5 and all(len(t.encode()) <= 63 for t in tables)
    assert pg_conn.execute('SELECT username FROM "big orders"').fetchall() == [("Zoë",)]
    assert pg_conn.execute('INSERT INTO "order items" ("select") VALUES (\'b\') RETURNING id').fetchone() == (2,)
    # the self-referencing FK on the shortened table exists
    (fk,) = pg_conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'fk self'").fetchone()
    assert fk.startswith("FOREIGN KEY (parent) REFERENCES")


def test_identifiers_preserve(mysql_url, mysql_conn, pg_url, pg_conn, run_cli) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE `Customer` (`CustomerID` INT PRIMARY KEY, `Name` TEXT)")
        cur.execute("INSERT INTO `Customer` VALUES (1, 'x')")
    assert run_cli("migrate", mysql_url, pg_url, "--identifiers", "preserve", "-q").exit_code == 0
    assert pg_conn.execute('SELECT "CustomerID", "Name" FROM "Customer"').fetchall() == [(1, "x")]

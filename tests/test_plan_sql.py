"""`xfer plan --sql DIR`: the DDL `migrate` runs, as up/down scripts a DBA applies with `psql`.

The whole round trip on real servers (scripts applied by `psql` itself, rows copied by `migrate
--data-only`, verified, a new row numbered past the copied ones, `down.sql` leaving the schema's
catalogue as it was), and, table-driven, which statements each file holds, in which order.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import mysql_source
from faults import catalogue
from sqlalchemy.engine import make_url

SHOP = """
CREATE TABLE customers (
  id INT AUTO_INCREMENT PRIMARY KEY,
  email VARCHAR(100) NOT NULL,
  tier ENUM('free','pro','team') NOT NULL DEFAULT 'free',
  updated TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  UNIQUE KEY uq_email (email)
);
CREATE TABLE orders (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  customer_id INT NOT NULL,
  status ENUM('new','paid','shipped') NOT NULL,
  total DECIMAL(10,2) NOT NULL,
  note VARCHAR(50),
  created DATETIME NOT NULL,
  KEY ix_created (created),
  CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE,
  CONSTRAINT chk_total CHECK (total >= 0)
);
-- big_paid sorts before the view it uses: the script must still create paid_orders first
CREATE VIEW paid_orders AS SELECT id, customer_id, total FROM orders WHERE status = 'paid';
CREATE VIEW big_paid AS SELECT id FROM paid_orders WHERE total > 100;
CREATE TRIGGER orders_note BEFORE INSERT ON orders FOR EACH ROW SET NEW.note = UPPER(NEW.note);
INSERT INTO customers (email, tier) VALUES ('a@x', 'free'), ('b@x', 'pro'), ('c@x', 'team');
INSERT INTO orders (customer_id, status, total, note, created) VALUES
  (1, 'paid', 150.00, 'x', '2024-01-01 10:00:00'),
  (2, 'new', 20.00, NULL, '2024-01-02 10:00:00'),
  (3, 'shipped', 5.50, 'y', '2024-01-03 10:00:00');
-- the source's counter is ahead of the copied maximum (the last order was deleted)
INSERT INTO orders (customer_id, status, total, created) VALUES (1, 'new', 1, '2024-01-04 10:00:00');
DELETE FROM orders WHERE id = 4;
"""
shop = mysql_source(SHOP)


def psql(pg_url: str, file: Path) -> subprocess.CompletedProcess[str]:
    """`psql -v ON_ERROR_STOP=1 -d URL -f FILE`, as the brief and the scripts' headers say."""
    url = make_url(pg_url)
    conninfo = f"postgresql://{url.username}@{url.host}:{url.port or 5432}/{url.database}"
    return subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-f", str(file)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def schema_catalogue(pg_conn: Any, schema: str = "public") -> set[tuple[str, ...]]:
    """Every relation, column, type, function, trigger, constraint and sequence in `schema`."""
    return {row for row in catalogue(pg_conn) if row[1] == schema}


def test_scripts_applied_with_psql_around_migrate_data_only(
    shop: None, mysql_url: str, pg_url: str, pg_conn: Any, run_cli: Any, tmp_path: Path
) -> None:
    before = schema_catalogue(pg_conn)
    out = tmp_path / "migration"
    r = run_cli("plan", mysql_url, pg_url, "--sql", out, "--enum", "native")
    assert r.exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["down.sql", "up-post-data.sql", "up-pre-data.sql"]
    assert f"wrote {out / 'up-pre-data.sql'}" in r.output and "xfer migrate --data-only" in r.output

    pre = psql(pg_url, out / "up-pre-data.sql")
    assert pre.returncode == 0, pre.stderr
    # what `migrate --data-only` expects: the tables are there, without keys
    keys = pg_conn.execute(
        "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE n.nspname = 'public' AND c.contype IN ('p', 'u', 'f')"
    ).fetchone()[0]
    assert keys == 0
    assert pg_conn.execute("SELECT count(*) FROM pg_type WHERE typname = 'orders_status'").fetchone()[0] == 1

    r = run_cli("migrate", "--data-only", mysql_url, pg_url, "--enum", "native")
    assert r.exit_code == 0
    post = psql(pg_url, out / "up-post-data.sql")
    assert post.returncode == 0, post.stderr
    assert run_cli("verify", mysql_url, pg_url).exit_code == 0

    # keys, views and triggers are in place; an id is handed out past the source's counter
    assert pg_conn.execute("SELECT id FROM big_paid").fetchall() == [(1,)]
    new_id, note = pg_conn.execute(
        "INSERT INTO orders (customer_id, status, total, note, created) "
        "VALUES (2, 'new', 3, 'abc', now()) RETURNING id, note"
    ).fetchone()
    assert (new_id, note) == (5, "ABC")  # past the max (3) and the counter (5); the trigger ran
    with pytest.raises(Exception, match="fk_orders_customer"):
        pg_conn.execute("INSERT INTO orders (customer_id, status, total, created) VALUES (99, 'new', 1, now())")

    down = psql(pg_url, out / "down.sql")
    assert down.returncode == 0, down.stderr
    assert schema_catalogue(pg_conn) == before


def test_a_directory_holding_scripts_is_refused_unless_force(
    shop: None, mysql_url: str, pg_url: str, run_cli: Any, tmp_path: Path
) -> None:
    out = tmp_path / "m"
    out.mkdir()
    (out / "down.sql").write_text("-- reviewed by hand\n")
    r = run_cli("plan", mysql_url, pg_url, "--sql", out)
    assert r.exit_code == 2
    assert f"{out} already holds down.sql" in r.output and "--force" in r.output
    assert (out / "down.sql").read_text() == "-- reviewed by hand\n" and not (out / "up-pre-data.sql").exists()
    r = run_cli("plan", mysql_url, pg_url, "--sql", out, "--force")
    assert r.exit_code == 0
    assert "DROP TABLE IF EXISTS" in (out / "down.sql").read_text()
    assert run_cli("plan", mysql_url, pg_url, "--force").exit_code == 2  # --force alone means nothing


def test_an_embedded_target_is_refused(shop: None, mysql_url: str, run_cli: Any, tmp_path: Path) -> None:
    r = run_cli("plan", mysql_url, f"duckdb:///{tmp_path / 'x.duckdb'}", "--sql", tmp_path / "m")
    assert r.exit_code == 2 and "--sql writes scripts for a database server's client" in r.output
    assert not (tmp_path / "m").exists() and not (tmp_path / "x.duckdb").exists()


# -- which statements, in which order -------------------------------------------------------------


def statements(path: Path) -> list[str]:
    """The first line of each statement of a script (comments dropped)."""
    text = path.read_text()
    header = text.split("\n\n", 1)[0]
    assert "xfer plan --sql" in header and "-- source:" in header and "-- options:" in header
    out, current = [], []
    for line in text.splitlines():
        if line.startswith("--") and not current:
            continue
        if line.strip():
            current.append(line)
        if line.endswith(";") and not (current[0].startswith("CREATE OR REPLACE FUNCTION") and "$xfer$" not in line):
            out.append(current[0].rstrip(";"))
            current = []
    assert not current, f"a statement of {path.name} does not end in ';': {current}"
    return out


PARENT_CHILD = """
CREATE TABLE parent (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) NOT NULL, UNIQUE KEY uq_name (name));
CREATE TABLE child (id INT PRIMARY KEY, parent_id INT, KEY ix_parent (parent_id),
  CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES parent (id));
"""
P, C = '"public"."parent"', '"public"."child"'
SETVAL = (
    f"SELECT setval(pg_get_serial_sequence('{P}', 'id'), "
    f'GREATEST(COALESCE(MAX("id"), 0) + 1, 1)::bigint, false) FROM {P}'
)

CASES = [
    pytest.param(
        PARENT_CHILD,
        [],
        [  # parent.name is utf8mb4_general_ci (MariaDB's default): its collation comes first
            'CREATE COLLATION IF NOT EXISTS "public"."xfer_ci_ai" '
            "(provider = icu, locale = 'und-u-ks-level1', deterministic = false)",
            f"CREATE TABLE {C} (",
            f"CREATE TABLE {P} (",
        ],
        [
            f'ALTER TABLE {C} ADD PRIMARY KEY ("id")',
            f'CREATE INDEX "ix_parent" ON {C} ("parent_id")',
            f'ALTER TABLE {P} ADD PRIMARY KEY ("id")',
            f'CREATE UNIQUE INDEX "uq_name" ON {P} ("name")',
            SETVAL,
            f'ALTER TABLE {C} ADD CONSTRAINT "fk_parent" FOREIGN KEY ("parent_id") REFERENCES {P} ("id")',
        ],
        [
            f'ALTER TABLE IF EXISTS {C} DROP CONSTRAINT IF EXISTS "fk_parent"',
            'DROP INDEX IF EXISTS "public"."uq_name"',
            'DROP INDEX IF EXISTS "public"."ix_parent"',
            f"DROP TABLE IF EXISTS {P}",
            f"DROP TABLE IF EXISTS {C}",
            'DROP COLLATION IF EXISTS "public"."xfer_ci_ai"',
        ],
        id="keys-indexes-identity-foreign-key",
    ),
    pytest.param(
        "CREATE TABLE t (id INT PRIMARY KEY, s ENUM('a','b'));",
        [],
        [
            'CREATE TABLE "public"."t" (',
            'ALTER TABLE "public"."t" ADD CONSTRAINT "t_s_check" CHECK ("s" IN (\'a\', \'b\'))',
        ],
        ['ALTER TABLE "public"."t" ADD PRIMARY KEY ("id")'],
        [
            'ALTER TABLE IF EXISTS "public"."t" DROP CONSTRAINT IF EXISTS "t_s_check"',
            'DROP TABLE IF EXISTS "public"."t"',
        ],
        id="enum-as-text-check-before-rows",
    ),
    pytest.param(
        "CREATE TABLE t (id INT PRIMARY KEY, s ENUM('a','b'));",
        ["--enum", "native"],
        [
            'DROP TYPE IF EXISTS "public"."t_s" CASCADE',
            "CREATE TYPE \"public\".\"t_s\" AS ENUM ('a', 'b')",
            'CREATE TABLE "public"."t" (',
        ],
        ['ALTER TABLE "public"."t" ADD PRIMARY KEY ("id")'],
        ['DROP TABLE IF EXISTS "public"."t"', 'DROP TYPE IF EXISTS "public"."t_s"'],
        id="enum-native-type",
    ),
    pytest.param(
        "CREATE TABLE `Item` (`Id` BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY);"
        "CREATE TABLE other (id INT PRIMARY KEY);",
        ["--exclude", "other", "--identifiers", "preserve"],
        [
            'CREATE SEQUENCE IF NOT EXISTS "public"."Item_Id_seq"',
            'CREATE TABLE "public"."Item" (',
            'ALTER SEQUENCE "public"."Item_Id_seq" OWNED BY "public"."Item"."Id"',
        ],
        [
            'ALTER TABLE "public"."Item" ADD PRIMARY KEY ("Id")',
            "SELECT setval(pg_get_serial_sequence('\"public\".\"Item\"', 'Id'), "
            'GREATEST(COALESCE(MAX("Id"), 0) + 1, 1)::bigint, false) FROM "public"."Item"',
        ],
        ['DROP TABLE IF EXISTS "public"."Item"', 'DROP SEQUENCE IF EXISTS "public"."Item_Id_seq"'],
        id="preserved-names-owned-sequence-exclude",
    ),
    pytest.param(
        "CREATE TABLE a (id INT PRIMARY KEY); CREATE VIEW v_z AS SELECT id FROM a;"
        "CREATE VIEW v_b AS SELECT id FROM v_z; CREATE TABLE skipped (id INT PRIMARY KEY);",
        ["--tables", "a"],
        ['CREATE TABLE "public"."a" ('],
        [
            'ALTER TABLE "public"."a" ADD PRIMARY KEY ("id")',
            'DROP VIEW IF EXISTS "public"."v_z" CASCADE',
            'CREATE VIEW "public"."v_z" AS SELECT "a"."id" AS "id" FROM "public"."a"',
            'DROP VIEW IF EXISTS "public"."v_b" CASCADE',
            'CREATE VIEW "public"."v_b" AS SELECT "v_z"."id" AS "id" FROM "public"."v_z"',
        ],
        [
            'DROP VIEW IF EXISTS "public"."v_b"',
            'DROP VIEW IF EXISTS "public"."v_z"',
            'DROP TABLE IF EXISTS "public"."a"',
        ],
        id="views-after-the-views-they-use",
    ),
]


@pytest.mark.parametrize(("source_sql", "flags", "pre", "post", "down"), CASES)
def test_each_file_holds_its_statements_in_order(
    mysql_conn: Any,
    mysql_url: str,
    pg_url: str,
    run_cli: Any,
    tmp_path: Path,
    source_sql: str,
    flags: list[str],
    pre: list[str],
    post: list[str],
    down: list[str],
) -> None:
    with mysql_conn.cursor() as cur:
        for sql in filter(str.strip, source_sql.split(";")):
            cur.execute(sql)
    r = run_cli("plan", mysql_url, pg_url, "--sql", tmp_path / "m", *flags)
    assert r.exit_code == 0
    assert statements(tmp_path / "m" / "up-pre-data.sql") == pre
    assert statements(tmp_path / "m" / "up-post-data.sql") == post
    assert statements(tmp_path / "m" / "down.sql") == down
    header = (tmp_path / "m" / "up-pre-data.sql").read_text().split("\n\n", 1)[0]
    assert f"-- options: {' '.join(flags) or '(none: the defaults)'}" in header


def test_a_missing_schema_is_created_and_dropped_again(
    mysql_conn: Any, mysql_url: str, pg_url: str, pg_conn: Any, run_cli: Any, tmp_path: Path
) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    target = pg_url + "?schema=app"
    assert run_cli("plan", mysql_url, target, "--sql", tmp_path / "m").exit_code == 0
    assert statements(tmp_path / "m" / "up-pre-data.sql")[:2] == [
        'CREATE SCHEMA IF NOT EXISTS "app"',
        'CREATE TABLE "app"."t" (',
    ]
    assert statements(tmp_path / "m" / "down.sql")[-1] == 'DROP SCHEMA IF EXISTS "app"'
    for name in ("up-pre-data.sql", "up-post-data.sql", "down.sql"):
        done = psql(pg_url, tmp_path / "m" / name)
        assert done.returncode == 0, done.stderr
    assert pg_conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'app'").fetchone()[0] == 0
    # a schema that is there already is the DBA's: the scripts neither create nor drop it
    pg_conn.execute("CREATE SCHEMA app")
    assert run_cli("plan", mysql_url, target, "--sql", tmp_path / "n").exit_code == 0
    assert not re.search("SCHEMA", "".join(statements(tmp_path / "n" / "down.sql")))

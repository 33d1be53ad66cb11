"""MySQL/MariaDB -> PostgreSQL: the foundation issue's acceptance, end to end on real servers.

A small shop (five tables: keys, a composite key, unique and secondary indexes, foreign keys,
one with ON DELETE CASCADE, a keyless log table) is built in the test's own MariaDB database,
migrated with small batches, and both sides are then read independently with the raw drivers
(pymysql, psycopg) and compared row by row. Nothing here trusts xfer's own verification.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from click.testing import Result
from pymysql.constants import FIELD_TYPE

RunCli = Callable[..., Result]
Row = tuple[Any, ...]
PgConn = psycopg.Connection[tuple[Any, ...]]
MyConn = pymysql.connections.Connection

TABLES = ("audit_log", "customers", "line_items", "orders", "products")
BATCH = ("--batch-size", "50")

# -------------------------------------------------------------------------------- the source

DDL = [
    """CREATE TABLE customers (
        id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        email VARCHAR(190) NOT NULL,
        name VARCHAR(100) NOT NULL,
        note TEXT NULL,
        balance DECIMAL(12,2) NULL,
        born DATE NULL,
        created_at DATETIME(6) NOT NULL,
        active TINYINT(1) NOT NULL DEFAULT 1,
        UNIQUE KEY uq_customers_email (email),
        KEY ix_created (created_at)
    ) ENGINE=InnoDB""",
    """CREATE TABLE products (
        sku VARCHAR(32) NOT NULL PRIMARY KEY,
        ean CHAR(13) NULL,
        title VARCHAR(200) NOT NULL,
        price DECIMAL(10,2) NOT NULL,
        stock INT UNSIGNED NOT NULL,
        views BIGINT UNSIGNED NULL,
        delta BIGINT NULL,
        tiny TINYINT NULL,
        small SMALLINT UNSIGNED NULL,
        UNIQUE KEY uq_products_ean (ean)
    ) ENGINE=InnoDB""",
    """CREATE TABLE orders (
        id BIGINT NOT NULL PRIMARY KEY,
        customer_id INT UNSIGNED NOT NULL,
        placed_on DATE NULL,
        total DECIMAL(30,8) NULL,
        created_at DATETIME(6) NULL,
        paid_at TIMESTAMP(6) NULL DEFAULT NULL,
        KEY ix_orders_customer (customer_id),
        KEY ix_created (created_at),
        CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
    ) ENGINE=InnoDB""",
    # "line_items" sorts before "orders": a child table that comes first by name
    """CREATE TABLE line_items (
        order_id BIGINT NOT NULL,
        line_no SMALLINT UNSIGNED NOT NULL,
        sku VARCHAR(32) NOT NULL,
        qty INT NOT NULL,
        unit_price DECIMAL(10,2) NOT NULL,
        PRIMARY KEY (order_id, line_no),
        KEY ix_items_sku (sku),
        CONSTRAINT fk_items_order FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE,
        CONSTRAINT fk_items_product FOREIGN KEY (sku) REFERENCES products (sku)
    ) ENGINE=InnoDB""",
    """CREATE TABLE audit_log (
        happened_at DATETIME(6) NOT NULL,
        actor VARCHAR(40) NULL,
        detail TEXT NULL,
        KEY ix_audit_when (happened_at)
    ) ENGINE=InnoDB""",
]

# Awkward text: 4-byte emoji, CJK, accents, quotes, backslashes, CSV and COPY specials.
TEXTS: tuple[str | None, ...] = (
    "",
    None,
    "O'Brien",
    'say "hi"',
    "back\\slash",
    "tab\there",
    "line1\nline2",
    "crlf\r\nend",
    "comma, here",
    "Zoë — 山田 🚀",
    "🎉🎉",
    "\\.",
    "\\N",
    "NULL",
    " padded ",
)

INT_UNSIGNED_MAX = 4294967295
BIGINT_UNSIGNED_MAX = 18446744073709551615
BIGINT_MIN = -9223372036854775808


@dataclass(frozen=True)
class Shop:
    counts: dict[str, int]
    zero_date_order_ids: frozenset[int]


def build_shop(conn: MyConn) -> Shop:
    """Create and fill the shop tables (deterministic: same rows on every run)."""
    rng = random.Random(20240601)
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute("SET sql_mode = ''")  # allows the zero dates below
        for sql in DDL:
            cur.execute(sql)

        customers = []
        for i in range(1, 201):
            text = TEXTS[i % len(TEXTS)]
            customers.append(
                (
                    i,
                    f"user{i}@example.com",
                    f"Name {i} {text or ''}".strip(),
                    text,
                    None if i % 7 == 0 else Decimal(rng.randint(-(10**11) + 1, 10**11 - 1)) / 100,
                    None
                    if i % 11 == 0
                    else "0000-00-00"
                    if i % 13 == 0
                    else dt.date(1950, 1, 1) + dt.timedelta(i * 97),
                    dt.datetime(2020, 1, 1) + dt.timedelta(seconds=i * 3607, microseconds=i * 1234),
                    i % 2,
                )
            )
        cur.executemany("INSERT INTO customers VALUES (%s,%s,%s,%s,%s,%s,%s,%s)", customers)

        products = []
        for i in range(60):
            products.append(
                (
                    f"SKU-{i:04d}",
                    None if i % 4 == 0 else f"{4000000000000 + i:013d}",
                    f"Product {i} {TEXTS[i % len(TEXTS)] or 'plain'}",
                    Decimal(rng.randint(0, 10**7)) / 100,
                    INT_UNSIGNED_MAX if i == 0 else 0 if i == 1 else rng.randint(0, INT_UNSIGNED_MAX),
                    BIGINT_UNSIGNED_MAX if i == 0 else None if i % 5 == 0 else rng.randint(0, 2**64 - 1),
                    BIGINT_MIN if i == 1 else 2**63 - 1 if i == 2 else rng.randint(-(2**63), 2**63 - 1),
                    -128 if i == 2 else 127 if i == 3 else None if i % 3 == 0 else rng.randint(-128, 127),
                    65535 if i == 4 else rng.randint(0, 65535),
                )
            )
        cur.executemany("INSERT INTO products VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)", products)

        orders, items, zero_dates = [], [], set()
        for i in range(1, 301):
            oid = i * 10
            placed: object = dt.date(2021, 1, 1) + dt.timedelta(i)
            if i % 17 == 0:
                placed, _ = "0000-00-00", zero_dates.add(oid)
            elif i % 19 == 0:
                placed = None
            orders.append(
                (
                    oid,
                    rng.randint(1, 200),
                    placed,
                    None if i % 23 == 0 else Decimal(rng.randint(-(10**15), 10**15)) / 10**8,
                    None if i % 9 == 0 else dt.datetime(2022, 5, 5, 12, 0, 0, 999999) + dt.timedelta(minutes=i),
                    None if i % 4 == 0 else dt.datetime(2023, 3, 26, 0, 30, 0, i) + dt.timedelta(hours=i),
                )
            )
            for line in range(1, 2 + i % 3):
                items.append((oid, line, f"SKU-{rng.randint(0, 59):04d}", 1 + (i + line) % 9, Decimal(i * line) / 4))
        cur.executemany("INSERT INTO orders VALUES (%s,%s,%s,%s,%s,%s)", orders)
        cur.executemany("INSERT INTO line_items VALUES (%s,%s,%s,%s,%s)", items)

        # keyless, with exact duplicate rows (a multiset, not a set)
        audit = []
        for i in range(120):
            at = dt.datetime(2024, 1, 1) + dt.timedelta(minutes=i // 2)  # pairs share a time
            audit.append((at, None if i % 10 == 0 else f"user{i % 7}", TEXTS[i % len(TEXTS)]))
        audit += audit[:5]
        cur.executemany("INSERT INTO audit_log VALUES (%s,%s,%s)", audit)

    counts = {
        "customers": len(customers),
        "products": len(products),
        "orders": len(orders),
        "line_items": len(items),
        "audit_log": len(audit),
    }
    assert all(n > 50 for n in counts.values())  # every table spans several 50-row batches
    return Shop(counts, frozenset(zero_dates))


@pytest.fixture
def shop(mysql_conn: MyConn) -> Shop:
    return build_shop(mysql_conn)


# -------------------------------------------------------------------------------- reading both sides

_MYSQL_DATE_TYPES = {FIELD_TYPE.DATE, FIELD_TYPE.NEWDATE, FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP}


def norm(value: Any) -> Any:
    """One comparable Python value for what both drivers return."""
    if isinstance(value, bool):
        return int(value)  # tinyint(1) -> boolean
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value.normalize()
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)  # timestamptz vs MySQL TIMESTAMP read in UTC
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def mysql_columns(conn: MyConn, table: str) -> list[str]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (table,),
        )
        return [r[0] for r in cur.fetchall()]


def mysql_rows(conn: MyConn, table: str) -> list[Row]:
    """Rows as a user expects them in the target: zero/partial dates (which pymysql returns as
    text) are NULL, the documented policy."""
    cols = mysql_columns(conn, table)
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(f"SELECT {', '.join(f'`{c}`' for c in cols)} FROM `{table}`")
        dates = [d[1] in _MYSQL_DATE_TYPES for d in cur.description]
        return [
            tuple(None if is_date and isinstance(v, str) else norm(v) for v, is_date in zip(row, dates, strict=True))
            for row in cur.fetchall()
        ]


def pg_rows(conn: PgConn, table: str, columns: Sequence[str], schema: str = "public") -> list[Row]:
    cols = ", ".join(f'"{c}"' for c in columns)
    return [tuple(norm(v) for v in row) for row in conn.execute(f'SELECT {cols} FROM "{schema}"."{table}"')]


def assert_same_rows(expected: Iterable[Row], actual: Iterable[Row], table: str) -> None:
    want, got = Counter(expected), Counter(actual)
    missing, extra = want - got, got - want
    assert not missing and not extra, (
        f"{table}: {sum(missing.values())} source rows missing in the target, e.g. {list(missing)[:3]}; "
        f"{sum(extra.values())} unexpected target rows, e.g. {list(extra)[:3]}"
    )


def assert_target_equals_source(
    my: MyConn, pg: PgConn, tables: Iterable[str] = TABLES, schema: str = "public", times: int = 1
) -> None:
    for table in tables:
        expected = mysql_rows(my, table)
        assert expected, f"{table} is empty in the source"
        actual = pg_rows(pg, table, mysql_columns(my, table), schema)
        assert_same_rows(expected * times, actual, table)


def pg_tables(conn: PgConn, schema: str = "public") -> set[str]:
    return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))}


def pg_count(conn: PgConn, table: str, schema: str = "public") -> int:
    row = conn.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()
    assert row is not None
    return int(row[0])


# -------------------------------------------------------------------------------- the PG catalogue

PK = dict[str, tuple[str, ...]]
IndexKey = tuple[str, tuple[str, ...], bool]  # table, columns, unique
FkKey = tuple[str, str, tuple[str, ...], str, tuple[str, ...], str]  # name, table, cols, ref table, ref cols, on delete

EXPECTED_PKS: PK = {
    "customers": ("id",),
    "products": ("sku",),
    "orders": ("id",),
    "line_items": ("order_id", "line_no"),
}
EXPECTED_INDEXES: set[IndexKey] = {
    ("customers", ("email",), True),
    ("customers", ("created_at",), False),
    ("products", ("ean",), True),
    ("orders", ("customer_id",), False),
    ("orders", ("created_at",), False),  # same index name as customers' in MySQL: must still exist
    ("line_items", ("sku",), False),
    ("audit_log", ("happened_at",), False),
}
EXPECTED_FKS: set[FkKey] = {
    ("fk_orders_customer", "orders", ("customer_id",), "customers", ("id",), "NO ACTION"),
    ("fk_items_order", "line_items", ("order_id",), "orders", ("id",), "CASCADE"),
    ("fk_items_product", "line_items", ("sku",), "products", ("sku",), "NO ACTION"),
}
_DELETE_RULES = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
_INDEXDEF = re.compile(r"^CREATE (UNIQUE )?INDEX \S+ ON \S+ USING btree \((?P<cols>.*)\)$")


def pg_primary_keys(conn: PgConn, schema: str = "public") -> PK:
    rows = conn.execute(
        "SELECT c.conrelid::regclass::text, "
        "array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, o) "
        "      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o) "
        "FROM pg_constraint c WHERE c.contype = 'p' AND c.connamespace = %s::regnamespace",
        (schema,),
    )
    return {_bare(t): tuple(cols) for t, cols in rows}


def pg_secondary_indexes(conn: PgConn, schema: str = "public") -> set[IndexKey]:
    """Every index that does not back the primary key (from pg_indexes)."""
    out = set()
    for table, indexdef in conn.execute(
        "SELECT i.tablename, i.indexdef FROM pg_indexes i WHERE i.schemaname = %s AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.contype = 'p' AND c.conname = i.indexname "
        " AND c.connamespace = %s::regnamespace)",
        (schema, schema),
    ):
        m = _INDEXDEF.match(indexdef)
        assert m, indexdef
        cols = tuple(c.strip().strip('"') for c in m["cols"].split(","))
        out.add((table, cols, indexdef.startswith("CREATE UNIQUE")))
    return out


def pg_foreign_keys(conn: PgConn, schema: str = "public") -> set[FkKey]:
    rows = conn.execute(
        "SELECT c.conname, c.conrelid::regclass::text, "
        "array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, o) "
        "      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o), "
        "c.confrelid::regclass::text, "
        "array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, o) "
        "      JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o), "
        "c.confdeltype "
        "FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = %s::regnamespace",
        (schema,),
    )
    return {
        (name, _bare(t), tuple(cols), _bare(rt), tuple(rcols), _DELETE_RULES[rule])
        for name, t, cols, rt, rcols, rule in rows
    }


def _bare(regclass: str) -> str:
    return regclass.rsplit(".", 1)[-1].strip('"')


def assert_keys(conn: PgConn, schema: str = "public") -> None:
    assert pg_primary_keys(conn, schema) == EXPECTED_PKS
    assert pg_secondary_indexes(conn, schema) == EXPECTED_INDEXES
    assert pg_foreign_keys(conn, schema) == EXPECTED_FKS


# -------------------------------------------------------------------------------- helpers


def with_schema(pg_url: str, schema: str) -> str:
    return f"{pg_url}{'&' if '?' in pg_url else '?'}schema={schema}"


def migrate(run_cli: RunCli, src: str, dst: str, *extra: str) -> Result:
    return run_cli("migrate", src, dst, *BATCH, *extra)


def assert_ok(result: Result) -> None:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


def error_line(result: Result) -> str:
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    return lines[0]


# ================================================================================ the tests


def test_migrate_copies_every_row(
    run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, mysql_conn: MyConn, pg_conn: PgConn
) -> None:
    result = migrate(run_cli, mysql_url, pg_url)

    assert_ok(result)
    assert pg_tables(pg_conn) == set(TABLES)
    for table, n in shop.counts.items():
        assert pg_count(pg_conn, table) == n, table
    assert_target_equals_source(mysql_conn, pg_conn)


def test_migrate_keeps_extreme_and_awkward_values(
    run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, pg_conn: PgConn
) -> None:
    """The values most likely to be bent, checked by name (not only as two equal reads)."""
    assert_ok(migrate(run_cli, mysql_url, pg_url))

    def one(sql: str) -> Any:
        row = pg_conn.execute(sql).fetchone()
        assert row is not None, sql
        return row[0] if len(row) == 1 else row

    assert one("SELECT stock, views FROM products WHERE sku = 'SKU-0000'") == (INT_UNSIGNED_MAX, BIGINT_UNSIGNED_MAX)
    assert one("SELECT stock FROM products WHERE sku = 'SKU-0001'") == 0
    assert one("SELECT delta FROM products WHERE sku = 'SKU-0001'") == BIGINT_MIN
    assert one("SELECT delta FROM products WHERE sku = 'SKU-0002'") == 2**63 - 1
    assert one("SELECT tiny FROM products WHERE sku = 'SKU-0002'") == -128
    assert one("SELECT tiny FROM products WHERE sku = 'SKU-0003'") == 127
    assert one("SELECT small FROM products WHERE sku = 'SKU-0004'") == 65535

    notes = [r[0] for r in pg_conn.execute("SELECT note FROM customers")]
    assert set(TEXTS) <= set(notes)  # every awkward string arrives intact, '' and NULL included
    assert notes.count("") == sum(1 for i in range(1, 201) if i % len(TEXTS) == 0)
    assert notes.count(None) == sum(1 for i in range(1, 201) if i % len(TEXTS) == 1)
    assert "Zoë — 山田 🚀" in notes and "🎉🎉" in notes

    # datetime(6) keeps its microseconds; TIMESTAMP arrives as the same instant
    assert one("SELECT created_at FROM customers WHERE id = 1") == dt.datetime(2020, 1, 1, 1, 0, 7, 1234)
    assert one("SELECT paid_at FROM orders WHERE id = 10") == dt.datetime(2023, 3, 26, 1, 30, 0, 1, tzinfo=dt.UTC)


def test_pg_has_the_keys_indexes_and_foreign_keys(
    run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, pg_conn: PgConn
) -> None:
    assert_ok(migrate(run_cli, mysql_url, pg_url))

    assert_keys(pg_conn)
    # ... and they work, not only exist
    items_of_10 = pg_conn.execute("SELECT count(*) FROM line_items WHERE order_id = 10").fetchone()
    assert items_of_10 is not None and items_of_10[0] > 0
    pg_conn.execute("DELETE FROM orders WHERE id = 10")  # ON DELETE CASCADE
    assert pg_conn.execute("SELECT count(*) FROM line_items WHERE order_id = 10").fetchone() == (0,)
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        pg_conn.execute("INSERT INTO line_items VALUES (999999, 1, 'SKU-0001', 1, 1.00)")
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        pg_conn.execute("DELETE FROM customers")  # orders still reference them (NO ACTION)
    with pytest.raises(psycopg.errors.UniqueViolation):
        pg_conn.execute("INSERT INTO line_items SELECT * FROM line_items LIMIT 1")  # composite PK
    with pytest.raises(psycopg.errors.UniqueViolation):
        pg_conn.execute("UPDATE customers SET email = 'user1@example.com' WHERE id = 2")


def test_second_migrate_refuses_and_changes_nothing(
    run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, mysql_conn: MyConn, pg_conn: PgConn
) -> None:
    assert_ok(migrate(run_cli, mysql_url, pg_url))

    again = migrate(run_cli, mysql_url, pg_url)

    assert again.exit_code == 1, again.output
    assert "Traceback" not in again.output
    message = error_line(again)
    assert "already has rows" in message
    for table in TABLES:
        assert table in message
    assert "--if-exists" in again.output
    assert_target_equals_source(mysql_conn, pg_conn)
    assert_keys(pg_conn)


def _tamper(pg_conn: PgConn) -> None:
    """Make the target differ from the source (so a re-load has something to undo)."""
    pg_conn.execute("DELETE FROM line_items WHERE order_id <= 100")
    pg_conn.execute("UPDATE customers SET name = 'changed' WHERE id = 5")
    pg_conn.execute("INSERT INTO audit_log (happened_at, actor) VALUES ('2030-01-01', 'intruder')")


def test_if_exists_replace_reloads_the_same_rows(
    run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, mysql_conn: MyConn, pg_conn: PgConn
) -> None:
    assert_ok(migrate(run_cli, mysql_url, pg_url))
    _tamper(pg_conn)

    assert_ok(migrate(run_cli, mysql_url, pg_url, "--if-exists", "replace"))

    assert_target_equals_source(mysql_conn, pg_conn)  # no duplicates, tampering undone
    assert_keys(pg_conn)  # DROP ... CASCADE took foreign keys with it: they must be back


def test_if_exists_truncate_reloads_the_same_rows(
    run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, mysql_conn: MyConn, pg_conn: PgConn
) -> None:
    assert_ok(migrate(run_cli, mysql_url, pg_url))
    _tamper(pg_conn)

    result = migrate(run_cli, mysql_url, pg_url, "--if-exists", "truncate")

    assert_ok(result)
    assert_target_equals_source(mysql_conn, pg_conn)
    assert_keys(pg_conn)  # truncate keeps the tables' own keys and indexes


def test_if_exists_append_doubles_the_rows(
    run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, mysql_conn: MyConn, pg_conn: PgConn
) -> None:
    """Appending is only possible where no key forbids the duplicates: the keyless log table."""
    assert_ok(migrate(run_cli, mysql_url, pg_url))

    assert_ok(migrate(run_cli, mysql_url, pg_url, "--if-exists", "append", "--tables", "audit_log"))

    assert pg_count(pg_conn, "audit_log") == 2 * shop.counts["audit_log"]
    assert_target_equals_source(mysql_conn, pg_conn, ["audit_log"], times=2)
    assert_target_equals_source(mysql_conn, pg_conn, [t for t in TABLES if t != "audit_log"])


def test_if_exists_append_into_keyed_tables_fails_without_duplicates(
    run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, mysql_conn: MyConn, pg_conn: PgConn
) -> None:
    assert_ok(migrate(run_cli, mysql_url, pg_url))

    result = migrate(run_cli, mysql_url, pg_url, "--if-exists", "append")

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "rejected" in result.output and "xfer-rejects.jsonl" in result.output
    assert "duplicate key" in Path("xfer-rejects.jsonl").read_text()
    assert_target_equals_source(mysql_conn, pg_conn, [t for t in TABLES if t != "audit_log"])


def test_verify_right_after_migrate_is_clean(run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str) -> None:
    assert_ok(migrate(run_cli, mysql_url, pg_url))

    result = run_cli("verify", mysql_url, pg_url, *BATCH)

    assert_ok(result)
    for table, n in shop.counts.items():
        assert re.search(rf"^{table}\s+{n}\s+{n}\s+.*\s+ok\s*$", result.output, re.M), (table, result.output)


CONTENT, COUNT = "different content", "row count differs"
# (id, table changed, SQL run in the target, phrase the verify output must contain), one a line
# fmt: off
TAMPERING = [
    ("update-one-char", "customers", "UPDATE customers SET name = name || '.' WHERE id = 17", CONTENT),
    ("update-1-microsecond", "customers", "UPDATE customers SET created_at = created_at + interval '1 us' WHERE id = 5", CONTENT),  # noqa: E501
    ("empty-string-to-null", "customers", "UPDATE customers SET note = NULL WHERE id = 15", CONTENT),
    ("null-to-empty-string", "customers", "UPDATE customers SET note = '' WHERE id = 16", CONTENT),
    ("boolean-flip", "customers", "UPDATE customers SET active = NOT active WHERE id = 3", CONTENT),
    ("one-cent", "products", "UPDATE products SET price = price + 0.01 WHERE sku = 'SKU-0007'", CONTENT),
    ("unsigned-max-minus-1", "products", "UPDATE products SET views = views - 1 WHERE sku = 'SKU-0000'", CONTENT),
    ("zero-date-filled-in", "orders", f"UPDATE orders SET placed_on = '2000-01-01' WHERE id = {17 * 10}", CONTENT),
    ("swap-two-rows-values", "line_items", "UPDATE line_items SET qty = 7 - qty WHERE line_no = 1 AND order_id IN (10, 20)", CONTENT),  # noqa: E501
    ("delete-one-row", "line_items", "DELETE FROM line_items WHERE order_id = 30 AND line_no = 1", COUNT),
    ("duplicate-one-row", "audit_log", "INSERT INTO audit_log SELECT * FROM audit_log LIMIT 1", COUNT),
]
# fmt: on


@pytest.mark.parametrize(("table", "sql", "phrase"), [t[1:] for t in TAMPERING], ids=[t[0] for t in TAMPERING])
def test_verify_finds_a_changed_target(
    run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, pg_conn: PgConn, table: str, sql: str, phrase: str
) -> None:
    assert_ok(migrate(run_cli, mysql_url, pg_url))
    if "qty" in sql:  # the swap only means something if the two values really were 3 and 4
        assert pg_conn.execute(
            "SELECT qty FROM line_items WHERE line_no = 1 AND order_id IN (10, 20) ORDER BY order_id"
        ).fetchall() == [(3,), (4,)]
    pg_conn.execute(sql)

    result = run_cli("verify", mysql_url, pg_url, *BATCH)

    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert f"{table}: " in result.output and phrase in result.output
    message = error_line(result)
    assert table in message
    assert [t for t in TABLES if t != table and t in message] == []  # only the changed table is named


def test_verify_reports_missing_tables(run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str) -> None:
    assert_ok(migrate(run_cli, mysql_url, pg_url, "--exclude", "audit_log"))

    result = run_cli("verify", mysql_url, pg_url)

    assert result.exit_code == 3, result.output
    assert "audit_log" in error_line(result)
    assert "MISSING" in result.output


@pytest.mark.parametrize("command", ["migrate", "verify"])
def test_report_json(run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, tmp_path: Path, command: str) -> None:
    path = tmp_path / "report.json"
    if command == "verify":
        assert_ok(migrate(run_cli, mysql_url, pg_url))

    assert_ok(run_cli(command, mysql_url, pg_url, *BATCH, "--report", path))

    report = json.loads(path.read_text())
    assert report["command"] == command and report["status"] == "ok"
    by_name = {t["name"]: t for t in report["tables"]}
    assert set(by_name) == set(TABLES)
    for table, n in shop.counts.items():
        entry = by_name[table]
        assert {k: entry[k] for k in ("name", "source_rows", "target_rows", "checksum_match", "status")} == {
            "name": table,
            "source_rows": n,
            "target_rows": n,
            "checksum_match": True,
            "status": "ok",
        }


def test_report_json_after_a_mismatch(
    run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    path = tmp_path / "report.json"
    assert_ok(migrate(run_cli, mysql_url, pg_url))
    pg_conn.execute("DELETE FROM orders WHERE id = 20")  # cascades to its line items

    result = run_cli("verify", mysql_url, pg_url, "--report", path)

    assert result.exit_code == 3
    report = json.loads(path.read_text())
    assert report["status"] == "mismatch"
    by_name = {t["name"]: t for t in report["tables"]}
    assert by_name["orders"]["status"] == "mismatch"
    assert (by_name["orders"]["source_rows"], by_name["orders"]["target_rows"]) == (300, 299)
    assert by_name["line_items"]["status"] == "mismatch"
    assert by_name["customers"]["status"] == "ok" and by_name["customers"]["checksum_match"] is True


SELECTIONS = [
    ("one-glob", ["--tables", "order*"], {"orders"}),
    ("repeated-short-flag", ["-t", "orders", "-t", "line_*"], {"orders", "line_items"}),
    ("question-mark-glob", ["--tables", "order?"], {"orders"}),
    ("exclude", ["--exclude", "*s"], {"audit_log"}),
    ("exclude-repeated", ["--exclude", "line_*", "--exclude", "audit_*"], {"customers", "orders", "products"}),
    ("tables-and-exclude", ["--tables", "*s", "--exclude", "line_*"], {"customers", "orders", "products"}),
]


@pytest.mark.parametrize(("args", "expected"), [s[1:] for s in SELECTIONS], ids=[s[0] for s in SELECTIONS])
def test_tables_and_exclude_select_tables(
    run_cli: RunCli,
    shop: Shop,
    mysql_url: str,
    pg_url: str,
    mysql_conn: MyConn,
    pg_conn: PgConn,
    args: list[str],
    expected: set[str],
) -> None:
    assert_ok(migrate(run_cli, mysql_url, pg_url, *args))

    assert pg_tables(pg_conn) == expected
    assert_target_equals_source(mysql_conn, pg_conn, expected)
    # foreign keys to tables left behind are skipped; those among selected tables are made
    assert {fk for fk in pg_foreign_keys(pg_conn)} == {fk for fk in EXPECTED_FKS if {fk[1], fk[3]} <= expected}


@pytest.mark.parametrize("flag", ["--tables", "--exclude"])
def test_glob_matching_nothing_is_a_usage_error(
    run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, pg_conn: PgConn, flag: str
) -> None:
    result = migrate(run_cli, mysql_url, pg_url, flag, "custmers*")

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = error_line(result)
    assert "custmers*" in message and "matches no table" in message
    assert pg_tables(pg_conn) == set()


def test_schema_in_url_puts_the_tables_there(
    run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, mysql_conn: MyConn, pg_conn: PgConn
) -> None:
    target = with_schema(pg_url, "other")

    assert_ok(migrate(run_cli, mysql_url, target))

    assert pg_tables(pg_conn, "other") == set(TABLES)
    assert pg_tables(pg_conn, "public") == set()
    assert_target_equals_source(mysql_conn, pg_conn, schema="other")
    assert_keys(pg_conn, "other")
    assert_ok(run_cli("verify", mysql_url, target))
    # the same tables may then go to another schema of the same database
    assert_ok(migrate(run_cli, mysql_url, with_schema(pg_url, "second")))
    assert pg_tables(pg_conn, "second") == set(TABLES)


def test_schema_only_creates_empty_tables_with_keys(
    run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, pg_conn: PgConn
) -> None:
    result = migrate(run_cli, mysql_url, pg_url, "--schema-only")

    assert_ok(result)
    assert pg_tables(pg_conn) == set(TABLES)
    assert {t: pg_count(pg_conn, t) for t in TABLES} == dict.fromkeys(TABLES, 0)
    assert_keys(pg_conn)


def test_plain_migrate_after_schema_only_loads_the_empty_tables(
    run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, mysql_conn: MyConn, pg_conn: PgConn
) -> None:
    assert_ok(migrate(run_cli, mysql_url, pg_url, "--schema-only"))

    assert_ok(migrate(run_cli, mysql_url, pg_url))  # --if-exists fail only refuses tables with rows

    assert_target_equals_source(mysql_conn, pg_conn)
    assert_keys(pg_conn)


def test_data_only_fills_tables_made_by_schema_only(
    run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, mysql_conn: MyConn, pg_conn: PgConn
) -> None:
    assert_ok(migrate(run_cli, mysql_url, pg_url, "--schema-only"))

    result = migrate(run_cli, mysql_url, pg_url, "--data-only")

    assert_ok(result)
    assert_target_equals_source(mysql_conn, pg_conn)
    assert_keys(pg_conn)


def test_data_only_without_target_tables_is_a_usage_error(
    run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, pg_conn: PgConn
) -> None:
    result = migrate(run_cli, mysql_url, pg_url, "--data-only")

    assert result.exit_code == 2, result.output
    assert "missing" in error_line(result)
    assert pg_tables(pg_conn) == set()


def test_zero_and_partial_dates_arrive_as_null(
    run_cli: RunCli, mysql_url: str, pg_url: str, mysql_conn: MyConn, pg_conn: PgConn
) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute("SET sql_mode = ''")
        cur.execute("CREATE TABLE dates (id INT PRIMARY KEY, d DATE NULL, t DATETIME(6) NULL)")
        cur.executemany(
            "INSERT INTO dates VALUES (%s, %s, %s)",
            [
                (1, "0000-00-00", "0000-00-00 00:00:00"),
                (2, "2021-00-15", "2021-03-00 10:00:00"),
                (3, "2024-02-29", "2024-02-29 23:59:59.999999"),
                (4, None, None),
                (5, "1000-01-01", "9999-12-31 23:59:59.999999"),
            ],
        )
        cur.execute("SELECT d FROM dates WHERE id = 1")
        assert cur.fetchone() == ("0000-00-00",)  # really stored as a zero date

    assert_ok(migrate(run_cli, mysql_url, pg_url))

    assert pg_conn.execute("SELECT id, d, t FROM dates ORDER BY id").fetchall() == [
        (1, None, None),
        (2, None, None),
        (3, dt.date(2024, 2, 29), dt.datetime(2024, 2, 29, 23, 59, 59, 999999)),
        (4, None, None),
        (5, dt.date(1000, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999999)),
    ]
    assert_ok(run_cli("verify", mysql_url, pg_url))


def test_zero_dates_in_the_shop_arrive_as_null(
    run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, pg_conn: PgConn
) -> None:
    assert_ok(migrate(run_cli, mysql_url, pg_url))

    nulls = {r[0] for r in pg_conn.execute("SELECT id FROM orders WHERE placed_on IS NULL")}
    assert shop.zero_date_order_ids <= nulls
    assert pg_conn.execute("SELECT count(*) FROM customers WHERE born IS NULL").fetchone() == (
        sum(1 for i in range(1, 201) if i % 11 == 0 or i % 13 == 0),
    )


# (source column type, expected PostgreSQL type) as `plan` prints them (MariaDB spells widths)
PLAN_LINES = [
    ("customers", "id", r"int(\(10\))? unsigned", "bigint NOT NULL"),
    ("customers", "balance", r"decimal\(12,2\)", "numeric(12,2)"),
    ("customers", "created_at", r"datetime\(6\)", "timestamp(6) NOT NULL"),
    ("customers", "active", r"tinyint\(1\)", "boolean NOT NULL"),
    ("products", "views", r"bigint(\(20\))? unsigned", "numeric(20,0)"),
    ("products", "small", r"smallint(\(5\))? unsigned", "integer"),
    ("products", "ean", r"char\(13\)", "char(13)"),
    ("orders", "paid_at", r"timestamp\(6\)", "timestamptz(6)"),
    ("line_items", "line_no", r"smallint(\(5\))? unsigned", "integer NOT NULL"),
    ("audit_log", "detail", r"text", "text"),
]


def test_plan_prints_types_and_ddl_and_creates_nothing(
    run_cli: RunCli, shop: Shop, mysql_url: str, pg_url: str, pg_conn: PgConn
) -> None:
    result = run_cli("plan", mysql_url, with_schema(pg_url, "planned"))

    assert_ok(result)
    sections = re.split(r"^== ", result.output, flags=re.M)[1:]
    by_table = {s.split()[0]: s for s in sections}
    assert set(by_table) - {"renames", "views", "triggers", "policies", "collations", "behaviour"} == set(TABLES)
    # a policy is said as a rule ("if ... then ..."), under its heading: not as a note, which
    # would read like a finding about this data (the shop holds no NUL byte)
    assert not re.search(r"^note: .*NUL byte", result.output, re.M)
    assert re.search(
        r"^== policies\n  if a text value holds a NUL byte .* then its row is rejected", result.output, re.M
    )
    for table, column, source_type, target_type in PLAN_LINES:
        line = rf"^\s+{column}\s+{source_type} -> {re.escape(target_type)}\s*$"
        assert re.search(line, by_table[table], re.M), (table, column, by_table[table])
    for table in TABLES:
        assert f'CREATE TABLE "planned"."{table}"' in by_table[table]
    assert "FOREIGN KEY" in by_table["line_items"] and "ON DELETE CASCADE" in by_table["line_items"]
    # changed nothing: no schema, no table anywhere
    assert pg_conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'planned'").fetchone() == (0,)
    assert pg_tables(pg_conn, "public") == set()


def test_inspect_lists_tables_columns_and_exact_counts(
    run_cli: RunCli, shop: Shop, mysql_url: str, mysql_conn: MyConn
) -> None:
    with mysql_conn.cursor() as cur:  # exact counts, not InnoDB's estimate, whatever the statistics say
        cur.execute("DELETE FROM audit_log WHERE actor IS NULL")
        deleted = cur.rowcount
    assert deleted > 0
    counts = {**shop.counts, "audit_log": shop.counts["audit_log"] - deleted}

    text = run_cli("inspect", mysql_url)
    as_json = run_cli("inspect", "--json", mysql_url)

    assert_ok(text)
    for table, n in counts.items():
        assert re.search(rf"^{table}\s+\({n:,} rows\)$", text.output, re.M), (table, text.output)
    assert re.search(r"^\s+views\s+bigint(\(20\))? unsigned$", text.output, re.M)
    assert re.search(r"^\s+line_no\s+smallint(\(5\))? unsigned PK NOT NULL$", text.output, re.M)
    assert_ok(as_json)
    tables = {t["name"]: t for t in json.loads(as_json.stdout)}
    assert {name: t["rows"] for name, t in tables.items()} == counts
    for table in TABLES:
        assert [c["name"] for c in tables[table]["columns"]] == mysql_columns(mysql_conn, table)
    assert tables["line_items"]["primary_key"] == ["order_id", "line_no"]
    # foreign keys with their actions: shown when not the default (NO ACTION / RESTRICT)
    fk_lines = sorted(line.strip() for line in text.output.splitlines() if "foreign key" in line)
    assert fk_lines == [
        "foreign key fk_items_order (order_id) -> orders (id) ON DELETE CASCADE",
        "foreign key fk_items_product (sku) -> products (sku)",
        "foreign key fk_orders_customer (customer_id) -> customers (id)",
    ]
    fks = {f["name"]: (f["on_delete"], f["on_update"]) for f in tables["line_items"]["foreign_keys"]}
    assert fks == {"fk_items_order": ("CASCADE", None), "fk_items_product": (None, None)}


def test_inspect_shows_foreign_key_actions(run_cli: RunCli, mysql_url: str, mysql_conn: MyConn) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE parent (id INT PRIMARY KEY)")
        cur.execute(
            "CREATE TABLE child (id INT PRIMARY KEY, p INT, q INT,"
            " CONSTRAINT fk_p FOREIGN KEY (p) REFERENCES parent (id) ON DELETE SET NULL ON UPDATE CASCADE,"
            " CONSTRAINT fk_q FOREIGN KEY (q) REFERENCES parent (id) ON DELETE RESTRICT)"
        )

    text = run_cli("inspect", mysql_url)

    assert_ok(text)
    assert "  foreign key fk_p (p) -> parent (id) ON DELETE SET NULL ON UPDATE CASCADE\n" in text.output
    assert "  foreign key fk_q (q) -> parent (id)\n" in text.output  # RESTRICT: the default, not shown

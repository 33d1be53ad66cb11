"""Embedded engines: the shipped SQLite sample into DuckDB, and small round trips between
SQLite, DuckDB and PostgreSQL, compared value by value with each engine's own driver."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from click.testing import Result

RunCli = Callable[..., Result]
PgConn = psycopg.Connection[tuple[Any, ...]]
Row = tuple[Any, ...]

REPO = Path(__file__).parents[1]
SHOP = REPO / "xfer" / "samples" / "shop.sqlite"
SHOP_TABLES = {"customers", "products", "orders", "order_items"}


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"  # an absolute path gives the four-slash form


def duckdb_url(path: Path) -> str:
    return f"duckdb:///{path}"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def unchanged(path: Path) -> Iterator[None]:
    """Assert that the file's bytes are the same after the block."""
    before = sha256(path)
    yield
    assert sha256(path) == before, f"{path} was modified"


def assert_ok(result: Result) -> None:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


def sqlite_counts(path: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def duckdb_counts(path: Path) -> dict[str, int]:
    with contextlib.closing(duckdb.connect(str(path), read_only=True)) as conn:
        names = [r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}  # type: ignore[index]


# ------------------------------------------------------------------------------ SQLite -> DuckDB


def test_shop_sqlite_to_duckdb(run_cli: RunCli, tmp_path: Path) -> None:
    target = tmp_path / "shop.duckdb"

    with unchanged(SHOP):
        result = run_cli("migrate", sqlite_url(SHOP), duckdb_url(target))
        assert_ok(result)
        expected = sqlite_counts(SHOP)
        assert set(expected) == SHOP_TABLES and all(expected.values())
        assert duckdb_counts(target) == expected
        for table, n in expected.items():
            assert re.search(rf"^{table}\s+{n:,}\s", result.output, re.M), result.output

        assert_ok(run_cli("verify", sqlite_url(SHOP), duckdb_url(target)))


@pytest.mark.parametrize(
    ("table", "sql"),
    [
        ("customers", "UPDATE customers SET name = name || '!' WHERE id = 1"),
        ("products", "UPDATE products SET price = price + 0.01 WHERE id = 7"),
        ("order_items", "DELETE FROM order_items WHERE order_id = 1 AND line = 1"),
        (
            "orders",
            "UPDATE orders SET note = NULL WHERE note = '' AND id = (SELECT min(id) FROM orders WHERE note = '')",
        ),
    ],
    ids=["text", "decimal", "deleted-row", "empty-string-to-null"],
)
def test_verify_finds_a_changed_duckdb_row(run_cli: RunCli, tmp_path: Path, table: str, sql: str) -> None:
    target = tmp_path / "shop.duckdb"
    with unchanged(SHOP):
        assert_ok(run_cli("migrate", sqlite_url(SHOP), duckdb_url(target), "--no-verify"))
        with contextlib.closing(duckdb.connect(str(target))) as conn:
            changed = conn.execute(sql).fetchall()
            assert changed == [(1,)], "the change must hit exactly one row"

        result = run_cli("verify", sqlite_url(SHOP), duckdb_url(target))

    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    (message,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert table in message
    assert [t for t in SHOP_TABLES - {table} if re.search(rf"\b{t}\b", message)] == []


# ------------------------------------------------------------------------------ round trips

# One small table with the types every engine has, as the values a user expects back.
COLUMNS = ("id", "n", "amount", "label", "day", "at_ts", "flag", "data", "ratio")
ROWS: list[Row] = [
    (
        1,
        9223372036854775807,
        Decimal("1234567.891"),
        'Zoë 🚀 O\'Brien, "quoted"\nnext line',
        dt.date(2024, 2, 29),
        dt.datetime(2024, 2, 29, 23, 59, 59, 123456),
        True,
        bytes(range(256)),
        0.1,
    ),
    (
        2,
        -9223372036854775808,
        Decimal("-0.001"),
        "",
        dt.date(1970, 1, 1),
        dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
        False,
        b"",
        -1.5e300,
    ),
    (3, 0, Decimal("12.000"), "\\N", dt.date(1, 1, 1), dt.datetime(2000, 1, 1), True, b"\x00", 0.0),
    (4, None, None, None, None, None, None, None, None),
]


def make_duckdb(path: Path) -> None:
    with contextlib.closing(duckdb.connect(str(path))) as conn:
        conn.execute(
            "CREATE TABLE things (id INTEGER PRIMARY KEY, n BIGINT, amount DECIMAL(12,3), label VARCHAR, "
            "day DATE, at_ts TIMESTAMP, flag BOOLEAN, data BLOB, ratio DOUBLE)"
        )
        conn.executemany("INSERT INTO things VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", ROWS)
        conn.execute("CHECKPOINT")


def make_sqlite(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "CREATE TABLE things (id INTEGER PRIMARY KEY, n INTEGER, amount DECIMAL(12,3), label TEXT, "
            "day DATE, at_ts TIMESTAMP, flag BOOLEAN, data BLOB, ratio REAL)"
        )
        # stored the way SQLite applications store them: ISO text, 0/1, decimals as text
        conn.executemany(
            "INSERT INTO things VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    i,
                    n,
                    None if a is None else str(a),
                    s,
                    None if d is None else d.isoformat(),
                    None if t is None else t.isoformat(sep=" "),
                    None if f is None else int(f),
                    b,
                    r,
                )
                for i, n, a, s, d, t, f, b, r in ROWS
            ],
        )
        conn.commit()


def make_pg(conn: PgConn) -> None:
    conn.execute(
        "CREATE TABLE things (id integer PRIMARY KEY, n bigint, amount numeric(12,3), label text, "
        "day date, at_ts timestamp(6), flag boolean, data bytea, ratio double precision)"
    )
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO things VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", ROWS)


def read_duckdb(path: Path) -> list[Row]:
    with contextlib.closing(duckdb.connect(str(path), read_only=True)) as conn:
        return conn.execute(f"SELECT {', '.join(COLUMNS)} FROM things ORDER BY id").fetchall()


def read_pg(conn: PgConn) -> list[Row]:
    return conn.execute(f"SELECT {', '.join(COLUMNS)} FROM things ORDER BY id").fetchall()


def read_sqlite(path: Path) -> list[Row]:
    """SQLite gives back its storage classes: read each by the column's declared type."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        declared = {r[1]: r[2].upper() for r in conn.execute("PRAGMA table_info(things)")}
        rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM things ORDER BY id").fetchall()
    return [tuple(_from_sqlite(v, declared[c]) for v, c in zip(row, COLUMNS, strict=True)) for row in rows]


def _from_sqlite(value: Any, declared: str) -> Any:
    if value is None:
        return None
    if declared.startswith(("DECIMAL", "NUMERIC")):
        scale = int(declared.rstrip(")").split(",")[1])
        text = repr(value) if isinstance(value, float) else str(value)
        return Decimal(text).quantize(Decimal(1).scaleb(-scale))
    if declared.startswith("BOOL"):
        return bool(value)
    if declared.startswith(("DATETIME", "TIMESTAMP")):
        return dt.datetime.fromisoformat(value)
    if declared == "DATE":
        return dt.date.fromisoformat(value)
    return value


def assert_rows(actual: list[Row]) -> None:
    assert len(actual) == len(ROWS)
    for got, want in zip(actual, ROWS, strict=True):
        for column, g, w in zip(COLUMNS, got, want, strict=True):
            assert g == w and type(g) is type(w), f"id {want[0]} column {column}: got {g!r}, expected {w!r}"


def test_duckdb_to_sqlite(run_cli: RunCli, tmp_path: Path) -> None:
    source, target = tmp_path / "src.duckdb", tmp_path / "out.sqlite"
    make_duckdb(source)
    assert_rows(read_duckdb(source))  # the fixture itself is what the test thinks it is

    with unchanged(source):
        assert_ok(run_cli("migrate", duckdb_url(source), sqlite_url(target)))
        assert_ok(run_cli("verify", duckdb_url(source), sqlite_url(target)))

    assert_rows(read_sqlite(target))


def test_pg_to_duckdb(run_cli: RunCli, tmp_path: Path, pg_url: str, pg_conn: PgConn) -> None:
    target = tmp_path / "out.duckdb"
    make_pg(pg_conn)
    assert_rows(read_pg(pg_conn))

    assert_ok(run_cli("migrate", pg_url, duckdb_url(target), "--batch-size", "2"))
    assert_ok(run_cli("verify", pg_url, duckdb_url(target)))

    assert_rows(read_duckdb(target))


def test_sqlite_to_pg(run_cli: RunCli, tmp_path: Path, pg_url: str, pg_conn: PgConn) -> None:
    source = tmp_path / "src.sqlite"
    make_sqlite(source)
    assert_rows(read_sqlite(source))

    with unchanged(source):
        assert_ok(run_cli("migrate", sqlite_url(source), pg_url, "--batch-size", "3"))
        assert_ok(run_cli("verify", sqlite_url(source), pg_url))

    assert_rows(read_pg(pg_conn))


def test_sqlite_to_duckdb_and_back(run_cli: RunCli, tmp_path: Path) -> None:
    first, middle, last = tmp_path / "a.sqlite", tmp_path / "b.duckdb", tmp_path / "c.sqlite"
    make_sqlite(first)

    with unchanged(first):
        assert_ok(run_cli("migrate", sqlite_url(first), duckdb_url(middle)))
    with unchanged(middle):
        assert_ok(run_cli("migrate", duckdb_url(middle), sqlite_url(last)))

    assert_rows(read_duckdb(middle))
    assert_rows(read_sqlite(last))
    assert_ok(run_cli("verify", sqlite_url(first), sqlite_url(last)))


def test_duckdb_timestamptz_to_sqlite(run_cli: RunCli, tmp_path: Path) -> None:
    source, target = tmp_path / "tz.duckdb", tmp_path / "tz.sqlite"
    instant = dt.datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=dt.UTC)
    with contextlib.closing(duckdb.connect(str(source))) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, happened TIMESTAMPTZ)")
        conn.execute("INSERT INTO events VALUES (1, ?), (2, NULL)", [instant])

    assert_ok(run_cli("migrate", duckdb_url(source), sqlite_url(target)))
    assert_ok(run_cli("verify", duckdb_url(source), sqlite_url(target)))
    # and the SQLite file is itself a usable source again
    back = tmp_path / "back.duckdb"
    assert_ok(run_cli("migrate", sqlite_url(target), duckdb_url(back)))
    with contextlib.closing(duckdb.connect(str(back), read_only=True)) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        assert conn.execute("SELECT id, happened FROM events ORDER BY id").fetchall() == [(1, instant), (2, None)]


def test_duckdb_to_sqlite_keeps_wide_numbers_exact(run_cli: RunCli, tmp_path: Path) -> None:
    source, target = tmp_path / "wide.duckdb", tmp_path / "wide.sqlite"
    with contextlib.closing(duckdb.connect(str(source))) as conn:
        conn.execute("CREATE TABLE wide (id INTEGER PRIMARY KEY, amount DECIMAL(18,4), counter UBIGINT)")
        conn.execute("INSERT INTO wide VALUES (1, 12345678901234.5678, 18446744073709551615), (2, 0.0001, 0)")

    assert_ok(run_cli("migrate", duckdb_url(source), sqlite_url(target)))

    with contextlib.closing(sqlite3.connect(target)) as conn:
        rows = conn.execute("SELECT id, CAST(amount AS TEXT), CAST(counter AS TEXT) FROM wide ORDER BY id").fetchall()
    assert rows == [(1, "12345678901234.5678", "18446744073709551615"), (2, "0.0001", "0")]


def test_plan_with_an_embedded_target_creates_no_file(run_cli: RunCli, tmp_path: Path) -> None:
    """plan against an embedded target creates no file."""
    target = tmp_path / "never.duckdb"
    with unchanged(SHOP):
        result = run_cli("plan", sqlite_url(SHOP), duckdb_url(target))
    assert_ok(result)
    assert "CREATE TABLE" in result.output
    assert not target.exists()


@pytest.mark.parametrize("scheme", ["sqlite", "duckdb"])
def test_a_statement_the_embedded_engine_refuses_is_one_line(tmp_path: Path, scheme: str) -> None:
    """A hook's statement the engine refuses: the engine, the statement, the driver's first line."""
    from contextlib import ExitStack

    from xfer.core.errors import XferError
    from xfer.dialects.connect import open_target

    with ExitStack() as stack:
        target = open_target(f"{scheme}:///{tmp_path / 'x.db'}", stack)
        target.execute("CREATE TABLE t (i INT)")
        with pytest.raises(XferError) as caught:
            target.execute("SELEC 1\nFROM t")
    label = {"sqlite": "SQLite", "duckdb": "DuckDB"}[scheme]
    assert str(caught.value).startswith(f"{label} refused: SELEC 1: ") and "\n" not in str(caught.value)

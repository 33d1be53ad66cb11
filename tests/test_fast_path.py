"""The fast path (connectorx reader, pgpq binary COPY, key-range chunks in parallel) must put
exactly the rows into PostgreSQL that the pure-Python path (pymysql reader, CSV COPY) puts
there, for every MySQL type xfer handles; and its consistency modes must do what they say."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from click.testing import Result
from conftest import MyConn, PgConn, RunCli, mysql_source

from xfer.copy import parallel
from xfer.dialects.mysql import fast as mysql_fast

SLOW = {"XFER_MYSQL_READER": "pymysql", "XFER_PG_WRITER": "csv"}

TYPES = """
CREATE TABLE t (
  id INT NOT NULL PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
  mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  flag TINYINT(1), notflag TINYINT(1),
  d1 DECIMAL(12,2), d3 DECIMAL(30,0), d4 DECIMAL(20,12), d5 DECIMAL(5,0) UNSIGNED,
  f FLOAT, dbl DOUBLE,
  dt DATE, dtm DATETIME(6), dtm0 DATETIME, ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6), tm0 TIME, yr YEAR,
  bt1 BIT(1),
  c CHAR(5), vc VARCHAR(50), tx TEXT, lt LONGTEXT,
  bn BINARY(4), vb VARBINARY(300), bl BLOB,
  js JSON, en ENUM('a','b','c')
) DEFAULT CHARSET=utf8mb4
"""

UNICODE = "Zoë O'Brien — 山田 🚀 \\ \" ,;\t\n"
# fmt: off
ROWS: list[tuple[Any, ...]] = [
    # maxima
    (1, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807,
     18446744073709551615, 1, 0, "9999999999.99", "999999999999999999999999999999", "99999999.999999999999",
     99999, 3.4028234e38, 1.7976931348623157e308,
     "9999-12-31", "9999-12-31 23:59:59.999999", "9999-12-31 23:59:59", "2038-01-19 03:14:07.999999",
     "838:59:59.000000", "838:59:59", 2155, 1,
     "abcde", UNICODE, UNICODE * 3, UNICODE * 100, b"\x00\x01\xfe\xff", bytes(range(256)), bytes(range(256)) * 4,
     '{"b": [1, 2.50, {"c": null}], "a": "ü"}', "c"),
    # minima
    (2, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808,
     0, 0, 2, "-9999999999.99", "-999999999999999999999999999999", "-99999999.999999999999",
     0, -1.175494e-38, -2.2250738585072014e-308,
     "1000-01-01", "1000-01-01 00:00:00.000000", "1000-01-01 00:00:00", "1970-01-01 00:00:01.000000",
     "-838:59:59.000000", "-838:59:59", 1901, 0,
     "", "", "", "", b"\x00\x00\x00\x00", b"", b"",
     "[]", "a"),
    # zero and partial dates (NULL after migration), small fractions, negative short times
    (3, 0, 1, 1, 1, 1, 1, 1, 1, 1,
     1, 1, -1, "0.01", "1", "0.000000000001",
     1, 0.1, 0.1,
     "0000-00-00", "0000-00-00 00:00:00.000000", "2021-00-15 10:00:00", "0000-00-00 00:00:00.000000",
     "-00:00:00.500000", "-00:00:01", 0, 1,
     "a  ", "trailing  ", "x", "y", b"ab", b"\x00", b"\xff",
     '{"n": 1e2}', "b"),
    (4, *([None] * 35)),  # NULL in every column
]
# fmt: on


WIDE = [
    (1, "99999999999999999999999999999999999.999999999999999999999999999999", "9" * 40, 2**64 - 1, "x,y,z"),
    (2, "-99999999999999999999999999999999999.999999999999999999999999999999", "0", 0, ""),
    (3, "0.000000000000000000000000000001", None, 1, "y"),
    (4, None, None, None, None),
]


def _make_source(mysql_conn: pymysql.connections.Connection, rows: list[tuple[Any, ...]] = ROWS) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")  # zero and partial dates, as old MySQL data has them
        cur.execute(TYPES)
        marks = ", ".join(["%s"] * len(rows[0]))
        cur.executemany(f"INSERT INTO t VALUES ({marks})", rows)
        # types binary COPY does not carry (numeric over 38 digits, bit(n), text[]): CSV for this table
        cur.execute(
            "CREATE TABLE wide (id INT PRIMARY KEY, d DECIMAL(65,30), e DECIMAL(40,0) UNSIGNED, bt64 BIT(64), "
            "st SET('x','y','z'))"
        )
        cur.executemany("INSERT INTO wide VALUES (%s, %s, %s, %s, %s)", WIDE)


def _rows(pg_conn: psycopg.Connection[Any], schema: str, table: str = "t") -> list[tuple[Any, ...]]:
    return pg_conn.execute(f'SELECT * FROM "{schema}"."{table}" ORDER BY 1').fetchall()


def _types(pg_conn: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    return pg_conn.execute(
        "SELECT table_name, column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns "
        "WHERE table_schema = %s ORDER BY table_name, ordinal_position",
        (schema,),
    ).fetchall()


def _migrate(run_cli: Any, mysql_url: str, pg_url: str, schema: str, *args: str, env: Any = None) -> Any:
    return run_cli("migrate", mysql_url, f"{pg_url}?schema={schema}", "--stats", *args, env=env)


def _policies(report: Path) -> dict[str, Any]:
    return {t["name"]: (t["policies"], t["rejected_rows"]) for t in json.loads(report.read_text())["tables"]}


@pytest.mark.parametrize("zero_dates", ["null", "error"])
def test_fast_path_applies_the_value_policies_as_the_slow_path(
    mysql_conn: pymysql.connections.Connection,
    mysql_url: str,
    pg_url: str,
    pg_conn: Any,
    run_cli: Any,
    tmp_path: Path,
    zero_dates: str,
) -> None:
    _make_source(mysql_conn)
    with mysql_conn.cursor() as cur:  # a NUL byte PostgreSQL cannot store: the row is rejected
        cur.execute("UPDATE t SET vc = 'a\\0b' WHERE id = 2")
    runs = {}
    for schema, env in (("slow", SLOW), ("fast", None)):
        report = tmp_path / f"{schema}.json"
        result = _migrate(run_cli, mysql_url, pg_url, schema, "--zero-dates", zero_dates, "--report", report, env=env)
        assert result.exit_code == 1, result.output  # rows were rejected: the run says so
        rejected = tmp_path / f"{schema}.rejects.jsonl"
        runs[schema] = (_policies(report), sorted(rejected.read_text().splitlines()))
    assert runs["fast"] == runs["slow"]
    policies, lines = runs["fast"]
    if zero_dates == "null":
        assert policies["t"][0]["dt"] == {"zero date -> NULL": 1} and policies["t"][1] == 1  # the NUL row
    else:
        assert policies["t"][1] == 2 and len(lines) >= 2  # the zero-date row and the NUL row
    assert _rows(pg_conn, "fast") == _rows(pg_conn, "slow")


def test_fast_path_writes_the_same_rows_as_the_slow_path(
    mysql_conn: pymysql.connections.Connection, mysql_url: str, pg_url: str, pg_conn: Any, run_cli: Any
) -> None:
    _make_source(mysql_conn)
    slow = _migrate(run_cli, mysql_url, pg_url, "slow", env=SLOW)
    assert slow.exit_code == 0, slow.output
    assert "reader: pymysql" in slow.output and "writer: CSV COPY" in slow.output
    fast = _migrate(run_cli, mysql_url, pg_url, "fast")
    assert fast.exit_code == 0, fast.output  # verification (checksums of both sides) passed too
    assert "reader: connectorx" in fast.output and "writer: CSV COPY, binary COPY (pgpq)" in fast.output

    assert _types(pg_conn, "fast") == _types(pg_conn, "slow")
    fast_rows, slow_rows = _rows(pg_conn, "fast"), _rows(pg_conn, "slow")
    assert fast_rows == slow_rows
    assert _rows(pg_conn, "fast", "wide") == _rows(pg_conn, "slow", "wide")
    wide = _rows(pg_conn, "fast", "wide")
    assert [r[1] for r in wide] == [None if w[1] is None else Decimal(w[1]) for w in WIDE]
    assert [r[3] for r in wide] == ["1" * 64, "0" * 64, "0" * 63 + "1", None]
    assert [r[4] for r in wide] == [["x", "y", "z"], [], ["y"], None]
    # and the values are the right ones, not merely the same
    by_id = {r[0]: r for r in fast_rows}
    cols = [c[1] for c in _types(pg_conn, "fast") if c[0] == "t"]
    top, low, zero, nulls = (dict(zip(cols, by_id[i], strict=True)) for i in (1, 2, 3, 4))
    assert top["biu"] == 18446744073709551615 and low["bi"] == -9223372036854775808
    assert str(top["d3"]) == "999999999999999999999999999999" and str(low["d4"]) == "-99999999.999999999999"
    assert top["flag"] is True and zero["notflag"] == -1
    assert zero["dt"] is None and zero["dtm"] is None and zero["dtm0"] is None and zero["ts"] is None
    assert str(low["tm"]) == "-35 days, 1:00:01" and str(top["tm0"]) == "34 days, 22:59:59"
    assert str(zero["tm"]) == "-1 day, 23:59:59.500000"
    assert top["bt1"] is True and low["bt1"] is False
    assert bytes(top["vb"]) == bytes(range(256)) and bytes(top["bl"]) == bytes(range(256)) * 4
    assert top["vc"] == UNICODE and top["js"] == {"a": "ü", "b": [1, 2.5, {"c": None}]}
    assert low["en"] == "a"
    assert all(v is None for k, v in nulls.items() if k != "id")


# the source: a geometry column beside plain ones
geometry = mysql_source("""
    CREATE TABLE g (id INT PRIMARY KEY, p POINT, note VARCHAR(10));
    CREATE TABLE odd (id INT PRIMARY KEY, v INT);
    INSERT INTO g VALUES (1, ST_GeomFromText('POINT(1 2)'), 'x'), (2, NULL, NULL);
    INSERT INTO odd VALUES (1, 1);
""")


def test_types_connectorx_cannot_read_fall_back_to_pymysql(
    geometry: None, mysql_url: str, pg_url: str, pg_conn: Any, run_cli: Any
) -> None:
    # geometry is read natively as WKB, a type with no native reading as the text protocol's bytes
    assert mysql_fast.native(_col("p", "point")) and not mysql_fast.native(_col("x", "someday_type"))
    result = run_cli("migrate", mysql_url, pg_url)
    assert result.exit_code == 0, result.output
    assert pg_conn.execute("SELECT id, encode(p, 'hex'), note FROM g ORDER BY id").fetchall() == [
        (1, "0101000000000000000000f03f0000000000000040", "x"),
        (2, None, None),
    ]


def _col(name: str, native: str) -> Any:
    from xfer.core.schema import Column
    from xfer.core.urls import parse
    from xfer.dialects.mysql.dialect import MySQL

    d = MySQL(parse("mysql://u@h/db"))
    return Column(name, native, d.arrow_type(native))


@pytest.mark.parametrize("keys", ["dense", "sparse", "extreme"])
def test_big_tables_are_split_into_key_ranges(
    mysql_conn: pymysql.connections.Connection,
    mysql_url: str,
    pg_url: str,
    pg_conn: Any,
    run_cli: Any,
    keys: str,
    tmp_path: Any,
) -> None:
    n = 20_000
    ids = {
        "dense": "seq",
        "sparse": "seq * seq * 7919",  # gaps growing with the key: splits come from a sample
        "extreme": "IF(seq = 1, 0, IF(seq = 2, 18446744073709551615, seq * 1000000000000))",
    }[keys]
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE big (id BIGINT UNSIGNED PRIMARY KEY, pad VARCHAR(200), n INT)")
        cur.execute(f"INSERT INTO big SELECT {ids}, REPEAT('x', 150), seq FROM seq_1_to_{n}")
        cur.execute("ANALYZE TABLE big")
        cur.fetchall()
    result = run_cli("migrate", mysql_url, pg_url, "--chunk-bytes", "1", "--jobs", "3", "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.output  # counts and checksums verified
    notes = json.loads((tmp_path / "r.json").read_text())["tables"][0]["notes"]
    assert any(re.fullmatch(r"copied in ([3-9]|\d\d) key ranges of id", n) for n in notes), notes
    assert pg_conn.execute("SELECT count(*), count(DISTINCT id), sum(n) FROM big").fetchone() == (
        n,
        n,
        n * (n + 1) // 2,
    )


def test_split_points_are_increasing_and_inside_the_keys() -> None:
    from xfer.core.schema import Column, Table

    t = Table("t", [Column("id", "int", None)], primary_key=["id"], row_estimate=1000)  # type: ignore[arg-type]
    dense = mysql_fast.split_points(lambda sql: [(1, 1000)], t, "id", 4)
    assert dense == [250, 500, 750]
    keys = [(k,) for k in range(1, 1_000_000, 1000)]  # 1000 keys spread over a million
    t.row_estimate = 1000
    sparse = mysql_fast.split_points(lambda sql: [(1, 999_001)] if "MIN" in sql else keys, t, "id", 4)
    assert sparse == sorted(sparse) and len(sparse) == 3 and all(1 <= p < 999_001 for p in sparse)
    assert mysql_fast.range_predicate("id", None, 5, lambda n: n) == "id <= 5"
    assert mysql_fast.range_predicate("id", 5, 9, lambda n: n) == "id > 5 AND id <= 9"
    assert mysql_fast.range_predicate(None, None, None, lambda n: n) is None


# the source: `big`, 5000 rows of ~150 bytes: several 1 MB chunks, read by two workers
big = mysql_source("""
    CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(200));
    INSERT INTO big SELECT seq, REPEAT('x', 150) FROM seq_1_to_5000;
    ANALYZE TABLE big;
""")


def _slow_down_second_chunk(monkeypatch: pytest.MonkeyPatch, during: Any) -> None:
    """Run `during()` when the copy is under way: after the first chunk is read."""
    real = parallel.run_chunk
    calls: list[int] = []
    lock = threading.Lock()

    def wrapped(*args: Any) -> Any:
        with lock:
            calls.append(1)
            first = len(calls) == 1
        stats = real(*args)
        if first:
            during()
        return stats

    monkeypatch.setattr(parallel, "run_chunk", wrapped)


MigrateWhile = Callable[..., Result]


@pytest.fixture
def migrate_while(
    big: None, mysql_url: str, pg_url: str, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> MigrateWhile:
    """`migrate_while(during, *flags)` migrates `big` in 1 MB chunks with two workers and runs
    `during()` once the copy is under way."""

    def run(during: Callable[[], None], *flags: str) -> Result:
        _slow_down_second_chunk(monkeypatch, during)
        return run_cli("migrate", mysql_url, pg_url, "--chunk-bytes", "1", "--jobs", "2", *flags)

    return run


def test_snapshot_mode_copies_one_point_in_time(
    migrate_while: MigrateWhile, mysql_conn: MyConn, pg_conn: PgConn
) -> None:
    def write_meanwhile() -> None:  # the source stays writable in snapshot mode
        with mysql_conn.cursor() as cur:
            cur.execute("SET SESSION lock_wait_timeout = 5")
            cur.execute("UPDATE big SET pad = 'changed' WHERE id IN (1, 5000)")
            cur.execute("INSERT INTO big VALUES (6000, 'new')")

    result = migrate_while(write_meanwhile, "--consistency", "snapshot", "--no-verify")
    assert result.exit_code == 0, result.output
    # every chunk saw the table as it was when the copy started, whichever worker read it
    assert pg_conn.execute("SELECT count(*), count(*) FILTER (WHERE pad = 'changed') FROM big").fetchone() == (5000, 0)


def test_lock_mode_holds_writes_until_the_rows_are_read(
    migrate_while: MigrateWhile, mysql_conn: MyConn, pg_conn: PgConn
) -> None:
    refused: list[str] = []

    def write_meanwhile() -> None:
        with mysql_conn.cursor() as cur:
            cur.execute("SET SESSION lock_wait_timeout = 1")
            try:
                cur.execute("UPDATE big SET pad = 'changed' WHERE id = 1")
            except pymysql.err.OperationalError as exc:
                refused.append(str(exc.args[0]))

    result = migrate_while(write_meanwhile)
    assert result.exit_code == 0, result.output
    assert refused == ["1205"]  # lock wait timeout: the table was locked against writes
    assert pg_conn.execute("SELECT count(*) FILTER (WHERE pad = 'changed') FROM big").fetchone() == (0,)
    with mysql_conn.cursor() as cur:  # and released afterwards
        cur.execute("UPDATE big SET pad = 'changed' WHERE id = 1")


# the source: an empty table and one without a key
empty_and_keyless = mysql_source("""
    CREATE TABLE empty_t (id INT PRIMARY KEY, v DATE);
    CREATE TABLE keyless (a INT, b VARCHAR(5));
    INSERT INTO keyless VALUES (1, 'x'), (1, 'x'), (NULL, NULL);
""")


def test_empty_and_keyless_tables(
    empty_and_keyless: None, mysql_url: str, pg_url: str, pg_conn: Any, run_cli: Any
) -> None:
    result = run_cli("migrate", mysql_url, pg_url, "--chunk-bytes", "1")
    assert result.exit_code == 0, result.output
    assert pg_conn.execute("SELECT count(*) FROM empty_t").fetchone() == (0,)
    assert pg_conn.execute("SELECT a, b FROM keyless ORDER BY a NULLS LAST").fetchall() == [
        (1, "x"),
        (1, "x"),
        (None, None),
    ]


def test_stats_report_the_stages(
    mysql_conn: pymysql.connections.Connection, mysql_url: str, pg_url: str, run_cli: Any, tmp_path: Any
) -> None:
    _make_source(mysql_conn, ROWS[:2])
    out = tmp_path / "r.json"
    result = run_cli("migrate", mysql_url, pg_url, "--stats", "--report", out)
    assert result.exit_code == 0, result.output
    assert "phase (wall seconds): create" in result.output and "index" in result.output
    assert "stage (seconds, all workers): read" in result.output
    report = json.loads(out.read_text())
    assert set(report["phases"]) == {"create", "copy", "index", "verify"}
    assert {"read", "transform", "write", "checksum", "index"} <= set(report["stages"])
    assert set(report["tables"][0]["stages"]) >= {"read", "write"}


def test_a_chunk_task_is_self_contained(
    mysql_conn: pymysql.connections.Connection, mysql_url: str, pg_url: str, pg_conn: Any, run_cli: Any
) -> None:
    """A task pickles, and runs on connections of its own (as it would on another machine)."""
    import pickle

    from xfer.core.options import Options
    from xfer.dialects.connect import open_source, open_target
    from xfer.planning.make import make_plan

    _make_source(mysql_conn, ROWS)
    assert run_cli("migrate", mysql_url, pg_url, "--schema-only", "-t", "t").exit_code == 0
    import contextlib

    with contextlib.ExitStack() as stack:
        source, target = open_source(mysql_url, stack), open_target(pg_url, stack)
        the_plan = make_plan(source, target, Options.build(tables=("t",)))
        tasks = parallel.make_tasks(source, target, the_plan, Options(), "connectorx")
    (task,) = tasks  # a small table: one chunk
    stats = parallel.run_task(pickle.loads(pickle.dumps(task)))
    assert (stats.rows, stats.reader, stats.checksum.total.rows) == (len(ROWS), "connectorx", len(ROWS))
    assert pg_conn.execute("SELECT count(*), max(biu) FROM t").fetchone() == (4, 18446744073709551615)


def _limited_user(mysql_conn: pymysql.connections.Connection, mysql_url: str, grants: str) -> Iterator[str]:
    """A MySQL user with only `grants` on the test database; yields its URL."""
    import uuid

    from sqlalchemy.engine import make_url

    url = make_url(mysql_url)
    user = f"xfer_u_{uuid.uuid4().hex[:8]}"
    with mysql_conn.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'")
        cur.execute(f"GRANT {grants} ON `{url.database}`.* TO '{user}'@'%'")
    try:
        yield url.set(username=user, password="pw").render_as_string(hide_password=False)
    finally:
        with mysql_conn.cursor() as cur:
            cur.execute(f"DROP USER '{user}'@'%'")


@pytest.fixture
def select_only_url(mysql_conn: pymysql.connections.Connection, mysql_url: str) -> Iterator[str]:
    yield from _limited_user(mysql_conn, mysql_url, "SELECT")


def test_without_lock_privileges_lock_mode_says_what_to_do(
    mysql_conn: pymysql.connections.Connection,
    select_only_url: str,
    pg_url: str,
    pg_conn: Any,
    run_cli: Any,
    tmp_path: Path,
) -> None:
    _make_source(mysql_conn, ROWS[:1])  # two tables: t and wide
    result = run_cli("migrate", select_only_url, pg_url)
    assert result.exit_code == 1
    assert "error: --consistency lock: MySQL refused:" in result.output
    assert "hint: nothing was copied; --consistency snapshot needs other privileges" in result.output
    assert ":pw@" not in result.output
    # snapshot mode needs no LOCK TABLES; without RELOAD the workers' snapshots cannot be lined
    # up and the report says so; with one worker there is one snapshot and nothing to say
    two = run_cli(
        "migrate", select_only_url, pg_url, "--consistency", "snapshot", "--if-exists", "replace",
        "--report", tmp_path / "two.json",
    )  # fmt: skip
    assert two.exit_code == 0, two.output
    notes = json.loads((tmp_path / "two.json").read_text())["notes"]
    assert any(n.startswith("snapshots not aligned across workers") for n in notes), notes
    one = run_cli(
        "migrate", select_only_url, pg_url, "--consistency", "snapshot", "--jobs", "1", "--if-exists", "replace",
        "--report", tmp_path / "one.json",
    )  # fmt: skip
    assert one.exit_code == 0, one.output
    assert not any("not aligned" in n for n in json.loads((tmp_path / "one.json").read_text())["notes"])
    assert pg_conn.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_zero_dates_are_counted_without_their_text_on_the_fast_path(
    mysql_conn: pymysql.connections.Connection, mysql_url: str, pg_url: str, pg_conn: Any, run_cli: Any, tmp_path: Path
) -> None:
    """--zero-dates null reads only `x IS NULL` beside a nullable temporal column (and nothing
    beside a NOT NULL one): a NULL read back is a zero date unless the source was NULL. The
    counts, the rows and the slow path's agree."""
    with mysql_conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute("CREATE TABLE z (id INT PRIMARY KEY, nn DATETIME NOT NULL, n DATE NULL, ts TIMESTAMP NULL)")
        cur.executemany(
            "INSERT INTO z VALUES (%s, %s, %s, %s)",
            [
                (1, "0000-00-00 00:00:00", None, "2020-01-01 00:00:00"),
                (2, "2020-05-06 07:08:09", "0000-00-00", None),
                (3, "2020-00-15 00:00:00", "2021-00-01", "0000-00-00 00:00:00"),
                (4, "2021-02-03 04:05:06", "2021-02-03", "2021-02-03 04:05:06"),
                (5, "2021-02-03 04:05:06", None, None),
            ],
        )
    runs = {}
    for schema, env in (("slow", SLOW), ("fast", None)):
        report = tmp_path / f"{schema}.json"
        result = _migrate(run_cli, mysql_url, pg_url, schema, "-t", "z", "--report", report, env=env)
        assert result.exit_code == 1, result.output  # NOT NULL nn cannot take the NULLs: 2 rows refused
        runs[schema] = (_policies(report)["z"], _rows(pg_conn, schema, "z"))
    assert runs["fast"] == runs["slow"]
    policies, rows = runs["fast"]
    counts = {"nn": {"zero date -> NULL": 2}, "n": {"zero date -> NULL": 2}, "ts": {"zero date -> NULL": 1}}
    assert policies == (counts, 2)  # the two rows whose NOT NULL nn became NULL were refused
    assert [r[0] for r in rows] == [2, 4, 5] and [r[2] for r in rows] == [None, date(2021, 2, 3), None]


def test_verify_without_lock_privileges_says_what_to_do(
    mysql_conn: pymysql.connections.Connection, mysql_url: str, select_only_url: str, pg_url: str, run_cli: Any
) -> None:
    """verify's --consistency lock needs LOCK TABLES like migrate's: refused, it says to use
    snapshot (which needs none), and that works; so does live, the default."""
    _make_source(mysql_conn, ROWS[:2])
    assert run_cli("migrate", mysql_url, pg_url, "-q").exit_code == 0
    assert run_cli("verify", select_only_url, pg_url).exit_code == 0
    result = run_cli("verify", select_only_url, pg_url, "--consistency", "lock")
    assert result.exit_code == 1
    assert "error: MySQL: could not lock the source tables for reading:" in result.output
    assert "hint: use --consistency snapshot" in result.output and ":pw@" not in result.output
    assert "Traceback" not in result.output
    assert run_cli("verify", select_only_url, pg_url, "--consistency", "snapshot").exit_code == 0

"""MySQL/MariaDB -> PostgreSQL with every value intact: the all-types fixture is migrated, then
both sides are read *independently of xfer* (plain pymysql and psycopg) and compared value by
value under the declared policies."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import re
import struct
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
import pytest
from sqlalchemy.engine import make_url
from sqlfile import run_sql_file  # noqa: I001

ZERO_DATE_ROWS = {8, 9}


def _mysql_rows(mysql_url: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The source as pymysql's own converters read it (UTC session), FLOAT at full precision
    and geometry as MySQL's internal value (4-byte SRID + WKB)."""
    u = make_url(mysql_url)
    conn = pymysql.connect(
        host=u.host, port=u.port or 3306, user=u.username, password=u.password or "", database=u.database,
        charset="utf8mb4", init_command="SET time_zone = '+00:00'",
    )  # fmt: skip
    with contextlib.closing(conn), conn.cursor() as cur:
        cur.execute("SELECT * FROM all_types LIMIT 0")
        names = [d[0] for d in cur.description]
        cols = ", ".join("CAST(f AS DOUBLE) AS f" if n == "f" else f"`{n}`" for n in names)
        cur.execute(f"SELECT {cols} FROM all_types ORDER BY id")
        return names, list(cur.fetchall())


def _f32(x: float | None) -> float | None:
    return None if x is None else struct.unpack("f", struct.pack("f", x))[0]


def _expected(name: str, v: Any) -> Any:
    """What PostgreSQL must hold for MySQL value `v` of column `name`, as psycopg reads it."""
    if v is None:
        return None
    if name in ("dt", "dtm", "dtm6", "ts", "ts3") and isinstance(v, str):
        return None  # a zero/partial date (pymysql cannot parse it): NULL by the default policy
    if name in ("ts", "ts3"):
        return v.replace(tzinfo=dt.UTC)
    if name == "flag":
        return bool(v)
    if name == "b1":
        return bool(int.from_bytes(v, "big"))
    if name == "b5":
        return format(int.from_bytes(v, "big"), "05b")
    if name == "b64":
        return format(int.from_bytes(v, "big"), "064b")
    if name == "f":
        return _f32(v)
    if name == "s":
        return v.split(",") if v else []
    if name == "j":
        return json.loads(v)
    if name in ("g", "pt", "ls", "pg", "mpt", "mls", "mpg", "gc"):
        return v[4:]  # WKB without MySQL's SRID prefix
    if name == "ip6":
        return ipaddress.ip_address(v)
    return v


def _actual(name: str, v: Any) -> Any:
    if v is None:
        return None
    if name == "f":
        return _f32(v)
    if name == "c":
        return v.rstrip(" ")  # char(n) pads; MySQL strips trailing spaces on read
    if name == "u":
        return str(v)
    if isinstance(v, memoryview):
        return bytes(v)
    return v


def test_all_types_migrate_and_read_back_equal(mysql_url, mysql_conn, pg_url, pg_conn, run_cli, tmp_path) -> None:
    run_sql_file(mysql_conn, "all_types.sql")
    report = tmp_path / "report.json"
    result = run_cli("migrate", mysql_url, pg_url, "--report", report, "-q")
    assert result.exit_code == 0, result.output

    names, source = _mysql_rows(mysql_url)
    cur = pg_conn.execute(f"SELECT {', '.join(names)} FROM all_types ORDER BY id")
    target = cur.fetchall()
    assert len(target) == len(source) == 9
    differences = []
    for srow, trow in zip(source, target, strict=True):
        for name, sv, tv in zip(names, srow, trow, strict=True):
            want, got = _expected(name, sv), _actual(name, tv)
            if want != got:
                differences.append(f"id {srow[0]} {name}: source {sv!r} -> expected {want!r}, target {got!r}")
    assert differences == []

    # the values policies changed are counted per column in the report
    tables = {t["name"]: t for t in json.loads(report.read_text())["tables"]}
    assert tables["all_types"]["policies"] == {
        "dt": {"zero date -> NULL": 2},
        "dtm": {"zero date -> NULL": 2},
        "dtm6": {"zero date -> NULL": 2},
        "ts": {"zero date -> NULL": 1},
        "ts3": {"zero date -> NULL": 1},
    }
    # the identity goes on after the copied maximum
    assert pg_conn.execute("INSERT INTO all_types DEFAULT VALUES RETURNING id").fetchone() == (10,)


def test_extremes_are_really_in_the_fixture(mysql_conn) -> None:
    """Guard against a fixture that quietly lost its edge values (e.g. to a sql_mode)."""
    run_sql_file(mysql_conn, "all_types.sql")
    with mysql_conn.cursor() as cur:
        cur.execute(
            "SELECT bi_u, d_max, CAST(tm AS CHAR), yr, LENGTH(lb), HEX(bn), CHAR_LENGTH(tt), e, s, dt IS NULL "
            "FROM all_types WHERE id IN (1, 2, 8) ORDER BY id"
        )
        first, second, zero = cur.fetchall()
        assert first[0] == 18446744073709551615
        assert first[1] == Decimal("99999999999999999999999999999999999.999999999999999999999999999999")
        assert (first[2], second[2]) == ("838:59:59", "-838:59:59")
        assert (first[3], second[3]) == (2155, 1901)
        assert first[6] == 6  # 'tiny 🚀': a 4-byte character
        assert zero[9] == 0  # the zero date is stored, not NULL
        cur.execute("SELECT HEX(bl) FROM all_types WHERE id = 1")
        cur.execute("CREATE TABLE bytes_all (id INT PRIMARY KEY, b BLOB)")
        cur.execute("INSERT INTO bytes_all VALUES (1, %s)", (bytes(range(256)),))


def test_every_byte_value_in_a_blob(mysql_url, mysql_conn, pg_url, pg_conn, run_cli) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE bytes_all (id INT PRIMARY KEY, b LONGBLOB, vb VARBINARY(600))")
        cur.execute("INSERT INTO bytes_all VALUES (1, %s, %s), (2, %s, %s), (3, NULL, '')",
                    (bytes(range(256)), bytes(range(255, -1, -1)) * 2, b"\x00" * 1000, b"\\\x00'\""))  # fmt: skip
    assert run_cli("migrate", mysql_url, pg_url, "-q").exit_code == 0
    rows = pg_conn.execute("SELECT id, b, vb FROM bytes_all ORDER BY id").fetchall()
    assert [(i, b and bytes(b), vb and bytes(vb)) for i, b, vb in rows] == [
        (1, bytes(range(256)), bytes(range(255, -1, -1)) * 2),
        (2, b"\x00" * 1000, b"\\\x00'\""),
        (3, None, b""),
    ]


def test_zero_dates_error_rejects_the_rows_and_names_the_file(
    mysql_url, mysql_conn, pg_url, pg_conn, run_cli, tmp_path
) -> None:
    run_sql_file(mysql_conn, "all_types.sql")
    rejects = tmp_path / "rejects.jsonl"
    result = run_cli("migrate", mysql_url, pg_url, "--zero-dates", "error", "--reject-file", rejects)
    assert result.exit_code == 1
    assert "2 row(s) rejected (all_types)" in result.output and str(rejects) in result.output
    lines = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert {(r["key"]["id"], r["column"]) for r in lines} == {
        (8, "dt"), (8, "dtm"), (8, "dtm6"), (8, "ts"), (8, "ts3"), (9, "dt"), (9, "dtm"), (9, "dtm6")
    }  # fmt: skip
    assert lines[0] == {
        "table": "all_types",
        "key": {"id": 8},
        "column": "dt",
        "value": "0000-00-00",
        "reason": "zero date (--zero-dates error)",
    }
    # the rest of the table is there, and nothing was invented for the rejected rows
    ids = [r[0] for r in pg_conn.execute("SELECT id FROM all_types ORDER BY id").fetchall()]
    assert ids == [1, 2, 3, 4, 5, 6, 7]


def _nul_table(mysql_conn: Any) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE notes (id INT PRIMARY KEY, body TEXT, tags SET('a','b'), raw BLOB)")
        cur.execute(
            "INSERT INTO notes VALUES (1, 'clean', 'a', X'00'), (2, CONCAT('nul', CHAR(0), 'inside'), 'a,b', NULL), "
            "(3, CONCAT(CHAR(0), CHAR(0)), '', X'0000'), (4, NULL, NULL, NULL)"
        )


def test_nul_bytes_reject_the_row_by_default(mysql_url, mysql_conn, pg_url, pg_conn, run_cli, tmp_path) -> None:
    _nul_table(mysql_conn)
    report = tmp_path / "run.json"
    result = run_cli("migrate", mysql_url, pg_url, "-q", "--report", report)
    assert result.exit_code == 1
    rejects = tmp_path / "run.rejects.jsonl"  # next to the report by default
    assert str(rejects) in result.output
    lines = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert [(r["key"], r["column"], r["value"]) for r in lines] == [
        ({"id": 2}, "body", "nul\x00inside"),
        ({"id": 3}, "body", "\x00\x00"),
    ]
    assert pg_conn.execute("SELECT id, raw FROM notes ORDER BY id").fetchall() == [
        (1, b"\x00"),
        (4, None),
    ]  # bytea keeps NUL bytes: only text is concerned
    summary = json.loads(report.read_text())
    assert summary["status"] == "rejected" and summary["totals"]["rejected_rows"] == 2


def test_nul_bytes_strip_is_counted(mysql_url, mysql_conn, pg_url, pg_conn, run_cli, tmp_path) -> None:
    _nul_table(mysql_conn)
    report = tmp_path / "run.json"
    result = run_cli("migrate", mysql_url, pg_url, "--nul-bytes", "strip", "--report", report)
    assert result.exit_code == 0, result.output
    assert "notes.body: 2 value(s): NUL bytes stripped" in result.output
    rows = pg_conn.execute("SELECT id, body FROM notes ORDER BY id").fetchall()
    assert rows == [(1, "clean"), (2, "nulinside"), (3, ""), (4, None)]
    assert json.loads(report.read_text())["tables"][0]["policies"] == {"body": {"NUL bytes stripped": 2}}


def test_a_row_postgres_refuses_is_isolated_and_the_rest_is_copied(
    mysql_url, mysql_conn, pg_url, pg_conn, run_cli, tmp_path
) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE docs (id INT PRIMARY KEY, doc JSON)")
        rows = [(i, json.dumps({"n": i})) for i in range(1, 41)]
        rows[16] = (17, '{"bad": "\\u0000"}')  # valid JSON; jsonb cannot hold \u0000
        cur.executemany("INSERT INTO docs VALUES (%s, %s)", rows)
    rejects = tmp_path / "r.jsonl"
    result = run_cli("migrate", mysql_url, pg_url, "--batch-size", "16", "--reject-file", rejects, "-q")
    assert result.exit_code == 1
    assert "1 row(s) rejected (docs)" in result.output
    (line,) = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert line["table"] == "docs" and line["key"] == {"id": 17} and line["column"] == "doc"
    assert line["value"] == '{"bad": "\\u0000"}' and "\\u0000" in line["reason"]
    ids = [r[0] for r in pg_conn.execute("SELECT id FROM docs ORDER BY id").fetchall()]
    assert ids == [i for i in range(1, 41) if i != 17]


def test_tinyint1_with_other_values_stays_an_integer_and_plan_says_why(mysql_url, mysql_conn, pg_url, run_cli) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE flags (id INT PRIMARY KEY, yes_no TINYINT(1), level TINYINT(1), odd TINYINT(1))")
        cur.execute("INSERT INTO flags VALUES (1, 1, 2, NULL), (2, 0, -1, NULL), (3, NULL, 0, NULL)")
    out = run_cli("plan", mysql_url, pg_url).output
    assert "yes_no  tinyint(1) -> boolean" in out
    assert "level   tinyint(1) -> smallint" in out
    assert "tinyint(1) holding values other than 0/1 -> kept an integer" in out
    assert "tinyint(1) holding only 0/1/NULL -> boolean" in out


def test_plan_shows_types_decisions_policies_and_views(mysql_url, mysql_conn, pg_url, run_cli) -> None:
    run_sql_file(mysql_conn, "all_types.sql")
    result = run_cli("plan", mysql_url, pg_url)
    assert result.exit_code == 0
    out = result.output
    for line in (
        "bi_u         bigint(20) unsigned -> numeric(20,0)",
        "i_u          int(10) unsigned -> bigint",
        "f            float -> real",
        "dtm6         datetime(6) -> timestamp(6)",
        "ts3          timestamp(3) -> timestamptz(3)",
        "tm           time -> interval",
        "yr           year(4) -> smallint",
        "b5           bit(5) -> bit(5)",
        "s            set('a','b','c d','é') -> text[]",
        "j            json -> jsonb",
        "pt           point -> bytea",
        "zero/partial dates -> NULL (counted)",
        "longtext with CHECK (json_valid(...)): MariaDB's JSON",
        "latin1 decoded as cp1252",
        "enum labels kept by a CHECK constraint",
    ):
        assert line in out, line
    assert "GENERATED BY DEFAULT AS IDENTITY" in out


def test_enum_native_option(mysql_url, mysql_conn, pg_url, pg_conn, run_cli) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, mood ENUM('sad','ok','happy') NOT NULL DEFAULT 'ok')")
        cur.execute("INSERT INTO t VALUES (1, 'sad'), (2, 'happy')")
    assert run_cli("migrate", mysql_url, pg_url, "--enum", "native", "-q").exit_code == 0
    labels = pg_conn.execute("SELECT enum_range(NULL::t_mood)::text").fetchone()
    assert labels == ("{sad,ok,happy}",)
    assert pg_conn.execute("INSERT INTO t (id) VALUES (3) RETURNING mood::text").fetchone() == ("ok",)
    with pytest.raises(Exception, match="invalid input value for enum"):
        pg_conn.execute("INSERT INTO t VALUES (4, 'angry')")


def test_fixture_files_exist() -> None:
    here = Path(__file__).parent / "fixtures"
    assert (here / "all_types.sql").exists() and (here / "sakila_like.sql").exists()


def test_table_without_primary_key_copies_duplicates_and_rejects_by_whole_row(
    mysql_url, mysql_conn, pg_url, pg_conn, run_cli, tmp_path
) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE log (at DATETIME, msg VARCHAR(20))")
        cur.execute(
            "INSERT INTO log VALUES ('2024-01-01 00:00:00', 'twice'), ('2024-01-01 00:00:00', 'twice'), "
            "(NULL, NULL), ('2024-01-02 00:00:00', CONCAT('bad', CHAR(0)))"
        )
    rejects = tmp_path / "r.jsonl"
    result = run_cli("migrate", mysql_url, pg_url, "--reject-file", rejects)
    assert result.exit_code == 1 and "1 row(s) rejected (log)" in result.output
    assert re.search(r"^log +3 .* ok", result.output, re.M)  # verified: both identical rows are there
    (line,) = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert line["key"] == {"at": "2024-01-02T00:00:00", "msg": "bad\x00"}
    assert pg_conn.execute("SELECT count(*) FROM log WHERE msg = 'twice'").fetchone() == (2,)


def test_generated_column_postgres_refuses_becomes_a_plain_column(
    mysql_url, mysql_conn, pg_url, pg_conn, run_cli, tmp_path
) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE ev (id INT PRIMARY KEY, d DATE, yr VARCHAR(20) AS (CONCAT('#', d)) STORED, "
            "twice INT AS (id * 2) VIRTUAL)"
        )
        cur.execute("INSERT INTO ev (id, d) VALUES (1, '2024-05-06'), (2, NULL)")
    report = tmp_path / "r.json"
    result = run_cli("migrate", mysql_url, pg_url, "--report", report)
    assert result.exit_code == 0, result.output
    (table,) = json.loads(report.read_text())["tables"]
    assert any("created as plain columns" in n and "yr" in n for n in table["notes"])
    assert pg_conn.execute("SELECT id, yr, twice FROM ev ORDER BY id").fetchall() == [
        (1, "#2024-05-06", 2),
        (2, None, 4),
    ]

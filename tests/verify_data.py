"""A rich MariaDB table set for the verification tests: every type family with its extremes,
NULLs, unicode, trailing spaces, zero dates; 3,000 generated rows so that there are many
buckets; a table without a key, one with a composite text key, one with an unsigned key
beyond 2**63 and one with negative keys."""

from __future__ import annotations

from typing import Any

RICH_DDL = """
CREATE TABLE rich (
  id INT PRIMARY KEY,
  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED, mi MEDIUMINT, iu INT UNSIGNED,
  bi BIGINT, bu BIGINT UNSIGNED, flag TINYINT(1),
  d1 DECIMAL(10,2), d2 DECIMAL(38,10), d3 DECIMAL(65,30),
  f FLOAT, g DOUBLE,
  dt DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, dd DATE, tm TIME(6), yr YEAR,
  vc VARCHAR(50), ch CHAR(5), tx TEXT, l1 VARCHAR(20) CHARACTER SET latin1,
  bn BINARY(4), vb VARBINARY(20), bl BLOB,
  js JSON, en ENUM('a','b','c'), st SET('x','y'), bt BIT(1)
)"""

# id, ints..., flag, decimals, floats, temporals, texts, binaries, json, enum, set, bit
RICH_ROWS: list[tuple[Any, ...]] = [
    (1, -128, 255, -32768, 65535, -8388608, 4294967295, -(2**63), 2**64 - 1, 1,
     "-99999999.99", "0.0000000001", "-12345678901234567890123456789012345.123456789012345678901234567890",
     3.40282e38, 1.7976931348623157e308,
     "1000-01-01 00:00:00.000000", "1970-01-01 00:00:01.000000", "1000-01-01", "-838:59:59.000000", 1901,
     "Zoë O'Brien — 山田 🚀", "ab", "trailing  ", "café", b"\0\0\0\0", b"\0\xff", b"\0\1\2\xff",
     '{"b": 1, "a": [1, 2.50, {"x": null}], "s": "é\\u00e9"}', "a", "x,y", b"\1"),
    (2, 127, 0, 32767, 0, 8388607, 0, 2**63 - 1, 0, 0,
     "99999999.99", "-1234567890123456789012345678.0123456789", "0",
     -1.17549e-38, 2.2250738585072014e-308,
     "9999-12-31 23:59:59.999999", "2038-01-19 03:14:07.999999", "9999-12-31", "838:59:59.000000", 2155,
     "", "abcde", "", "", b"\xff", b"", b"", "[]", "c", "", b"\0"),
    (3, 0, 1, 0, 1, 0, 1, 0, 1, 1, "0", "0", "0.000000000000000000000000000001", 0.1, 0.1,
     "2024-02-29 12:34:56.789012", "2024-02-29 12:34:56.789012", "0000-00-00", "-00:00:00.500000", 0,
     "ab  ", "x", "line1\nline2\ttab", None, b"\x7f\0\0\1", b"\0", None,
     '{"k": 1.0, "big": 123456789012345678901234567890, "e": 1e2}', "b", "y", None),
    (4,) + (None,) * 30,
    (5, 1, 2, 3, 4, 5, 6, 7, 8, 0, "1.5", "1.5", "1.5", -0.333333, 1 / 3,
     "1969-12-31 23:59:59.999999", "2000-01-01 00:00:00", "1969-12-31", "00:00:00.000001", 2000,
     "N", "N", "N:", "N", b"N", b"N", b"N", '"N"', "a", "x", b"\0"),
    (6, 1, 2, 3, 4, 5, 6, 7, 8, 1, "1.5", "1.5", "1.5", 123456.7, -5e-324,
     "2001-01-01 00:00:00", "2001-01-01 00:00:00", "2001-01-01", "12:00:00", 2001,
     "1:N", "", "0:", "ÿ", b"\0", b"\1", b"\2", '{"a": {"c": 1, "b": [true, false, null]}}', "a", "x", b"\1"),
]  # fmt: skip

# 3,000 more rows, ids 1000..3999, every column filled by a formula of the id
RICH_GENERATED = """
INSERT INTO rich SELECT seq, seq % 128, seq % 256, seq, seq, seq * 7, seq * 1000003, seq * 1000000007,
  seq * 4294967311, seq % 2, seq / 7, seq / 3, seq / 11, seq / 3, seq / 7,
  '2020-01-01' + INTERVAL seq SECOND + INTERVAL seq MICROSECOND,
  '2020-01-01' + INTERVAL seq MINUTE, '2020-01-01' + INTERVAL seq DAY, SEC_TO_TIME(seq),
  1901 + seq % 255, CONCAT('v', seq, REPEAT(' ', seq % 3)), CONCAT('c', seq % 100),
  IF(seq % 5 = 0, NULL, REPEAT('t', seq % 40)), CONCAT('é', seq), UNHEX(LPAD(HEX(seq), 8, '0')),
  UNHEX(LPAD(HEX(seq), 6, '0')), REPEAT(UNHEX('00FF'), seq % 5),
  IF(seq % 3 = 0, NULL, CONCAT('{"n": ', seq, ', "tags": ["a", "b"], "f": ', seq / 4, '}')),
  ELT(1 + seq % 3, 'a', 'b', 'c'), ELT(1 + seq % 3, 'x', 'y', 'x,y'), seq % 2
FROM seq_1000_to_3999"""

OTHER_DDL = [
    "CREATE TABLE keyless (a INT, b VARCHAR(10), c DOUBLE)",
    "INSERT INTO keyless VALUES (1, 'x', 0.5), (1, 'x', 0.5), (2, NULL, NULL), (3, 'y  ', -1e-300)",
    "CREATE TABLE textkey (code VARCHAR(20) NOT NULL, region CHAR(2) NOT NULL, qty INT, "
    "PRIMARY KEY (code, region)) COLLATE utf8mb4_bin",
    "INSERT INTO textkey VALUES ('a', 'EU', 1), ('A', 'EU', 2), ('b', 'US', 3), ('é', 'EU', 4), "
    "('ß', 'DE', 5), ('ss', 'DE', 6)",
    "INSERT INTO textkey SELECT CONCAT('k', seq), 'XX', seq FROM seq_1_to_2500",
    "CREATE TABLE ubig (id BIGINT UNSIGNED PRIMARY KEY, v VARCHAR(10))",
    "INSERT INTO ubig VALUES (0, 'zero'), (1, 'one'), (9223372036854775808, 'mid'), (18446744073709551615, 'max')",
    "CREATE TABLE negkey (id BIGINT PRIMARY KEY, v INT)",
    "INSERT INTO negkey VALUES (-9223372036854775808, 1), (-1001, 2), (-1000, 3), (-1, 4), (0, 5), (999, 6), "
    "(1000, 7), (9223372036854775807, 8)",
]


def build(conn: Any) -> None:
    """Create and fill the tables in the (empty) MariaDB database of `conn`."""
    with conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")  # zero dates, as old applications left them
        cur.execute(RICH_DDL)
        marks = ", ".join(["%s"] * 31)
        cur.executemany(f"INSERT INTO rich VALUES ({marks})", RICH_ROWS)
        cur.execute(RICH_GENERATED)
        for sql in OTHER_DDL:
            cur.execute(sql)
        # fresh statistics: InnoDB recalculates a table's at most every 10 s, so right after the
        # inserts its row estimate can still be the first 6 rows' (the buckets are sized by it)
        cur.execute("ANALYZE TABLE rich, keyless, textkey, ubig, negkey")
        cur.fetchall()

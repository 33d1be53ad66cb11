"""The benchmark table: 12 mixed-type columns, N deterministic rows, generated inside MariaDB.

Rows come from MariaDB's SEQUENCE engine (`seq_1_to_N`) with `INSERT … SELECT`, so 2,000,000
rows take seconds, not the minutes a client-side generator would. Every value is a function of
the row number alone: the same N gives the same table, byte for byte, on every run. A table
whose comment carries the same generator version and N is reused instead of rebuilt.
"""

from __future__ import annotations

import contextlib
from typing import Any

TABLE = "bench"
VERSION = 1  # bump when the generator changes: an old table is then rebuilt
CHUNK = 500_000  # rows per INSERT … SELECT (keeps each transaction's undo log moderate)

DDL = f"""
CREATE TABLE {TABLE} (
  id BIGINT UNSIGNED NOT NULL,
  qty INT NOT NULL,
  name VARCHAR(64) NOT NULL,
  note TEXT NULL,
  price DECIMAL(12,2) NOT NULL,
  small SMALLINT NOT NULL,
  score DOUBLE NULL,
  active TINYINT(1) NOT NULL,
  status ENUM('new','paid','shipped','cancelled') NOT NULL,
  created_at DATETIME(6) NOT NULL,
  birth DATE NULL,
  attrs JSON NULL,
  PRIMARY KEY (id),
  KEY ix_bench_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""

# One expression per column, in DDL order, of the sequence value `seq` (1..N). Every tenth
# name and note carries non-ASCII text; zero dates ('0000-00-00', NULL after migration) in
# one row of 101, as real MySQL data has them.
COLUMNS = {
    "id": "seq",
    "qty": "CAST((seq * 7919) % 2000001 AS SIGNED) - 1000000",
    "name": "CONCAT('customer ', seq, IF(seq % 10 = 0, ' – Zoë Ångström', ''))",
    "note": "IF(seq % 7 = 0, NULL, CONCAT(IF(seq % 10 = 3, 'Grüße ', 'note '), MD5(seq), ' #', seq % 1000))",
    "price": "((seq * 37) % 10000000) / 100",
    "small": "CAST(seq % 65536 AS SIGNED) - 32768",
    "score": "IF(seq % 11 = 0, NULL, CAST(seq AS DOUBLE) / 7)",
    "active": "seq % 2",
    "status": "ELT(1 + seq % 4, 'new', 'paid', 'shipped', 'cancelled')",
    "created_at": "TIMESTAMP'2020-01-01 00:00:00' + INTERVAL seq * 13 SECOND"
    " + INTERVAL (seq * 7) % 1000000 MICROSECOND",
    "birth": "IF(seq % 13 = 0, NULL, IF(seq % 101 = 0, '0000-00-00', DATE'1950-01-01' + INTERVAL seq % 20000 DAY))",
    "attrs": "IF(seq % 3 = 0, NULL, JSON_OBJECT('k', seq % 100, 'tag', CONCAT('t', seq % 17), 'n', seq))",
}


def table_comment(rows: int) -> str:
    return f"xfer benchmark v{VERSION} rows={rows}"


def ensure_table(conn: Any, rows: int, *, log: Any = print) -> bool:
    """Create (or reuse) the benchmark table with `rows` rows on a pymysql connection to the
    benchmark database. Returns True when it was (re)built."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            (TABLE,),
        )
        found = cur.fetchone()
        if found and found[0] == table_comment(rows):
            return False
        log(f"generating {rows:,} rows in MariaDB table {TABLE} ...")
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cur.execute(DDL)
        # Zero dates need a sql_mode without NO_ZERO_DATE; strict mode stays on otherwise.
        cur.execute("SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'")
        cols = ", ".join(COLUMNS)
        exprs = ", ".join(COLUMNS.values())
        for lo in range(1, rows + 1, CHUNK):
            hi = min(lo + CHUNK - 1, rows)
            cur.execute(f"INSERT INTO {TABLE} ({cols}) SELECT {exprs} FROM seq_{lo}_to_{hi}")
            conn.commit()
        cur.execute(f"ALTER TABLE {TABLE} COMMENT = %s", (table_comment(rows),))
        cur.execute(f"ANALYZE TABLE {TABLE}")
        cur.fetchall()
    return True


def connect(url: Any, database: str | None) -> Any:
    """A pymysql connection from a SQLAlchemy URL, in autocommit mode."""
    import pymysql

    return pymysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        database=database,
        charset="utf8mb4",
        autocommit=True,
    )


def ensure_database(url: Any) -> None:
    with contextlib.closing(connect(url, None)) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{url.database}` CHARACTER SET utf8mb4")

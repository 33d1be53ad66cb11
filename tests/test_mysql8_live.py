"""A live MySQL 8 (testcontainers): caching_sha2_password login, columns without display
widths, native JSON, expression defaults, functional indexes, MySQL 8 collations.

It needs a Docker engine. Without one it is skipped, saying why -- and under ``CI=true`` it
fails, unless ``XFER_TEST_ALLOW_SKIP`` names ``mysql8``: the CI machine runs only MariaDB and has
no Docker engine, so ``.ci/run`` sets ``XFER_TEST_ALLOW_SKIP=mysql8`` and prints it; the skip's
reason then starts ``[allowed skip: mysql8 ...]`` and the run's summary counts it ("allowed
skips (XFER_TEST_ALLOW_SKIP): mysql8: 1 test(s)"). MySQL 8's catalogue shapes are still covered
without Docker by the recorded ``information_schema`` rows of tests/test_mysql_catalogue.py."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pymysql
import pytest
from conftest import _docker_problem, _unavailable

MYSQL8_IMAGE = os.environ.get("XFER_TEST_MYSQL8_IMAGE", "mysql:8.0")

SCHEMA = [
    """CREATE TABLE orders (
         id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
         ref VARCHAR(36) NOT NULL DEFAULT (uuid()),
         doc JSON,
         qty INT NOT NULL DEFAULT 1 CHECK (qty > 0),
         total DECIMAL(12,2) AS (qty * 2.5) STORED,
         name VARCHAR(50) COLLATE utf8mb4_0900_ai_ci,
         made DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
         INDEX ix_lower ((lower(name))),
         INDEX ix_desc (qty DESC)
       )""",
    "INSERT INTO orders (doc, qty, name) VALUES ('{\"a\": [1, 2]}', 2, 'Zoë'), (NULL, 5, NULL)",
]


@pytest.fixture(scope="module")
def mysql8_url() -> Iterator[str]:
    problem = _docker_problem()
    if problem is not None:
        _unavailable(f"live MySQL 8 test needs a Docker engine for testcontainers: {problem}", allow="mysql8")
    try:
        from testcontainers.mysql import MySqlContainer
    except ImportError:  # newer layout
        from testcontainers.community.mysql import MySqlContainer
    with MySqlContainer(MYSQL8_IMAGE, username="xfer", password="xfer-pw", dbname="shop") as container:
        host, port = container.get_container_host_ip(), int(container.get_exposed_port(3306))
        conn = pymysql.connect(host=host, port=port, user="xfer", password="xfer-pw", database="shop")
        with contextlib.closing(conn), conn.cursor() as cur:
            for stmt in SCHEMA:
                cur.execute(stmt)
            conn.commit()
        yield f"mysql://xfer:xfer-pw@{host}:{port}/shop"


def test_mysql8_migrates(mysql8_url: str, pg_url: str, pg_conn, run_cli) -> None:
    result = run_cli("migrate", mysql8_url, pg_url)
    assert result.exit_code == 0, result.output
    rows = pg_conn.execute("SELECT id, doc, qty, total, name FROM orders ORDER BY id").fetchall()
    assert [(r[0], r[1], r[2], str(r[3]), r[4]) for r in rows] == [
        (1, {"a": [1, 2]}, 2, "5.00", "Zoë"),
        (2, None, 5, "12.50", None),
    ]
    new = pg_conn.execute("INSERT INTO orders (qty) VALUES (3) RETURNING id, length(ref), total").fetchone()
    assert (int(new[0]), new[1], str(new[2])) == (3, 36, "7.50")
    indexes = " ".join(r[0] for r in pg_conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'orders'"))
    assert "lower((name)::text)" in indexes and "qty DESC" in indexes

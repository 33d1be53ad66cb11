"""Connection faults while copying: the PostgreSQL backends are terminated and the MariaDB
reader connection is killed mid-copy; the run gets through on its retries (each one logged)
and the target is complete and exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pymysql
from faults import chunks_done, mysql_rows, pg_rows, wait_until, xfer_process
from sqlalchemy.engine import make_url

ROWS = 100_000
CHUNK = 1000


def test_terminated_backend_and_killed_reader_are_retried(
    mysql_url: str,
    mysql_conn: pymysql.connections.Connection,
    pg_url: str,
    pg_conn: psycopg.Connection[Any],
    tmp_path: Path,
) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE digits (i INT)")
        cur.execute("INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)")
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, label VARCHAR(30), amount DECIMAL(10,2))")
        cur.execute(
            "INSERT INTO t SELECT n, CONCAT('label ', n), n / 3 FROM (SELECT 1 + a.i + 10 * b.i + 100 * c.i "
            "+ 1000 * d.i + 10000 * e.i AS n FROM digits a, digits b, digits c, digits d, digits e) s"
        )
    total = ROWS // CHUNK
    p = xfer_process(["migrate", mysql_url, pg_url, "--batch-size", str(CHUNK)], tmp_path)
    try:
        # 1. PostgreSQL: terminate every backend of the target database but ours, mid-copy
        assert wait_until(lambda: chunks_done(pg_conn) >= 5, timeout=120), "the copy never started"
        terminated = pg_conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]
        at_terminate = chunks_done(pg_conn)
        assert terminated >= 1 and at_terminate < total
        # 2. MariaDB: KILL the connections reading the source, mid-copy
        assert wait_until(lambda: chunks_done(pg_conn) >= at_terminate + 5, timeout=120), "no progress after terminate"
        db = make_url(mysql_url).database
        with mysql_conn.cursor() as cur:
            cur.execute("SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()", (db,))
            killed = [r[0] for r in cur.fetchall()]
            for session in killed:
                cur.execute(f"KILL {int(session)}")
        assert killed and chunks_done(pg_conn) < total, "the faults came too late to hit the copy"
        out, _ = p.communicate(timeout=600)
    finally:
        if p.poll() is None:
            p.kill()
    text = out.decode(errors="replace")
    print(text)
    assert p.returncode == 0, text
    # every retry is logged, naming what is retried
    assert "retry 1/5" in text
    assert "t: chunk " in text
    assert "new snapshot" in text  # the lost reader's snapshot cannot come back: said so
    assert mysql_rows(mysql_conn, "t") == pg_rows(pg_conn, "t")
    assert pg_conn.execute(
        "SELECT count(*), count(done_at), sum(rows) FROM _xfer.chunks WHERE source_table = 't'"
    ).fetchone() == (
        total,
        total,
        ROWS,
    )

"""Connection faults while copying: every PostgreSQL backend of the run is terminated
(`pg_terminate_backend`) and xfer's MariaDB connections are KILLed mid-copy -- the workers'
snapshot readers (`--consistency snapshot`), or the lock holder and any chunk reader (`lock`,
the fast reader). The run gets through on its retries, each one logged, says what the lost
source connection means for consistency, and the target is complete and exact."""

from __future__ import annotations

from pathlib import Path

import pymysql
import pytest
from conftest import MyConn, PgConn
from faults import chunks_done, mysql_rows, pg_rows, wait_until, xfer_process
from sqlalchemy.engine import make_url

ROWS = 100_000


def _kill_source_sessions(my: MyConn, db: str, consistency: str) -> bool:
    """KILL xfer's connections to the source: in snapshot mode the workers' snapshot readers
    (open transactions), in lock mode every one (the lock holder, and any chunk reader)."""
    with my.cursor() as cur:
        if consistency == "snapshot":
            cur.execute(
                "SELECT p.id FROM information_schema.processlist p JOIN information_schema.innodb_trx x "
                "ON x.trx_mysql_thread_id = p.id WHERE p.db = %s AND p.id <> CONNECTION_ID()",
                (db,),
            )
        else:
            cur.execute("SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()", (db,))
        ids = [r[0] for r in cur.fetchall()]
        for session in ids:
            try:
                cur.execute(f"KILL {int(session)}")
            except pymysql.err.MySQLError:  # it ended meanwhile
                pass
    return bool(ids)


@pytest.mark.parametrize("consistency", ["lock", "snapshot"])
def test_terminated_backend_and_killed_reader_are_retried(
    consistency: str, mysql_url: str, mysql_conn: MyConn, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE digits (i INT)")
        cur.execute("INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)")
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, label VARCHAR(30), amount DECIMAL(10,2))")
        cur.execute(
            "INSERT INTO t SELECT n, CONCAT('label ', n), n / 3 FROM (SELECT 1 + a.i + 10 * b.i + 100 * c.i "
            "+ 1000 * d.i + 10000 * e.i AS n FROM digits a, digits b, digits c, digits d, digits e) s"
        )
        cur.execute("ANALYZE TABLE t")  # sizes for the planner (fresh InnoDB statistics)
    args = ["migrate", mysql_url, pg_url, "--consistency", consistency, "--chunk-bytes", "0.1", "--batch-size", "500"]
    p = xfer_process(args, tmp_path)
    try:
        # 1. PostgreSQL: terminate every backend of the target database but ours, mid-copy
        assert wait_until(lambda: chunks_done(pg_conn) >= 3, timeout=120), "the copy never started"
        terminated = pg_conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]
        total = pg_conn.execute("SELECT count(*) FROM _xfer.chunks WHERE source_table = 't'").fetchone()[0]
        assert terminated >= 1 and chunks_done(pg_conn) < total
        # 2. MariaDB: KILL a connection while it reads the source, mid-copy
        db = make_url(mysql_url).database
        assert wait_until(lambda: _kill_source_sessions(mysql_conn, db, consistency), timeout=60), "no reader"
        assert chunks_done(pg_conn) < total, "the faults came too late to hit the copy"
        out, _ = p.communicate(timeout=600)
    finally:
        if p.poll() is None:
            p.kill()
    text = out.decode(errors="replace")
    print(text)
    assert p.returncode == 0, text
    # every retry is logged, naming what is retried and why
    assert "terminating connection due to administrator command; retry 1/5" in text
    assert "t: chunk " in text
    if consistency == "snapshot":  # the lost readers are replaced; their snapshot cannot come back: said so
        assert "the source connection holding the consistent snapshot was lost" in text
    else:  # the lock went with its connection: said so (the source was not written to: no harm)
        assert "the connection holding the source tables' read lock was lost" in text
    assert mysql_rows(mysql_conn, "t") == pg_rows(pg_conn, "t")
    assert pg_conn.execute(
        "SELECT count(*) = count(done_at), sum(rows) FROM _xfer.chunks WHERE source_table = 't'"
    ).fetchone() == (True, ROWS)

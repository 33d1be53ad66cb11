"""TRUNCATE while following: applied to the target (it is not a row event: the binlog carries the
statement), with the position, and the table keeps following afterwards."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from cdc_harness import start_following, wait_converged
from conftest import PgConn

from tests.binlog_server import BinlogMariaDB


def test_truncate_while_following_empties_the_target_table_and_following_goes_on(
    binlog_mysql: BinlogMariaDB, binlog_url: str, binlog_conn: Any, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    with binlog_conn.cursor() as cur:
        cur.execute("CREATE TABLE events (id INT PRIMARY KEY, what VARCHAR(20))")
        cur.execute("CREATE TABLE other (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO events VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        cur.execute("INSERT INTO other VALUES (1), (2)")
    with start_following(binlog_url, pg_url, tmp_path) as run:
        with binlog_conn.cursor() as cur:
            cur.execute("INSERT INTO events VALUES (4, 'd')")
            cur.execute("TRUNCATE TABLE events")
            cur.execute("INSERT INTO events VALUES (10, 'after')")
            cur.execute("INSERT INTO other VALUES (3)")
        assert wait_converged(binlog_conn, pg_conn, ["events", "other"], follower=run) == []
        assert run.proc.poll() is None, f"the follower stopped:\n{run.output}"
        assert run.signal(signal.SIGTERM) == 0
    assert pg_conn.execute("SELECT id, what FROM events ORDER BY id").fetchall() == [(10, "after")]
    assert pg_conn.execute("SELECT count(*) FROM other").fetchone() == (3,)

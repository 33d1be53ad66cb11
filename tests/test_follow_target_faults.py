"""The follower's PostgreSQL sessions killed under it (what a server restart or a failover does to
them): the batch in hand rolls back with its position, the follower reconnects, makes its staging
tables again, takes its lock again, and goes on from the last committed batch."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from cdc_harness import Workload, _db, create_schema, load_rows, start_following, wait_converged, writer_connect
from conftest import PgConn

from tests.binlog_server import BinlogMariaDB


def test_follower_survives_its_target_sessions_being_killed(
    binlog_mysql: BinlogMariaDB, binlog_url: str, binlog_conn: Any, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    create_schema(binlog_conn)
    load_rows(binlog_conn, seed=21, typed=200, parents=50, children=150, pairs=80)
    with start_following(binlog_url, pg_url, tmp_path) as run:
        writer = Workload(writer_connect(binlog_mysql, binlog_url), seed=22, rate=40, delete_parents=False)
        writer.start()
        killed = 0
        try:
            for _ in range(3):
                time.sleep(1.0)
                killed += pg_conn.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchone()[0]
        finally:
            counts = writer.stop()
        assert killed > 0 and counts.transactions > 0
        assert run.proc.poll() is None, f"the follower gave up when its sessions were killed:\n{run.output}"
        with binlog_mysql.connect(_db(binlog_url)) as source:
            assert wait_converged(source, pg_conn, timeout=90, follower=run) == []
        assert run.signal(signal.SIGTERM) == 0

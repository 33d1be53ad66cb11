"""The follower killed with SIGKILL at random moments, again and again, during a write workload,
and restarted with `xfer follow` each time: at the end the target equals the source row for row,
and no change was applied twice or lost.

A change applied twice is made visible in two ways: every update adds 1 to a `hits` counter
(compared at the end), and every row image the writer makes carries a `ver` number of its own; a
trigger on the target (ENABLE ALWAYS, so it fires under session_replication_role=replica too)
writes down each image the follower applies. Its log commits with the follower's batch, so a
batch applied twice shows as the same `ver` twice."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path
from typing import Any

from cdc_harness import (
    TABLES,
    Workload,
    XferRun,
    _db,
    create_schema,
    differences,
    load_rows,
    start_following,
    wait_converged,
    writer_connect,
    xfer,
)
from conftest import PgConn

from tests.binlog_server import BinlogMariaDB

KILLS = 20

AUDIT = """
CREATE SCHEMA audit;
CREATE TABLE audit.applied (tbl text NOT NULL, ver bigint NOT NULL, op text NOT NULL);
CREATE FUNCTION audit.note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit.applied VALUES (TG_TABLE_NAME, NEW.ver, TG_OP);
  RETURN NULL;
END $$;
"""


def _install_audit(pg: PgConn) -> None:
    pg.execute(AUDIT)
    for table in TABLES:
        pg.execute(f"CREATE TRIGGER audit_{table} AFTER INSERT OR UPDATE ON public.{table} FOR EACH ROW "
                   "EXECUTE FUNCTION audit.note()")  # fmt: skip
        pg.execute(f"ALTER TABLE public.{table} ENABLE ALWAYS TRIGGER audit_{table}")


def _applied(pg: PgConn) -> int:
    return int(pg.execute("SELECT count(*) FROM audit.applied").fetchone()[0])


def test_follower_sigkilled_at_random_moments_converges_exactly_once(
    binlog_mysql: BinlogMariaDB, binlog_url: str, binlog_conn: Any, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    print(f"seed {seed}")
    create_schema(binlog_conn)
    load_rows(binlog_conn, seed, typed=800, parents=200, children=600, pairs=400)

    # the initial copy, killed once it follows
    with start_following(binlog_url, pg_url, tmp_path) as first:
        writer = Workload(writer_connect(binlog_mysql, binlog_url), seed, rate=60)
        writer.start()
        time.sleep(1.0)
        first.proc.kill()
        first.wait(30)
    try:
        _install_audit(pg_conn)
        kills, applying_kills, ceiling = 0, 0, 2.5
        for k in range(KILLS):
            before = _applied(pg_conn)
            with XferRun(["follow", binlog_url, pg_url], tmp_path) as run:
                if k % 4 == 3:  # any moment: starting, connecting, reading
                    delay = rng.uniform(0.2, 3.0)
                    time.sleep(delay)
                else:  # a moment once it follows: applying the backlog the writer keeps making
                    assert run.wait_for("following ", timeout=60), f"the follower did not start:\n{run.output}"
                    delay = rng.uniform(0.05, ceiling)
                    time.sleep(delay)
                assert run.proc.poll() is None, f"the follower ended by itself:\n{run.output}"
                run.proc.send_signal(signal.SIGKILL)
                run.wait(30)
            kills += 1
            made = _applied(pg_conn) - before
            applying_kills += made > 0
            if k % 4 != 3:  # keep the moments random, but around the time a follower starts applying
                ceiling = min(5.0, ceiling * 1.2) if made == 0 else max(1.0, ceiling * 0.9)
            print(f"kill {kills} after {delay:.2f} s: {made} row image(s) applied in that run")
    finally:
        counts = writer.stop()
    print(f"writer: {counts}")
    assert kills >= KILLS
    assert applying_kills >= 5, f"only {applying_kills} of the followers applied anything before the kill"

    code, out = xfer(["follow", binlog_url, pg_url, "--until-current"], tmp_path, timeout=300)
    assert code == 0, out
    # nothing lost: the target equals the source, every value, every counter
    assert differences(binlog_conn, pg_conn) == []
    # nothing applied twice: each row image the writer made arrived at most once
    twice = pg_conn.execute(
        "SELECT tbl, ver, count(*) FROM audit.applied WHERE ver > 0 GROUP BY tbl, ver HAVING count(*) > 1 "
        "ORDER BY tbl, ver LIMIT 20"
    ).fetchall()
    assert twice == [], f"row images applied more than once (table, ver, times): {twice}"
    assert _applied(pg_conn) > counts.transactions // 2, "the audit saw too little: the check proves nothing"


def test_follower_survives_a_restart_of_the_source(
    binlog_mysql: BinlogMariaDB, binlog_url: str, binlog_conn: Any, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    create_schema(binlog_conn)
    load_rows(binlog_conn, seed=11, typed=300, parents=60, children=200, pairs=100)
    with start_following(binlog_url, pg_url, tmp_path) as run:
        writer = Workload(writer_connect(binlog_mysql, binlog_url), seed=12, rate=40)
        writer.start()
        try:
            time.sleep(1.0)
            binlog_mysql.restart()  # a new binlog file; every connection is cut
            time.sleep(2.0)
        finally:
            counts = writer.stop()
        assert writer.reconnects > 0 and counts.transactions > 0
        assert run.proc.poll() is None, f"the follower gave up when the source restarted:\n{run.output}"
        with binlog_mysql.connect(_db(binlog_url)) as source:
            assert wait_converged(source, pg_conn, timeout=90, follower=run) == []
        assert run.signal(signal.SIGTERM) == 0

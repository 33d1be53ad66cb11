"""Ctrl-C stops a MySQL -> PostgreSQL migration promptly: no worker takes another chunk, the
chunks in hand commit whole (or not at all), the process exits 130 and says which run to resume
and how; `--resume` then completes it, every row once."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from conftest import MyConn, PgConn, mysql_source
from faults import chunks_done, mysql_rows, pg_rows, run_xfer, xfer_process

source = mysql_source("""
    CREATE TABLE digits (i INT);
    INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
    CREATE TABLE big (id INT PRIMARY KEY, label VARCHAR(40), note TEXT);
    INSERT INTO big SELECT n, CONCAT('row ', n), REPEAT('x', n % 50)
        FROM (SELECT 1 + a.i + 10 * b.i + 100 * c.i + 1000 * d.i + 10000 * e.i + 100000 * f.i AS n
        FROM digits a, digits b, digits c, digits d, digits e, (SELECT 0 AS i UNION ALL SELECT 1) f) s;
    ANALYZE TABLE big;
""")


def test_ctrl_c_stops_promptly_says_how_to_resume_and_resume_completes(
    source: None, mysql_url: str, mysql_conn: MyConn, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    args = ["migrate", mysql_url, pg_url, "--chunk-bytes", "0.05", "--jobs", "2", "--no-verify"]
    p = xfer_process(args, tmp_path)
    deadline = time.monotonic() + 120
    while chunks_done(pg_conn) < 2 and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.05)
    assert p.poll() is None, "the copy ended before it could be interrupted"
    done_at_signal = chunks_done(pg_conn)
    sent = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    stopped_after = time.monotonic() - sent
    text = out.decode()
    assert p.returncode == 130, text
    assert stopped_after < 15, f"took {stopped_after:.1f} s to stop:\n{text}"  # (generous: chunks are small)
    assert "interrupted" in text and "--resume" in text and "xfer rollback" in text, text
    total = int(pg_conn.execute("SELECT count(*) FROM _xfer.chunks").fetchone()[0])
    assert chunks_done(pg_conn) < total, "every chunk was copied: the interrupt did not stop the workers"
    assert chunks_done(pg_conn) <= done_at_signal + 8, "workers kept taking chunks after the interrupt"

    code, resumed = run_xfer([*args, "--resume"], tmp_path)
    assert code == 0, resumed
    assert pg_rows(pg_conn, "big") == mysql_rows(mysql_conn, "big")

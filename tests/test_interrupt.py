"""Ctrl-C stops a run promptly (#16): a MySQL -> PostgreSQL migration takes no further chunk,
the chunks in hand commit whole (or not at all), the process exits 130 and says which run to
resume and how; `--resume` then completes it, every row once. A second Ctrl-C aborts the chunks
in hand; a verify and a DuckDB-target run stop the same way.

The signal is sent once rows are arriving; the bounds on the wait are generous (promptness is
the feature; the benchmark measures the real figure)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from conftest import MyConn, PgConn, mysql_source
from faults import chunks_done, journal_exists, mysql_rows, pg_rows, run_xfer, wait_until, xfer_process

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
    # ~1,300 chunks of ~150 rows, each its own transaction: seconds of copy to interrupt early in
    args = ["migrate", mysql_url, pg_url, "--chunk-bytes", "0.01", "--jobs", "2", "--no-verify"]
    p = xfer_process(args, tmp_path)
    deadline = time.monotonic() + 120
    while chunks_done(pg_conn) < 2 and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.05)
    assert p.poll() is None, "the copy ended before it could be interrupted"
    done_at_signal = chunks_done(pg_conn)
    sent = time.monotonic()
    total = int(pg_conn.execute("SELECT count(*) FROM _xfer.chunks").fetchone()[0])
    assert done_at_signal + 8 < total, f"{done_at_signal} of {total} chunks done before the signal: too late to test"
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    stopped_after = time.monotonic() - sent
    text = out.decode()
    assert p.returncode == 130, text
    assert stopped_after < 15, f"took {stopped_after:.1f} s to stop:\n{text}"  # (generous: chunks are small)
    run_id = pg_conn.execute("SELECT run_id FROM _xfer.runs ORDER BY started DESC LIMIT 1").fetchone()[0]
    assert (
        f"interrupted: run {run_id}" in text and "--resume" in text and f"xfer rollback {pg_url} --run {run_id}" in text
    ), text
    assert "retry" not in text, text
    assert chunks_done(pg_conn) < total, "every chunk was copied: the interrupt did not stop the workers"
    assert chunks_done(pg_conn) <= done_at_signal + 8, "workers kept taking chunks after the interrupt"

    code, resumed = run_xfer([*args, "--resume"], tmp_path)
    assert code == 0, resumed
    assert pg_rows(pg_conn, "big") == mysql_rows(mysql_conn, "big")
    code, checked = run_xfer(["verify", mysql_url, pg_url], tmp_path)
    assert code == 0, checked


def _interrupt_when(p: subprocess.Popen[bytes], ready: Callable[[], bool], what: str) -> tuple[str, float]:
    """SIGINT once `ready()`; the output and the seconds from the signal to the exit."""
    assert wait_until(lambda: ready() or p.poll() is not None, timeout=120), f"{what} never started"
    assert p.poll() is None, f"{what} ended before it could be interrupted"
    sent = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    return out.decode(errors="replace"), time.monotonic() - sent


def pg_count(pg: PgConn) -> int:
    """Rows of `big` in the target, committed or not (the copy's COPY shows in the table's size)."""
    row = pg.execute("SELECT pg_relation_size(oid) FROM pg_class WHERE relname = 'big' AND relkind = 'r'").fetchone()
    return int(row[0]) if row else 0


def test_a_second_ctrl_c_aborts_the_chunks_in_hand_and_leaves_none_half_written(
    source: None, mysql_url: str, mysql_conn: MyConn, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    # ~5 chunks of ~40,000 rows: two chunks in hand when the signals come
    args = ["migrate", mysql_url, pg_url, "--chunk-bytes", "2", "--jobs", "2", "--no-verify"]
    p = xfer_process(args, tmp_path)
    assert wait_until(lambda: journal_exists(pg_conn) and pg_count(pg_conn) > 0 or p.poll() is not None)
    assert p.poll() is None, "the copy ended before it could be interrupted"
    sent = time.monotonic()
    p.send_signal(signal.SIGINT)
    time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    stopped_after = time.monotonic() - sent
    text = out.decode(errors="replace")
    assert p.returncode == 130, text
    assert stopped_after < 15, f"took {stopped_after:.1f} s to stop:\n{text}"
    assert "--resume" in text and "retry" not in text, text
    # every row in the target belongs to a chunk marked done: none half-written
    done_rows = pg_conn.execute("SELECT coalesce(sum(rows), 0) FROM _xfer.chunks WHERE done_at IS NOT NULL").fetchone()
    assert len(pg_rows(pg_conn, "big")) == int(done_rows[0]) < len(mysql_rows(mysql_conn, "big"))

    code, resumed = run_xfer([*args, "--resume"], tmp_path)
    assert code == 0, resumed
    assert pg_rows(pg_conn, "big") == mysql_rows(mysql_conn, "big")


def test_ctrl_c_stops_a_verify(source: None, mysql_url: str, pg_url: str, pg_conn: PgConn, tmp_path: Path) -> None:
    code, out = run_xfer(["migrate", mysql_url, pg_url, "--no-verify"], tmp_path)
    assert code == 0, out
    # small read batches: the verify takes seconds, and the signal lands while rows are read
    p = xfer_process(["verify", mysql_url, pg_url, "--batch-size", "500", "--method", "client"], tmp_path)

    def reading() -> bool:
        q = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        return int(pg_conn.execute(q).fetchone()[0]) > 0

    text, stopped_after = _interrupt_when(p, reading, "the verify")
    assert p.returncode == 130, text
    assert stopped_after < 15, f"took {stopped_after:.1f} s to stop:\n{text}"
    assert "interrupted: verification stopped" in text, text
    code, out = run_xfer(["verify", mysql_url, pg_url], tmp_path)
    assert code == 0, out


def test_ctrl_c_stops_a_copy_into_duckdb(source: None, mysql_url: str, mysql_conn: MyConn, tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "t.duckdb"
    wal = tmp_path / "t.duckdb.wal"
    # one commit per 2,000 rows: rows arrive (the WAL grows) long before the copy ends
    args = ["migrate", mysql_url, f"duckdb:///{path}", "--batch-size", "2000", "--no-verify"]
    p = xfer_process(args, tmp_path)
    text, stopped_after = _interrupt_when(p, lambda: wal.exists() and wal.stat().st_size > 200_000, "the copy")
    assert p.returncode == 130, text  # not "internal error: RuntimeError('Query interrupted')"
    assert stopped_after < 15, f"took {stopped_after:.1f} s to stop:\n{text}"
    assert "interrupted" in text and "--if-exists replace" in text and "internal error" not in text, text
    with duckdb.connect(str(path)) as con:
        copied = con.execute("SELECT count(*) FROM big").fetchone()
    assert copied is not None and copied[0] < len(mysql_rows(mysql_conn, "big"))

    code, out = run_xfer([*args, "--if-exists", "replace"], tmp_path)
    assert code == 0, out
    code, out = run_xfer(["verify", mysql_url, f"duckdb:///{path}"], tmp_path)
    assert code == 0, out

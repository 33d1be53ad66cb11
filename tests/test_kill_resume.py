"""Kill test: a migration SIGKILLed at random moments, again and again, and resumed each time,
ends with the target equal to the source row for row and every chunk copied exactly once."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from functools import partial
from pathlib import Path

import psycopg
from conftest import MyConn, PgConn, mysql_source
from faults import chunks_done, mysql_rows, pg_rows, wait_until, xfer_process

KILLS = 20
BIG = 200_000
CHUNK = 1000


# the source: six tables, one of 2 x 10^5 rows, with composite keys, a foreign key and one
# without a key
source = mysql_source("""
    CREATE TABLE digits (i INT);
    INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
    CREATE TABLE big (id INT PRIMARY KEY, label VARCHAR(40), amount DECIMAL(12,2), at DATETIME(3),
        ratio DOUBLE, note TEXT, raw VARBINARY(16));
    -- 2 x 10^5 rows; every 7th has NULLs, labels carry non-ASCII text
    INSERT INTO big SELECT n, CONCAT('row ', n, ' – é✓'), n / 7,
        TIMESTAMP('2024-01-01') + INTERVAL n SECOND + INTERVAL (n % 1000) * 1000 MICROSECOND, n * 1.5,
        IF(n % 7 = 0, NULL, REPEAT('x', n % 50)), IF(n % 7 = 0, NULL, UNHEX(LPAD(HEX(n), 8, '0')))
        FROM (SELECT 1 + a.i + 10 * b.i + 100 * c.i + 1000 * d.i + 10000 * e.i + 100000 * f.i AS n
        FROM digits a, digits b, digits c, digits d, digits e, (SELECT 0 AS i UNION ALL SELECT 1) f) s;
    CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(20));
    INSERT INTO parent SELECT i, CONCAT('p', i) FROM digits;
    CREATE TABLE child (id INT PRIMARY KEY, parent_id INT, FOREIGN KEY (parent_id) REFERENCES parent (id));
    INSERT INTO child SELECT a.i * 10 + b.i, b.i FROM digits a, digits b;
    CREATE TABLE pairs (a INT, b VARCHAR(5), v INT, PRIMARY KEY (a, b));
    INSERT INTO pairs SELECT a.i, CONCAT('k', b.i), a.i * b.i FROM digits a, digits b;
    -- no key: duplicates are data too
    CREATE TABLE loose (x INT, y TEXT);
    INSERT INTO loose VALUES (1, 'x'), (1, 'x'), (2, NULL);
    -- sizes for the planner (fresh InnoDB statistics)
    ANALYZE TABLE big;
""")


def _all_copied(pg: PgConn) -> bool:
    """Every table has its chunks recorded, and all are done."""
    try:
        tables, pending = pg.execute(
            "SELECT (SELECT count(DISTINCT source_table) FROM _xfer.chunks), "
            "(SELECT count(*) FROM _xfer.chunks WHERE done_at IS NULL)"
        ).fetchone()
    except psycopg.Error:  # no journal yet
        return False
    return tables == 6 and pending == 0


def _copying(pg: PgConn, p: subprocess.Popen[bytes], before: int) -> bool:
    """This run has committed a chunk (or has ended)."""
    return chunks_done(pg) > before or p.poll() is not None


def test_sigkill_at_random_moments_then_resume(
    source: None, mysql_url: str, mysql_conn: MyConn, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    rng = random.Random()  # a different schedule every time; printed so a failure can be replayed
    seed = rng.randrange(2**32)
    rng.seed(seed)
    print(f"kill schedule seed {seed}")
    args = ["migrate", mysql_url, pg_url, "--batch-size", str(CHUNK), "--chunk-bytes", "0.1", "--resume", "-q"]
    kills, cycles, ceiling, outputs = 0, 0, 2.0, []
    while True:
        cycles += 1
        assert cycles < 200, "the migration never finished"
        before = chunks_done(pg_conn)
        p = xfer_process(args, tmp_path)
        if kills < KILLS:
            # most kills land inside the copy, timed from this run's first committed chunk (on a
            # loaded machine the start-up alone can outlast any fixed window: every kill then came
            # before the copy, and no chunk was ever cut); the others at a moment from the start
            if rng.random() < 0.6 and not _all_copied(pg_conn):
                wait_until(partial(_copying, pg_conn, p, before), timeout=120)
                delay = rng.uniform(0.0, 0.3)
            else:
                delay = rng.uniform(0.05, ceiling)
            time.sleep(delay)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
                kills += 1
                done = chunks_done(pg_conn)
                made = done - before
                # keep the moments random but make sure the kills come before the end: shrink the
                # window when a run got far or the copy is over (keys, indexes, verification are
                # left: a short run then finishes), widen it when runs die before copying anything
                if made > 15 or _all_copied(pg_conn):
                    ceiling = max(0.3, ceiling * 0.7)
                elif made == 0:
                    ceiling = min(2.5, ceiling * 1.15)
                outputs.append(p.stdout.read().decode(errors="replace") if p.stdout else "")
                print(f"kill {kills} after {delay:.2f} s: {made} chunk(s) done in that run")
                continue
        out, _ = p.communicate(timeout=600)
        text = out.decode(errors="replace")
        print(text)
        assert p.returncode == 0, text
        if kills >= KILLS:
            break
        # it finished before enough kills: that is a failure of the schedule, not of xfer
        raise AssertionError(f"the migration finished after only {kills} kills")

    assert kills >= KILLS
    # the target equals the source, row for row (read with the drivers, not with xfer)
    for table, cols in [
        ("big", "id, label, amount, at, ratio, note, raw"),
        ("parent", "*"),
        ("child", "*"),
        ("pairs", "*"),
        ("loose", "*"),
    ]:
        assert mysql_rows(mysql_conn, table, cols) == pg_rows(pg_conn, table, columns=cols), table
    # every chunk done, once; the key ranges tile the key space
    rows = pg_conn.execute(
        "SELECT source_table, chunk, key_lo, key_hi, rows, attempts, done_at IS NOT NULL "
        "FROM _xfer.chunks ORDER BY source_table, chunk"
    ).fetchall()
    big = [r for r in rows if r[0] == "big"]
    assert all(r[6] for r in rows)
    assert sum(r[4] for r in big) == BIG
    assert len(big) >= 50  # small chunks
    assert big[0][2] is None and big[-1][3] is None
    assert all(a[3] == b[2] for a, b in zip(big, big[1:], strict=False))
    assert pg_conn.execute("SELECT count(*), count(DISTINCT id) FROM big").fetchone() == (BIG, BIG)
    assert any(r[5] > 1 for r in big), "no chunk was ever interrupted"
    # one run, resumed many times, finished
    (status, resumes), *more = pg_conn.execute("SELECT status, resumes FROM _xfer.runs").fetchall()
    assert not more and status == "done" and resumes >= 1
    # keys and indexes were built once, at the end
    assert pg_conn.execute(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'big'::regclass AND contype = 'p'"
    ).fetchone() == (1,)
    assert pg_conn.execute(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'child'::regclass AND contype = 'f'"
    ).fetchone() == (1,)

"""Progress that tells the truth (#16 item 11): what `xfer migrate` draws on a terminal, what it
prints for a log, and that a low row estimate never shows more than 100%.

The terminal test runs xfer with stderr on a pseudo-terminal and replays what it wrote through a
terminal emulator (pyte), one redraw at a time, so each assertion is about a screen a user saw.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import pyte
import pytest
from conftest import mysql_source
from faults import REPO, run_xfer

import xfer

JOBS = 2
TABLES = ("big", "wide", "mid", "small", "tiny", "child")

# six tables, two big enough to be cut into many key ranges, with indexes and foreign keys to build
shop = mysql_source(
    """
    CREATE TABLE big (id INT PRIMARY KEY, v VARCHAR(60), n INT, KEY (n));
    INSERT INTO big SELECT seq, REPEAT(CHAR(65 + seq % 26), 50), seq % 1000 FROM seq_1_to_300000;
    CREATE TABLE wide (id INT PRIMARY KEY, a VARCHAR(200), b VARCHAR(200));
    INSERT INTO wide SELECT seq, REPEAT('a', 150), REPEAT('b', 150) FROM seq_1_to_60000;
    CREATE TABLE mid (id INT PRIMARY KEY, big_id INT, KEY (big_id));
    INSERT INTO mid SELECT seq, seq FROM seq_1_to_50000;
    CREATE TABLE small (id INT PRIMARY KEY, v VARCHAR(10));
    INSERT INTO small SELECT seq, 'x' FROM seq_1_to_5000;
    CREATE TABLE tiny (id INT PRIMARY KEY);
    INSERT INTO tiny SELECT seq FROM seq_1_to_10;
    CREATE TABLE child (id INT PRIMARY KEY, small_id INT, FOREIGN KEY (small_id) REFERENCES small (id));
    INSERT INTO child SELECT seq, 1 + seq % 5000 FROM seq_1_to_20000;
    ANALYZE TABLE big, wide, mid, small, tiny, child;
    """
)

COPY_LINE = re.compile(r"^copy\s+\[[#.]+\]\s+\d+%\s+[\d,]+ of ~[\d,]+ rows\s+.*rows/s\s+ETA \d+:\d\d")
INDEX_LINE = re.compile(r"^index\s+.*\d+ of \d+ keys, indexes and foreign keys built")
TABLE_LINE = re.compile(r"^  (\S+)\s+.*rows")
PERCENT = re.compile(r"(\d+)%")


def _under_terminal(args: list[str], cwd: Path, interrupt: bool = False) -> tuple[int, bytes, str]:
    """Run xfer with stderr on a pseudo-terminal (100 columns); return its exit code, what it
    drew there, and its stdout. `interrupt`: Ctrl-C (SIGINT) once the copy's ETA is drawn."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm"}
    env.pop("XFER_PROGRESS", None)
    p = subprocess.Popen(
        [sys.executable, "-m", "xfer", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    drawn = bytearray()
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every writer of the terminal has gone
            break
        if not data:
            break
        drawn += data
        if interrupt and b"ETA" in drawn:
            p.send_signal(signal.SIGINT)
            interrupt = False
    os.close(master)
    out = p.stdout.read().decode() if p.stdout else ""
    return p.wait(timeout=300), bytes(drawn), out


def _screens(drawn: bytes) -> list[list[str]]:
    """The screen after each redraw (a redraw begins by moving back to the block's first line
    and clearing below it), as its non-blank lines, plus the final screen."""
    screen = pyte.Screen(100, 40)
    stream = pyte.ByteStream(screen)
    out = []
    for piece in re.split(rb"(?=\r(?:\x1b\[\d+A)?\x1b\[J)", drawn):
        stream.feed(piece)
        out.append([line.rstrip() for line in screen.display if line.strip()])
    return out


def test_terminal_shows_overall_progress_and_only_the_tables_being_copied(
    shop: None, mysql_url: str, pg_url: str, pg_conn: Any, tmp_path: Path
) -> None:
    args = ["migrate", mysql_url, pg_url, "--jobs", str(JOBS), "--chunk-bytes", "0.3", "--batch-size", "2000"]
    code, drawn, out = _under_terminal(args, tmp_path)
    screens = _screens(drawn)
    assert code == 0, (out, drawn[-2000:])
    assert pg_conn.execute("SELECT count(*) FROM big").fetchone() == (300_000,)
    lines = [line for screen in screens for line in screen]
    # the overall line: rows of the estimated total, a percentage, a rate and an ETA
    assert any(COPY_LINE.match(line) for line in lines), lines[:20]
    # bars only for the tables being copied now: never more than --jobs at once, never every table
    shown = [[m[1] for line in screen if (m := TABLE_LINE.match(line))] for screen in screens]
    assert max(len(s) for s in shown) >= 1
    assert all(len(s) <= JOBS for s in shown), [s for s in shown if len(s) > JOBS]
    assert all(set(s) <= set(TABLES) for s in shown)
    # the index phase has a line of its own with its progress
    assert any(INDEX_LINE.match(line) for line in lines), [line for line in lines if "index" in line]
    # no percentage ever above 100
    assert all(int(p) <= 100 for line in lines for p in PERCENT.findall(line))
    # the terminal is left clean: nothing of the progress on the final screen
    assert screens[-1] == [], screens[-1]
    assert "ok" in out  # the summary on stdout, after the bars were erased


def test_plain_progress_for_logs_and_nothing_without_a_terminal(
    shop: None, mysql_url: str, pg_url: str, tmp_path: Path
) -> None:
    """Without a terminal: `--progress plain` (or XFER_PROGRESS=plain) prints a line every few
    seconds and one per phase done; by default nothing at all."""
    args = ["migrate", mysql_url, pg_url, "--jobs", str(JOBS), "--chunk-bytes", "0.3", "--batch-size", "2000", "-t"]
    code, out = run_xfer([*args, "big", "--progress", "plain"], tmp_path, env={"XFER_PROGRESS_EVERY": "0.2"})
    assert code == 0, out
    periodic = [
        line for line in out.splitlines() if re.match(r"copy: [\d,]+ of ~[\d,]+ rows \(\d+%\), [\d.]+ MB", line)
    ]
    assert periodic, out
    assert all(re.search(r"[\d,]+ rows/s", line) for line in periodic)
    assert re.search(r"^copy: done: 300,000 rows, [\d.]+ MB in \d+:\d\d \([\d,]+ rows/s\)$", out, re.M), out
    assert re.search(r"^index: done: \d+ keys, indexes and foreign keys built in \d+:\d\d$", out, re.M), out
    assert re.search(r"^verify: done: 1 tables checked in \d+:\d\d$", out, re.M), out

    code, out = run_xfer([*args, "wide", "--no-verify"], tmp_path, env={"XFER_PROGRESS": "plain"})
    assert code == 0 and "copy: done: 60,000 rows" in out, out

    code, out = run_xfer([*args, "mid", "--no-verify", "-q"], tmp_path, env={"XFER_PROGRESS": "auto"})
    assert code == 0 and out == "", out  # stderr and stdout together: -q prints nothing
    code, out = run_xfer(["verify", mysql_url, pg_url, "-t", "mid"], tmp_path, env={"XFER_PROGRESS": ""})
    assert code == 0, out
    assert "verify:" not in out and "rows/s" not in out, out  # auto without a terminal: no progress


def test_a_low_estimate_grows_the_total_instead_of_passing_100_percent(
    pg_url: str, pg_conn: Any, tmp_path: Path
) -> None:
    """PostgreSQL's estimate is what ANALYZE last saw: 10 rows of a table that has 50,010 now,
    and 0 for a table never analyzed. The total grows as rows arrive; the share never passes 1."""
    pg_conn.execute("CREATE TABLE low (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = false)")
    pg_conn.execute("INSERT INTO low SELECT g, 'x' FROM generate_series(1, 10) g")
    pg_conn.execute("ANALYZE low")
    pg_conn.execute("INSERT INTO low SELECT g, 'y' FROM generate_series(11, 50010) g")
    pg_conn.execute("CREATE TABLE never (id int PRIMARY KEY) WITH (autovacuum_enabled = false)")
    pg_conn.execute("INSERT INTO never SELECT g FROM generate_series(1, 20000) g")

    seen: list[xfer.Tracker] = []
    shares: list[tuple[int, int | None, float | None]] = []

    class Watch(xfer.Tracker):
        def table_rows(self, name: str, n: int, nbytes: int = 0) -> None:
            super().table_rows(name, n, nbytes)
            s = self.snapshot()
            shares.append((s.rows, s.rows_total, s.fraction))
            for t in s.tables:
                assert t.total is None or t.rows <= t.total

    watch = Watch()
    seen.append(watch)
    report = xfer.migrate(pg_url, f"duckdb:///{tmp_path / 'out.duckdb'}", progress=watch, batch_size=5000)
    assert report.status == "ok", report.as_dict()
    assert {t.name: t.source_rows for t in report.tables} == {"low": 50_010, "never": 20_000}
    assert shares and shares[-1][0] == 70_010
    assert all(total is not None and rows <= total for rows, total, _ in shares), shares
    assert all(f is not None and 0 <= f <= 1 for _, _, f in shares), shares
    # and as the plain lines show it: never above 100%
    pg_url_low = pg_url
    code, out = run_xfer(
        ["migrate", pg_url_low, f"duckdb:///{tmp_path / 'again.duckdb'}", "--progress", "plain", "--batch-size", "500"],
        tmp_path,
        env={"XFER_PROGRESS_EVERY": "0.1"},
    )
    assert code == 0, out
    assert all(int(p) <= 100 for p in PERCENT.findall(out)), out
    assert "copy: done: 70,010 rows" in out, out


@pytest.mark.parametrize("factory_kind", ["factory"])
def test_a_progress_factory_still_gets_a_bar_per_table_while_it_is_copied(
    factory_kind: str, shop: None, mysql_url: str, pg_url: str
) -> None:
    """The older interface, `progress(name, total) -> bar`: a bar is made when a table's copy
    starts and closed when it ends; at most --jobs are open at once, and all are closed."""
    open_now: set[str] = set()
    most = [0]
    made: list[str] = []

    class Bar:
        def __init__(self, name: str) -> None:
            self.name = name
            made.append(name)
            open_now.add(name)
            most[0] = max(most[0], len(open_now))

        def update(self, n: int) -> None:
            assert self.name in open_now

        def close(self) -> None:
            open_now.discard(self.name)

    report = xfer.migrate(
        mysql_url, pg_url, progress=lambda name, total: Bar(name), jobs=JOBS, chunk_bytes=300_000, verify=False
    )
    assert report.status == "ok"
    assert set(made) == set(TABLES) and len(made) == len(TABLES)
    assert 1 <= most[0] <= JOBS and not open_now


def test_an_interrupted_run_leaves_no_bar_behind(shop: None, mysql_url: str, pg_url: str, tmp_path: Path) -> None:
    args = ["migrate", mysql_url, pg_url, "--jobs", str(JOBS), "--chunk-bytes", "0.3", "--batch-size", "2000"]
    code, drawn, _ = _under_terminal(args, tmp_path, interrupt=True)
    assert code == 130, drawn[-2000:]
    screens = _screens(drawn)
    assert any(COPY_LINE.match(line) for screen in screens for line in screen)
    # what the CLI says after the interrupt, and nothing of the bars
    assert screens[-1] and all("rows/s" not in line and "[#" not in line for line in screens[-1]), screens[-1]
    assert any(line.startswith("interrupted: run ") for line in screens[-1]), screens[-1]

"""How promptly Ctrl-C stops a migration, and what `--resume` then costs.

    python -m benchmarks interrupt [--rows 2000000] [--repeat 3] [--after 0.3]

On the main benchmark's MariaDB table (`benchmarks.data`), each round starts `xfer migrate
--no-verify` into a fresh PostgreSQL schema, sends SIGINT once the given share of the key ranges
is done (`--after`, read from the run journal), and measures the seconds from the signal to the
process's exit, its exit code, the chunks done then, and the wall seconds of the `--resume` that
finishes the run (then checks the row count). A second table gives the same with two signals
50 ms apart (the chunks in hand aborted instead of finished).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

from sqlalchemy.engine import make_url

from . import data
from .contenders import Servers

SCHEMA = "bench_interrupt"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks interrupt", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=2_000_000, help="rows in the table (default 2,000,000)")
    p.add_argument("--repeat", type=int, default=3, help="rounds per case; medians are reported (default 3)")
    p.add_argument("--after", type=float, default=0.3, help="share of the chunks done at the signal (default 0.3)")
    p.add_argument("--mysql", default="mysql://root@127.0.0.1:3306/xfer_bench", help="MariaDB database URL")
    p.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres", help="PostgreSQL URL")
    a = p.parse_args(argv)
    servers = Servers(make_url(a.mysql), make_url(a.postgres))
    data.ensure_database(servers.mysql)
    with contextlib.closing(data.connect(servers.mysql, servers.mysql.database)) as conn:
        data.ensure_table(conn, a.rows, log=lambda m: print(m, file=sys.stderr))
    loads = [os.getloadavg()[0]]
    results: dict[str, list[dict[str, Any]]] = {"one Ctrl-C": [], "two Ctrl-C": []}
    for i in range(a.repeat):
        for case, signals in (("one Ctrl-C", 1), ("two Ctrl-C", 2)):
            print(f"round {i + 1}/{a.repeat}: {case} ...", file=sys.stderr)
            results[case].append(_round(servers, a.after, signals, a.rows))
    loads.append(os.getloadavg()[0])
    print(f"\n{a.rows:,} rows; signal at {a.after:.0%} of the chunks; load average {min(loads):.1f}-{max(loads):.1f}")
    print(f"{'case':<12} {'exit':>5} {'stop s median':>14} {'max':>6}  {'resume s':>9}  chunks signal/exit/all")
    ok = True
    for case, runs in results.items():
        stops = [r["stop_s"] for r in runs]
        codes = ",".join(map(str, sorted({r["exit"] for r in runs})))
        chunks = "; ".join(f"{r['done_at_signal']}/{r['done_at_exit']}/{r['total']}" for r in runs)
        resume = statistics.median(r["resume_s"] for r in runs)
        print(f"{case:<12} {codes:>5} {statistics.median(stops):>14.2f} {max(stops):>6.2f}  {resume:>9.1f}  {chunks}")
        ok = ok and codes == "130" and all(r["rows_after_resume"] == a.rows for r in runs)
    if not ok:
        print("UNEXPECTED: an exit code other than 130, or a wrong row count after --resume", file=sys.stderr)
    return 0 if ok else 1


def _round(servers: Servers, after: float, signals: int, rows: int) -> dict[str, Any]:
    servers.reset_schema(SCHEMA, create=False)
    argv = [sys.executable, "-m", "xfer", "migrate", servers.mysql_url(), servers.pg_url(SCHEMA), "-t", data.TABLE]
    argv += ["--no-verify", "--quiet"]
    with servers.pg_connect() as pg:
        before = _latest(pg)  # the run journal's latest run before this one: not this round's
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    total = done = 0
    with servers.pg_connect() as pg:
        while proc.poll() is None:
            total, done = _chunks(pg, before)
            if total and done >= max(1, int(total * after)):
                break
            time.sleep(0.02)
        sent = time.perf_counter()
        for n in range(signals):
            if n:
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=300)
        stop = time.perf_counter() - sent
        if proc.returncode != 130:
            print(err.decode(errors="replace")[-2000:], file=sys.stderr)
        _, done_at_exit = _chunks(pg, before)
    t0 = time.perf_counter()
    resumed = subprocess.run([*argv, "--resume"], capture_output=True, check=False)
    resume = time.perf_counter() - t0
    if resumed.returncode != 0:
        print(resumed.stderr.decode(errors="replace")[-2000:], file=sys.stderr)
    return {
        "exit": proc.returncode,
        "stop_s": round(stop, 3),
        "done_at_signal": done,
        "done_at_exit": done_at_exit,
        "total": total,
        "resume_s": round(resume, 2),
        "rows_after_resume": servers.count(SCHEMA),
    }


def _latest(pg: Any) -> str | None:
    try:
        row = pg.execute(  # (other runs may share the database: this benchmark's schema only)
            "SELECT run_id FROM _xfer.runs WHERE target LIKE %s ORDER BY started DESC LIMIT 1", (f"%{SCHEMA}%",)
        ).fetchone()
    except Exception:  # no journal in this database yet
        return None
    return row[0] if row else None


def _chunks(pg: Any, before: str | None) -> tuple[int, int]:
    """(chunks recorded, chunks done) of the run started after `before` (0, 0 until it has)."""
    run = _latest(pg)
    if run is None or run == before:
        return 0, 0
    row = pg.execute("SELECT count(*), count(done_at) FROM _xfer.chunks WHERE run_id = %s", (run,)).fetchone()
    return int(row[0]), int(row[1])

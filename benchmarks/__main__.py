"""`python -m benchmarks`: xfer against pgloader and the client floors, on one MariaDB table.

    python -m benchmarks --rows 2000000 --repeat 3
    python -m benchmarks cdc [--rows N --events E]   # change capture: see benchmarks/cdc.py
    python -m benchmarks interrupt [--rows N]        # Ctrl-C to exit, then --resume: benchmarks/interrupt.py
    python -m benchmarks verify [--rows N]           # xfer verify, and next to reladiff: benchmarks/verify.py
    python -m benchmarks many-tables [--tables N]     # a wide schema: see benchmarks/many_tables.py

Creates (or reuses) the deterministic 12-column table `bench` of N rows in MariaDB, then, in each
of `--repeat` rounds, loads it into PostgreSQL with each contender (each into its own schema):
`xfer migrate --no-verify` (tables, rows, keys and indexes: what pgloader does), `xfer verify`
on the result (timed on its own: pgloader verifies nothing), pgloader, and the floors: the
`mariadb` client reading the rows to a file, `psql \\copy` loading that file, plus the index
build. Prints and writes (to benchmarks/results/) the median wall seconds, rows/s, MB/s,
client CPU seconds and peak RSS of each contender's process tree, and the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from . import contenders as c
from . import data
from .measure import Run

RESULTS = Path(__file__).parent / "results"
TARGETS = {"xfer / pgloader": 0.4, "xfer / floor": 1.5, "xfer peak RSS MB": 300}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["cdc"]:  # named benchmarks: `python -m benchmarks cdc ...`
        from . import cdc

        return cdc.main(argv[1:])
    if argv[:1] == ["interrupt"]:
        from . import interrupt

        return interrupt.main(argv[1:])
    if argv[:1] == ["verify"]:  # `python -m benchmarks verify ...`: see benchmarks/verify.py
        from . import verify

        return verify.main(argv[1:])
    if argv[:1] == ["many-tables"]:  # a wide schema: see benchmarks/many_tables.py
        from . import many_tables

        return many_tables.main(argv[1:])
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=2_000_000, help="rows in the table (default 2,000,000)")
    p.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported (default 3)")
    p.add_argument("--jobs", type=int, default=2, help="xfer --jobs (default 2)")
    p.add_argument("--mysql", default="mysql://root@127.0.0.1:3306/xfer_bench", help="MariaDB database URL")
    p.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres", help="PostgreSQL URL")
    p.add_argument("--skip", default="", help="comma-separated: pgloader, floors, verify")
    p.add_argument("--xfer-args", default="", help="extra arguments for xfer migrate")
    p.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON figures")
    a = p.parse_args(argv)
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    if "pgloader" not in skip and not c.have("pgloader"):
        print("pgloader is not installed (apt-get install -y pgloader): skipped", file=sys.stderr)
        skip.add("pgloader")
    if "floors" not in skip and not (c.have("mariadb") and c.have("psql")):
        print("the mariadb or psql client is missing: floors skipped", file=sys.stderr)
        skip.add("floors")

    servers = c.Servers(make_url(a.mysql), make_url(a.postgres))
    data.ensure_database(servers.mysql)
    with contextlib.closing(data.connect(servers.mysql, servers.mysql.database)) as conn:
        t0 = time.perf_counter()
        if data.ensure_table(conn, a.rows, log=lambda m: print(m, file=sys.stderr)):
            print(f"generated in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        with conn.cursor() as cur:
            cur.execute(
                "SELECT DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
                (data.TABLE,),
            )
            size = int(cur.fetchone()[0])

    work = c.workdir()
    rounds: list[dict[str, Run]] = []
    loads: list[float] = []
    for i in range(a.repeat):
        print(f"round {i + 1}/{a.repeat} ...", file=sys.stderr)
        got: dict[str, Run] = {}
        loads.append(os.getloadavg()[0])
        report = work / "xfer.json"
        got["xfer"] = c.check(c.xfer_migrate(servers, a.jobs, a.xfer_args.split(), report))
        got["xfer"].extra["report"] = json.loads(report.read_text())
        if "verify" not in skip:
            got["verify"] = c.check(c.xfer_verify(servers))
        if "pgloader" not in skip:
            # pgloader failing is a result to report (at 10M rows its default 1 GB heap runs out)
            got["pgloader"] = c.pgloader(servers, work)
        if "floors" not in skip:
            tsv = work / "bench.tsv"
            got["mariadb"] = c.check(c.mariadb_read(servers, tsv))
            got["psql"], got["index"] = (c.check(r) for r in c.psql_copy(servers, tsv))
            tsv.unlink()
        loads.append(os.getloadavg()[0])
        rounds.append(got)

    figures = summarize(rounds, a.rows, size, a, loads)
    print(render(figures))
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / f"bench-{a.rows}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nfigures written to {path}")
    bad = [f"{k}: {v}" for k, v in figures["target_rows"].items() if v not in (None, a.rows)]
    if bad:
        print("WRONG ROW COUNTS: " + "; ".join(bad), file=sys.stderr)
        return 1
    return 0


def _median(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def summarize(rounds: list[dict[str, Run]], rows: int, size: int, a: Any, loads: list[float]) -> dict[str, Any]:
    names = {
        "xfer": "xfer migrate (no verify)",
        "verify": "xfer verify",
        "pgloader": "pgloader",
        "mariadb": "mariadb read floor",
        "psql": "psql \\copy floor",
        "index": "index build (floor)",
    }
    med: dict[str, Any] = {}
    failures: dict[str, list[str]] = {}
    for key in names:
        runs = [r[key] for r in rounds if key in r and r[key].returncode == 0]
        failures[names[key]] = [_why(r[key]) for r in rounds if key in r and r[key].returncode != 0]
        if runs:
            wall = _median(runs, "wall")
            med[key] = {
                "wall_s": round(wall, 2),
                "rows_per_s": round(rows / wall),
                "mb_per_s": round(size / 1e6 / wall, 1),
                "client_cpu_s": round(_median(runs, "cpu"), 2),
                "peak_rss_mb": round(_median(runs, "peak_rss") / 1e6, 1),
                "runs_wall_s": [round(r.wall, 2) for r in runs],
            }
    if "psql" in med:
        floor = [r["psql"].wall + r["index"].wall for r in rounds]
        med["floor"] = {"wall_s": round(statistics.median(floor), 2), "runs_wall_s": [round(f, 2) for f in floor]}
    ratios: dict[str, float] = {}
    x = med["xfer"]["wall_s"]
    if "pgloader" in med:
        ratios["xfer / pgloader"] = round(x / med["pgloader"]["wall_s"], 3)
    if "floor" in med:
        ratios["xfer / floor"] = round(x / med["floor"]["wall_s"], 3)
    ratios["xfer peak RSS MB"] = med["xfer"]["peak_rss_mb"]
    reports = [r["xfer"].extra["report"] for r in rounds]
    phases = {
        k: round(statistics.median(rep["phases"].get(k, 0.0) for rep in reports), 2) for k in reports[0]["phases"]
    }
    return {
        "rows": rows,
        "table_bytes": size,
        "repeat": len(rounds),
        "jobs": a.jobs,
        "xfer_args": a.xfer_args,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_1m": {"min": round(min(loads), 2), "max": round(max(loads), 2)},
        },
        "xfer_notes": reports[-1]["notes"],
        "xfer_phases_s": phases,
        "median": {names[k] if k in names else k: v for k, v in med.items()},
        "failures": {k: v for k, v in failures.items() if v},
        "ratios": ratios,
        "targets": {
            k: {"target": t, "measured": ratios.get(k), "met": _met(k, ratios.get(k), t)} for k, t in TARGETS.items()
        },
        "target_rows": {
            names[k]: rounds[-1][k].extra.get("target_rows")
            for k in ("xfer", "pgloader", "psql")
            if k in rounds[-1] and rounds[-1][k].returncode == 0
        },
    }


def _why(r: Run) -> str:
    """The line of a failed run's output that says why (pgloader: 'Heap exhausted, game over.')."""
    lines = [ln.strip() for ln in r.output.splitlines() if ln.strip()]
    for ln in lines:
        if "exhausted" in ln or "ERROR" in ln or "FATAL" in ln:
            return f"exit {r.returncode}: {ln[:200]}"
    return f"exit {r.returncode}: {lines[-1][:200] if lines else ''}"


def _met(key: str, value: float | None, target: float) -> bool | None:
    return None if value is None else value <= target


def render(f: dict[str, Any]) -> str:
    lines = [
        f"{f['rows']:,} rows, {f['table_bytes'] / 1e6:.0f} MB (InnoDB data), median of {f['repeat']} "
        f"round(s); {f['machine']['cpus']} CPUs, load average {f['machine']['load_average_1m']['min']}-"
        f"{f['machine']['load_average_1m']['max']}",
        "",
        f"{'':28}{'wall s':>9}{'rows/s':>11}{'MB/s':>8}{'client CPU s':>14}{'peak RSS MB':>13}",
    ]
    for name, m in f["median"].items():
        if "rows_per_s" in m:
            lines.append(
                f"{name:28}{m['wall_s']:9.2f}{m['rows_per_s']:11,}{m['mb_per_s']:8.1f}"
                f"{m['client_cpu_s']:14.2f}{m['peak_rss_mb']:13.1f}"
            )
        else:
            lines.append(f"{name + ' (copy + index)':28}{m['wall_s']:9.2f}")
    for name, why in f.get("failures", {}).items():
        lines.append(f"{name:28}FAILED in {len(why)} round(s): {why[0]}")
    lines.append("")
    lines.append("xfer phases (median wall s): " + ", ".join(f"{k} {v}" for k, v in f["xfer_phases_s"].items()))
    for k, t in f["targets"].items():
        met = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
        lines.append(f"{k}: {t['measured']} (target <= {t['target']}): {met}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

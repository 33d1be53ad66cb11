"""How long a clean `xfer verify` takes next to the migration it checks, what locating a few
changed rows adds, and xfer next to reladiff on the same table.

    python -m benchmarks verify --rows 2000000     (or: python -m benchmarks.verify ...)

Builds (or reuses) the main benchmark's deterministic MariaDB table of N rows (`benchmarks.data`:
unsigned bigint key, int, varchar, nullable text, decimal(12,2), smallint, nullable double,
tinyint(1), enum, datetime(6), nullable date, nullable JSON; a secondary index), migrates it to
PostgreSQL with xfer (no built-in check), verifies it (clean), changes 10 rows in the target and
verifies again (locating them). Then, side by side as separate processes (wall time, peak RSS
of the process tree, the keys each reports): `xfer verify` and reladiff (data-diff's maintained
fork) on the changed target plus one more change, a double altered in its 15th significant
digit. reladiff runs from its own virtualenv (`RELADIFF_INSTALL`; `--reladiff PATH`), and is
skipped, saying so, when it is not there. Prints the figures and writes them as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from xfer import api as pipeline
from xfer.core.options import VERIFY_METHODS, Options

from . import data
from .measure import Run
from .measure import run as run_measured

TABLE = data.TABLE  # the main benchmark's table: the same rows, the same figures


def _pg(url: str, database: str | None = None) -> Any:
    import psycopg

    u = make_url(url)
    params = dict(host=u.host, port=u.port, user=u.username, password=u.password, dbname=database or u.database)
    return psycopg.connect(autocommit=True, **{k: v for k, v in params.items() if v is not None})


def ensure_databases(mysql_url: str, pg_url: str) -> None:
    data.ensure_database(make_url(mysql_url))
    pg_db = make_url(pg_url).database
    with _pg(pg_url, "postgres") as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (pg_db,)).fetchone():
            conn.execute(f'CREATE DATABASE "{pg_db}"')


def build_source(mysql_url: str, rows: int) -> tuple[bool, float]:
    """Create the main benchmark's table unless it is there with N rows; (built?, seconds)."""
    url = make_url(mysql_url)
    t0 = time.monotonic()
    with contextlib.closing(data.connect(url, url.database)) as conn:
        built = data.ensure_table(conn, rows, log=lambda m: print(m, file=sys.stderr))
    return built, time.monotonic() - t0 if built else 0.0


def change_rows(pg_url: str, rows: int, n: int) -> list[int]:
    """Change one cell in each of `n` rows spread over the table (a different column each)."""
    ids = sorted({max(1, (i + 1) * rows // (n + 1)) for i in range(n)})
    sets = [
        "name = name || ' '",
        "price = price + 0.01",
        "small = small + 1",
        "created_at = created_at + interval '1 microsecond'",
        "note = coalesce(note, '') || '!'",
        "status = 'cancelled'",
        "qty = qty + 1",
        "active = NOT active",
        "birth = coalesce(birth, DATE '2000-01-01') + 1",
        "attrs = '{\"changed\": true}'",
    ]
    with _pg(pg_url) as conn:
        for i, rid in enumerate(ids):
            conn.execute(f"UPDATE {TABLE} SET {sets[i % len(sets)]} WHERE id = %s", (rid,))
    return ids


def _timed(fn: Any) -> tuple[Any, float]:
    t0 = time.monotonic()
    out = fn()
    return out, time.monotonic() - t0


def _table(report: pipeline.RunReport) -> Any:
    (t,) = report.tables
    return t


def run(mysql_url: str, pg_url: str, rows: int, changes: int, method: str, repeat: int = 1) -> dict[str, Any]:
    ensure_databases(mysql_url, pg_url)
    built, build_s = build_source(mysql_url, rows)
    sel = (TABLE,)
    migrate_runs, clean_runs = [], []
    opts = Options.build(tables=sel, verify_method=method)
    for _ in range(repeat):  # migrate and verify alternate: both see the same machine load
        migrated, migrate_s = _timed(
            lambda: pipeline.migrate(mysql_url, pg_url, Options.build(tables=sel, if_exists="replace", verify=False))
        )
        if migrated.status != "ok":
            raise SystemExit(f"migration failed: {_table(migrated).error}")
        clean, clean_s = _timed(lambda: pipeline.verify(mysql_url, pg_url, opts))
        t = _table(clean)
        if t.status != "ok":
            raise SystemExit(f"a clean verify found differences: {t.error}")
        migrate_runs.append(round(migrate_s, 2))
        clean_runs.append(round(clean_s, 2))
    migrate_s, clean_s = statistics.median(migrate_runs), statistics.median(clean_runs)
    changed = change_rows(pg_url, rows, changes)
    opts = Options.build(tables=sel, verify_method=method, sample=changes)
    located, locate_s = _timed(lambda: pipeline.verify(mysql_url, pg_url, opts))
    lt = _table(located)
    found = sorted(int(s["key"]["id"]) for s in lt.verification.samples) if lt.verification else []
    return {
        "benchmark": "verify",
        "rows": rows,
        "table_built": built,
        "build_seconds": round(build_s, 2),
        "repeat": repeat,
        "migrate_seconds": round(migrate_s, 2),  # median of `repeat` runs
        "migrate_runs": migrate_runs,
        "verify_clean_seconds": round(clean_s, 2),  # median of `repeat` runs
        "verify_clean_runs": clean_runs,
        "verify_clean_stages": t.verification.seconds if t.verification else {},
        "verify_clean_method": t.verification.method if t.verification else {},
        "verify_vs_migrate": round(clean_s / migrate_s, 2) if migrate_s else None,
        "changed_rows": changes,
        "verify_locate_seconds": round(locate_s, 2),
        "verify_locate_stages": lt.verification.seconds if lt.verification else {},
        "locate_extra_seconds": round(locate_s - clean_s, 2),
        "buckets": lt.verification.buckets if lt.verification else None,
        "buckets_mismatched": lt.verification.buckets_mismatched if lt.verification else None,
        "changed": changed,
        "located": found,
        "located_all": found == changed,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }


RELADIFF = "/work/venv-reladiff/bin/reladiff"
RELADIFF_INSTALL = (
    "python3 -m venv /work/venv-reladiff && /work/venv-reladiff/bin/pip install 'reladiff[mysql,postgresql]'"
)
# reladiff refuses the JSON column (`Text() <-> jsonb`) and stops half-way, exit status 0, on a
# nullable column whose differing row has a NULL on one side (the date column's zero dates, NULL
# in the target; the text column `note` changed from NULL): "'<' not supported between instances
# of 'NoneType' and 'str'". It compares the other nine columns; xfer compares all twelve.
RELADIFF_COLUMNS = ("qty", "name", "price", "small", "score", "active", "status", "created_at")


def change_float(pg_url: str, rows: int, taken: list[int]) -> int:
    """Change one double in its 15th significant digit (a non-NULL score: ids not divisible by
    11); returns the row's id."""
    rid = next(i for i in range(rows // 3, rows) if i % 11 and i not in taken)
    with _pg(pg_url) as conn:
        conn.execute(f"UPDATE {TABLE} SET score = score + abs(score) * 1e-14 WHERE id = %s", (rid,))
    return rid


def xfer_side(mysql_url: str, pg_url: str, sample: int, report: Path) -> tuple[Run, list[int]]:
    argv = [sys.executable, "-m", "xfer", "verify", mysql_url, pg_url, "-t", TABLE, "--quiet"]
    r = run_measured("xfer verify", [*argv, "--sample", str(sample), "--report", str(report)])
    if r.returncode not in (0, 3):
        raise SystemExit(f"xfer verify failed (exit {r.returncode}):\n{r.output[-2000:]}")
    (t,) = json.loads(report.read_text())["tables"]
    return r, sorted(int(s["key"]["id"]) for s in (t.get("verification") or {}).get("samples", []))


def reladiff_side(reladiff: str, mysql_url: str, pg_url: str) -> tuple[Run, list[int]]:
    argv = [reladiff, mysql_url, TABLE, pg_url, TABLE, "-k", "id", "-j", "2", "--json"]
    env = dict(os.environ, COLUMNS="100000")  # one JSON line per row
    r = run_measured("reladiff", [*argv, *(a for c in RELADIFF_COLUMNS for a in ("-c", c))], env=env)
    if r.returncode != 0:
        raise SystemExit(f"reladiff failed (exit {r.returncode}):\n{r.output[-2000:]}")
    # its JSON lines ["-", ["<id>", ...]] (the console may wrap them): the key is the first value
    keys = {int(k) for k in re.findall(r'\[\s*"[-+]"\s*,\s*\[\s*"(-?\d+)"', r.output)}
    r.extra["errors"] = re.findall(r"ERROR - (.*)", r.output)  # it logs them and exits 0
    return r, sorted(keys)


def side_by_side(mysql_url: str, pg_url: str, expected: list[int], reladiff: str) -> dict[str, Any]:
    """xfer verify and reladiff, one after the other, on the target as it is (`expected`: the
    keys changed in it)."""
    out: dict[str, Any] = {"expected": expected, "reladiff_columns": ["id", *RELADIFF_COLUMNS]}
    report = Path(tempfile.mkdtemp(prefix="xfer-bench-")) / "verify.json"
    contenders = [("xfer", lambda: xfer_side(mysql_url, pg_url, max(len(expected), 1), report))]
    if Path(reladiff).exists() or shutil.which(reladiff):
        contenders.append(("reladiff", lambda: reladiff_side(reladiff, mysql_url, pg_url)))
    else:
        print(f"reladiff not found at {reladiff}: skipped (install: {RELADIFF_INSTALL})", file=sys.stderr)
        out["reladiff"] = None
    for name, fn in contenders:
        load = os.getloadavg()[0]
        r, found = fn()
        out[name] = {
            "wall_seconds": round(r.wall, 2),
            "client_cpu_seconds": round(r.cpu, 2),
            "peak_rss_mb": round(r.peak_rss / 2**20, 1),
            "load_average": round(load, 2),
            "found": found,
            "missed": sorted(set(expected) - set(found)),
            "errors": r.extra.get("errors", []),
        }
    return out


def _print_side_by_side(s: dict[str, Any]) -> None:
    what = f"{len(s['expected'])} rows changed in the target (one a double in its 15th digit)"
    print(f"\nside by side: {what if s['expected'] else 'the target as migrated (clean)'}")
    print(f"{'':10}{'wall s':>9}{'client CPU s':>14}{'peak RSS MB':>13}{'load':>6}  found / missed")
    for name in ("xfer", "reladiff"):
        f = s.get(name)
        if f is None:
            print(f"{name:10}  skipped (not installed: {RELADIFF_INSTALL})")
            continue
        print(
            f"{name:10}{f['wall_seconds']:9.2f}{f['client_cpu_seconds']:14.2f}{f['peak_rss_mb']:13.1f}"
            f"{f['load_average']:6.1f}  {len(f['found'])} / {len(f['missed'])} {f['missed'] or ''}"
        )
        for e in f["errors"]:
            print(f"{'':10}  its error (exit status 0): {e}")
    if s.get("reladiff"):
        ratio = s["xfer"]["wall_seconds"] / s["reladiff"]["wall_seconds"]
        print(f"xfer / reladiff wall: {ratio:.2f}  (reladiff compares {len(s['reladiff_columns'])} of 12 columns)")


def _print(r: dict[str, Any]) -> None:
    lines = [
        f"rows                      {r['rows']:,}" + ("" if r["table_built"] else "  (table reused)"),
        f"migrate (no check)        {r['migrate_seconds']:8.2f} s  (median of {r['migrate_runs']})",
        f"verify, clean             {r['verify_clean_seconds']:8.2f} s  (median of {r['verify_clean_runs']}: "
        f"{r['verify_vs_migrate']}x the migration; methods {r['verify_clean_method']})",
        f"verify, {r['changed_rows']} rows changed    {r['verify_locate_seconds']:8.2f} s  "
        f"(+{r['locate_extra_seconds']:.2f} s; {r['buckets_mismatched']} of {r['buckets']} buckets drilled; "
        f"located all: {r['located_all']})",
        f"peak RSS                  {r['peak_rss_mb']:8.1f} MB",
    ]
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks verify", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=2_000_000, help="rows in the table (default 2,000,000)")
    p.add_argument("--mysql", default="mysql://root@127.0.0.1:3306/xfer_bench", help="MariaDB URL (database made)")
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/xfer_bench", help="PostgreSQL URL")
    p.add_argument("--changes", type=int, default=10, help="rows changed in the target before locating")
    p.add_argument("--method", choices=VERIFY_METHODS, default="auto", help="verify --method")
    p.add_argument("--repeat", type=int, default=1, help="migrate + clean verify runs; medians reported")
    p.add_argument(
        "--json",
        type=Path,
        default=None,
        help="write the figures here (default benchmarks/results/bench-verify-N.json)",
    )
    p.add_argument("--reladiff", default=RELADIFF, help=f"reladiff's command (default {RELADIFF})")
    p.add_argument("--no-side-by-side", action="store_true", help="skip the xfer / reladiff processes")
    args = p.parse_args(argv)
    result = run(args.mysql, args.pg, args.rows, args.changes, args.method, args.repeat)
    _print(result)
    ok = result["located_all"]
    if not args.no_side_by_side:
        changed = sorted([*result["changed"], change_float(args.pg, args.rows, result["changed"])])
        result["side_by_side"] = sbs = side_by_side(args.mysql, args.pg, changed, args.reladiff)
        _print_side_by_side(sbs)
        # then on the target migrated again (the migration leaves it clean)
        pipeline.migrate(args.mysql, args.pg, Options.build(tables=(TABLE,), if_exists="replace", verify=False))
        result["side_by_side_clean"] = clean = side_by_side(args.mysql, args.pg, [], args.reladiff)
        _print_side_by_side(clean)
        ok = ok and not sbs["xfer"]["missed"] and not clean["xfer"]["found"]
    out = args.json or Path(__file__).parent / "results" / f"bench-verify-{args.rows}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"figures written to {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

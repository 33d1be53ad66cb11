"""`python -m benchmarks cdc`: change capture, xfer against pg_chameleon 2.0.21, in one run.

    python -m benchmarks cdc --rows 100000 --events 120000

Starts its own binlog-enabled MariaDB (`tests.binlog_server`; the system MariaDB is not touched)
and gives each contender its own MariaDB database (`cdc_xfer`, `cdc_chameleon`: the same table
and workload, generated the same way) and its own throw-away PostgreSQL database (created and
dropped here). The contenders run one after the other, never at the same time, so neither
competes with the other for the two servers or the CPUs. For each: a table of N rows is copied
(`xfer migrate --follow`; pg_chameleon's `init_replica` then `start_replica`), one change is
round-tripped to prove the stream is live, then `--rounds` bursts of E row events (5/12 inserts,
5/12 updates, 2/12 deletes, in 120 transactions) are written as fast as the server takes them.
Measured per burst:
the burst's own seconds on the source; the seconds from its last commit until the target matches
the source (count(*), sum(qty), sum(price); polled only once a probe by primary key, polled every
50 ms, matches, so that the polling does not take CPU from the follower; every row is compared at
the end); events/s (E over the burst's plus the catch-up seconds). Then the lag while a writer
commits `--steady-rate` rows/s for `--steady-seconds` (the target's max id sampled every 100 ms,
turned into the age of the oldest source commit the target lacks), and the peak RSS of the
follower's process tree from the first burst to the end of the steady phase.
Noise: every burst's figures are printed, with the load average around each contender.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from . import cdc_workload as w
from .cdc_tools import Chameleon, RssSampler, Unavailable, Xfer, cpu_seconds, ensure_chameleon

RESULTS = Path(__file__).parent / "results"
SCHEMA = "cdc"  # the target schema, for both contenders
GOALS = {"caught up s": 2.0, "follower peak RSS MB": 200.0, "steady lag max s": 1.0}  # issue #13's goals
POLL_S = 0.05  # full fingerprints, once the probe matches
PROBE_S = 0.05


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks cdc", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=100_000, help="rows in the table before the bursts (default 100,000)")
    p.add_argument("--events", type=int, default=120_000, help="row events per burst (default 120,000)")
    p.add_argument("--rounds", type=int, default=2, help="bursts per contender, for the noise (default 2)")
    p.add_argument("--steady-rate", type=int, default=5000, help="rows/s of the steady phase (default 5,000)")
    p.add_argument("--steady-seconds", type=float, default=10.0, help="length of the steady phase (default 10)")
    p.add_argument("--skip-chameleon", action="store_true", help="measure xfer only")
    p.add_argument("--skip-xfer", action="store_true", help="measure pg_chameleon only")
    p.add_argument("--chameleon-user", default="chm", help="the ordinary user pg_chameleon runs as (default chm)")
    p.add_argument("--chameleon-venv", type=Path, default=None, help="its venv (default ~USER/venv)")
    p.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                   help="PostgreSQL server (the throw-away databases are created on it)")  # fmt: skip
    p.add_argument("--timeout", type=float, default=600, help="give up catching up after this many seconds")
    p.add_argument("--xfer-args", default="", help="extra arguments for xfer migrate --follow")
    p.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON figures")
    a = p.parse_args(argv)
    shape = w.Shape(a.rows, a.events, a.rounds)
    shape.check()

    from tests.binlog_server import available, binlog_mariadb

    why = available()
    if why:
        print(f"benchmark cdc: cannot start a binlog-enabled MariaDB: {why}", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="xfer-cdc-"))
    os.chmod(work, 0o755)
    results: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    with binlog_mariadb() as server:
        log(f"binlog MariaDB on port {server.port}; work files in {work}")
        if not a.skip_xfer:
            results["xfer"] = measure("xfer", server.port, shape, a, work)
        if a.skip_chameleon:
            results["pg_chameleon"] = {"skipped": "--skip-chameleon"}
        else:
            results["pg_chameleon"] = measure("pg_chameleon", server.port, shape, a, work)
        with contextlib.closing(w.connect(server.port)) as conn, conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            version = cur.fetchone()[0]
    figures = {
        "rows": a.rows,
        "events": shape.per_txn * shape.txns,
        "transactions": shape.txns,
        "rows_per_transaction": shape.per_txn,
        "rounds": a.rounds,
        "steady_rate": a.steady_rate,
        "steady_seconds": a.steady_seconds,
        "mariadb": version,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "wall_s": round(time.perf_counter() - t0, 1),
        "contenders": results,
    }
    figures["goals"] = goals(figures)
    log(f"the contenders' output and logs: {work}")
    print(render(figures))
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / f"cdc-{a.rows}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    print(f"\nfigures written to {path}")
    x = results.get("xfer")
    if x is not None and not (x.get("identical") is True and "error" not in x and "unavailable" not in x):
        print("xfer did not finish with a target identical to the source", file=sys.stderr)
        return 1
    return 0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- one contender


class PgDatabase:
    """A throw-away PostgreSQL database on the --postgres server."""

    def __init__(self, url: str, name: str) -> None:
        u = make_url(url)
        self.params = {k: v for k, v in {"host": u.host or "127.0.0.1", "port": u.port or 5432,
                       "user": u.username or "postgres", "password": u.password}.items() if v is not None}  # fmt: skip
        self.admin_db = u.database or "postgres"
        self.name = name
        auth = self.params["user"] + (f":{u.password}" if u.password else "")
        self.url = f"postgresql://{auth}@{self.params['host']}:{self.params['port']}/{name}?schema={SCHEMA}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(autocommit=True, dbname=self.admin_db, **self.params) as conn:
            conn.execute(sql)

    def create(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        # template0: nobody is ever connected to it, so concurrent CREATE DATABASEs never collide
        self._admin(f"CREATE DATABASE \"{self.name}\" TEMPLATE template0 ENCODING 'UTF8'")

    def drop(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def connect(self) -> Any:
        import psycopg

        return psycopg.connect(autocommit=True, dbname=self.name, **self.params)


def measure(key: str, port: int, shape: w.Shape, a: Any, work: Path) -> dict[str, Any]:
    db = f"cdc_{key.replace('pg_', '')}"
    pg = PgDatabase(a.postgres, f"xfer_cdc_{db}_{uuid.uuid4().hex[:6]}")
    out: dict[str, Any] = {"mysql_database": db, "pg_database": pg.name}
    tool: Any = None
    try:
        if key == "pg_chameleon":
            venv = a.chameleon_venv or Path(os.path.expanduser(f"~{a.chameleon_user}")) / "venv"
            prefix = ensure_chameleon(a.chameleon_user, venv, log=log)
        log(f"{key}: generating {shape.rows:,} rows in MariaDB database {db} ...")
        w.create(port, db, shape.rows)
        pg.create()
        if key == "xfer":
            src = f"mysql://root@127.0.0.1:{port}/{db}"
            tool = Xfer(src, pg.url, work, a.xfer_args.split())
        else:
            tool = Chameleon(prefix, a.chameleon_user, port, db, pg.params | {"dbname": pg.name}, SCHEMA, work)
        out["load_average_before"] = round(os.getloadavg()[0], 2)
        log(f"{key}: initial copy ...")
        out["copy_s"] = round(tool.start(), 2)
        if isinstance(tool, Xfer):
            out["copy_peak_rss_mb"] = round(tool.copy_peak_rss / 1e6, 1)
        table = f"{SCHEMA}.{w.TABLE}"
        with contextlib.closing(pg.connect()) as conn:
            out["live_s"] = round(round_trip(port, db, conn, table, tool, a.timeout), 2)
            with RssSampler(tool.processes) as rss:
                out["bursts"] = []
                for r in range(shape.rounds):
                    log(f"{key}: burst {r + 1}/{shape.rounds} ({shape.per_txn * shape.txns:,} row events) ...")
                    out["bursts"].append(one_burst(port, db, conn, table, tool, shape, r, a.timeout))
                    log(f"{key}:   {out['bursts'][-1]}")
                if a.steady_seconds > 0:
                    log(f"{key}: steady {a.steady_rate:,} rows/s for {a.steady_seconds:g} s ...")
                    out["steady"] = steady(port, db, conn, table, tool, shape, a)
                    log(f"{key}:   {out['steady']}")
            out["peak_rss_mb"] = round(rss.peak / 1e6, 1)
            out["rss_before_bursts_mb"] = round((rss.first or 0) / 1e6, 1)
            diff = w.first_difference(w.rows_mysql(port, db), w.rows_pg(conn, table))
            out["identical"] = diff is None
            if diff:
                out["difference"] = diff
        out["load_average_after"] = round(os.getloadavg()[0], 2)
        out["stopped"] = tool.stop()
        out["events_applied"] = tool.applied(out["stopped"])
        out["events_written"] = (
            1 + sum(b["events"] for b in out["bursts"]) + out.get("steady", {}).get("rows_written", 0)
        )
    except Unavailable as e:
        out["unavailable"] = str(e)
        log(f"{key}: cannot run: {e}")
    except Exception as e:  # a contender failing is a result to print, not the end of the run
        out["error"] = f"{type(e).__name__}: {e}"
        log(f"{key}: failed: {out['error']}")
    finally:
        if tool is not None:
            tool.kill()
        with contextlib.suppress(Exception):
            pg.drop()
    return out


class NotCaughtUp(Exception):
    pass


def wait_match(port: int, db: str, conn: Any, table: str, tool: Any, since: float, timeout: float, probe: int) -> float:
    """Seconds from `since` until the target's count and sums equal the source's (which is quiet).
    Until the probe (max id, row `probe`) matches, only the probe is polled: scanning the whole
    target every 50 ms would take CPU from the follower being measured."""
    want = w.fingerprint_mysql(port, db)
    want_probe = w.probe_mysql(port, db, probe)
    got: Any = None
    while True:
        if w.probe_pg(conn, table, probe) == want_probe:
            got = w.fingerprint_pg(conn, table)
            if got == want:
                return time.monotonic() - since
        now = time.monotonic()
        failed = tool.failure()
        if failed:
            raise NotCaughtUp(f"{failed} (target {got}, source {want})")
        if now - since > timeout:
            raise NotCaughtUp(f"not caught up {timeout:.0f} s after the writes (target {got}, source {want})")
        time.sleep(POLL_S if got else PROBE_S)


def round_trip(port: int, db: str, conn: Any, table: str, tool: Any, timeout: float) -> float:
    """One update through the stream before anything is timed: the follower is reading."""
    with contextlib.closing(w.connect(port, db)) as my, my.cursor() as cur:
        cur.execute(f"UPDATE {w.TABLE} SET qty = qty + 1 WHERE id = 1")
    return wait_match(port, db, conn, table, tool, time.monotonic(), timeout, 1)


def one_burst(port: int, db: str, conn: Any, table: str, tool: Any, shape: w.Shape, r: int, timeout: float) -> dict:
    load = os.getloadavg()[0]
    procs = tool.processes()
    cpu0 = cpu_seconds(procs)
    burst_s, probe = w.burst(port, db, shape, r)
    end = time.monotonic()
    events = shape.per_txn * shape.txns
    try:
        caught = wait_match(port, db, conn, table, tool, end, timeout, probe)
    except NotCaughtUp as e:
        return {"events": events, "burst_s": round(burst_s, 2), "error": str(e), "load_average": round(load, 2)}
    return {
        "events": events,
        "burst_s": round(burst_s, 2),
        "caught_up_s": round(caught, 2),
        "events_per_s": round(events / (burst_s + caught)),
        "follower_cpu_s": round(cpu_seconds(procs) - cpu0, 2),
        "load_average": round(load, 2),
    }


def steady(port: int, db: str, conn: Any, table: str, tool: Any, shape: w.Shape, a: Any) -> dict[str, Any]:
    first = shape.rows + shape.rounds * shape.count("I") + 1
    writer = w.Steady(port, db, a.steady_rate, a.steady_seconds, first, shape.count("U") or 1)
    samples: list[tuple[float, int]] = []
    writer.start()
    assert writer._thread is not None
    while writer._thread.is_alive():
        t = time.monotonic()
        top = conn.execute(f"SELECT COALESCE(max(id), 0) FROM {table}").fetchone()[0]
        samples.append(((t + time.monotonic()) / 2, int(top)))
        time.sleep(0.1)
    writer.join()
    end = time.monotonic()
    try:
        after = round(wait_match(port, db, conn, table, tool, end, a.timeout, writer.last_update), 2)
    except NotCaughtUp as e:
        after = str(e)
    lags = sorted(w.lag_samples(writer.commits, samples))
    if not lags:
        return {"error": "no samples", "caught_up_after_s": after}
    return {
        "rows_written": writer.rows,
        "rows_per_s": round(writer.rows / writer.elapsed),
        "transactions": len(writer.commits),
        "samples": len(lags),
        "lag_median_s": round(statistics.median(lags), 2),
        "lag_p95_s": round(lags[int(0.95 * (len(lags) - 1))], 2),
        "lag_max_s": round(lags[-1], 2),
        "caught_up_after_s": after,
    }


# --------------------------------------------------------------------------- figures


def _median_of(c: dict[str, Any], key: str) -> float | None:
    vals = [b[key] for b in c.get("bursts", []) if key in b]
    return round(statistics.median(vals), 2) if vals and len(vals) == len(c.get("bursts", [])) else None


def goals(f: dict[str, Any]) -> dict[str, Any]:
    x = f["contenders"].get("xfer", {})
    measured = {
        "caught up s": _median_of(x, "caught_up_s"),
        "follower peak RSS MB": x.get("peak_rss_mb"),
        "steady lag max s": x.get("steady", {}).get("lag_max_s"),
    }
    return {k: {"goal": g, "measured": measured[k], "met": None if measured[k] is None else measured[k] <= g}
            for k, g in GOALS.items()}  # fmt: skip


def render(f: dict[str, Any]) -> str:
    cs = f["contenders"]
    names = list(cs)
    lines = [
        f"change capture: {f['rows']:,}-row table, then {f['rounds']} burst(s) of {f['events']:,} row events "
        f"({f['transactions']} transactions of {f['rows_per_transaction']:,} rows: 5/12 inserts, 5/12 updates, "
        f"2/12 deletes), then {f['steady_rate']:,} rows/s for {f['steady_seconds']:g} s",
        f"{f['mariadb']} (own binlog server), {f['machine']['cpus']} CPUs; contenders one after the other, "
        "each on its own MariaDB database and PostgreSQL database",
        "",
        f"{'':36}" + "".join(f"{n:>16}" for n in names),
    ]

    def row(label: str, get: Any) -> None:
        vals = []
        for n in names:
            c = cs[n]
            try:
                v = get(c)
            except (KeyError, IndexError, TypeError):
                v = None
            vals.append("-" if v is None else f"{v:,}" if isinstance(v, int) else f"{v}")
        lines.append(f"{label:36}" + "".join(f"{v:>16}" for v in vals))

    row("initial copy s", lambda c: c["copy_s"])
    for i in range(f["rounds"]):
        row(f"burst {i + 1}: on the source s", lambda c, i=i: c["bursts"][i]["burst_s"])
        row(f"burst {i + 1}: caught up after s", lambda c, i=i: c["bursts"][i].get("caught_up_s", "FAILED"))
        row(f"burst {i + 1}: events/s", lambda c, i=i: c["bursts"][i].get("events_per_s"))
        row(f"burst {i + 1}: follower CPU s", lambda c, i=i: c["bursts"][i].get("follower_cpu_s"))
    row("caught up after s (median)", lambda c: _median_of(c, "caught_up_s"))
    row("follower peak RSS MB", lambda c: c["peak_rss_mb"])
    row("  its RSS before the first burst MB", lambda c: c["rss_before_bursts_mb"])
    row("  copy phase peak RSS MB", lambda c: c.get("copy_peak_rss_mb"))
    row("steady: rows/s written", lambda c: c["steady"]["rows_per_s"])
    row("steady: lag median s", lambda c: c["steady"]["lag_median_s"])
    row("steady: lag p95 s", lambda c: c["steady"]["lag_p95_s"])
    row("steady: lag max s", lambda c: c["steady"]["lag_max_s"])
    row("steady: caught up after s", lambda c: c["steady"]["caught_up_after_s"])
    row("row events written (all phases)", lambda c: c["events_written"])
    row("row events applied (its own count)", lambda c: c["events_applied"])
    row("target identical to source", lambda c: {True: "yes", False: "NO"}[c["identical"]])
    row("load average before/after", lambda c: f"{c['load_average_before']}/{c['load_average_after']}")
    lines.append("")
    lines.append("events/s: the burst's events over (its seconds on the source + the seconds until caught up)")
    lines.append("follower CPU s: user+system of its processes over the burst and the catch-up (not the servers')")
    for n in names:
        c = cs[n]
        for k in ("skipped", "unavailable", "error", "difference"):
            if k in c:
                lines.append(f"{n}: {k.upper()}: {c[k]}")
        for i, b in enumerate(c.get("bursts", [])):
            if "error" in b:
                lines.append(f"{n}: burst {i + 1}: {b['error']}")
    for k, g in f["goals"].items():
        met = {True: "met", False: "NOT met", None: "not measured"}[g["met"]]
        lines.append(f"xfer {k}: {g['measured']} (goal <= {g['goal']}): {met}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

"""`python -m benchmarks many-tables`: a wide schema (issue #18), xfer against pgloader.

    python -m benchmarks many-tables --tables 1000 [--pgloader]
    python -m benchmarks many-tables --tables 10000

Creates (or reuses) the MariaDB database `xfer_many_N`: N tables `t00001`.. each with an
auto-increment `id` primary key, a `varchar`, a `decimal`, a `datetime`, one secondary index
and 20 rows; every tenth table also has a foreign key to its neighbour (100 of 1,000). Then
loads it into PostgreSQL (each contender into its own schema, dropped first): `xfer migrate
--no-verify --stats`, `xfer migrate --stats` (with verification), and with `--pgloader`
pgloader (its defaults; it verifies nothing). Prints each run's wall seconds and xfer's phases,
with the load average around each run (the machine may be shared), and writes the figures as
JSON to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from . import contenders as c
from . import data
from .measure import Run, run

RESULTS = Path(__file__).parent / "results"
ROWS = 20  # per table
FK_EVERY = 10  # every tenth table references its neighbour
SCHEMAS = {"xfer --no-verify": "many_xfer_nv", "xfer": "many_xfer", "pgloader": "many_pgloader"}
GOAL_S = 10.0  # issue #18: 1,000 tables with verification


def table_name(i: int) -> str:
    return f"t{i:05d}"


def table_ddl(i: int) -> str:
    """Table `i` (1-based); every FK_EVERY-th one references table i-1."""
    fk = i % FK_EVERY == 0 and i > 1
    cols = [
        "id INT AUTO_INCREMENT PRIMARY KEY",
        "name VARCHAR(64) NOT NULL",
        "amount DECIMAL(12,2)",
        "created DATETIME NOT NULL",
    ]
    if fk:
        cols.append("prev_id INT")
        cols.append(f"CONSTRAINT fk_{table_name(i)} FOREIGN KEY (prev_id) REFERENCES {table_name(i - 1)} (id)")
    else:
        cols.append("KEY created_idx (created)")  # the FK tables' secondary index is the one on prev_id
    return f"CREATE TABLE {table_name(i)} ({', '.join(cols)}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"


def table_rows(i: int) -> str:
    fk = i % FK_EVERY == 0 and i > 1
    values = []
    for r in range(1, ROWS + 1):
        day = (i * 7 + r) % 28 + 1
        base = f"({r}, 'row {r} of table {i}', {i * 100 + r}.{r % 100:02d}, '2024-03-{day:02d} 12:{r:02d}:00'"
        values.append(base + (f", {r})" if fk else ")"))
    cols = "id, name, amount, created" + (", prev_id" if fk else "")
    return f"INSERT INTO {table_name(i)} ({cols}) VALUES {', '.join(values)}"


def ensure_schema(url: Any, tables: int, log: Any) -> bool:
    """Create the database of `tables` tables unless it is there, complete; True when created."""
    mark = f"xfer many-tables benchmark v1: {tables} tables x {ROWS} rows"
    with contextlib.closing(data.connect(url, None)) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (url.database,))
        n = int(cur.fetchone()[0])
        cur.execute(
            "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (url.database, table_name(tables)),
        )
        got = cur.fetchone()
        if n == tables and got is not None and got[0] == mark:
            return False
        log(f"creating {tables} tables in MariaDB database {url.database} ...")
        cur.execute(f"DROP DATABASE IF EXISTS `{url.database}`")
        cur.execute(f"CREATE DATABASE `{url.database}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{url.database}`")
        t0 = time.perf_counter()
        for i in range(1, tables + 1):
            cur.execute(table_ddl(i))
            cur.execute(table_rows(i))
            if i % 1000 == 0:
                log(f"  {i} tables ({time.perf_counter() - t0:.0f} s)")
        # the mark goes on the last table, so an interrupted generation is never taken as complete
        cur.execute(f"ALTER TABLE {table_name(tables)} COMMENT = %s", (mark,))
        return True


def drop_schema(servers: c.Servers, schema: str) -> None:
    """Drop `schema` a few hundred tables at a time (one DROP SCHEMA ... CASCADE of 10,000
    tables runs out of lock slots: max_locks_per_transaction)."""
    with servers.pg_connect() as conn:
        while True:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relkind = 'r' LIMIT 300",
                    (schema,),
                )
            ]
            if not names:
                break
            conn.execute("DROP TABLE " + ", ".join(f'"{schema}"."{n}"' for n in names) + " CASCADE")
    servers.reset_schema(schema, create=False)


def xfer_run(servers: c.Servers, schema: str, verify: bool, report: Path, extra: list[str]) -> Run:
    drop_schema(servers, schema)
    argv = [sys.executable, "-m", "xfer", "migrate", servers.mysql_url(), servers.pg_url(schema), "--stats"]
    # --quiet: the summary of 10,000 tables would fill the pipe nobody reads until the end (the
    # phases come from the report)
    argv += ["--report", str(report), "--progress", "none", "--quiet", *extra]
    if not verify:
        argv.append("--no-verify")
    r = run("xfer", argv)
    if r.returncode in (0, 3) and report.exists():
        r.extra["report"] = json.loads(report.read_text())
    return r


PGLOADER_LOAD = """LOAD DATABASE
  FROM {mysql}
  INTO {postgres}
  ALTER SCHEMA '{database}' RENAME TO '{schema}';
"""


def pgloader_run(servers: c.Servers, work: Path) -> Run:
    schema = SCHEMAS["pgloader"]
    drop_schema(servers, schema)
    m = servers.mysql
    mysql = f"mysql://{m.username or 'root'}{':' + m.password if m.password else ''}@{m.host or '127.0.0.1'}"
    mysql += f":{m.port or 3306}/{m.database}"
    load = work / "many.load"
    load.write_text(PGLOADER_LOAD.format(mysql=mysql, postgres=servers.pg_url(), database=m.database, schema=schema))
    return run("pgloader", ["pgloader", "--no-ssl-cert-verification", str(load)])


def count_target(servers: c.Servers, schema: str) -> tuple[int, int]:
    """(tables, rows) in `schema` of the target."""
    with servers.pg_connect() as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'r'",
                (schema,),
            )
        ]
        if not names:
            return 0, 0
        rows = 0
        for i in range(0, len(names), 500):
            part = names[i : i + 500]
            sql = " + ".join(f'(SELECT count(*) FROM "{schema}"."{n}")' for n in part)
            rows += int(conn.execute(f"SELECT {sql}").fetchone()[0])
        return len(names), rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks many-tables", description=__doc__.split("\n\n")[0])
    p.add_argument("--tables", type=int, default=1000, help="tables in the schema (default 1,000)")
    p.add_argument("--pgloader", action="store_true", help="also run pgloader (it must be installed)")
    p.add_argument("--skip", default="", help="comma-separated: no-verify, verify (the xfer runs to leave out)")
    p.add_argument("--mysql", default=None, help="MariaDB database URL (default .../xfer_many_N)")
    p.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres", help="PostgreSQL URL")
    p.add_argument("--xfer-args", default="", help="extra arguments for xfer migrate")
    p.add_argument("--keep", action="store_true", help="leave the target schemas in place")
    p.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON figures")
    a = p.parse_args(argv)
    mysql = make_url(a.mysql or f"mysql://root@127.0.0.1:3306/xfer_many_{a.tables}")
    servers = c.Servers(mysql, make_url(a.postgres))
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}

    def log(msg: str) -> None:
        print(msg, file=sys.stderr)

    t0 = time.perf_counter()
    if ensure_schema(mysql, a.tables, log):
        log(f"generated in {time.perf_counter() - t0:.1f} s")
    work = c.workdir()
    runs: dict[str, Run] = {}
    loads: dict[str, tuple[float, float]] = {}
    plan = [("xfer --no-verify", False), ("xfer", True)]
    for name, verify in plan:
        if ("no-verify" if not verify else "verify") in skip:
            continue
        log(f"{name} ...")
        before = os.getloadavg()[0]
        runs[name] = xfer_run(servers, SCHEMAS[name], verify, work / f"{SCHEMAS[name]}.json", a.xfer_args.split())
        loads[name] = (before, os.getloadavg()[0])
    pgloader_missing = a.pgloader and not c.have("pgloader")
    if a.pgloader and not pgloader_missing:
        log("pgloader ...")
        before = os.getloadavg()[0]
        runs["pgloader"] = pgloader_run(servers, work)
        loads["pgloader"] = (before, os.getloadavg()[0])
    figures: dict[str, Any] = {
        "tables": a.tables,
        "rows_per_table": ROWS,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "runs": {},
    }
    for name, r in runs.items():
        tables, rows = count_target(servers, SCHEMAS[name]) if r.returncode in (0, 3) else (0, 0)
        entry: dict[str, Any] = {
            "wall_s": round(r.wall, 2),
            "exit": r.returncode,
            "client_cpu_s": round(r.cpu, 2),
            "peak_rss_mb": round(r.peak_rss / 1e6, 1),
            "load_average_1m": [round(x, 2) for x in loads[name]],
            "target_tables": tables,
            "target_rows": rows,
        }
        rep = r.extra.get("report")
        if rep is not None:
            entry["phases_s"] = {k: round(v, 2) for k, v in rep.get("phases", {}).items()}
            entry["status"] = rep.get("status")
        if r.returncode not in (0, 3):
            entry["output"] = r.output[-2000:]
        figures["runs"][name] = entry
        if not a.keep:
            drop_schema(servers, SCHEMAS[name])
    print(render(figures, pgloader_missing))
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / f"many-tables-{a.tables}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nfigures written to {path}")
    bad = [
        name
        for name, e in figures["runs"].items()
        if e["exit"] != 0 or e["target_tables"] != a.tables or e["target_rows"] != a.tables * ROWS
    ]
    if bad:
        print(f"FAILED OR INCOMPLETE: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


def render(f: dict[str, Any], pgloader_missing: bool) -> str:
    lines = [
        f"{f['tables']:,} tables x {f['rows_per_table']} rows ({f['tables'] * f['rows_per_table']:,} rows); "
        f"{f['machine']['cpus']} CPUs",
        "",
        f"{'':20}{'wall s':>8}{'client CPU s':>14}{'peak RSS MB':>13}{'load 1m':>14}  phases (wall s)",
    ]
    for name, e in f["runs"].items():
        phases = ", ".join(f"{k} {v}" for k, v in e.get("phases_s", {}).items()) or "-"
        load = f"{e['load_average_1m'][0]:.1f}-{e['load_average_1m'][1]:.1f}"
        lines.append(
            f"{name:20}{e['wall_s']:8.1f}{e['client_cpu_s']:14.1f}{e['peak_rss_mb']:13.1f}{load:>14}  {phases}"
        )
        if e["exit"] != 0:
            lines.append(f"{'':20}exit {e['exit']}: {e.get('output', '').strip().splitlines()[-1:]}")
    if pgloader_missing:
        lines.append(f"{'pgloader':20}not installed (apt-get install -y pgloader): not run")
    with_verify = f["runs"].get("xfer")
    if with_verify is not None and f["tables"] == 1000:
        met = "met" if with_verify["exit"] == 0 and with_verify["wall_s"] <= GOAL_S else "NOT met"
        lines.append(f"\ngoal: 1,000 tables with verification in <= {GOAL_S:.0f} s: {met}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

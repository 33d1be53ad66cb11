"""The benchmark package at small N: it generates its table deterministically, runs every
contender on the same rows and writes figures that say what ran. No assertion on time."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from conftest import _unavailable
from sqlalchemy.engine import make_url

from benchmarks import data
from benchmarks.__main__ import main


def test_benchmark_runs_every_contender_on_the_same_rows(
    mysql_url: str, pg_url: str, pg_conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    skip = [] if shutil.which("pgloader") else ["pgloader"]  # pgloader is an apt package, not ours: said below
    args = ["--rows", "2000", "--repeat", "1", "--mysql", mysql_url, "--postgres", pg_url, "--out", str(tmp_path)]
    assert main([*args, "--skip", ",".join(skip)]) == 0
    (path,) = tmp_path.glob("bench-2000-*.json")
    figures = json.loads(path.read_text())
    assert figures["rows"] == 2000 and figures["repeat"] == 1
    want = {"xfer migrate (no verify)": 2000, "psql \\copy floor": 2000}
    if not skip:
        want["pgloader"] = 2000
    assert figures["target_rows"] == want
    med = figures["median"]
    assert {"xfer migrate (no verify)", "xfer verify", "mariadb read floor", "index build (floor)"} <= set(med)
    for m in med.values():
        assert m["wall_s"] > 0
    assert med["xfer migrate (no verify)"]["peak_rss_mb"] > 20  # the whole process tree was sampled
    assert set(figures["xfer_phases_s"]) == {"create", "copy", "index"}
    assert any(n.startswith("reader: ") for n in figures["xfer_notes"])
    assert {"xfer / floor", "xfer peak RSS MB"} <= set(figures["ratios"])
    # xfer's target holds exactly the source rows, zero dates as NULL
    nulls = pg_conn.execute("SELECT count(*) FILTER (WHERE birth IS NULL) FROM bench_xfer.bench").fetchone()
    assert nulls == (pg_conn.execute("SELECT count(*) FILTER (WHERE birth IS NULL) FROM bench_floor.bench").fetchone())
    if skip:  # every other contender was checked; pgloader's figures were not: a visible skip, not a silent one
        _unavailable(
            "pgloader is not installed (apt-get install pgloader): the other contenders were run and checked, "
            "pgloader was left out",
            allow="pgloader",
        )


def test_generated_table_is_deterministic_and_reused(mysql_url: str) -> None:
    url = make_url(mysql_url)
    with contextlib.closing(data.connect(url, url.database)) as conn:
        assert data.ensure_table(conn, 1500) is True
        first = _checksum(conn)
        assert data.ensure_table(conn, 1500) is False  # same N and generator: reused
        with conn.cursor() as cur:
            cur.execute(f"ALTER TABLE {data.TABLE} COMMENT = 'stale'")
        assert data.ensure_table(conn, 1500) is True  # rebuilt
        assert _checksum(conn) == first
        with conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*), COUNT(note), COUNT(attrs), SUM(birth = '0000-00-00') FROM {data.TABLE}")
            rows, notes, attrs, zero_dates = cur.fetchone()
    assert (rows, notes, attrs, int(zero_dates)) == (1500, 1500 - 1500 // 7, 1000, 13)


def _checksum(conn: pymysql.connections.Connection) -> Any:
    with conn.cursor() as cur:
        cur.execute(f"CHECKSUM TABLE {data.TABLE}")
        return cur.fetchone()[1]


def test_cdc_benchmark_runs_the_xfer_side(pg_server: Any, pg_conn: psycopg.Connection[Any], tmp_path: Path) -> None:
    """`python -m benchmarks cdc` at small N, xfer only: its own binlog MariaDB, a copy, a burst
    caught up, the steady phase's lag sampled, the target identical, the throw-away database gone."""
    from tests.binlog_server import available

    why = available()
    if why:
        _unavailable(f"no binlog-enabled MariaDB for the cdc benchmark: {why}")
    postgres = pg_server.render_as_string(hide_password=False)
    args = ["--rows", "2400", "--events", "1200", "--rounds", "1", "--steady-rate", "1000", "--steady-seconds", "2"]
    assert main(["cdc", *args, "--skip-chameleon", "--postgres", postgres, "--out", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("cdc-2400-*.json")
    figures = json.loads(path.read_text())
    assert (figures["events"], figures["transactions"], figures["rows_per_transaction"]) == (1200, 120, 10)
    x = figures["contenders"]["xfer"]
    assert x["identical"] is True, x
    (burst,) = x["bursts"]
    assert burst["burst_s"] > 0 and burst["caught_up_s"] >= 0 and burst["events_per_s"] > 0
    assert x["peak_rss_mb"] > 20  # the follower's process tree was sampled
    steady = x["steady"]
    assert steady["rows_written"] > 0 and steady["samples"] > 5 and steady["lag_max_s"] >= steady["lag_median_s"] >= 0
    assert figures["contenders"]["pg_chameleon"] == {"skipped": "--skip-chameleon"}
    assert set(figures["goals"]) == {"caught up s", "follower peak RSS MB", "steady lag max s"}
    left = pg_conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (x["pg_database"],)).fetchone()
    assert left == (0,)


def test_cdc_lag_is_the_age_of_the_oldest_commit_the_target_lacks() -> None:
    from benchmarks.cdc_workload import lag_samples

    commits = [(10.0, 100), (10.1, 200), (10.2, 300)]  # (time, max id after the commit)
    samples = [(9.0, 0), (10.05, 0), (10.15, 100), (10.25, 300), (10.3, 250)]
    # before any commit; 0.05 s after id 100's commit; id 200's commit is 0.05 s old; all in; 300 missing
    assert lag_samples(commits, samples) == pytest.approx([0.0, 0.05, 0.05, 0.0, 0.1])


def test_many_tables_benchmark_migrates_every_table(mysql_url: str, pg_url: str, tmp_path: Path) -> None:
    """`python -m benchmarks many-tables` at a dozen tables: it builds the schema, runs both xfer
    runs into their own schemas and checks every table and row arrived."""
    from benchmarks.__main__ import main as bench_main

    args = ["many-tables", "--tables", "12", "--mysql", mysql_url, "--postgres", pg_url, "--out", str(tmp_path)]
    assert bench_main([*args, "--pgloader"]) == 0
    (path,) = tmp_path.glob("many-tables-12-*.json")
    figures = json.loads(path.read_text())
    runs = figures["runs"]
    assert set(runs) >= {"xfer --no-verify", "xfer"}
    for name in ("xfer --no-verify", "xfer"):
        assert (runs[name]["exit"], runs[name]["target_tables"], runs[name]["target_rows"]) == (0, 12, 240)
    assert set(runs["xfer"]["phases_s"]) == {"create", "copy", "index", "verify"}
    assert ("pgloader" in runs) == bool(shutil.which("pgloader"))

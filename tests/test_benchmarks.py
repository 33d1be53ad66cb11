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
from sqlalchemy.engine import make_url

from benchmarks import data
from benchmarks.__main__ import main


def test_benchmark_runs_every_contender_on_the_same_rows(
    mysql_url: str, pg_url: str, pg_conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    skip = [] if shutil.which("pgloader") else ["pgloader"]  # pgloader is an apt package, not ours
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

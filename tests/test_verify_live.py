"""`xfer verify --consistency live` (the default) on a source that is being written (issue #15):
no write waits for the check, keys still changing in the source are listed apart from real
differences, and a real difference in the target is still found and named meanwhile."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pymysql
import pytest
from cdc_harness import start_following
from conftest import mysql_connect
from sqlalchemy.engine import make_url

from xfer import api as pipeline
from xfer.core.options import Options
from xfer.verification import live

ROWS = 20_000
HOT = [1, 2, 3, 4, 5]  # the keys the writer keeps updating
NEW = 1_000_000  # the writer's inserted keys start here


@pytest.fixture
def migrated(mysql_url: str, mysql_conn: Any, pg_url: str, run_cli: Any) -> tuple[str, str]:
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE live (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(20)) ENGINE=InnoDB")
        cur.execute(f"INSERT INTO live SELECT seq, 0, CONCAT('n', seq) FROM seq_1_to_{ROWS}")
    result = run_cli("migrate", mysql_url, pg_url, "-q")
    assert result.exit_code == 0, result.output
    return mysql_url, pg_url


class Writer(threading.Thread):
    """The application: updates the hot keys (and with `inserts`, adds rows) every few
    milliseconds, in a session that gives up on any lock after 2 s. Every statement must succeed."""

    def __init__(self, url: str, inserts: bool) -> None:
        super().__init__(name="writer", daemon=True)
        self.url, self.inserts = make_url(url), inserts
        self.stop = threading.Event()
        self.statements, self.errors, self.inserted = 0, [], []  # type: ignore[var-annotated]
        self.slowest = 0.0

    def run(self) -> None:
        conn = mysql_connect(self.url, self.url.database)
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION lock_wait_timeout = 2")
                cur.execute("SET SESSION innodb_lock_wait_timeout = 2")
                while not self.stop.is_set():
                    self._one(cur, "UPDATE live SET v = v + 1 WHERE id IN (1, 2, 3, 4, 5)")
                    if self.inserts:
                        key = NEW + len(self.inserted)
                        self._one(cur, f"INSERT INTO live VALUES ({key}, 1, 'new')")
                        self.inserted.append(key)
                    time.sleep(0.02)
        finally:
            conn.close()

    def _one(self, cur: Any, statement: str) -> None:
        t0 = time.monotonic()
        try:
            cur.execute(statement)
            self.statements += 1
        except pymysql.err.MySQLError as exc:  # 1205: lock wait timeout (the check held a lock)
            self.errors.append(f"{statement}: {exc}")
        self.slowest = max(self.slowest, time.monotonic() - t0)

    def __enter__(self) -> Writer:
        self.start()
        while self.statements < 5 and self.is_alive():  # the hot keys differ before the check starts
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join(10)


def _verify(run_cli: Any, tmp_path: Path, migrated: tuple[str, str], *flags: str) -> tuple[Any, dict[str, Any]]:
    path = tmp_path / "live.json"
    result = run_cli("verify", *migrated, "--report", path, "--sample", "100", *flags)
    (table,) = json.loads(path.read_text())["tables"]
    return result, table


def _ids(samples: list[dict[str, Any]]) -> set[int]:
    return {s["key"]["id"] for s in samples}


def test_writes_never_wait_and_keys_in_flight_are_listed_apart(
    migrated: tuple[str, str], run_cli: Any, tmp_path: Path
) -> None:
    """While the writer updates and inserts rows, `xfer verify` (no flags): every write went
    through; the hot keys are "changed in the source during the check", not differences; the
    rows inserted before the check read them are missing in the target (they really are), and
    nothing else is reported."""
    with Writer(migrated[0], inserts=True) as w:
        result, t = _verify(run_cli, tmp_path, migrated)
        during = w.statements
    assert w.errors == [] and during > 20, w.errors  # no write waited on a lock
    v = t["verification"]
    assert _ids(v["in_flight_keys"]) == set(HOT) and v["in_flight"] == len(HOT), v
    assert v["changed"] == 0 and v["extra"] == 0
    missing = _ids(v["samples"])
    assert len(missing) == min(v["missing"], 100) > 0 and missing <= set(w.inserted)  # real: the target lacks them
    assert all(s["kind"] == "missing" for s in v["samples"])
    assert result.exit_code == 3, result.output
    assert "live: 5 key(s) changed in the source during the check (not counted as differences):" in result.output
    assert "  in flight, changed  id=1" in result.output
    assert "--consistency live: both sides read as they were, no lock, no snapshot" in result.output


def test_only_keys_in_flight_exit_0_with_the_keys_and_strict_makes_them_differences(
    migrated: tuple[str, str], run_cli: Any, tmp_path: Path
) -> None:
    """Only updates of the hot keys: the check passes (exit 0) and says which keys were still
    changing, in the terminal table and the sign-off document; --strict fails it (exit 3)."""
    md = tmp_path / "live.md"
    with Writer(migrated[0], inserts=False) as w:
        result, t = _verify(run_cli, tmp_path, migrated, "--report", str(md))
        strict, t_strict = _verify(run_cli, tmp_path, migrated, "--strict")
    assert w.errors == [], w.errors
    assert result.exit_code == 0, result.output
    v = t["verification"]
    assert t["status"] == "ok" and (v["missing"], v["extra"], v["changed"]) == (0, 0, 0)
    assert _ids(v["in_flight_keys"]) == set(HOT) and v["recheck_rounds"] == 3
    assert "ok (5 in flight)" in result.output
    text = md.read_text()
    assert "| Changed in the source during the check | 5 key(s), not counted: id=1; id=2; id=3; id=4; id=5 |" in text
    assert strict.exit_code == 3, strict.output
    assert t_strict["status"] == "mismatch" and t_strict["verification"]["in_flight"] == len(HOT)
    assert "live: 5 changed in the source during the check (--strict)" in strict.output


def test_a_real_difference_is_found_and_named_while_the_source_is_written(
    migrated: tuple[str, str], run_cli: Any, tmp_path: Path, pg_conn: Any
) -> None:
    """A changed value and a deleted row in the target are found, classified and named while
    the writer runs; the hot keys stay apart from them."""
    pg_conn.execute("UPDATE live SET note = 'corrupt' WHERE id = 5000")
    pg_conn.execute("DELETE FROM live WHERE id = 12345")
    with Writer(migrated[0], inserts=False) as w:
        result, t = _verify(run_cli, tmp_path, migrated)
    assert w.errors == [], w.errors
    assert result.exit_code == 3, result.output
    v = t["verification"]
    assert (v["missing"], v["extra"], v["changed"], v["changed_columns"]) == (1, 0, 1, {"note": 1})
    assert {(s["kind"], s["key"]["id"]) for s in v["samples"]} == {("missing", 12345), ("changed", 5000)}
    (changed,) = [s for s in v["samples"] if s["kind"] == "changed"]
    assert changed["columns"] == {"note": {"source": "n5000", "target": "corrupt"}}
    assert _ids(v["in_flight_keys"]) == set(HOT)
    summary = "row count differs: source 20,000, target 19,999: 1 missing, 1 changed"
    assert t["error"] == f"{summary}; 5 changed in the source during the check"
    assert 'changed  id=5000  note: "n5000" -> "corrupt"' in result.output


def test_recheck_0_reports_keys_in_flight_as_differences(
    migrated: tuple[str, str], run_cli: Any, tmp_path: Path
) -> None:
    """--recheck 0: nothing is read again, so the hot keys are differences, with the values the
    check read."""
    with Writer(migrated[0], inserts=False) as w:
        result, t = _verify(run_cli, tmp_path, migrated, "--recheck", "0")
    assert w.errors == []
    assert result.exit_code == 3, result.output
    v = t["verification"]
    assert (v["changed"], v["in_flight"], v["rechecked"]) == (len(HOT), 0, 0)
    assert _ids(v["samples"]) == set(HOT) and v["changed_columns"] == {"v": len(HOT)}
    assert all(s["columns"]["v"]["target"] == 0 and s["columns"]["v"]["source"] > 0 for s in v["samples"])
    assert "differing keys not read again (--recheck 0)" in result.output


def test_lock_mode_still_holds_writes_during_the_check(migrated: tuple[str, str], mysql_conn: Any) -> None:
    """--consistency lock keeps today's behaviour: a write while the check reads waits for it
    (here: gives up after 1 s), and goes through once the check is done."""
    refused: list[str] = []

    def factory(name: str, total: int | None) -> Any:
        if not refused and "(source)" in name:  # inside the lock, the check under way
            with mysql_conn.cursor() as cur:
                cur.execute("SET SESSION lock_wait_timeout = 1")
                try:
                    cur.execute("UPDATE live SET v = 7 WHERE id = 10")
                    refused.append("went through")
                except pymysql.err.OperationalError as exc:
                    refused.append(str(exc.args[0]))
        return _Bar()

    report = pipeline.verify(*migrated, Options.build(consistency="lock"), progress=factory)
    assert refused == ["1205"]  # lock wait timeout
    assert report.status == "ok"
    with mysql_conn.cursor() as cur:  # released afterwards
        cur.execute("UPDATE live SET v = 7 WHERE id = 10")


class _Bar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def test_with_a_follower_a_lagging_target_is_read_again_once_the_follower_caught_up(
    binlog_url: str, binlog_conn: Any, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`migrate --follow` runs; it is paused (SIGSTOP) while a source row changes, so the check
    sees a target that lags and a source row that stays put (a difference in every round). The
    follower resumes when the check starts waiting for it: the difference is read again once it
    has applied the source's binlog up to the rounds' end, and is gone; the report says why."""
    with binlog_conn.cursor() as cur:
        cur.execute("CREATE TABLE live (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(20)) ENGINE=InnoDB")
        cur.execute("INSERT INTO live SELECT seq, 0, CONCAT('n', seq) FROM seq_1_to_5000")
    waited = []
    wait = live.Follower.wait

    def resume_then_wait(self: live.Follower) -> tuple[bool, str]:
        waited.append(follower.proc.send_signal(signal.SIGCONT))
        return wait(self)

    monkeypatch.setattr(live.Follower, "wait", resume_then_wait)
    with start_following(binlog_url, pg_url, tmp_path) as follower:
        follower.proc.send_signal(signal.SIGSTOP)
        try:
            with binlog_conn.cursor() as cur:
                cur.execute("UPDATE live SET note = 'late' WHERE id = 777")
            report = pipeline.verify(binlog_url, pg_url, Options.build(recheck=2))
        finally:
            follower.proc.send_signal(signal.SIGCONT)
        follower.signal(signal.SIGTERM)
    (t,) = report.tables
    v = t.verification
    assert v is not None and waited == [None]
    assert t.status == "ok", (t.error, t.notes)
    # the drill and 1 round saw it (the source row unchanged: no second round), then the follower's
    assert (v.rechecked, v.resolved_on_recheck, v.in_flight, v.recheck_rounds) == (1, 1, 0, 2)
    assert any(n.startswith("a follower (run ") and "were read again once it had applied" in n for n in t.notes)

"""Live cutover end to end, against a real binlog (the session's own MariaDB) and PostgreSQL:
`xfer migrate --follow` copies while a writer keeps changing the source, `xfer cutover` switches
over, and the target is compared with the source row for row by the harness (pymysql and
psycopg, never xfer's own checksums)."""

from __future__ import annotations

import json
import random
import re
import signal
import time
from pathlib import Path
from typing import Any

import pymysql
import pytest
from cdc_harness import (
    POOLS,
    SCHEMA,
    TABLES,
    TYPED_COLUMNS,
    Workload,
    XferRun,
    create_schema,
    differences,
    load_rows,
    random_value,
    start_following,
    wait_converged,
    writer_connect,
    xfer,
)
from conftest import PgConn, RunCli
from faults import catalogue

from tests.binlog_server import BinlogMariaDB


def _source_writable(conn: pymysql.connections.Connection) -> None:
    """The source takes writes again (no lock, no read_only left behind)."""
    with conn.cursor() as cur:
        cur.execute("SELECT @@global.read_only")
        assert cur.fetchone()[0] == 0, "the source was left read_only"
        cur.execute("SET SESSION lock_wait_timeout = 5")
        cur.execute("SET SESSION innodb_lock_wait_timeout = 5")
        cur.execute("UPDATE parent SET name = name WHERE id = (SELECT min(id) FROM (SELECT id FROM parent) p)")


def _status(run_cli: RunCli, dst: str) -> dict[str, Any]:
    """The one followed run `xfer status DST --json` describes."""
    result = run_cli("status", dst, "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    if isinstance(shown, list):  # one entry per followed run
        assert len(shown) == 1, shown
        shown = shown[0]
    return shown


def _cutover_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """blocked_seconds, events_applied, final_position: at the report's top level (SPEC) or in
    its "cutover" section (as xfer writes them)."""
    return {**summary, **summary.get("cutover", {})}


def _master_position(conn: pymysql.connections.Connection) -> tuple[str, int]:
    with conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        file, pos, *_ = cur.fetchone()
    return file, int(pos)


# --------------------------------------------------------------------------- the harness itself


def test_harness_sees_what_a_plain_copy_keeps_and_what_it_does_not(
    binlog_mysql: BinlogMariaDB, binlog_url: str, binlog_conn: Any, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    """Guard for the harness (no following): the writer runs every kind of change on the binlog
    server without error, the binlog is on with full row images, and the comparator finds a plain
    migrate identical and a row changed or lost by hand different."""
    with binlog_conn.cursor() as cur:
        cur.execute("SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata")
        assert cur.fetchone() == (1, "ROW", "FULL", "FULL")
    create_schema(binlog_conn)
    load_rows(binlog_conn, seed=1, typed=400, parents=60, children=200, pairs=150)
    writer = Workload(writer_connect(binlog_mysql, binlog_url), seed=2)
    writer.start()
    time.sleep(1.5)
    counts = writer.stop()
    assert counts.transactions > 50 and counts.pk_updates > 5 and counts.deleted > 5, counts
    code, out = xfer(["migrate", binlog_url, pg_url, "-q"], tmp_path)
    assert code == 0, out
    assert differences(binlog_conn, pg_conn) == []
    pg_conn.execute("UPDATE typed SET vc = 'by hand' WHERE id = (SELECT max(id) FROM typed)")
    pg_conn.execute("DELETE FROM child WHERE id = (SELECT min(id) FROM child)")
    found = differences(binlog_conn, pg_conn)
    assert any("missing in the target" in d for d in found) and any("vc: source" in d for d in found), found


# --------------------------------------------------------------------------- converges under load


def test_converges_under_load_and_cutover_says_identical(
    binlog_mysql: BinlogMariaDB, binlog_url: str, binlog_conn: Any, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    seed = random.randrange(2**32)
    print(f"workload seed {seed}")
    create_schema(binlog_conn)
    load_rows(binlog_conn, seed, typed=6000, parents=600, children=3000, pairs=2000)
    writer = Workload(writer_connect(binlog_mysql, binlog_url), seed, rate=120)
    writer.start()
    time.sleep(0.5)
    started = time.monotonic()
    try:
        with start_following(binlog_url, pg_url, tmp_path) as run:
            copied = time.monotonic()
            copy_seconds = copied - started
            # the copy took no lock: the writer kept committing while it ran
            during = writer.committed_between(started, copied)
            assert during >= 10, f"only {during} transaction(s) committed during the {copy_seconds:.1f} s copy"
            stall = writer.longest_wait(started, copied)
            assert stall < max(1.5, copy_seconds / 2), f"a write waited {stall:.1f} s during the copy"
            time.sleep(2)  # changes while following
            counts = writer.stop()
            print(f"copy {copy_seconds:.1f} s, writer {counts}")
            assert counts.pk_updates > 0 and counts.deleted > 0

            report = tmp_path / "r.json"
            code, out = xfer(["cutover", binlog_url, pg_url, "--report", str(report)], tmp_path, timeout=300)
            print(out)
            assert code == 0, out
            assert run.wait(60) == 0, "the follower did not end after the cutover"
    finally:
        if writer.is_alive():
            writer.stop()

    summary = json.loads(report.read_text())
    assert summary["command"] == "cutover" and summary["status"] == "ok", summary
    tables = {t["name"]: t for t in summary["tables"]}
    assert set(TABLES) <= set(tables), tables
    for name in TABLES:
        assert tables[name]["status"] == "ok" and tables[name]["source_rows"] == tables[name]["target_rows"]
    figures = _cutover_figures(summary)
    assert figures["events_applied"] > 0
    # the behaviour section the application's team reads before the switch (#20)
    said = {(b["table"], b["column"]): b["change"] for b in summary["behaviour"]}
    assert "AUTO_INCREMENT is an identity here" in said[("parent", "id")], said
    assert {"file", "pos"} <= set(figures["final_position"])

    # independently of xfer: the target equals the source, row for row, every value
    assert differences(binlog_conn, pg_conn) == []
    # the source takes writes again; the target's identities go on after the copied maxima
    _source_writable(binlog_conn)
    with binlog_conn.cursor() as cur:
        cur.execute("SELECT max(id) FROM parent")
        top = cur.fetchone()[0]
    (new_id,) = pg_conn.execute("INSERT INTO parent (name) VALUES ('after cutover') RETURNING id").fetchone()
    assert new_id > top


def test_cutover_blocks_writes_briefly_and_reports_it_honestly(
    binlog_mysql: BinlogMariaDB, binlog_url: str, binlog_conn: Any, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    """blocked_seconds: measured, short (only the last events and the keys they touched are
    compared while held, never a re-read of every table), and not less than what a writer
    actually waited."""
    create_schema(binlog_conn)
    load_rows(binlog_conn, seed=3, typed=3000, parents=500, children=3000, pairs=3000)
    with binlog_conn.cursor() as cur:  # most of the bytes: 300,000 narrow rows
        cur.execute("CREATE TABLE bulk (id INT PRIMARY KEY, n BIGINT, label VARCHAR(40), at DATETIME)")
        cur.execute(
            "INSERT INTO bulk SELECT seq, seq * 7, CONCAT('label ', seq), '2024-01-01' + INTERVAL seq SECOND "
            "FROM seq_1_to_300000"
        )
    started = time.monotonic()
    with start_following(binlog_url, pg_url, tmp_path) as run:
        copied = run.printed_at(r"^total \(") or time.monotonic()  # the copy's summary line
        copy_seconds = copied - started
        writer = Workload(writer_connect(binlog_mysql, binlog_url), seed=4, rate=50)
        writer.start()
        try:
            time.sleep(1.5)
            report = tmp_path / "r.json"
            cut_start = time.monotonic()
            code, out = xfer(["cutover", binlog_url, pg_url, "--report", str(report)], tmp_path, timeout=300)
            cut_end = time.monotonic()
            time.sleep(1.0)  # the writer goes on after the switch
            after = writer.committed_between(cut_end, time.monotonic())
        finally:
            writer.stop()
        assert code == 0, out
        run.wait(60)
    summary = json.loads(report.read_text())
    figures = _cutover_figures(summary)
    blocked = figures["blocked_seconds"]
    waited = writer.longest_wait(cut_start, cut_end)
    print(f"copy {copy_seconds:.2f} s, cutover {cut_end - cut_start:.2f} s, blocked {blocked} s, waited {waited:.2f} s")
    print(f"phases: {summary.get('phases')}")
    # promptness is the feature: held for less than the full check took while writable (both
    # slow down alike on a loaded machine), within a generous bound (the benchmark measures it)
    phases = summary["phases"]
    assert isinstance(blocked, int | float) and 0 < blocked < 60, phases
    assert blocked < phases["verify (writable)"], phases
    # while held, each table is compared by the keys that changed, not read whole again
    rows = sum(t["source_rows"] for t in summary["tables"])
    assert 0 < figures["keys_rechecked"] < rows / 20, (figures["keys_rechecked"], rows)
    assert all(t["verification"]["bucketing"] == "keys" for t in summary["tables"]), summary["tables"]
    assert waited <= blocked + 1.0, f"a write waited {waited:.2f} s but the report says {blocked} s"
    assert after > 0, "the source took no writes after the cutover"


def test_every_type_arrives_through_following(
    binlog_mysql: BinlogMariaDB, binlog_url: str, binlog_conn: Any, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    """Every edge value of every type, inserted, updated and deleted while following, in a table
    with no DECIMAL wider than 38 digits (the one in `typed` sends the whole table another way)."""
    ddl = SCHEMA[SCHEMA.index("CREATE TABLE typed") :].split(";")[0]
    ddl = ddl.replace("CREATE TABLE typed", "CREATE TABLE narrow").replace(" d_max DECIMAL(65,30),", "")
    assert "d_max" not in ddl
    columns = [c for c in TYPED_COLUMNS if c != "d_max"]
    rng = random.Random(8)
    insert = (
        f"INSERT INTO narrow (id, {', '.join(f'`{c}`' for c in columns)}) "
        f"VALUES (%s, {', '.join(['%s'] * len(columns))})"
    )
    with binlog_conn.cursor() as cur:
        cur.execute(ddl)
        cur.execute(insert, (1, *[None] * len(columns)))
    with start_following(binlog_url, pg_url, tmp_path) as run:
        with binlog_conn.cursor() as cur:
            # each edge value of each column at least once, then random ones
            for i in range(2, 14):
                cur.execute(insert, (i, *[POOLS[c][i % len(POOLS[c])] for c in columns]))
            for i in range(14, 120):
                cur.execute(insert, (i, *[random_value(rng, c) for c in columns]))
            for i in range(2, 60, 3):
                c = rng.choice(columns)
                cur.execute(f"UPDATE narrow SET `{c}` = %s, hits = hits + 1 WHERE id = %s", (random_value(rng, c), i))
            cur.execute("UPDATE narrow SET id = id + 1000 WHERE id BETWEEN 100 AND 109")
            cur.execute("DELETE FROM narrow WHERE id BETWEEN 110 AND 115")
            cur.execute("UPDATE narrow SET bn = NULL, j = NULL, s = NULL, b5 = NULL WHERE id = 2")
        assert wait_converged(binlog_conn, pg_conn, ["narrow"], follower=run) == []
        assert run.signal(signal.SIGTERM) == 0


# --------------------------------------------------------------------------- cutover finds differences


@pytest.mark.parametrize("hold", [[], ["--read-only"]], ids=["lock", "read-only"])
def test_a_difference_at_cutover_exits_3_and_names_the_table(
    hold: list[str],
    binlog_mysql: BinlogMariaDB,
    binlog_url: str,
    binlog_conn: Any,
    pg_url: str,
    pg_conn: PgConn,
    tmp_path: Path,
) -> None:
    """Exit 3, the table named, and the source released (lock gone, read_only back off)."""
    create_schema(binlog_conn)
    load_rows(binlog_conn, seed=5, typed=200, parents=50, children=100, pairs=50)
    with start_following(binlog_url, pg_url, tmp_path) as run:
        with binlog_conn.cursor() as cur:
            cur.execute("INSERT INTO child (parent_id, note) VALUES (1, 'while following')")
        assert wait_converged(binlog_conn, pg_conn, follower=run) == []
        assert run.signal(signal.SIGTERM) == 0, "SIGTERM should finish the batch and exit 0"
    # with no follower running, changes wait in the binlog; cutover applies them itself
    with binlog_conn.cursor() as cur:
        cur.execute("INSERT INTO child (parent_id, note) VALUES (2, 'after the follower stopped')")
        cur.execute("DELETE FROM pairs ORDER BY a, b LIMIT 3")
    pg_conn.execute("UPDATE parent SET name = 'changed by hand' WHERE id = 7")

    report = tmp_path / "r.json"
    try:
        code, out = xfer(["cutover", binlog_url, pg_url, "--report", str(report), *hold], tmp_path, timeout=300)
    finally:
        with binlog_conn.cursor() as cur:  # the server is shared by the session's tests
            cur.execute("SELECT @@global.read_only")
            left_read_only = cur.fetchone()[0]
            cur.execute("SET GLOBAL read_only = OFF")
    assert left_read_only == 0, "a cutover that found differences left the source read-only"
    assert code == 3, out
    assert "parent" in out
    summary = json.loads(report.read_text())
    assert summary["status"] == "mismatch"
    statuses = {t["name"]: t["status"] for t in summary["tables"]}
    assert statuses["parent"] != "ok"
    assert all(statuses[t] == "ok" for t in ("child", "pairs", "typed")), statuses
    assert differences(binlog_conn, pg_conn, ["child", "pairs", "typed"]) == []
    _source_writable(binlog_conn)


# --------------------------------------------------------------------------- schema changes


def test_add_column_while_following_arrives_with_its_values(
    binlog_mysql: BinlogMariaDB, binlog_url: str, binlog_conn: Any, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    create_schema(binlog_conn)
    load_rows(binlog_conn, seed=6, typed=100, parents=40, children=80, pairs=20)
    with start_following(binlog_url, pg_url, tmp_path) as run:
        with binlog_conn.cursor() as cur:
            cur.execute("INSERT INTO parent (name) VALUES ('before the change')")
            cur.execute("ALTER TABLE parent ADD COLUMN score DECIMAL(8,2) NOT NULL DEFAULT 1.50")
            cur.execute("ALTER TABLE parent ADD COLUMN tag VARCHAR(20) NULL, ADD COLUMN seen DATETIME(6)")
            cur.execute(
                "UPDATE parent SET score = 99.25, tag = 'é tag', seen = '2024-05-06 07:08:09.123456' WHERE id <= 5"
            )
            cur.execute("INSERT INTO parent (name, score, tag) VALUES ('after the change', 12.5, 'new')")
            cur.execute("INSERT INTO child (parent_id, note) VALUES (1, 'the other table goes on')")
        # the existing rows have the default, the new and updated ones their values
        assert wait_converged(binlog_conn, pg_conn, ["parent", "child"], follower=run) == []
        assert run.proc.poll() is None, f"the follower stopped:\n{run.output}"
        with binlog_conn.cursor() as cur:
            cur.execute("UPDATE parent SET tag = 'later' WHERE id = 6")
        assert wait_converged(binlog_conn, pg_conn, ["parent"], follower=run) == []
        assert run.signal(signal.SIGTERM) == 0


def test_drop_column_stops_the_follower_naming_statement_and_position(
    binlog_mysql: BinlogMariaDB, binlog_url: str, binlog_conn: Any, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    create_schema(binlog_conn)
    load_rows(binlog_conn, seed=7, typed=100, parents=40, children=80, pairs=20)
    with start_following(binlog_url, pg_url, tmp_path) as run:
        with binlog_conn.cursor() as cur:
            cur.execute("INSERT INTO parent (id, name) VALUES (1001, 'before the drop')")
        assert wait_converged(binlog_conn, pg_conn, ["parent"], follower=run) == []
        with binlog_conn.cursor() as cur:
            cur.execute("ALTER TABLE parent DROP COLUMN hits")
            cur.execute("INSERT INTO parent (id, name) VALUES (1002, 'after the drop')")
        code = run.wait(60)
        out = run.output
    assert code not in (0, None), out
    assert re.search(r"DROP\s+COLUMN\s+`?hits`?", out, re.I), out
    assert re.search(r"binlog\.\d+:\d+", out.split("following", 1)[-1]), out
    # nothing half-applied: the target's table is as it was, nothing after the statement arrived
    columns = {r[0] for r in pg_conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'parent'"
    ).fetchall()}  # fmt: skip
    assert "hits" in columns
    names = dict(pg_conn.execute("SELECT id, name FROM parent WHERE id > 1000").fetchall())
    assert names == {1001: "before the drop"}

    # as the message says: the same change made to the target by hand, following goes on
    pg_conn.execute("ALTER TABLE parent DROP COLUMN hits")
    code, out = xfer(["follow", binlog_url, pg_url, "--until-current"], tmp_path, timeout=120)
    assert code == 0, out
    assert differences(binlog_conn, pg_conn, ["parent", "child"]) == []


# --------------------------------------------------------------------------- said up front


def test_a_table_without_a_primary_key_is_noted_and_copied(
    binlog_mysql: BinlogMariaDB, binlog_url: str, binlog_conn: Any, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    with binlog_conn.cursor() as cur:
        cur.execute("CREATE TABLE keyed (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute("CREATE TABLE loose (x INT, y VARCHAR(20))")
        cur.execute("INSERT INTO keyed VALUES (1, 'a'), (2, 'b')")
        cur.execute("INSERT INTO loose VALUES (1, 'x'), (2, NULL), (3, 'z')")
    with start_following(binlog_url, pg_url, tmp_path) as run:
        notes = [line for line in run.output.splitlines() if "loose" in line]
        assert any(re.search(r"primary|unique|key", line, re.I) for line in notes), run.output
        assert differences(binlog_conn, pg_conn, ["keyed", "loose"]) == []  # copied all the same
        with binlog_conn.cursor() as cur:
            cur.execute("INSERT INTO keyed VALUES (3, 'c')")
            cur.execute("UPDATE keyed SET v = 'A' WHERE id = 1")
        assert wait_converged(binlog_conn, pg_conn, ["keyed"], follower=run) == []
        assert run.signal(signal.SIGTERM) == 0, run.output


def test_plan_follow_says_what_cannot_be_followed(
    binlog_url: str, binlog_conn: Any, pg_url: str, pg_conn: PgConn, run_cli: RunCli
) -> None:
    """Before anything is copied: `xfer plan --follow` names the table that will not be followed."""
    with binlog_conn.cursor() as cur:
        cur.execute("CREATE TABLE keyed (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute("CREATE TABLE loose (x INT, y VARCHAR(20))")
    before = _empty_target(pg_conn)
    result = run_cli("plan", binlog_url, pg_url, "--follow")
    assert result.exit_code == 0, result.output
    assert any("loose" in line and re.search(r"primary|key", line, re.I) for line in result.output.splitlines())
    assert _empty_target(pg_conn) == before


def _empty_target(pg_conn: PgConn) -> set[tuple[str, ...]]:
    return {r for r in catalogue(pg_conn) if r[1] not in ("pg_catalog", "information_schema")}


def test_binlog_off_is_refused_up_front_and_nothing_is_created(
    mysql_url: str, mysql_conn: Any, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    """The system MariaDB runs with the binary log off."""
    with mysql_conn.cursor() as cur:
        cur.execute("SELECT @@log_bin")
        if cur.fetchone()[0]:
            pytest.skip("this MariaDB has the binlog on")
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        cur.execute("INSERT INTO t VALUES (1, 1)")
    before = _empty_target(pg_conn)
    code, out = xfer(["migrate", mysql_url, pg_url, "--follow"], tmp_path, timeout=60)
    assert code in (1, 2), out
    assert re.search(r"log_bin|binary log|binlog", out, re.I), out
    assert "Traceback" not in out
    assert _empty_target(pg_conn) == before, "the refused run created something in the target"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("binlog_format", "MIXED"), ("binlog_row_image", "MINIMAL"), ("binlog_row_metadata", "MINIMAL")],
)
def test_a_source_setting_following_needs_is_named_up_front(
    variable: str, value: str, binlog_url: str, binlog_conn: Any, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    with binlog_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        cur.execute(f"SELECT @@global.{variable}")
        (was,) = cur.fetchone()
        cur.execute(f"SET GLOBAL {variable} = %s", (value,))
    try:
        before = _empty_target(pg_conn)
        code, out = xfer(["migrate", binlog_url, pg_url, "--follow"], tmp_path, timeout=60)
    finally:
        with binlog_conn.cursor() as cur:
            cur.execute(f"SET GLOBAL {variable} = %s", (was,))
    assert code in (1, 2), out
    assert variable in out and "Traceback" not in out, out
    assert _empty_target(pg_conn) == before


# --------------------------------------------------------------------------- status, one follower


def test_status_shows_state_position_and_what_was_applied(
    binlog_mysql: BinlogMariaDB, binlog_url: str, binlog_conn: Any, pg_url: str, pg_conn: PgConn,
    tmp_path: Path, run_cli: RunCli,
) -> None:  # fmt: skip
    with binlog_conn.cursor() as cur:
        cur.execute("CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(40))")
        cur.executemany("INSERT INTO parent VALUES (%s, %s)", [(i, f"p{i}") for i in range(1, 101)])
    before = _master_position(binlog_conn)
    with start_following(binlog_url, pg_url, tmp_path) as run:
        with binlog_conn.cursor() as cur:
            for i in range(1001, 1031):
                cur.execute("INSERT INTO parent VALUES (%s, 'new')", (i,))
            for i in range(1, 11):
                cur.execute("UPDATE parent SET name = 'changed' WHERE id = %s", (i,))
            for i in range(11, 16):
                cur.execute("DELETE FROM parent WHERE id = %s", (i,))
        assert wait_converged(binlog_conn, pg_conn, ["parent"], follower=run) == []
        end = _master_position(binlog_conn)
        time.sleep(0.5)
        st = _status(run_cli, pg_url)
        print(json.dumps(st, indent=1))
        assert st["state"] == "following" and st["alive"] is True
        assert st["position"]["file"] == end[0] and before[1] < st["position"]["pos"] <= end[1], (before, end)
        assert st["events_applied"] >= 45
        applied = {k: st["tables"]["parent"].get(k) for k in ("inserted", "updated", "deleted")}
        assert applied == {"inserted": 30, "updated": 10, "deleted": 5}, st["tables"]
        assert st["last_error"] in (None, "")

        # a second follower on the same target is refused
        second = XferRun(["follow", binlog_url, pg_url], tmp_path)
        with second:
            assert second.wait(60) == 2, second.output

        assert run.signal(signal.SIGTERM) == 0
    st = _status(run_cli, pg_url)
    assert st["state"] == "stopped" and st["alive"] is False
    assert st["position"]["pos"] >= before[1]


def test_on_delete_cascade_removes_children_changed_in_the_same_transaction(
    binlog_mysql: BinlogMariaDB, binlog_url: str, binlog_conn: Any, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    """The source's cascade removes children the binlog never mentions again, including ones the
    same transaction had just inserted or moved to the deleted parent."""
    with binlog_conn.cursor() as cur:
        cur.execute("CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(20))")
        cur.execute(
            "CREATE TABLE child (id INT PRIMARY KEY, parent_id INT NOT NULL, "
            "FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE)"
        )
        cur.execute("INSERT INTO parent VALUES (1, 'one'), (2, 'two'), (3, 'three')")
        cur.execute("INSERT INTO child VALUES (10, 1), (11, 1), (20, 2), (30, 3)")
    with start_following(binlog_url, pg_url, tmp_path) as run:
        with binlog_conn.cursor() as cur:
            cur.execute("DELETE FROM parent WHERE id = 3")  # alone
            cur.execute("BEGIN")
            cur.execute("UPDATE child SET parent_id = 1 WHERE id = 20")  # moved to the parent deleted next
            cur.execute("INSERT INTO child VALUES (12, 1)")  # inserted under it
            cur.execute("DELETE FROM parent WHERE id = 1")
            cur.execute("COMMIT")
        assert wait_converged(binlog_conn, pg_conn, ["parent", "child"], follower=run) == []
        assert run.signal(signal.SIGTERM) == 0
    assert pg_conn.execute("SELECT count(*) FROM child").fetchone() == (0,)


def test_a_key_change_of_a_referenced_parent_keeps_its_children(
    binlog_mysql: BinlogMariaDB, binlog_url: str, binlog_conn: Any, pg_url: str, pg_conn: PgConn, tmp_path: Path
) -> None:
    """ON UPDATE CASCADE rewrites the children on the source without a binlog row; the target's
    foreign key must do the same, and applying the parent's key update must not delete them."""
    with binlog_conn.cursor() as cur:
        cur.execute("CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(20))")
        cur.execute(
            "CREATE TABLE child (id INT PRIMARY KEY, parent_id INT NOT NULL, FOREIGN KEY (parent_id) "
            "REFERENCES parent (id) ON UPDATE CASCADE ON DELETE CASCADE)"
        )
        cur.execute("INSERT INTO parent VALUES (1, 'one'), (2, 'two'), (3, 'three')")
        cur.execute("INSERT INTO child VALUES (10, 1), (11, 1), (20, 2), (30, 3)")
    with start_following(binlog_url, pg_url, tmp_path) as run:
        with binlog_conn.cursor() as cur:
            cur.execute("UPDATE parent SET id = 101 WHERE id = 1")
            cur.execute("UPDATE parent SET id = id + 1 ORDER BY id DESC")  # 3 -> 4, 2 -> 3, 101 -> 102
            cur.execute("DELETE FROM parent WHERE id = 4")
        assert wait_converged(binlog_conn, pg_conn, ["parent", "child"], follower=run) == []
        assert run.signal(signal.SIGTERM) == 0
    assert pg_conn.execute("SELECT id, parent_id FROM child ORDER BY id").fetchall() == [(10, 102), (11, 102), (20, 3)]

"""`xfer verify` after a MariaDB -> PostgreSQL migration: no false positives on a rich table set,
and every injected difference found, classified and located, and nothing else."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import verify_data

from xfer import api as pipeline
from xfer.core.options import Options
from xfer.dialects.mysql import ranges as mysql_ranges
from xfer.dialects.postgres import adbc as pg_adbc

TABLES = ["keyless", "negkey", "rich", "textkey", "ubig"]


@pytest.fixture
def migrated(mysql_url: str, mysql_conn: Any, pg_url: str, run_cli: Any) -> tuple[str, str]:
    verify_data.build(mysql_conn)
    result = run_cli("migrate", mysql_url, pg_url, "-q")
    assert result.exit_code == 0, result.output
    return mysql_url, pg_url


def _report(run_cli: Any, tmp_path: Path, *args: str) -> tuple[Any, dict[str, Any]]:
    path = tmp_path / "report.json"
    result = run_cli("verify", *args, "--report", path, "--sample", "50")
    return result, {t["name"]: t for t in json.loads(path.read_text())["tables"]}


@pytest.mark.parametrize("method", ["client", "pushdown", "auto"])
def test_verify_right_after_migrating_reports_identical(
    migrated: tuple[str, str], run_cli: Any, tmp_path: Path, method: str
) -> None:
    result, tables = _report(run_cli, tmp_path, *migrated, "--method", method)
    assert result.exit_code == 0, result.output
    assert sorted(tables) == TABLES
    for name, t in tables.items():
        v = t["verification"]
        assert (t["status"], t["checksum_match"]) == ("ok", True), name
        assert (v["missing"], v["extra"], v["changed"], v["samples"]) == (0, 0, 0, []), name
        assert t["source_rows"] == t["target_rows"] > 0
    assert tables["rich"]["source_rows"] == 3006
    if method == "pushdown":  # where every column can be normalised in SQL, both engines hashed
        assert tables["negkey"]["verification"]["method"] == {"source": "pushdown", "target": "pushdown"}
        assert tables["textkey"]["verification"]["method"] == {"source": "pushdown", "target": "pushdown"}
        assert tables["keyless"]["verification"]["method"] == {"source": "client", "target": "pushdown"}
        assert "float" in tables["rich"]["verification"]["method_reason"]["source"]
    else:
        assert tables["rich"]["verification"]["method"] == {"source": "client", "target": "client"}


def _next_float32(x: float) -> str:
    return repr(float(np.nextafter(np.float32(x), np.float32(math.inf))))


def _corrupt(pg: Any, mysql_conn: Any) -> None:
    """One changed cell per column type, a deleted and an inserted row, a duplicated key-less
    row, and JSON rewritten with its keys in another order (which is not a difference)."""
    f32 = float(np.nextafter(np.float32(0.1), np.float32(1)))
    for sql in [
        f"UPDATE rich SET f = {f32!r}::real WHERE id = 3",  # float by one ulp
        f"UPDATE rich SET g = {math.nextafter(1 / 3, 1)!r} WHERE id = 5",  # double by one ulp
        "UPDATE rich SET dt = dt + interval '1 microsecond' WHERE id = 6",
        "UPDATE rich SET ts = ts + interval '1 microsecond' WHERE id = 1001",
        "UPDATE rich SET vc = vc || ' ' WHERE id = 1",  # a trailing space
        """UPDATE rich SET js = '{"s": "éé", "b": 1, "a": [1, 2.50, {"x": null}]}' WHERE id = 1""",
        "UPDATE rich SET tx = '' WHERE id = 4",  # NULL -> empty string
        "UPDATE rich SET dd = dd + 1 WHERE id = 1002",
        "UPDATE rich SET tm = tm + interval '1 microsecond' WHERE id = 1003",
        "UPDATE rich SET d1 = d1 + 0.01 WHERE id = 1004",
        "UPDATE rich SET bu = bu - 1 WHERE id = 1005",
        "UPDATE rich SET flag = NOT flag WHERE id = 1006",
        "UPDATE rich SET bn = '\\x00000000' WHERE id = 1007",
        "UPDATE rich SET en = 'c' WHERE id = 1008",
        "UPDATE rich SET ch = 'c99' WHERE id = 1009",
        "UPDATE rich SET iu = iu + 1 WHERE id = 1010",
        "UPDATE rich SET d3 = d3 + 0.000000000000000000000000000001 WHERE id = 1011",
        "DELETE FROM rich WHERE id = 2",
        "INSERT INTO rich (id, vc) VALUES (5000, 'new')",
        "INSERT INTO keyless SELECT * FROM keyless WHERE a = 3",
        "UPDATE textkey SET qty = 99 WHERE code = 'ß'",
        "DELETE FROM textkey WHERE code = 'k77'",
    ]:
        pg.execute(sql)
    with mysql_conn.cursor() as cur:  # MariaDB keeps JSON text as written: reorder it there too
        cur.execute("""UPDATE rich SET js = '{"e":1e2,"big":123456789012345678901234567890,"k":1}' WHERE id = 3""")


EXPECTED_CHANGED = {
    1: ["vc"],
    3: ["f"],
    4: ["tx"],
    5: ["g"],
    6: ["dt"],
    1001: ["ts"],
    1002: ["dd"],
    1003: ["tm"],
    1004: ["d1"],
    1005: ["bu"],
    1006: ["flag"],
    1007: ["bn"],
    1008: ["en"],
    1009: ["ch"],
    1010: ["iu"],
    1011: ["d3"],
}


def _readers(kind: str, monkeypatch: Any) -> tuple[dict[str, str], list[str], list[int]]:
    """(environment, extra arguments, the connectorx reads counted) for each way of reading the
    two sides."""
    if kind == "fast":  # connectorx under the read lock, ADBC joining the snapshot
        return {}, [], []
    if kind == "small ranges":  # connectorx in many key ranges, the heap trimmed after each
        monkeypatch.setattr("xfer.dialects.mysql.ranges.VERIFY_CHUNK_BYTES", 4 << 10)
        real_cx, ranges = mysql_ranges.read_chunk_cx, []
        monkeypatch.setattr(mysql_ranges, "read_chunk_cx", lambda *a, **k: ranges.append(1) or real_cx(*a, **k))
        monkeypatch.setattr(pg_adbc, "BATCH_HINT_BYTES", 16 << 10)  # and PostgreSQL in small batches
        return {}, [], ranges
    if kind == "fallback":  # no native reader, no ADBC: pymysql in one snapshot, psycopg's COPY
        return {"XFER_PG_READER": "psycopg", "XFER_MYSQL_READER": "pymysql"}, ["--consistency", "snapshot"], []
    # ADBC cannot log in (here: a port nothing listens on): psycopg reads instead
    real = pg_adbc.conninfo
    monkeypatch.setattr(pg_adbc, "conninfo", lambda params: real({**params, "port": 1}))
    return {}, ["--debug"], []  # the fallback is logged


@pytest.mark.parametrize(
    "method, readers",
    [
        ("client", "fast"),
        ("pushdown", "fast"),
        ("client", "small ranges"),
        ("client", "fallback"),
        ("client", "broken ADBC"),
    ],
)
def test_every_injected_difference_is_found_and_located(
    migrated: tuple[str, str],
    run_cli: Any,
    tmp_path: Path,
    pg_conn: Any,
    mysql_conn: Any,
    monkeypatch: Any,
    method: str,
    readers: str,
) -> None:
    _corrupt(pg_conn, mysql_conn)
    env, extra, cx_reads = _readers(readers, monkeypatch)
    path = tmp_path / "report.json"
    result = run_cli("verify", *migrated, "--method", method, "--report", path, "--sample", "50", *extra, env=env)
    tables = {t["name"]: t for t in json.loads(path.read_text())["tables"]}
    assert result.exit_code == 3, result.output
    assert "verification found differences in 3 table(s): keyless, rich, textkey" in result.output

    rich = tables["rich"]["verification"]
    assert (tables["rich"]["status"], rich["missing"], rich["extra"], rich["changed"]) == ("mismatch", 1, 1, 16)
    samples = rich["samples"]
    assert [s["key"] for s in samples if s["kind"] == "missing"] == [{"id": 2}]
    assert [s["key"] for s in samples if s["kind"] == "extra"] == [{"id": 5000}]
    changed = {s["key"]["id"]: sorted(s["columns"]) for s in samples if s["kind"] == "changed"}
    assert changed == EXPECTED_CHANGED  # names exactly those keys and columns: JSON reordering is no change
    assert rich["changed_columns"] == {c[0]: 1 for c in EXPECTED_CHANGED.values()}
    values = {s["key"]["id"]: s["columns"] for s in samples if s["kind"] == "changed"}
    assert values[1]["vc"]["target"] == values[1]["vc"]["source"] + " "
    assert values[4]["tx"] == {"source": None, "target": ""}
    assert values[5]["g"] == {"source": repr(1 / 3), "target": repr(math.nextafter(1 / 3, 1))}
    assert values[3]["f"] == {"source": "0.1", "target": "0.10000001"}
    assert values[6]["dt"] == {"source": "2001-01-01T00:00:00", "target": "2001-01-01T00:00:00.000001"}
    assert rich["rechecked"] == 18 and rich["resolved_on_recheck"] == 0
    assert rich["buckets_mismatched"] < rich["buckets"]  # only the mismatched buckets were drilled

    keyless = tables["keyless"]["verification"]
    assert (keyless["missing"], keyless["extra"], keyless["changed"]) == (0, 1, 0)
    assert keyless["samples"] == [{"kind": "extra", "row": {"a": 3, "b": "y  ", "c": "-1e-300"}, "count": 1}]

    textkey = tables["textkey"]["verification"]
    assert (textkey["bucketing"], textkey["missing"], textkey["extra"], textkey["changed"]) == ("hash", 1, 0, 1)
    assert {json.dumps(s["key"], ensure_ascii=False): s.get("columns") for s in textkey["samples"]} == {
        '{"code": "k77", "region": "XX"}': None,
        '{"code": "ß", "region": "DE"}': {"qty": {"source": 5, "target": 99}},
    }
    for name in ("negkey", "ubig"):
        assert tables[name]["status"] == "ok"
    assert ("reading with psycopg instead" in result.output) == (readers == "broken ADBC")
    how = tables["rich"]["verification"]["method_reason"]  # the report names the readers
    want = {
        "fast": ("connectorx", "ADBC"),
        "fallback": ("pymysql", "psycopg"),
        "broken ADBC": ("connectorx", "psycopg"),
        "small ranges": ("connectorx, in key ranges", "ADBC"),
    }
    assert want[readers][0] in how["source"] and want[readers][1] in how["target"], how
    if readers == "small ranges":  # the source was read range by range, and nothing was lost
        assert len(cx_reads) > 5, cx_reads


def test_text_table_and_sign_off_documents(
    migrated: tuple[str, str], run_cli: Any, pg_conn: Any, tmp_path: Path
) -> None:
    pg_conn.execute("UPDATE negkey SET v = 50 WHERE id = -1001")
    md, html = tmp_path / "signoff.md", tmp_path / "signoff.html"
    result = run_cli("verify", *migrated, "--report", md, "--report", html, "-t", "negkey", "-t", "ubig")
    assert result.exit_code == 3
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "table",
        "source",
        "rows",
        "target",
        "rows",
        "missing",
        "extra",
        "changed",
        "seconds",
        "check",
    ]
    assert lines[2].split()[:6] == ["negkey", "8", "8", "0", "0", "1"] and lines[2].endswith("MISMATCH")
    assert "  changed  id=-1001  v: 2 -> 50" in lines
    text = md.read_text()
    assert "# Verification report" in text and "DIFFERENCES in 1 of 2 table(s)" in text
    assert "| changed | id=-1001 | v | 2 | 50 |" in text and "## Sign-off" in text
    assert "| v | int(11): integer, exact |" in text
    assert "<td>id=-1001</td><td>v</td><td>2</td><td>50</td>" in html.read_text()


def test_format_json_on_stdout_and_exclude(migrated: tuple[str, str], run_cli: Any) -> None:
    result = run_cli("verify", *migrated, "--format", "json", "--exclude", "rich", "--exclude", "text*")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["status"] == "ok" and [t["name"] for t in doc["tables"]] == ["keyless", "negkey", "ubig"]
    assert doc["totals"]["missing"] == doc["totals"]["extra"] == doc["totals"]["changed"] == 0


def test_unreachable_target_exits_1(mysql_url: str, run_cli: Any) -> None:
    result = run_cli("verify", mysql_url, "postgresql://postgres@127.0.0.1:1/nowhere")
    assert result.exit_code == 1
    assert result.output.startswith("error: PostgreSQL at 127.0.0.1:1") and "Traceback" not in result.output


def test_transient_differences_are_rechecked_and_not_reported(
    migrated: tuple[str, str], pg_conn: Any, mysql_conn: Any
) -> None:
    """The target lags behind (row 1500 stale, row 1600 missing): while the check runs, the
    target catches up and the source is written again. Only what still differs is reported."""
    pg_conn.execute("UPDATE rich SET vc = 'stale' WHERE id IN (1500, 1700)")
    pg_conn.execute("DELETE FROM rich WHERE id = 1600")

    def catch_up() -> None:  # runs after the target was hashed, before the re-check
        with mysql_conn.cursor() as cur:
            cur.execute("UPDATE rich SET vc = 'new' WHERE id = 1500")
        pg_conn.execute("UPDATE rich SET vc = 'new' WHERE id = 1500")
        pg_conn.execute("INSERT INTO rich (id) VALUES (1600)")  # arrives, but not as the source has it

    # --consistency lock would make the source write wait for the check: snapshot lets it through
    opts = Options.build(tables=("rich",), consistency="snapshot")
    report = pipeline.verify(*migrated, opts, progress=_after_target_read(catch_up))
    (t,) = report.tables
    v = t.verification
    assert v is not None and t.status == "mismatch"
    assert (v.missing, v.extra, v.changed, v.rechecked, v.resolved_on_recheck) == (0, 0, 2, 3, 1)
    assert sorted(s["key"]["id"] for s in v.samples) == [1600, 1700]
    assert v.source_changed_during_check
    assert any("the source was written during the check" in n for n in t.notes)


def _after_target_read(action: Any) -> pipeline.ProgressFactory:
    class Bar:
        def __init__(self, name: str) -> None:
            self.name = name

        def update(self, n: int) -> None:
            pass

        def close(self) -> None:
            if "(target)" in self.name:
                action()

    return lambda name, total: Bar(name)


def test_migrate_locates_differences_with_its_streamed_hashes(
    mysql_url: str, mysql_conn: Any, pg_url: str, pg_conn: Any, run_cli: Any, tmp_path: Path
) -> None:
    """A target trigger alters one row as it is loaded: migrate's own check (the source hashed
    while streaming) finds and names it."""
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
        cur.execute("INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_5000")
    pg_conn.execute("CREATE TABLE t (id integer, v varchar(10))")
    pg_conn.execute(
        "CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN IF NEW.id = 4321 THEN NEW.v := 'changed'; END IF; RETURN NEW; END $$"
    )
    pg_conn.execute("CREATE TRIGGER bump BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION bump()")
    report = tmp_path / "m.json"
    result = run_cli("migrate", mysql_url, pg_url, "--data-only", "--report", report)
    assert result.exit_code == 3, result.output
    (t,) = json.loads(report.read_text())["tables"]
    assert t["status"] == "mismatch" and t["verification"]["changed"] == 1
    assert t["verification"]["samples"] == [
        {"kind": "changed", "key": {"id": 4321}, "columns": {"v": {"source": "v4321", "target": "changed"}}}
    ]
    assert 'changed  id=4321  v: "v4321" -> "changed"' in result.output


def test_postgres_reader_joins_the_run_snapshot(migrated: tuple[str, str], pg_conn: Any) -> None:
    """The PostgreSQL side is read on a connection of the driver's own (ADBC) that adopts the
    run's exported snapshot: a change committed after the snapshot was taken is not seen."""
    written = []

    def factory(name: str, total: int | None) -> Any:
        if not written:  # both snapshots exist; neither side has read a row yet
            pg_conn.execute("UPDATE rich SET vc = 'late' WHERE id = 1234")
            written.append(name)
        return _after_target_read(lambda: None)(name, total)

    # (--consistency live, the default, reads no snapshot: this is lock's and snapshot's promise)
    report = pipeline.verify(*migrated, Options.build(tables=("rich",), consistency="lock"), progress=factory)
    (t,) = report.tables
    assert written and t.status == "ok"  # the snapshot, from before the write
    later = pipeline.verify(*migrated, Options.build(tables=("rich",)))
    assert later.tables[0].status == "mismatch"  # the write was real


def test_tinyint1_is_compared_as_the_target_holds_it(
    mysql_url: str, mysql_conn: Any, pg_url: str, pg_conn: Any, run_cli: Any
) -> None:
    """verify skips the source's tinyint(1) data probe and reads the decision off the target:
    `a` holds a 2 (kept an integer), `b` only 0/1 (boolean). Both compare identical, and a
    changed integer is still found."""
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE TABLE flags (id INT PRIMARY KEY, a TINYINT(1), b TINYINT(1))")
        cur.execute("INSERT INTO flags VALUES (1, 0, 1), (2, 2, 0), (3, NULL, 1)")
    assert run_cli("migrate", mysql_url, pg_url, "-q").exit_code == 0
    types = dict(
        pg_conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'flags'"
        ).fetchall()
    )
    assert (types["a"], types["b"]) == ("smallint", "boolean")
    result = run_cli("verify", mysql_url, pg_url, "--format", "json")
    assert result.exit_code == 0, result.output
    pg_conn.execute("UPDATE flags SET a = 3 WHERE id = 2")
    result = run_cli("verify", mysql_url, pg_url, "--format", "json")
    assert result.exit_code == 3
    (t,) = json.loads(result.stdout)["tables"]
    assert t["verification"]["changed_columns"] == {"a": 1}


def test_postgres_reader_keeps_arrays_of_more_dimensions_apart(pg_url: str, pg_conn: Any) -> None:
    """ADBC flattens a 2-D array and drops lower bounds; the verifier's reader sends such a
    value as its text instead, so it cannot equal the 1-D list of the same elements."""
    from contextlib import ExitStack

    from xfer.dialects.connect import open_target

    pg_conn.execute("CREATE TABLE arr (id int PRIMARY KEY, a text[])")
    pg_conn.execute(
        "INSERT INTO arr VALUES (1, '{x,y}'), (2, '{{a,b},{c,d}}'), (3, '[0:1]={p,q}'), (4, NULL), (5, '{NULL,\"\"}')"
    )
    with ExitStack() as stack:
        target = open_target(pg_url, stack, must_exist=True)
        (table,) = target.introspect(["arr"])
        with target.snapshot():
            rows = [r for b in target.verify_batches(table, 100) for r in b.to_pylist()]
        assert "ADBC" in target.verify_reader
    assert sorted(rows, key=lambda r: r["id"]) == [
        {"id": 1, "a": ["x", "y"]},
        {"id": 2, "a": ["{{a,b},{c,d}}"]},
        {"id": 3, "a": ["[0:1]={p,q}"]},
        {"id": 4, "a": None},
        {"id": 5, "a": [None, ""]},
    ]


def test_a_postgres_source_with_a_2d_array_says_so(pg_url: str, pg_conn: Any, tmp_path: Path, run_cli: Any) -> None:
    """The cursor reader (PostgreSQL as a source) cannot build a 2-D array: a clear error with
    the table and column, not an internal one."""
    pg_conn.execute("CREATE TABLE arr (id int PRIMARY KEY, a text[])")
    pg_conn.execute("INSERT INTO arr VALUES (1, '{x,y}'), (2, '{{a,b},{c,d}}')")
    result = run_cli("migrate", pg_url, f"duckdb:///{tmp_path / 'out.duckdb'}")
    assert result.exit_code == 1
    assert "reading arr: column 'a' (text[]): arrays of more than one dimension cannot be read" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("retries, sessions", [(0, "reader"), (2, "reader"), (2, "all")])
def test_a_target_connection_lost_mid_read_is_retried_or_fails_the_table_with_the_reason(
    mysql_url: str,
    mysql_conn: Any,
    pg_url: str,
    pg_conn: Any,
    run_cli: Any,
    monkeypatch: Any,
    retries: int,
    sessions: str,
) -> None:
    """PostgreSQL ends the reader's session after its first batch. With retries the table is
    read again in the same snapshot and comes out identical, the retry logged; without, it
    fails with what libpq said, nothing reported as verified, no internal error. When the
    session holding the snapshot is ended too, no retry can help: the table fails, saying so."""
    with mysql_conn.cursor() as cur:  # more rows than socket buffers hold: the server is mid-COPY
        cur.execute("CREATE TABLE big (id INT PRIMARY KEY, v VARCHAR(60))")
        cur.execute("INSERT INTO big SELECT seq, REPEAT(CHAR(65 + seq % 26), 50) FROM seq_1_to_300000")
    assert run_cli("migrate", mysql_url, pg_url, "-q").exit_code == 0
    monkeypatch.setattr(pg_adbc, "BATCH_HINT_BYTES", 64 << 10)  # many small batches
    monkeypatch.setattr("xfer.core.retry.RetryPolicy.wait", lambda self, attempt: 0.01)
    killed = []

    class Bar:
        def __init__(self, name: str) -> None:
            self.name = name

        def update(self, n: int) -> None:
            if "(target)" in self.name and not killed:
                which = "query LIKE 'COPY%'" if sessions == "reader" else "backend_type = 'client backend'"
                killed.append(
                    pg_conn.execute(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        f"WHERE datname = current_database() AND {which} AND pid <> pg_backend_pid()"
                    ).fetchone()[0]
                )

        def close(self) -> None:
            pass

    logged: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: logged.append(record.getMessage())  # type: ignore[method-assign]
    xlog = logging.getLogger("xfer")
    level = xlog.level  # the CLI run above (-q) left it at ERROR
    xlog.addHandler(handler)
    xlog.setLevel(logging.WARNING)
    try:
        report = pipeline.verify(mysql_url, pg_url, Options.build(retries=retries), progress=lambda n, t: Bar(n))
    finally:
        xlog.removeHandler(handler)
        xlog.setLevel(level)
    (t,) = report.tables
    assert killed == ([1] if sessions == "reader" else [2])
    if sessions == "all":
        assert t.status == "failed" and t.error is not None
        assert "reading big: the connection holding the snapshot is gone" in t.error, t.error
        return
    if retries:
        assert t.status == "ok" and t.source_rows == t.target_rows == 300_000
        assert any("verifying big: reading big: ADBC: [libpq]" in m and "retry 1/2" in m for m in logged), logged
        return
    assert t.status == "failed" and t.checksum_match is None
    # libpq says "terminating connection due to administrator command" or, when the socket
    # closed first, "server closed the connection unexpectedly"
    assert t.error is not None and "reading big: ADBC: [libpq]" in t.error and "connection" in t.error

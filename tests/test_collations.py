"""Collations kept (issue #20): after `xfer migrate`, a column compares, finds duplicates and
sorts in PostgreSQL as its collation made it do in MariaDB; `--collations binary` gives the
byte-wise columns of before, and the plan says which columns change. What cannot be kept (PAD
SPACE, LIKE on a non-deterministic collation, ...) is in the plan's and the report's behaviour
section. Every collation family has a rule (MySQL 8's checked on recorded catalogue rows in
test_mysql_catalogue.py), and every family MariaDB ships compares alike on both servers."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cdc_harness import start_following, wait_converged
from conftest import mysql_source
from sqlfile import run_sql_file

import xfer
from xfer.core.options import Options
from xfer.core.typemap import default_map
from xfer.dialects.capabilities import BehaviourFacts
from xfer.planning.behaviour import find

ISSUE = mysql_source(
    """
CREATE TABLE users (
  id INT AUTO_INCREMENT PRIMARY KEY,
  email VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL,
  nick VARCHAR(50) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
  UNIQUE KEY uq_email (email), KEY ix_nick (nick)
);
INSERT INTO users (email, nick) VALUES ('Alice@X.io', 'Ålice'), ('bob@x.io', 'bob '), ('zed@x.io', 'zed'),
  ('amy@x.io', 'amy'), ('ben@x.io', 'Ben');
"""
)


@pytest.mark.parametrize(
    ("collation", "target"),
    [
        ("utf8mb4_general_ci", "xfer_ci_ai"),
        ("utf8mb4_unicode_ci", "xfer_ci_ai"),
        ("utf8mb4_unicode_520_ci", "xfer_ci_ai"),
        ("utf8mb4_0900_ai_ci", "xfer_ci_ai"),  # MySQL 8's default
        ("utf8mb4_0900_as_ci", "xfer_ci"),
        ("utf8mb4_0900_as_cs", "xfer_cs"),
        ("utf8mb4_0900_bin", "C"),
        ("utf8mb4_bin", "C"),
        ("utf8mb4_nopad_bin", "C"),
        ("utf8mb4_general_nopad_ci", "xfer_ci_ai"),
        ("utf8mb4_uca1400_ai_ci", "xfer_ci_ai"),  # MariaDB 10.10+
        ("utf8mb4_uca1400_as_ci", "xfer_ci"),
        ("utf8mb4_uca1400_ai_cs", "xfer_ai_cs"),
        ("utf8mb4_uca1400_as_cs", "xfer_cs"),
        ("utf8mb4_swedish_ci", "xfer_sv_ci_ai"),
        ("latin1_swedish_ci", "xfer_sv_ci_ai"),  # MySQL's latin1 default
        ("latin1_general_ci", "xfer_ci"),
        ("latin1_general_cs", "xfer_cs"),
        ("latin1_bin", "C"),
        ("binary", "C"),
        ("ascii_general_ci", "xfer_ci_ai"),
    ],
)
def test_every_collation_family_has_a_rule(collation: str, target: str) -> None:
    rules = default_map("mysql", "postgres")
    assert rules is not None and rules.collation_for(collation) == target
    assert target == "C" or target in rules.collation_defs


# Collations MariaDB 10.11 ships, one column each, and pairs of strings whose equality they
# decide differently. Each pair must compare alike in MariaDB and (after the migration) PostgreSQL.
FAMILIES = [
    "utf8mb4_general_ci",
    "utf8mb4_unicode_ci",
    "utf8mb4_unicode_520_ci",
    "utf8mb4_uca1400_ai_ci",
    "utf8mb4_uca1400_as_ci",
    "utf8mb4_uca1400_ai_cs",
    "utf8mb4_uca1400_as_cs",
    "utf8mb4_bin",
    "utf8mb4_swedish_ci",
    "latin1_swedish_ci",
    "latin1_general_ci",
    "latin1_general_cs",
    "latin1_bin",
]
PAIRS = [("alice", "ALICE"), ("emile", "Émile"), ("a", "å"), ("o", "ö"), ("ä", "æ"), ("Zoe", "zoe"), ("a", "b")]
#: families whose order PostgreSQL's ICU cannot reproduce (the rules file says so; so does the plan)
SORTS_DIFFERENTLY = {"latin1_general_ci", "latin1_general_cs"}
ORDERED = ["b", "Åsa", "amy", "zed", "Zoe", "ärla", "Bob", "åke"]


def _columns() -> str:
    return ", ".join(f"c{i} VARCHAR(20) CHARACTER SET {c.split('_')[0]} COLLATE {c}" for i, c in enumerate(FAMILIES))


FAMILY_TABLE = mysql_source(
    f"""
CREATE TABLE pairs (id INT PRIMARY KEY, {_columns()});
CREATE TABLE words (id INT PRIMARY KEY, {_columns()});
"""
)


@pytest.fixture
def families(mysql_conn: Any, FAMILY_TABLE: None) -> None:  # noqa: N803
    cols = ", ".join(f"c{i}" for i in range(len(FAMILIES)))
    marks = ", ".join(["%s"] * len(FAMILIES))
    with mysql_conn.cursor() as cur:
        for n, (a, b) in enumerate(PAIRS):
            cur.execute(f"INSERT INTO pairs (id, {cols}) VALUES ({2 * n}, {marks})", [a] * len(FAMILIES))
            cur.execute(f"INSERT INTO pairs (id, {cols}) VALUES ({2 * n + 1}, {marks})", [b] * len(FAMILIES))
        for n, w in enumerate(ORDERED):
            cur.execute(f"INSERT INTO words (id, {cols}) VALUES ({n}, {marks})", [w] * len(FAMILIES))


def _equal_pairs(query: Any, col: str, quote: str) -> list[bool]:
    """For each pair (rows 2n, 2n+1): does the column compare equal on this server?"""
    return [
        bool(query(f"SELECT x.{col} = y.{col} FROM {quote}pairs{quote} x, {quote}pairs{quote} y "
                   f"WHERE x.id = {2 * n} AND y.id = {2 * n + 1}"))
        for n in range(len(PAIRS))
    ]  # fmt: skip


@pytest.mark.usefixtures("families")
def test_each_family_compares_and_sorts_as_in_mariadb(mysql_url: str, pg_url: str, mysql_conn: Any, run_cli) -> None:
    result = run_cli("migrate", mysql_url, pg_url)
    assert result.exit_code == 0, result.output
    pg = psycopg.connect(pg_url, autocommit=True)
    with pg, mysql_conn.cursor() as cur:

        def on_mysql(sql: str) -> Any:
            cur.execute(sql)
            return cur.fetchone()[0]

        def on_pg(sql: str) -> Any:
            return pg.execute(sql).fetchone()[0]  # type: ignore[index]

        wrong = []
        for i, name in enumerate(FAMILIES):
            col = f"c{i}"
            mine, theirs = _equal_pairs(on_mysql, col, "`"), _equal_pairs(on_pg, col, '"')
            if theirs != mine:
                wrong.append(f"{name}: equal pairs {[p for p, e in zip(PAIRS, mine, strict=True) if e]} in MariaDB, "
                             f"{[p for p, e in zip(PAIRS, theirs, strict=True) if e]} in PostgreSQL")  # fmt: skip
            cur.execute(f"SELECT {col} FROM words ORDER BY {col}, id")
            order = [r[0] for r in cur.fetchall()]
            got = [r[0] for r in pg.execute(f'SELECT "{col}" FROM "words" ORDER BY "{col}", id').fetchall()]
            if got != order and name not in SORTS_DIFFERENTLY:
                wrong.append(f"{name}: MariaDB sorts {order}, PostgreSQL {got}")
        assert not wrong, "\n".join(wrong)
    for i, name in enumerate(FAMILIES):  # and the plan / report says which sort differently
        said = "sorts differently: the source orders" in _behaviour_of(result.output, f"words.c{i}")
        assert said == (name in SORTS_DIFFERENTLY), name


def _behaviour_of(output: str, where: str) -> str:
    """The behaviour lines (change and what to do) naming `where`, from a report or a plan."""
    lines = output.split("behaviour after cutover", 1)[1].splitlines()
    found = []
    for n, line in enumerate(lines):
        names = line.strip().split(": ", 1)[0].split(", ")
        if where in names:
            found.append(line + "\n" + (lines[n + 1] if n + 1 < len(lines) else ""))
    return "\n".join(found)


@pytest.mark.usefixtures("ISSUE")
def test_the_issue_example_behaves_as_on_mariadb(mysql_url: str, pg_url: str, run_cli) -> None:
    result = run_cli("migrate", mysql_url, pg_url, "--report", "report.json")
    assert result.exit_code == 0, result.output
    with psycopg.connect(pg_url, autocommit=True) as pg:
        assert pg.execute("SELECT email FROM users WHERE email = 'ALICE@X.IO'").fetchall() == [("Alice@X.io",)]
        with pytest.raises(psycopg.errors.UniqueViolation):
            pg.execute("INSERT INTO users (email) VALUES ('alice@x.io')")
        nicks = [r[0] for r in pg.execute("SELECT nick FROM users ORDER BY nick").fetchall()]
        assert nicks == ["Ålice", "amy", "Ben", "bob ", "zed"]  # Å with the a's, as MariaDB sorts
        # what cannot be kept: PAD SPACE ('bob' = 'bob ' in MariaDB), said in the report
        assert pg.execute("SELECT count(*) FROM users WHERE nick = 'bob'").fetchone() == (0,)
    # ... counted by the plan, which reads the data for it (migrate does not scan the tables twice)
    plan = run_cli("plan", mysql_url, pg_url)
    assert "1 value(s) end in a space" in _behaviour_of(plan.output, "users.nick"), plan.output
    report = json.loads(Path("report.json").read_text())
    said = {(b["table"], b["column"]): b for b in report["behaviour"]}
    assert "LIKE" in said[("users", "email")]["change"] and "COLLATE" in said[("users", "email")]["action"]
    verified = run_cli("verify", mysql_url, pg_url)
    assert verified.exit_code == 0, verified.output  # values are still compared exactly
    assert "behaviour after cutover" in verified.output


@pytest.mark.usefixtures("ISSUE")
def test_binary_gives_the_old_behaviour_and_the_plan_lists_the_columns(mysql_url: str, pg_url: str, run_cli) -> None:
    plan = run_cli("plan", "--collations", "binary", mysql_url, pg_url)
    assert plan.exit_code == 0, plan.output
    behaviour = plan.output.split("== behaviour after cutover", 1)[1]
    assert "users.email: compares byte-wise here, not as utf8mb4_general_ci" in behaviour
    assert "its unique key now accepts 'a' beside 'A'" in behaviour
    assert "users.nick: compares byte-wise here, not as utf8mb4_unicode_ci" in behaviour
    assert "COLLATE" not in plan.output.split("-- DDL", 1)[1].split("==", 1)[0]
    api = xfer.plan(mysql_url, pg_url, collations="binary")  # the library's option, as the flag
    assert api.collations == [] and {(b.table, b.column) for b in api.behaviour if "byte-wise" in b.change} == {
        ("users", "email"),
        ("users", "nick"),
    }
    result = run_cli("migrate", "--collations", "binary", mysql_url, pg_url)
    assert result.exit_code == 0, result.output
    with psycopg.connect(pg_url, autocommit=True) as pg:
        assert pg.execute("SELECT email FROM users WHERE email = 'ALICE@X.IO'").fetchall() == []
        pg.execute("INSERT INTO users (email) VALUES ('alice@x.io')")  # no longer a duplicate
        assert pg.execute("SELECT count(*) FROM pg_collation WHERE collname LIKE 'xfer%'").fetchone() == (0,)


@pytest.mark.usefixtures("ISSUE")
def test_the_plan_names_the_collations_and_rollback_drops_only_its_own(
    mysql_url: str, pg_url: str, run_cli, tmp_path: Path
) -> None:
    plan = run_cli("plan", mysql_url, pg_url)
    assert "xfer_ci_ai: ICU und-u-ks-level1, non-deterministic" in plan.output
    assert "collation utf8mb4_general_ci -> xfer_ci_ai" in plan.output
    scripts = run_cli("plan", "--sql", tmp_path / "sql", mysql_url, pg_url)
    assert scripts.exit_code == 0, scripts.output
    assert 'CREATE COLLATION IF NOT EXISTS "public"."xfer_ci_ai"' in (tmp_path / "sql" / "up-pre-data.sql").read_text()
    assert 'DROP COLLATION IF EXISTS "public"."xfer_ci_ai"' in (tmp_path / "sql" / "down.sql").read_text()
    assert run_cli("migrate", mysql_url, pg_url).exit_code == 0
    with psycopg.connect(pg_url, autocommit=True) as pg:
        # a second run into another schema finds its collation there already: not its to drop
        pg.execute("CREATE SCHEMA other")
        pg.execute(
            "CREATE COLLATION other.xfer_ci_ai (provider = icu, locale = 'und-u-ks-level1', deterministic = false)"
        )
        other = pg_url + "?schema=other"
        assert run_cli("migrate", mysql_url, other).exit_code == 0
        assert run_cli("rollback", "-y", other).exit_code == 0
        assert pg.execute("SELECT count(*) FROM pg_collation WHERE collname = 'xfer_ci_ai'").fetchone() == (2,)
        assert run_cli("rollback", "-y", pg_url).exit_code == 0
        left = pg.execute("SELECT n.nspname FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace "
                          "WHERE collname = 'xfer_ci_ai'").fetchall()  # fmt: skip
        assert left == [("other",)]


@pytest.mark.usefixtures("ISSUE")
def test_a_mapping_file_sets_one_columns_collation(mysql_url: str, pg_url: str, run_cli, tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text("tables:\n  users:\n    columns:\n      nick: {collation: C}\n")
    result = run_cli("migrate", "-m", mapping, mysql_url, pg_url)
    assert result.exit_code == 0, result.output
    with psycopg.connect(pg_url, autocommit=True) as pg:
        assert pg.execute("SELECT count(*) FROM users WHERE email = 'ALICE@X.IO'").fetchone() == (1,)
        assert pg.execute("SELECT count(*) FROM users WHERE nick = 'ålice'").fetchone() == (0,)
        assert pg.execute("SELECT count(*) FROM users WHERE nick LIKE 'Å%'").fetchone() == (1,)  # LIKE works on "C"


def test_plan_and_report_list_the_fidelity_fixtures_behaviour(
    mysql_conn: Any, mysql_url: str, pg_url: str, run_cli
) -> None:
    run_sql_file(mysql_conn, "all_types.sql")
    plan = run_cli("plan", mysql_url, pg_url)
    assert plan.exit_code == 0, plan.output
    for where, what in [
        ("all_types.id", "AUTO_INCREMENT is an identity here"),
        ("all_types.flag", "tinyint(1) is boolean here"),
        ("all_types.dt", "zero/partial date(s) become NULL"),
        ("all_types.e", "ENUM is text here: ORDER BY sorts by the label"),
        ("all_types.vc", "trailing spaces count here: 2 value(s) end in a space"),
        ("all_types.vc_latin1", "compares as latin1_swedish_ci did (xfer_sv_ci_ai)"),
    ]:
        assert what in _behaviour_of(plan.output, where), where
    result = run_cli("migrate", mysql_url, pg_url, "--report", "run.json")
    assert result.exit_code == 0, result.output
    report = json.loads(Path("run.json").read_text())
    items = report["behaviour"]
    assert {(b["table"], b["column"]) for b in items} >= {("all_types", c) for c in ("id", "flag", "dt", "e", "vc")}
    assert all(b["change"] and b["action"] for b in items)
    # the plan's zero-date counts are the ones the copy then made NULL
    (table,) = report["tables"]
    copied = {col: n for col, counts in table["policies"].items() for what, n in counts.items() if "zero" in what}
    planned = {b["column"]: int(b["change"].split()[0]) for b in items if "zero/partial date" in b["change"]}
    assert planned == copied and copied


@pytest.mark.usefixtures("ISSUE")
def test_a_view_using_like_on_a_case_insensitive_column_is_named(
    mysql_conn: Any, mysql_url: str, pg_url: str, run_cli
) -> None:
    with mysql_conn.cursor() as cur:
        cur.execute("CREATE VIEW a_users AS SELECT id, email FROM users WHERE email LIKE 'a%'")
    plan = run_cli("plan", mysql_url, pg_url)
    said = _behaviour_of(plan.output, "a_users")
    assert "view applies LIKE to email (non-deterministic collation): every query of it fails" in said
    assert run_cli("migrate", mysql_url, pg_url).exit_code == 0
    with psycopg.connect(pg_url, autocommit=True) as pg:  # as the plan said
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="nondeterministic"):
            pg.execute("SELECT * FROM a_users")


def test_a_source_that_is_not_strict_is_said() -> None:
    items = find([], BehaviourFacts(sql_mode="NO_ENGINE_SUBSTITUTION"), Options())
    assert [(b.table, b.column) for b in items] == [(None, None)]
    assert "not strict" in items[0].change and "PostgreSQL refuses them" in items[0].change
    assert find([], BehaviourFacts(sql_mode="STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION"), Options()) == []


def test_following_keeps_collations_of_keys_and_added_columns(binlog_url: str, binlog_conn: Any, pg_url: str) -> None:
    """A case-insensitive primary key whose case changes, a unique key, and a column added while
    following with a collation the copy did not create: all as on MariaDB."""
    with binlog_conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE tags (name VARCHAR(20) COLLATE utf8mb4_general_ci PRIMARY KEY, "
            "label VARCHAR(20) COLLATE utf8mb4_unicode_ci NOT NULL, UNIQUE KEY uq_label (label))"
        )
        cur.execute("INSERT INTO tags VALUES ('alpha', 'One'), ('beta', 'Two')")
    with start_following(binlog_url, pg_url, Path.cwd()) as run, psycopg.connect(pg_url, autocommit=True) as pg:
        with binlog_conn.cursor() as cur:
            cur.execute("UPDATE tags SET name = 'ALPHA' WHERE name = 'alpha'")  # only the case changes
            cur.execute("UPDATE tags SET label = 'x' WHERE name = 'beta'")
            cur.execute("UPDATE tags SET label = 'TWO' WHERE name = 'alpha'")  # 'Two' was freed above
            cur.execute("ALTER TABLE tags ADD COLUMN code VARCHAR(10) COLLATE utf8mb4_uca1400_as_cs")
            cur.execute("INSERT INTO tags VALUES ('gamma', 'three', 'Abc')")
        assert wait_converged(binlog_conn, pg, ["tags"], follower=run) == []
        assert pg.execute("SELECT name FROM tags WHERE name = 'alpha'").fetchall() == [("ALPHA",)]
        assert pg.execute("SELECT count(*) FROM tags WHERE code = 'abc'").fetchone() == (0,)  # _as_cs: exact
        collation = pg.execute(
            "SELECT c.collname FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation "
            "WHERE a.attrelid = 'tags'::regclass AND a.attname = 'code'"
        ).fetchone()
        assert collation == ("xfer_cs",)
        assert pg.execute("SELECT count(*) FROM tags WHERE label = 'THREE'").fetchone() == (1,)
        assert run.signal(signal.SIGTERM) == 0

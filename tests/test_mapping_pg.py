"""Mapping files end to end, MariaDB -> PostgreSQL: every key changes the target rows as it says,
every mistake stops the run before anything changes, and verify -m agrees with migrate -m."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pymysql
import pytest
from sqlalchemy.engine import make_url

from xfer.mapping import load_mapping

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "mappings" / "examples").glob("*.yaml"))
PG = psycopg.Connection[tuple[Any, ...]]


@pytest.fixture
def saas(mysql_conn: pymysql.connections.Connection) -> None:
    """The examples' fixture database (mappings/examples/saas.sql) in the test's MariaDB database."""
    sql = (ROOT / "mappings" / "examples" / "saas.sql").read_text()
    with mysql_conn.cursor() as cur:
        for stmt in sql.split(";\n"):
            body = "\n".join(line for line in stmt.splitlines() if not line.startswith("--")).strip()
            if body:
                cur.execute(body)


def with_schema(url: str, schema: str) -> str:
    return make_url(url).update_query_dict({"schema": schema}).render_as_string(hide_password=False)


def mapping(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def rows(pg: PG, sql: str) -> list[tuple[Any, ...]]:
    return pg.execute(sql).fetchall()


def user_tables(pg: PG) -> list[str]:
    return [
        f"{s}.{t}"
        for s, t in rows(
            pg,
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema', '_xfer') ORDER BY 1, 2",
        )
    ]


def column_types(pg: PG, schema: str, table: str) -> dict[str, str]:
    return dict(
        rows(
            pg,
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            f"WHERE a.attrelid = '{schema}.{table}'::regclass AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
        )
    )


# -- the shipped examples ------------------------------------------------------------------------
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_verify_reports_identical_after_migrate_for_every_example(
    example: Path, saas: None, mysql_url: str, pg_url: str, run_cli: Any
) -> None:
    m = load_mapping(example, env={})
    assert m.target is not None
    schema = parse_qs(urlsplit(m.target).query)["schema"][0]
    target = with_schema(pg_url, schema)
    migrated = run_cli("migrate", "-m", example, mysql_url, target)
    assert migrated.exit_code == 0, migrated.output
    verified = run_cli("verify", "-m", example, mysql_url, target)
    assert verified.exit_code == 0, verified.output
    assert "MISMATCH" not in verified.output and "problem" not in verified.output


def test_tenant_extract_example_copies_one_tenant_renamed_cleaned_and_computed(
    saas: None, mysql_url: str, pg_url: str, pg_conn: PG, mysql_conn: pymysql.connections.Connection, run_cli: Any
) -> None:
    example = ROOT / "mappings" / "examples" / "tenant-extract.yaml"
    result = run_cli("migrate", "-m", example, mysql_url, with_schema(pg_url, "tenant_42"))
    assert result.exit_code == 0, result.output

    assert user_tables(pg_conn) == ["tenant_42.clients", "tenant_42.orders", "tenant_42.tenants"]
    assert rows(pg_conn, "SELECT * FROM tenant_42.tenants") == [(42, "Zoë & Co")]
    clients = rows(
        pg_conn, "SELECT id, tenant_id, email_address, phone, status, full_name FROM tenant_42.clients ORDER BY id"
    )
    assert clients == [
        (1, 42, "ada@example.com", "+44 20 7946 0001", "active", "Ada Lovelace"),
        (2, 42, "zoe@example.com", None, "paused", "Zoë O'Brien"),
        (3, 42, "taro@example.jp", None, "closed", "山田 太郎"),
    ]
    types = column_types(pg_conn, "tenant_42", "clients")
    assert "legacy_flag" not in types and "email" not in types
    assert (types["email_address"], types["status"], types["score"], types["full_name"]) == (
        "citext",
        "text",
        "double precision",
        "text",
    )
    assert rows(pg_conn, "SELECT id, note FROM tenant_42.orders ORDER BY id") == [
        (100, "gift wrap"),
        (101, None),
        (102, None),
        (103, "call first"),
    ]
    # the foreign key follows the rename of its table
    assert rows(
        pg_conn,
        "SELECT confrelid::regclass::text FROM pg_constraint WHERE conname = 'fk_order_customer'",
    ) == [("tenant_42.clients",)]
    # hooks: the extension (before), the comment (after, target), the log row (after, source)
    assert rows(pg_conn, "SELECT obj_description('tenant_42.clients'::regclass)") == [("extracted by xfer",)]
    with mysql_conn.cursor() as cur:
        cur.execute("SELECT tenant_id FROM migration_log")
        assert cur.fetchall() == ((42,),)
    assert "before hook (" in result.output and "tenant-extract.yaml:" in result.output


def test_verify_locates_the_differences_of_mapped_tables(
    saas: None, mysql_url: str, pg_url: str, pg_conn: PG, tmp_path: Path, run_cli: Any
) -> None:
    """Renamed, filtered and computed tables are located like plain ones: the keys that are
    missing, extra or changed, the columns that differ, with both values as the mapping
    shapes the source."""
    example = ROOT / "mappings" / "examples" / "tenant-extract.yaml"
    target = with_schema(pg_url, "tenant_42")
    assert run_cli("migrate", "-m", example, mysql_url, target).exit_code == 0
    pg_conn.execute(
        "UPDATE tenant_42.clients SET full_name = 'Ada King', email_address = 'ADA@example.com' WHERE id = 1"
    )
    pg_conn.execute("DELETE FROM tenant_42.orders WHERE id = 101")
    pg_conn.execute(
        "INSERT INTO tenant_42.orders (id, tenant_id, customer_id, total, status, placed_at, note) "
        "SELECT 999, tenant_id, customer_id, total, status, placed_at, note FROM tenant_42.orders WHERE id = 100"
    )
    report = tmp_path / "r.json"
    result = run_cli("verify", "-m", example, mysql_url, target, "--report", report)
    assert result.exit_code == 3, result.output
    tables = {t["name"]: t for t in json.loads(report.read_text())["tables"]}
    clients = tables["customers"]["verification"]
    assert (clients["missing"], clients["extra"], clients["changed"]) == (0, 0, 1)
    assert clients["samples"] == [
        {
            "kind": "changed",
            "key": {"id": 1},
            "columns": {
                "email": {"source": "ada@example.com", "target": "ADA@example.com"},  # named as in the source
                "full_name": {"source": "Ada Lovelace", "target": "Ada King"},
            },
        }
    ]
    orders = tables["orders"]["verification"]
    assert (orders["missing"], orders["extra"], orders["changed"]) == (1, 1, 0)
    assert [(x["kind"], x["key"]) for x in orders["samples"]] == [("missing", {"id": 101}), ("extra", {"id": 999})]
    assert tables["tenants"]["status"] == "ok"
    assert "missing  id=101" in result.output and "full_name" in result.output


def test_tenant_id_comes_from_the_environment(
    saas: None, mysql_url: str, pg_url: str, pg_conn: PG, run_cli: Any
) -> None:
    example = ROOT / "mappings" / "examples" / "tenant-extract.yaml"
    result = run_cli("migrate", "-m", example, mysql_url, with_schema(pg_url, "tenant_7"), env={"TENANT_ID": "7"})
    assert result.exit_code == 0, result.output
    assert rows(pg_conn, "SELECT id FROM tenant_7.clients ORDER BY id") == [(4,), (5,)]
    assert rows(pg_conn, "SELECT id FROM tenant_7.tenants") == [(7,)]


def test_split_merge_example(saas: None, mysql_url: str, pg_url: str, pg_conn: PG, run_cli: Any) -> None:
    example = ROOT / "mappings" / "examples" / "split-merge.yaml"
    result = run_cli("migrate", "-m", example, mysql_url, with_schema(pg_url, "reporting"))
    assert result.exit_code == 0, result.output
    assert user_tables(pg_conn) == ["reporting.all_customers", "reporting.open_orders", "reporting.order_history"]
    assert list(column_types(pg_conn, "reporting", "open_orders")) == ["id", "customer_id", "total", "placed_at"]
    assert [r[0] for r in rows(pg_conn, "SELECT id FROM reporting.open_orders ORDER BY id")] == [100, 103, 200]
    assert rows(pg_conn, "SELECT id, note, total_cents FROM reporting.order_history ORDER BY id") == [
        (101, None, 25000),
        (102, None, 550),
        (201, "fragile", 9995),
    ]
    assert rows(
        pg_conn, "SELECT region, id, name, email, vat_id, state FROM reporting.all_customers ORDER BY 1, 2"
    ) == [
        ("EU", 1, "Müller GmbH", "info@mueller.de", "DE123456789", None),
        ("EU", 2, "Dupont SA", None, "FR987654321", None),
        ("US", 1, "Globex Corp", "sales@globex.com", None, "CA"),
        ("US", 3, "Initech", "it@initech.com", None, "TX"),
    ]
    pk = rows(
        pg_conn,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'reporting.all_customers'::regclass AND contype = 'p'",
    )
    assert pk == [("PRIMARY KEY (region, id)",)]


# -- bad input: nothing changes -----------------------------------------------------------------
def test_a_typo_in_a_column_name_stops_before_anything_is_created(
    saas: None, mysql_url: str, pg_url: str, pg_conn: PG, tmp_path: Path, run_cli: Any
) -> None:
    f = mapping(tmp_path, "tables:\n  customers:\n    columns:\n      emial: {rename: email_address}\n")
    result = run_cli("migrate", "-m", f, mysql_url, with_schema(pg_url, "app"))
    assert result.exit_code == 2, result.output
    assert f"error: {f}:4:7: no column 'emial' in source table 'customers'; did you mean 'email'?" in result.output
    assert user_tables(pg_conn) == []
    assert rows(pg_conn, "SELECT count(*) FROM pg_namespace WHERE nspname = 'app'") == [(0,)]


BAD = {
    "unknown key": ("tables:\n  customers:\n    renmae: clients\n", "3:5: unknown key 'renmae'", "'rename'"),
    "wrong value type": ("tables:\n  customers:\n    only: email\n", "3:11: `only` of table", "must be a list"),
    "unknown table": ("tables:\n  customer:\n    rename: c\n", "2:3: no table 'customer'", "'customers'"),
    "unknown source type": (
        "types:\n  - match: {source: tinyitn(1)}\n    target: smallint\n",
        "2:21: mysql has no type 'tinyitn'",
        "'tinyint'",
    ),
    "unknown target type": (
        'tables:\n  orders:\n    columns:\n      total: {type: "numerc(12,2)"}\n',
        "4:21: postgres has no type 'numerc(12,2)'",
        "'numeric(12,2)'",
    ),
    "conflicting renames": (
        "tables:\n  orders:\n    columns:\n      note: {rename: status}\n",
        "4:22: two columns would be named 'status'",
        "rename one of them",
    ),
    "two outputs for one target": (
        "tables:\n  orders:\n    rename: customers\n",
        "3:5: 'orders' and 'customers' would both write target table 'customers'",
        "rename one",
    ),
    "invalid expr": (
        "tables:\n  customers:\n    columns:\n      full: {expr: \"first_nme || ' '\"}\n",
        "4:20: invalid expression for column 'full'",
        "'first_name'",
    ),
    "invalid where": (
        'tables:\n  orders:\n    where: "tenant = 42"\n',
        "3:12: the source rejects the row filter of 'orders'",
        "'tenant_id'",
    ),
    "transform on the wrong type": (
        "tables:\n  orders:\n    columns:\n      total: {transform: trim}\n",
        "4:26: transform 'trim' applies to text columns",
        "expr",
    ),
    "impossible type change": (
        "tables:\n  orders:\n    columns:\n      placed_at: {type: integer}\n",
        "4:25: column 'placed_at': values of type timestamp[us] cannot become integer",
        "choose another type",
    ),
    "split and where side by side": (
        'tables:\n  orders:\n    where: "1=1"\n    split:\n      a: {}\n',
        "3:5: `where` cannot sit beside `split`",
        "split part its own",
    ),
    "merge source also in tables": (
        "tables:\n  customers_eu: {rename: x}\nmerge:\n  c:\n    from: [customers_eu, customers_us]\n",
        "2:3: table 'customers_eu' is merged into 'c'",
        "merge.c.from.customers_eu",
    ),
    "merge source left out by include": (
        "include: [customers_eu]\nmerge:\n  c:\n    from: [customers_eu, customers_us]\n",
        "3:3: merge into 'c' needs 'customers_us', which include/exclude leave out",
        "select every table it merges",
    ),
    "two types for one merged column": (
        "merge:\n  c:\n    from:\n      customers_eu: {columns: {name: {type: text}}}\n"
        "      customers_us: {columns: {name: {type: 'varchar(5)'}}}\n",
        "5:45: merged column 'name' is given two types: 'text' and 'varchar(5)'",
        "one type",
    ),
    "ignored column that does not exist": (
        "tables:\n  orders:\n    verify: {ignore_columns: [notes]}\n",
        "3:31: 'notes' is not a column of target table 'orders'",
        "'note'",
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_every_mistake_is_found_before_anything_changes(
    case: str, saas: None, mysql_url: str, pg_url: str, pg_conn: PG, tmp_path: Path, run_cli: Any
) -> None:
    body, where_what, hint = BAD[case]
    # the hook would create a table: it must not have run
    f = mapping(tmp_path, body + "before: [CREATE TABLE public.hook_ran (x int)]\n")
    result = run_cli("migrate", "-m", f, mysql_url, with_schema(pg_url, "app"))
    assert result.exit_code == 2, result.output
    line = next(x for x in result.output.splitlines() if f"{f}:{where_what}" in x)
    assert hint in line
    assert user_tables(pg_conn) == []
    assert rows(pg_conn, "SELECT count(*) FROM pg_namespace WHERE nspname = 'app'") == [(0,)]


# -- each key ----------------------------------------------------------------------------------
def test_type_rules_first_match_wins_and_column_type_beats_rules(
    saas: None, mysql_url: str, pg_url: str, pg_conn: PG, tmp_path: Path, run_cli: Any
) -> None:
    f = mapping(
        tmp_path,
        """\
        include: [customers, tenants]
        tables:
          customers:
            columns:
              first_name: {type: "varchar(80)"}
        types:
          - match: {source: "tinyint(1)"}
            target: smallint
          - match: {source: tinyint}
            target: integer
          - match: {source: varchar, column: "*name"}
            target: text
          - match: {source: "enum*"}
            target: "varchar(10)"
        """,
    )
    result = run_cli("migrate", "-m", f, mysql_url, pg_url)
    assert result.exit_code == 0, result.output
    types = column_types(pg_conn, "public", "customers")
    assert types["legacy_flag"] == "smallint"  # rule 1, not rule 2
    assert types["first_name"] == "character varying(80)"  # the column's own type
    assert types["last_name"] == "text"
    assert types["email"] == "character varying(255)"  # no rule: the default
    assert types["status"] == "character varying(10)"
    assert rows(pg_conn, "SELECT id, legacy_flag, status FROM customers WHERE id IN (1, 2) ORDER BY id") == [
        (1, 1, "active"),
        (2, 0, "paused"),
    ]
    assert run_cli("verify", "-m", f, mysql_url, pg_url).exit_code == 0


def test_include_exclude_from_the_file_and_command_line_flags_override_them(
    saas: None, mysql_url: str, pg_url: str, pg_conn: PG, tmp_path: Path, run_cli: Any
) -> None:
    f = mapping(tmp_path, 'include: ["customers*", tenants]\nexclude: [customers_us]\n')
    assert run_cli("migrate", "-m", f, mysql_url, pg_url).exit_code == 0
    assert user_tables(pg_conn) == ["public.customers", "public.customers_eu", "public.tenants"]
    other = with_schema(pg_url, "other")
    assert run_cli("migrate", "-m", f, mysql_url, other, "--tables", "orders").exit_code == 0
    assert [t for t in user_tables(pg_conn) if t.startswith("other.")] == ["other.orders"]


def test_source_and_target_come_from_the_file_with_env_vars(
    saas: None, mysql_url: str, pg_url: str, pg_conn: PG, tmp_path: Path, run_cli: Any
) -> None:
    f = mapping(
        tmp_path,
        """\
        source: ${SRC}
        target: ${DST}
        include: [tenants]
        options: {if_exists: replace, batch_size: 1}
        """,
    )
    env = {"SRC": mysql_url, "DST": pg_url}
    for _ in range(2):  # the second run replaces: the file's if_exists applies
        result = run_cli("migrate", "-m", f, env=env)
        assert result.exit_code == 0, result.output
    assert rows(pg_conn, "SELECT id FROM tenants ORDER BY id") == [(7,), (42,)]
    assert run_cli("verify", "-m", f, env=env).exit_code == 0
    # a flag on the command line wins over the file
    again = run_cli("migrate", "-m", f, "--if-exists", "fail", env=env)
    assert again.exit_code == 1 and "already has rows" in again.output
    missing = run_cli("migrate", "-m", f, env={"SRC": mysql_url})
    assert missing.exit_code == 2 and "environment variable DST is not set" in missing.output


def test_without_source_anywhere_the_command_says_where_to_give_it(tmp_path: Path, run_cli: Any) -> None:
    f = mapping(tmp_path, "include: [x]\n")
    result = run_cli("plan", "-m", f, env={"XFER_SOURCE": None, "XFER_TARGET": None})
    assert result.exit_code == 2
    assert "missing SOURCE" in result.output and "`source:` in a mapping file" in result.output


def test_hooks_run_in_order_on_target_and_source_and_are_logged(
    saas: None,
    mysql_url: str,
    pg_url: str,
    pg_conn: PG,
    mysql_conn: pymysql.connections.Connection,
    tmp_path: Path,
    run_cli: Any,
) -> None:
    f = mapping(
        tmp_path,
        """\
        include: [tenants]
        before:
          - CREATE TABLE public.audit (n serial, step text)
          - INSERT INTO public.audit (step) VALUES ('before')
        after:
          - "INSERT INTO public.audit (step) SELECT 'after: ' || count(*) FROM public.tenants"
          - {sql: "INSERT INTO migration_log (tenant_id, done_at) VALUES (0, NOW())", on: source}
        """,
    )
    result = run_cli("migrate", "-m", f, mysql_url, pg_url, "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert rows(pg_conn, "SELECT step FROM public.audit ORDER BY n") == [("before",), ("after: 2",)]
    with mysql_conn.cursor() as cur:
        cur.execute("SELECT tenant_id FROM migration_log")
        assert cur.fetchall() == ((0,),)
    assert f"xfer: before hook ({f}:3:5) on the target: CREATE TABLE public.audit" in result.output
    assert f"xfer: after hook ({f}:7:5) on the source: INSERT INTO migration_log" in result.output
    # each hook is noted once, when it ran (with its time), in the summary and the JSON notes
    notes = json.loads((tmp_path / "r.json").read_text())["notes"]
    for at in ("3:5", "4:5", "6:5", "7:5"):
        assert len([n for n in notes if f"hook ({f}:{at})" in n]) == 1, notes
        assert len([ln for ln in result.output.splitlines() if ln.startswith("note: ") and f"{f}:{at})" in ln]) == 1
    assert any(
        re.search(r"after hook \(.*:7:5\) on the source: INSERT INTO migration_log .* \(\d+\.\d+ s\)$", n)
        for n in notes
    )
    planned = run_cli("plan", "-m", f, mysql_url, pg_url).output
    assert [ln.split(" on the ")[0] for ln in planned.splitlines() if " hook (" in ln] == [
        f"note: {phase} hook ({f}:{at})"
        for phase, at in (("before", "3:5"), ("before", "4:5"), ("after", "6:5"), ("after", "7:5"))
    ]
    quiet = mapping(tmp_path, "include: [tenants]\nbefore: [SELECT 1]\n")
    result = run_cli("migrate", "-q", "-m", quiet, mysql_url, with_schema(pg_url, "q"))
    assert result.exit_code == 0 and result.output == ""  # --quiet: errors only


def test_a_failing_hook_names_itself_and_stops_the_run(
    saas: None, mysql_url: str, pg_url: str, pg_conn: PG, tmp_path: Path, run_cli: Any
) -> None:
    f = mapping(tmp_path, "include: [tenants]\nbefore:\n  - SELEC 1\n")
    result = run_cli("migrate", "-m", f, mysql_url, pg_url)
    assert result.exit_code == 1
    assert f"error: before hook at {f}:3:5 failed: PostgreSQL refused: SELEC 1" in result.output
    assert user_tables(pg_conn) == []


def test_verification_settings_leave_out_columns_round_floats_and_skip_tables(
    saas: None, mysql_url: str, pg_url: str, pg_conn: PG, tmp_path: Path, run_cli: Any
) -> None:
    f = mapping(
        tmp_path,
        """\
        include: [customers, orders, tenants]
        tables:
          customers:
            columns:
              score: {verify: {float_digits: 3}}
              phone: {verify: false}
          orders:
            verify: false
          tenants:
            verify: {ignore_columns: [name]}
        """,
    )
    assert run_cli("migrate", "-m", f, mysql_url, pg_url).exit_code == 0
    pg_conn.execute("UPDATE customers SET phone = 'changed', score = score * 1.0001")
    pg_conn.execute("UPDATE tenants SET name = 'renamed'")
    pg_conn.execute("DELETE FROM orders WHERE id = 100")
    same = run_cli("verify", "-m", f, mysql_url, pg_url)
    assert same.exit_code == 0, same.output
    assert "ok (not checked)" in next(x for x in same.output.splitlines() if x.startswith("orders"))
    pg_conn.execute("UPDATE customers SET score = score * 1.01")
    differs = run_cli("verify", "-m", f, mysql_url, pg_url)
    assert differs.exit_code == 3 and "customers" in differs.output


def test_merge_from_a_list_without_discriminator(
    saas: None, mysql_url: str, pg_url: str, pg_conn: PG, tmp_path: Path, run_cli: Any
) -> None:
    f = mapping(
        tmp_path,
        """\
        merge:
          everyone:
            from: [customers_eu, customers_us]
            primary_key: false
        include: ["customers_*"]
        """,
    )
    result = run_cli("migrate", "-m", f, mysql_url, pg_url)
    assert result.exit_code == 0, result.output
    assert user_tables(pg_conn) == ["public.everyone"]
    assert rows(pg_conn, "SELECT id, name, email, mail FROM everyone ORDER BY name") == [
        (2, "Dupont SA", None, None),
        (1, "Globex Corp", None, "sales@globex.com"),
        (3, "Initech", None, "it@initech.com"),
        (1, "Müller GmbH", "info@mueller.de", None),
    ]
    assert run_cli("verify", "-m", f, mysql_url, pg_url).exit_code == 0
    pg_conn.execute("DELETE FROM everyone WHERE name = 'Initech'")  # no key: a multiset difference
    report = tmp_path / "r.json"
    assert run_cli("verify", "-m", f, mysql_url, pg_url, "--report", report).exit_code == 3
    (t,) = json.loads(report.read_text())["tables"]
    v = t["verification"]
    assert (v["missing"], v["extra"], v["changed"]) == (1, 0, 0)
    assert [(x["kind"], x["row"]["name"], x["count"]) for x in v["samples"]] == [("missing", "Initech", 1)]


def test_plan_shows_renames_filters_and_computed_columns_and_changes_nothing(
    saas: None, mysql_url: str, pg_url: str, pg_conn: PG, run_cli: Any
) -> None:
    example = ROOT / "mappings" / "examples" / "tenant-extract.yaml"
    result = run_cli("plan", "-m", example, mysql_url, with_schema(pg_url, "tenant_42"))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "== customers -> clients" in out
    assert "email -> email_address  varchar(255) | trim | lower -> citext NOT NULL" in out
    assert "full_name               = first_name || ' ' || last_name -> text" in out
    assert "note: rows: WHERE tenant_id = 42" in out
    assert "legacy_flag" not in out
    assert user_tables(pg_conn) == []


def test_an_expression_that_fails_on_a_value_fails_its_table_loudly(
    saas: None, mysql_url: str, pg_url: str, tmp_path: Path, run_cli: Any
) -> None:
    f = mapping(
        tmp_path,
        """\
        include: [customers]
        tables:
          customers:
            columns:
              n: {expr: "CAST(first_name AS INTEGER)"}
        """,
    )
    result = run_cli("migrate", "-m", f, mysql_url, pg_url)
    assert result.exit_code == 1
    assert "customers: computing a column: Conversion Error" in result.output


def _readme_output(readme: str, command: str) -> str:
    """The output block the README shows right after the ```sh block holding `command`."""
    found = re.search(rf"```sh\n{re.escape(command)}\n```\n\n```\n(.*?)```\n", readme, re.S)
    assert found, f"README.md shows no output for {command!r}"
    return found[1]


def _comparable(text: str) -> list[str]:
    """Lines with timings and InnoDB's row estimates blanked and runs of spaces squeezed (the
    column widths follow the timings)."""
    text = re.sub(r"\d+\.\d\d", "#", re.sub(r"~\d+ rows", "~N rows", text))
    return [re.sub(r" +", " ", line).rstrip() for line in text.splitlines()]


README_COMMANDS = {
    "migrate": "TENANT_ID=42 xfer migrate -m mappings/examples/tenant-extract.yaml",
    "verify": "TENANT_ID=42 xfer verify -m mappings/examples/tenant-extract.yaml",
    "plan": "xfer plan -m mappings/examples/tenant-extract.yaml -t customers",
}


def test_readme_tenant_extract_examples_show_the_program_s_output(
    saas: None, mysql_url: str, pg_url: str, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's tenant-extract migrate, verify and plan examples, run on the same data from
    the repository's root (the file paths in the notes are relative), print what it shows."""
    readme = (ROOT / "README.md").read_text()
    monkeypatch.chdir(ROOT)
    target, env = with_schema(pg_url, "tenant_42"), {"TENANT_ID": "42"}
    example = "mappings/examples/tenant-extract.yaml"
    for command in ("plan", "migrate", "verify"):  # plan first: before the hook creates citext
        args = [command, "-m", example, mysql_url, target] + (["-t", "customers"] if command == "plan" else [])
        result = run_cli(*args, env=env)
        assert result.exit_code == 0, result.output
        shown = _readme_output(readme, README_COMMANDS[command])
        want = _comparable(shown)
        got = _comparable(result.output)
        if want[-1].strip() == "...":  # the README cuts a long output short
            want, got = want[:-1], got[: len(want) - 1]
        assert got == want, f"README.md's `xfer {command}` example differs from the program's output"

"""information_schema rows -> the neutral model, for both catalogue shapes: MariaDB's and
MySQL 8's (no display widths, bare literal defaults, DEFAULT_GENERATED, escaped expressions
with charset introducers, CHECK_CONSTRAINTS without TABLE_NAME, functional index parts). The
rows below are as those servers print them; no server is needed."""

from __future__ import annotations

import pyarrow as pa
import pytest

from xfer.copy.ddl import collations_sql
from xfer.core.options import Options
from xfer.core.schema import Table
from xfer.core.urls import parse
from xfer.dialects.mysql.catalog import checks_from_rows, column_from_row, indexes_from_rows
from xfer.dialects.mysql.dialect import MySQL
from xfer.dialects.mysql.types import parse_column, zero_dates
from xfer.dialects.postgres.dialect import Postgres
from xfer.planning.build import build_plan


def col(name: str, column_type: str, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "TABLE_NAME": "t",
        "COLUMN_NAME": name,
        "COLUMN_TYPE": column_type,
        "DATA_TYPE": column_type.split("(")[0].split()[0],
        "IS_NULLABLE": "YES",
        "COLUMN_DEFAULT": None,
        "EXTRA": "",
        "COLUMN_COMMENT": "",
        "GENERATION_EXPRESSION": "",
        "CHARACTER_SET_NAME": None,
        "COLLATION_NAME": None,
    }
    row.update(kw)
    return row


# MySQL 8.0.3x rows (information_schema.COLUMNS)
MYSQL8 = [
    col("id", "bigint unsigned", IS_NULLABLE="NO", EXTRA="auto_increment"),
    col("n", "int", COLUMN_DEFAULT="0"),
    col("flag", "tinyint(1)", COLUMN_DEFAULT="1"),
    col("price", "decimal(10,2)", COLUMN_DEFAULT="0.00"),
    col("name", "varchar(100)", COLUMN_DEFAULT="it's", CHARACTER_SET_NAME="utf8mb4",
        COLLATION_NAME="utf8mb4_0900_ai_ci"),
    col("empty", "varchar(10)", COLUMN_DEFAULT=""),
    col("b", "bit(1)", COLUMN_DEFAULT="b'1'"),
    col("doc", "json", DATA_TYPE="json"),
    col("yr", "year"),
    col("made", "datetime(3)", COLUMN_DEFAULT="CURRENT_TIMESTAMP(3)",
        EXTRA="DEFAULT_GENERATED on update CURRENT_TIMESTAMP(3)"),
    col("ts", "timestamp", COLUMN_DEFAULT="CURRENT_TIMESTAMP", EXTRA="DEFAULT_GENERATED"),
    col("code", "varchar(20)", COLUMN_DEFAULT="concat(_utf8mb4\\'a\\',_utf8mb4\\'b\\')", EXTRA="DEFAULT_GENERATED"),
    col("twice", "int", EXTRA="VIRTUAL GENERATED", GENERATION_EXPRESSION="(`n` * 2)"),
    col("label", "varchar(120)", EXTRA="STORED GENERATED",
        GENERATION_EXPRESSION="concat(`name`,_utf8mb4\\' \\',`n`)"),
    col("mood", "enum('a','b c','it''s')", COLUMN_DEFAULT="b c"),
    col("tags", "set('x','y')", COLUMN_DEFAULT="x,y"),
    col("place", "point"),
    col("legacy", "varchar(10)", CHARACTER_SET_NAME="latin1", COLLATION_NAME="latin1_swedish_ci"),
    col("zero", "datetime", COLUMN_DEFAULT="0000-00-00 00:00:00"),
    col("sku", "varchar(20)", CHARACTER_SET_NAME="utf8mb4", COLLATION_NAME="utf8mb4_0900_as_cs"),
    col("raw", "varchar(20)", CHARACTER_SET_NAME="utf8mb4", COLLATION_NAME="utf8mb4_0900_bin"),
]  # fmt: skip

# MariaDB 10.11 rows: every default printed as SQL, JSON is LONGTEXT + CHECK
MARIADB = [
    col("id", "int(11)", IS_NULLABLE="NO", EXTRA="auto_increment"),
    col("name", "varchar(100)", COLUMN_DEFAULT="'it''s \\\\ ok'"),
    col("nothing", "varchar(10)", COLUMN_DEFAULT="NULL"),
    col("b", "bit(1)", COLUMN_DEFAULT="b'0'"),
    col("made", "timestamp(6)", IS_NULLABLE="NO", COLUMN_DEFAULT="current_timestamp(6)",
        EXTRA="on update current_timestamp(6)"),
    col("doc", "longtext", CHARACTER_SET_NAME="utf8mb4"),
    col("twice", "int(11)", EXTRA="VIRTUAL GENERATED", GENERATION_EXPRESSION="`n` * 2", IS_GENERATED="ALWAYS"),
    col("n", "int(10) unsigned", COLUMN_DEFAULT="7"),
    col("r", "double", COLUMN_DEFAULT="rand()"),
]  # fmt: skip


def by_name(rows: list[dict[str, object]], mariadb: bool) -> dict[str, object]:
    return {r["COLUMN_NAME"]: column_from_row(r, mariadb) for r in rows}


def test_mysql8_columns() -> None:
    c = by_name(MYSQL8, mariadb=False)
    assert c["id"].arrow == pa.uint64() and c["id"].autoincrement and not c["id"].nullable
    assert c["n"].arrow == pa.int32() and (c["n"].default_kind, c["n"].default_value) == ("literal", "0")
    assert (c["name"].default, c["name"].default_value) == ("'it''s'", "it's")
    assert (c["empty"].default_kind, c["empty"].default_value) == ("literal", "")
    assert (c["b"].default_kind, c["b"].default_value) == ("literal", "1")
    assert c["doc"].native_type == "json" and c["doc"].meta["json"]
    assert c["yr"].arrow == pa.int16()
    assert c["made"].default_kind == "now" and c["made"].on_update == "now"
    assert c["ts"].default_kind == "now" and c["ts"].on_update is None
    assert (c["code"].default_kind, c["code"].default) == ("expression", "concat('a','b')")
    assert (c["twice"].generated, c["twice"].generated_stored) == ("(`n` * 2)", False)
    assert (c["label"].generated, c["label"].generated_stored) == ("concat(`name`,' ',`n`)", True)
    assert c["mood"].meta["enum"] == ["a", "b c", "it's"] and c["mood"].default_value == "b c"
    assert c["tags"].meta["set"] == ["x", "y"]
    assert c["place"].arrow == pa.binary() and c["place"].meta["geometry"] == "point"
    assert "cp1252" in c["legacy"].meta["policy"]
    assert (c["name"].meta["collation"], c["name"].meta["pad_space"]) == ("utf8mb4_0900_ai_ci", False)  # NO PAD
    assert (c["legacy"].meta["collation"], c["legacy"].meta["pad_space"]) == ("latin1_swedish_ci", True)


def test_mariadb_columns() -> None:
    c = by_name(MARIADB, mariadb=True)
    assert (c["name"].default_kind, c["name"].default_value) == ("literal", "it's \\ ok")
    assert c["nothing"].default_kind is None  # DEFAULT NULL is no default
    assert c["b"].default_value == "0"
    assert c["made"].default_kind == "now" and c["made"].on_update == "now" and c["made"].arrow.tz == "UTC"
    assert c["twice"].generated == "`n` * 2"
    assert c["n"].arrow == pa.uint32() and c["n"].default_value == "7"
    assert (c["r"].default_kind, c["r"].default) == ("expression", "rand()")


def test_checks_both_shapes() -> None:
    maria, json_cols, _ = checks_from_rows(
        [
            {"TABLE_NAME": "t", "CONSTRAINT_NAME": "doc", "CHECK_CLAUSE": "json_valid(`doc`)"},
            {"TABLE_NAME": "t", "CONSTRAINT_NAME": "CONSTRAINT_1", "CHECK_CLAUSE": "`n` > 0"},
        ],
        mariadb=True,
    )
    assert json_cols == {("t", "doc")} and [ck.expression for ck in maria["t"]] == ["`n` > 0"]
    mysql8, json_cols, notes = checks_from_rows(
        [
            {"TABLE_NAME": "t", "CONSTRAINT_NAME": "t_chk_1", "CHECK_CLAUSE": "(`n` > 0)", "ENFORCED": "YES"},
            {
                "TABLE_NAME": "t",
                "CONSTRAINT_NAME": "t_chk_2",
                "CHECK_CLAUSE": "(`name` in (_utf8mb4\\'a\\',_utf8mb4\\'b\\'))",
                "ENFORCED": "YES",
            },
            {"TABLE_NAME": "t", "CONSTRAINT_NAME": "t_chk_3", "CHECK_CLAUSE": "(`n` < 9)", "ENFORCED": "NO"},
        ],
        mariadb=False,
    )
    assert [ck.expression for ck in mysql8["t"]] == ["(`n` > 0)", "(`name` in ('a','b'))"]
    assert json_cols == set() and "t_chk_3" in notes[0] and "NOT ENFORCED" in notes[0]


def stat(index: str, seq: int, column: str | None, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "TABLE_NAME": "t",
        "INDEX_NAME": index,
        "NON_UNIQUE": 1,
        "SEQ_IN_INDEX": seq,
        "COLUMN_NAME": column,
        "SUB_PART": None,
        "INDEX_TYPE": "BTREE",
        "COLLATION": "A",
    }
    row.update(kw)
    return row


STATISTICS = [
    stat("PRIMARY", 1, "id", NON_UNIQUE=0),
    stat("ix_name", 1, "name", SUB_PART=10),
    stat("ix_multi", 2, "n", COLLATION="D"),
    stat("ix_multi", 1, "name"),
    stat("ix_lower", 1, None, EXPRESSION="lower(`name`)"),  # MySQL 8 functional key part
    stat("ft", 1, "name", INDEX_TYPE="FULLTEXT", COLLATION=None),
    stat("uq", 1, "code", NON_UNIQUE=0),
]


def test_indexes_from_statistics() -> None:
    ((pk, indexes),) = indexes_from_rows(STATISTICS).values()
    ix = {i.name: i for i in indexes}
    assert pk == ["id"]
    assert ix["ix_name"].lengths == [10]
    assert ix["ix_multi"].columns == ["name", "n"] and ix["ix_multi"].descending == [False, True]
    assert ix["ix_lower"].expressions == ["lower(`name`)"] and ix["ix_lower"].columns == [""]
    assert ix["ft"].kind == "fulltext" and ix["uq"].unique


def mysql8_table() -> Table:
    t = Table("Orders", [column_from_row(r, mariadb=False) for r in MYSQL8], primary_key=["id"])
    _, t.indexes = indexes_from_rows([{**r, "COLUMN_NAME": r["COLUMN_NAME"] if r["COLUMN_NAME"] != "code" else "n"}
                                      for r in STATISTICS])["t"]  # fmt: skip
    t.checks = checks_from_rows(
        [{"TABLE_NAME": "t", "CONSTRAINT_NAME": "t_chk_1", "CHECK_CLAUSE": "(`n` > 0)", "ENFORCED": "YES"}],
        mariadb=False,
    )[0]["t"]
    t.auto_increment = 42
    return t


def plan_ddl(table: Table, **options: str) -> tuple[list[str], object]:
    source = MySQL(parse("mysql://root@127.0.0.1/x", role="source"))
    target = Postgres(parse("postgresql://postgres@127.0.0.1/x", role="target"))
    plan = build_plan(source, target, [table], Options.build(**options))  # type: ignore[arg-type]
    (tp,) = plan.tables
    ddl = target.create_table_sql(tp.target) + target.checks_sql(tp.target) + target.post_data_sql(tp.target)
    return collations_sql(target, plan) + ddl, plan


def test_mysql8_shapes_become_postgres_ddl() -> None:
    ddl, plan = plan_ddl(mysql8_table())
    text = "\n".join(ddl)
    assert 'CREATE TABLE "public"."orders"' in text  # lower-cased, and the rename is recorded
    assert "table Orders -> orders (lower-cased)" in [str(r) for r in plan.renames]  # type: ignore[attr-defined]
    for piece in (
        '"id" numeric(20,0) DEFAULT nextval(',  # bigint unsigned: an owned sequence, not a 64-bit identity
        '"n" integer DEFAULT 0',
        '"flag" smallint DEFAULT 1',  # no data read here: no only_0_1 fact, so not boolean
        '"price" numeric(10,2) DEFAULT 0.00',
        '"name" varchar(100) COLLATE "public"."xfer_ci_ai" DEFAULT \'it\'\'s\'',  # utf8mb4_0900_ai_ci
        '"sku" varchar(20) COLLATE "public"."xfer_cs"',  # utf8mb4_0900_as_cs: exact, linguistic order
        '"raw" varchar(20) COLLATE "C"',  # utf8mb4_0900_bin: byte-wise
        '"legacy" varchar(10) COLLATE "public"."xfer_sv_ci_ai"',  # latin1_swedish_ci
        'CREATE COLLATION IF NOT EXISTS "public"."xfer_ci_ai" (provider = icu, locale = \'und-u-ks-level1\', '
        "deterministic = false)",
        "\"empty\" varchar(10) DEFAULT ''",
        '"b" boolean DEFAULT true',
        '"doc" jsonb',
        '"yr" smallint',
        '"made" timestamp(3) DEFAULT LOCALTIMESTAMP(3)',
        '"ts" timestamptz(0) DEFAULT CURRENT_TIMESTAMP(0)',
        "\"code\" varchar(20) DEFAULT 'a' || 'b'",
        '"twice" integer GENERATED ALWAYS AS ("n" * 2) STORED',
        '"label" varchar(120) GENERATED ALWAYS AS ("name" || \' \' || "n") STORED',
        "\"mood\" text DEFAULT 'b c'",
        "\"tags\" text[] DEFAULT ARRAY['x', 'y']::text[]",
        '"place" bytea',
        '"zero" timestamp(0)',  # the zero-date default is dropped (and noted)
        "CHECK (\"mood\" IN ('a', 'b c', 'it''s'))",
        'CHECK ("n" > 0)',
        'CREATE INDEX "ix_name" ON "public"."orders" ((left("name", 10)))',
        'CREATE INDEX "ix_multi" ON "public"."orders" ("name", "n" DESC)',
        'CREATE INDEX "ix_lower" ON "public"."orders" ((LOWER("name")))',
        "USING gin (to_tsvector('simple', coalesce(\"name\", '')))",
        'GREATEST(COALESCE(MAX("id"), 0) + 1, 42)',
        'CREATE TRIGGER "orders_on_update" BEFORE UPDATE',
    ):
        assert piece in text, piece
    assert '"zero" timestamp(0) DEFAULT' not in text


def test_mysql8_ddl_runs_on_postgres(pg_conn) -> None:
    ddl, _ = plan_ddl(mysql8_table())
    for sql in ddl:
        pg_conn.execute(sql)
    pg_conn.execute("INSERT INTO orders (n, name, sku, raw) VALUES (5, 'x', 'x', 'x')")
    row = pg_conn.execute("SELECT id, twice, label, code, tags, made IS NOT NULL FROM orders").fetchone()
    assert row == (42, 10, "x 5", "ab", ["x", "y"], True)
    # as on MySQL 8: _0900_ai_ci ignores case, _0900_as_cs and _0900_bin do not
    found = pg_conn.execute("SELECT name = 'X', sku = 'X', raw = 'X' FROM orders").fetchone()
    assert found == (True, False, False)


def test_identifiers_preserve_keeps_case() -> None:
    ddl, plan = plan_ddl(mysql8_table(), identifiers="preserve")
    assert 'CREATE TABLE "public"."Orders"' in "\n".join(ddl)
    assert plan.renames == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([b"2021-01-02", b"0000-00-00", b"2021-00-15", b"2021-02-31", None], [False, True, True, True, False]),
        ([b"2021-01-02 03:04:05.123456", b"0000-00-00 00:00:00", b"2021-02-00 10:00:00"], [False, True, True]),
    ],
)
def test_zero_and_impossible_dates_are_found_and_read_as_null(raw: list[bytes | None], expected: list[bool]) -> None:
    c = column_from_row(col("d", "datetime(6)" if len(raw[0] or b"") > 10 else "date"), mariadb=True)
    arr = pa.array(raw, pa.binary())
    assert zero_dates(c, arr).to_pylist() == expected  # type: ignore[union-attr]
    parsed = parse_column(c, arr).to_pylist()
    assert [v is None for v in parsed] == [e or r is None for e, r in zip(expected, raw, strict=True)]


def test_bits_parse_to_boolean_and_digit_strings() -> None:
    b1 = column_from_row(col("b", "bit(1)"), mariadb=True)
    b10 = column_from_row(col("b", "bit(10)"), mariadb=True)
    assert parse_column(b1, [b"\x01", b"\x00", None]).to_pylist() == [True, False, None]
    assert parse_column(b10, [b"\x02\x01", None]).to_pylist() == ["1000000001", None]

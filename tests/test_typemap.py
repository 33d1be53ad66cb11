"""The type rules are data: the shipped MySQL -> PostgreSQL file is what runs, and its
pattern grammar is small and exact."""

from __future__ import annotations

import pytest

from xfer.core.errors import UsageError
from xfer.core.typemap import MAPPINGS_DIR, TypeRule, default_map, load, parse_rules, parse_type

DEFAULTS = [
    ("tinyint(4)", "smallint"),
    ("tinyint(1)", "smallint"),  # without the only_0_1 fact from the data
    ("tinyint unsigned", "smallint"),
    ("smallint(5) unsigned", "integer"),
    ("mediumint(8) unsigned", "integer"),
    ("int(11)", "integer"),
    ("int", "integer"),  # MySQL 8: no display width
    ("int(10) unsigned", "bigint"),
    ("int unsigned", "bigint"),
    ("bigint(20)", "bigint"),
    ("bigint unsigned", "numeric(20,0)"),  # decided from unsigned, never from the width
    ("bigint(20) unsigned zerofill", "numeric(20,0)"),
    ("decimal(65,30)", "numeric(65,30)"),
    ("decimal(10,2) unsigned", "numeric(10,2)"),
    ("float", "real"),
    ("float(7,3)", "real"),
    ("double", "double precision"),
    ("bit(1)", "boolean"),
    ("bit(64)", "bit(64)"),
    ("date", "date"),
    ("datetime", "timestamp(0)"),
    ("datetime(6)", "timestamp(6)"),
    ("timestamp(3)", "timestamptz(3)"),
    ("time(6)", "interval"),
    ("year(4)", "smallint"),
    ("year", "smallint"),
    ("char(0)", "text"),
    ("char(36)", "char(36)"),
    ("varchar(255)", "varchar(255)"),
    ("longtext", "text"),
    ("enum('a','b,c','it''s')", "text"),
    ("set('x','y')", "text[]"),
    ("json", "jsonb"),
    ("longblob", "bytea"),
    ("varbinary(16)", "bytea"),
    ("geomcollection", "bytea"),
    ("point", "bytea"),
    ("uuid", "uuid"),
    ("inet6", "inet"),
    ("vector(3)", "text"),  # anything unknown: its text form
]


@pytest.mark.parametrize(("source", "target"), DEFAULTS, ids=[s for s, _ in DEFAULTS])
def test_default_rules(source: str, target: str) -> None:
    rules = default_map("mysql", "postgres")
    assert rules is not None
    assert rules.target_for(source) is not None
    assert rules.target_for(source)[0] == target  # type: ignore[index]


def test_data_fact_selects_boolean() -> None:
    rules = default_map("mysql", "postgres")
    assert rules is not None and rules.target_for("tinyint(1)", {"only_0_1"})[0] == "boolean"  # type: ignore[index]


def test_the_shipped_file_is_the_one_loaded() -> None:
    assert (MAPPINGS_DIR / "mysql-to-postgres.yaml").resolve().parent.name == "mappings"
    assert default_map("sqlite", "duckdb") is None


def test_patterns() -> None:
    assert parse_type("INT(10) UNSIGNED ZEROFILL").base == "int"
    assert parse_type("enum('a','b,c','it''s')").args == ("'a'", "'b,c'", "'it''s'")
    assert TypeRule("varchar(n)", "varchar(n)").apply("varchar(40)") == "varchar(40)"
    assert TypeRule("decimal(p,s)", "numeric(p,s)").apply("decimal(5)") is None
    assert TypeRule("int unsigned", "bigint").apply("int(11)") is None
    assert TypeRule("char(*)", "text").apply("char(3)") == "text"
    assert TypeRule("*", "text").apply("anything at all") == "text"


def test_bad_rules_are_usage_errors(tmp_path) -> None:
    with pytest.raises(UsageError, match="type rule 2 must look like"):
        parse_rules([{"match": {"source": "int"}, "target": "bigint"}, {"match": "int", "target": "x"}], "f.yaml")
    with pytest.raises(UsageError, match="unknown key"):
        parse_rules([{"match": {"source": "int", "sorce": 1}, "target": "bigint"}], "f.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("types: [\n")
    with pytest.raises(UsageError, match="cannot read type rules"):
        load(bad)

"""Mapping files on their own (no server): YAML, the JSON Schema, messages with file:line:col,
${ENV} expansion, type-rule matching, transforms and the verification rounding."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from xfer.core.options import Options
from xfer.mapping import MappingError, load_mapping, parse_mapping, schema
from xfer.mapping.model import TypeRule
from xfer.mapping.options import with_file_options
from xfer.mapping.typerules import first_match, type_matches
from xfer.planning.expr import TRANSFORMS, Evaluator, ExprError, apply, referenced
from xfer.planning.read import Check

ROOT = Path(__file__).resolve().parent.parent


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(MappingError) as info:
        parse_mapping(text, "m.yaml", env or {})
    return str(info.value).splitlines()


def test_a_complete_file_loads_into_the_model() -> None:
    m = parse_mapping(
        """
source: mysql://root@127.0.0.1:3306/shop
target: postgresql://postgres@127.0.0.1:5432/shop?schema=app
options: {zero_dates: "null", enum: text, identifiers: lower}
include: ["*"]
exclude: tmp_*
tables:
  customers:
    rename: clients
    where: "tenant_id = 42"
    columns:
      email: {rename: email_address}
      legacy_flag: {exclude: true}
      status: {type: text}
      phone: {transform: trim}
      full_name: {expr: "first_name || ' ' || last_name", type: text}
  orders:
    split:
      open_orders: {where: "status = 'open'", only: [id, total]}
      old_orders:
merge:
  people:
    from: [a, b]
    discriminator: kind
types:
  - match: {source: "tinyint(1)"}
    target: smallint
before: ["SELECT 1"]
after:
  - {sql: "SELECT 2", on: source}
""",
        "m.yaml",
        {},
    )
    assert m.source == "mysql://root@127.0.0.1:3306/shop"
    assert m.exclude == ["tmp_*"]
    out = m.tables["customers"].outputs[0]
    assert out.target == "clients" and out.where == "tenant_id = 42"
    assert out.columns["email"].rename == "email_address"
    assert out.columns["legacy_flag"].exclude
    assert out.columns["phone"].transforms == ["trim"]
    assert out.columns["full_name"].expr == "first_name || ' ' || last_name"
    assert [o.target for o in m.tables["orders"].outputs] == ["open_orders", "old_orders"]
    assert m.merges["people"].discriminator is not None
    assert m.merges["people"].discriminator.values == {"a": "a", "b": "b"}
    assert m.types[0].source == "tinyint(1)" and m.types[0].target == "smallint"
    assert [(h.sql, h.on) for h in m.before + m.after] == [("SELECT 1", "target"), ("SELECT 2", "source")]
    assert m.where(("tables", "customers", "where")) == "m.yaml:10:12"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("tables:\n  t:\n    renmae: x\n", "m.yaml:3:5: unknown key 'renmae' in table 't'; did you mean 'rename'?"),
        ("tables:\n  t:\n    where: 5\n", "m.yaml:3:12: `where` of table 't' must be text, not a number"),
        (
            "tables:\n  t:\n    columns:\n      c: {transform: trm}\n",
            "m.yaml:4:22: 'trm' is not a valid `transform` of column 'c' of table 't'; did you mean 'trim'",
        ),
        (
            "tables:\n  t:\n    columns:\n      c: {transform: [trim, lowr]}\n",
            "m.yaml:4:29: 'lowr' is not a valid `transform[1]` of column 'c' of table 't'; did you mean 'lower'?",
        ),
        ("options:\n  enum: txt\n", "m.yaml:2:9: 'txt' is not a valid `options.enum`; did you mean 'text'?"),
        ("options:\n  batch_size: 0\n", "m.yaml:2:15: `options.batch_size` must be at least 1"),
        ("types:\n  - match: {source: int}\n", "m.yaml:2:5: type rule 1 needs `target:`"),
        (
            "before:\n  - {sql: x, on: sorce}\n",
            "m.yaml:2:18: 'sorce' is not a valid `on` of before hook 1; did you mean 'source'?",
        ),
        (
            "merge:\n  m:\n    from: [a]\n    discriminator: 5\n",
            "m.yaml:4:20: `discriminator` of merge into 'm' must be a column name, or {column: NAME, values:",
        ),
        ("tables:\n  t:\n    verify: yes please\n", "m.yaml:3:13: `verify` of table 't' must be false (skip"),
        ("tables: [a, b]\n", "m.yaml:1:9: `tables` must be a mapping (key: value lines), not a list"),
        ("include: 5\n", "m.yaml:1:10: `include` must be a glob or a list of globs"),
        ("tables:\n  t:\n    rename: a\n    rename: b\n", "m.yaml:4:5: key 'rename' appears twice (first at line 3)"),
        (
            "tables:\n  t:\n    columns:\n      c: {type: numeric(12,2)}\n",
            "m.yaml:4:28: unknown key '2)' in column 'c' of table 't'; inside { } a comma separates entries: quote",
        ),
        (
            "tables:\n  t:\n    where: a = 'x: y'\n",
            "m.yaml:3:18: not valid YAML: mapping values are not allowed here; a value holding ': ' must be quoted",
        ),
        ("tables:\n  t: {where: [}\n", "m.yaml:2:15: not valid YAML: expected the node content"),
        ("", "m.yaml: the file is empty"),
        (
            "tables:\n  t:\n    columns:\n      c: {exclude: true, rename: d}\n",
            "m.yaml:4:26: `rename` has no effect on a column that is excluded",
        ),
        (
            "tables:\n  t:\n    columns:\n      c: {expr: '1', rename: d}\n",
            "m.yaml:4:22: a computed column (expr) is named by its key",
        ),
        (
            "tables:\n  t:\n    where: x\n    split:\n      a: {}\n",
            "m.yaml:3:5: `where` cannot sit beside `split` in table 't'; give each split part its own `where:`",
        ),
        (
            "merge:\n  m:\n    from: [a, b]\n    discriminator: {column: k, values: {c: x}}\n",
            "m.yaml:4:41: 'c' is not one of the tables merged into 'm'",
        ),
    ],
)
def test_each_mistake_is_named_with_file_line_column_and_what_to_write(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    found = problems("tables:\n  t:\n    renmae: x\n    where: 5\noptions:\n  enum: txt\n")
    assert [re.match(r"m\.yaml:(\d+):", p)[1] for p in found] == ["3", "4", "6"]  # type: ignore[index]


def test_env_vars_are_expanded_anywhere_with_defaults_and_escapes() -> None:
    m = parse_mapping(
        "source: mysql://${DB_USER}@h/${DB:-shop}\n"
        "options:\n  batch_size: ${ROWS}\n"
        "tables:\n  ${TABLE}:\n    where: \"note = '$${literal}'\"\n",
        "m.yaml",
        {"DB_USER": "app", "ROWS": "1000", "TABLE": "orders"},
    )
    assert m.source == "mysql://app@h/shop"
    assert m.options["batch_size"] == 1000  # a plain scalar is typed after expansion
    assert m.tables["orders"].outputs[0].where == "note = '${literal}'"


def test_an_unset_env_var_is_an_error_at_its_place() -> None:
    assert problems("target: postgresql://h/${NOPE}\n") == [
        "m.yaml:1:9: environment variable NOPE is not set; set it, or give a default: ${NOPE:-value}"
    ]


def test_yaml_1_1_booleans_never_turn_keys_into_true() -> None:
    m = parse_mapping("after:\n  - sql: SELECT 1\n    on: source\n", "m.yaml", {})
    assert m.after[0].on == "source"


def test_unquoted_null_means_the_null_policy() -> None:
    assert parse_mapping("options:\n  zero_dates: null\n", "m.yaml", {}).options["zero_dates"] == "null"


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(MappingError.__mro__[1]) as info:
        load_mapping(tmp_path / "nope.yaml")
    assert "does not exist" in str(info.value) and info.value.exit_code == 2


def test_file_options_fill_what_the_command_line_did_not_say() -> None:
    m = parse_mapping(
        "options: {if_exists: replace, batch_size: 10, verify: false, enum: native, zero_dates: error}\n", "m.yaml", {}
    )
    opts = with_file_options(m, Options(), given=set())
    assert (
        opts.copy.if_exists,
        opts.copy.batch_size,
        opts.verify.enabled,
        opts.policies.enum,
        opts.policies.zero_dates,
    ) == (
        "replace",
        10,
        False,
        "native",
        "error",
    )
    assert opts.mapping is m
    cli = with_file_options(m, Options.build(if_exists="append", batch_size=7), given={"if_exists", "batch_size"})
    assert (cli.copy.if_exists, cli.copy.batch_size) == ("append", 7)


# -- the schema is the one the loader uses, and the README documents it ------------------------
def test_schema_ships_in_the_package_and_is_valid() -> None:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema())
    printed = subprocess.run([sys.executable, "-m", "xfer.mapping"], capture_output=True, text=True, check=True)
    assert json.loads(printed.stdout) == schema()


def test_transform_list_agrees_in_code_schema_and_readme() -> None:
    assert schema()["$defs"]["transform"]["enum"] == list(TRANSFORMS)
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Built-in transforms", 1)[1].split("\n### ", 1)[0]
    assert re.findall(r"^\| `(\w+)` \|", section, re.M) == list(TRANSFORMS)


def test_every_example_in_mappings_loads() -> None:
    files = sorted((ROOT / "mappings" / "examples").glob("*.yaml"))
    assert len(files) >= 2
    for f in files:
        load_mapping(f, env={})


# -- type rules ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "pattern, native, hit",
    [
        ("tinyint(1)", "tinyint(1)", True),
        ("tinyint(1)", "tinyint(4)", False),
        ("varchar", "varchar(255)", True),
        ("int unsigned", "int(10) unsigned", True),
        ("int", "int(10) unsigned", False),
        ("int", "int(11)", True),
        ("decimal(*,2)", "decimal(10,2)", True),
        ("DECIMAL(10, 2)", "decimal(10,2)", True),
        ("enum*", "enum('a','b')", True),
    ],
)
def test_source_type_patterns(pattern: str, native: str, hit: bool) -> None:
    assert type_matches(pattern, native) is hit


def test_first_matching_rule_wins_and_every_key_must_match() -> None:
    rules = [
        TypeRule("text", (), source="varchar", column="*_code"),
        TypeRule("varchar(500)", (), source="varchar", table="big*"),
        TypeRule("citext", (), source="varchar"),
    ]
    assert first_match(rules, "t", "zip_code", "varchar(10)") is rules[0]
    assert first_match(rules, "bigtable", "name", "varchar(10)") is rules[1]
    assert first_match(rules, "t", "name", "varchar(10)") is rules[2]
    assert first_match(rules, "t", "name", "int(11)") is None


# -- transforms, expressions, rounding ---------------------------------------------------------
def test_transforms() -> None:
    a = pa.array(["  Ada  Lovelace ", "", "   ", None, "a\x00b"])
    assert apply(["trim", "lower"], a).to_pylist() == ["ada  lovelace", "", "", None, "a\x00b"]
    assert apply(["null_if_empty"], a).to_pylist() == ["  Ada  Lovelace ", None, "   ", None, "a\x00b"]
    assert apply(["null_if_blank"], a).to_pylist() == ["  Ada  Lovelace ", None, None, None, "a\x00b"]
    assert apply(["collapse_spaces", "trim", "upper"], a).to_pylist()[0] == "ADA LOVELACE"
    assert apply(["empty_if_null", "strip_nul"], a).to_pylist()[3:] == ["", "ab"]
    assert apply(["null_if_zero"], pa.array([0, 1, None])).to_pylist() == [None, 1, None]


def test_expressions_see_the_columns_they_name_and_keep_row_order() -> None:
    batch = pa.record_batch({"first": ["a", "b", None], "last": ["x", "y", "z"], "n": [3, 1, 2]})
    assert referenced('first || "last" || n2', batch.schema.names) == ["first", "last"]
    ev = Evaluator(["first || ' ' || last", "n * 10"], batch.schema)
    try:
        assert ev.result_types() == [pa.string(), pa.int64()]
        assert [a.to_pylist() for a in ev.run(batch)] == [["a x", "b y", None], [30, 10, 20]]
    finally:
        ev.close()


def test_an_aggregate_is_not_a_column() -> None:
    ev = Evaluator(["count(*)"], pa.schema([]))
    with pytest.raises(ExprError, match="one value per row"):
        ev.result_types()


def test_verification_rounds_floats_and_leaves_out_columns() -> None:
    check = Check(ignored={"b"}, float_digits={"f": 6})
    schema_ = pa.schema([("a", pa.int32()), ("b", pa.string()), ("f", pa.float64())])
    batch = pa.record_batch([pa.array([1], pa.int32()), ["x"], [3.14159265]], schema=schema_)
    out = check.apply(batch)
    assert out.schema == check.schema(schema_)
    assert out.to_pylist() == [{"a": 1, "f": "3.14159"}]

"""The canonical encoding: the same value gives the same text on MariaDB (in SQL), PostgreSQL
(in SQL) and client side (DuckDB over Arrow, from either engine), column by column; and the
encoding itself cannot make different rows collide."""

from __future__ import annotations

import math
from contextlib import ExitStack
from decimal import Decimal
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import verify_data

from xfer.core.canonical import Canon, canon_for, canonical_json, duck_encoded
from xfer.core.checksum import (
    ROWS_PER_BUCKET,
    BucketMap,
    Checksum,
    KeySpec,
    MapHasher,
    bucket_sql,
    comparable,
    range_width,
)
from xfer.core.options import Options
from xfer.core.schema import Column, Table
from xfer.dialects.connect import open_source, open_target
from xfer.planning.make import make_plan
from xfer.verification.comparison import Comparison, plan_comparison
from xfer.verification.pushdown import NotPushable, encoded_columns, merge_ranges
from xfer.verification.run import _readable


def _client_texts(d: Any, table: Table, cmp: Comparison, bulk: bool = False) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    con = duckdb.connect()
    exprs = ", ".join(duck_encoded(f"c{i}", c) for i, c in enumerate(cmp.canons))
    for batch in (d.verify_batches if bulk else d.read_batches)(table, 1_000):
        arrays = comparable(batch, cmp.schema, cmp.canons, table.name)
        con.register("b", pa.RecordBatch.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))]))
        for row in con.execute(f"SELECT c0, {exprs} FROM b").fetchall():
            out[int(row[0])] = list(row[1:])
        con.unregister("b")
    return out


def _server_texts(d: Any, table: Table, cmp: Comparison) -> dict[int, dict[int, str]]:
    """id -> {column position: encoded text} for every column the engine can render."""
    out: dict[int, dict[int, str]] = {}
    for i in range(len(cmp.canons)):
        try:
            (expr,) = encoded_columns(d, table, cmp.canons, [i])
        except NotPushable:
            continue
        rows = d.verify_query(f"SELECT {d.quote(table.columns[0].name)}, {expr} FROM {d.qualified(table.name)}")
        for rid, text in rows:
            out.setdefault(int(rid), {})[i] = text.decode() if isinstance(text, bytes) else text
    return out


def test_every_engine_renders_every_type_alike(mysql_url: str, mysql_conn: Any, pg_url: str, run_cli: Any) -> None:
    verify_data.build(mysql_conn)
    assert run_cli("migrate", mysql_url, pg_url, "-q", "-t", "rich").exit_code == 0
    with ExitStack() as stack:
        source, target = open_source(mysql_url, stack), open_target(pg_url, stack)
        (tp,) = make_plan(source, target, Options.build(tables=("rich",))).tables
        cmp = plan_comparison(source, tp)
        (actual,) = target.introspect(["rich"])
        reading = _readable(actual, tp.target)
        client_src = _client_texts(source, tp.source, cmp)
        client_tgt = _client_texts(target, reading, cmp)
        client_tgt_copy = _client_texts(target, reading, cmp, bulk=True)  # PostgreSQL: through COPY
        sql_src = _server_texts(source, tp.source, cmp)
        sql_tgt = _server_texts(target, reading, cmp)
    names = [c.name for c in tp.source.columns]
    assert len(client_src) == 3006 and client_src == client_tgt == client_tgt_copy
    rendered_src = {names[i] for i in sql_src[1]}
    rendered_tgt = {names[i] for i in sql_tgt[1]}
    # MySQL: no exact float text; JSON and SET (-> text[]) client side
    assert rendered_src == set(names) - {"f", "g", "js", "st"}
    assert rendered_tgt == set(names) - {"js", "st"}
    mismatches = [
        (rid, names[i], side, text, client_src[rid][i])
        for side, texts in (("mysql", sql_src), ("postgres", sql_tgt))
        for rid, cols in texts.items()
        for i, text in cols.items()
        if text != client_src[rid][i]
    ]
    assert mismatches == []
    assert client_src[3][names.index("dd")] == "N"  # the zero date, NULL by the declared policy
    assert client_src[4] == ["1:4"] + ["N"] * 30


# -- no database below --------------------------------------------------------------------------
def _map(rows: list[tuple[Any, ...]], types: list[pa.DataType], canons: list[Canon]) -> BucketMap:
    schema = pa.schema([pa.field(f"c{i}", t) for i, t in enumerate(types)])
    hasher = MapHasher(schema, canons, KeySpec("rows", buckets=1))
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in types]
    hasher.update(pa.RecordBatch.from_arrays([pa.array(c, t) for c, t in zip(cols, types, strict=True)], schema=schema))
    hasher.close()
    return hasher.map


TEXT2 = [Canon("a", "text"), Canon("b", "text")]


@pytest.mark.parametrize(
    "one, other",
    [
        ((None, "a"), ("N", "a")),  # the NULL marker is not a value
        (("ab", "c"), ("a", "bc")),  # no separator to shift
        (("1:a", None), ("1", ":a")),
        (("", None), (None, "")),
        (("a ", "b"), ("a", "b")),  # trailing spaces count
    ],
)
def test_different_rows_never_hash_alike(one: tuple[Any, ...], other: tuple[Any, ...]) -> None:
    types = [pa.string(), pa.string()]
    assert _map([one], types, TEXT2).total != _map([other], types, TEXT2).total


def test_duplicates_count_and_order_does_not() -> None:
    types = [pa.string(), pa.string()]
    rows = [("a", "b"), ("c", None)]
    assert _map(rows, types, TEXT2).total == _map(rows[::-1], types, TEXT2).total
    assert _map(rows + rows[:1], types, TEXT2).total.rows == 3
    assert _map(rows + rows, types, TEXT2).total != _map(rows, types, TEXT2).total  # SUM, not XOR


def test_floats_exact_by_default_or_by_significant_digits() -> None:
    exact, digits = Canon("f", "float"), Canon("f", "float", digits=10)
    t = [pa.float64()]
    up = math.nextafter(0.1, 1)
    assert _map([(0.1,)], t, [exact]).total != _map([(up,)], t, [exact]).total
    assert _map([(0.1,)], t, [digits]).total == _map([(up,)], t, [digits]).total
    assert _map([(0.0,)], t, [exact]).total != _map([(-0.0,)], t, [exact]).total
    assert _map([(math.nan,)], t, [exact]).total == _map([(-math.nan,)], t, [exact]).total
    assert _map([(5e-324,)], t, [exact]).total != _map([(None,)], t, [exact]).total
    f32 = Canon("f", "float", bits=32)
    nxt = float(np.nextafter(np.float32(0.1), np.float32(1)))
    assert _map([(0.1,)], [pa.float32()], [f32]).total != _map([(nxt,)], [pa.float32()], [f32]).total


def test_wide_decimals_are_plain_text() -> None:
    canon = Canon("d", "decimal", scale=30, wide=True)
    t = pa.decimal256(65, 30)
    small, zero = Decimal("0.000000000000000000000000000001"), Decimal(0)
    assert _map([(small,)], [t], [canon]).total != _map([(zero,)], [t], [canon]).total
    from xfer.core.canonical import prepare

    assert prepare(pa.array([small, zero, None], t), canon).to_pylist() == [
        "0.000000000000000000000000000001",
        "0." + "0" * 30,
        None,
    ]


@pytest.mark.parametrize(
    "a, b",
    [
        ('{"b": 1, "a": 2}', '{"a":2,"b":1}'),
        ('{"k": 1.0}', '{"k": 1}'),
        ('{"k": 1e2}', '{"k": 100}'),
        ('{"s": "\\u00e9"}', '{"s": "é"}'),
        ('[1, {"y": null, "x": [true]}]', '[1,{"x":[true],"y":null}]'),
        ('{"n": 123456789012345678901234567890}', '{"n":123456789012345678901234567890.0}'),
    ],
)
def test_json_equal_documents_compare_equal(a: str, b: str) -> None:
    assert canonical_json(a) == canonical_json(b)


@pytest.mark.parametrize(
    "a, b",
    [
        ('{"k": "1"}', '{"k": 1}'),
        ("[1, 2]", "[2, 1]"),
        ('{"n": 0.1}', '{"n": 0.10000000000000001}'),  # exact numbers, not floats
        ('{"$n": "5"}', "5"),
    ],
)
def test_json_different_documents_differ(a: str, b: str) -> None:
    assert canonical_json(a) != canonical_json(b)


def test_integer_key_buckets_floor_negative_keys() -> None:
    keys = [-(2**63), -1001, -1000, -999, -1, 0, 999, 1000, 2**63 - 1]
    spec = KeySpec("range", (0,), width=1000)
    con = duckdb.connect()
    con.register("t", pa.table({"c0": pa.array(keys, pa.int64())}))
    got = [r[0] for r in con.execute(f"SELECT {bucket_sql([Canon('id', 'int')], spec)} FROM t").fetchall()]
    assert got == [k // 1000 for k in keys]  # Python's // floors


def test_bucket_width_and_ranges() -> None:
    per = ROWS_PER_BUCKET
    assert range_width(1, 2_000_000, 2_000_000) == per
    assert range_width(1, 2**62, 1_000_000) == math.ceil(2**62 / math.ceil(1_000_000 / per))  # sparse keys
    assert range_width(None, None, 0) == per
    assert merge_ranges([7, 1, 2, 3, 9, 8]) == [(1, 3), (7, 9)]


def test_maps_add_up_and_name_mismatched_buckets() -> None:
    a, b = BucketMap(KeySpec("range")), BucketMap(KeySpec("range"))
    a.add(1, Checksum(1, 2, 3))
    a.add(1, Checksum(1, 1, 1))
    b.add(1, Checksum(2, 3, 4))
    b.add(5, Checksum(1, 1, 1))
    assert a.total == Checksum(2, 3, 4) and a.mismatched(b) == [5]


def test_policies_say_what_is_compared() -> None:
    def rule(src: str, arrow: pa.DataType, engine: str = "mysql", **meta: Any) -> str:
        return canon_for(Column("c", src, arrow, meta=meta), Column("c", "x", arrow, meta=meta), None, engine).policy

    assert rule("datetime(6)", pa.timestamp("us")) == "datetime(6): no time zone, microseconds; zero dates = NULL"
    assert rule("timestamp", pa.timestamp("us", tz="UTC"), "postgres").startswith("timestamp: compared in UTC")
    assert rule("double", pa.float64()) == "double: float64, exact (IEEE bits)"
    assert rule("json", pa.string(), json=True).startswith("JSON: canonical")
    assert rule("char(3)", pa.string(), char=True) == "char(3): text, CHAR padding ignored, otherwise exact"

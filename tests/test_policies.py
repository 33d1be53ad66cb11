"""Value policies on Arrow batches, without a server."""

from __future__ import annotations

import pyarrow as pa

from xfer.core.policies import Flag, ValuePolicies


def batch() -> pa.RecordBatch:
    return pa.record_batch(
        {
            "id": pa.array([1, 2, 3]),
            "txt": pa.array(["ok", "a\x00b", None]),
            "tags": pa.array([["x"], ["y\x00", "z"], []], pa.list_(pa.string())),
        }
    )


def test_nul_bytes_rejected_by_default_with_key_and_value() -> None:
    p = ValuePolicies("t", ["id"])
    out = p.apply_nul_bytes(batch(), ["txt", "tags"])
    assert out.column("id").to_pylist() == [1, 3]
    assert [(r["key"], r["column"]) for r in p.rejects] == [({"id": 2}, "txt"), ({"id": 2}, "tags")]


def test_nul_bytes_strip_in_text_and_set_members() -> None:
    p = ValuePolicies("t", ["id"], nul_bytes="strip")
    out = p.apply_nul_bytes(batch().slice(1), ["txt", "tags"])
    assert out.column("txt").to_pylist() == ["ab", None]
    assert out.column("tags").to_pylist() == [["y", "z"], []]
    assert p.counts == {"txt": {"NUL bytes stripped": 1}, "tags": {"NUL bytes stripped": 1}}


def test_zero_date_flags() -> None:
    b = pa.record_batch({"id": pa.array([1, 2]), "d": pa.array([None, None], pa.date32())})
    flag = Flag("d", pa.array([False, True]), pa.array(["2020-01-01", "0000-00-00"]), "zero date")
    counted = ValuePolicies("t", ["id"])
    assert counted.apply_flags(b, [flag]).num_rows == 2 and counted.counts == {"d": {"zero date -> NULL": 1}}
    strict = ValuePolicies("t", ["id"], zero_dates="error")
    assert strict.apply_flags(b, [flag]).column("id").to_pylist() == [1]
    assert strict.rejects == [
        {
            "table": "t",
            "key": {"id": 2},
            "column": "d",
            "value": "0000-00-00",
            "reason": "zero date (--zero-dates error)",
        }
    ]

"""Order-independent table checksums over Arrow batches, computed in DuckDB.

Each row is encoded canonically -- every column as `N` (NULL) or `V<length>:<text>`, so no
separator or NULL marker can make two different rows look alike -- then hashed with MD5;
the two 64-bit halves are summed (exactly, in Python ints) with the row count. SUM, unlike
XOR, does not cancel duplicate rows, and sums of buckets add up to the table's sum.

Both sides of a comparison are first cast to the same Arrow schema (the target's types), so
the canonical text of equal values is equal whatever engine they came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa


@dataclass(frozen=True)
class Checksum:
    rows: int = 0
    h1: int = 0
    h2: int = 0

    def __add__(self, other: Checksum) -> Checksum:
        return Checksum(self.rows + other.rows, self.h1 + other.h1, self.h2 + other.h2)

    @property
    def hex(self) -> str:
        """A short printable digest of the whole table (for reports)."""
        return f"{self.h1 % 2**64:016x}{self.h2 % 2**64:016x}"


class Hasher:
    """Feed batches of one schema with `update`; read `checksum` at the end."""

    def __init__(self, schema: pa.Schema, json_columns: set[str] | None = None) -> None:
        import duckdb

        self.schema = schema
        self.json_columns = json_columns or set()
        self.checksum = Checksum()
        self._con = duckdb.connect()
        self._con.execute("SET TimeZone = 'UTC'")
        parts = [_canonical(f"c{i}", f.type) for i, f in enumerate(schema)]
        row = " || ".join(parts) if parts else "''"
        self._sql = (
            f"SELECT count(*), coalesce(sum(md5_number_upper(r)), 0)::VARCHAR, "
            f"coalesce(sum(md5_number_lower(r)), 0)::VARCHAR FROM (SELECT {row} AS r FROM xfer_hash)"
        )

    def update(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        arrays = [self._prepare(a, f) for a, f in zip(batch.columns, self.schema, strict=True)]
        prepared = pa.RecordBatch.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])
        self._con.register("xfer_hash", prepared)
        try:
            ((n, h1, h2),) = self._con.execute(self._sql).fetchall()
        finally:
            self._con.unregister("xfer_hash")
        self.checksum = self.checksum + Checksum(int(n), int(h1), int(h2))

    def _prepare(self, arr: pa.Array, field: pa.Field) -> pa.Array:
        if field.name in self.json_columns:
            return pa.array([None if v is None else canonical_json(v) for v in arr.to_pylist()], pa.string())
        if pa.types.is_decimal256(arr.type):  # DuckDB's decimals stop at 38 digits
            return arr.cast(pa.string())
        return arr

    def close(self) -> None:
        self._con.close()


def _canonical(col: str, t: pa.DataType) -> str:
    text = f"hex({col})" if pa.types.is_binary(t) or pa.types.is_large_binary(t) else f"CAST({col} AS VARCHAR)"
    return f"(CASE WHEN {col} IS NULL THEN 'N' ELSE 'V' || length({text})::VARCHAR || ':' || {text} END)"


def canonical_json(text: str) -> str:
    """JSON with sorted keys, no insignificant spaces, numbers by value (1.0 == 1), so that
    the text as MariaDB stores it and PostgreSQL's jsonb rendering compare equal."""
    try:
        value = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except ValueError:
        return "invalid:" + text
    return json.dumps(_numbers(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _numbers(v: Any) -> Any:
    if isinstance(v, Decimal):
        n = v.normalize() if v else Decimal(0)  # -0 is 0 (jsonb has no negative zero)
        return {"$n": format(n, "f") if n == n.to_integral_value() or abs(n.adjusted()) < 30 else str(n)}
    if isinstance(v, dict):
        return {k: _numbers(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_numbers(x) for x in v]
    return v

"""Batch transformers: turn a source batch (neutral types) into the target's column types.

Everything here is vectorised Arrow compute; a value that does not fit (an overflow, a
precision loss) raises CopyError naming the table and column instead of being changed.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from xfer.core.errors import CopyError


def conform(batch: pa.RecordBatch, schema: pa.Schema, table: str) -> pa.RecordBatch:
    """Cast every column of `batch` to `schema` (same column order), safely."""
    arrays = []
    for arr, field in zip(batch.columns, schema, strict=True):
        if arr.type == field.type:
            arrays.append(arr)
            continue
        if pa.types.is_string(arr.type) and pa.types.is_list(field.type):
            arrays.append(split_members(arr).cast(field.type))
            continue
        try:
            arrays.append(arr.cast(field.type, safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise CopyError(
                f"{table}.{field.name}: cannot convert {arr.type} to {field.type}: {exc}",
                hint="change the column's target type (a type rule in a mapping file)",
            ) from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def split_members(arr: pa.Array) -> pa.Array:
    """'a,b' -> ['a', 'b'], '' -> []: a MySQL SET value as a list (members never hold a comma)."""
    parts = pc.split_pattern(arr, ",")
    return pc.if_else(pc.equal(arr, ""), pa.scalar([], pa.list_(pa.string())), parts)

"""Batch transformers: turn a source batch (neutral types) into the target's column types.

Everything here is vectorised Arrow compute; a value that does not fit (an overflow, a
precision loss) raises CopyError naming the table and column instead of being changed.
"""

from __future__ import annotations

import pyarrow as pa

from .errors import CopyError


def conform(batch: pa.RecordBatch, schema: pa.Schema, table: str) -> pa.RecordBatch:
    """Cast every column of `batch` to `schema` (same column order), safely."""
    arrays = []
    for arr, field in zip(batch.columns, schema, strict=True):
        if arr.type == field.type:
            arrays.append(arr)
            continue
        try:
            arrays.append(arr.cast(field.type, safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise CopyError(
                f"{table}.{field.name}: cannot convert {arr.type} to {field.type}: {exc}",
                hint="change the column's target type (a type rule in a mapping file)",
            ) from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)

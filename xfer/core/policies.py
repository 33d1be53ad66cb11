"""Declared value policies, applied in the Arrow path and counted per column, and the reject
file (JSON lines) for rows the target cannot take.

A value the target cannot hold is never changed silently: either a declared policy maps it
(zero dates -> NULL, NUL bytes stripped) and the run's report counts it per column, or the
whole row is rejected -- written to the reject file, left out of the target, and the run
exits non-zero naming that file.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from xfer.core.errors import UsageError


@dataclass
class Flag:
    """Rows of one column of a batch that hold a value a policy is about."""

    column: str  # source column name
    mask: pa.Array  # boolean, True where the policy applies
    raw: pa.Array  # the values as read (for the reject file)
    what: str  # "zero date"


@dataclass
class ValuePolicies:
    """The policies of one table's copy, with what they did to it."""

    table: str
    key: list[str] = field(default_factory=list)  # primary-key columns, named in rejects
    zero_dates: str = "null"
    nul_bytes: str = "reject"
    counts: dict[str, Counter[str]] = field(default_factory=dict)  # column -> policy -> values
    rejects: list[dict[str, Any]] = field(default_factory=list)

    def count(self, column: str, what: str, n: int) -> None:
        if n:
            self.counts.setdefault(column, Counter())[what] += n

    def reject(self, batch: pa.RecordBatch, rows: pa.Array, column: str, values: pa.Array, reason: str) -> None:
        """Record the rows where `rows` (boolean) is true as rejected."""
        idx = pc.indices_nonzero(pc.fill_null(rows, False)).to_pylist()
        take = pa.array(idx, pa.int64())
        # no primary key: the whole row is what identifies it
        names = [k for k in self.key if k in batch.schema.names] or batch.schema.names
        keys = {k: batch.column(k).take(take).to_pylist() for k in names}
        vals = values.take(take).to_pylist()
        for n in range(len(idx)):
            self.rejects.append(
                {
                    "table": self.table,
                    "key": {k: jsonable(v[n]) for k, v in keys.items()},
                    "column": column,
                    "value": jsonable(vals[n]),
                    "reason": reason,
                }
            )

    def apply_flags(self, batch: pa.RecordBatch, flags: list[Flag]) -> pa.RecordBatch:
        """Source-side findings (zero dates): counted as NULLs, or their rows rejected."""
        drop: pa.Array | None = None
        for f in flags:
            n = pc.sum(pc.fill_null(f.mask, False).cast(pa.int64())).as_py() or 0
            if not n:
                continue
            if f.what == "zero date" and self.zero_dates == "null":
                self.count(f.column, "zero date -> NULL", n)
                continue
            self.reject(batch, f.mask, f.column, f.raw, f"{f.what} (--zero-dates error)")
            m = pc.fill_null(f.mask, False)
            drop = m if drop is None else pc.or_(drop, m)
        return batch if drop is None else batch.filter(pc.invert(drop))

    def apply_nul_bytes(self, batch: pa.RecordBatch, names: list[str]) -> pa.RecordBatch:
        """NUL characters in the text columns `names` (batch names): the target cannot store
        them. Default: reject the row; --nul-bytes strip: remove the character, counted."""
        drop: pa.Array | None = None
        arrays = list(batch.columns)
        for i, fld in enumerate(batch.schema):
            arr = arrays[i]
            is_list = pa.types.is_list(arr.type)
            flat = arr.flatten() if is_list else arr
            if fld.name not in names or not pa.types.is_string(flat.type):
                continue
            has = pc.match_substring(flat, "\x00")
            if is_list:  # a SET: the row is flagged when any member is
                parents = pc.list_parent_indices(arr).filter(pc.fill_null(has, False))
                has = pc.is_in(pa.array(range(len(arr)), pa.int64()), value_set=parents.cast(pa.int64()))
            n = pc.sum(pc.fill_null(has, False).cast(pa.int64())).as_py() or 0
            if not n:
                continue
            if self.nul_bytes == "strip":
                fixed = pc.replace_substring(flat, "\x00", "")
                if is_list:
                    offsets = pc.subtract(arr.offsets, arr.offsets[0])
                    fixed = pa.ListArray.from_arrays(offsets, fixed, mask=arr.is_null())
                arrays[i] = fixed
                self.count(fld.name, "NUL bytes stripped", n)
            else:
                self.reject(batch, has, fld.name, arr, "text holds a NUL byte (U+0000), which PostgreSQL cannot store")
                m = pc.fill_null(has, False)
                drop = m if drop is None else pc.or_(drop, m)
        out = pa.RecordBatch.from_arrays(arrays, schema=batch.schema)
        return out if drop is None else out.filter(pc.invert(drop))


def jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return {"base64": base64.b64encode(v).decode()}
    if isinstance(v, (dt.date, dt.datetime, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return str(v)
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return v


def count_duplicate_keys(records: list[dict[str, Any]]) -> int:
    """How many refused rows (distinct keys) the target refused for a key it already holds."""
    return len({json.dumps(rec["key"], sort_keys=True, default=str) for rec in records if rec.get("duplicate_key")})


class RejectFile:
    """JSON lines, one rejected row each; created on the first reject, so a clean run leaves
    no file behind."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows = 0
        self._fh: Any = None
        self._lock = threading.Lock()

    def write(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        with self._lock:
            if self._fh is None:
                try:
                    self._fh = self.path.open("w", encoding="utf-8")
                except OSError as exc:
                    raise UsageError(f"cannot write the reject file {self.path}: {exc.strerror}") from None
            for r in records:
                self._fh.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
            self._fh.flush()
            self.rows += len(records)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()

"""Reading a mapped table: each input (one source table, or each of a merge's) is read with its
row filter, its columns renamed, transformed and computed, and cast to the target's types.

Both the copy and the verifier take their source rows from `MappedRead.batches`, so what is
hashed on the source side is exactly what was written: the source *as mapped*.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from xfer.core.conform import conform
from xfer.core.errors import CopyError
from xfer.core.schema import Table
from xfer.dialects.base import Dialect
from xfer.planning import expr as transforms
from xfer.planning.expr import Evaluator, ExprError


@dataclass
class Op:
    """How one target column is made from an input batch."""

    name: str  # target column (as planned, before any shortening)
    kind: str  # "column" (read), "expr" (computed), "const" (discriminator value or NULL)
    index: int = -1  # column: position in the read batch; expr: position in the evaluator's output
    value: str | None = None  # const
    transforms: list[str] = field(default_factory=list)


@dataclass
class InputRead:
    table: Table  # the source table restricted to the columns read
    where: str | None
    ops: list[Op]
    exprs: list[str] = field(default_factory=list)
    expr_inputs: pa.Schema = field(default_factory=lambda: pa.schema([]))  # columns the expressions see


@dataclass
class Check:
    """What verification compares: all target columns but `ignored`, floats maybe rounded."""

    skip: bool = False
    ignored: set[str] = field(default_factory=set)  # target column names
    float_digits: dict[str, int] = field(default_factory=dict)  # target column -> significant digits

    def schema(self, target: pa.Schema) -> pa.Schema:
        fields = [f for f in target if f.name not in self.ignored]
        return pa.schema([pa.field(f.name, pa.string()) if f.name in self.float_digits else f for f in fields])

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if not self.ignored and not self.float_digits:
            return batch
        arrays, names = [], []
        for f, arr in zip(batch.schema, batch.columns, strict=True):
            if f.name in self.ignored:
                continue
            n = self.float_digits.get(f.name)
            arrays.append(arr if n is None else _significant(arr, n))
            names.append(f.name)
        return pa.RecordBatch.from_arrays(arrays, names=names)


def _significant(arr: pa.Array, digits: int) -> pa.Array:
    """Floats as text to `digits` significant digits: both sides round the same way."""
    return pa.array([None if v is None else f"{v:.{digits}g}" for v in arr.to_pylist()], pa.string())


@dataclass
class MappedRead:
    label: str  # names the table in messages and reports
    inputs: list[InputRead]
    target: pa.Schema  # the target table's Arrow schema (after shortening and type choices)
    check: Check = field(default_factory=Check)

    def batches(self, source: Dialect, batch_rows: int, policies: Any = None) -> Iterator[pa.RecordBatch]:
        for inp in self.inputs:
            ev = Evaluator(inp.exprs, inp.expr_inputs) if inp.exprs else None
            try:
                for batch in source.read_batches(inp.table, batch_rows, where=inp.where, policies=policies):
                    yield self.shape(inp, batch, ev)
            finally:
                if ev is not None:
                    ev.close()

    def shape(self, inp: InputRead, batch: pa.RecordBatch, ev: Evaluator | None) -> pa.RecordBatch:
        n = batch.num_rows
        computed: list[pa.Array] = []
        if ev is not None:
            try:
                computed = ev.run(batch)
            except ExprError as exc:
                raise CopyError(f"{self.label}: computing a column: {exc}") from None
        arrays = []
        for op, field_ in zip(inp.ops, self.target, strict=True):
            if op.kind == "column":
                arr = batch.column(op.index)
            elif op.kind == "expr":
                arr = computed[op.index]
            elif op.value is None:
                arr = pa.nulls(n, field_.type)
            else:
                arr = pa.array([op.value] * n, pa.string())
            if op.transforms:
                arr = transforms.apply(op.transforms, arr)
            arrays.append(arr)
        shaped = pa.RecordBatch.from_arrays(arrays, names=[op.name for op in inp.ops])
        return conform(shaped, self.target, self.label)

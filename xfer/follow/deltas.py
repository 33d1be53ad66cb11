"""A table's net changes in the target's types, converted exactly as copied rows are: the
source's row builder (`ChangeSource.image_batch`, the code its copy reader uses), the mapping's
shaping (renames, transforms, computed columns), the NUL-byte policy and the cast to the
target's types (`xfer.copy.rows.convert`).

A table whose mapping filters its rows (`where`) is handled by reading the changed keys again
through the filter: rows that pass are upserted, keys that no longer pass (or are gone) are
deleted — a row that leaves the filter is a delete.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from xfer.copy.rows import convert, nul_columns, table_policies
from xfer.core.options import Options
from xfer.core.schema import ForeignKey, Table
from xfer.dialects.base import Dialect
from xfer.dialects.capabilities import ChangeSource, TableDelta
from xfer.follow.net import Image, Net
from xfer.planning.build import Plan, TablePlan
from xfer.planning.expr import Evaluator


def log_table(tp: TablePlan) -> Table:
    """The source table whose changes the log carries for `tp` (a mapping's input, else the source)."""
    return tp.mapped.inputs[0].table if tp.mapped is not None else tp.source


def followable(tp: TablePlan) -> str | None:
    """Why `tp` cannot be followed (None: it can)."""
    if tp.mapped is not None and len(tp.mapped.inputs) != 1:
        return "its mapping merges several source tables"
    if not log_table(tp).primary_key or not tp.target.primary_key:
        return "it has no primary key: its changes cannot be matched to rows"
    return None


def children_of(the_plan: Plan) -> dict[str, list[tuple[Table, ForeignKey]]]:
    """Per target table: the tables whose foreign keys point at it with an ON DELETE or ON
    UPDATE action (the source's InnoDB runs those without logging them)."""
    out: dict[str, list[tuple[Table, ForeignKey]]] = {}
    for tp in the_plan.tables:
        for fk in tp.target.foreign_keys:
            if fk.on_delete in ("CASCADE", "SET NULL") or fk.on_update in ("CASCADE", "SET NULL"):
                out.setdefault(fk.ref_table, []).append((tp.target, fk))
    return out


class Converter:
    """Turns one table's `Net` into a `TableDelta` for the target."""

    def __init__(self, source: Dialect, target: Dialect, tp: TablePlan, options: Options, children: list[Any]) -> None:
        assert isinstance(source, ChangeSource)
        self.source, self.change_source, self.tp, self.children = source, source, tp, children
        self.policies = table_policies(tp, options)
        self.texts = nul_columns(tp, target)
        self.batch_rows = options.copy.batch_size
        inp = tp.mapped.inputs[0] if tp.mapped is not None else None
        self.input = inp
        self.read_table = inp.table if inp is not None else tp.source
        self.where = inp.where if inp is not None else None
        self.key_index = [i for i, c in enumerate(tp.target.columns) if c.name in tp.target.primary_key]

    def delta(self, net: Net) -> TableDelta:
        if self.where:
            return self._filtered(net)
        ups = self._convert(net.columns, list(net.upserts.values()))
        dels = self._convert(net.columns, list(net.deletes.values()))
        moves = None
        if net.moves and any(fk.on_update in ("CASCADE", "SET NULL") for _, fk in self.children):
            old = self._keys(self._convert(net.columns, [o for o, _ in net.moves.values()]))
            new = self._keys(self._convert(net.columns, [n for _, n in net.moves.values()]))
            moves = (old, new) if old is not None and new is not None else None
        removed = None
        if net.removed and any(fk.on_delete in ("CASCADE", "SET NULL") for _, fk in self.children):
            removed = self._keys(self._convert(net.columns, list(net.removed.values())))
        return TableDelta(self.tp.target, ups, self._keys(dels), self.children, moves, removed)

    def _convert(self, columns: Sequence[str], rows: Sequence[Image]) -> pa.RecordBatch | None:
        if not rows:
            return None
        batch = self.change_source.image_batch(self.read_table, columns, rows, self.policies)
        return self._shaped(batch)

    def _shaped(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        tp, inp = self.tp, self.input
        if tp.mapped is not None and inp is not None:
            ev = Evaluator(inp.exprs, inp.expr_inputs) if inp.exprs else None
            try:
                batch = tp.mapped.shape(inp, batch, ev)
            finally:
                if ev is not None:
                    ev.close()
        out = convert(tp, batch, self.policies, self.texts)
        self.policies.rejects.clear()  # (counted by the policies; the row is not applied)
        return out

    def _keys(self, batch: pa.RecordBatch | None) -> pa.RecordBatch | None:
        return batch.select(self.key_index) if batch is not None else None

    def _filtered(self, net: Net) -> TableDelta:
        """Changed keys read again through the mapping's filter (their state now)."""
        key_cols = list(self.read_table.primary_key)
        at = [net.columns.index(k) for k in key_cols]
        images = list(net.upserts.values()) + list(net.deletes.values())
        keys = list({tuple(row[i] for i in at): None for row in images})
        q = self.source.quote
        one = "(" + ", ".join([self.source.param_marker] * len(key_cols)) + ")"
        cond = f"({', '.join(q(k) for k in key_cols)}) IN ({', '.join([one] * len(keys))})"
        params = [v for k in keys for v in k]
        found: list[pa.RecordBatch] = [
            self._shaped(b)
            for b in self.source.read_rows(self.read_table, f"({self.where}) AND {cond}", params, self.batch_rows)
        ]
        ups = (
            pa.Table.from_batches(found).combine_chunks().to_batches()[0]
            if found and sum(b.num_rows for b in found)
            else None
        )
        dels = self._convert(net.columns, images)  # every changed key out first; the rows found come back
        return TableDelta(self.tp.target, ups, self._keys(dels), [])


def delta_keys(d: TableDelta) -> list[tuple[object, ...]]:
    """The target key values a delta touches (upserted or deleted)."""
    out: list[tuple[object, ...]] = []
    for batch in (d.upserts, d.deletes):
        if batch is not None and batch.num_rows:
            out.extend(zip(*(batch.column(k).to_pylist() for k in d.table.primary_key), strict=True))
    return out

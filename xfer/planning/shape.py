"""Shaping one input: which columns of a source table are read, and how each target column is
made from them (kept, renamed, transformed, computed). Problems are collected, not raised."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import pyarrow as pa

from xfer.core.schema import Column, Table
from xfer.mapping.model import ColumnSpec, ColumnVerify, Selection
from xfer.mapping.problems import Path, Problems, did_you_mean
from xfer.planning import expr as transforms
from xfer.planning.expr import Evaluator, ExprError
from xfer.planning.read import InputRead, Op


@dataclass
class OutCol:
    """One column of a target table, as planned."""

    name: str
    arrow: pa.DataType  # the values' type before the cast to the target type
    label: str  # for `xfer plan`: the source column, or "= expression"
    label_type: str
    path: Path  # the spec that made it (or the table's), for messages
    column: Column | None = None  # the source column it comes from, if any
    type: str | None = None  # explicit target type
    collation: str | None = None  # explicit target collation (a mapping file's `collation:`)
    verify: ColumnVerify = field(default_factory=ColumnVerify)
    nullable: bool = True
    transforms: list[str] = field(default_factory=list)


@dataclass
class Shaped:
    table: Table  # the whole source table
    sel: Selection
    cols: list[OutCol]
    read: InputRead
    renames: dict[str, str]  # source column -> target column, for the columns kept


def shape(table: Table, sel: Selection, problems: Problems) -> Shaped:
    names = [c.name for c in table.columns]
    listing = f"columns of {table.name}"
    specs = sel.columns
    for key, spec in specs.items():
        if spec.expr is None and key not in names:
            problems.add(
                spec.path,
                f"no column {key!r} in source table {table.name!r}",
                did_you_mean(key, names, listing=listing)
                + (" (a new column needs `expr:`)" if spec.type or spec.transforms else ""),
                key=True,
            )
    only = sel.only
    if only is not None:
        for i, name in enumerate(only):
            if name not in names:
                problems.add(
                    sel.path + ("only", i),
                    f"no column {name!r} in source table {table.name!r}",
                    did_you_mean(name, names, listing=listing),
                )
        for key, spec in specs.items():
            if spec.expr is None and key in names and key not in only and not spec.exclude:
                problems.add(spec.path, f"column {key!r} is configured but not in `only`", "add it to `only`", key=True)

    cols: list[OutCol] = []
    ops: list[Op] = []
    renames: dict[str, str] = {}
    exprs: list[tuple[int, ColumnSpec]] = []  # position in cols, spec
    for c in table.columns:
        conf = specs.get(c.name)
        if (only is not None and c.name not in only) or (conf is not None and conf.exclude):
            continue
        if conf is not None and conf.expr is not None:  # a computed column replacing this one, in place
            exprs.append((len(cols), conf))
            cols.append(OutCol(c.name, pa.null(), f"= {conf.expr}", "", conf.path))
            ops.append(Op(c.name, "expr"))
            continue
        target = conf.rename if conf is not None and conf.rename else c.name
        out = OutCol(target, c.arrow, c.name, c.native_type, conf.path if conf else sel.path, c, nullable=c.nullable)
        if conf is not None:
            out.type, out.verify, out.transforms = conf.type, conf.verify, list(conf.transforms)
            out.collation = conf.collation
        cols.append(out)
        ops.append(Op(target, "column", transforms=out.transforms))
        renames[c.name] = target
    for key, spec in specs.items():
        if spec.expr is not None and all(s is not spec for _, s in exprs):
            exprs.append((len(cols), spec))
            cols.append(OutCol(key, pa.null(), f"= {spec.expr}", "", spec.path))
            ops.append(Op(key, "expr"))

    # Read the kept columns and whatever an expression names; at least one column, so that
    # even a table of computed constants has a row per source row.
    used = {c.column.name for c in cols if c.column is not None}
    for _, spec in exprs:
        used.update(transforms.referenced(spec.expr or "", names))
    read_cols = [c for c in table.columns if c.name in used] or table.columns[:1]
    position = {c.name: i for i, c in enumerate(read_cols)}
    for out, op in zip(cols, ops, strict=True):
        if op.kind == "column" and out.column is not None:
            op.index = position[out.column.name]
    read = InputRead(replace(table, columns=read_cols), sel.where, ops)
    if exprs:
        _computed(table, read, cols, exprs, problems)
    for out in cols:
        _check_transforms(out, problems)
    return Shaped(table, sel, cols, read, renames)


def _computed(
    table: Table, read: InputRead, cols: list[OutCol], exprs: list[tuple[int, ColumnSpec]], problems: Problems
) -> None:
    """Check each expression on no rows (names, functions, types) and learn its result type."""
    names = [c.name for c in table.columns]
    seen = [
        c for c in read.table.columns if any(c.name in transforms.referenced(s.expr or "", names) for _, s in exprs)
    ]
    read.expr_inputs = pa.schema([pa.field(c.name, c.arrow) for c in seen])
    good: list[tuple[int, ColumnSpec]] = []
    for i, spec in exprs:
        ev = Evaluator([spec.expr or ""], read.expr_inputs)
        try:
            (t,) = ev.result_types()
        except ExprError as exc:
            problems.add(
                spec.path + ("expr",), f"invalid expression for column {spec.name!r}: {exc}", _expr_hint(exc, names)
            )
            continue
        finally:
            ev.close()
        cols[i].arrow = pa.string() if pa.types.is_null(t) else t
        cols[i].label_type = f"= {spec.expr}"
        cols[i].type = spec.type
        cols[i].transforms = list(spec.transforms)
        cols[i].verify = spec.verify
        good.append((i, spec))
    read.exprs = [spec.expr or "" for _, spec in good]
    for k, (i, spec) in enumerate(good):
        read.ops[i].index = k
        read.ops[i].transforms = list(spec.transforms)


def _expr_hint(exc: ExprError, names: list[str]) -> str:
    m = re.search(r'Referenced column "([^"]+)" not found', str(exc))
    if m:
        return did_you_mean(m[1], names, listing="columns") + " (an expression uses the source's column names)"
    return "the expression is DuckDB SQL over the source row"


def _check_transforms(out: OutCol, problems: Problems) -> None:
    for name in out.transforms:
        if not transforms.applies(name, out.arrow):
            kind = transforms.TRANSFORMS[name].kind
            problems.add(
                out.path + ("transform",),
                f"transform {name!r} applies to {kind} columns; {out.label!r} holds {out.arrow}",
                "remove it, or compute the column with `expr:`",
            )

"""Column transforms (built in, vectorised Arrow compute) and computed columns (`expr`,
evaluated by DuckDB over each batch).

A transform keeps the column's type; the list below is the documented set (README, "Built-in
transforms") and the JSON Schema's enum, and a test keeps the three in agreement.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class Transform:
    kind: str  # "text" or "number": the columns it applies to
    fn: Callable[[pa.Array], pa.Array]
    doc: str


def _null_where(mask: pa.Array, arr: pa.Array) -> pa.Array:
    return pc.if_else(mask, pa.scalar(None, arr.type), arr)


TRANSFORMS: dict[str, Transform] = {
    "trim": Transform("text", pc.utf8_trim_whitespace, "remove leading and trailing white space"),
    "ltrim": Transform("text", pc.utf8_ltrim_whitespace, "remove leading white space"),
    "rtrim": Transform("text", pc.utf8_rtrim_whitespace, "remove trailing white space"),
    "lower": Transform("text", pc.utf8_lower, "lower-case (Unicode)"),
    "upper": Transform("text", pc.utf8_upper, "upper-case (Unicode)"),
    "title": Transform("text", pc.utf8_title, "Capitalise Each Word"),
    "collapse_spaces": Transform(
        "text", lambda a: pc.replace_substring_regex(a, r"\s+", " "), "every run of white space becomes one space"
    ),
    "null_if_empty": Transform("text", lambda a: _null_where(pc.equal(a, ""), a), "'' becomes NULL"),
    "null_if_blank": Transform(
        "text",
        lambda a: _null_where(pc.equal(pc.utf8_trim_whitespace(a), ""), a),
        "'' or only white space becomes NULL",
    ),
    "empty_if_null": Transform("text", lambda a: pc.fill_null(a, ""), "NULL becomes ''"),
    "strip_nul": Transform(
        "text",
        lambda a: pc.replace_substring(a, "\x00", ""),
        "remove NUL characters (PostgreSQL text cannot hold them)",
    ),
    "null_if_zero": Transform("number", lambda a: _null_where(pc.equal(a, 0), a), "0 becomes NULL"),
}


def applies(name: str, t: pa.DataType) -> bool:
    kind = TRANSFORMS[name].kind
    if kind == "text":
        return pa.types.is_string(t) or pa.types.is_large_string(t)
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def apply(names: list[str], arr: pa.Array) -> pa.Array:
    for name in names:
        arr = TRANSFORMS[name].fn(arr)
    return arr


# -- computed columns ------------------------------------------------------------------------
_IDENT = re.compile(r'"((?:[^"]|"")+)"|`((?:[^`]|``)+)`|\b([A-Za-z_][A-Za-z0-9_$]*)\b')


def referenced(expr: str, columns: list[str]) -> list[str]:
    """The columns an expression may use, in `columns`' order: every identifier-looking word
    that names one (case-insensitively). Reading a column too many is harmless; a missing one
    is caught when the expression is checked against the columns read."""
    words = set()
    for m in _IDENT.finditer(expr):
        word = m[1].replace('""', '"') if m[1] else m[2].replace("``", "`") if m[2] else m[3]
        words.add(word.lower())
    return [c for c in columns if c.lower() in words]


class ExprError(Exception):
    """DuckDB could not evaluate an expression (the message is DuckDB's, first line)."""


class Evaluator:
    """Evaluates a fixed list of expressions over batches with a fixed set of input columns."""

    def __init__(self, exprs: list[str], inputs: pa.Schema) -> None:
        import duckdb

        self.inputs = inputs
        self._con = duckdb.connect(config={"threads": 1})  # one thread: rows stay in input order
        self._con.execute("SET TimeZone = 'UTC'")
        self._duckdb = duckdb
        cols = ", ".join(f"({e}) AS {_q(f'x{i}')}" for i, e in enumerate(exprs)) or "1 AS x"
        self._sql = f"SELECT {cols} FROM xfer_rows"

    def run(self, batch: pa.RecordBatch) -> list[pa.Array]:
        """One array per expression, `batch.num_rows` long."""
        arrays = [_duck_safe(batch.column(f.name)) for f in self.inputs]
        rows = pa.Table.from_arrays(arrays, names=self.inputs.names) if arrays else _empty_rows(batch.num_rows)
        self._con.register("xfer_rows", rows)
        try:
            out = self._con.sql(self._sql).to_arrow_table()
        except self._duckdb.Error as exc:
            raise ExprError(str(exc).strip().splitlines()[0]) from None
        finally:
            self._con.unregister("xfer_rows")
        if out.num_rows != batch.num_rows:
            raise ExprError("the expression must give one value per row (no aggregates such as count(*) or sum())")
        return [c.combine_chunks() if c.num_chunks != 1 else c.chunk(0) for c in out.columns]

    def result_types(self) -> list[pa.DataType]:
        """Evaluate over no rows: checks every name and type, and says what each expression gives."""
        empty = pa.RecordBatch.from_arrays([pa.array([], f.type) for f in self.inputs], schema=self.inputs)
        return [a.type for a in self.run(empty)]

    def close(self) -> None:
        self._con.close()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _duck_safe(arr: pa.Array) -> pa.Array:
    if pa.types.is_decimal256(arr.type):  # DuckDB's decimals stop at 38 digits
        return arr.cast(pa.string())
    return arr


def _empty_rows(n: int) -> pa.Table:
    return pa.table({"xfer_row": pa.nulls(n, pa.int8())})

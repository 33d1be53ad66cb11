"""The engine-neutral model of a database: tables, columns, keys, indexes, foreign keys.

Every dialect introspects into these classes and writes DDL from them. A column's
`arrow` type is the neutral type: the type of the values in the record batches that flow
between engines. `meta` carries what Arrow cannot say (JSON, enum labels, declared length).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa


@dataclass
class Column:
    name: str
    native_type: str  # as the engine prints it, e.g. "int(10) unsigned", "numeric(12,2)"
    arrow: pa.DataType
    nullable: bool = True
    default: str | None = None  # an SQL expression in the source engine's dialect
    autoincrement: bool = False
    comment: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # json, length, enum labels, char
    # How `default` is meant, so a target can rewrite it without parsing the source's SQL:
    # "literal" (`default_value` is the constant as text), "now" (the current date/time),
    # "expression" (only `default`, SQL in the source's dialect, says it). None: not known.
    default_kind: str | None = None
    default_value: str | None = None
    generated: str | None = None  # generation expression, SQL in the source's dialect
    generated_stored: bool = True  # False: computed on read (MySQL VIRTUAL)
    on_update: str | None = None  # "now": set to the current time by every UPDATE of the row


@dataclass
class Index:
    name: str
    columns: list[str]
    unique: bool = False
    kind: str = "btree"  # "btree", "fulltext", "spatial", "hash"
    # Parallel to `columns` when present: a key prefix length (MySQL `col(10)`), DESC order,
    # and an expression for a functional key part (its entry in `columns` is then "").
    lengths: list[int | None] = field(default_factory=list)
    descending: list[bool] = field(default_factory=list)
    expressions: list[str | None] = field(default_factory=list)


@dataclass
class ForeignKey:
    name: str
    columns: list[str]
    ref_table: str
    ref_columns: list[str]
    on_delete: str | None = None  # "CASCADE", "SET NULL", ...; None = NO ACTION
    on_update: str | None = None


@dataclass
class Check:
    name: str
    expression: str  # SQL in the dialect of the engine the table belongs to
    columns: list[str] = field(default_factory=list)  # the columns it names, when known


@dataclass
class View:
    name: str
    definition: str  # the SELECT, in the source's dialect
    comment: str | None = None


@dataclass
class Trigger:
    name: str
    table: str
    timing: str  # BEFORE / AFTER
    event: str  # INSERT / UPDATE / DELETE
    body: str  # in the source's dialect


@dataclass
class Table:
    name: str
    columns: list[Column]
    primary_key: list[str] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    row_estimate: int | None = None
    comment: str | None = None
    checks: list[Check] = field(default_factory=list)
    auto_increment: int | None = None  # the next value the source's counter would hand out
    collation: str | None = None  # the table's default collation (its text columns each say their own)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow, c.nullable) for c in self.columns])

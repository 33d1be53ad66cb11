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


@dataclass
class Index:
    name: str
    columns: list[str]
    unique: bool = False


@dataclass
class ForeignKey:
    name: str
    columns: list[str]
    ref_table: str
    ref_columns: list[str]
    on_delete: str | None = None  # "CASCADE", "SET NULL", ...; None = NO ACTION
    on_update: str | None = None


@dataclass
class Table:
    name: str
    columns: list[Column]
    primary_key: list[str] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    row_estimate: int | None = None
    comment: str | None = None

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow, c.nullable) for c in self.columns])

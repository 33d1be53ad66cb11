"""The mapping file as objects. Each object keeps the `path` of its node in the file, so a
check made later (against the source's catalogue) can still name the file, line and column."""

from __future__ import annotations

from dataclasses import dataclass, field

from xfer.mapping.problems import Marks, Path


@dataclass
class ColumnVerify:
    ignore: bool = False  # leave the column out of the comparison
    float_digits: int | None = None


@dataclass
class ColumnSpec:
    name: str  # the source column's name; for a computed column (expr), the new column's name
    path: Path
    rename: str | None = None
    exclude: bool = False
    type: str | None = None
    collation: str | None = None  # the target column's collation ("C", a collation_definitions name, or the target's)
    transforms: list[str] = field(default_factory=list)
    expr: str | None = None
    verify: ColumnVerify = field(default_factory=ColumnVerify)


@dataclass
class TableVerify:
    skip: bool = False
    float_digits: int | None = None
    ignore_columns: list[str] = field(default_factory=list)
    path: Path = ()


@dataclass
class Selection:
    """What one read of a source table keeps: rows (where), columns, and how they change."""

    path: Path
    where: str | None = None
    only: list[str] | None = None
    columns: dict[str, ColumnSpec] = field(default_factory=dict)


@dataclass
class Output(Selection):
    """One target table made from one source table: a table entry, or one part of a split."""

    target: str = ""  # the target table's name
    primary_key: list[str] | None = None  # None: from the source; []: none
    verify: TableVerify = field(default_factory=TableVerify)


@dataclass
class TableSpec:
    name: str  # source table
    path: Path
    outputs: list[Output]  # one, or the parts of a split
    split: bool = False


@dataclass
class Discriminator:
    column: str
    values: dict[str, str]  # source table -> value (default: the source table's name)
    path: Path


@dataclass
class MergeSpec:
    target: str
    path: Path
    sources: list[tuple[str, Selection]]
    discriminator: Discriminator | None = None
    primary_key: list[str] | None = None
    verify: TableVerify = field(default_factory=TableVerify)


@dataclass
class TypeRule:
    target: str
    path: Path
    source: str | None = None
    column: str | None = None
    table: str | None = None


@dataclass
class Hook:
    sql: str
    on: str  # target | source
    phase: str  # before | after
    path: Path


@dataclass
class Mapping:
    file: str
    marks: Marks
    source: str | None = None
    target: str | None = None
    options: dict[str, object] = field(default_factory=dict)
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    tables: dict[str, TableSpec] = field(default_factory=dict)
    merges: dict[str, MergeSpec] = field(default_factory=dict)
    types: list[TypeRule] = field(default_factory=list)
    before: list[Hook] = field(default_factory=list)
    after: list[Hook] = field(default_factory=list)

    def where(self, path: Path, *, key: bool = False) -> str:
        """ "file:line:col" of a node, for messages and logs."""
        m = self.marks.find(path, key=key)
        return f"{self.file}:{m.line}:{m.column}" if m else self.file

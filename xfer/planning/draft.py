"""A target table being planned: what it is made of, before translation to the target's types."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from xfer.core.schema import Table
from xfer.mapping.model import TableVerify
from xfer.mapping.problems import Path
from xfer.planning.shape import OutCol, Shaped


@dataclass
class Draft:
    """One target table, before translation to the target's types."""

    label: str
    target: str
    path: Path  # where its name was written
    inputs: list[Shaped]
    cols: list[OutCol]
    verify: TableVerify
    primary_key: list[str] | None
    split: bool = False
    merged: bool = False
    notes: list[str] = field(default_factory=list)
    keys: Table | None = None  # primary key, indexes, foreign keys in target column names
    overrides: dict[int, tuple[str, Path]] = field(default_factory=dict)  # column -> (target type, where given)
    variants: dict[str, list[pa.DataType]] = field(default_factory=dict)  # merged column -> its inputs' types
    discriminator: str | None = None

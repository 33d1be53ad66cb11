"""The engine-neutral model of captured changes: positions in a source's change log, the row
changes read from it, and the schema changes met on the way.

A source that declares `ChangeSource` (xfer.dialects.capabilities) reads its log into
`ChangeBatch`es; the follow stage (xfer.follow) collapses them to each key's net effect, converts
the row images through the same transformers as copied rows, and a `ChangeTarget` applies them
with the batch's end position in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

RowKind = Literal["insert", "update", "delete"]
SchemaKind = Literal["truncate", "add_column", "other"]


@dataclass(frozen=True)
class Position:
    """A place in the source's change log: (file, offset), where the next event starts, and the
    GTID of the last transaction before it when the server keeps them ("" when not)."""

    file: str
    pos: int
    gtid: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.pos}"

    def key(self) -> tuple[str, int]:
        """Orders positions (binlog file names grow with a zero-padded counter)."""
        return (self.file, self.pos)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "pos": self.pos, "gtid": self.gtid}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Position:
        return cls(str(d["file"]), int(d["pos"]), str(d.get("gtid") or ""))


@dataclass
class RowsChange:
    """The rows one event changed in `table` (the source's name). `columns` names each value of
    an image (the columns as the event has them, which may differ from the copy's after DDL);
    values are the text protocol's bytes (None: NULL). `before`/`after`: one image per row
    (an insert has only `after`, a delete only `before`)."""

    table: str
    kind: RowKind
    columns: list[str]
    before: list[tuple[bytes | None, ...]] = field(default_factory=list)
    after: list[tuple[bytes | None, ...]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return max(len(self.before), len(self.after))


@dataclass
class SchemaChange:
    """A DDL statement met in the log. `table` is the followed table it changes (None: none of
    them); `kind` is what the follower can apply ("truncate", "add_column") or "other";
    `columns`: the names of the added columns (add_column)."""

    statement: str
    kind: SchemaKind
    table: str | None
    position: Position
    columns: list[str] = field(default_factory=list)


@dataclass
class ChangeBatch:
    """Consecutive whole transactions of the log: `changes` in log order, `end` the position
    after the last one (where to continue from), `events` the row changes in it, `event_time`
    the source's timestamp of the last event (seconds since the epoch; lag is measured by it)."""

    changes: list[RowsChange | SchemaChange]
    end: Position
    events: int = 0
    event_time: float = 0.0

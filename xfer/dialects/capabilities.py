"""What an engine can do beyond the `Dialect` contract, declared once per engine.

A capability is a small abstract mixin. An engine declares it by listing it among its dialect's
bases (`class Postgres(BulkWriter, JournalStore, ..., Dialect)`); the stages choose what to do
with `isinstance(dialect, Capability)`, never by an engine's name or by probing for attributes.
Each class's docstrings are the contract an implementation keeps; adding an engine means
implementing `Dialect` and whichever of these it can, in one package under `xfer/dialects/`.

| capability | who uses it | declared by |
|---|---|---|
| `SQLTranslator` | planning: defaults, generated columns, CHECKs, index expressions | PostgreSQL |
| `EnumTypes` | planning: `--enum native` | PostgreSQL |
| `ViewTarget`, `TriggerTarget` | planning and the run: views and triggers created after the data | PostgreSQL |
| `RangeReader` | copy: tables cut into key ranges read by parallel workers, one consistent view | MySQL/MariaDB |
| `BulkWriter` | copy: a batch written in one transaction through the engine's bulk path | PostgreSQL |
| `JournalStore` | runs: the run journal (resume, exactly-once chunks, rollback) | PostgreSQL |
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xfer.core.schema import Check, Column, Index, Table


class SQLTranslator(ABC):
    """A target that rewrites the source's SQL expressions (defaults, generated columns, CHECK
    constraints, index expressions) into its own dialect. `source` is the source engine's
    name (the sqlglot dialect of the text); `namer` renames the columns an expression uses.
    Each raises an exception whose text says why an expression cannot be translated: the plan
    then notes it and carries on."""

    @abstractmethod
    def default_sql(self, src: Column, tgt: Column, source: str) -> tuple[str | None, str | None]:
        """(the target column's DEFAULT expression or None, a note for the plan or None)."""

    @abstractmethod
    def generated_sql(self, expr: str, source: str, table: str, namer: Any) -> str:
        """The expression of a generated (computed, stored) column."""

    @abstractmethod
    def check_sql(self, expr: str, source: str, table: str, namer: Any) -> str:
        """A CHECK constraint's or an index part's expression."""

    @abstractmethod
    def labels_check(self, name: str, column: str, meta: dict[str, Any]) -> Check:
        """The CHECK keeping an ENUM's or SET's labels (`meta["enum"]` / `meta["set"]`)."""

    @abstractmethod
    def checks_sql(self, table: Table) -> list[str]:
        """Statements adding `table.checks` (run before the rows: a row breaking one is refused)."""

    def index_note(self, ix: Index) -> str | None:
        """Why `ix` is created differently from the source's, for the plan (None: as it is)."""
        return None


class EnumTypes(ABC):
    """A target with named enum types (`--enum native`)."""

    @abstractmethod
    def enum_type_sql(self, c: Column) -> list[str]:
        """Statements creating the enum type `c.native_type` with `c.meta["enum"]`'s labels."""


class ViewTarget(ABC):
    """A target that views are created in, after the data."""

    @abstractmethod
    def view_sql(self, name: str, definition: str, source: str, namer: Any) -> str:
        """CREATE VIEW `name` for the source's `definition` (in the `source` engine's SQL)."""


class TriggerTarget(ABC):
    """A target that triggers are created in, after the data (they must not fire on copied rows)."""

    @abstractmethod
    def trigger_sql(
        self, name: str, table: str, timing: str, event: str, body: str, source: str, namer: Any
    ) -> list[str]:
        """Statements creating the trigger; raises with the reason when the body cannot be translated."""


# -- copy: RangeReader, BulkWriter (used by xfer.copy) -- placeholder, filled in by the copy-path change


# -- runs: JournalStore (used by xfer.runs) -- placeholder, filled in by the journal change

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
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xfer.core.journal import CatalogObject, Journal, RunInfo
    from xfer.core.retry import RetryPolicy
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


# -- runs: JournalStore (used by xfer.runs) --------------------------------------------------------
class JournalStore(ABC):
    """A target that keeps the run journal (`xfer.core.journal`), which makes a run resumable,
    its chunks exactly-once and the run reversible. It needs transactional DDL (a statement and
    the record that it ran commit together) and a catalogue to read (what each statement made,
    found by comparing the catalogue before and after it, inside its transaction).

    The journal lives in the target under `JOURNAL_SCHEMA`. Methods that read it work on any
    connection; `start_run`/`resume_run` take the connection they are called on over for the
    run's journal (closing the journal closes it)."""

    @abstractmethod
    def journal_exists(self) -> bool:
        """Whether the target holds a journal (a run was ever recorded and not rolled back last)."""

    @abstractmethod
    def journal_runs(self) -> list[RunInfo]:
        """Every recorded run, oldest first; [] without a journal."""

    def unfinished_run(self, source: str, target: str) -> RunInfo | None:
        """The latest unfinished run from `source` to `target` (masked URLs), if any."""
        runs = [r for r in self.journal_runs() if r.unfinished and r.source == source and r.target == target]
        return runs[-1] if runs else None

    @abstractmethod
    def run_busy(self, run_id: str) -> bool:
        """True while an xfer process holds the run (it is being carried on right now)."""

    @abstractmethod
    def run_objects(self, run_id: str) -> tuple[list[CatalogObject], list[CatalogObject]]:
        """(created, dropped) by the run's steps, in the order they happened."""

    @abstractmethod
    def run_preexisting_tables(self, run_id: str) -> list[str]:
        """The run's target tables that existed before it, in name order."""

    @abstractmethod
    def start_run(
        self,
        source: str,
        target: str,
        args: dict[str, Any],
        plan: dict[str, Any],
        tables: list[tuple[str, str, bool]],
        retry: RetryPolicy,
    ) -> Journal:
        """A new run, with `tables` ((source name, target name, existed before the run) each),
        recorded in one transaction with the journal itself when it is the first run (and
        remembering that this run made it): a run killed here leaves nothing behind. `plan` is
        the run's summary (a resumed run must match its fingerprint); `args` its options.
        Raises XferError when the target refuses (e.g. "permission denied")."""

    @abstractmethod
    def resume_run(self, run: RunInfo, plan: dict[str, Any], retry: RetryPolicy) -> Journal:
        """Continue `run`, which must have been planned exactly like `plan` (else UsageError),
        and no other process may be carrying on right now (else UsageError)."""

    # -- rollback --------------------------------------------------------------------------------
    @abstractmethod
    def catalogue(self) -> set[CatalogObject]:
        """Every user object of the target now (outside the journal), with its identity."""

    @abstractmethod
    def drop_objects_sql(self, objects: Iterable[CatalogObject]) -> list[str]:
        """Statements dropping `objects` (and nothing else: no CASCADE), dependents first."""

    @abstractmethod
    def drop_run(self, run_id: str, statements: list[str], drop_journal: bool) -> None:
        """Run `statements` and remove the run from the journal (and the journal itself with
        `drop_journal`), all in one transaction. When the target refuses, nothing changes and
        XferError says what was refused (and which object depends on it, when known)."""

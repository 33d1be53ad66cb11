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
| `CollationTarget` | planning and the run: source collations kept per column (`--collations keep`) | PostgreSQL |
| `BehaviourSource` | planning: the behaviour section (zero dates, trailing spaces, sql_mode) | MySQL/MariaDB |
| `SQLScripts` | `xfer plan --sql`: the run's DDL as up/down scripts for the engine's own client | PostgreSQL |
| `RangeReader` | copy: tables cut into key ranges read by parallel workers, one consistent view | MySQL/MariaDB |
| `BulkWriter` | copy: a batch written in one transaction through the engine's bulk path | PostgreSQL |
| `ConcurrentBuilds` | copy: keys and indexes built at once on several connections | PostgreSQL |
| `BatchedDDL` | copy: many small tables' DDL sent together, one round trip and transaction | PostgreSQL |
| `JournalStore` | runs: the run journal (resume, exactly-once chunks, rollback) | PostgreSQL |
| `ChangeSource` | follow: the change log read from a position, writes held for the cutover | MySQL/MariaDB |
| `ChangeTarget` | follow: changes applied with their position in one transaction; follower state | PostgreSQL |
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from xfer.core.changes import ChangeBatch, Position
    from xfer.core.journal import CatalogObject, Journal, RunInfo, RunStart
    from xfer.core.options import CopyOptions
    from xfer.core.policies import ValuePolicies
    from xfer.core.retry import RetryPolicy
    from xfer.core.schema import Check, Column, Index, Table
    from xfer.core.typemap import CollationDef
    from xfer.dialects.base import Dialect


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


class CollationTarget(ABC):
    """A target whose text columns take a collation (`column_ddl` writes `meta["collation"]`),
    with collations of its own made from `collation_definitions` (the default rules file)."""

    @abstractmethod
    def collations_available(self) -> str | None:
        """None when the collations can be created here; else why not (the plan says so, and
        the columns compare byte-wise). Not connected: assumed available."""

    @abstractmethod
    def collation_sql(self, defs: Iterable[CollationDef]) -> list[str]:
        """Statements creating the collations `defs` in the target schema (IF NOT EXISTS), run
        once before the tables."""

    @abstractmethod
    def collation_ref(self, name: str, created: bool) -> str:
        """How a column's DDL names the collation `name`: one `collation_sql` creates (`created`),
        or one the target has ("C", a mapping file's choice)."""


@dataclass
class BehaviourFacts:
    """What the source's data and settings say about behaviour after cutover: per (table,
    column) counts (`zero_dates`, `trailing_spaces`), and the server's sql_mode."""

    counts: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    sql_mode: str | None = None


class BehaviourSource(ABC):
    """A source whose data and settings are read for the plan's behaviour section."""

    @abstractmethod
    def behaviour_facts(self, tables: Iterable[Table]) -> BehaviourFacts:
        """Counts of zero dates and of PAD SPACE text values ending in a space, per column (one
        scan per table that has such columns; none when `probe_data` is off), and sql_mode."""


class SQLScripts(ABC):
    """A target whose DDL can be handed out as scripts run by its own client (`xfer plan --sql`):
    the statements are the ones a run executes; this says what else a script needs."""

    @abstractmethod
    def schema_sql(self) -> list[str]:
        """The statements creating the URL's namespace, empty when it exists already (a run's
        `create_schema` executes these)."""

    @abstractmethod
    def undo_sql(self, statement: str) -> list[str] | None:
        """Statements dropping (IF EXISTS) what `statement`, one of this dialect's DDL, creates:
        empty when it creates nothing of its own (a comment, a sequence moved, a primary key
        that goes with its table); None when the statement is not one this dialect knows."""

    @abstractmethod
    def apply_command(self, file: str) -> str:
        """The shell command applying the script `file` to this target, stopping at the first error."""


# -- copy: RangeReader, BulkWriter (used by xfer.copy) ----------------------------------------
@dataclass
class Tally:
    """What reading or writing one key range reports back: seconds by stage ("read",
    "transform", "write"), the reader that read it, and notes for the run."""

    stages: dict[str, float] = field(default_factory=dict)
    reader: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class KeyRange:
    """The rows of `table` with `key > lo AND key <= hi` (a bound None: open; `key` None: all)."""

    table: Table
    key: str | None = None
    lo: int | None = None
    hi: int | None = None


class RangeReader(ABC):
    """A source whose tables can be cut into key ranges that parallel workers read at once, all
    of them seeing one consistent state of the data.

    The copy plans ranges with `table_sizes`, `chunk_key` and `split_points`, names a reader
    (`range_reader`, `table_reader`) that each task carries, starts the consistent view with
    `begin_consistent` before any worker reads and ends it with `end_consistent` after the last.
    A worker reads a range with `read_range` on the reader `begin_consistent` gave it (or on
    this dialect, when it gave None). A range is a `KeyRange`."""

    @abstractmethod
    def table_sizes(self) -> dict[str, int]:
        """Each table's size in bytes (the engine's estimate), by name: ranges are cut by it."""

    @abstractmethod
    def chunk_key(self, table: Table) -> str | None:
        """The column key ranges of `table` are cut on (a single-column integer primary key),
        or None: the table is read as one range."""

    @abstractmethod
    def split_points(self, table: Table, key: str, chunks: int) -> list[int]:
        """At most chunks-1 increasing values of `key` cutting `table` into ranges of about
        equal row counts ([]: one range)."""

    @abstractmethod
    def range_reader(self, consistency: str) -> str:
        """The name of the reader ranges are read with under `consistency` ("lock" or
        "snapshot"), for the run's notes and the tasks."""

    @abstractmethod
    def table_reader(
        self, reader: str, table: Table, size: int, splits: bool, options: CopyOptions, tables: int = 1
    ) -> tuple[str, int]:
        """(reader, rows per batch) for the ranges of `table` (`size` bytes; `splits`: it has a
        chunk key), starting from `reader`: a reader holding a range whole is not used for a
        table that cannot be cut and is bigger than `options.chunk_bytes`. `tables`: how many
        tables the run copies (a reader that connects anew for each range costs little next to
        a few tables, and most of the run next to thousands of small ones)."""

    @abstractmethod
    def begin_consistent(
        self, tables: Sequence[str], consistency: str, workers: int, notes: list[str]
    ) -> list[Dialect | None]:
        """Start one consistent view of `tables` for `workers` workers: "lock" keeps them from
        being written until `end_consistent` (every connection then reads the same rows);
        "snapshot" lines up one snapshot per worker, the source staying writable. Returns each
        worker's reader, a dialect of this engine that is a RangeReader too (None: this dialect,
        on any connection). Says in `notes` what the view
        could not do; raises CopyError (nothing copied) when the engine refuses it."""

    @abstractmethod
    def end_consistent(self, readers: Sequence[Dialect | None]) -> None:
        """End the view `begin_consistent` started (also after it failed); never raises: a
        lost connection is logged, the run's own error is the one that matters."""

    @abstractmethod
    def read_range(
        self, part: KeyRange, reader: str, batch_rows: int, batch_bytes: int, policies: ValuePolicies, tally: Tally
    ) -> Generator[pa.RecordBatch, None, None]:
        """The rows of `part` as batches of `part.table.arrow_schema`
        (the neutral types) of at most `batch_rows` rows and about `batch_bytes` bytes, the value
        policies applied (`policies`), read with `reader`. Seconds spent reading and converting
        go to `tally.stages`; a reader that cannot read the range hands it to another, saying so
        in `tally.reader` and `tally.notes`."""


class BulkWriter(ABC):
    """A target with a bulk path (e.g. PostgreSQL's binary COPY) that writes one Arrow batch
    per transaction faster than `Dialect.write_batches`, for the tables it supports."""

    @abstractmethod
    def bulk_supported(self, table: Table) -> bool:
        """Whether every column of `table` (a planned target table) can travel the bulk path."""

    @abstractmethod
    def write_path(self, bulk: bool) -> str:
        """How batches are written, the bulk path or not, for the run's notes."""

    @abstractmethod
    def write_bulk(self, table: Table, batch: pa.RecordBatch, stages: dict[str, float]) -> None:
        """Write `batch` into `table` in one transaction through the bulk path; add the seconds
        spent encoding to `stages["transform"]` and sending to `stages["write"]`. A refusal is a
        CopyError (`transient` as `is_transient` says) with `row_error=True` when it is about
        the rows' data or integrity, so the caller can isolate the refused rows."""


class ConcurrentBuilds(ABC):
    """A target whose keys and indexes, built after the data, can be built at once on several
    connections (the parallel copy's `build_constraints_parallel`)."""

    @abstractmethod
    def build_steps(self, table: Table) -> tuple[list[str], list[str]]:
        """`post_data_sql(table)` as (statements that may run at the same time as each other and
        as other tables', statements to run after all of those, one by one in their order)."""


class BatchedDDL(ABC):
    """A target that runs several DDL statements together, atomically: in one transaction (and
    one round trip), recorded together by a journaled run. Thousands of small tables are then
    created and indexed in a few hundred round trips instead of tens of thousands."""

    @abstractmethod
    def execute_together(self, statements: list[str]) -> None:
        """Run `statements` in their order, all or none: an error (XferError, naming the first
        statement when there are several) leaves none of them done, so the caller can run them
        again one by one to find the one refused."""


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
    def start_run(self, start: RunStart, retry: RetryPolicy) -> Journal:
        """A new run, with `start.tables` ((source name, target name, existed before the run) each),
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


# -- follow: ChangeSource, ChangeTarget (used by xfer.follow) -----------------------------------
class ChangeSource(ABC):
    """A source whose changes can be read from its change log (MySQL's binlog) from a position,
    as full row images, so that a copy taken without any lock is brought to the source's state
    by replaying the log from a position taken before its first row was read."""

    @abstractmethod
    def follow_problems(self, tables: Sequence[Table]) -> tuple[list[str], list[str]]:
        """(what stops following altogether: the log off or in the wrong format, missing
        privileges, each with what to set; notes: tables copied but not followed, and why)."""

    @abstractmethod
    def change_position(self) -> Position:
        """The end of the change log now (where an event written next will start)."""

    @abstractmethod
    def snapshot_position(self) -> Position | None:
        """Inside `snapshot()`: the log position the snapshot sees the data at (taken without
        any lock), or None where the engine does not say (then the cutover verifies every
        table while writes are held)."""

    @abstractmethod
    def position_available(self, position: Position) -> bool:
        """Whether the log still holds `position` (it may have been purged)."""

    @abstractmethod
    def read_changes(
        self,
        start: Position,
        tables: Mapping[str, Table],
        stop: Callable[[], bool],
        until: Position | None = None,
        max_events: int = 10_000,
        max_seconds: float = 0.5,
    ) -> Iterator[ChangeBatch]:
        """The log from `start` as batches of whole transactions touching `tables` (the source's
        tables by name; others are skipped), in log order: a batch ends after `max_events` row
        changes or `max_seconds`, and a schema change comes alone in a batch of its own. While
        the log is idle an empty batch comes about every second (the position moves on, `stop`
        is asked). Ends when `stop()` is true or `until` is reached. Raises XferError (transient
        where a retry from the last applied position may help) when the log cannot be read."""

    @abstractmethod
    def image_batch(
        self, table: Table, columns: Sequence[str], rows: Sequence[tuple[bytes | None, ...]], policies: ValuePolicies
    ) -> pa.RecordBatch:
        """Row images read by `read_changes` (values of `columns`) as a batch of
        `table.arrow_schema`, the neutral types, built by the same code as the copy's reader
        builds its batches, the value policies applied. A column of `table` the images lack is NULL."""

    @abstractmethod
    def hold_writes(self, tables: Sequence[str], mode: str) -> Callable[[], None]:
        """Keep `tables` from being written ("lock": a read lock held by a session of its own;
        "read_only": the server's read_only switched on) until the returned function is called
        (it never raises). Raises XferError when the server refuses, having changed nothing."""


@dataclass
class FollowState:
    """The follower of one run, as the target records it (xfer.follow)."""

    run_id: str
    source: str  # the source URL, password masked
    target: str
    state: str  # following | stopped | failed | cut over
    position: dict[str, Any]  # Position.as_dict() of the next event to apply
    copy_end: dict[str, Any]  # where the copy's rows are all brought up to date
    events: int = 0
    event_time: float | None = None  # the source's time of the last applied event (epoch s)
    lag_seconds: float | None = None
    tables: dict[str, dict[str, int]] = field(default_factory=dict)  # per source table: inserted/updated/deleted
    last_error: str | None = None
    updated: str | None = None  # ISO time of the last write
    alive: bool = False  # a follower process holds it now
    stop_requested: bool = False
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TableDelta:
    """One table's net changes in a batch, in the target's types: rows to upsert by key (in the
    order of their last change), keys to delete, whether the table was emptied first, and the
    foreign keys that point at it with an ON DELETE or ON UPDATE action the target must repeat."""

    table: Table  # the target table
    upserts: pa.RecordBatch | None = None
    deletes: pa.RecordBatch | None = None  # the key columns only
    children: list[tuple[Table, Any]] = field(default_factory=list)  # (child table, its ForeignKey)
    #: rows whose key changed: (old keys, new keys), row for row; their children follow them
    #: where the foreign key says ON UPDATE CASCADE / SET NULL (the source does not log that)
    moves: tuple[pa.RecordBatch, pa.RecordBatch] | None = None
    #: the keys of `deletes` that a delete removed (a moved key's children moved with it)
    removed: pa.RecordBatch | None = None


class ChangeTarget(ABC):
    """A target that applies captured changes set-based and exactly once: each batch, and the
    position after it, commit in one transaction; the follower's state lives beside the run
    journal. Applied changes fire no triggers and no foreign-key checks of the target (the source
    already ran them: its log holds their effects), except that ON DELETE actions, which the
    source does not log, are repeated by `apply_changes`."""

    @abstractmethod
    def follow_target_problems(self) -> list[str]:
        """What keeps changes from being applied here (e.g. a missing privilege), with the fix."""

    @abstractmethod
    def start_follow(self, state: FollowState) -> None:
        """Record a new follower (a run's), replacing one the run had."""

    @abstractmethod
    def follow_states(self) -> list[FollowState]:
        """Every recorded follower, oldest first ([] without a journal)."""

    @abstractmethod
    def claim_follow(self, run_id: str) -> bool:
        """Hold the run's follower lock for this session (False: another process holds it)."""

    @abstractmethod
    def apply_changes(self, state: FollowState, deltas: Sequence[TableDelta], ddl: Sequence[str] = ()) -> None:
        """In one transaction: `ddl`, then the deletes of every delta (with their ON DELETE
        actions), then the upserts, and `state` (its position, counts, lag) recorded. Raises
        XferError (transient as the connection's fate says); nothing is applied then."""

    @abstractmethod
    def save_follow(self, state: FollowState) -> None:
        """Record `state` (heartbeat, lag, stop/failure) in a transaction of its own."""

    @abstractmethod
    def add_column_sql(self, table: Table, column: Column) -> list[str]:
        """Statements adding `column` (planned for this target) to `table`."""

    @abstractmethod
    def following_foreign_keys_sql(self, table: Table) -> list[str]:
        """`table`'s foreign keys as a followed run creates them after its copy: enforced for new
        writes but not checked on the rows (a copy taken without a lock is no consistent picture
        of any moment until the log is replayed); `finish_cutover_sql` checks them."""

    @abstractmethod
    def request_stop(self, run_id: str) -> None:
        """Ask the run's follower to stop after the batch in hand (it asks between batches)."""

    @abstractmethod
    def stop_requested(self, run_id: str) -> bool:
        """Whether `request_stop` was called for the run (since its follower started)."""

    @abstractmethod
    def finish_cutover_sql(self, table: Table) -> list[str]:
        """What makes `table` ready for the application after the last change: identities past
        the maxima, foreign keys created NOT VALID during the follow validated."""

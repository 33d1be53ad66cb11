"""The contract every engine implements. One subclass per engine, one module per subclass.

A dialect owns everything engine-specific: connecting, introspection, reading rows as Arrow
record batches, writing them, DDL, and the engine's type tables (stated as data at the top of
each module). The pipeline and the verifier only ever talk to this interface.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from xfer.core.errors import ConnectError, MissingDriverError, XferError
from xfer.core.schema import Column, ForeignKey, Table, Trigger, View
from xfer.core.urls import Url

if TYPE_CHECKING:
    from xfer.core.canonical import Canon
    from xfer.core.policies import ValuePolicies


@dataclass(frozen=True)
class HashSQL:
    """How an engine spells the pieces of the canonical row hash (see `xfer.pushdown`).
    Templates take `{x}` (and `{start}`, `{w}` where noted)."""

    concat: tuple[str, str, str]  # (open, separator, close) joining text pieces
    length: str  # byte length of text {x}, as text
    md5: str  # MD5 of text {x}, as 32 lower-case hex digits
    hex_int: str  # 15 hex digits of {x} from 1-based {start}, as an integer
    int_div: str  # {x} divided by the positive integer {w}, for {x} >= 0, as an integer


def require(module: str, engine: str) -> Any:
    """Import a driver lazily so `xfer --help` works without it, and say what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDriverError(
            f"the {engine} driver ({module}) is not installed",
            hint="pip install xfer  (or: pip install 'xfer[all]')",
        ) from None


@dataclass(frozen=True)
class TargetTypes:
    """How an engine spells a neutral (Arrow) column as a target, as data; engines add code
    only where a value changes the answer (a length, a precision past the engine's limit)."""

    label: str  # how messages name the engine ("PostgreSQL")
    plain: Mapping[pa.DataType, str]  # Arrow type -> native type
    json: str  # a column holding JSON documents
    timestamp: str  # without a time zone
    timestamptz: str  # UTC instants
    decimal: str = "DECIMAL({p},{s})"
    arrays: bool = True  # list<x> as x[] (SQLite has no arrays)


class Dialect:
    """One connection-holding object per URL. Subclasses set the class attributes below."""

    name: ClassVar[str]
    #: engine limit, stated once: longest identifier in bytes
    max_identifier_length: ClassVar[int] = 10_000
    #: False when PKs and FKs must be declared in CREATE TABLE (SQLite)
    can_add_constraints_later: ClassVar[bool] = True
    #: False when the engine cannot hold foreign keys usefully after load (DuckDB)
    supports_foreign_keys: ClassVar[bool] = True

    #: set by a journaled run (xfer.journal): every DDL statement `execute` runs goes through it
    #: (statements that run together, `BatchedDDL.execute_together`, go through it at once)
    ddl_hook: Callable[[Dialect, list[str]], None] | None = None

    def __init__(self, url: Url) -> None:
        self.url = url

    # -- connection -----------------------------------------------------------------------
    def connect(self) -> None:
        """Open the connection(s); raise ConnectError naming host and database on failure."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def cancel(self) -> None:
        """Cancel the statement this connection is running, called from another thread (a second
        Ctrl-C): its transaction then fails and rolls back. Default: nothing (it finishes)."""

    def is_transient(self, exc: BaseException) -> bool:
        """Whether the driver error `exc` may go away on its own (a dropped connection, a server
        restart, a deadlock, a serialization failure), so the work is worth trying again.
        Dialects set XferError.transient with it where they convert driver errors."""
        return False

    def reconnect(self) -> None:
        """Replace a lost connection with a new one (same settings); raise ConnectError."""
        self.close()
        self.connect()

    def check_exists(self) -> None:
        """Before connecting to a database that must already exist: raise ConnectError if it
        does not (embedded engines would otherwise create an empty file)."""

    def check_source(self) -> None:
        """After connecting to a database read from: raise ConnectError if what the URL names
        inside it (e.g. a PostgreSQL schema) does not exist."""

    def __enter__(self) -> Dialect:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- introspection --------------------------------------------------------------------
    def list_tables(self) -> list[str]:
        """Base tables (not views) of the database/schema the URL names, in name order."""
        raise NotImplementedError

    def introspect(self, names: Iterable[str]) -> list[Table]:
        """Full `Table` models for `names`: columns with their neutral Arrow types, primary key,
        indexes (not the PK's), foreign keys, and a row estimate (cheap, may be None)."""
        raise NotImplementedError

    def count_rows(self, table: str) -> int:
        """Exact row count."""
        raise NotImplementedError

    def table_has_rows(self, table: str) -> bool:
        """Whether `table` holds any row (engines answer without counting them all)."""
        return self.count_rows(table) > 0

    def list_views(self) -> list[View]:
        """Views of the database/schema the URL names, with their SQL (none where the engine
        cannot list them as a source)."""
        return []

    def list_triggers(self) -> list[Trigger]:
        """Triggers on the listed tables, with their bodies (none where not read)."""
        return []

    def catalogue_notes(self) -> list[str]:
        """What the catalogue holds that is not migrated (stored routines, events), for the plan."""
        return []

    # -- reading --------------------------------------------------------------------------
    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Make every read inside the block see one consistent point in time."""
        yield

    def read_batches(
        self, table: Table, batch_rows: int, where: str | None = None, policies: ValuePolicies | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Stream every row of `table` as record batches of at most `batch_rows` rows whose
        schema is `table.arrow_schema` (the neutral types introspection gave). Never holds the
        whole table in memory. NULLs stay NULL; values are exact (no float or decimal text
        round-trips that lose digits). `where` (a mapping file's row filter, an SQL condition
        in this engine's dialect) keeps only the rows it holds for; an invalid one raises
        CopyError with the engine's message. A value the neutral type cannot hold (a MySQL zero
        date) goes through `policies` (`xfer.policies.ValuePolicies`): counted as NULL, or its
        row left out of the batch and recorded as rejected."""
        raise NotImplementedError

    # -- types ----------------------------------------------------------------------------
    def arrow_type(self, native_type: str) -> pa.DataType:
        """The neutral Arrow type of a native type string of this engine."""
        raise NotImplementedError

    #: as a target: the engine's types (None: a source only)
    target_types: ClassVar[TargetTypes | None] = None

    def native_type(self, column: Column) -> str:
        """The native type this engine uses to hold `column`'s values (as a target), from
        `target_types`; raises XferError naming the column when the engine has none."""
        types = self.target_types
        if types is None:
            raise NotImplementedError
        t = column.arrow
        if column.meta.get("json"):
            return types.json
        if pa.types.is_decimal(t):
            return types.decimal.format(p=t.precision, s=t.scale)
        if pa.types.is_timestamp(t):
            return types.timestamptz if t.tz else types.timestamp
        if types.arrays and pa.types.is_list(t):
            return self.native_type(Column(column.name, "", t.value_type)) + "[]"
        if t in types.plain:
            return types.plain[t]
        raise XferError(f"column {column.name!r}: no {types.label} type for Arrow type {t}")

    def column_meta(self, native_type: str) -> dict[str, Any]:
        """Facts Arrow cannot carry about a native type (json, declared length, char)."""
        return {}

    # -- writing --------------------------------------------------------------------------
    def quote(self, ident: str) -> str:
        """Quote an identifier so any name (quotes, spaces, keywords) is safe."""
        return '"' + ident.replace('"', '""') + '"'

    def qualified(self, table: str) -> str:
        return self.quote(table)

    def create_table_sql(self, table: Table) -> list[str]:
        """Statements creating `table` without indexes (and, where the engine allows adding
        them later, without primary or foreign keys: those come after the data)."""
        cols = [self.column_ddl(c) for c in table.columns]
        if not self.can_add_constraints_later:
            if table.primary_key:
                cols.append(f"PRIMARY KEY ({self.column_list(table.primary_key)})")
            cols.extend(self.foreign_key_ddl(fk) for fk in table.foreign_keys)
        return [f"CREATE TABLE {self.qualified(table.name)} (\n  " + ",\n  ".join(cols) + "\n)"]

    def column_ddl(self, c: Column) -> str:
        ddl = f"{self.quote(c.name)} {c.native_type}"
        return ddl if c.nullable else ddl + " NOT NULL"

    def column_list(self, names: Iterable[str]) -> str:
        return ", ".join(self.quote(n) for n in names)

    def foreign_key_ddl(self, fk: ForeignKey) -> str:
        sql = (
            f"CONSTRAINT {self.quote(fk.name)} FOREIGN KEY ({self.column_list(fk.columns)}) "
            f"REFERENCES {self.qualified(fk.ref_table)} ({self.column_list(fk.ref_columns)})"
        )
        if fk.on_delete and fk.on_delete != "NO ACTION":
            sql += f" ON DELETE {fk.on_delete}"
        if fk.on_update and fk.on_update != "NO ACTION":
            sql += f" ON UPDATE {fk.on_update}"
        return sql

    def post_data_sql(self, table: Table) -> list[str]:
        """Primary key and indexes, run after the rows are in."""
        out = []
        if table.primary_key and self.can_add_constraints_later:
            out.append(
                f"ALTER TABLE {self.qualified(table.name)} ADD PRIMARY KEY ({self.column_list(table.primary_key)})"
            )
        for ix in table.indexes:
            unique = "UNIQUE " if ix.unique else ""
            out.append(
                f"CREATE {unique}INDEX {self.quote(ix.name)} ON {self.qualified(table.name)} "
                f"({self.column_list(ix.columns)})"
            )
        return out

    def foreign_keys_sql(self, table: Table) -> list[str]:
        """Foreign keys, run once every table's data and keys are in."""
        if not (self.can_add_constraints_later and self.supports_foreign_keys):
            return []
        return [f"ALTER TABLE {self.qualified(table.name)} ADD {self.foreign_key_ddl(fk)}" for fk in table.foreign_keys]

    def execute(self, sql: str) -> None:
        """Run one DDL/DML statement and commit."""
        raise NotImplementedError

    def table_exists(self, name: str) -> bool:
        return name in self.list_tables()

    def drop_table(self, name: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS {self.qualified(name)}")

    def truncate_tables(self, names: list[str]) -> None:
        """Empty `names` (given parents first) and nothing else."""
        for name in reversed(names):
            self.execute(f"DELETE FROM {self.qualified(name)}")

    def write_batches(self, table: Table, batches: Iterable[pa.RecordBatch]) -> Iterator[int]:
        """Append `batches` (schema = `table.arrow_schema`, already in this engine's types)
        to the existing `table`, committing after each batch; yield the rows of each batch
        once it is committed, so a caller can report progress."""
        raise NotImplementedError

    def type_exists(self, native_type: str) -> bool | None:
        """Whether this engine knows the type (as a target); None when it cannot tell."""
        return None

    def known_type_names(self) -> set[str]:
        """Base type names this engine can report (as a source); empty when it cannot tell."""
        return set()

    def create_schema(self) -> None:
        """Create the namespace the URL names (PostgreSQL's `?schema=`) if missing; nothing where
        the database is the namespace."""

    def prepare_for_load(self, concurrent_builds: bool = False) -> None:
        """Session settings for a bulk load (optional). `concurrent_builds`: this session builds
        indexes while others do too (the builds already occupy the cores)."""

    #: False when text cannot hold U+0000 (PostgreSQL): the NUL-byte policy then applies
    text_holds_nul: ClassVar[bool] = True
    #: True where a date can be zero ('0000-00-00': MySQL); they are read as NULL (counted)
    has_zero_dates: ClassVar[bool] = False

    # -- verification ---------------------------------------------------------------------
    #: placeholder for parameters in `verify_query` and `read_rows` conditions
    param_marker: ClassVar[str] = "%s"
    #: the pieces of the canonical row hash in this engine's SQL; None: hashed client side only
    hash_sql: ClassVar[HashSQL | None] = None
    #: False when the connection may only be used by the thread that opened it (sqlite3)
    reads_in_any_thread: ClassVar[bool] = True
    #: False: introspection skips reading the data to decide types (MySQL's tinyint(1) probe);
    #: the verifier takes the decision from the target instead
    probe_data: bool = True
    #: how the last `verify_batches` read its rows (the report says it)
    verify_reader: str = ""

    def key_bounds(self, table: Table, column: str) -> tuple[Any, Any, int]:
        """(MIN, MAX) of `column` and the row count of `table`, on the main connection, to cut
        the table into key ranges. A driver error is raised as it is (`is_transient` tells)."""
        q = self.quote(column)
        sql = f"SELECT MIN({q}), MAX({q}), COUNT(*) FROM {self.qualified(table.name)}"
        ((lo, hi, n),) = self._query(sql)  # type: ignore[attr-defined]  # every engine's own
        return lo, hi, int(n)

    def verify_query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query for the verifier and return every row. Inside `snapshot()` it
        sees the snapshot. Values come back as the driver gives them (numbers may be text or
        bytes): callers convert."""
        raise NotImplementedError

    @contextmanager
    def read_lock(self, tables: Sequence[str]) -> Iterator[str | None]:
        """Hold `tables` read-only (others may read, writes wait) for the block, so that readers
        on other connections see the same rows as `snapshot()`; yields a note for the report, or
        None when the engine needs no lock (its own snapshot covers every reader)."""
        yield None

    @contextmanager
    def live_reads(self, tables: Sequence[str]) -> Iterator[str | None]:
        """`--consistency live`: for the block, the verifier reads `tables` as they are, with no
        lock and no snapshot (writes never wait), so it may read them in pieces on several
        connections, each piece at its own moment; yields a note for the report, or None."""
        yield None

    def verify_batches(self, table: Table, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Every row of `table` for the verifier, as `read_batches` gives them (the default). An
        engine may override it with a faster bulk path (PostgreSQL: ADBC; MySQL under
        `read_lock`: connectorx), naming it in `verify_reader` for the report."""
        self.verify_reader = "its own driver"
        return self.read_batches(table, batch_rows)

    def read_rows(self, table: Table, where: str, params: Sequence[Any], batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Like `read_batches`, restricted to the rows matching the SQL condition `where`
        (`param_marker` placeholders bound to `params`). Inside `snapshot()` it reads the snapshot."""
        raise NotImplementedError

    def canonical_sql(self, column: Column, canon: Canon) -> tuple[str, str] | None:
        """`(null_condition, text)`: SQL rendering the canonical text (see `xfer.canonical`) of
        a non-NULL value of `column` as this engine stores it, compared by `canon`'s rule, and the
        condition under which the value counts as NULL (MySQL: zero dates too). The text must be
        byte-for-byte what the client-side encoding gives for the same value: every rendering is
        tested against it. None when the engine cannot render it exactly (floats in MySQL, JSON
        everywhere): the verifier then hashes that table client side."""
        return None


class EmbeddedDialect(Dialect):
    """An engine whose database is a file named by the URL's path (SQLite, DuckDB)."""

    label: ClassVar[str]  # "SQLite", "DuckDB": how messages name the engine
    conn: Any

    @property
    def driver_error(self) -> type[Exception]:
        """The driver's base exception class (the driver is imported lazily, at connect)."""
        raise NotImplementedError

    def execute(self, sql: str) -> None:
        """One statement (a mapping file's hook), autocommitted."""
        try:
            self.conn.execute(sql)
        except self.driver_error as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise XferError(f"{self.label} refused: {sql.splitlines()[0][:120]}: {first}") from None

    def count_rows(self, table: str) -> int:
        return int(self._query(f"SELECT count(*) FROM {self.quote(table)}")[0][0])

    def table_has_rows(self, table: str) -> bool:
        return bool(self._query(f"SELECT 1 FROM {self.quote(table)} LIMIT 1"))

    def _query(self, sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def check_exists(self) -> None:
        # Opening a missing file would silently create an empty database.
        if self.url.path != ":memory:" and not os.path.exists(self.url.path):
            raise ConnectError(f"{self.label} database {self.url.path!r} does not exist")

    def close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()


_PARAMS = re.compile(r"^\s*([a-zA-Z ]+?)\s*(?:\((\d+)(?:\s*,\s*(\d+))?\))?\s*(unsigned)?\s*$")


def split_type(native: str) -> tuple[str, int | None, int | None, bool]:
    """ "numeric(12, 2)" -> ("numeric", 12, 2, False); "int(10) unsigned" -> ("int", 10, None, True).
    Types with other shapes (enum('a','b'), timestamp with time zone) return the base name."""
    m = _PARAMS.match(native.lower())
    if not m:
        base = native.lower().split("(", 1)[0].strip()
        return base, None, None, "unsigned" in native.lower()
    p = int(m[2]) if m[2] else None
    s = int(m[3]) if m[3] else None
    return m[1].strip(), p, s, bool(m[4])

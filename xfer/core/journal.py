"""The run journal's neutral model: what a journaled run records (runs, chunks, the objects its
DDL made) and the interface of one run's journal (`Journal`), whatever engine keeps it.

A target that keeps a journal declares `xfer.dialects.capabilities.JournalStore`; its package
implements `Journal` (PostgreSQL: `xfer.dialects.postgres.journal`). The copy and the run
lifecycle see only the types here, so they never depend on an engine.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from xfer.core.checksum import BucketMap, Checksum, KeySpec
from xfer.core.errors import UsageError

#: where the journal lives in the target (a schema, in PostgreSQL); users see this name
JOURNAL_SCHEMA = "_xfer"


@dataclass(frozen=True)
class RunStart:
    """What a new run records first: source and target URLs (masked), its options by flat name,
    the plan's summary (a resumed run must match its fingerprint), and its tables as
    (source name, target name, existed before the run)."""

    source: str
    target: str
    args: dict[str, Any]
    plan: dict[str, Any]
    tables: list[tuple[str, str, bool]]


@dataclass
class RunInfo:
    run_id: str
    started: Any
    finished: Any
    status: str
    source: str
    target: str
    fingerprint: str
    plan: dict[str, Any]
    created_journal: bool
    resumes: int
    error: str | None

    @property
    def unfinished(self) -> bool:
        return self.status != "done"


@dataclass
class ChunkState:
    table: str
    chunk: int
    key: str | None
    lo: int | None
    hi: int | None
    done: bool = False
    rows: int = 0
    rejected: int = 0
    buckets: dict[int, Checksum] = field(default_factory=dict)  # verification's bucket checksums
    bytes: int = 0
    policies: dict[str, dict[str, int]] = field(default_factory=dict)  # column -> policy -> values changed


@dataclass
class ChunkMark:
    """Filled in by the copy of one chunk; written with the chunk's rows when it commits."""

    rows: int = 0
    bytes: int = 0
    checksum: BucketMap | None = None  # the written rows' bucket checksums (None: not verified)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    policies: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True, order=True)
class CatalogObject:
    """One schema object of the target, as a run's step made it: `ident` is a function's
    argument list, or the table an index, sequence, trigger or constraint belongs to ('' otherwise);
    `oid` tells the very object from a same-named one made later."""

    kind: str
    schema: str
    name: str
    ident: str = ""
    oid: int = 0

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.schema, self.name, self.ident)

    def __str__(self) -> str:
        q = f"{self.schema}.{self.name}" if self.kind != "schema" else self.name
        if self.kind == "function":
            return f"function {q}({self.ident})"
        if self.kind in ("trigger", "constraint") or (self.kind in ("index", "sequence") and self.ident):
            return f"{self.kind} {self.name} on {self.schema}.{self.ident}"
        return f"{self.kind} {q}"

    def part_of(self, tables: set[tuple[str, str]]) -> bool:
        """True for an index, constraint, trigger or owned sequence of one of `tables`."""
        return self.kind in ("index", "constraint", "trigger", "sequence") and (self.schema, self.ident) in tables


class HasDDLHook(Protocol):
    """What `Journal.attach` needs of a dialect: the hook its `execute` sends DDL through."""

    ddl_hook: Callable[[Any, list[str]], None] | None


DDLTarget = TypeVar("DDLTarget", bound=HasDDLHook)


class Journal(ABC):
    """The journal of one run, on its own connection to the target. Started or resumed by the
    target's `JournalStore`; `close()` closes that connection."""

    run: RunInfo
    #: True when this process carries on an earlier, unfinished run
    resumed: bool
    #: chunks a resumed run found done (and did not copy again)
    kept_chunks: int

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @abstractmethod
    def close(self) -> None:
        """Close the journal's connection."""

    # -- tables and chunks ---------------------------------------------------------------------
    @abstractmethod
    def chunks(self, table: str) -> list[ChunkState]:
        """The recorded chunks of `table` (empty before `add_chunks`)."""

    @abstractmethod
    def spec(self, table: str) -> KeySpec | None:
        """How verification buckets `table`'s rows in this run (as first recorded)."""

    @abstractmethod
    def add_chunks(
        self, table: str, ranges: list[tuple[str | None, int | None, int | None]], spec: KeySpec | None = None
    ) -> list[ChunkState]:
        """The chunks of `table` ((key column, exclusive low, inclusive high) each) and the
        bucket spec its verification uses: recorded once, at the first run; a resumed run gets
        the recorded ones back, whatever it passes (chunk checksums only add up in one spec)."""

    @abstractmethod
    def set_table(self, table: str, state: str, error: str | None = None) -> None:
        """Record `table`'s state: pending | copying | copied | failed (with the error)."""

    @abstractmethod
    def attempt(self, c: ChunkState) -> None:
        """Count a try at a chunk (outside its transaction, so interrupted tries show)."""

    @abstractmethod
    def chunk(self, d: object, c: ChunkState) -> AbstractContextManager[ChunkMark]:
        """One transaction on `d` (the target dialect whose connection writes the chunk's rows):
        the rows the block writes, the chunk's done mark and its refused rows commit together
        or not at all, so a chunk is copied exactly once. Marks `c` done when it commits."""

    @abstractmethod
    def rejects(self) -> list[dict[str, Any]]:
        """Every refused row of the run (this process's and earlier ones'), in chunk order."""

    @abstractmethod
    def preexisting_tables(self) -> list[str]:
        """Target tables that existed before the run (it did not create them)."""

    # -- DDL steps and the end -----------------------------------------------------------------
    @abstractmethod
    def attach(self, d: DDLTarget) -> DDLTarget:
        """Route `d`'s DDL through the journal: each statement its `execute` runs becomes a
        recorded step (done once per run, with the record of what it created); statements run
        together (`BatchedDDL`) are recorded together, in their one transaction."""

    @abstractmethod
    def finish(self, status: str, error: str | None = None) -> None:
        """Close the run with `status` (done | failed) and the error, if any."""


# -- encodings and identities the journal stores ---------------------------------------------------
def buckets_text(m: BucketMap | None) -> str | None:
    """bucket:rows:h1:h2,... (exact integers; the sums outgrow bigint)"""
    if m is None:
        return None
    return ",".join(f"{b}:{c.rows}:{c.h1}:{c.h2}" for b, c in sorted(m.buckets.items()))


def buckets_of(text: str | None) -> dict[int, Checksum]:
    out: dict[int, Checksum] = {}
    for item in (text or "").split(","):
        if item:
            b, rows, h1, h2 = (int(x) for x in item.split(":"))
            out[b] = Checksum(rows, h1, h2)
    return out


def spec_text(spec: KeySpec) -> str:
    d = {"mode": spec.mode, "key": list(spec.key), "width": spec.width, "buckets": spec.buckets}
    return json.dumps(d | {"scheme": spec.scheme})


def spec_of(text: str) -> KeySpec:
    d = json.loads(text)
    return KeySpec(d["mode"], tuple(d["key"]), d["width"], d["buckets"], d.get("scheme", "md5"))


def fingerprint(summary: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(summary, sort_keys=True, default=str).encode()).hexdigest()[:16]


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


def rejected_rows(records: list[dict[str, Any]]) -> int:
    """Rows, not records: a row refused for two columns is one row."""
    return len({(r.get("table"), json.dumps(r.get("key"), sort_keys=True, default=str)) for r in records})


def check_resumable(run: RunInfo, plan: dict[str, Any]) -> None:
    """Raise UsageError unless `run` was planned exactly like `plan` (so it may be resumed)."""
    if run.fingerprint != fingerprint(plan):
        raise UsageError(
            f"cannot resume run {run.run_id}: it was planned differently ({_plan_difference(run.plan, plan)})",
            hint=f"run the command it was started with, plus --resume; or undo it: xfer rollback TARGET "
            f"--run {run.run_id}",
        )


def _plan_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    o, n = old.get("tables", {}), new.get("tables", {})
    added, removed = sorted(set(n) - set(o)), sorted(set(o) - set(n))
    if added or removed:
        parts = ([f"tables added: {', '.join(added)}"] if added else []) + (
            [f"tables left out: {', '.join(removed)}"] if removed else []
        )
        return "; ".join(parts)
    changed = sorted(k for k in n if n[k] != o.get(k))
    if changed:
        return f"tables defined differently: {', '.join(changed[:5])}"
    diff = sorted(k for k in set(o) | set(n) if k != "tables" and o.get(k) != n.get(k))
    return f"different {', '.join(diff)}" if diff else "different plan"

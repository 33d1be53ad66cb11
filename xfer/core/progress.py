"""Progress: the library reports what happens as it happens; the caller decides how to show it.

A run reports events (`ProgressEvents`), from worker threads as well as its own:

- `phase_started(name, total)`: "copy", "index" (total: keys, indexes and foreign keys to build)
  or "verify" (total: tables to check); `phase_step()` as each step of it is done;
- `expect(table, rows)`: the source's estimate of a table's rows, before the copy, so that an
  overall total and an ETA exist before the first row arrives;
- `table_started(name, rows)`, `table_rows(name, n, nbytes)`, `table_done(name)`: a table (or one
  side of a verified table) being read now, from its first chunk to its last;
- `close()`: the run is over (done, failed or interrupted).

`Tracker` keeps the state those events describe (what is running, rows and bytes done, the
estimated total corrected as rows arrive) and computes rates and the ETA; a display reads its
`snapshot()`. The older interface, a `ProgressFactory(name, total_rows) -> Progress(update,
close)`, still works: `as_events` turns one into events (a bar per table being read now).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class Progress(Protocol):
    def update(self, n: int) -> None: ...
    def close(self) -> None: ...


ProgressFactory = Callable[[str, int | None], Progress]


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def no_progress(name: str, total: int | None) -> Progress:
    return _NoProgress()


class ProgressEvents:
    """What a run reports as it goes (every method may be called from any thread). This base
    does nothing: override what you want to see."""

    def phase_started(self, name: str, total: int | None = None) -> None:
        pass

    def phase_step(self, n: int = 1) -> None:
        pass

    def expect(self, table: str, rows: int | None) -> None:
        pass

    def table_started(self, name: str, rows: int | None) -> None:
        pass

    def table_rows(self, name: str, n: int, nbytes: int = 0) -> None:
        pass

    def table_done(self, name: str) -> None:
        pass

    def close(self) -> None:
        pass


class _Bars(ProgressEvents):
    """A `ProgressFactory`'s bars as events: a bar made when a table starts, closed when it is done."""

    def __init__(self, factory: ProgressFactory) -> None:
        self.factory = factory
        self.bars: dict[str, Progress] = {}
        self.lock = threading.Lock()

    def table_started(self, name: str, rows: int | None) -> None:
        with self.lock:
            if name in self.bars:
                return
        bar = self.factory(name, rows)  # outside the lock: a caller's factory may take its time
        with self.lock:
            self.bars[name] = bar

    def table_rows(self, name: str, n: int, nbytes: int = 0) -> None:
        with self.lock:
            bar = self.bars.get(name)
        if bar is not None:
            bar.update(n)

    def table_done(self, name: str) -> None:
        with self.lock:
            bar = self.bars.pop(name, None)
        if bar is not None:
            bar.close()

    def close(self) -> None:
        for name in list(self.bars):
            self.table_done(name)


def as_events(progress: ProgressFactory | ProgressEvents | None) -> ProgressEvents:
    """The events to report to: `progress` itself, or a factory's bars, or nothing."""
    if progress is None or progress is no_progress:
        return ProgressEvents()
    if isinstance(progress, ProgressEvents):
        return progress
    return _Bars(progress)


@dataclass
class TableState:
    name: str
    estimate: int | None
    rows: int = 0
    bytes: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        return self.rows / max(time.monotonic() - self.started, 1e-3)

    @property
    def total(self) -> int | None:
        """The estimate, grown to the rows seen when the table has more than was estimated."""
        return None if self.estimate is None else max(self.estimate, self.rows)


@dataclass
class Snapshot:
    """The state of the run at one moment, for a display."""

    phase: str | None
    phase_total: int | None  # steps of an index or verify phase
    phase_done: int
    elapsed: float  # seconds since the phase started
    rows: int  # rows done in this phase
    rows_total: int | None  # the estimated rows of this phase (copy), grown as tables exceed theirs
    bytes: int
    rate: float  # rows per second over the phase
    eta: float | None  # seconds, from the estimate and the rate
    tables: list[TableState]  # being read now, in the order they started

    @property
    def fraction(self) -> float | None:
        if self.phase_total:
            return min(self.phase_done / self.phase_total, 1.0)
        if self.rows_total:
            return min(self.rows / self.rows_total, 1.0)
        return None


class Tracker(ProgressEvents):
    """The run's state as its events describe it (thread-safe); `snapshot()` for a display.

    The copy's total is the sum over tables of the source's estimate, corrected as rows arrive:
    a table done counts what it had, a table that has passed its estimate counts what it has so
    far (so the total grows and the percentage never passes 100%). The ETA is the rows still
    expected at the phase's rate so far."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.phase: str | None = None
        self.phase_total: int | None = None
        self.phase_done = 0
        self.phase_t0 = time.monotonic()
        self.estimates: dict[str, int | None] = {}
        self.done_rows: dict[str, int] = {}  # rows per expected table so far
        self.finished: set[str] = set()
        self.active: dict[str, TableState] = {}
        self.rows = 0
        self.bytes = 0

    # -- events ---------------------------------------------------------------------------------
    def phase_started(self, name: str, total: int | None = None) -> None:
        with self.lock:
            self.phase, self.phase_total, self.phase_done = name, total, 0
            self.phase_t0 = time.monotonic()
            self.active.clear()
            self.rows = self.bytes = 0
            if name != "copy":  # the copy's estimates were given (`expect`) just before it
                self.estimates.clear()
                self.done_rows.clear()
                self.finished.clear()

    def phase_step(self, n: int = 1) -> None:
        with self.lock:
            self.phase_done += n

    def expect(self, table: str, rows: int | None) -> None:
        with self.lock:
            self.estimates[table] = rows

    def table_started(self, name: str, rows: int | None) -> None:
        with self.lock:
            if name not in self.active:
                self.active[name] = TableState(name, rows)
            if name not in self.estimates:
                self.estimates[name] = rows

    def table_rows(self, name: str, n: int, nbytes: int = 0) -> None:
        with self.lock:
            self.rows += n
            self.bytes += nbytes
            self.done_rows[name] = self.done_rows.get(name, 0) + n
            t = self.active.get(name)
            if t is not None:
                t.rows += n
                t.bytes += nbytes

    def table_done(self, name: str) -> None:
        with self.lock:
            self.active.pop(name, None)
            self.finished.add(name)

    # -- reading --------------------------------------------------------------------------------
    def rows_total(self) -> int | None:
        """The rows this phase is expected to see, as corrected so far (None: no estimate)."""
        with self.lock:
            if not self.estimates or all(e is None for e in self.estimates.values()):
                return None
            total = 0
            for name, est in self.estimates.items():
                seen = self.done_rows.get(name, 0)
                total += seen if name in self.finished else max(est or 0, seen)
            return total

    def snapshot(self) -> Snapshot:
        with self.lock:
            elapsed = max(time.monotonic() - self.phase_t0, 1e-3)
            rate = self.rows / elapsed
            total = self.rows_total()
            eta = None
            if self.phase_total:
                done = self.phase_done
                eta = (self.phase_total - done) * elapsed / done if done else None
            elif total is not None and self.rows:
                eta = max(total - self.rows, 0) / rate
            return Snapshot(
                self.phase,
                self.phase_total,
                self.phase_done,
                elapsed,
                self.rows,
                total,
                self.bytes,
                rate,
                eta,
                [TableState(t.name, t.estimate, t.rows, t.bytes, t.started) for t in self.active.values()],
            )

"""The follower: read the source's log from the recorded position, collapse each batch to its
net changes, convert them like copied rows, and apply them with the position after them in one
target transaction. Stops when asked (a signal, `stop`, a cutover's request, `until`), after the
batch in hand; transient errors (a server restarting) are retried from the last applied position.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from xfer.copy.ddl import collations_sql
from xfer.core.changes import ChangeBatch, Position, RowsChange, SchemaChange
from xfer.core.errors import UsageError, XferError
from xfer.core.options import Options
from xfer.dialects.base import Dialect
from xfer.dialects.capabilities import ChangeSource, ChangeTarget, FollowState, TableDelta
from xfer.follow.deltas import Converter, children_of, delta_keys, followable, log_table
from xfer.follow.net import collapse
from xfer.planning.build import Plan, TablePlan
from xfer.planning.make import make_plan

log = logging.getLogger("xfer")
READ_AHEAD = 1  # batches read and decoded ahead of the one being applied
SAVE_IDLE_S = 0.5  # an idle follower records its moving position this often
ASK_STOP_S = 0.5  # and asks whether a cutover wants it to stop this often


@dataclass
class FollowResult:
    """What one follower session did: from where to where, how many row changes in how many
    batches, why it stopped ("stopped", "caught up", "cutover"), per table counters."""

    run_id: str
    start: Position
    end: Position
    events: int = 0
    batches: int = 0
    seconds: float = 0.0
    stopped: str = "stopped"
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "start": self.start.as_dict(),
            "end": self.end.as_dict(),
            "events": self.events,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "stopped": self.stopped,
            "notes": self.notes,
        }


def check_followable(source: Dialect, target: Dialect, tables: list[Any]) -> list[str]:
    """Raise UsageError (nothing done) when the pair cannot be followed; return notes."""
    if not isinstance(source, ChangeSource):
        raise UsageError(f"--follow: a {source.name} source has no change log xfer can read (MySQL/MariaDB only)")
    if not isinstance(target, ChangeTarget):
        raise UsageError(f"--follow: changes are applied to PostgreSQL targets only ({target.name} target)")
    problems, notes = source.follow_problems(tables)
    problems += target.follow_target_problems()
    if problems:
        raise UsageError("cannot follow this source: " + "; ".join(problems), hint="nothing was changed")
    return notes


def find_state(target: Dialect, source_url: str, target_url: str, run_id: str | None = None) -> FollowState:
    """The follower of this source and target (the latest run's, or `run_id`'s)."""
    assert isinstance(target, ChangeTarget)
    states = [
        s
        for s in target.follow_states()
        if (run_id is None and s.source == source_url and s.target == target_url) or s.run_id == run_id
    ]
    if not states:
        raise UsageError(
            "no followed run of this source in the target",
            hint="start one with `xfer migrate SOURCE TARGET --follow`",
        )
    return states[-1]


def options_of(state: FollowState, given: Options) -> Options:
    """The options the run recorded (a mapping file cannot be recorded: it is given again)."""
    recorded = {k: v for k, v in state.options.items() if k not in ("mapping_used",)}
    if isinstance(recorded.get("tables"), list):
        recorded["tables"] = tuple(recorded["tables"])
    if isinstance(recorded.get("exclude"), list):
        recorded["exclude"] = tuple(recorded["exclude"])
    if state.options.get("mapping_used") and given.mapping is None:
        raise UsageError("the run used a mapping file: pass the same one with -m/--mapping")
    return (
        Options.build(**recorded).with_(mapping=given.mapping)
        if given.mapping is not None
        else Options.build(**recorded)
    )


class Follower:
    """Applies the log of `source` to `target` for one run's `state`, as `the_plan` maps it."""

    def __init__(self, source: Dialect, target: Dialect, the_plan: Plan, options: Options, state: FollowState) -> None:
        assert isinstance(source, ChangeSource) and isinstance(target, ChangeTarget)
        self.source, self.target, self.changes, self.applier = source, target, source, target
        self.options, self.state, self.plan = options, state, the_plan
        self.notes: list[str] = []
        self.followed: dict[str, TablePlan] = {}
        for tp in the_plan.tables:
            why = followable(tp)
            if why:
                self.notes.append(f"{tp.source.name}: copied but not followed: {why}")
                continue
            # by the name the source's log uses (a mapping may label the table otherwise)
            self.followed[log_table(tp).name] = tp
        self.children = children_of(the_plan)
        self.converters: dict[str, Converter] = {}
        #: the target keys each table's applied changes touched (source names), when collected
        self.touched: dict[str, set[tuple[object, ...]]] | None = None
        self.tables = {n: log_table(tp) for n, tp in self.followed.items()}

    def _converter(self, name: str) -> Converter:
        c = self.converters.get(name)
        if c is None:
            tp = self.followed[name]
            c = Converter(self.source, self.target, tp, self.options, self.children.get(tp.target.name, []))
            self.converters[name] = c
        return c

    def run(self, stop: Callable[[], bool], until: Position | None = None) -> FollowResult:
        state = self.state
        if not self.applier.claim_follow(state.run_id):
            raise UsageError(
                f"run {state.run_id} is being followed by another process",
                hint="stop it first (Ctrl-C), or run `xfer cutover`, which takes over from it",
            )
        start = Position.from_dict(state.position)
        result = FollowResult(state.run_id, start, start, notes=list(self.notes))
        t0 = time.monotonic()
        saved = asked = time.monotonic()
        requested = False

        def stopping() -> bool:  # asked on this thread, between batches (the reader has its own)
            nonlocal asked, requested
            if stop():
                return True
            if time.monotonic() - asked >= ASK_STOP_S:
                asked = time.monotonic()
                requested = self.applier.stop_requested(state.run_id)
            return requested

        state.state, state.last_error, state.stop_requested = "following", None, False
        self.applier.save_follow(state)
        attempt = 0
        try:
            while True:
                try:
                    at = Position.from_dict(state.position)
                    for batch in self._read_ahead(at, stop, until):
                        if stopping():
                            break
                        if batch.changes:
                            self._apply(batch, result)
                        elif batch.end.key() != Position.from_dict(state.position).key() or (
                            time.monotonic() - saved >= SAVE_IDLE_S
                        ):
                            state.position, state.lag_seconds = batch.end.as_dict(), 0.0
                            self.applier.save_follow(state)
                            saved = time.monotonic()
                        attempt = 0
                    break
                except XferError as exc:
                    if not exc.transient or attempt >= max(self.options.run.retries, 1) * 3:
                        raise
                    attempt += 1
                    log.warning("following: %s; trying again from %s", exc.message, state.position)
                    time.sleep(min(0.5 * 2**attempt, 5.0))
                    self._reconnect()
                    self._reload()
        except BaseException as exc:
            state.state = "failed" if isinstance(exc, XferError) else "stopped"
            state.last_error = exc.message if isinstance(exc, XferError) else None
            try:
                self.applier.save_follow(state)
            except XferError:
                pass
            raise
        reached = until is not None and Position.from_dict(state.position).key() >= until.key()
        result.stopped = "caught up" if reached else ("cutover" if requested else "stopped")
        state.state = "stopped"
        self.applier.save_follow(state)
        result.end = Position.from_dict(state.position)
        result.seconds = time.monotonic() - t0
        return result

    def _read_ahead(self, at: Position, stop: Callable[[], bool], until: Position | None) -> Iterator[ChangeBatch]:
        """`read_changes` on a thread of its own, up to READ_AHEAD batches ahead: reading and
        decoding the next batch (Python) overlaps converting and applying this one (Arrow and
        the target's server). Ends when the log is read to `until`, `stop()`, or the consumer
        stops taking batches."""
        ahead: queue.Queue[Any] = queue.Queue(maxsize=READ_AHEAD)
        quit_reading = threading.Event()
        end = object()

        def put(item: Any) -> None:
            while not quit_reading.is_set():
                try:
                    ahead.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def produce() -> None:
            try:
                for batch in self.changes.read_changes(at, self.tables, lambda: stop() or quit_reading.is_set(), until):
                    put(batch)
                put(end)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
                put(exc)

        reader = threading.Thread(target=produce, name="xfer-binlog", daemon=True)
        reader.start()
        try:
            while True:
                item = ahead.get()
                if item is end:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            quit_reading.set()
            reader.join(timeout=10)

    def _add_columns(self, name: str, tp: TablePlan, change: SchemaChange, state: FollowState) -> None:
        """The statement's columns planned through the type rules (the table as the source has
        it now, but only the columns the target has plus these) and added, with the position."""
        fresh_plan = make_plan(self.source, self.target, self.options, self.source.introspect([name]), behaviour=False)
        fresh = fresh_plan.tables[0]
        had = {c.name for c in tp.source.columns}
        pairs = [
            (s, t)
            for s, t in zip(fresh.source.columns, fresh.target.columns, strict=True)
            if s.name in had or s.name in change.columns
        ]
        added = [t for s, t in pairs if s.name not in had]
        if len(added) != len(set(change.columns)):
            raise XferError(
                f"following stopped: {name}: `{change.statement}` at {change.position}: the source no longer has "
                "the column(s) it added (changed again since)",
                hint="add them to the target by hand, then continue with `xfer follow`",
            )
        # the collations the new columns use, if the copy made none of that kind (IF NOT EXISTS)
        used = {c.meta.get("collation_kept") for c in added}
        ddl = collations_sql(
            self.target, replace(fresh_plan, collations=[d for d in fresh_plan.collations if d.name in used])
        )
        ddl += [sql for c in added for sql in self.applier.add_column_sql(tp.target, c)]
        self.applier.apply_changes(state, [], ddl=ddl)
        fresh.source = replace(fresh.source, columns=[s for s, _ in pairs])
        fresh.target = replace(fresh.target, columns=[t for _, t in pairs])
        self.followed[name] = fresh
        self.tables[name] = fresh.source
        self.converters.pop(name, None)
        log.warning("following: %s: column(s) %s added (%s)", name, ", ".join(change.columns), change.statement)

    def _reload(self) -> None:
        """The state as the target committed it: a batch that failed took its position with it."""
        mine = [s for s in self.applier.follow_states() if s.run_id == self.state.run_id]
        if mine:
            done = mine[0]
            st = self.state
            st.position, st.events, st.tables = done.position, done.events, done.tables
            st.event_time, st.lag_seconds = done.event_time, done.lag_seconds

    def _reconnect(self) -> None:
        for d in (self.source, self.target):
            try:
                d.reconnect()
            except XferError as exc:
                log.warning("following: reconnecting: %s", exc.message)
                raise XferError(exc.message, transient=True) from None
        if not self.applier.claim_follow(self.state.run_id):
            raise UsageError(f"run {self.state.run_id} was taken over by another follower")

    def _apply(self, batch: ChangeBatch, result: FollowResult) -> None:
        state = self.state
        first = batch.changes[0]
        if isinstance(first, SchemaChange):
            self._schema_change(first, batch)
            return
        by_table: dict[str, list[RowsChange]] = {}
        for ch in batch.changes:
            if isinstance(ch, RowsChange):
                by_table.setdefault(ch.table, []).append(ch)
        deltas: list[TableDelta] = []
        for name, changes in by_table.items():
            net = collapse(changes, list(self.tables[name].primary_key))
            if net is None:
                continue
            delta = self._converter(name).delta(net)
            deltas.append(delta)
            if self.touched is not None:
                self.touched.setdefault(self.followed[name].source.name, set()).update(delta_keys(delta))
            counts = state.tables.setdefault(name, {"inserted": 0, "updated": 0, "deleted": 0})
            counts["inserted"] += net.inserted
            counts["updated"] += net.updated
            counts["deleted"] += net.deleted
        state.position = batch.end.as_dict()
        state.events += batch.events
        state.event_time = batch.event_time or state.event_time
        state.lag_seconds = max(0.0, time.time() - batch.event_time) if batch.event_time else 0.0
        self.applier.apply_changes(state, deltas)
        result.events += batch.events
        result.batches += 1

    def _schema_change(self, change: SchemaChange, batch: ChangeBatch) -> None:
        state = self.state
        name = change.table or ""
        tp = self.followed.get(name)
        state.position = batch.end.as_dict()
        if tp is None:
            self.applier.save_follow(state)
            return
        if change.kind == "truncate":
            self.applier.apply_changes(state, [], ddl=[f"TRUNCATE {self.target.qualified(tp.target.name)}"])
            log.warning("following: %s emptied (%s)", name, change.statement)
            return
        if change.kind == "add_column" and tp.mapped is None:
            self._add_columns(name, tp, change, state)
            return
        if change.kind == "add_column":  # a mapped table: the mapping says which columns it takes
            self.applier.save_follow(state)
            return
        where = change.position
        raise XferError(
            f"following stopped: the source ran `{change.statement}` on {name} at {where}, which xfer cannot "
            "apply to the target (only TRUNCATE and ADD COLUMN are applied); nothing of it was applied",
            hint=f"make the same change to the target by hand, then continue with `xfer follow` "
            f"(it resumes after {where}); or start again with `xfer migrate --follow --if-exists replace`",
        )

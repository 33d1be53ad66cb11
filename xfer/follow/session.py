"""The follow commands over URLs: record a followed run after its copy, follow it, cut over,
and read the followers' state. `xfer.api` re-exports them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Literal

from xfer.core.changes import Position
from xfer.core.errors import UsageError, XferError
from xfer.core.options import Options
from xfer.core.report import RunReport
from xfer.dialects.base import Dialect
from xfer.dialects.capabilities import ChangeSource, ChangeTarget, FollowState
from xfer.dialects.connect import open_source, open_target
from xfer.follow.follower import Follower, FollowResult, check_followable, find_state, options_of
from xfer.planning.build import Plan
from xfer.planning.make import make_plan, source_tables
from xfer.verification.run import verify as verify_tables

log = logging.getLogger("xfer")
HoldMode = Literal["lock", "read_only", "none"]


def record_run(source: Dialect, target: Dialect, run_id: str, options: Options, start: Position) -> None:
    """After a followed run's copy: its follower, to start at `start` (taken before the copy)."""
    assert isinstance(source, ChangeSource) and isinstance(target, ChangeTarget)
    flat = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.flat().items()}
    flat.update(resume=False, follow=True, mapping_used=options.mapping is not None)
    end = source.change_position()
    target.start_follow(
        FollowState(run_id, str(source.url), str(target.url), "stopped", start.as_dict(), end.as_dict(), options=flat)
    )


def _open(
    source_url: str, target_url: str, options: Options, stack: ExitStack, run_id: str | None = None
) -> tuple[Dialect, Dialect, FollowState, Options, Plan]:
    source = open_source(source_url, stack)
    target = open_target(target_url, stack, must_exist=True)
    if not isinstance(target, ChangeTarget):
        raise UsageError(f"a {target.name} target keeps no followed runs (PostgreSQL only)")
    state = find_state(target, str(source.url), str(target.url), run_id)
    opts = options_of(state, options)
    the_plan = make_plan(source, target, opts, source_tables(source, opts))
    check_followable(source, target, [tp.source for tp in the_plan.tables])
    assert isinstance(source, ChangeSource)
    if not source.position_available(Position.from_dict(state.position)):
        raise XferError(
            f"the source's binlog no longer has position {Position.from_dict(state.position)}",
            hint="it was purged before it was applied: start again with `xfer migrate --follow --if-exists "
            "replace`, and keep binlogs longer (binlog_expire_logs_seconds)",
        )
    return source, target, state, opts, the_plan


def follow(
    source_url: str,
    target_url: str,
    options: Options,
    stop: Callable[[], bool] = lambda: False,
    until_current: bool = False,
    run_id: str | None = None,
) -> FollowResult:
    """Apply the source's changes from the run's recorded position until `stop()` (or, with
    `until_current`, until the log's end as it is now)."""
    with ExitStack() as stack:
        source, target, state, opts, the_plan = _open(source_url, target_url, options, stack, run_id)
        assert isinstance(source, ChangeSource)
        until = source.change_position() if until_current else None
        follower = Follower(source, target, the_plan, opts, state)
        for note in follower.notes:
            log.warning("%s", note)
        log.info("following %s from %s", source.url, Position.from_dict(state.position))
        return follower.run(stop, until)


def status(target_url: str) -> list[FollowState]:
    """Every followed run the target records, oldest first (`alive`: a follower runs now)."""
    with ExitStack() as stack:
        target = open_target(target_url, stack, must_exist=True)
        if not isinstance(target, ChangeTarget):
            raise UsageError(f"a {target.name} target keeps no followed runs (PostgreSQL only)")
        return target.follow_states()


def cutover(
    source_url: str, target_url: str, options: Options, hold: HoldMode = "lock", timeout: float = 300.0
) -> RunReport:
    """Hold the source's writes, take its final position, let the follower reach it (or apply
    the rest here), stop following, verify every table, finish the target (identities past the
    maxima, foreign keys validated), release the source (`read_only` stays on after success)."""
    started = time.monotonic()
    with ExitStack() as stack:
        source, target, state, opts, the_plan = _open(source_url, target_url, options, stack)
        assert isinstance(source, ChangeSource) and isinstance(target, ChangeTarget)
        report = RunReport("cutover", str(source.url), str(target.url), run_id=state.run_id)
        names = [tp.source.name for tp in the_plan.tables]
        release = source.hold_writes(names, hold) if hold != "none" else (lambda: None)
        blocked_at = time.monotonic()
        done = False
        try:
            final = source.change_position()
            _wait_for_follower(target, state, final, timeout)
            state = find_state(target, state.source, state.target, state.run_id)
            follower = Follower(source, target, the_plan, opts, state)
            applied = follower.run(lambda: False, until=final)
            caught_up = time.monotonic() - blocked_at
            checked = verify_tables(source_url, target_url, opts.with_(follow=False))
            report.tables, report.notes = checked.tables, [*follower.notes, *checked.notes]
            for tp in the_plan.tables:
                for sql in target.finish_cutover_sql(tp.target):
                    try:
                        target.execute(sql)
                    except XferError as exc:
                        r = next(t for t in report.tables if t.name == tp.source.name)
                        r.status, r.error = "failed", f"finishing the table: {exc.message}"
            state = find_state(target, state.source, state.target, state.run_id)
            state.state = "cut over" if report.status == "ok" else "stopped"
            target.save_follow(state)
            done = report.status == "ok"
        finally:
            if not done or hold != "read_only":
                release()
            blocked = time.monotonic() - blocked_at
        report.phases = {"catch up": caught_up, "verify": blocked - caught_up}
        report.seconds = time.monotonic() - started
        report.cutover = {
            "blocked_seconds": round(blocked, 3),
            "hold": hold,
            "final_position": final.as_dict(),
            "events_applied": state.events,
            "events_at_cutover": applied.events,
            "source_read_only": hold == "read_only" and done,
        }
        if hold == "read_only" and done:
            report.notes.append("the source stays read-only (SET GLOBAL read_only = OFF to undo)")
        return report


def _wait_for_follower(target: ChangeTarget, state: FollowState, final: Position, timeout: float) -> None:
    """A running follower applies up to `final`, then is asked to stop; returns once it has."""
    if not state.alive:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = find_state(target, state.source, state.target, state.run_id)  # type: ignore[arg-type]
        if not now.alive or Position.from_dict(now.position).key() >= final.key():
            break
        time.sleep(0.05)
    target.request_stop(state.run_id)
    while time.monotonic() < deadline:
        if not find_state(target, state.source, state.target, state.run_id).alive:  # type: ignore[arg-type]
            return
        time.sleep(0.05)
    raise XferError(
        f"cutover: the follower of run {state.run_id} did not stop within {timeout:.0f} s",
        hint="nothing was changed and the source is writable again; stop the follower (Ctrl-C) and run cutover again",
    )

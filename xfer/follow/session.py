"""The follow commands over URLs: record a followed run after its copy, follow it, cut over,
and read the followers' state. `xfer.api` re-exports them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack

from xfer.core.changes import Position
from xfer.core.errors import UsageError, XferError
from xfer.core.options import Options
from xfer.dialects.base import Dialect
from xfer.dialects.capabilities import ChangeSource, ChangeTarget, FollowState
from xfer.dialects.connect import open_source, open_target
from xfer.follow.follower import Follower, FollowResult, check_followable, find_state, options_of
from xfer.planning.build import Plan
from xfer.planning.make import make_plan, source_tables

log = logging.getLogger("xfer")


def record_run(source: Dialect, target: Dialect, run_id: str, options: Options, start: Position) -> None:
    """After a followed run's copy: its follower, to start at `start` (taken before the copy)."""
    assert isinstance(source, ChangeSource) and isinstance(target, ChangeTarget)
    flat = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.flat().items()}
    flat.update(resume=False, follow=True, mapping_used=options.mapping is not None)
    end = source.change_position()
    target.start_follow(
        FollowState(run_id, str(source.url), str(target.url), "stopped", start.as_dict(), end.as_dict(), options=flat)
    )


def open_followed(
    source_url: str,
    target_url: str,
    options: Options,
    stack: ExitStack,
    run_id: str | None = None,
    behaviour: bool = False,  # the plan's behaviour section: for the cutover's report
) -> tuple[Dialect, Dialect, FollowState, Options, Plan]:
    source = open_source(source_url, stack)
    target = open_target(target_url, stack, must_exist=True)
    if not isinstance(target, ChangeTarget):
        raise UsageError(f"a {target.name} target keeps no followed runs (PostgreSQL only)")
    state = find_state(target, str(source.url), str(target.url), run_id)
    if state.state == "cut over":
        raise UsageError(
            f"run {state.run_id} was cut over at {Position.from_dict(state.position)}: there is nothing to follow",
            hint="a new migration starts with `xfer migrate SOURCE TARGET --follow --if-exists replace`",
        )
    opts = options_of(state, options)
    the_plan = make_plan(source, target, opts, source_tables(source, opts), behaviour=behaviour)
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
    on_start: Callable[[FollowState], None] | None = None,
) -> FollowResult:
    """Apply the source's changes from the run's recorded position until `stop()` (or, with
    `until_current`, until the log's end as it is now)."""
    with ExitStack() as stack:
        source, target, state, opts, the_plan = open_followed(source_url, target_url, options, stack, run_id)
        assert isinstance(source, ChangeSource)
        until = source.change_position() if until_current else None
        follower = Follower(source, target, the_plan, opts, state)
        for note in follower.notes:
            log.warning("%s", note)
        if on_start is not None:
            on_start(state)
        return follower.run(stop, until)


def status(target_url: str) -> list[FollowState]:
    """Every followed run the target records, oldest first (`alive`: a follower runs now)."""
    with ExitStack() as stack:
        target = open_target(target_url, stack, must_exist=True)
        if not isinstance(target, ChangeTarget):
            raise UsageError(f"a {target.name} target keeps no followed runs (PostgreSQL only)")
        return target.follow_states()

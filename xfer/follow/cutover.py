"""The cutover: the moment the application moves from the source to the target, proven.

1. **While the source stays writable**: the running follower is stopped; one consistent
   snapshot of the source is opened (MariaDB says, without any lock, at which binlog position
   it sees the data); the target is brought to exactly that position; every table is verified,
   source snapshot against target (counts, checksums, differences located).
2. **Writes held** (`FLUSH TABLES … WITH READ LOCK`, `read_only`, or nothing): the final
   position is taken, the changes since the snapshot are applied, and only what they touched is
   verified again: each changed key read on both sides and compared value by value, and both
   sides' exact row counts. A table that was verified whole at the snapshot's position and
   changed only in those keys since is then verified whole at the final one. Tables that could
   not be checked that way (mapped tables, differences at the snapshot, an engine that does not
   give the snapshot's position) are verified whole here.
3. The target is finished (identities past the maxima, foreign keys validated), the source
   released, and the report says how many seconds writes were held.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Literal

from xfer.core.errors import XferError
from xfer.core.options import Options
from xfer.core.report import RunReport, TableResult
from xfer.dialects.base import Dialect
from xfer.dialects.capabilities import ChangeSource, ChangeTarget, FollowState
from xfer.follow.follower import Follower, find_state
from xfer.follow.session import open_followed
from xfer.planning.build import Plan
from xfer.verification.run import check_keys, check_tables

HoldMode = Literal["lock", "read_only", "none"]


def cutover(
    source_url: str, target_url: str, options: Options, hold: HoldMode = "lock", timeout: float = 300.0
) -> RunReport:
    """Switch over from the source to the target (see the module's docstring)."""
    started = time.monotonic()
    with ExitStack() as stack:
        source, target, state, opts, the_plan = open_followed(source_url, target_url, options, stack, behaviour=True)
        assert isinstance(source, ChangeSource) and isinstance(target, ChangeTarget)
        report = RunReport("cutover", str(source.url), str(target.url), run_id=state.run_id)
        report.behaviour = list(the_plan.behaviour)
        stop_follower(target, state, timeout)
        checked = precheck(source, target, the_plan, opts, state, report)
        if checked:  # what changed during that check, compared at a second snapshot: less left for the hold
            checked = narrow(source, target, the_plan, opts, state, checked, report)
        phase = _phase(report, "verify (writable)", started)
        names = [tp.source.name for tp in the_plan.tables]
        release = source.hold_writes(names, hold) if hold != "none" else (lambda: None)
        held_at = time.monotonic()
        done = False
        try:
            final = source.change_position()
            follower = Follower(
                source, target, the_plan, opts, find_state(target, state.source, state.target, state.run_id)
            )
            follower.touched = {}
            applied = follower.run(lambda: False, until=final)
            phase = _phase(report, "catch up (held)", phase)
            report.notes.extend(follower.notes)
            recheck(source, target, the_plan, opts, checked, follower.touched, report)
            phase = _phase(report, "verify (held)", phase)
            done = report.status == "ok"
        finally:
            if not done or hold != "read_only":
                release()
            held = time.monotonic() - held_at
        # the target alone from here: identities, foreign keys validated, then it is the application's
        finish_target(target, the_plan, report)
        _phase(report, "finish", phase)
        state = _fresh(target, state)
        state.state = "cut over" if report.status == "ok" else "stopped"
        state.lag_seconds = 0.0
        target.save_follow(state)
        report.seconds = time.monotonic() - started
        report.cutover = {
            "blocked_seconds": round(held, 3),
            "hold": hold,
            "final_position": final.as_dict(),
            "events_applied": state.events,
            "events_at_cutover": applied.events,
            "keys_rechecked": sum(len(k) for k in (follower.touched or {}).values()),
            "source_read_only": hold == "read_only" and done,
        }
        if hold == "read_only" and done:
            report.notes.append("the source stays read-only (SET GLOBAL read_only = OFF to undo)")
        return report


def stop_follower(target: ChangeTarget, state: FollowState, timeout: float) -> None:
    """Ask a running follower to stop after its batch in hand; return once it has."""
    if not state.alive:
        return
    target.request_stop(state.run_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _fresh(target, state).alive:
            return
        time.sleep(0.05)
    raise XferError(
        f"cutover: the follower of run {state.run_id} did not stop within {timeout:.0f} s",
        hint="nothing was changed and the source was not held; stop the follower (Ctrl-C) and run cutover again",
    )


def precheck(
    source: Dialect, target: Dialect, the_plan: Plan, opts: Options, state: FollowState, report: RunReport
) -> dict[str, TableResult]:
    """Every table verified, the target brought to the source snapshot's position first; returns
    the tables found identical there ({} when the source does not say its snapshot's position)."""
    assert isinstance(source, ChangeSource) and isinstance(target, ChangeTarget)
    scratch = RunReport("verify", report.source, report.target)
    with source.snapshot():
        at = source.snapshot_position()
        if at is None:
            report.notes.append("the source does not give its snapshot's position: every table is verified while held")
            return {}
        follower = Follower(
            source, target, the_plan, opts, find_state(target, state.source, state.target, state.run_id)
        )
        follower.run(lambda: False, until=at)
        live = {t.name: t for t in target.introspect([tp.target.name for tp in the_plan.tables])}
        with target.snapshot():
            check_tables(source, target, the_plan, live, opts, scratch)  # (differences are re-checked when held)
    mapped = {tp.source.name for tp in the_plan.tables if tp.mapped is not None}
    ok = {r.name: r for r in scratch.tables if r.status == "ok" and r.name not in mapped}
    report.notes.append(
        f"verified at the source snapshot's position {at} while writable: {len(ok)} of {len(scratch.tables)} "
        "table(s) identical; while held, only the rows changed since are compared again"
    )
    return ok


def narrow(
    source: Dialect,
    target: Dialect,
    the_plan: Plan,
    opts: Options,
    state: FollowState,
    checked: dict[str, TableResult],
    report: RunReport,
) -> dict[str, TableResult]:
    """A second round while writable: the target brought to a new snapshot's position, and the
    rows changed since the first compared there, key by key. Returns the tables still verified
    (a difference leaves its table to be verified whole while held); the hold then has only the
    changes of this short round to apply and compare."""
    assert isinstance(source, ChangeSource)
    by_name = {tp.source.name: tp for tp in the_plan.tables}
    with source.snapshot():
        at = source.snapshot_position()
        if at is None:
            return checked
        follower = Follower(source, target, the_plan, opts, _fresh(target, state))
        follower.touched = {}
        follower.run(lambda: False, until=at)
        keys = follower.touched
        with target.snapshot():
            still: dict[str, TableResult] = {}
            for name, r in checked.items():
                again = TableResult(name, r.target_name)
                try:
                    check_keys(
                        source,
                        target,
                        by_name[name],
                        sorted(keys.get(name, set()), key=repr),
                        again,
                        opts,
                        counts=False,
                    )
                except XferError:
                    continue
                if again.status == "ok":
                    still[name] = r
    report.notes.append(
        f"{sum(len(k) for k in keys.values()):,} key(s) changed during that check, compared at {at}: "
        f"{len(still)} of {len(checked)} table(s) still identical"
    )
    return still


def recheck(
    source: Dialect,
    target: Dialect,
    the_plan: Plan,
    opts: Options,
    checked: dict[str, TableResult],
    touched: dict[str, set[tuple[object, ...]]] | None,
    report: RunReport,
) -> None:
    """While held: the changed keys of the tables verified at the snapshot, every other table whole."""
    whole = [tp for tp in the_plan.tables if tp.source.name not in checked]
    by_name = {tp.source.name: tp for tp in the_plan.tables}
    results: dict[str, TableResult] = {}
    for name in checked:
        r = TableResult(name, by_name[name].target.name)
        t0 = time.monotonic()
        try:
            check_keys(source, target, by_name[name], sorted((touched or {}).get(name, set()), key=repr), r, opts)
        except XferError as exc:
            r.status, r.error = "failed", f"verification: {exc}"
        r.seconds = time.monotonic() - t0
        results[name] = r
    if whole:
        partial = RunReport("verify", report.source, report.target)
        live = {t.name: t for t in target.introspect([tp.target.name for tp in whole])}
        with source.snapshot(), target.snapshot():
            check_tables(source, target, Plan(whole), live, opts, partial)
        results.update({r.name: r for r in partial.tables})
    report.tables = [results[tp.source.name] for tp in the_plan.tables if tp.source.name in results]


def finish_target(target: Dialect, the_plan: Plan, report: RunReport) -> None:
    """Identities past the maxima and foreign keys validated: the target ready for the application."""
    assert isinstance(target, ChangeTarget)
    for tp in the_plan.tables:
        for sql in target.finish_cutover_sql(tp.target):
            try:
                target.execute(sql)
            except XferError as exc:
                r = next((t for t in report.tables if t.name == tp.source.name), None)
                if r is not None:
                    r.status, r.error = "failed", f"finishing the table: {exc.message}"


def _fresh(target: Dialect | ChangeTarget, state: FollowState) -> FollowState:
    """The run's follower state as the target records it now."""
    assert isinstance(target, Dialect)
    return find_state(target, state.source, state.target, state.run_id)


def _phase(report: RunReport, name: str, since: float) -> float:
    now = time.monotonic()
    report.phases[name] = now - since
    return now

"""`xfer follow`, `xfer cutover`, `xfer status`, and the following half of `migrate --follow`:
parse, call `xfer.api`, print."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from xfer import api
from xfer.cli import app
from xfer.core.changes import Position
from xfer.core.urls import mask
from xfer.dialects.capabilities import FollowState


def exec_follower(source: str, target: str, mapping_path: Path | None, quiet: bool) -> None:
    """`migrate --follow`, after the copy: become `xfer follow` (a fresh process, which holds
    nothing of the copy: the follower's memory is its own). The URLs travel in the environment
    (XFER_SOURCE, XFER_TARGET), never in the command line other users can read."""
    sys.stdout.flush()
    sys.stderr.flush()
    env = {**os.environ, "XFER_SOURCE": source, "XFER_TARGET": target}
    args = [sys.executable, "-m", "xfer", "follow"]
    if mapping_path is not None:
        args += ["--mapping", str(mapping_path)]
    if quiet:
        args.append("--quiet")
    os.execve(sys.executable, args, env)


def run_follower(source: str, target: str, opts: api.Options, until_current: bool, quiet: bool) -> None:
    """Follow until SIGINT/SIGTERM (the batch in hand is finished and its position committed;
    exit 0) or, with `until_current`, until the source's log end as of now. A second signal
    interrupts at once (the batch in hand is rolled back: nothing half-applied)."""
    stopping = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt
        stopping.set()
        click.echo("stopping after the batch in hand (again to interrupt at once)", err=True)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:

        def started(state: FollowState) -> None:
            if not quiet:
                how = "up to the binlog's current end" if until_current else _HOW_TO_STOP
                click.echo(f"following {mask(source)} from {Position.from_dict(state.position)} {how}", err=True)

        result = api.follow(source, target, opts, stop=stopping.is_set, until_current=until_current, on_start=started)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if not quiet:
        for note in result.notes:
            click.echo(f"note: {note}", err=True)
        click.echo(
            f"{result.stopped} at {result.end}: {result.events:,} row change(s) applied in {result.batches:,} "
            f"batch(es), {result.seconds:.1f} s (run {result.run_id})",
            err=True,
        )


_HOW_TO_STOP = "(Ctrl-C stops; `xfer cutover` switches over)"


@app.main.command()
@app.source_arg
@app.target_arg
@app.mapping_opt
@click.option("--until-current", is_flag=True, help="Apply what the source's binlog holds now, then exit.")
@app.command
def follow(source: str | None, target: str | None, mapping_path: Path | None, until_current: bool, quiet: bool) -> None:
    """Apply SOURCE's binlog to TARGET from the position its followed run recorded.

    Continues `xfer migrate --follow` after a stop, a crash or a server restart, with the
    options that run recorded. Runs until Ctrl-C or SIGTERM (exit 0), which finish the batch in
    hand and commit its position with it.
    """
    source, target, opts = app.resolve(source, target, mapping_path, api.Options())
    run_follower(source, target, opts, until_current, quiet)


@app.main.command()
@app.source_arg
@app.target_arg
@app.mapping_opt
@click.option(
    "--read-only",
    "hold",
    flag_value="read_only",
    help="Hold writes with SET GLOBAL read_only (stays on after a successful cutover).",
)
@click.option("--no-lock", "hold", flag_value="none", help="Hold nothing: the application is already stopped.")
@click.option(
    "--timeout", type=click.FloatRange(1), default=300, show_default=True, help="Seconds to wait for the follower."
)
@click.option(
    "--report",
    "report_paths",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the cutover report (.json, .md or .html by the extension; repeatable).",
)
@app.command
def cutover(
    source: str | None,
    target: str | None,
    mapping_path: Path | None,
    hold: str | None,
    timeout: float,
    report_paths: tuple[Path, ...],
    quiet: bool,
) -> None:
    """Switch over from SOURCE to TARGET: hold writes, catch up, verify, finish.

    Stops the running follower, verifies every table against a snapshot of the source while it
    stays writable, then blocks writes to the followed tables (FLUSH TABLES … WITH READ LOCK by
    default), applies the last changes, compares only the rows they touched, moves identities
    past the copied maxima, validates foreign keys, releases the source and reports the seconds
    writes were blocked. Exit 0 when identical, 3 when not.
    """
    source, target, opts = app.resolve(source, target, mapping_path, api.Options())
    report = api.cutover(source, target, opts, hold=hold or "lock", timeout=timeout)
    if not quiet and report.cutover:
        c = report.cutover
        click.echo(
            f"cutover: writes blocked {c['blocked_seconds']:.2f} s ({c['hold']}); final position "
            f"{Position.from_dict(c['final_position'])}; {c['events_at_cutover']:,} row change(s) applied at the "
            f"cutover, {c['events_applied']:,} since the copy"
        )
    app.finish(report, quiet, report_paths or None)


@app.main.command()
@app.target_arg
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
@app.command
def status(target: str | None, as_json: bool, quiet: bool) -> None:
    """The followed runs TARGET records: following or not, position, lag, rows applied per table."""
    if not target:
        raise click.UsageError("missing TARGET (or XFER_TARGET)")
    states = api.status(target)
    if as_json:
        click.echo(json.dumps([_state_dict(s) for s in states], indent=2))
        return
    if not states:
        click.echo("no followed runs in this target (start one with `xfer migrate SOURCE TARGET --follow`)")
        return
    for s in states:
        click.echo(_state_text(s))


def _state_dict(s: FollowState) -> dict[str, Any]:
    pos, end = Position.from_dict(s.position), Position.from_dict(s.copy_end)
    return {
        "run_id": s.run_id,
        "source": s.source,
        "target": s.target,
        "state": s.state,
        "alive": s.alive,
        "position": s.position,
        "copy_end": s.copy_end,
        "copy_caught_up": pos.key() >= end.key(),
        "lag_seconds": None if s.lag_seconds is None else round(s.lag_seconds, 3),
        "events_applied": s.events,
        "tables": s.tables,
        "last_error": s.last_error,
        "updated": s.updated,
    }


def _state_text(s: FollowState) -> str:
    d = _state_dict(s)
    state = s.state + (" (a follower is running)" if s.alive else "" if s.state != "following" else " (no process)")
    tables = ", ".join(
        f"{name} +{c['inserted']:,} ~{c['updated']:,} -{c['deleted']:,}" for name, c in sorted(s.tables.items())
    )
    lines = [
        f"run {s.run_id}: {s.source} -> {s.target}",
        f"  state     {state}",
        f"  position  {Position.from_dict(s.position)}"
        + ("" if d["copy_caught_up"] else f" (the copy is consistent from {Position.from_dict(s.copy_end)} on)"),
        f"  lag       {'-' if s.lag_seconds is None else f'{s.lag_seconds:.1f} s'}",
        f"  applied   {s.events:,} row change(s)" + (f": {tables}" if tables else ""),
        f"  updated   {s.updated}",
    ]
    if s.last_error:
        lines.append(f"  error     {s.last_error}")
    return "\n".join(lines)

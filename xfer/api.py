"""The library's entry points, re-exported by `xfer`: `migrate`, `verify`, `plan`, `inspect`.

A migration: plan -> create tables -> copy (read -> transform -> write) -> keys, indexes,
foreign keys, views, triggers -> verify, with the run journal around it where the target keeps
one. This module only orchestrates: each step lives in the package of its stage. The CLI
parses arguments, calls one of these functions and formats what it returns.

Every function takes URLs (`mysql://user:pass@host:3306/db`, `postgresql://host/db?schema=s`,
`sqlite:///file.db`, `duckdb:///file.duckdb`), an `Options` (or nothing: the defaults), and
option overrides by their flat names (`jobs=4`, `if_exists="replace"`: see `Options.build`).
Errors are `XferError`s whose `exit_code` is the CLI's (1 error, 2 usage, 3 mismatch).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from xfer.copy.ddl import checks_sql, create_tables, create_triggers, create_views, foreign_keys_sql, preflight
from xfer.copy.rows import CopyJob
from xfer.copy.script import DOWN, POST, PRE, MigrationSQL, migration_sql
from xfer.copy.stage import build_keys, copy_rows
from xfer.core import interrupt
from xfer.core.errors import ConnectError, Interrupted, TargetExistsError, UsageError, XferError
from xfer.core.journal import Journal
from xfer.core.options import Options
from xfer.core.policies import RejectFile
from xfer.core.progress import Progress, ProgressEvents, ProgressFactory, Tracker, as_events, no_progress
from xfer.core.report import Inspection, RunReport, TableResult
from xfer.dialects.base import Dialect
from xfer.dialects.capabilities import ChangeSource
from xfer.dialects.connect import discard_file, new_embedded_file, open_plan_target, open_source, open_target
from xfer.follow import session
from xfer.follow.cutover import cutover as cutover_run
from xfer.follow.follower import FollowResult, check_followable
from xfer.planning import behaviour
from xfer.planning.build import Plan
from xfer.planning.hooks import run_hooks
from xfer.planning.make import make_plan, source_tables
from xfer.report.sql_text import render_script
from xfer.runs import lifecycle as runs
from xfer.verification.run import compare_targets
from xfer.verification.run import verify as verify_tables

__all__ = [
    "Inspection",
    "MigrationSQL",
    "Options",
    "Plan",
    "Progress",
    "ProgressEvents",
    "ProgressFactory",
    "Tracker",
    "RunReport",
    "inspect",
    "migrate",
    "no_progress",
    "plan",
    "plan_sql",
    "verify",
]

log = logging.getLogger("xfer")


# -- commands ---------------------------------------------------------------------------
def _options(options: Options | None, settings: dict[str, Any]) -> Options:
    options = options if options is not None else Options()
    return options.with_(**settings) if settings else options


def plan(source_url: str, target_url: str, options: Options | None = None, **settings: Any) -> Plan:
    """What `migrate` would do, changing nothing: per table the target's name, columns and
    types with the rule or decision behind each (`TablePlan.column_notes`), notes, and the DDL
    in the order `migrate` runs it (`TablePlan.ddl`); renames, views and triggers. An embedded
    target is planned in memory (its file is not created).

        p = xfer.plan("mysql://root@127.0.0.1/shop", "postgresql://127.0.0.1/app")
        for tp in p.tables: print(tp.source.name, "->", tp.target.name, tp.ddl[0])
    """
    options = _options(options, settings)
    with ExitStack() as stack:
        source = open_source(source_url, stack)
        target = open_plan_target(target_url, stack)
        return _plan(source, target, options)


def _plan(source: Dialect, target: Dialect, options: Options) -> Plan:
    the_plan = make_plan(source, target, options)
    if options.run.follow:  # what stops following is an error (UsageError); what is not followed, a note
        notes = check_followable(source, target, [tp.source for tp in the_plan.tables])
        the_plan.notes.extend(notes or ["following: the source's binlog and the target are ready (--follow)"])
    for tp in the_plan.tables:  # the DDL as `migrate` would run it, while the target is open
        tp.ddl = (
            target.create_table_sql(tp.target)
            + checks_sql(target, tp.target)
            + target.post_data_sql(tp.target)
            + foreign_keys_sql(target, tp.target, options.run.follow)
        )
    return the_plan


def plan_sql(
    source_url: str,
    target_url: str,
    directory: str | Path,
    options: Options | None = None,
    *,
    force: bool = False,
    **settings: Any,
) -> MigrationSQL:
    """Write the DDL `migrate` would run as three scripts in `directory` (created if missing):
    `up-pre-data.sql` (schema, types, sequences, tables with their CHECKs), `up-post-data.sql`
    (keys, indexes, identities, foreign keys, views, triggers) and `down.sql` (drops exactly
    those objects, in reverse). Apply the first, run `migrate(..., data_only=True)` with the same
    options, apply the second. Changes nothing in either database. Files already in `directory`
    are refused (UsageError) unless `force=True`. Returns the scripts, `paths` the files written.

        s = xfer.plan_sql("mysql://root@127.0.0.1/shop", "postgresql://127.0.0.1/app", "migration/")
        print(s.commands["up-pre-data.sql"])     # psql -v ON_ERROR_STOP=1 ... -f up-pre-data.sql
    """
    options = _options(options, settings)
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--sql {str(out)!r} is not a directory")
    present = [name for name in (PRE, POST, DOWN) if (out / name).exists()]
    if present and not force:
        raise UsageError(
            f"{out} already holds {', '.join(present)}", hint="choose another directory, or add --force to overwrite"
        )
    with ExitStack() as stack:
        source = open_source(source_url, stack)
        target = open_plan_target(target_url, stack)
        scripts = migration_sql(target, _plan(source, target, options), options)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for script in scripts.scripts:
            path = out / script.name
            path.write_text(render_script(script, scripts, source_url, target_url, options), encoding="utf-8")
            scripts.paths.append(path)
    except OSError as exc:
        raise XferError(f"cannot write the scripts in {str(out)!r}: {exc.strerror or exc}") from None
    return scripts


def inspect(url: str) -> Inspection:
    """The tables of the database `url` names: columns with their native types, primary key,
    indexes, foreign keys and exact row counts (`Inspection.tables`, `xfer.Table` objects)."""
    with ExitStack() as stack:
        d = open_source(url, stack)
        tables = d.introspect(d.list_tables())
        for t in tables:
            t.row_estimate = d.count_rows(t.name)
        return Inspection(str(d.url), tables)


def verify(
    source_url: str,
    target_url: str,
    options: Options | None = None,
    progress: ProgressFactory | ProgressEvents = no_progress,
    **settings: Any,
) -> RunReport:
    """Compare every selected table of the source (as the options' mapping shapes it) with the
    target: exact row counts and checksums, and the differing rows located (missing, extra,
    changed, with both values). Changes nothing. `report.status` is "ok" or "mismatch".

        r = xfer.verify("mysql://root@127.0.0.1/shop", "postgresql://127.0.0.1/app", sample=20)
    """
    interrupt.reset()
    events = as_events(progress)
    try:
        return verify_tables(source_url, target_url, _options(options, settings), events)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt) or interrupt.requested():
            interrupt.settle()
            raise Interrupted(
                "interrupted: verification stopped before it finished (it changes nothing)",
                hint="run it again to get the result",
            ) from None
        raise
    finally:
        if events is not progress:  # bars of our making: closed whatever happened
            events.close()


def migrate(
    source_url: str,
    target_url: str,
    options: Options | None = None,
    progress: ProgressFactory | ProgressEvents = no_progress,
    **settings: Any,
) -> RunReport:
    """Copy the source's selected tables into the target, build keys, indexes and foreign keys
    after the data, then verify (unless `verify=False`). Returns the run's report (as the CLI's
    `--report` JSON: `report.as_dict()`); `report.status` is "ok", "rejected", "failed" or
    "mismatch". A failure before any change raises (UsageError, TargetExistsError, ConnectError).

        r = xfer.migrate("sqlite:///shop.sqlite", "duckdb:///shop.duckdb", if_exists="replace")
        print(r.status, [(t.name, t.source_rows) for t in r.tables])

    `progress`: a `ProgressEvents` (`xfer.Tracker` keeps their state: rows, ETA, tables being
    copied now, index builds done) or a `progress(name, total_rows)` factory making a bar per
    table while it is copied (`xfer.core.progress`).
    """
    events = as_events(progress)
    try:
        return _migrate_run(source_url, target_url, _options(options, settings), events)
    finally:
        if events is not progress:  # bars of our making: closed whatever happened
            events.close()


def _migrate_run(source_url: str, target_url: str, options: Options, progress: ProgressEvents) -> RunReport:
    started = time.monotonic()
    interrupt.reset()  # an earlier call's Ctrl-C (caught by the caller) does not stop this one
    if options.copy.consistency == "none" and not options.run.follow:
        raise UsageError("consistency none (no lock, no snapshot) is for following only: add follow=True")
    if options.run.follow:
        if not options.run.journal:
            raise UsageError(
                "--follow needs the run journal (it records the follower's position): leave out --no-journal"
            )
        # following repairs whatever moved during the copy: no lock, no snapshot (xfer.follow)
        options = options.with_(consistency="none", verify=False)
    with ExitStack() as stack:
        source = open_source(source_url, stack)
        # Select tables before opening the target: a usage error must leave no trace there.
        tables = source_tables(source, options)
        follow_from, notes = None, []
        fresh_file = new_embedded_file(target_url)
        try:
            target = open_target(target_url, stack, must_exist=options.copy.data_only)
        except ConnectError as exc:
            if not options.copy.data_only or "does not exist" not in exc.message:
                raise
            raise UsageError(f"--data-only: {exc.message}", hint="run without --data-only to create it") from None
        report = RunReport("migrate", str(source.url), str(target.url))
        try:
            the_plan = make_plan(source, target, options, tables, scan=False)
            if options.run.follow:  # refused here, before anything is created
                notes = check_followable(source, target, [tp.source for tp in the_plan.tables])
                assert isinstance(source, ChangeSource)
                follow_from = source.change_position()  # before the first row is read
            resumable = runs.find_resumable(source, target, options, stack)
            existing = set() if resumable else preflight(target, the_plan, options)
        except TargetExistsError as exc:
            raise runs.explain_busy_target(exc, source, target) from None
        except XferError:
            if fresh_file:  # nothing was created in it: leave no empty database file behind
                target.close()
                discard_file(fresh_file)
            raise
        journal = runs.open_run(source, target, the_plan, options, resumable, existing, stack)
        if journal is not None and journal.resumed:
            existing = runs.preexisting(journal)

        def more() -> Dialect:  # one more session on the target (parallel copy and index builds)
            d = open_target(target_url, stack)
            return journal.attach(d) if journal is not None else d

        if journal is None:
            try:
                return _migrate(source, target, more, the_plan, options, existing, report, progress, started, None)
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt) or interrupt.requested():
                    interrupt.settle()
                    raise Interrupted(
                        f"interrupted: the copy into {target.name} stopped; no run journal is kept there, "
                        "so it cannot be resumed",
                        hint="run the same command again with --if-exists replace to start over",
                    ) from None
                raise
        report.run_id = journal.run_id
        try:
            _migrate(source, target, more, the_plan, options, existing, report, progress, started, journal)
        except BaseException as exc:
            # an error after Ctrl-C (a cancelled statement, DuckDB's own exception) is the interrupt
            stopped = isinstance(exc, KeyboardInterrupt) or interrupt.requested()
            if stopped:
                interrupt.settle()
            runs.abandon(journal, Interrupted("interrupted") if stopped else exc)
            if stopped:
                raise Interrupted(
                    f"interrupted: run {journal.run_id} stopped; every chunk copied is committed with its "
                    "journal mark, none half-written",
                    hint=runs.resume_hint(journal.run_id),
                    run_id=journal.run_id,
                ) from None
            raise
        runs.finish(journal, report)
        if follow_from is not None:
            session.record_run(source, target, journal.run_id, options, follow_from)
            report.notes.extend(notes)
            report.notes.append(
                f"copied without a lock from binlog position {follow_from}; not verified yet: "
                "`xfer follow` applies the changes since, `xfer cutover` verifies"
            )
        return report


def _migrate(
    source: Dialect,
    target: Dialect,
    more: Callable[[], Dialect],
    the_plan: Plan,
    options: Options,
    existing: set[str],
    report: RunReport,
    progress: ProgressEvents,
    started: float,
    journal: Journal | None,
) -> RunReport:
    report.notes.extend(the_plan.notes)
    report.behaviour = list(the_plan.behaviour)
    report.renames = [str(rn) for rn in the_plan.renames]
    results = {tp.source.name: TableResult(tp.source.name, tp.target.name) for tp in the_plan.tables}
    report.tables = list(results.values())
    for tp in the_plan.tables:
        results[tp.source.name].notes.extend(tp.notes)
    run_hooks(the_plan.before, source, target, report)
    target.prepare_for_load()
    runs.take_backup(target, the_plan, options, existing, journal)
    phase = time.monotonic()
    create_tables(target, the_plan, options, existing, results)
    phase = _phase(report, "create", phase)
    # a journaled run keeps refused rows in the journal (exactly once) and writes the file at the end
    rejects = RejectFile(options.policies.reject_file or "xfer-rejects.jsonl") if journal is None else None
    try:
        retry = runs.retry_policy(options)
        job = CopyJob(source, target, more, the_plan, results, options, progress, rejects, journal, retry)
        copied = copy_rows(job, existing)
    finally:
        if rejects is not None:
            rejects.close()
    report.notes.extend(copied.notes)
    report.behaviour += behaviour.copied(the_plan.tables, results, options)  # (what the copy counted)
    if not options.copy.schema_only:
        phase = _phase(report, "copy", phase)
    report.reject_file = str(rejects.path) if rejects is not None and rejects.rows else None
    if journal is not None:
        report.reject_file = runs.write_rejects(journal, options.policies.reject_file, report.tables)
        if note := runs.results_note(journal):
            report.notes.append(note)
    build_keys(target, more, the_plan, results, existing, options, copied, progress)
    phase = _phase(report, "index", phase)
    if not options.copy.data_only:
        report.views = create_views(target, the_plan)
        report.triggers = create_triggers(target, the_plan)
    run_hooks(the_plan.after, source, target, report)
    if options.copy.schema_only:
        for r in report.tables:
            r.status = "created" if r.status == "pending" else r.status
    elif options.verify.enabled:
        compare_targets(target, the_plan, results, copied.sums, options, source=source, events=progress)
    else:
        for r in report.tables:
            r.status = "ok" if r.status == "pending" else r.status
    if options.verify.enabled and not options.copy.schema_only:
        _phase(report, "verify", phase)
    runs.enforce_max_errors(report, options, journal)  # after verification: what was copied is checked
    report.seconds = time.monotonic() - started
    return report


def _phase(report: RunReport, name: str, since: float) -> float:
    now = time.monotonic()
    report.phases[name] = report.phases.get(name, 0.0) + now - since
    return now


# -- live cutover (xfer.follow) -------------------------------------------------------------------
def follow(
    source_url: str,
    target_url: str,
    options: Options | None = None,
    stop: Callable[[], bool] = lambda: False,
    until_current: bool = False,
    on_start: Callable[[Any], None] | None = None,
    **settings: Any,
) -> FollowResult:
    """Apply the source's changes to the target from the position the run recorded (a run of
    `migrate(..., follow=True)`), with the options it recorded, until `stop()` returns True (or,
    with `until_current=True`, until the source's binlog end as of the call). Each batch and
    its position commit together: stopping or crashing at any moment loses nothing and applies
    nothing twice.

        xfer.migrate(src, dst, follow=True)              # copy without a lock, record the run
        xfer.follow(src, dst, until_current=True)        # catch up, then return
    """
    return session.follow(source_url, target_url, _options(options, settings), stop, until_current, on_start=on_start)


def cutover(
    source_url: str,
    target_url: str,
    options: Options | None = None,
    hold: str = "lock",
    timeout: float = 300.0,
    **settings: Any,
) -> RunReport:
    """Switch over: hold the source's writes (`hold`: "lock", "read_only" or "none"), apply the
    last changes, stop following, verify every table, finish the target. `report.cutover` says
    how many seconds writes were blocked; `report.status` is "ok" or "mismatch"."""
    if hold not in ("lock", "read_only", "none"):
        raise UsageError(f"hold must be lock, read_only or none (got {hold!r})")
    return cutover_run(source_url, target_url, _options(options, settings), hold, timeout)  # type: ignore[arg-type]


def status(target_url: str) -> list[Any]:
    """The followed runs the target records (`FollowState`: state, position, lag, counters, alive)."""
    return list(session.status(target_url))

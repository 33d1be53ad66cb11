"""What `migrate` does with the journal: start a run or pick up the unfinished one (--resume),
hand the chunked copy its journal, enforce --max-errors, take --backup copies, and close the
run with its outcome. `xfer.api` calls these. The journal's model is xfer.core.journal; a target
keeps one when it declares `JournalStore` (xfer.dialects.capabilities).
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from xfer.core.errors import TargetExistsError, UsageError, XferError
from xfer.core.journal import Journal, RunInfo, RunStart, new_run_id
from xfer.core.options import Options
from xfer.core.policies import RejectFile, count_duplicate_keys
from xfer.core.report import RunReport, TableResult
from xfer.core.retry import RetryPolicy
from xfer.dialects import dialect_for
from xfer.dialects.base import Dialect
from xfer.dialects.capabilities import JournalStore
from xfer.planning.build import Plan
from xfer.runs import backup

log = logging.getLogger("xfer")


def retry_policy(options: Options) -> RetryPolicy:
    return RetryPolicy(attempts=options.run.retries)


def plan_summary(target: Dialect, the_plan: Plan, options: Options) -> dict[str, Any]:
    """What a resumed run must share with the run it continues (its fingerprint's input)."""
    flat = options.flat()
    return {
        "tables": {
            tp.source.name: {"target": tp.target.name, "ddl": target.create_table_sql(tp.target)}
            for tp in the_plan.tables
        },
        "options": {
            k: flat[k]
            for k in (
                "if_exists",
                "schema_only",
                "data_only",
                "zero_dates",
                "nul_bytes",
                "enum",
                "identifiers",
                "verify",
                "float_digits",
            )  # fmt: skip
        },
    }


def _journal_connection(target: Dialect, stack: ExitStack) -> JournalStore:
    """A connection of the run's own to the target (its journal updates commit on their own)."""
    d = dialect_for(target.url)
    d.connect()
    stack.callback(d.close)
    if not isinstance(d, JournalStore):  # never: the same engine as `target`, which keeps one
        raise XferError(f"{d.name} keeps no run journal")
    return d


def find_resumable(source: Dialect, target: Dialect, options: Options, stack: ExitStack) -> RunInfo | None:
    """With --resume: the unfinished run to continue (None: there is none, a new run starts)."""
    if not options.run.resume:
        return None
    if not options.run.journal:
        raise UsageError("--resume needs the run journal: leave out --no-journal")
    if not isinstance(target, JournalStore):
        raise UsageError(
            f"--resume: runs are journaled in PostgreSQL targets only ({target.name} target); run it again instead",
            hint="with --if-exists replace it starts over",
        )
    found = target.unfinished_run(str(source.url), str(target.url)) if target.journal_exists() else None
    if found is None:
        # so that "run it with --resume until it succeeds" works from the very first try
        log.warning("--resume: no unfinished run of this migration in the target: starting a new one")
    return found


def explain_busy_target(exc: TargetExistsError, source: Dialect, target: Dialect) -> TargetExistsError:
    """A target with rows may be an interrupted run of this very migration: say so."""
    if isinstance(target, JournalStore) and target.journal_exists():
        found = target.unfinished_run(str(source.url), str(target.url))
        if found is not None:
            exc.hint = (
                f"nothing was changed; run {found.run_id} of this migration (started {found.started:%Y-%m-%d %H:%M}) "
                f"did not finish: add --resume to continue it, or undo it with `xfer rollback TARGET --run "
                f"{found.run_id}`"
            )
    return exc


def open_run(
    source: Dialect,
    target: Dialect,
    the_plan: Plan,
    options: Options,
    resumable: RunInfo | None,
    existing: set[str],
    stack: ExitStack,
) -> Journal | None:
    """Start the run's journal (or take up `resumable`), and route the target's DDL through it."""
    if not options.run.journal or not isinstance(target, JournalStore):
        return None
    summary = plan_summary(target, the_plan, options)
    d = _journal_connection(target, stack)
    try:
        if resumable is not None:
            j = d.resume_run(resumable, summary, retry_policy(options))
            log.warning("resuming run %s (started %s)", j.run_id, f"{resumable.started:%Y-%m-%d %H:%M:%S}")
        else:
            tables = [(tp.source.name, tp.target.name, tp.target.name in existing) for tp in the_plan.tables]
            start = RunStart(str(source.url), str(target.url), options.flat(), summary, tables)
            j = d.start_run(start, retry_policy(options))
    except XferError as exc:
        if resumable is None and "permission denied" in exc.message:
            exc.hint = "xfer keeps its run journal in schema _xfer of the target: grant CREATE, or use --no-journal"
        raise
    j.attach(target)
    return j


def preexisting(j: Journal) -> set[str]:
    return set(j.preexisting_tables())


def take_backup(target: Dialect, the_plan: Plan, options: Options, existing: set[str], j: Journal | None) -> None:
    """--backup DIR: save the existing tables --if-exists truncate|replace is about to
    overwrite. A resumed run whose backup is complete takes none (the tables may be ours now)."""
    if not options.run.backup or options.copy.if_exists not in ("truncate", "replace") or options.copy.data_only:
        return
    label = j.run_id if j is not None else new_run_id()
    directory = Path(options.run.backup)
    if (directory / label / backup.MANIFEST).is_file():
        return
    names = [tp.target.name for tp in the_plan.tables if tp.target.name in existing]
    names = [n for n in names if target.table_has_rows(n)]
    if names:
        backup.save_tables(target, names, directory, label)


def enforce_max_errors(report: RunReport, options: Options, j: Journal | None) -> None:
    """A table that refused more rows than --max-errors is failed (report and journal)."""
    for r in report.tables:
        if r.rejected_rows > options.policies.max_errors and r.status != "failed":
            r.status = "failed"
            dup = f", {r.duplicate_keys:,} of them for a key the table already held" if r.duplicate_keys else ""
            r.error = (
                f"{r.rejected_rows:,} row(s) refused by the target{dup} "
                f"(more than --max-errors {options.policies.max_errors})"
                + (f"; they are in {report.reject_file}" if report.reject_file else "")
            )
            if j is not None:
                j.set_table(r.name, "failed", r.error)


def mark_tables(j: Journal | None, results: dict[str, TableResult]) -> None:
    """Each table's state after a copy that does not keep it itself (the parallel copy)."""
    if j is None:
        return
    for name, r in results.items():
        j.set_table(name, "failed" if r.status == "failed" else "copied", r.error if r.status == "failed" else None)


def write_rejects(j: Journal, path: str | None, results: list[TableResult]) -> str | None:
    """The run's refused rows (every chunk, this process's and earlier ones'), from the journal;
    each table's `duplicate_keys` counted from them."""
    records = j.rejects()
    for r in results:
        r.duplicate_keys = count_duplicate_keys([rec for rec in records if rec["table"] == r.name])
    if not records:
        return None
    f = RejectFile(path or "xfer-rejects.jsonl")
    try:
        f.write(records)
    finally:
        f.close()
    return str(f.path)


def finish(j: Journal, report: RunReport) -> None:
    bad = report.failed or report.mismatched
    error = "; ".join(f"{t.name}: {t.error}" for t in bad if t.error)[:2000] or None
    j.finish("failed" if bad else "done", error)


def abandon(j: Journal, exc: BaseException) -> None:
    """The run stops on an error: record it, and tell the user how to go on or back."""
    try:
        j.finish("failed", str(exc) if isinstance(exc, XferError) else type(exc).__name__)
    except XferError:
        pass  # the target is unreachable: the run stays "running" (shown as interrupted)
    if isinstance(exc, XferError) and exc.exit_code != 2 and not exc.hint:
        exc.hint = resume_hint(j.run_id)


def resume_hint(run_id: str) -> str:
    return (
        f"run {run_id} is recorded in the target: fix the cause and run the same command with --resume "
        f"(copied chunks are kept), or undo it with `xfer rollback TARGET --run {run_id}`"
    )


def results_note(j: Journal) -> str | None:
    if not j.resumed:
        return None
    return f"resumed run {j.run_id}: {j.kept_chunks} chunk(s) copied before were kept, the rest copied now"

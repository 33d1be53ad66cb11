"""The `xfer` command: parse, call one library function, format. No logic lives here."""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from xfer import api as pipeline
from xfer.core import __version__
from xfer.core.errors import EXIT_ERROR, EXIT_MISMATCH, EXIT_USAGE, UsageError, VerificationMismatch, XferError
from xfer.core.options import ENUMS, IDENTIFIERS, NUL_BYTES, VERIFY_METHODS, ZERO_DATES
from xfer.core.report import render_stats
from xfer.core.urls import mask
from xfer.report.formats import FORMATS, render
from xfer.report.formats import write as write_report

log = logging.getLogger("xfer")


def _setup_logging(debug: bool, quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("xfer: %(message)s"))
    root = logging.getLogger("xfer")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.ERROR if quiet else logging.WARNING)
    root.propagate = False
    # a mapping file's hooks are part of the run's story: shown unless --quiet
    logging.getLogger("xfer.hooks").setLevel(logging.ERROR if quiet else logging.INFO)


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Common options and the one place where errors become messages and exit codes."""

    @click.option("--quiet", "-q", is_flag=True, help="No progress bars, no summary; errors only.")
    @click.option("--debug", is_flag=True, help="Log every statement; show tracebacks.")
    @wraps(fn)
    def wrapper(*args: Any, quiet: bool, debug: bool, **kwargs: Any) -> None:
        _setup_logging(debug, quiet)
        try:
            fn(*args, quiet=quiet, **kwargs)
        except XferError as exc:
            if debug:
                traceback.print_exc()
            click.echo(f"error: {mask(str(exc))}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            # `xfer inspect … | head`: the reader has gone; stop quietly, as other tools do.
            # Point stdout at devnull so the interpreter's final flush does not fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_ERROR)
        except click.exceptions.Exit:
            raise
        except Exception as exc:  # a bug: still one line, and the traceback on demand
            if debug:
                traceback.print_exc()
            click.echo(f"error: internal error: {mask(repr(exc))} (run with --debug for details)", err=True)
            sys.exit(EXIT_ERROR)

    return wrapper


def _progress(quiet: bool) -> pipeline.ProgressFactory:
    if quiet or not sys.stderr.isatty():
        return pipeline.no_progress
    from tqdm import tqdm

    def factory(name: str, total: int | None) -> pipeline.Progress:
        return tqdm(total=total or None, desc=name, unit=" rows", unit_scale=True, file=sys.stderr, leave=False)

    return factory


def _write_report(report: pipeline.RunReport, paths: Path | tuple[Path, ...] | None) -> None:
    for path in (paths,) if isinstance(paths, Path) else paths or ():
        try:
            write_report(report, path)
        except OSError as exc:
            raise XferError(f"cannot write the report {str(path)!r}: {exc.strerror or exc}") from None


def _finish(
    report: pipeline.RunReport,
    quiet: bool,
    report_path: Path | tuple[Path, ...] | None,
    fmt: str = "text",
    *,
    stats: bool = False,
) -> None:
    _write_report(report, report_path)
    if not quiet or fmt != "text":
        click.echo(render(report, fmt), nl=False)
        if stats and fmt == "text":
            click.echo(render_stats(report))
    report_path = report_path[0] if isinstance(report_path, tuple) and report_path else report_path
    if report.failed:
        names = ", ".join(t.name for t in report.failed)
        if quiet:  # no summary was printed: say why the first one failed
            names += f" ({report.failed[0].name}: {report.failed[0].error})"
        raise XferError(
            f"{len(report.failed)} table(s) failed: {names}" + (f"; report: {report_path}" if report_path else ""),
            hint=_failure_hint(report),
        )
    if report.mismatched:
        names = ", ".join(t.name for t in report.mismatched)
        raise VerificationMismatch(f"verification found differences in {len(report.mismatched)} table(s): {names}")
    if report.rejected_rows:  # within --max-errors (beyond it the table failed above): said, not an error
        click.echo(
            f"note: {report.rejected_rows} refused row(s) accepted (--max-errors); they are in {report.reject_file}",
            err=True,
        )


def _failure_hint(report: pipeline.RunReport) -> str | None:
    """What to do next: fix refused rows, or resume / roll back the journaled run."""
    hints = []
    if any(t.rejected_rows for t in report.failed):
        hints.append(
            f"each line of {report.reject_file} names a refused row (table, key, column, value, reason): fix those "
            "values in the source and copy the table again, or accept up to N refused rows with --max-errors N"
        )
    if report.run_id:
        hints.append(
            f"run {report.run_id} is recorded in the target: after fixing the cause, run the same command with "
            f"--resume (copied chunks are kept), or undo it with `xfer rollback TARGET --run {report.run_id}`"
        )
    return "\n  hint: ".join(hints) or None


source_arg = click.argument("source", envvar="XFER_SOURCE", metavar="[SOURCE]", required=False)
target_arg = click.argument("target", envvar="XFER_TARGET", metavar="[TARGET]", required=False)
consistency_opt = click.option(
    "--consistency",
    type=click.Choice(pipeline.CONSISTENCY),
    default="lock",
    show_default=True,
    help="lock: the source tables refuse writes while they are read (fast reader); "
    "snapshot: the source stays writable, every reader sees one snapshot (slower reader).",
)
retries_opt = click.option(
    "--retries",
    type=click.IntRange(0),
    default=5,
    show_default=True,
    help="Tries again after a transient error (lost connection, deadlock), with backoff.",
)
mapping_opt = click.option(
    "--mapping",
    "-m",
    "mapping_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Mapping file (YAML): renames, filters, types, split/merge, hooks. Its source, target and "
    "options apply where the command line gives none.",
)


def _resolve(
    source: str | None, target: str | None, mapping_path: Path | None, opts: pipeline.Options
) -> tuple[str, str, pipeline.Options]:
    """SOURCE/TARGET and options from the command line, else the mapping file, else XFER_SOURCE/XFER_TARGET."""
    ctx = click.get_current_context()
    given = {n for n in ctx.params if ctx.get_parameter_source(n) is ParameterSource.COMMANDLINE}
    mapping = None
    if mapping_path is not None:
        from xfer.mapping import load_mapping
        from xfer.mapping.options import with_file_options

        mapping = load_mapping(mapping_path)
        opts = with_file_options(mapping, opts, given)
    ends = []
    for name, value in (("source", source), ("target", target)):
        from_file = getattr(mapping, name, None) if mapping is not None else None
        chosen = value if name in given or not from_file else from_file
        if not chosen:
            raise UsageError(
                f"missing {name.upper()}",
                hint=f"give it as an argument, in XFER_{name.upper()}, or as `{name}:` in a mapping file (-m)",
            )
        ends.append(chosen)
    return ends[0], ends[1], opts


def policies(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The value policies and naming options that `migrate` and `plan` share."""
    for decorator in reversed(
        [
            click.option(
                "--zero-dates",
                type=click.Choice(ZERO_DATES),
                default="null",
                show_default=True,
                help="MySQL zero/partial dates ('0000-00-00', '2021-00-15'): NULL (counted) or reject the row.",
            ),
            click.option(
                "--nul-bytes",
                type=click.Choice(NUL_BYTES),
                default="reject",
                show_default=True,
                help="Text holding U+0000 (PostgreSQL cannot store it): reject the row, or strip it (counted).",
            ),
            click.option(
                "--enum",
                "enum_as",
                type=click.Choice(ENUMS),
                default="text",
                show_default=True,
                help="MySQL ENUM as text + CHECK (labels), or as a PostgreSQL enum type.",
            ),
            click.option(
                "--identifiers",
                type=click.Choice(IDENTIFIERS),
                default="lower",
                show_default=True,
                help="Target names lower-cased (usable unquoted) or kept as in the source.",
            ),
        ]
    ):
        fn = decorator(fn)
    return fn


def selection(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--exclude", multiple=True, metavar="GLOB", help="Leave out tables matching GLOB (repeatable).")(
        fn
    )
    fn = click.option("--tables", "-t", multiple=True, metavar="GLOB", help="Only tables matching GLOB (repeatable).")(
        fn
    )
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="xfer")
def main() -> None:
    """Move whole databases between engines and prove nothing was lost.

    URLs: mysql://user:pass@host:3306/db, postgresql://user:pass@host:5432/db?schema=s,
    sqlite:///path.db, duckdb:///path.duckdb. SOURCE and TARGET may come from XFER_SOURCE and
    XFER_TARGET. Exit codes: 0 ok, 1 error, 2 usage, 3 verification mismatch.
    """
    _fewer_malloc_arenas()


def _fewer_malloc_arenas() -> None:
    """glibc gives threads that allocate at once heaps of their own (up to 8 per core); with the
    verifier's threads (two readers, two hashers, the drivers' and DuckDB's) freed memory then
    lies spread over many half-used heaps. Verifying 2M rows, three runs each: 16 heaps 420-447
    MB peak RSS in 5.17-5.30 s; 4 heaps 404-418 MB in 5.19-5.20 s; 2 heaps 394-430 MB but 5.42-
    5.54 s (threads wait on each other's heap). Four, set before the command starts threads;
    MALLOC_ARENA_MAX in the environment wins; elsewhere than glibc, nothing."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, 4)  # M_ARENA_MAX (malloc.h)
    except (OSError, AttributeError):  # not glibc (musl has no such library or function)
        pass


@main.command()
@source_arg
@target_arg
@selection
@click.option(
    "--if-exists",
    type=click.Choice(pipeline.IF_EXISTS),
    default="fail",
    show_default=True,
    help="What to do with a target table that already has rows.",
)
@click.option("--schema-only", is_flag=True, help="Create tables, keys and indexes; copy no rows.")
@click.option("--data-only", is_flag=True, help="Copy rows into existing tables; create nothing.")
@click.option(
    "--batch-size", type=click.IntRange(1), default=50_000, show_default=True, help="Rows per batch (and per commit)."
)
@click.option(
    "--batch-bytes",
    type=click.IntRange(1),
    default=4,
    show_default=True,
    metavar="MB",
    help="A batch (and commit) also ends at this many megabytes (MySQL -> PostgreSQL).",
)
@click.option(
    "--chunk-bytes",
    type=click.FloatRange(min=0.01),  # fractions: small chunks (a journaled run commits per chunk)
    default=8,
    show_default=True,
    metavar="MB",
    help="Tables with an integer primary key are split into key ranges of about this size.",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Tables and key ranges copied at once, and indexes built at once (MySQL -> PostgreSQL).",
)
@consistency_opt
@click.option("--no-verify", is_flag=True, help="Skip the row-count and checksum check after the copy.")
@click.option("--stats", is_flag=True, help="Print wall seconds per phase and seconds per stage after the summary.")
@click.option(
    "--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the run's results as JSON."
)
@mapping_opt
@policies
@click.option(
    "--reject-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where rejected rows go, as JSON lines [default: next to --report, else ./xfer-rejects.jsonl].",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue this migration's unfinished run (recorded in the target) from its last committed chunk.",
)
@click.option(
    "--max-errors",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Rows a table may have refused (they go to the reject file) before it counts as failed.",
)
@retries_opt
@click.option(
    "--backup",
    "backup_dir",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Save target tables --if-exists truncate|replace overwrites (Parquet); `xfer restore` puts them back.",
)
@click.option(
    "--no-journal", is_flag=True, help="Keep no run journal in the target (then no --resume and no rollback)."
)
@command
def migrate(
    source: str | None,
    target: str | None,
    tables: tuple[str, ...],
    exclude: tuple[str, ...],
    if_exists: str,
    schema_only: bool,
    data_only: bool,
    batch_size: int,
    batch_bytes: int,
    chunk_bytes: float,
    jobs: int,
    consistency: str,
    no_verify: bool,
    stats: bool,
    report_path: Path | None,
    mapping_path: Path | None,
    zero_dates: str,
    nul_bytes: str,
    enum_as: str,
    identifiers: str,
    reject_file: Path | None,
    resume: bool,
    max_errors: int,
    retries: int,
    backup_dir: str | None,
    no_journal: bool,
    quiet: bool,
) -> None:
    """Copy SOURCE's tables into TARGET, then verify counts and checksums.

    Tables are created without keys, rows are copied in batches (one commit each), then
    primary keys, indexes and foreign keys are built, then every table is checked.
    """
    if reject_file is None:
        reject_file = report_path.with_name(report_path.stem + ".rejects.jsonl") if report_path else None
    opts = pipeline.Options.build(
        tables=tables,
        exclude=exclude,
        if_exists=if_exists,
        schema_only=schema_only,
        data_only=data_only,
        batch_size=batch_size,
        verify=not no_verify,
        zero_dates=zero_dates,
        nul_bytes=nul_bytes,
        enum=enum_as,
        identifiers=identifiers,
        reject_file=str(reject_file) if reject_file else None,
        resume=resume,
        max_errors=max_errors,
        retries=retries,
        backup=backup_dir,
        journal=not no_journal,
        jobs=jobs,
        consistency=consistency,
        batch_bytes=batch_bytes * 1024 * 1024,
        chunk_bytes=int(chunk_bytes * 1024 * 1024),
    )
    source, target, opts = _resolve(source, target, mapping_path, opts)
    report = pipeline.migrate(source, target, opts, _progress(quiet))
    _finish(report, quiet, report_path, stats=stats)


@main.command()
@source_arg
@target_arg
@selection
@click.option(
    "--report",
    "report_paths",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Write the results to PATH: .md or .html for a sign-off document, else JSON (repeatable).",
)
@mapping_opt
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="What to print on stdout: the terminal table, the JSON report, Markdown or HTML.",
)
@click.option(
    "--sample",
    type=click.IntRange(0),
    default=10,
    show_default=True,
    help="Differing keys shown per table, with the source and target values.",
)
@click.option(
    "--method",
    type=click.Choice(VERIFY_METHODS),
    default="auto",
    show_default=True,
    help="Where checksums are computed: in the database (pushdown), here over Arrow (client), "
    "or auto: pushdown for servers on another host.",
)
@click.option(
    "--float-digits",
    type=click.IntRange(1, 17),
    default=None,
    help="Compare float columns by N significant digits instead of exactly (IEEE bits).",
)
@click.option("--batch-size", type=click.IntRange(1), default=50_000, show_default=True, help="Rows per read batch.")
@consistency_opt
@retries_opt
@command
def verify(
    source: str | None,
    target: str | None,
    tables: tuple[str, ...],
    exclude: tuple[str, ...],
    report_paths: tuple[Path, ...],
    fmt: str,
    sample: int,
    method: str,
    float_digits: int | None,
    batch_size: int,
    consistency: str,
    retries: int,
    mapping_path: Path | None,
    quiet: bool,
) -> None:
    """Prove TARGET holds SOURCE's rows, or name the rows that differ.

    Per table: exact row counts and checksums on both sides, then, where they differ, the keys
    missing in the target, extra in it, and changed (with the columns and both values). With
    -m FILE the source is compared *as the mapping file maps it* (renamed, filtered,
    transformed, computed). Exit codes: 0 identical, 3 differences, 1 errors.
    """
    opts = pipeline.Options.build(
        tables=tables,
        exclude=exclude,
        batch_size=batch_size,
        verify_method=method,
        float_digits=float_digits,
        sample=sample,
        consistency=consistency,
        retries=retries,
    )
    source, target, opts = _resolve(source, target, mapping_path, opts)
    report = pipeline.verify(source, target, opts, _progress(quiet))
    _finish(report, quiet, report_paths, fmt)


@main.command()
@source_arg
@target_arg
@selection
@mapping_opt
@policies
@command
def plan(
    source: str | None,
    target: str | None,
    tables: tuple[str, ...],
    exclude: tuple[str, ...],
    mapping_path: Path | None,
    zero_dates: str,
    nul_bytes: str,
    enum_as: str,
    identifiers: str,
    quiet: bool,
) -> None:
    """Show what `migrate` would do: tables, column types source -> target with the decisions
    and value policies behind them, renames, views, the DDL. Changes nothing."""
    opts = pipeline.Options.build(
        tables=tables,
        exclude=exclude,
        zero_dates=zero_dates,
        nul_bytes=nul_bytes,
        enum=enum_as,
        identifiers=identifiers,
    )
    source, target, opts = _resolve(source, target, mapping_path, opts)
    the_plan = pipeline.plan(source, target, opts)
    for note in the_plan.policies + the_plan.notes:
        click.echo(f"note: {note}")
    for tp in the_plan.tables:
        shown = tp.source.name == tp.target.name or tp.source.name.endswith(f" -> {tp.target.name}")  # split parts
        rename = "" if shown else f" -> {tp.target.name}"
        est = f" (~{tp.source.row_estimate:,} rows)" if tp.source.row_estimate is not None else ""
        click.echo(f"\n== {tp.source.name}{rename}{est}")
        names = [
            s.name if s.name == t.name else f"{s.name} -> {t.name}"
            for s, t in zip(tp.source.columns, tp.target.columns, strict=True)
        ]
        width = max(len(n) for n in names)
        for name, sc, tc in zip(names, tp.source.columns, tp.target.columns, strict=True):
            flag = "" if sc.nullable else " NOT NULL"
            click.echo(f"  {name.ljust(width)}  {sc.native_type} -> {tc.native_type}{flag}")
            for why in tp.column_notes.get(sc.name, []):
                click.echo(f"  {''.ljust(width)}    {why}")
        for note in tp.notes:
            click.echo(f"  note: {note}")
        click.echo("  -- DDL")
        for sql in tp.ddl:
            click.echo("  " + sql.replace("\n", "\n  ") + ";")
    if the_plan.renames:
        click.echo("\n== renames")
        for rn in the_plan.renames:
            click.echo(f"  {rn}")
    if the_plan.views:
        click.echo("\n== views")
        for v in the_plan.views:
            if v.sql:
                click.echo(f"  {v.name}: created as {v.target_name} (translated)")
                click.echo("    " + v.sql)
            else:
                click.echo(f"  {v.name}: NOT created ({v.reason})")
    if the_plan.triggers:
        click.echo("\n== triggers")
        for tr in the_plan.triggers:
            if tr.statements:
                click.echo(f"  {tr.name} on {tr.table}: created (translated)")
                for sql in tr.statements:
                    click.echo("    " + sql.replace("\n", "\n    ") + ";")
            else:
                click.echo(f"  {tr.name} on {tr.table}: NOT created ({tr.reason})")


@main.command()
@click.argument("url", envvar="XFER_SOURCE")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@command
def inspect(url: str, as_json: bool, quiet: bool) -> None:
    """List URL's tables with their columns, types, keys and exact row counts."""
    tables = pipeline.inspect(url).tables
    if as_json:
        click.echo(json.dumps([_table_dict(t) for t in tables], indent=2))
        return
    for t in tables:
        click.echo(f"{t.name}  ({t.row_estimate:,} rows)")
        for c in t.columns:
            marks = " PK" if c.name in t.primary_key else ""
            marks += "" if c.nullable else " NOT NULL"
            click.echo(f"  {c.name}  {c.native_type}{marks}")
        for ix in t.indexes:
            click.echo(f"  {'unique ' if ix.unique else ''}index {ix.name} ({', '.join(ix.columns)})")
        for fk in t.foreign_keys:
            click.echo(
                f"  foreign key {fk.name} ({', '.join(fk.columns)}) -> {fk.ref_table} ({', '.join(fk.ref_columns)})"
            )


def _table_dict(t: Any) -> dict[str, Any]:
    return {
        "name": t.name,
        "rows": t.row_estimate,
        "columns": [{"name": c.name, "type": c.native_type, "nullable": c.nullable} for c in t.columns],
        "primary_key": t.primary_key,
        "indexes": [{"name": i.name, "columns": i.columns, "unique": i.unique} for i in t.indexes],
        "foreign_keys": [
            {"name": f.name, "columns": f.columns, "ref_table": f.ref_table, "ref_columns": f.ref_columns}
            for f in t.foreign_keys
        ],
    }


__all__ = ["main", "EXIT_USAGE", "EXIT_MISMATCH"]

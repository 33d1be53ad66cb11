"""The `xfer` group and what its commands share: logging, the one place where errors become
messages and exit codes, progress (`progress.py` draws it), printing and writing the report, SOURCE/TARGET and the
shared options, and turning parsed flags into `Options`. The commands themselves live in
`migrate.py`, `verify.py`, `plan.py` (plan, inspect) and `runs.py` (runs, rollback, restore);
`xfer/cli/__init__.py` imports them so that they register on `main`."""

from __future__ import annotations

import logging
import os
import shlex
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from xfer import api
from xfer.cli.progress import MODES, Above, Display, resolve_mode
from xfer.core import __version__, interrupt
from xfer.core.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_MISMATCH,
    EXIT_USAGE,
    Interrupted,
    UsageError,
    VerificationMismatch,
    XferError,
)
from xfer.core.options import COLLATIONS, CONSISTENCY, ENUMS, IDENTIFIERS, MB, NUL_BYTES, ZERO_DATES, Options
from xfer.core.urls import mask
from xfer.report.formats import render
from xfer.report.formats import write as write_report
from xfer.report.text import render_stats

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("xfer")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="xfer")
def main() -> None:
    """Move whole databases between engines and prove nothing was lost.

    URLs: mysql://user:pass@host:3306/db, postgresql://user:pass@host:5432/db?schema=s,
    sqlite:///path.db, duckdb:///path.duckdb. SOURCE and TARGET may come from XFER_SOURCE and
    XFER_TARGET. Exit codes: 0 ok, 1 error, 2 usage, 3 verification mismatch, 130 interrupted.
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
            click.echo(("" if isinstance(exc, Interrupted) else "error: ") + mask(str(exc)), err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
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


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGINT and SIGTERM stop the command as Ctrl-C does (exit 130): the first lets the work in
    hand finish or roll back, a second aborts it (xfer.core.interrupt)."""

    def said(signum: int, first: bool) -> None:
        if first and signum == signal.SIGTERM:
            log.warning("terminated (SIGTERM): stopping as Ctrl-C would")

    with interrupt.handled(said):
        yield


def resume_commands(exc: Interrupted, target: str) -> None:
    """Give an interrupted run's hint the exact commands: this one again with --resume, and
    the rollback (passwords masked; URLs from XFER_SOURCE/XFER_TARGET stay there)."""
    argv = [a for a in sys.argv[1:] if a != "--resume"]
    if exc.run_id is None or "migrate" not in argv:  # (called in-process: the library's hint stands)
        return
    again = shlex.join(["xfer", *(mask(a) for a in argv), "--resume"])
    back = shlex.join(["xfer", "rollback", mask(target), "--run", exc.run_id])
    exc.hint = f"continue it (copied chunks are kept): {again}\n  hint: or undo it: {back}"


progress_opt = click.option(
    "--progress",
    "progress_mode",
    type=click.Choice(MODES),
    default="auto",
    show_default=True,
    envvar="XFER_PROGRESS",
    show_envvar=True,
    help="On stderr: bars redrawn in place, a plain line every few seconds (for logs), or none; "
    "auto: bars when stderr is a terminal, else none. -q: none.",
)


@contextmanager
def progress_display(mode: str, quiet: bool) -> Iterator[api.ProgressEvents]:
    """The run's progress as `--progress` asks, on stderr; the bars are erased when the block
    ends, however it ends (done, an error, Ctrl-C), so the terminal is left clean."""
    mode = resolve_mode(mode, quiet, sys.stderr)
    if mode == "none":
        yield api.ProgressEvents()
        return
    display = Display(mode, sys.stderr)
    moved = []
    if mode == "bar":  # log messages above the bars, not through them
        for h in logging.getLogger("xfer").handlers:
            if isinstance(h, logging.StreamHandler):
                moved.append((h, h.setStream(Above(display))))
    display.start()
    ok = False
    try:
        yield display
        ok = True
    finally:
        display.stop(ok)
        for h, old in moved:
            h.setStream(old)


def _write_report(report: api.RunReport, paths: Path | tuple[Path, ...] | None) -> None:
    for path in (paths,) if isinstance(paths, Path) else paths or ():
        try:
            write_report(report, path)
        except OSError as exc:
            raise XferError(f"cannot write the report {str(path)!r}: {exc.strerror or exc}") from None


def finish(
    report: api.RunReport,
    quiet: bool,
    report_path: Path | tuple[Path, ...] | None,
    fmt: str = "text",
    *,
    stats: bool = False,
) -> None:
    """Write the report files, print the report (unless --quiet, for the text format), and turn
    failed or differing tables into the error the command exits with."""
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


def _failure_hint(report: api.RunReport) -> str | None:
    """What to do next: fix refused rows, or resume / roll back the journaled run."""
    hints = []
    if any(t.duplicate_keys for t in report.failed):
        hints.append(
            "a row refused for a duplicate key is already in the target table (--if-exists append adds rows, "
            "it does not update them): copy the table again with --if-exists truncate or replace, "
            "or accept those rows as they are with --max-errors N"
        )
    if any(t.rejected_rows > t.duplicate_keys for t in report.failed):
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


@dataclass(frozen=True)
class ChoiceFlag:
    """A `--flag` that takes one word of a fixed set: declared as data, made a click option by
    `choice_options`."""

    flag: str
    choices: tuple[str, ...]
    default: str
    help: str
    dest: str | None = None  # the Python parameter's name, where it is not the flag's


def choice_options(*specs: ChoiceFlag) -> Callable[[F], F]:
    """One decorator adding the options `specs` declare, listed in --help in the order given."""

    def decorate(fn: F) -> F:
        for spec in reversed(specs):  # click lists the decorator applied last first
            names = [spec.flag, spec.dest] if spec.dest else [spec.flag]
            option = click.option(
                *names, type=click.Choice(spec.choices), default=spec.default, show_default=True, help=spec.help
            )
            fn = option(fn)
        return fn

    return decorate


#: the value policies and naming options that `migrate` and `plan` share
policies = choice_options(
    ChoiceFlag(
        "--zero-dates",
        ZERO_DATES,
        "null",
        "MySQL zero/partial dates ('0000-00-00', '2021-00-15'): NULL (counted) or reject the row.",
    ),
    ChoiceFlag(
        "--nul-bytes",
        NUL_BYTES,
        "reject",
        "Text holding U+0000 (PostgreSQL cannot store it): reject the row, or strip it (counted).",
    ),
    ChoiceFlag(
        "--enum", ENUMS, "text", "MySQL ENUM as text + CHECK (labels), or as a PostgreSQL enum type.", "enum_as"
    ),
    ChoiceFlag(
        "--identifiers", IDENTIFIERS, "lower", "Target names lower-cased (usable unquoted) or kept as in the source."
    ),
    ChoiceFlag(
        "--collations",
        COLLATIONS,
        "keep",
        "keep: each column compares and sorts as in the source (case/accent-insensitive collations); "
        "binary: byte-wise, PostgreSQL's default.",
    ),
)
consistency_opt = choice_options(
    ChoiceFlag(
        "--consistency",
        tuple(c for c in CONSISTENCY if c != "none"),  # none: what --follow copies with
        "lock",
        "lock: the source tables refuse writes while they are read (fast reader); "
        "snapshot: the source stays writable, every reader sees one snapshot (slower reader).",
    )
)


def number_option(
    flag: str,
    kind: click.IntRange | click.FloatRange,
    default: float | None,
    help: str,
    *,
    short: str | None = None,
    metavar: str | None = None,
) -> Callable[[F], F]:
    """A `--flag` taking a number in `kind`'s range; its default (if any) shown in --help."""
    names = [flag, short] if short else [flag]
    return click.option(
        *names, type=kind, default=default, show_default=default is not None, metavar=metavar, help=help
    )


retries_opt = number_option(
    "--retries", click.IntRange(0), 5, "Tries again after a transient error (lost connection, deadlock), with backoff."
)
mapping_opt = click.option(
    "--mapping",
    "-m",
    "mapping_path",
    # no checks here: the loader says what is wrong with the path, in xfer's words (exit 2)
    type=click.Path(readable=False, path_type=Path),
    help="Mapping file (YAML): renames, filters, types, split/merge, hooks. Its source, target and "
    "options apply where the command line gives none.",
)


def selection(fn: F) -> F:
    """--tables and --exclude."""
    fn = click.option("--exclude", multiple=True, metavar="GLOB", help="Leave out tables matching GLOB (repeatable).")(
        fn
    )
    fn = click.option("--tables", "-t", multiple=True, metavar="GLOB", help="Only tables matching GLOB (repeatable).")(
        fn
    )
    return fn


def _same(value: Any) -> Any:
    return value


#: command-line parameters whose option has another flat name (`Options.build`) or other units;
#: every other parameter passed to `options_from` is an option of the same name
_AS_OPTION: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "enum_as": ("enum", _same),
    "method": ("verify_method", _same),
    "backup_dir": ("backup", _same),
    "no_verify": ("verify", lambda off: not off),
    "no_journal": ("journal", lambda off: not off),
    "batch_bytes": ("batch_bytes", lambda mb: mb * MB),
    "chunk_bytes": ("chunk_bytes", lambda mb: int(mb * MB)),  # fractions of a MB allowed
    "reject_file": ("reject_file", lambda path: str(path) if path else None),
}


def options_from(flags: Mapping[str, Any]) -> Options:
    """The run's options from a command's parsed option flags (checked by `Options.build`)."""
    settings = {}
    for name, value in flags.items():
        flat, convert = _AS_OPTION.get(name, (name, _same))
        settings[flat] = convert(value)
    return Options.build(**settings)


def resolve(
    source: str | None, target: str | None, mapping_path: Path | None, opts: Options
) -> tuple[str, str, Options]:
    """SOURCE/TARGET and options from the command line, else the mapping file, else XFER_SOURCE/XFER_TARGET."""
    ctx = click.get_current_context()
    given = {n for n in ctx.params if ctx.get_parameter_source(n) is ParameterSource.COMMANDLINE}
    mapping = None
    if mapping_path is not None:
        from xfer.mapping import load_mapping
        from xfer.mapping.options import with_file_options

        mapping = load_mapping(mapping_path)
        opts = with_file_options(mapping, opts, given)
    in_file = (mapping.source, mapping.target) if mapping is not None else (None, None)
    ends = []
    for name, value, from_file in (("source", source, in_file[0]), ("target", target, in_file[1])):
        chosen = value if name in given or not from_file else from_file
        if not chosen:
            raise UsageError(
                f"missing {name.upper()}",
                hint=f"give it as an argument, in XFER_{name.upper()}, or as `{name}:` in a mapping file (-m)",
            )
        ends.append(chosen)
    return ends[0], ends[1], opts


__all__ = ["EXIT_MISMATCH", "EXIT_USAGE", "main"]  # the exit codes: as the CLI module always offered them

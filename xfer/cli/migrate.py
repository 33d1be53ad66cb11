"""`xfer migrate`: parse, call `xfer.api.migrate`, print the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from xfer import api
from xfer.cli import app
from xfer.core.errors import Interrupted
from xfer.core.options import IF_EXISTS


@app.main.command()
@app.source_arg
@app.target_arg
@app.selection
@app.choice_options(
    app.ChoiceFlag("--if-exists", IF_EXISTS, "fail", "What to do with a target table that already has rows.")
)
@click.option("--schema-only", is_flag=True, help="Create tables, keys and indexes; copy no rows.")
@click.option("--data-only", is_flag=True, help="Copy rows into existing tables; create nothing.")
@app.number_option("--batch-size", click.IntRange(1), 50_000, "Rows per batch (and per commit).")
@app.number_option(
    "--batch-bytes",
    click.IntRange(1),
    4,
    "A batch (and commit) also ends at this many megabytes (MySQL -> PostgreSQL).",
    metavar="MB",
)
@app.number_option(
    "--chunk-bytes",
    click.FloatRange(min=0.01),  # fractions: small chunks (a journaled run commits per chunk)
    8,
    "Tables with an integer primary key are split into key ranges of about this size.",
    metavar="MB",
)
@app.number_option(
    "--jobs",
    click.IntRange(1, 64),
    2,
    "Tables and key ranges copied at once, and indexes built at once (MySQL -> PostgreSQL).",
    short="-j",
)
@app.consistency_opt
@click.option("--no-verify", is_flag=True, help="Skip the row-count and checksum check after the copy.")
@click.option("--stats", is_flag=True, help="Print wall seconds per phase and seconds per stage after the summary.")
@click.option(
    "--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the run's results as JSON."
)
@app.mapping_opt
@app.policies
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
@app.number_option(
    "--max-errors",
    click.IntRange(0),
    0,
    "Rows a table may have refused (they go to the reject file) before it counts as failed.",
)
@app.retries_opt
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
@click.option(
    "--follow",
    is_flag=True,
    help="Copy without locking the source, then apply its binlog until Ctrl-C (MySQL -> PostgreSQL; see cutover).",
)
@app.progress_opt
@app.command
def migrate(
    source: str | None,
    target: str | None,
    report_path: Path | None,
    stats: bool,
    mapping_path: Path | None,
    quiet: bool,
    progress_mode: str,
    **flags: Any,  # the options of the run (see `options_from`)
) -> None:
    """Copy SOURCE's tables into TARGET, then verify counts and checksums.

    Tables are created without keys, rows are copied in key ranges (a PostgreSQL target: one
    transaction each, which marks the range done in the run journal, so --resume skips it;
    --no-journal or an embedded target: one commit per batch), then primary keys, indexes and
    foreign keys are built, then every table is checked. With --follow the copy takes no lock
    and the source's changes are applied after it.
    """
    if flags["reject_file"] is None and report_path:
        flags["reject_file"] = report_path.with_name(report_path.stem + ".rejects.jsonl")
    source, target, opts = app.resolve(source, target, mapping_path, app.options_from(flags))
    try:
        with app.interruptible(), app.progress_display(progress_mode, quiet) as events:
            report = api.migrate(source, target, opts, events)
    except Interrupted as exc:
        app.resume_commands(exc, target)
        raise
    app.finish(report, quiet, report_path, stats=stats)
    if opts.run.follow:
        from xfer.cli.follow import exec_follower

        exec_follower(source, target, mapping_path, quiet)

"""`xfer verify`: parse, call `xfer.api.verify`, print the report in the format asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from xfer import api
from xfer.cli import app
from xfer.core.options import VERIFY_CONSISTENCY, VERIFY_METHODS
from xfer.report.formats import FORMATS


@app.main.command()
@app.source_arg
@app.target_arg
@app.selection
@click.option(
    "--report",
    "report_paths",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Write the results to PATH: .md or .html for a sign-off document, else JSON (repeatable).",
)
@app.mapping_opt
@app.choice_options(
    app.ChoiceFlag(
        "--format",
        FORMATS,
        "text",
        "What to print on stdout: the terminal table, the JSON report, Markdown or HTML.",
        "fmt",
    )
)
@app.number_option(
    "--sample", click.IntRange(0), 10, "Differing keys shown per table, with the source and target values."
)
@app.choice_options(
    app.ChoiceFlag(
        "--method",
        VERIFY_METHODS,
        "auto",
        "Where checksums are computed: in the database (pushdown), here over Arrow (client), "
        "or auto: pushdown for servers on another host.",
    )
)
@app.number_option(
    "--float-digits",
    click.IntRange(1, 17),
    None,
    "Compare float columns by N significant digits instead of exactly (IEEE bits).",
)
@app.number_option("--batch-size", click.IntRange(1), 50_000, "Rows per read batch.")
@app.choice_options(
    app.ChoiceFlag(
        "--consistency",
        VERIFY_CONSISTENCY,
        "live",
        "live: no lock, no snapshot (writes never wait), differing keys read again in rounds; "
        "lock: the source tables refuse writes while read; snapshot: one snapshot per side.",
        "verify_consistency",
    )
)
@app.number_option(
    "--recheck",
    click.IntRange(0),
    3,
    "live: rounds the differing keys are read again in, until they are gone or stay (0: none).",
    metavar="N",
)
@click.option(
    "--strict",
    is_flag=True,
    help="live: keys still changing in the source after the rounds count as differences (exit 3).",
)
@app.retries_opt
@app.progress_opt
@app.command
def verify(
    source: str | None,
    target: str | None,
    report_paths: tuple[Path, ...],
    fmt: str,
    mapping_path: Path | None,
    quiet: bool,
    progress_mode: str,
    **flags: Any,  # the options of the check (see `options_from`)
) -> None:
    """Prove TARGET holds SOURCE's rows, or name the rows that differ.

    Per table: exact row counts and checksums on both sides, then, where they differ, the keys
    missing in the target, extra in it, and changed (with the columns and both values). With
    -m FILE the source is compared *as the mapping file maps it* (renamed, filtered,
    transformed, computed). The source is read without locks by default (--consistency live):
    keys still changing in it are listed apart ("changed in the source during the check").
    Exit codes: 0 identical, 3 differences, 1 errors.
    """
    source, target, opts = app.resolve(source, target, mapping_path, app.options_from(flags))
    with app.interruptible(), app.progress_display(progress_mode, quiet) as events:
        report = api.verify(source, target, opts, events)
    app.finish(report, quiet, report_paths, fmt)

"""`xfer plan` and `xfer inspect`: what a migration would do, and what a database holds. Both
change nothing; their text is rendered in `xfer.report`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from xfer import api
from xfer.cli import app
from xfer.report.inspect_text import inspection_json, inspection_text
from xfer.report.plan_text import render_plan


@app.main.command()
@app.source_arg
@app.target_arg
@app.selection
@app.mapping_opt
@app.policies
@click.option(
    "--follow",
    is_flag=True,
    help="Also check that SOURCE can be followed into TARGET (migrate --follow): what stops it, what is not followed.",
)
@app.command
def plan(
    source: str | None,
    target: str | None,
    mapping_path: Path | None,
    quiet: bool,
    **flags: Any,  # the options that shape the plan (see `options_from`)
) -> None:
    """Show what `migrate` would do: tables, column types source -> target with the decisions
    and value policies behind them, renames, views, the DDL. Changes nothing."""
    source, target, opts = app.resolve(source, target, mapping_path, app.options_from(flags))
    click.echo(render_plan(api.plan(source, target, opts)), nl=False)


@app.main.command()
@click.argument("url", envvar="XFER_SOURCE")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@app.command
def inspect(url: str, as_json: bool, quiet: bool) -> None:
    """List URL's tables with their columns, types, keys and exact row counts."""
    found = api.inspect(url)
    click.echo(inspection_json(found) if as_json else inspection_text(found), nl=False)

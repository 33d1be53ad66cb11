"""`xfer plan` and `xfer inspect`: what a migration would do, and what a database holds. Both
change nothing; their text is rendered in `xfer.report`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from xfer import api
from xfer.cli import app
from xfer.core.errors import UsageError
from xfer.report.inspect_text import inspection_json, inspection_text
from xfer.report.plan_text import render_plan
from xfer.report.sql_text import render_written


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
@click.option(
    "--sql",
    "sql_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Instead of showing the plan, write its DDL to DIR/up-pre-data.sql, DIR/up-post-data.sql and "
    "DIR/down.sql, for review and `psql`; then `migrate --data-only` copies the rows.",
)
@click.option("--force", is_flag=True, help="With --sql: overwrite the scripts DIR already holds.")
@app.command
def plan(
    source: str | None,
    target: str | None,
    mapping_path: Path | None,
    sql_dir: Path | None,
    force: bool,
    quiet: bool,
    **flags: Any,  # the options that shape the plan (see `options_from`)
) -> None:
    """Show what `migrate` would do: tables, column types source -> target with the decisions
    and value policies behind them, renames, views, the DDL. Changes nothing. With --sql DIR,
    write that DDL as up/down scripts instead."""
    if force and sql_dir is None:
        raise UsageError("--force only applies with --sql DIR")
    source, target, opts = app.resolve(source, target, mapping_path, app.options_from(flags))
    if sql_dir is None:
        click.echo(render_plan(api.plan(source, target, opts)), nl=False)
        return
    scripts = api.plan_sql(source, target, sql_dir, opts, force=force)
    if not quiet:
        click.echo(render_written(scripts, source, target, opts), nl=False)


@app.main.command()
@click.argument("url", envvar="XFER_SOURCE")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@app.command
def inspect(url: str, as_json: bool, quiet: bool) -> None:
    """List URL's tables with their columns, types, keys and exact row counts."""
    found = api.inspect(url)
    click.echo(inspection_json(found) if as_json else inspection_text(found), nl=False)

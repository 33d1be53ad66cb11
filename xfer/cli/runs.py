"""`xfer runs`, `xfer rollback`, `xfer restore`: the journal's runs, undoing one, and putting
back what `--backup` saved. Thin, like the rest of the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from xfer.cli.app import command, main, target_arg
from xfer.core.errors import UsageError
from xfer.runs import backup, rollback


def _confirmed(question: str, yes: bool) -> bool:
    """--yes, or a "y" typed at a terminal; with neither a terminal nor --yes: refuse (exit 2)."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError("nothing was changed: not asking on a non-interactive input", hint="add --yes to go ahead")
    return click.confirm(question, default=False, err=True)


@main.command()
@target_arg
@command
def runs(target: str | None, quiet: bool) -> None:
    """List the runs recorded in TARGET's journal (schema _xfer), oldest first."""
    if not target:
        raise UsageError("missing TARGET", hint="give it as an argument or in XFER_TARGET")
    found = rollback.runs(target)
    if not found:
        click.echo("no runs recorded")
        return
    for r, busy in found:
        when = f"{r.started:%Y-%m-%d %H:%M:%S}"
        status = "running now" if busy else ("interrupted" if r.status == "running" else r.status)
        resumed = f", resumed {r.resumes}x" if r.resumes else ""
        click.echo(f"{r.run_id}  {when}  {status}{resumed}  {r.source} -> {r.target}")


@main.command("rollback")
@target_arg
@click.option("--run", "run_id", metavar="ID", help="The run to undo [default: the latest].")
@click.option("--yes", "-y", is_flag=True, help="Do not ask; needed when input is not a terminal.")
@command
def rollback_cmd(target: str | None, run_id: str | None, yes: bool, quiet: bool) -> None:
    """Undo a run: drop exactly what it created in TARGET (tables, types, sequences, triggers,
    functions, views, schemas) and its journal entries, after showing the list and asking.
    Nothing the run did not create is dropped; one transaction does it all."""
    if not target:
        raise UsageError("missing TARGET", hint="give it as an argument or in XFER_TARGET")

    def confirm(plan: rollback.RollbackPlan) -> bool:
        r = plan.run
        click.echo(f"run {r.run_id} ({r.status}, started {r.started:%Y-%m-%d %H:%M:%S}): {r.source} -> {r.target}")
        tables = {(o.schema, o.name) for o in plan.drop if o.kind in ("table", "foreign table")}
        shown = [o for o in plan.drop if not o.part_of(tables)]
        if shown:
            click.echo(
                f"will drop {len(shown)} object(s)"
                + (" (tables with their indexes, constraints and triggers)" if tables else "")
                + ":"
            )
            for o in shown:
                click.echo(f"  {o}")
        else:
            click.echo("nothing to drop")
        for o, why in plan.kept:
            click.echo(f"kept: {o}: {why}")
        for note in plan.notes:
            click.echo(f"note: {note}")
        click.echo(
            f"will remove run {r.run_id} from the journal"
            + (" (and the journal schema _xfer, which the run created)" if plan.drop_journal else "")
        )
        return _confirmed("Go ahead?", yes)

    done = rollback.rollback(target, run_id, confirm)
    if done is None:
        click.echo("nothing was changed")
        sys.exit(1)
    tables = {(o.schema, o.name) for o in done.drop if o.kind in ("table", "foreign table")}
    dropped = sum(1 for o in done.drop if not o.part_of(tables))
    click.echo(f"rolled back run {done.run.run_id}: {dropped} object(s) dropped")


@main.command("restore")
@click.argument("backup_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@target_arg
@click.option("--tables", "-t", multiple=True, metavar="NAME", help="Only these tables (repeatable).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask; needed when input is not a terminal.")
@command
def restore_cmd(backup_dir: Path, target: str | None, tables: tuple[str, ...], yes: bool, quiet: bool) -> None:
    """Put back target tables that `migrate --backup DIR` saved before overwriting them.

    DIR is the --backup directory (its newest backup is used) or one backup inside it."""
    if not target:
        raise UsageError("missing TARGET", hint="give it as an argument or in XFER_TARGET")

    def confirm(where: Path, steps: list[backup.RestoreStep]) -> bool:
        click.echo(f"backup {where}:")
        for s in steps:
            click.echo(f"  {s}")
        return _confirmed("Go ahead?", yes)

    done = backup.restore_backup(target, backup_dir, tables, confirm)
    if done is None:
        click.echo("nothing was changed")
        sys.exit(1)
    click.echo(f"restored {len(done[1])} table(s) from {done[0]}")

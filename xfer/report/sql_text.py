"""`xfer plan --sql`'s files as text: a header saying where they come from and how to apply them,
then each section's statements, each ending in `;` on its own line, for `psql -f`."""

from __future__ import annotations

import datetime as dt

from xfer.copy.script import DOWN, POST, PRE, MigrationSQL, Script
from xfer.core import __version__
from xfer.core.options import Options
from xfer.core.urls import mask


def shaping_flags(options: Options) -> list[str]:
    """The command-line flags, other than their defaults, that shape the plan (and so must be
    given again to `xfer migrate --data-only`)."""
    flags = []
    if options.mapping is not None:
        flags += ["-m", options.mapping.file]
    for name in options.selection.tables:
        flags += ["--tables", name]
    for name in options.selection.exclude:
        flags += ["--exclude", name]
    p, default = options.policies, Options().policies
    for flag, value, usual in (
        ("--enum", p.enum, default.enum),
        ("--identifiers", p.identifiers, default.identifiers),
        ("--zero-dates", p.zero_dates, default.zero_dates),
        ("--nul-bytes", p.nul_bytes, default.nul_bytes),
    ):
        if value != usual:
            flags += [flag, value]
    if options.run.follow:
        flags.append("--follow")
    return flags


def steps(scripts: MigrationSQL, source: str, target: str, options: Options) -> list[str]:
    """The commands that migrate with the scripts, in order (passwords masked)."""
    migrate = " ".join(["xfer migrate --data-only", mask(source), mask(target), *shaping_flags(options)])
    return [scripts.commands[PRE], migrate, scripts.commands[POST]]


def render_script(
    script: Script, scripts: MigrationSQL, source: str, target: str, options: Options, now: dt.datetime | None = None
) -> str:
    now = now or dt.datetime.now(dt.UTC)
    flags = " ".join(shaping_flags(options)) or "(none: the defaults)"
    head = [
        f"-- {script.name}: {script.purpose}",
        f"-- written by xfer {__version__} (xfer plan --sql) on {now.strftime('%Y-%m-%d %H:%M:%S UTC')}",
        f"-- source:  {mask(source)}",
        f"-- target:  {mask(target)}",
        f"-- options: {flags}",
        "-- the statements are those `xfer migrate` runs; to migrate with them:",
        *(f"--   {i}. {cmd}" for i, cmd in enumerate(steps(scripts, source, target, options), 1)),
        f"-- to undo: {scripts.commands[DOWN]}",
    ]
    body = []
    for s in script.sections:
        body.append("")
        body.append(f"-- {s.title}")
        body.extend(f"-- {c}" for c in s.comments)
        body.extend(f"{sql.rstrip().rstrip(';')};" for sql in s.statements)
    if not script.sections:
        body += ["", "-- nothing to do"]
    return "\n".join(head + body) + "\n"


def render_written(scripts: MigrationSQL, source: str, target: str, options: Options) -> str:
    """What `xfer plan --sql` prints: the files and the commands that use them."""
    lines = [
        f"wrote {path} ({len(s.statements)} statements)" for path, s in zip(scripts.paths, scripts.scripts, strict=True)
    ]
    lines += [
        c for s in scripts.scripts for sec in s.sections for c in (f"note: {sec.title}: {x}" for x in sec.comments)
    ]
    lines.append("to migrate with them, in the directory that holds them:")
    lines += [f"  {cmd}" for cmd in steps(scripts, source, target, options)]
    return "\n".join(lines) + "\n"

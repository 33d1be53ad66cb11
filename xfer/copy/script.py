"""A migration's DDL as three scripts a DBA can review, commit and apply (`xfer plan --sql`):
the statements `migrate` runs before the rows (`up-pre-data.sql`), those it runs after them
(`up-post-data.sql`), in its order, and the drops undoing both (`down.sql`).

The statements come from the same functions the run calls (`xfer.copy.ddl`, the target's
`create_table_sql` / `post_data_sql` / `foreign_keys_sql`): there is no second generator.
Two places differ from a run, by necessity: a script cannot retry, so views are ordered by the
names they use (the run retries until none moves), and the keys and indexes are the serial
build's statements (a parallel run builds the same primary key as a unique index it attaches).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from xfer.copy.ddl import checks_sql, collations_sql, foreign_keys_sql, view_sql
from xfer.core.errors import UsageError
from xfer.core.options import Options
from xfer.dialects.base import Dialect
from xfer.dialects.capabilities import SQLScripts
from xfer.planning.build import Plan, ViewPlan
from xfer.planning.hooks import BoundHook

PRE, POST, DOWN = "up-pre-data.sql", "up-post-data.sql", "down.sql"


@dataclass
class Section:
    """A group of statements under one heading (`table orders`, `foreign keys`, `view v`)."""

    title: str
    statements: list[str]
    comments: list[str] = field(default_factory=list)  # what the reviewer should know (not SQL)


@dataclass
class Script:
    name: str  # the file's name
    purpose: str  # one line for its header
    sections: list[Section]

    @property
    def statements(self) -> list[str]:
        return [sql for s in self.sections for sql in s.statements]


@dataclass
class MigrationSQL:
    """The three scripts; `commands` applies each with the target's client; `paths` once written."""

    pre: Script
    post: Script
    down: Script
    commands: dict[str, str] = field(default_factory=dict)
    paths: list[Path] = field(default_factory=list)

    @property
    def scripts(self) -> list[Script]:
        return [self.pre, self.post, self.down]


def migration_sql(target: Dialect, the_plan: Plan, options: Options) -> MigrationSQL:
    """The plan's DDL for `target`, split where `migrate` copies the rows, and its undoing."""
    if not isinstance(target, SQLScripts):
        raise UsageError(
            f"--sql writes scripts for a database server's client; {target.url.engine} has none",
            hint="plan against a PostgreSQL target, or run `xfer migrate` directly",
        )
    pre: list[Section] = _hooks(the_plan.before)  # as `migrate`: the mapping's before hooks come first
    if schema := target.schema_sql():  # only when it is missing now: down.sql then drops it
        pre.append(Section("schema", schema))
    if collations := collations_sql(target, the_plan):  # as `copy.ddl.create_tables`: before the tables
        pre.append(Section("collations", collations))
    for tp in the_plan.tables:  # as `copy.ddl.create_tables`: each table, then its CHECKs
        pre.append(
            Section(f"table {tp.target.name}", target.create_table_sql(tp.target) + checks_sql(target, tp.target))
        )
    post: list[Section] = []
    for tp in the_plan.tables:  # as `copy.ddl.build_constraints`: keys and indexes, then foreign keys
        if steps := target.post_data_sql(tp.target):
            post.append(Section(f"keys, indexes and identities of {tp.target.name}", steps))
    fks = [sql for tp in the_plan.tables for sql in foreign_keys_sql(target, tp.target, options.run.follow)]
    if fks:
        post.append(Section("foreign keys", fks))
    for v in view_order(the_plan.views):  # as `copy.ddl.create_views`
        if v.sql:
            post.append(Section(f"view {v.target_name}", view_sql(target, v)))
        else:
            post.append(Section(f"view {v.name}", [], [f"not created: {v.reason or v.status}"]))
    for tr in the_plan.triggers:  # as `copy.ddl.create_triggers`
        title = f"trigger {tr.name} on {tr.table}"
        post.append(Section(title, tr.statements, [] if tr.statements else [f"not created: {tr.reason or tr.status}"]))
    post += _hooks(the_plan.after)
    return MigrationSQL(
        Script(PRE, "run before `xfer migrate --data-only`: schemas, types, sequences, tables and their CHECKs", pre),
        Script(POST, "run after the data: keys, indexes, identities, foreign keys, views, triggers", post),
        Script(DOWN, "drops what the two up scripts create, in reverse order; nothing else", _undo(target, pre + post)),
        {name: target.apply_command(name) for name in (PRE, POST, DOWN)},
    )


def _hooks(hooks: list[BoundHook]) -> list[Section]:
    """A mapping file's hooks on the target, where `migrate` runs them (`migrate --data-only -m`
    runs them again); those on the source are left to that run."""
    out = []
    for h in hooks:
        if h.on == "target":
            out.append(Section(f"{h.phase} hook ({h.at})", [h.sql]))
        else:
            out.append(Section(f"{h.phase} hook ({h.at})", [], ["on the source: run by `xfer migrate`, not here"]))
    return out


def _undo(target: SQLScripts, sections: list[Section]) -> list[Section]:
    out = []
    for s in reversed(sections):
        drops: list[str] = []
        unknown: list[str] = []
        for sql in reversed(s.statements):
            undo = target.undo_sql(sql)
            if undo is None:  # never for xfer's own statements: said, not skipped silently
                unknown.append(f"review: xfer does not know what this creates: {sql.splitlines()[0][:100]}")
            else:
                drops.extend(undo)
        if drops or unknown:
            out.append(Section(s.title, drops, unknown))
    return out


def view_order(views: list[ViewPlan]) -> list[ViewPlan]:
    """Views after the views they use (a script cannot retry as the run does); a cycle, which
    PostgreSQL refuses anyway, keeps the plan's order."""
    by_name = {v.target_name: v for v in views}
    done: list[ViewPlan] = []
    seen: set[str] = set()

    def uses(v: ViewPlan) -> list[ViewPlan]:
        return [
            other
            for name, other in by_name.items()
            if other is not v
            and v.sql
            and re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", v.sql.split(" AS ", 1)[-1])
        ]

    def visit(v: ViewPlan, path: set[str]) -> None:
        if v.target_name in seen or v.target_name in path:
            return
        path.add(v.target_name)
        for other in uses(v):
            visit(other, path)
        seen.add(v.target_name)
        done.append(v)

    for v in views:
        visit(v, set())
    return done

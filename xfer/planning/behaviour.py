"""The behaviour section: what the application will meet after cutover, column by column, each
item found in the source's catalogue or data (never guessed): comparisons that change with
the collation, trailing spaces that start to count, tinyint(1) become boolean, zero dates
become NULL, ENUM ordering, identities that do not follow explicit ids, ON UPDATE by trigger,
and a source server that silently adjusted values (non-strict sql_mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from xfer.core.options import Options
from xfer.core.report import Behaviour, TableResult
from xfer.core.schema import Column
from xfer.dialects.base import Dialect, split_type
from xfer.dialects.capabilities import BehaviourFacts, BehaviourSource

if TYPE_CHECKING:
    from xfer.core.schema import Table
    from xfer.planning.build import TablePlan, ViewPlan

import re


def source_facts(source: Dialect, tables: Sequence[Table]) -> BehaviourFacts:
    return source.behaviour_facts(tables) if isinstance(source, BehaviourSource) else BehaviourFacts()


def find(plan_tables: Sequence[TablePlan], facts: BehaviourFacts, options: Options) -> list[Behaviour]:
    """The behaviour items of the planned tables (`TablePlan`s), in table and column order."""
    out: list[Behaviour] = []
    mode = facts.sql_mode
    if mode is not None and "STRICT_TRANS_TABLES" not in mode.upper() and "STRICT_ALL_TABLES" not in mode.upper():
        out.append(
            Behaviour(
                None,
                None,
                f"the source's sql_mode is not strict ({mode or 'empty'}): MySQL truncated or adjusted "
                "values that did not fit; PostgreSQL refuses them with an error",
                "test the application's writes against the target; validate lengths and ranges before writing",
            )
        )
    for tp in plan_tables:
        table = tp.target.name
        unique = {c for ix in tp.target.indexes if ix.unique for c in ix.columns} | set(tp.target.primary_key)
        origin = tp.origin or tp.source
        for sc, tc in zip(origin.columns, tp.target.columns, strict=True):
            counts = facts.counts.get((origin.name, sc.name), {})
            out.extend(_column(table, sc, tc, counts, options, tc.name in unique))
    return out


def copied(plan_tables: Sequence[TablePlan], results: dict[str, TableResult], options: Options) -> list[Behaviour]:
    """The items the copy counted itself (zero dates that became NULL), for a plan made
    without reading the data (`make_plan(scan=False)`)."""
    out: list[Behaviour] = []
    for tp in plan_tables:
        r = results.get(tp.source.name)
        for column, counts in (r.policies if r is not None else {}).items():
            if n := counts.get("zero date -> NULL"):
                out.append(_zero_dates(tp.target.name, column, n, options))
    return out


def _zero_dates(table: str, column: str, n: int, options: Options) -> Behaviour:
    then = "become NULL" if options.policies.zero_dates == "null" else "are rejected rows"
    return Behaviour(
        table,
        column,
        f"{n} zero/partial date(s) {then}",
        "treat NULL as the old zero date, or --zero-dates error to see the rows",
    )


def views_using_like(plan_tables: Sequence[TablePlan], views: Sequence[ViewPlan]) -> list[Behaviour]:
    """Views whose source SQL applies LIKE to a column that now has a non-deterministic
    collation: PostgreSQL creates them, then refuses every query of them."""
    fuzzy = {
        sc.name.lower()
        for tp in plan_tables
        for sc, tc in zip((tp.origin or tp.source).columns, tp.target.columns, strict=True)
        if tc.meta.get("collation_kept") and not tc.meta.get("collation_deterministic", True)
    }
    out = []
    for v in views:
        used = sorted({m[1].lower() for m in re.finditer(r"`([^`]+)`\s+(?:not\s+)?like\b", v.definition, re.I)} & fuzzy)
        if used and v.sql:
            out.append(
                Behaviour(
                    v.target_name,
                    None,
                    f"view applies LIKE to {', '.join(used)} (non-deterministic collation): every query of it fails",
                    'write the comparison as col COLLATE "C" ILIKE ... (recreate the view), or give the column '
                    "collation: C in a mapping file",
                )
            )
    return out


def _column(
    table: str, sc: Column, tc: Column, counts: dict[str, int], options: Options, unique: bool
) -> list[Behaviour]:
    items: list[Behaviour] = []

    def say(change: str, action: str) -> None:
        items.append(Behaviour(table, tc.name, change, action))

    source_coll = sc.meta.get("collation")
    if "collation_kept" in tc.meta and source_coll:
        kept = tc.meta["collation_kept"]
        if kept is None and not source_coll.lower().endswith("_bin"):
            dup = "; its unique key now accepts 'a' beside 'A'" if unique else ""
            say(
                f"compares byte-wise here, not as {source_coll} ('A' <> 'a'){dup}; ORDER BY follows the "
                "database's default collation",
                "compare lower(col) = lower(...), or migrate with --collations keep",
            )
        elif kept and not tc.meta.get("collation_deterministic", True):
            say(
                f"compares as {source_coll} did ({kept}), but PostgreSQL (before 18) refuses LIKE and "
                "ILIKE on it (non-deterministic collation)",
                'write col COLLATE "C" ILIKE ... (case-insensitive, accents count), or give the column '
                "collation: C in a mapping file",
            )
    if note := tc.meta.get("collation_note"):
        say(
            f"{note} ({source_coll} -> {tc.meta.get('collation_kept')})",
            "check the ORDER BYs the application relies on",
        )
    if n := counts.get("trailing_spaces"):
        say(
            f"trailing spaces count here: {n} value(s) end in a space, and 'x' no longer equals 'x ' "
            f"({source_coll} is PAD SPACE)",
            "rtrim() the values or the compared strings, or fix the data before cutover",
        )
    if "only_0_1" in sc.meta.get("facts", ()) and tc.native_type == "boolean":
        say("tinyint(1) is boolean here: `col = 1` and arithmetic on it fail", "compare with true/false (or col::int)")
    if n := counts.get("zero_dates"):
        items.append(_zero_dates(table, tc.name, n, options))
    labels = sc.meta.get("enum")
    if labels and options.policies.enum == "text" and list(labels) != sorted(labels):
        say(
            "ENUM is text here: ORDER BY sorts by the label, not by the declared order",
            "ORDER BY array_position(ARRAY[labels], col), or --enum native",
        )
    if sc.autoincrement and split_type(tc.native_type)[0] in ("smallint", "integer", "bigint"):
        say(
            "AUTO_INCREMENT is an identity here: an INSERT with an explicit id does not move it on",
            f"after such inserts: SELECT setval(pg_get_serial_sequence('{table}', '{tc.name}'), max({tc.name}))",
        )
    if sc.on_update == "now":
        say(
            "ON UPDATE CURRENT_TIMESTAMP is done by a BEFORE UPDATE trigger",
            "keep the trigger when the table is altered or recreated",
        )
    return items

"""`types:` rules: the first rule whose `match` fits a column gives its target type.

A `source` pattern is compared with the column's source type, case-insensitively and with
spaces normalised: `*` and `?` are wildcards (`decimal(*,2)`, `enum*`); a pattern without
parentheses ignores the type's parameters, so `varchar` matches `varchar(255)` and
`int unsigned` matches `int(10) unsigned` (but `int` does not match `int unsigned`).
`column` and `table` are name globs. Every key given must match.
"""

from __future__ import annotations

import fnmatch
import re

from xfer.mapping.model import TypeRule


def normalise(native: str) -> str:
    t = re.sub(r"\s+", " ", native.strip().lower())
    return re.sub(r"\s*([(),])\s*", r"\1", t)


def _without_params(native: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"\([^)]*\)", " ", native)).strip()


def base_name(pattern: str) -> str:
    """The type name a pattern starts with ("tinyint(1)" -> "tinyint", "int unsigned" -> "int")."""
    return re.split(r"[\s(*?]", normalise(pattern), maxsplit=1)[0]


def type_matches(pattern: str, native: str) -> bool:
    p, n = normalise(pattern), normalise(native)
    if "(" not in p:
        n = _without_params(n)
    return fnmatch.fnmatchcase(n, p)


def rule_matches(rule: TypeRule, table: str, column: str, native: str) -> bool:
    if rule.source is not None and not type_matches(rule.source, native):
        return False
    if rule.column is not None and not fnmatch.fnmatchcase(column.lower(), rule.column.lower()):
        return False
    return rule.table is None or fnmatch.fnmatchcase(table.lower(), rule.table.lower())


def first_match(rules: list[TypeRule], table: str, column: str, native: str) -> TypeRule | None:
    return next((r for r in rules if rule_matches(r, table, column, native)), None)

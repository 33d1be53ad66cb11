"""MySQL/MariaDB catalogue rows -> the neutral model, as pure functions (unit-tested on recorded
rows), for both catalogue shapes: MariaDB's and MySQL 8's (no display widths, literal defaults
unquoted, expression defaults flagged DEFAULT_GENERATED, CHECK_CONSTRAINTS without TABLE_NAME).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from xfer.core.schema import Check, Column, ForeignKey, Index
from xfer.dialects.mysql.types import arrow_type_of, meta_of, quote_string, unquote_string

_NOW = re.compile(
    r"^(current_timestamp|now|localtimestamp|localtime)\s*(\(\s*(\d*)\s*\))?$|^(curdate|current_date)\s*(\(\s*\))?$",
    re.I,
)
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_BITS = re.compile(r"^b'([01]*)'$", re.I)
# MySQL 8 writes string literals inside expressions as _utf8mb4\'x\' (escaped, with a charset)
_INTRODUCER = re.compile(r"_(?:utf8mb4|utf8mb3|utf8|latin1|binary|ascii|ucs2|utf16|utf32)\s*(?=')", re.I)


def mysql8_expression(text: str) -> str:
    """MySQL 8 prints expressions (defaults, generated columns, checks) with escaped quotes and
    charset introducers: concat(_utf8mb4\\'a\\',`b`) -> concat('a',`b`)."""
    return _INTRODUCER.sub("", text.replace("\\'", "'"))


def parse_default(row: Mapping[str, Any], mariadb: bool) -> tuple[str | None, str | None, str | None]:
    """(default as MySQL SQL, kind, literal value) of an information_schema.COLUMNS row.

    MariaDB (10.2.7+) prints every default as SQL: 'text' quoted, NULL as the word, functions
    as current_timestamp(). MySQL prints literals bare ('abc', not "'abc'") and flags
    expression defaults (CURRENT_TIMESTAMP too) with EXTRA DEFAULT_GENERATED."""
    raw = row.get("COLUMN_DEFAULT")
    if raw is None:
        return None, None, None
    data_type = str(row.get("DATA_TYPE") or "").lower()
    extra = str(row.get("EXTRA") or "").lower()
    if mariadb:
        if raw == "NULL":
            return None, None, None
        if len(raw) >= 2 and raw[0] == raw[-1] == "'":
            return raw, "literal", unquote_string(raw)
        if m := _BITS.match(raw):
            return raw, "literal", str(int(m[1] or "0", 2))
        if _NUMBER.match(raw):
            return raw, "literal", raw
        if _NOW.match(raw):
            return raw, "now", None
        return raw, "expression", None
    if "default_generated" in extra:
        expr = mysql8_expression(raw)
        return expr, "now" if _NOW.match(expr) else "expression", None
    if data_type in ("timestamp", "datetime") and _NOW.match(raw):  # MySQL 5.7
        return raw, "now", None
    if data_type == "bit" and (m := _BITS.match(raw)):
        return raw, "literal", str(int(m[1] or "0", 2))
    return (raw if _NUMBER.match(raw) else quote_string(raw)), "literal", raw


def column_from_row(row: Mapping[str, Any], mariadb: bool) -> Column:
    """One information_schema.COLUMNS row (a dict) -> a neutral Column."""
    native = str(row["COLUMN_TYPE"])
    if str(row.get("DATA_TYPE") or "").lower() == "json":
        native = "json"  # MySQL 8's native JSON
    extra = str(row.get("EXTRA") or "").lower()
    col = Column(
        name=row["COLUMN_NAME"],
        native_type=native,
        arrow=arrow_type_of(native),
        nullable=row.get("IS_NULLABLE") == "YES",
        autoincrement="auto_increment" in extra,
        comment=row.get("COLUMN_COMMENT") or None,
        meta=meta_of(native),
    )
    generation = row.get("GENERATION_EXPRESSION")
    if generation and ("generated" in extra or row.get("IS_GENERATED") == "ALWAYS"):
        col.generated = generation if mariadb else mysql8_expression(generation)
        col.generated_stored = "stored" in extra or "persistent" in extra
    else:
        col.default, col.default_kind, col.default_value = parse_default(row, mariadb)
    if "on update current_timestamp" in extra or "on update now" in extra:
        col.on_update = "now"
    collation = row.get("COLLATION_NAME")
    if collation and str(row.get("DATA_TYPE") or "").lower() not in ("enum", "set"):
        col.meta["collation"] = str(collation)
        col.meta["pad_space"] = pads_space(str(collation))
    charset = row.get("CHARACTER_SET_NAME")
    if charset:
        col.meta["charset"] = charset
        if charset == "latin1":
            col.meta["policy"] = "latin1 decoded as cp1252 (what MySQL's latin1 is)"
    return col


def pads_space(collation: str) -> bool:
    """Whether `collation` compares with PAD SPACE (trailing spaces ignored: 'a' = 'a  '):
    MariaDB's and MySQL's collations do, except the NO PAD ones: `*_nopad_*`, MySQL 8's
    `*_0900_*` and `utf8mb4_bin` on MySQL 8 (said by PAD_ATTRIBUTE there; by name here, so
    recorded rows of either server are read alike). `binary` never pads."""
    name = collation.lower()
    return not ("nopad" in name or "_0900_" in name or name == "binary")


def indexes_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, tuple[list[str], list[Index]]]:
    """information_schema.STATISTICS rows -> per table: (primary key columns, other indexes).
    Prefix lengths (SUB_PART), DESC parts (COLLATION 'D'), MySQL 8 functional parts
    (EXPRESSION, COLUMN_NAME NULL) and the index kind (FULLTEXT, SPATIAL) are kept."""
    out: dict[str, tuple[list[str], list[Index]]] = {}
    found: dict[tuple[str, str], Index] = {}
    ordered = sorted(rows, key=lambda r: (r["TABLE_NAME"], r["INDEX_NAME"], int(r["SEQ_IN_INDEX"])))
    for r in ordered:
        pk, indexes = out.setdefault(r["TABLE_NAME"], ([], []))
        if r["INDEX_NAME"] == "PRIMARY":
            pk.append(r["COLUMN_NAME"])
            continue
        key = (r["TABLE_NAME"], r["INDEX_NAME"])
        ix = found.get(key)
        if ix is None:
            kind = str(r.get("INDEX_TYPE") or "BTREE").lower()
            ix = found[key] = Index(r["INDEX_NAME"], [], unique=not int(r["NON_UNIQUE"]), kind=kind)
            indexes.append(ix)
        expr = r.get("EXPRESSION")
        ix.columns.append(r["COLUMN_NAME"] or "")
        ix.lengths.append(int(r["SUB_PART"]) if r.get("SUB_PART") else None)
        ix.descending.append(r.get("COLLATION") == "D")
        ix.expressions.append(mysql8_expression(expr) if expr else None)
    return out


def foreign_keys_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[ForeignKey]]:
    """KEY_COLUMN_USAGE joined with REFERENTIAL_CONSTRAINTS -> per table foreign keys."""
    out: dict[str, list[ForeignKey]] = {}
    found: dict[tuple[str, str], ForeignKey] = {}
    for r in sorted(rows, key=lambda r: (r["TABLE_NAME"], r["CONSTRAINT_NAME"], int(r["ORDINAL_POSITION"]))):
        key = (r["TABLE_NAME"], r["CONSTRAINT_NAME"])
        fk = found.get(key)
        if fk is None:
            fk = found[key] = ForeignKey(
                r["CONSTRAINT_NAME"],
                [],
                r["REFERENCED_TABLE_NAME"],
                [],
                on_delete=_rule(r.get("DELETE_RULE")),
                on_update=_rule(r.get("UPDATE_RULE")),
            )
            out.setdefault(r["TABLE_NAME"], []).append(fk)
        fk.columns.append(r["COLUMN_NAME"])
        fk.ref_columns.append(r["REFERENCED_COLUMN_NAME"])
    return out


_JSON_VALID = re.compile(r"\s*\(?\s*json_valid\(`((?:[^`]|``)+)`\)\s*\)?\s*", re.I)


def checks_from_rows(
    rows: Iterable[Mapping[str, Any]], mariadb: bool
) -> tuple[dict[str, list[Check]], set[tuple[str, str]], list[str]]:
    """CHECK constraints -> (per table checks, MariaDB JSON columns, notes).

    MariaDB's JSON type is LONGTEXT + CHECK (json_valid(col)): that check marks the column as
    JSON instead of becoming a constraint. MySQL 8's NOT ENFORCED checks are not carried."""
    checks: dict[str, list[Check]] = {}
    json_cols: set[tuple[str, str]] = set()
    notes: list[str] = []
    for r in rows:
        table, name = r["TABLE_NAME"], r["CONSTRAINT_NAME"]
        clause = str(r.get("CHECK_CLAUSE") or "")
        if not mariadb:
            clause = mysql8_expression(clause)
        if m := _JSON_VALID.fullmatch(clause):
            json_cols.add((table, m[1].replace("``", "`")))
            continue
        if str(r.get("ENFORCED") or "YES").upper() == "NO":
            notes.append(f"{table}: check {name!r} is NOT ENFORCED in the source: not created")
            continue
        cols = [c.replace("``", "`") for c in re.findall(r"`((?:[^`]|``)+)`", clause)]
        checks.setdefault(table, []).append(Check(name, clause, cols))
    return checks, json_cols, notes


def _rule(rule: str | None) -> str | None:
    return None if rule in (None, "RESTRICT", "NO ACTION") else rule

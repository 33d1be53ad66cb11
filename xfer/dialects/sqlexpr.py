"""SQL expressions from one engine's dialect to another's: defaults, generated columns, CHECK
constraints, index expressions and view definitions.

sqlglot (a maintained SQL parser and transpiler with MySQL and PostgreSQL dialects) does the
translation; xfer only renames identifiers on the way (lower-casing, shortened names, the
target schema) and reports what it could not translate instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# MySQL prints string literals in stored expressions with a charset introducer: _utf8mb4'x'
_INTRODUCER = re.compile(r"\b_(?:utf8mb4|utf8mb3|utf8|latin1|binary|ascii|ucs2|utf16|utf32)\s*(?=')", re.I)


class TranslateError(Exception):
    pass


def translate(
    sql: str,
    source: str,
    target: str,
    *,
    column: Callable[[str], str] | None = None,
    table: Callable[[str], str | None] | None = None,
    schema: str | None = None,
    known: Callable[[str], bool] | None = None,
) -> str:
    """Translate one expression or statement. `column` maps column names, `table` maps table
    names (None: leave it), `schema` replaces every table's database/schema qualifier (and is
    added to the tables `known` says are migrated ones)."""
    import sqlglot
    from sqlglot import exp

    read = {"postgres": "postgres", "mysql": "mysql", "sqlite": "sqlite", "duckdb": "duckdb"}.get(source, source)
    write = {"postgres": "postgres"}.get(target, target)
    if source == "mysql":
        sql = _INTRODUCER.sub("", sql)
    try:
        tree = sqlglot.parse_one(sql, read=read)
    except Exception as exc:  # sqlglot raises ParseError and TokenError: both mean "not understood"
        raise TranslateError(f"cannot parse: {str(exc).splitlines()[0]}") from None
    if tree is None:
        raise TranslateError("empty expression")

    def rename(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table):
            name = node.name
            new = table(name) if table else None
            if new is not None:
                node.set("this", exp.to_identifier(new, quoted=True))
            # qualified in the source, or one of the migrated tables: name the target schema
            if schema is not None and (node.args.get("db") is not None or (known and known(name))):
                node.set("db", exp.to_identifier(schema, quoted=True))
                node.set("catalog", None)
        elif isinstance(node, exp.Column) and column is not None:
            node.set("this", exp.to_identifier(column(node.name), quoted=True))
            if node.args.get("db") is not None:  # db.table.column -> table.column
                node.set("db", None)
                node.set("catalog", None)
            tbl = node.args.get("table")
            if tbl is not None and table is not None:
                node.set("table", exp.to_identifier(table(tbl.name) or tbl.name, quoted=True))
        elif isinstance(node, exp.TableAlias) and column is not None:
            node.set("this", exp.to_identifier(column(node.name), quoted=True)) if node.name else None
        elif isinstance(node, exp.Alias) and column is not None and node.alias:
            node.set("alias", exp.to_identifier(column(node.alias), quoted=True))
        return node

    tree = tree.transform(rename)
    while isinstance(tree, exp.Paren):  # MySQL 8 wraps stored expressions in parentheses
        tree = tree.this
    try:
        return tree.sql(dialect=write, identify=True)
    except Exception as exc:
        raise TranslateError(f"cannot write for {target}: {str(exc).splitlines()[0]}") from None


def tables_in(sql: str, source: str) -> set[str]:
    """The names of the tables (and views) a statement reads or writes, CTE names excluded."""
    import sqlglot
    from sqlglot import exp

    if source == "mysql":
        sql = _INTRODUCER.sub("", sql)
    try:
        tree = sqlglot.parse_one(sql, read=source)
    except Exception as exc:
        raise TranslateError(f"cannot parse: {str(exc).splitlines()[0]}") from None
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    return {t.name for t in tree.find_all(exp.Table) if t.name not in ctes}


def split_top(text: str, sep: str) -> list[str]:
    """Split at `sep` outside quotes and parentheses."""
    out, cur, depth, quote = [], "", 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            out.append(cur)
            cur = ""
            continue
        cur += ch
    out.append(cur)
    return [p for p in (x.strip() for x in out) if p]

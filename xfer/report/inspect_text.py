"""What `xfer inspect` prints: a database's tables with their columns, keys, indexes, foreign keys
and exact row counts, as text (`inspection_text`) or JSON (`inspection_json`)."""

from __future__ import annotations

import json
from typing import Any

from xfer.core.report import Inspection
from xfer.core.schema import Table


def inspection_text(found: Inspection) -> str:
    """One block per table, every line ended by a newline."""
    lines: list[str] = []
    for t in found.tables:
        lines.append(f"{t.name}  ({t.row_estimate:,} rows)")
        for c in t.columns:
            marks = " PK" if c.name in t.primary_key else ""
            marks += "" if c.nullable else " NOT NULL"
            lines.append(f"  {c.name}  {c.native_type}{marks}")
        for ix in t.indexes:
            lines.append(f"  {'unique ' if ix.unique else ''}index {ix.name} ({', '.join(ix.columns)})")
        for fk in t.foreign_keys:
            # the actions are shown when they are not the default (NO ACTION / RESTRICT: refuse)
            actions = "".join(
                f" ON {what} {rule}" for what, rule in (("DELETE", fk.on_delete), ("UPDATE", fk.on_update)) if rule
            )
            lines.append(
                f"  foreign key {fk.name} ({', '.join(fk.columns)}) -> {fk.ref_table} ({', '.join(fk.ref_columns)})"
                + actions
            )
    return "".join(line + "\n" for line in lines)


def inspection_json(found: Inspection) -> str:
    """A JSON list with one object per table (name, rows, columns, primary_key, indexes,
    foreign_keys), ended by a newline."""
    return json.dumps([table_dict(t) for t in found.tables], indent=2) + "\n"


def table_dict(t: Table) -> dict[str, Any]:
    return {
        "name": t.name,
        "rows": t.row_estimate,
        "columns": [{"name": c.name, "type": c.native_type, "nullable": c.nullable} for c in t.columns],
        "primary_key": t.primary_key,
        "indexes": [{"name": i.name, "columns": i.columns, "unique": i.unique} for i in t.indexes],
        "foreign_keys": [
            {
                "name": f.name,
                "columns": f.columns,
                "ref_table": f.ref_table,
                "ref_columns": f.ref_columns,
                # null: the default, NO ACTION or RESTRICT (a referenced row cannot go)
                "on_delete": f.on_delete,
                "on_update": f.on_update,
            }
            for f in t.foreign_keys
        ],
    }

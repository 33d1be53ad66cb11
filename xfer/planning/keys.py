"""Primary keys, indexes and foreign keys of mapped tables, in target column names.

Keys follow renames; an index or foreign key that needs a column the mapping leaves out, or a
table that is split or merged (so has no single target table), is skipped with a note.
"""

from __future__ import annotations

from xfer.core.schema import ForeignKey, Index, Table
from xfer.mapping.problems import Problems, did_you_mean
from xfer.planning.draft import Draft


def plan_keys(drafts: list[Draft], problems: Problems) -> None:
    one_to_one = {d.inputs[0].table.name: d for d in drafts if not d.split and not d.merged}
    migrated = {s.table.name for d in drafts for s in d.inputs}
    for d in drafts:
        names = [c.name for c in d.cols]
        pk = _primary_key(d, names, problems)
        if d.merged:
            indexes, fks = _merged_indexes(d, names), []
        else:
            indexes, fks = _single_indexes(d), _foreign_keys(d, one_to_one, migrated)
        d.keys = Table(d.target, [], pk, indexes, fks)


def _primary_key(d: Draft, names: list[str], problems: Problems) -> list[str]:
    if d.primary_key is not None:
        for i, c in enumerate(d.primary_key):
            if c not in names:
                problems.add(
                    d.inputs[0].sel.path + ("primary_key", i) if not d.merged else d.path + ("primary_key", i),
                    f"primary key column {c!r} is not a column of target table {d.target!r}",
                    did_you_mean(c, names, listing="its columns"),
                )
        return list(d.primary_key)
    keys = []
    for s in d.inputs:
        missing = [c for c in s.table.primary_key if c not in s.renames]
        if missing:
            d.notes.append(f"no primary key: {s.table.name}.{', '.join(missing)} not copied")
            return []
        keys.append([s.renames[c] for c in s.table.primary_key])
    if not d.merged:
        return keys[0]
    if any(k != keys[0] for k in keys):
        d.notes.append("no primary key: the merged tables' keys differ (set primary_key:)")
        return []
    if not keys[0]:
        return []
    if d.discriminator is None:
        d.notes.append("primary key kept: the merged tables must not share key values (or add a discriminator)")
        return keys[0]
    return [d.discriminator, *keys[0]]


def _single_indexes(d: Draft) -> list[Index]:
    s = d.inputs[0]
    out = []
    for ix in s.table.indexes:
        missing = [c for c in ix.columns if c not in s.renames]
        if missing:
            d.notes.append(f"index {ix.name!r} skipped: {', '.join(missing)} not copied")
            continue
        name = f"{d.target}_{ix.name}" if d.split else ix.name
        out.append(Index(name, [s.renames[c] for c in ix.columns], ix.unique))
    return out


def _merged_indexes(d: Draft, names: list[str]) -> list[Index]:
    s = d.inputs[0]
    out = []
    for ix in s.table.indexes:
        cols = [s.renames.get(c) for c in ix.columns]
        if ix.unique or any(c is None or c not in names for c in cols):
            d.notes.append(f"index {ix.name!r} of {s.table.name} not created on the merged table")
            continue
        out.append(Index(f"{d.target}_{ix.name}", [c for c in cols if c], False))
    return out


def _foreign_keys(d: Draft, one_to_one: dict[str, Draft], migrated: set[str]) -> list[ForeignKey]:
    s = d.inputs[0]
    out = []
    for fk in s.table.foreign_keys:
        ref = one_to_one.get(fk.ref_table)
        why = None
        if any(c not in s.renames for c in fk.columns):
            why = "a column of it is not copied"
        elif ref is None and fk.ref_table not in migrated:
            why = f"it references {fk.ref_table!r}, which is not migrated"
        elif ref is None:
            why = f"it references {fk.ref_table!r}, which is split or merged (no single target table)"
        elif any(c not in ref.inputs[0].renames for c in fk.ref_columns):
            why = f"a referenced column of {fk.ref_table!r} is not copied"
        if why or ref is None:
            d.notes.append(f"foreign key {fk.name!r} skipped: {why}")
            continue
        ref_cols = [ref.inputs[0].renames[c] for c in fk.ref_columns]
        out.append(
            ForeignKey(fk.name, [s.renames[c] for c in fk.columns], ref.target, ref_cols, fk.on_delete, fk.on_update)
        )
    return out

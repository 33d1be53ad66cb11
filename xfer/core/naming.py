"""Target names: lower-cased or kept, shortened to the engine's identifier limit with a stable
hash suffix, never two alike in one namespace, every rename recorded (`xfer plan` lists them)."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

from xfer.core.schema import Table, View


@dataclass
class Rename:
    kind: str  # table, column, view, index, constraint
    table: str | None  # the source table a column/index/constraint belongs to
    old: str
    new: str
    reason: str

    def __str__(self) -> str:
        what = (
            f"{self.kind} {self.table}.{self.old}"
            if self.table and self.kind == "column"
            else f"{self.kind} {self.old}"
        )
        return f"{what} -> {self.new} ({self.reason})"


def shorten(name: str, limit: int) -> str:
    """Names over the target's identifier limit (bytes) get a stable hash suffix, so two long
    names that share a prefix never collide and a re-run picks the same name."""
    if len(name.encode()) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    head = name.encode()[: limit - 9].decode(errors="ignore")
    return f"{head}_{digest}"


def target_names(
    names: list[str], policy: str, limit: int, taken: set[str] | frozenset[str] = frozenset()
) -> dict[str, str]:
    """Target names for one namespace: lower-cased (policy "lower") or kept, shortened to
    `limit` bytes, and never two alike (`Foo` and `foo`, two long names, or a name already
    `taken` in the namespace): a name that would collide gets a suffix from a hash of its
    source name, so the result depends only on the names, never on their order."""
    base = {n: shorten(n.lower() if policy == "lower" else n, limit) for n in names}
    groups: dict[str, list[str]] = {}
    for n in sorted(set(names)):
        groups.setdefault(base[n], []).append(n)
    out: dict[str, str] = {}
    used = set(taken) | set(groups)
    for b, members in groups.items():
        keeper = b if b in members else (None if b in taken else members[0])
        for n in members:
            if n == keeper:
                out[n] = b
                continue
            digest = hashlib.sha1(n.encode()).hexdigest()
            k = 6
            cand = _with_suffix(b, digest[:k], limit)
            while cand in used:
                k += 2
                cand = _with_suffix(b, digest[:k], limit)
            used.add(cand)
            out[n] = cand
    return out


def _with_suffix(name: str, suffix: str, limit: int) -> str:
    head = name.encode()[: limit - len(suffix) - 1].decode(errors="ignore")
    return f"{head}_{suffix}"


def _reason(old: str, new: str, policy: str, limit: int) -> str:
    if new == (old.lower() if policy == "lower" else old):
        return "lower-cased"
    if len((old.lower() if policy == "lower" else old).encode()) > limit:
        return f"over the {limit}-byte limit"
    return "would collide with another name"


class Namer:
    """Every target name of a plan, decided once (so views, foreign keys and indexes agree),
    with every rename recorded."""

    def __init__(self, tables: list[Table], views: list[View], limit: int, policy: str) -> None:
        self.policy, self.limit = policy, limit
        self.renames: list[Rename] = []
        self.tables = target_names([t.name for t in tables] + [v.name for v in views], policy, self.limit)
        for t in tables:
            self.note("table", None, t.name, self.tables[t.name])
        for v in views:
            self.note("view", None, v.name, self.tables[v.name])
        self.columns: dict[str, dict[str, str]] = {}
        for t in tables:
            self.columns[t.name] = target_names([c.name for c in t.columns], policy, self.limit)
            for c in t.columns:
                self.note("column", t.name, c.name, self.columns[t.name][c.name])
        # Index names share the schema's namespace with tables (PostgreSQL): keep a source
        # name when it is unique there, else prefix it with its table's name.
        seen = Counter([ix.name for t in tables for ix in t.indexes] + [t.name for t in tables])
        wanted = {
            (t.name, ix.name): ix.name if seen[ix.name] == 1 else f"{t.name}_{ix.name}"
            for t in tables
            for ix in t.indexes
        }
        names = target_names(sorted(set(wanted.values())), policy, self.limit, taken=set(self.tables.values()))
        self.indexes = {k: names[v] for k, v in wanted.items()}
        self.schema_level = set(self.tables.values()) | set(self.indexes.values())

    def note(self, kind: str, table: str | None, old: str, new: str) -> None:
        if old != new:
            self.renames.append(Rename(kind, table, old, new, _reason(old, new, self.policy, self.limit)))

    def column(self, table: str, name: str) -> str:
        return self.columns.get(table, {}).get(name) or shorten(
            name.lower() if self.policy == "lower" else name, self.limit
        )

    def table(self, name: str) -> str | None:
        return self.tables.get(name)

    def extra(self, wanted: str) -> str:
        """A new schema-level name (enum type, trigger function), unique in the namespace."""
        name = target_names([wanted], self.policy, self.limit, taken=self.schema_level)[wanted]
        self.schema_level.add(name)
        return name

    def constraints(self, table: str, names: list[str]) -> dict[str, str]:
        out = target_names(names, self.policy, self.limit)
        for old, new in out.items():
            self.note("constraint", table, old, new)
        return out

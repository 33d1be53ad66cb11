"""A batch's row changes collapsed to each key's net effect.

Within a batch only the last state of a key matters: an insert or update leaves its after-image,
a delete leaves a tombstone, and an update that moves a row to another key is a delete of the
old key and an upsert of the new one. Keys are compared as the source's own values (the text
protocol's bytes), so no conversion runs before collapsing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from xfer.core.changes import RowsChange

Image = tuple[bytes | None, ...]


@dataclass
class Net:
    """One table's net effect: upserts and deletes by key (each key in one of them), in the
    order of each key's last change, and what happened for the counters."""

    columns: list[str]
    upserts: dict[tuple[bytes | None, ...], Image] = field(default_factory=dict)
    deletes: dict[tuple[bytes | None, ...], Image] = field(default_factory=dict)
    inserted: int = 0
    updated: int = 0
    deleted: int = 0


def collapse(changes: Iterable[RowsChange], key: Sequence[str]) -> Net | None:
    """The net effect of one table's `changes` (in log order) by the `key` columns."""
    net: Net | None = None
    at: list[int] = []
    for ch in changes:
        if net is None or ch.columns != net.columns:
            if net is not None and (net.upserts or net.deletes):
                raise ValueError("a table's columns changed inside a batch")  # DDL comes in a batch of its own
            net = Net(list(ch.columns))
            at = [ch.columns.index(k) for k in key]
        ups, dels = net.upserts, net.deletes
        if ch.kind == "insert":
            net.inserted += len(ch.after)
            for row in ch.after:
                k = tuple(row[i] for i in at)
                ups.pop(k, None)  # (a delete before stays: it runs first, with its ON DELETE actions)
                ups[k] = row
        elif ch.kind == "delete":
            net.deleted += len(ch.before)
            for row in ch.before:
                k = tuple(row[i] for i in at)
                ups.pop(k, None)
                dels[k] = row
        else:
            net.updated += len(ch.after)
            for old, new in zip(ch.before, ch.after, strict=True):
                k_old = tuple(old[i] for i in at)
                k_new = tuple(new[i] for i in at)
                if k_old != k_new:
                    ups.pop(k_old, None)
                    dels[k_old] = old
                ups.pop(k_new, None)
                ups[k_new] = new
    return net

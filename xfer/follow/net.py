"""A batch's row changes collapsed to each key's net effect.

Within a batch only the last state of a key matters: an insert or update leaves its after-image,
a delete leaves a tombstone, and an update that moves a row to another key is a delete of the
old key and an upsert of the new one. Keys are compared as the source's own values (the text
protocol's bytes), so no conversion runs before collapsing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from xfer.core.changes import RowsChange

Image = tuple[bytes | None, ...]


@dataclass
class Net:
    """One table's net effect: upserts and deletes by key (each key in one of them), in the
    order of each key's last change, and what happened for the counters."""

    columns: list[str]
    upserts: dict[Any, Image] = field(default_factory=dict)  # key -> the row's last image
    deletes: dict[Any, Image] = field(default_factory=dict)
    #: a key moved (an update of the key): first key -> (its old image, the row's last image);
    #: moves in a row compose (1 -> 101 -> 102 is 1 -> 102)
    moves: dict[Any, tuple[Image, Image]] = field(default_factory=dict)
    #: keys a delete removed (not those a key update moved away): their children go too (ON DELETE)
    removed: dict[Any, Image] = field(default_factory=dict)
    inserted: int = 0
    updated: int = 0
    deleted: int = 0


def collapse(changes: Iterable[RowsChange], key: Sequence[str]) -> Net | None:
    """The net effect of one table's `changes` (in log order) by the `key` columns. A key is the
    value of a one-column key, else the tuple of its values."""
    net: Net | None = None
    get: Callable[[Image], Any] = itemgetter(0)
    moved_to: dict[Any, Any] = {}  # a moved row's key now -> its first key
    for ch in changes:
        if net is None or ch.columns != net.columns:
            if net is not None and (net.upserts or net.deletes):
                raise ValueError("a table's columns changed inside a batch")  # DDL comes in a batch of its own
            net = Net(list(ch.columns))
            get = itemgetter(*[ch.columns.index(k) for k in key])
        ups, dels = net.upserts, net.deletes
        if ch.kind == "insert":
            net.inserted += len(ch.after)
            for row in ch.after:
                k = get(row)
                ups.pop(k, None)  # (a delete before stays: it runs first, with its ON DELETE actions)
                ups[k] = row
        elif ch.kind == "delete":
            net.deleted += len(ch.before)
            for row in ch.before:
                k = get(row)
                ups.pop(k, None)
                dels[k] = row
                net.removed[k] = row
        else:
            net.updated += len(ch.after)
            for old, new in zip(ch.before, ch.after, strict=True):
                k_old, k_new = get(old), get(new)
                if k_old != k_new:
                    ups.pop(k_old, None)
                    dels[k_old] = old
                    first = moved_to.pop(k_old, k_old)
                    moved_to[k_new] = first
                    net.moves[first] = (net.moves[first][0] if first in net.moves else old, new)
                ups.pop(k_new, None)
                ups[k_new] = new
    return net

"""A batch's row changes collapsed to each key's net effect (xfer.follow.net): table-driven,
server-free. Each case is a list of (kind, before, after) events on a table (id, v) and the
upserts and deletes that must come out."""

from __future__ import annotations

import pytest

from xfer.core.changes import RowsChange
from xfer.follow.net import collapse

COLS = ["id", "v"]


def ev(kind: str, *rows: tuple[int, str] | tuple[tuple[int, str], tuple[int, str]]) -> RowsChange:
    def img(r: tuple[int, str]) -> tuple[bytes, bytes]:
        return (str(r[0]).encode(), r[1].encode())

    if kind == "insert":
        return RowsChange("t", "insert", COLS, after=[img(r) for r in rows])  # type: ignore[arg-type]
    if kind == "delete":
        return RowsChange("t", "delete", COLS, before=[img(r) for r in rows])  # type: ignore[arg-type]
    return RowsChange(
        "t",
        "update",
        COLS,
        before=[img(b) for b, _ in rows],
        after=[img(a) for _, a in rows],  # type: ignore[misc]
    )


CASES = {
    "insert": ([ev("insert", (1, "a"))], {1: "a"}, []),
    "insert then update": ([ev("insert", (1, "a")), ev("update", ((1, "a"), (1, "b")))], {1: "b"}, []),
    "update twice keeps the last image": (
        [ev("update", ((1, "a"), (1, "b"))), ev("update", ((1, "b"), (1, "c")))],
        {1: "c"},
        [],
    ),
    "insert then delete": ([ev("insert", (1, "a")), ev("delete", (1, "a"))], {}, [1]),
    "delete then insert: the delete runs first (ON DELETE actions), then the row": (
        [ev("delete", (1, "a")), ev("insert", (1, "b"))],
        {1: "b"},
        [1],
    ),
    "a primary-key update is a delete of the old key and an upsert of the new": (
        [ev("update", ((1, "a"), (2, "a")))],
        {2: "a"},
        [1],
    ),
    "a key moved away and another row moved into it": (
        [ev("update", ((1, "a"), (3, "a"))), ev("update", ((2, "b"), (1, "b")))],
        {3: "a", 1: "b"},
        [1, 2],
    ),
    "several rows in one event": (
        [ev("insert", (1, "a"), (2, "b"), (3, "c")), ev("delete", (2, "b"))],
        {1: "a", 3: "c"},
        [2],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_net_effect(name: str) -> None:
    events, upserts, deletes = CASES[name]
    net = collapse(events, ["id"])
    assert net is not None
    got_upserts = {int(k): row[1].decode() for k, row in net.upserts.items()}  # type: ignore[union-attr]
    assert got_upserts == upserts
    assert sorted(int(k) for k in net.deletes) == sorted(deletes)


def test_upserts_keep_the_order_of_each_keys_last_change() -> None:
    # A unique secondary key: row 1 gives up a value that row 2 then takes; applied in the order
    # of their last change, neither upsert sees the value twice.
    net = collapse(
        [ev("insert", (2, "x")), ev("update", ((1, "u"), (1, "v"))), ev("update", ((2, "x"), (2, "u")))], ["id"]
    )
    assert net is not None
    assert [int(k) for k in net.upserts] == [1, 2]


def test_a_composite_key_is_a_tuple() -> None:
    changes = [RowsChange("t", "insert", ["a", "b", "v"], after=[(b"1", b"x", b"v1"), (b"1", b"y", b"v2")])]
    net = collapse(changes, ["a", "b"])
    assert net is not None
    assert list(net.upserts) == [(b"1", b"x"), (b"1", b"y")]


def test_counters_count_events_not_keys() -> None:
    net = collapse(
        [ev("insert", (1, "a"), (2, "b")), ev("update", ((1, "a"), (1, "c"))), ev("delete", (2, "b"))], ["id"]
    )
    assert net is not None
    assert (net.inserted, net.updated, net.deleted) == (2, 1, 1)


def test_key_moves_compose_and_are_not_removals() -> None:
    # 1 -> 101 -> 102 is one move 1 -> 102; 3 -> 4 and 2 -> 3 are moves (their children follow
    # them under ON UPDATE CASCADE), 4 deleted afterwards is a removal (its children go).
    net = collapse(
        [
            ev("update", ((1, "a"), (101, "a"))),
            ev("update", ((101, "a"), (102, "a")), ((3, "c"), (4, "c")), ((2, "b"), (3, "b"))),
            ev("delete", (4, "c")),
        ],
        ["id"],
    )
    assert net is not None
    assert {int(k): (int(o[0]), int(n[0])) for k, (o, n) in net.moves.items()} == {1: (1, 102), 3: (3, 4), 2: (2, 3)}  # type: ignore[arg-type]
    assert sorted(int(k) for k in net.removed) == [4]
    assert sorted(int(k) for k in net.upserts) == [3, 102]

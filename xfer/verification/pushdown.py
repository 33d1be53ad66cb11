"""Checksums computed inside the database: the canonical row hash rendered in the engine's SQL.

Each dialect supplies `hash_sql` (how it spells concatenation, MD5, ...) and `canonical_sql`
(the canonical text of a column); this module composes them into the bucket-map query and the
row filters used to drill into mismatched buckets. The numbers are the same as the client side's
(`checksum`): the two may be mixed freely, one per side.
"""

from __future__ import annotations

from collections.abc import Sequence

from xfer.core.canonical import Canon
from xfer.core.checksum import BucketMap, Checksum, KeySpec
from xfer.core.schema import Table
from xfer.dialects.base import Dialect, HashSQL


class NotPushable(Exception):
    """The engine cannot compute this table's hash; the message says why."""


def encoded_columns(d: Dialect, table: Table, canons: Sequence[Canon], positions: Sequence[int]) -> list[str]:
    hs = _hash_sql(d)
    out = []
    for i in positions:
        col, canon = table.columns[i], canons[i]
        rendered = d.canonical_sql(col, canon)
        if rendered is None:
            raise NotPushable(f"{d.name} cannot compute the canonical text of {col.name} ({col.native_type})")
        null, text = rendered
        value = _concat(hs, [hs.length.format(x=text), "':'", text])
        out.append(f"CASE WHEN {null} THEN 'N' ELSE {value} END")
    return out


def row_md5(d: Dialect, table: Table, canons: Sequence[Canon], positions: Sequence[int] | None = None) -> str:
    hs = _hash_sql(d)
    idx = list(range(len(canons))) if positions is None else list(positions)
    parts = encoded_columns(d, table, canons, idx)
    return hs.md5.format(x=_concat(hs, parts) if parts else "''")


def bucket_expr(d: Dialect, table: Table, canons: Sequence[Canon], spec: KeySpec, md5: str) -> str:
    """The bucket of a row in the engine's SQL (`md5`: the row's MD5, for mode "rows")."""
    hs = _hash_sql(d)
    if spec.mode == "range":
        k = d.quote(table.columns[spec.key[0]].name)
        return _floor_div(hs, k, spec.width)
    if spec.mode == "hash":
        key_md5 = row_md5(d, table, canons, spec.key)
        return f"({hs.hex_int.format(x=key_md5, start=1)} % {spec.buckets})"
    return f"({hs.hex_int.format(x=md5, start=1)} % {spec.buckets})"


def bucket_map(d: Dialect, table: Table, canons: Sequence[Canon], spec: KeySpec) -> BucketMap:
    """The table's bucket map, computed in the database (raises NotPushable)."""
    hs = _hash_sql(d)
    m = row_md5(d, table, canons)
    inner = f"SELECT {m} AS m FROM {d.qualified(table.name)}"
    if spec.mode != "rows":
        inner = f"SELECT {bucket_expr(d, table, canons, spec, 'm')} AS b, {m} AS m FROM {d.qualified(table.name)}"
    b = "b" if spec.mode != "rows" else bucket_expr(d, table, canons, spec, "m")
    h1, h2 = hs.hex_int.format(x="m", start=1), hs.hex_int.format(x="m", start=16)
    sql = (
        f"SELECT b, COUNT(*), SUM(h1), SUM(h2) FROM "
        f"(SELECT {b} AS b, {h1} AS h1, {h2} AS h2 FROM ({inner}) x) y GROUP BY b"
    )
    out = BucketMap(spec)
    for b_, n, s1, s2 in d.verify_query(sql):
        out.add(int(b_), Checksum(int(n), int(s1), int(s2)))
    return out


def bucket_filter(
    d: Dialect, table: Table, canons: Sequence[Canon], spec: KeySpec, buckets: Sequence[int]
) -> tuple[str, list[object]] | None:
    """A condition selecting exactly the rows of `buckets` (integer ranges use the key's index),
    or None when the engine cannot compute the buckets (the caller filters client side)."""
    if spec.mode == "range":
        k = d.quote(table.columns[spec.key[0]].name)
        ranges = merge_ranges(buckets)
        conds = [f"({k} >= {lo * spec.width} AND {k} < {(hi + 1) * spec.width})" for lo, hi in ranges]
        return " OR ".join(conds), []
    if d.hash_sql is None:
        return None
    try:
        positions = spec.key if spec.mode == "hash" else None
        md5 = row_md5(d, table, canons, positions)
    except NotPushable:
        return None
    expr = f"({_hash_sql(d).hex_int.format(x=md5, start=1)} % {spec.buckets})"
    return f"{expr} IN ({', '.join(str(int(b)) for b in buckets)})", []


def merge_ranges(buckets: Sequence[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 7] -> [(1, 3), (7, 7)]"""
    out: list[tuple[int, int]] = []
    for b in sorted(buckets):
        if out and b == out[-1][1] + 1:
            out[-1] = (out[-1][0], b)
        else:
            out.append((b, b))
    return out


def _hash_sql(d: Dialect) -> HashSQL:
    if d.hash_sql is None:
        raise NotPushable(f"{d.name} has no checksum SQL (hashed client side)")
    return d.hash_sql


def _concat(hs: HashSQL, parts: list[str]) -> str:
    open_, sep, close = hs.concat
    return open_ + sep.join(parts) + close


def _floor_div(hs: HashSQL, k: str, width: int) -> str:
    # the same formula as the client side's: only non-negative numbers are divided
    pos = hs.int_div.format(x=k, w=width)
    neg = hs.int_div.format(x=f"(-({k} + 1))", w=width)
    return f"(CASE WHEN {k} >= 0 THEN {pos} ELSE -({neg}) - 1 END)"


__all__ = ["NotPushable", "bucket_filter", "bucket_map", "merge_ranges", "row_md5"]

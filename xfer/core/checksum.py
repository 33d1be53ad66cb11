"""Order-independent checksums, per bucket of the key, computed client side over Arrow batches.

Each row is encoded canonically (see `canonical`) and hashed with MD5; the hash is split into two
60-bit integers, and a bucket's checksum is `(COUNT(*), SUM(h1), SUM(h2))`, summed exactly.
SUM, unlike XOR, does not cancel duplicate rows, and checksums add up: buckets into the table,
batches (or parallel chunks) into buckets. The same numbers come out of the SQL each dialect
renders (`pushdown`), so either side of a comparison may be hashed either way.

Two hash schemes (`KeySpec.scheme`), decided once per comparison:
- "md5" (portable): MD5 of the row's canonical text, split into two 60-bit integers. Every
  dialect renders the same text and MD5 in SQL, so one side may be hashed in its database.
- "fast:<duckdb version>" (both sides hashed client side, the usual case when the servers are
  on this host): DuckDB's 64-bit `hash()` of the prepared columns (h1) and a hash of that (h2),
  no text built per row: ~10x less CPU than building and MD5-ing the canonical text. The
  prepared columns have the same Arrow types on both sides (`comparable`), so equal values hash
  equally; the hash is DuckDB's, so the scheme names its version (a journal resumed under
  another version refuses to mix maps).
Buckets are computed the same way in both schemes, so locating differences does not depend on it.

Buckets (`KeySpec`): an integer key is cut into ranges of `width` key values (`floor(k / width)`);
any other key is bucketed by a hash of its canonical text; a table without a key by a hash of the
whole row (its rows are then compared as a multiset).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from xfer.core.canonical import Canon, duck_encoded, duck_text, prepare
from xfer.core.conform import split_members
from xfer.core.errors import CopyError

ROWS_PER_BUCKET = 256  # a mismatched bucket costs ~this many rows read per side to locate
MAX_BUCKETS = 200_000  # bounds the maps' memory; beyond 5 * 10^7 rows buckets grow instead


@dataclass(frozen=True)
class Checksum:
    rows: int = 0
    h1: int = 0
    h2: int = 0

    def __add__(self, other: Checksum) -> Checksum:
        return Checksum(self.rows + other.rows, self.h1 + other.h1, self.h2 + other.h2)

    @property
    def hex(self) -> str:
        """A short printable digest of the whole table (for reports)."""
        return f"{self.h1 % 2**64:016x}{self.h2 % 2**64:016x}"


@dataclass(frozen=True)
class KeySpec:
    """How rows are put into buckets; the same spec is used on both sides of a comparison."""

    mode: str  # "range" (integer key) | "hash" (any other key) | "rows" (no key: multiset)
    key: tuple[int, ...] = ()  # positions of the key columns among the compared columns
    width: int = ROWS_PER_BUCKET  # range: key values per bucket
    buckets: int = 1  # hash, rows: number of buckets
    scheme: str = "md5"  # "md5" | fast_scheme(): how rows are hashed (see the module docstring)

    @property
    def describe(self) -> str:
        if self.mode == "range":
            return f"integer key ranges of {self.width:,}"
        if self.mode == "hash":
            return f"hash of the key into {self.buckets:,} buckets"
        return f"no key: hash of the row into {self.buckets:,} buckets (multiset)"


def fast_scheme() -> str:
    import duckdb

    return f"fast:{duckdb.__version__}"


def bucket_count(rows: int) -> int:
    return max(1, min(MAX_BUCKETS, math.ceil(rows / ROWS_PER_BUCKET)))


def range_width(low: int | None, high: int | None, rows: int | None) -> int:
    """Key values per bucket so that the table's rows spread over `bucket_count(rows)` buckets
    (keys assumed dense when the row count is unknown)."""
    if low is None or high is None:
        return ROWS_PER_BUCKET
    span = high - low + 1
    return max(1, math.ceil(span / bucket_count(rows if rows else span)))


@dataclass
class BucketMap:
    spec: KeySpec
    buckets: dict[int, Checksum] = field(default_factory=dict)

    def add(self, bucket: int, c: Checksum) -> None:
        self.buckets[bucket] = self.buckets.get(bucket, Checksum()) + c

    def merge(self, other: BucketMap) -> None:
        for b, c in other.buckets.items():
            self.add(b, c)

    @property
    def total(self) -> Checksum:
        out = Checksum()
        for c in self.buckets.values():
            out = out + c
        return out

    def mismatched(self, other: BucketMap) -> list[int]:
        """Buckets whose checksums differ (present on one side only included), sorted."""
        keys = set(self.buckets) | set(other.buckets)
        return sorted(b for b in keys if self.buckets.get(b, Checksum()) != other.buckets.get(b, Checksum()))


# -- client side (DuckDB over Arrow) ---------------------------------------------------------
def comparable(batch: pa.RecordBatch, schema: pa.Schema, canons: list[Canon], table: str) -> list[pa.Array]:
    """Cast a side's batch to the comparison types (safe casts) and prepare each column for
    hashing. A source integer compared with a boolean stays an integer: 2 is not `true`."""
    out = []
    for arr, f, canon in zip(batch.columns, schema, canons, strict=True):
        if canon.ignored:  # the same on both sides, whatever the values
            out.append(pa.nulls(len(arr), pa.string()))
            continue
        if pa.types.is_string(arr.type) and pa.types.is_list(f.type):
            arr = split_members(arr).cast(f.type)  # a MySQL SET, as the copy converts it
        elif arr.type != f.type and not (canon.kind == "bool" and pa.types.is_integer(arr.type)):
            try:
                arr = arr.cast(f.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise CopyError(f"{table}.{f.name}: cannot compare {arr.type} with {f.type}: {exc}") from None
        out.append(prepare(arr, canon))
    return out


def row_sql(canons: list[Canon], positions: Iterable[int] | None = None) -> str:
    """DuckDB: the canonical text of the row (or of the columns at `positions`)."""
    idx = list(range(len(canons))) if positions is None else list(positions)
    parts = [duck_encoded(f"c{i}", canons[i]) for i in idx]
    return " || ".join(parts) if parts else "''"


def hex_int(md5: str, start: int) -> str:
    """DuckDB: 15 hex digits of an MD5 (1-based `start`) as an integer (60 bits)."""
    return f"('0x' || substr({md5}, {start}, 15))::UBIGINT"


def bucket_sql(canons: list[Canon], spec: KeySpec, md5: str = "m") -> str:
    """DuckDB: the bucket of a row; `md5` names the row's MD5 hex (used by mode "rows")."""
    if spec.mode == "range":
        k = f"CAST(c{spec.key[0]} AS HUGEINT)"
        return floor_div(k, spec.width, "//")
    if spec.mode == "hash":
        return f"({hex_int(f'md5({row_sql(canons, spec.key)})', 1)} % {spec.buckets})"
    return f"({hex_int(md5, 1)} % {spec.buckets})"


def floor_div(k: str, width: int, op: str) -> str:
    """floor(k / width) using only divisions of non-negative numbers (engines disagree on how
    integer division rounds negative numbers; this formula does not depend on it)."""
    return f"(CASE WHEN {k} >= 0 THEN {k} {op} {width} ELSE -((-({k} + 1)) {op} {width}) - 1 END)"


def fast_expr(col: str, canon: Canon) -> str:
    """DuckDB: what the fast scheme hashes for one prepared column. Prepared columns have one
    type per kind on both sides, except booleans (a source integer stays an integer) and the
    kinds whose comparison is not the value itself (rounded floats, case-blind uuids): those are
    hashed as their canonical text. NULL stays NULL (`hash` gives it its own value)."""
    if canon.kind == "bool" or (canon.kind == "float" and canon.digits is not None) or canon.lower:
        return duck_text(col, canon)
    return col


def rows_sql(canons: list[Canon], spec: KeySpec, relation: str = "xfer_hash") -> str:
    """DuckDB: one row per input row with its bucket `b` and hash halves `h1`, `h2`."""
    if spec.scheme != "md5":
        h = f"hash({', '.join(fast_expr(f'c{i}', c) for i, c in enumerate(canons))})" if canons else "hash('')"
        m = f", md5({row_sql(canons)}) AS m" if spec.mode == "rows" else ""  # the bucket of a key-less row
        inner = f"SELECT *, {h} AS h1{m} FROM {relation}"
        return f"SELECT {bucket_sql(canons, spec)} AS b, h1, hash(h1) AS h2 FROM ({inner})"
    inner = f"SELECT md5({row_sql(canons)}) AS m FROM {relation}"
    if spec.mode != "rows":
        inner = f"SELECT md5({row_sql(canons)}) AS m, {bucket_sql(canons, spec)} AS b FROM {relation}"
        return f"SELECT b, {hex_int('m', 1)} AS h1, {hex_int('m', 16)} AS h2 FROM ({inner})"
    return f"SELECT {bucket_sql(canons, spec)} AS b, {hex_int('m', 1)} AS h1, {hex_int('m', 16)} AS h2 FROM ({inner})"


_duck: Any = None  # the one in-memory DuckDB database every hasher connects to
_duck_lock = threading.Lock()


def _hashing_connection() -> Any:
    """A connection of its own (registered batches are per connection) to one shared in-memory
    DuckDB: a database of its own per hasher cost ~50 ms to open and close, per table and side,
    which thousands of small tables felt (#18)."""
    global _duck
    import duckdb

    with _duck_lock:
        if _duck is None:
            _duck = duckdb.connect()
            # One thread: hashers run side by side (both sides of a verify, the copy's workers),
            # each next to a reader and a database server; more threads only contend (measured:
            # ~0.2 CPU-s less per 2M-row verify).
            _duck.execute("SET threads = 1")
        return _duck.cursor()


class MapHasher:
    """Feed one side's batches with `update`; `map` holds the bucket checksums so far."""

    def __init__(self, schema: pa.Schema, canons: list[Canon], spec: KeySpec, table: str = "") -> None:
        import duckdb

        if spec.scheme not in ("md5", fast_scheme()):
            raise CopyError(
                f"{table}: the checksums recorded for this run were computed by DuckDB {spec.scheme[5:]}, "
                f"this is DuckDB {duckdb.__version__}: they cannot be combined (re-run without --resume)"
            )
        self.schema = schema
        self.canons = canons
        self.table = table
        self.map = BucketMap(spec)
        self._con = _hashing_connection()
        self._sql = f"SELECT b, count(*), sum(h1)::VARCHAR, sum(h2)::VARCHAR FROM ({rows_sql(canons, spec)}) GROUP BY b"

    def update(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        arrays = comparable(batch, self.schema, self.canons, self.table)
        prepared = pa.RecordBatch.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])
        self._con.register("xfer_hash", prepared)
        try:
            for b, n, h1, h2 in self._con.execute(self._sql).fetchall():
                self.map.add(int(b), Checksum(int(n), int(h1), int(h2)))
        finally:
            self._con.unregister("xfer_hash")

    @property
    def checksum(self) -> Checksum:
        return self.map.total

    def close(self) -> None:
        self._con.close()

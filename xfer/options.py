"""The options of a run, shared by every command."""

from __future__ import annotations

from dataclasses import dataclass

IF_EXISTS = ("fail", "truncate", "append", "replace")
CONSISTENCY = ("lock", "snapshot")
MB = 1024 * 1024


@dataclass
class Options:
    tables: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    if_exists: str = "fail"
    schema_only: bool = False
    data_only: bool = False
    batch_size: int = 50_000
    verify: bool = True
    # the parallel MySQL -> PostgreSQL copy (xfer/parallel.py)
    jobs: int = 2  # workers copying tables and key ranges at once
    consistency: str = "lock"  # lock | snapshot: see parallel.py
    batch_bytes: int = 4 * MB  # a batch (and a commit) ends at batch_size rows or this many bytes
    chunk_bytes: int = 8 * MB  # big tables are split into key ranges of about this size

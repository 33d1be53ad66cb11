"""The options of a run, shared by every command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xfer.mapping.model import Mapping

IF_EXISTS = ("fail", "truncate", "append", "replace")
CONSISTENCY = ("lock", "snapshot")
MB = 1024 * 1024
ZERO_DATES = ("null", "error")  # zero/partial dates: NULL (counted) or the row rejected
NUL_BYTES = ("reject", "strip")  # NUL characters in text bound for PostgreSQL
ENUMS = ("text", "native")  # MySQL ENUM -> text + CHECK, or a PostgreSQL enum type
IDENTIFIERS = ("lower", "preserve")  # target names lower-cased (unquoted use works) or kept
VERIFY_METHODS = ("auto", "client", "pushdown")


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
    # Conversion policies (CLI flags, or a mapping file's `options:`)
    zero_dates: str = "null"  # null | error
    nul_bytes: str = "reject"  # reject | strip
    enum: str = "text"  # text | native
    identifiers: str = "lower"  # lower | preserve
    reject_file: str | None = None  # where rejected rows go (JSON lines); default: cwd
    #: a mapping file (`-m FILE`): renames, filters, computed columns, split/merge, hooks
    mapping: Mapping | None = None
    # verification
    verify_method: str = "auto"  # auto | client | pushdown: where checksums are computed
    float_digits: int | None = None  # None: floats compared exactly (IEEE bits)
    sample: int = 10  # differing keys shown per table, with both values
    # Reliability (xfer/journal.py, xfer/runs.py)
    resume: bool = False  # continue the unfinished run of this migration
    journal: bool = True  # keep the run journal in the target (PostgreSQL)
    retries: int = 5  # tries again after transient errors, per chunk or statement
    max_errors: int = 0  # refused rows a table may have before it is failed
    backup: str | None = None  # directory: tables --if-exists truncate|replace overwrites, as Parquet

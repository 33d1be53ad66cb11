"""The options of a run, shared by every command."""

from __future__ import annotations

from dataclasses import dataclass

IF_EXISTS = ("fail", "truncate", "append", "replace")
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
    # verification
    verify_method: str = "auto"  # auto | client | pushdown: where checksums are computed
    float_digits: int | None = None  # None: floats compared exactly (IEEE bits)
    sample: int = 10  # differing keys shown per table, with both values

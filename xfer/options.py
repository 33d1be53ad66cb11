"""The options of a run, shared by every command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .mapping.model import Mapping

IF_EXISTS = ("fail", "truncate", "append", "replace")


@dataclass
class Options:
    tables: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    if_exists: str = "fail"
    schema_only: bool = False
    data_only: bool = False
    batch_size: int = 50_000
    verify: bool = True
    # Conversion policies (a mapping file's `options:`)
    zero_dates: str = "null"  # null | error
    enum: str = "text"  # text | native
    identifiers: str = "lower"  # lower | preserve
    #: a mapping file (`-m FILE`): renames, filters, computed columns, split/merge, hooks
    mapping: Mapping | None = None

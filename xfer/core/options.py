"""The options of a run, grouped by the stage that reads them, their choices spelled as `Literal`
types and checked when an option object is made (a wrong value raises UsageError, exit 2, naming
the command-line flag).

    Options(copy=CopyOptions(jobs=4, if_exists="replace"), verify=VerifyOptions(sample=20))
    Options.build(jobs=4, if_exists="replace", sample=20)      # the same, by flat names
    options.with_(resume=True)                                  # a changed copy

Flat names are the command line's (`--if-exists` -> `if_exists`); `FLAT` says which group holds
each. Option objects are frozen: a run never changes the options it was given.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal, get_args

from xfer.core.errors import UsageError

if TYPE_CHECKING:
    from xfer.mapping.model import Mapping

IfExists = Literal["fail", "truncate", "append", "replace"]
Consistency = Literal["lock", "snapshot", "none"]  # none: no lock, no snapshot (--follow only)
ZeroDates = Literal["null", "error"]  # zero/partial dates: NULL (counted) or the row rejected
NulBytes = Literal["reject", "strip"]  # NUL characters in text bound for PostgreSQL
EnumAs = Literal["text", "native"]  # MySQL ENUM -> text + CHECK, or a PostgreSQL enum type
Identifiers = Literal["lower", "preserve"]  # target names lower-cased (unquoted use works) or kept
Collations = Literal["keep", "binary"]  # source collations -> equivalent ones, or byte-wise (the target's default)
VerifyMethod = Literal["auto", "client", "pushdown"]
#: how `xfer verify` reads: live (no lock, no snapshot; differences re-read in rounds), lock, snapshot
VerifyConsistency = Literal["live", "lock", "snapshot"]

IF_EXISTS: tuple[str, ...] = get_args(IfExists)
CONSISTENCY: tuple[str, ...] = get_args(Consistency)
ZERO_DATES: tuple[str, ...] = get_args(ZeroDates)
NUL_BYTES: tuple[str, ...] = get_args(NulBytes)
ENUMS: tuple[str, ...] = get_args(EnumAs)
IDENTIFIERS: tuple[str, ...] = get_args(Identifiers)
COLLATIONS: tuple[str, ...] = get_args(Collations)
VERIFY_METHODS: tuple[str, ...] = get_args(VerifyMethod)
VERIFY_CONSISTENCY: tuple[str, ...] = get_args(VerifyConsistency)
MB = 1024 * 1024


_FLAGS = {"verify_method": "--method", "verify_consistency": "--consistency"}  # where the flag is not the option's name


def _flag(name: str) -> str:
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"{_flag(name)} must be one of {', '.join(choices)} (got {value!r})")


def _at_least(name: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise UsageError(f"{_flag(name)} must be a whole number of at least {minimum} (got {value!r})")


def _names(name: str, value: object) -> tuple[str, ...]:
    # A str is iterable too (one name per letter): refused like any other value that is not a list.
    names = tuple(value) if isinstance(value, Iterable) and not isinstance(value, str) else None
    if names is None or not all(isinstance(v, str) for v in names):
        raise UsageError(f"{_flag(name)} takes a list of table names or globs (got {value!r})")
    return names


@dataclass(frozen=True)
class Selection:
    """Which source tables a run takes: `tables` globs (none: all) minus `exclude` globs."""

    tables: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", _names("tables", self.tables))
        object.__setattr__(self, "exclude", _names("exclude", self.exclude))


@dataclass(frozen=True)
class CopyOptions:
    """How rows are copied: what to do with existing target tables, batch and chunk sizes, the
    number of workers and how their reads are kept consistent."""

    if_exists: IfExists = "fail"
    schema_only: bool = False  # create tables, keys and indexes; copy no rows
    data_only: bool = False  # copy rows into existing tables; create nothing
    batch_size: int = 50_000  # rows per batch (and per commit without a journal)
    batch_bytes: int = 4 * MB  # a batch also ends at this many bytes
    chunk_bytes: int = 8 * MB  # big tables are split into key ranges of about this size
    jobs: int = 2  # workers copying tables and key ranges at once
    consistency: Consistency = "lock"  # lock | snapshot | none (see xfer.copy.parallel; none: --follow)

    def __post_init__(self) -> None:
        _choice("if_exists", self.if_exists, IF_EXISTS)
        _choice("consistency", self.consistency, CONSISTENCY)
        for name in ("batch_size", "batch_bytes", "chunk_bytes", "jobs"):
            _at_least(name, getattr(self, name), 1)
        if self.schema_only and self.data_only:
            raise UsageError("--schema-only and --data-only exclude each other")


@dataclass(frozen=True)
class Policies:
    """What happens to values the target cannot hold, and to names: each a declared, counted
    choice (see the README, "Values the target cannot hold")."""

    zero_dates: ZeroDates = "null"
    nul_bytes: NulBytes = "reject"
    enum: EnumAs = "text"
    identifiers: Identifiers = "lower"
    collations: Collations = "keep"
    reject_file: str | None = None  # where rejected rows go (JSON lines); default: ./xfer-rejects.jsonl
    max_errors: int = 0  # refused rows a table may have before it is failed

    def __post_init__(self) -> None:
        _choice("zero_dates", self.zero_dates, ZERO_DATES)
        _choice("nul_bytes", self.nul_bytes, NUL_BYTES)
        _choice("enum", self.enum, ENUMS)
        _choice("identifiers", self.identifiers, IDENTIFIERS)
        _choice("collations", self.collations, COLLATIONS)
        _at_least("max_errors", self.max_errors, 0)


@dataclass(frozen=True)
class VerifyOptions:
    """The check after the copy (and `xfer verify`): where checksums are computed, how floats
    compare, how many differing rows are shown."""

    enabled: bool = True
    method: VerifyMethod = "auto"  # auto | client | pushdown
    float_digits: int | None = None  # None: floats compared exactly (IEEE bits)
    sample: int = 10  # differing keys shown per table, with both values
    #: `xfer verify`'s reading (migrate's own check compares with what it copied): see verification.live
    consistency: VerifyConsistency = "live"
    recheck: int = 3  # live: rounds the differing keys are read again in (0: none)
    strict: bool = False  # live: keys still changing in the source after the rounds count as differences

    def __post_init__(self) -> None:
        _choice("verify_method", self.method, VERIFY_METHODS)
        _choice("verify_consistency", self.consistency, VERIFY_CONSISTENCY)
        _at_least("sample", self.sample, 0)
        _at_least("recheck", self.recheck, 0)
        if self.float_digits is not None:
            _at_least("float_digits", self.float_digits, 1)


@dataclass(frozen=True)
class RunOptions:
    """Reliability: the run journal, resuming, retries and backups (xfer.runs)."""

    resume: bool = False  # continue the unfinished run of this migration
    journal: bool = True  # keep the run journal in the target (where the engine can)
    retries: int = 5  # tries again after transient errors, per chunk or statement
    backup: str | None = None  # directory: tables --if-exists truncate|replace overwrites, as Parquet
    follow: bool = False  # after the copy, apply the source's change log until stopped (xfer.follow)

    def __post_init__(self) -> None:
        _at_least("retries", self.retries, 0)


#: flat option name -> (group attribute, field name in the group)
FLAT: dict[str, tuple[str, str]] = {
    "tables": ("selection", "tables"),
    "exclude": ("selection", "exclude"),
    **{f.name: ("copy", f.name) for f in fields(CopyOptions)},
    **{f.name: ("policies", f.name) for f in fields(Policies)},
    "verify": ("verify", "enabled"),
    "verify_method": ("verify", "method"),
    "float_digits": ("verify", "float_digits"),
    "sample": ("verify", "sample"),
    "verify_consistency": ("verify", "consistency"),
    "recheck": ("verify", "recheck"),
    "strict": ("verify", "strict"),
    **{f.name: ("run", f.name) for f in fields(RunOptions)},
}


@dataclass(frozen=True)
class Options:
    """Every option of a run, by group; the defaults are the command line's."""

    selection: Selection = field(default_factory=Selection)
    copy: CopyOptions = field(default_factory=CopyOptions)
    policies: Policies = field(default_factory=Policies)
    verify: VerifyOptions = field(default_factory=VerifyOptions)
    run: RunOptions = field(default_factory=RunOptions)
    #: a mapping file (`-m FILE`, `xfer.load_mapping`): renames, filters, computed columns, hooks
    mapping: Mapping | None = None

    @classmethod
    def build(cls, **settings: Any) -> Options:
        """Options from flat names (`jobs=4`, `verify_method="client"`, `mapping=m`)."""
        return cls().with_(**settings)

    def with_(self, **settings: Any) -> Options:
        """A copy with the flat-named `settings` changed (checked like a new object)."""
        groups: dict[str, dict[str, Any]] = {}
        top: dict[str, Any] = {}
        for name, value in settings.items():
            if name == "mapping":
                top[name] = value
                continue
            if name not in FLAT:
                close = difflib.get_close_matches(name, [*FLAT, "mapping"], n=1)
                raise UsageError(
                    f"unknown option {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                    hint=f"options are: {', '.join(sorted([*FLAT, 'mapping']))}",
                )
            group, attr = FLAT[name]
            if name == "consistency":  # one word for how the source is read, by the copy and by verify
                value = _consistency(value, groups)
                if value is None:
                    continue
            groups.setdefault(group, {})[attr] = value
        for group, changes in groups.items():
            top[group] = replace(getattr(self, group), **changes)
        return replace(self, **top)

    def flat(self) -> dict[str, Any]:
        """Every option by its flat name (the run journal records these)."""
        return {name: getattr(getattr(self, group), attr) for name, (group, attr) in FLAT.items()}


def _consistency(value: object, groups: dict[str, dict[str, Any]]) -> object:
    """`consistency=...` sets how both the copy and `verify` read the source: `live` is verify's
    only (the copy's stays), `none` the copy's only (--follow); lock and snapshot are both's."""
    if value in VERIFY_CONSISTENCY:
        groups.setdefault("verify", {})["consistency"] = value
    return None if value == "live" else value

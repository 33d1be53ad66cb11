"""A mapping file's `options:` (and source/target) merged with the command line's: the
command line wins for whatever it states explicitly."""

from __future__ import annotations

from xfer.core.options import Options
from xfer.mapping.model import Mapping

# mapping-file key -> (Options field, command-line parameter that overrides it)
FILE_OPTIONS = {
    "zero_dates": ("zero_dates", "zero_dates"),
    "nul_bytes": ("nul_bytes", "nul_bytes"),
    "enum": ("enum", "enum_as"),
    "identifiers": ("identifiers", "identifiers"),
    "if_exists": ("if_exists", "if_exists"),
    "batch_size": ("batch_size", "batch_size"),
    "verify": ("verify", "no_verify"),
}


def with_file_options(m: Mapping, opts: Options, given: set[str]) -> Options:
    """`opts` (from the command line) with the file's options where `given` names no flag."""
    changes: dict[str, object] = {"mapping": m}
    for key, value in m.options.items():
        field_name, flag = FILE_OPTIONS[key]
        if flag is None or flag not in given:
            changes[field_name] = value
    return opts.with_(**changes)

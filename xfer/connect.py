"""Opening the engines a URL names."""

from __future__ import annotations

from contextlib import ExitStack

from . import urls
from .dialects import dialect_for
from .dialects.base import Dialect


def open_source(raw: str, stack: ExitStack) -> Dialect:
    """Connect to a source, which must exist (an embedded file is never created)."""
    d = dialect_for(urls.parse(raw, role="source"))
    d.check_exists()
    d.connect()
    stack.callback(d.close)
    d.check_source()
    return d


def open_target(raw: str, stack: ExitStack, *, must_exist: bool = False) -> Dialect:
    d = dialect_for(urls.parse(raw, role="target"))
    if must_exist:
        d.check_exists()
    d.connect()
    stack.callback(d.close)
    if must_exist:
        d.check_source()
    return d

"""Opening the engines a URL names."""

from __future__ import annotations

from contextlib import ExitStack

from . import urls
from .dialects import dialect_for
from .dialects.base import Dialect


def open_source(raw: str, stack: ExitStack) -> Dialect:
    d = dialect_for(urls.parse(raw, role="source"))
    if hasattr(d, "require_existing"):
        d.require_existing()
    d.connect()
    stack.callback(d.close)
    return d


def open_target(raw: str, stack: ExitStack, *, must_exist: bool = False) -> Dialect:
    d = dialect_for(urls.parse(raw, role="target"))
    if must_exist and hasattr(d, "require_existing"):
        d.require_existing()
    d.connect()
    stack.callback(d.close)
    return d

"""Opening the engines a URL names."""

from __future__ import annotations

import os
from contextlib import ExitStack

from xfer.core import urls
from xfer.dialects import dialect_for
from xfer.dialects.base import Dialect, EmbeddedDialect


def open_source(raw: str, stack: ExitStack) -> Dialect:
    """Connect to a source, which must exist (an embedded file is never created)."""
    d = dialect_for(urls.parse(raw, role="source"))
    d.check_exists()
    d.connect()
    stack.callback(d.close)
    d.check_source()
    return d


def new_embedded_file(raw: str) -> str | None:
    """The path of an embedded target database that does not exist yet (None otherwise), so
    a run that stops before creating anything can leave no empty file behind."""
    d = dialect_for(urls.parse(raw, role="target"))
    if isinstance(d, EmbeddedDialect) and d.url.path != ":memory:" and not os.path.exists(d.url.path):
        return d.url.path
    return None


def discard_file(path: str) -> None:
    for p in (path, path + ".wal"):
        if os.path.exists(p):
            os.remove(p)


def open_target(raw: str, stack: ExitStack, *, must_exist: bool = False) -> Dialect:
    d = dialect_for(urls.parse(raw, role="target"))
    if must_exist:
        d.check_exists()
    d.connect()
    stack.callback(d.close)
    if must_exist:
        d.check_source()
    return d


def open_plan_target(raw: str, stack: ExitStack) -> Dialect:
    """The target to plan against without changing it: an embedded engine is opened in memory
    (its file is never created); a server is connected to as usual."""
    d = dialect_for(urls.parse(raw, role="target"))
    if isinstance(d, EmbeddedDialect):
        d = dialect_for(urls.parse(f"{raw.split(':', 1)[0]}://", role="target"))
    d.connect()
    stack.callback(d.close)
    return d

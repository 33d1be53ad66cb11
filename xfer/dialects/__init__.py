"""The engine registry: URL engine name -> (module, class). Adding an engine is one module
and one line here; modules are imported only when a URL asks for them."""

from __future__ import annotations

import importlib

from xfer.core.urls import Url
from xfer.dialects.base import Dialect

REGISTRY: dict[str, tuple[str, str]] = {
    "mysql": ("mysql", "MySQL"),
    "postgres": ("postgres", "Postgres"),
    "sqlite": ("sqlite", "SQLite"),
    "duckdb": ("duckdb", "DuckDB"),
}


def dialect_for(url: Url) -> Dialect:
    module, cls = REGISTRY[url.engine]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)(url)

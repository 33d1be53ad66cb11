"""What the PostgreSQL dialect's parts (DDL, triggers, reading, writing) need of the whole dialect,
declared once so each part type-checks on its own."""

from __future__ import annotations

from typing import Any, ClassVar


class PostgresPart:
    max_identifier_length: ClassVar[int]
    quote: Any
    qualified: Any
    column_list: Any

    @property
    def schema(self) -> str:  # the dialect's: the URL's ?schema= (default public)
        raise NotImplementedError

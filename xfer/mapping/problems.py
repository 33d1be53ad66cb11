"""Problems found in a mapping file, each tied to the file, line and column it comes from.

Every check adds to one `Problems` collector instead of raising at the first, so a user fixes
a file in one round; `raise_if_any` turns the lot into a `MappingError` (exit 2), one line per
problem, in file order, each saying what to write instead where we can tell.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from xfer.core.errors import UsageError

#: a location inside the document: keys and list indexes from the root, e.g. ("tables", "t", "columns")
Path = tuple[str | int, ...]

MAX_SHOWN = 25  # a file with more problems than this is the wrong file: the first ones tell


class MappingError(UsageError):
    """The mapping file is wrong; nothing was touched."""


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based, as editors count
    column: int


@dataclass
class Marks:
    """Where each node of the document starts: its value and, for mapping entries, its key."""

    file: str
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)

    def find(self, path: Path, *, key: bool = False) -> Mark | None:
        """The mark of `path`, or of its nearest ancestor that has one."""
        p = tuple(path)
        while True:
            if key and p in self.keys:
                return self.keys[p]
            if p in self.values:
                return self.values[p]
            if not p:
                return None
            p = p[:-1]


@dataclass(frozen=True)
class Problem:
    mark: Mark | None
    message: str

    def render(self, file: str) -> str:
        where = f"{file}:{self.mark.line}:{self.mark.column}" if self.mark else file
        return f"{where}: {self.message}"


class Problems:
    def __init__(self, marks: Marks) -> None:
        self.marks = marks
        self.items: list[Problem] = []

    def add(self, path: Path, message: str, hint: str | None = None, *, key: bool = False) -> None:
        text = message if not hint else f"{message}; {hint}"
        self.items.append(Problem(self.marks.find(path, key=key), text))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        ordered = sorted(set(self.items), key=lambda p: (p.mark.line, p.mark.column) if p.mark else (0, 0))
        lines = [p.render(self.marks.file) for p in ordered[:MAX_SHOWN]]
        if len(ordered) > MAX_SHOWN:
            lines.append(f"... and {len(ordered) - MAX_SHOWN} more problem(s)")
        raise MappingError("\n".join(lines))


def did_you_mean(word: str, choices: Iterable[str], *, listing: str = "") -> str:
    """ "did you mean 'email'?" from the closest names (case-insensitively), else a list of what exists."""
    names = list(dict.fromkeys(choices))
    by_lower = {n.lower(): n for n in names}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=3, cutoff=0.6)
    if close:  # only the clear winners: "customers_uss" suggests customers_us, not customers_eu too
        best = _ratio(word, close[0])
        close = [c for c in close if _ratio(word, c) >= best - 0.05]
        return "did you mean " + " or ".join(repr(by_lower[c]) for c in close) + "?"
    if not names:
        return f"there are no {listing or 'choices'}"
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"{listing or 'choices'}: {shown}"


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()

"""Connection URLs: parsing (SQLAlchemy form), engine lookup and password masking."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import quote

from xfer.core.errors import UsageError

# scheme (before any "+driver") -> engine name in the dialect registry
SCHEMES = {
    "mysql": "mysql",
    "mariadb": "mysql",
    "postgresql": "postgres",
    "postgres": "postgres",
    "sqlite": "sqlite",
    "duckdb": "duckdb",
}
#: engines reached over the network, whose URL must name a database (embedded ones name a file)
SERVER_ENGINES = frozenset({"mysql", "postgres"})


@dataclass(frozen=True)
class Url:
    """A parsed connection URL. `str(url)` is the masked form, safe for any output."""

    engine: str
    raw: str = field(repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    database: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    role: str = field(default="URL", compare=False)  # source | target | URL: which env var holds its password

    @property
    def secret(self) -> str | None:
        """The password: the URL's, else $XFER_SOURCE_PASSWORD / $XFER_TARGET_PASSWORD (which keep
        it out of process arguments and shell history). Engines add their own places (~/.my.cnf,
        libpq's PGPASSWORD and ~/.pgpass) in their dialect."""
        if self.password:
            return self.password
        if self.role in ("source", "target"):
            return os.environ.get(f"XFER_{self.role.upper()}_PASSWORD") or None
        return None

    def __str__(self) -> str:
        return mask(self.raw)

    @property
    def path(self) -> str:
        """The file path of an embedded engine's database (sqlite, duckdb)."""
        return self.database or ":memory:"


def parse(raw: str, *, role: str = "URL") -> Url:
    """Parse `raw`, raising UsageError (exit 2) with a masked message when it is malformed."""
    from sqlalchemy.engine import make_url  # sqlalchemy is a core dependency; import is cheap
    from sqlalchemy.exc import ArgumentError

    if not raw or "://" not in raw:
        raise UsageError(
            f"{role} {mask(raw)!r} is not a connection URL",
            hint="write e.g. mysql://user@host:3306/db, postgresql://user@host/db, "
            "sqlite:///file.db or duckdb:///file.duckdb",
        )
    try:
        u = make_url(raw)
    except (ArgumentError, ValueError) as exc:
        raise UsageError(f"{role} {mask(raw)!r} is not a valid URL: {exc}") from None
    scheme = u.drivername.split("+", 1)[0].lower()
    engine = SCHEMES.get(scheme)
    if engine is None:
        known = ", ".join(sorted(SCHEMES))
        raise UsageError(f"{role} {mask(raw)!r}: unknown engine {scheme!r} (known: {known})")
    if engine in SERVER_ENGINES and not u.database:
        raise UsageError(f"{role} {mask(raw)!r} names no database", hint=f"add /DBNAME: {scheme}://user@host/DBNAME")
    try:
        port = u.port
    except ValueError:
        raise UsageError(f"{role} {mask(raw)!r} has an invalid port") from None
    query = {k: (v if isinstance(v, str) else v[-1]) for k, v in u.query.items()}
    return Url(
        engine=engine,
        raw=raw,
        username=u.username,
        password=u.password,
        host=u.host,
        port=port,
        database=u.database,
        query=query,
        role=role,
    )


# user:password@ -- a password may hold "/" (no spaces), or spaces (no "/"): a URL that is not
# well-formed is exactly the one that gets printed in an error. Masking too much is safe.
_PASSWORD_IN_URL = [
    re.compile(r"(?P<pre>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<post>@)", re.I),
    re.compile(r"(?P<pre>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@/]*)(?P<post>@)", re.I),
]


def mask(text: str | None) -> str:
    """Replace any password inside URLs in `text` by ***."""
    if not text:
        return ""
    for pattern in _PASSWORD_IN_URL:
        text = pattern.sub(lambda m: m["pre"] + "***" + m["post"], text)
    return text


def redact(text: str, *secrets: str | None) -> str:
    """Mask URLs and every known secret (a driver may echo the password in its own words)."""
    out = mask(text)
    for s in secrets:
        if s:
            out = out.replace(s, "***").replace(quote(s, safe=""), "***")
    return out

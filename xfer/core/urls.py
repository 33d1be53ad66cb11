"""Connection URLs: parsing (SQLAlchemy form), engine lookup and password masking."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import parse_qsl, quote, unquote

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
    if not raw or "://" not in raw:
        raise UsageError(
            f"{role} {mask(raw)!r} is not a connection URL",
            hint="write e.g. mysql://user@host:3306/db, postgresql://user@host/db, "
            "sqlite:///file.db or duckdb:///file.duckdb",
        )
    port_text = _port_text(raw)
    if port_text and not port_text.isdigit():
        raise UsageError(
            f"{role} {mask(raw)!r}: the port {port_text!r} is not a number",
            hint="write the port in digits after the host, e.g. @127.0.0.1:3306",
        )
    try:
        u = _parse_parts(_encode_userinfo(raw))
    except ValueError as exc:
        raise UsageError(f"{role} {mask(raw)!r} is not a valid URL: {mask(str(exc))}") from None
    scheme = u.drivername.split("+", 1)[0].lower()
    engine = SCHEMES.get(scheme)
    if engine is None:
        known = ", ".join(sorted(SCHEMES))
        raise UsageError(f"{role} {mask(raw)!r}: unknown engine {scheme!r} (known: {known})")
    if engine in SERVER_ENGINES and not u.database:
        raise UsageError(f"{role} {mask(raw)!r} names no database", hint=f"add /DBNAME: {scheme}://user@host/DBNAME")
    port = u.port
    query = u.query
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


class _Parts(NamedTuple):
    drivername: str
    username: str | None
    password: str | None
    host: str | None
    port: int | None
    database: str | None
    query: dict[str, str]


# SQLAlchemy's URL form, read as its `make_url` reads it (sqlalchemy.engine.url._parse_url, 2.x),
# without importing SQLAlchemy: ~11 MB of a verify's memory for one regular expression.
_SQLA_URL = re.compile(
    r"""
        (?P<name>[\w\+]+)://
        (?:
            (?P<username>[^:/]*)
            (?::(?P<password>[^@]*))?
        @)?
        (?:
            (?:
                \[(?P<ipv6host>[^/\?]+)\] |
                (?P<ipv4host>[^/:\?]+)
            )?
            (?::(?P<port>[^/\?]*))?
        )?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
    """,
    re.X,
)


def _parse_parts(raw: str) -> _Parts:
    """The parts of a URL as SQLAlchemy's `make_url` gives them (user, password and database
    percent-decoded; of a repeated query parameter, the last). Raises ValueError."""
    m = _SQLA_URL.match(raw)
    if m is None:
        raise ValueError("Could not parse SQLAlchemy URL from given URL string")
    g = m.groupdict()
    username, password, database = (
        None if g[k] is None else unquote(g[k]) for k in ("username", "password", "database")
    )
    return _Parts(
        drivername=g["name"],
        username=username,
        password=password,
        host=g["ipv4host"] or g["ipv6host"],
        port=int(g["port"]) if g["port"] else None,
        database=database,
        query=dict(parse_qsl(g["query"])) if g["query"] is not None else {},
    )


# What may follow the "@" that ends user:password: a host (a name, an address or [IPv6]), an
# optional port, then the path, the query or the end.
_HOST_AFTER_AT = re.compile(r"(\[[^\]/?#@]*\]|[^/?#@:\[\]]*)(:[^/?#@]*)?(?=[/?#]|$)")


def _userinfo_end(rest: str) -> int:
    """Index of the "@" that ends `user:password` in `rest` (a URL after its "scheme://"), else -1.

    An unencoded "@" may be part of the password (`root:Tr0ub@dor&3@host`): as browsers and
    Python's urlsplit do, the last "@" of the authority (up to the first "/", "?" or "#") wins --
    never the first, which would make the password's tail a host name, shown in messages and
    looked up in DNS. SQLAlchemy also lets a password hold "/" (`u:pa/ss@host`): without an "@" in
    the authority, the last "@" followed by a host ends it, as long as no "/" comes before the
    user name's end (a user name never holds one; a path or query before an "@" does)."""
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        return authority.rindex("@")
    at = len(rest)
    while (at := rest.rfind("@", 0, at)) >= 0:
        if "/" not in rest[:at].split(":", 1)[0] and _HOST_AFTER_AT.match(rest, at + 1):
            return at
    return -1


def _split(raw: str) -> tuple[str, str, str] | None:
    """`raw` as (scheme "://", userinfo, the rest after its "@"), or None without userinfo."""
    head, sep, rest = raw.partition("://")
    at = _userinfo_end(rest) if sep else -1
    return None if at < 0 else (head + sep, rest[:at], rest[at + 1 :])


def _encode_userinfo(raw: str) -> str:
    """`raw` with each "@" inside user:password percent-encoded, so SQLAlchemy parses the host
    after the last one (it decodes them back: the password is unchanged)."""
    parts = _split(raw)
    return raw if parts is None else f"{parts[0]}{parts[1].replace('@', '%40')}@{parts[2]}"


def _port_text(raw: str) -> str:
    """The text after the host's ":" (the port as written), or "" when there is none."""
    parts = _split(raw)
    rest = parts[2] if parts else raw.partition("://")[2]
    host = _HOST_AFTER_AT.match(rest)
    return host.group(2)[1:] if host and host.group(2) else ""


# user:password@ -- a password may hold "/" (no spaces), or spaces (no "/"), or "@": a URL that is
# not well-formed is exactly the one that gets printed in an error. Masking too much is safe.
_URL_WITH_USERINFO = re.compile(r"[a-z][a-z0-9+.-]*://[^:/@\s]*:\S*@\S*", re.I)
_PASSWORD_IN_URL = re.compile(r"(?P<pre>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@/]*)(?P<post>@)", re.I)


def _mask_url(m: re.Match[str]) -> str:
    parts = _split(m[0])
    if parts is None:
        return m[0]
    user = parts[1].split(":", 1)[0]
    return f"{parts[0]}{user}:***@{parts[2]}"


def mask(text: str | None) -> str:
    """Replace any password inside URLs in `text` by ***."""
    if not text:
        return ""
    text = _URL_WITH_USERINFO.sub(_mask_url, text)
    return _PASSWORD_IN_URL.sub(lambda m: m["pre"] + "***" + m["post"], text)


def redact(text: str, *secrets: str | None) -> str:
    """Mask URLs and every known secret (a driver may echo the password in its own words)."""
    out = mask(text)
    for s in secrets:
        if s:
            out = out.replace(s, "***").replace(quote(s, safe=""), "***")
    return out

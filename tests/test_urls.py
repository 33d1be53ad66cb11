"""xfer.urls: parsing connection URLs and masking passwords (no database needed)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from xfer.core.errors import EXIT_USAGE, UsageError
from xfer.core.urls import mask, parse, redact


@dataclass(frozen=True)
class Parsed:
    engine: str
    username: str | None = None
    password: str | None = None
    host: str | None = None
    port: int | None = None
    database: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    path: str | None = None  # only checked when given (embedded engines)


PARSE_CASES: list[tuple[str, str, Parsed]] = [
    ("mysql", "mysql://root@127.0.0.1:3306/shop", Parsed("mysql", "root", None, "127.0.0.1", 3306, "shop")),
    ("mysql-pymysql", "mysql+pymysql://u:pw@db.example/shop", Parsed("mysql", "u", "pw", "db.example", None, "shop")),
    ("mariadb", "mariadb://u@h:3307/db", Parsed("mysql", "u", None, "h", 3307, "db")),
    (
        "postgresql",
        "postgresql://postgres@127.0.0.1:5432/app",
        Parsed("postgres", "postgres", None, "127.0.0.1", 5432, "app"),
    ),
    ("postgres-alias", "postgres://h/app", Parsed("postgres", None, None, "h", None, "app")),
    ("postgresql-psycopg", "postgresql+psycopg://u:p@h/app", Parsed("postgres", "u", "p", "h", None, "app")),
    ("schema", "postgresql://u@h/app?schema=shop", Parsed("postgres", "u", None, "h", None, "app", {"schema": "shop"})),
    (
        "schema-and-sslmode",
        "postgresql://u@h/app?schema=s1&sslmode=require",
        Parsed("postgres", "u", None, "h", None, "app", {"schema": "s1", "sslmode": "require"}),
    ),
    (
        "schema-encoded",
        "postgresql://u@h/app?schema=My%20Schema",
        Parsed("postgres", "u", None, "h", None, "app", {"schema": "My Schema"}),
    ),
    (
        "schema-repeated-last-wins",
        "postgresql://h/app?schema=a&schema=b",
        Parsed("postgres", None, None, "h", None, "app", {"schema": "b"}),
    ),
    ("password-percent-encoded", "mysql://u:p%40ss%2Fw%3Ard@h/db", Parsed("mysql", "u", "p@ss/w:rd", "h", None, "db")),
    ("ipv6-host", "postgresql://[::1]:5432/db", Parsed("postgres", None, None, "::1", 5432, "db")),
    # an unencoded "@" in the password: the last "@" before the host ends it (as browsers parse it)
    (
        "at-in-password",
        "mysql://root:Tr0ub@dor&3@127.0.0.1:3306/db",
        Parsed("mysql", "root", "Tr0ub@dor&3", "127.0.0.1", 3306, "db"),
    ),
    ("slash-then-at-in-password", "mysql://u:a/b@c@h/db", Parsed("mysql", "u", "a/b@c", "h", None, "db")),
    ("at-in-database", "mysql://u@h/d@b", Parsed("mysql", "u", None, "h", None, "d@b")),
    ("at-in-query", "postgresql://h/db?x=a@b", Parsed("postgres", None, None, "h", None, "db", {"x": "a@b"})),
    ("sqlite-relative", "sqlite:///data/shop.db", Parsed("sqlite", database="data/shop.db", path="data/shop.db")),
    (
        "sqlite-absolute",
        "sqlite:////var/data/shop.db",
        Parsed("sqlite", database="/var/data/shop.db", path="/var/data/shop.db"),
    ),
    ("sqlite-memory", "sqlite://", Parsed("sqlite", path=":memory:")),
    (
        "sqlite-space-in-path",
        "sqlite:///my data/shop.db",
        Parsed("sqlite", database="my data/shop.db", path="my data/shop.db"),
    ),
    ("duckdb-relative", "duckdb:///shop.duckdb", Parsed("duckdb", database="shop.duckdb", path="shop.duckdb")),
    (
        "duckdb-absolute",
        "duckdb:////tmp/x/shop.duckdb",
        Parsed("duckdb", database="/tmp/x/shop.duckdb", path="/tmp/x/shop.duckdb"),
    ),
    ("duckdb-memory", "duckdb://", Parsed("duckdb", path=":memory:")),
]


@pytest.mark.parametrize(("raw", "want"), [c[1:] for c in PARSE_CASES], ids=[c[0] for c in PARSE_CASES])
def test_parse(raw: str, want: Parsed) -> None:
    url = parse(raw)

    got = Parsed(
        url.engine, url.username, url.password, url.host, url.port, url.database, url.query, want.path and url.path
    )
    assert got == want
    assert url.raw == raw


# (id, raw, words the message must contain)
BAD_URLS: list[tuple[str, str, list[str]]] = [
    ("empty", "", ["not a connection URL"]),
    ("bare-word", "shop", ["'shop'", "not a connection URL"]),
    ("a-path", "/var/data/shop.db", ["not a connection URL"]),
    ("one-slash", "mysql:/u@h/db", ["not a connection URL"]),
    ("unknown-engine", "oracle://scott@h/orcl", ["unknown engine 'oracle'", "mysql", "postgresql", "sqlite", "duckdb"]),
    ("unknown-driverless", "mssql+pyodbc://u@h/db", ["unknown engine 'mssql'"]),
    ("mysql-no-database", "mysql://root@127.0.0.1:3306", ["names no database"]),
    ("pg-no-database", "postgresql://postgres@127.0.0.1/", ["names no database"]),
    ("port-not-a-number", "mysql://u@h:port/db", ["the port 'port' is not a number"]),
    ("port-with-a-letter", "mysql://root@127.0.0.1:33o6/db", ["the port '33o6' is not a number"]),
    ("no-scheme", "://h/db", ["not a valid URL"]),
]


@pytest.mark.parametrize(("raw", "words"), [c[1:] for c in BAD_URLS], ids=[c[0] for c in BAD_URLS])
def test_parse_rejects_with_a_usage_error(raw: str, words: list[str]) -> None:
    with pytest.raises(UsageError) as info:
        parse(raw, role="source")

    message = str(info.value)
    assert info.value.exit_code == EXIT_USAGE
    assert message.startswith("source ")
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    "raw",
    [
        "oracle://scott:Tiger-Pw1@h/orcl",
        "mysql://root:Tiger-Pw1@127.0.0.1:3306",
        "mysql://u:Tiger-Pw1@h:port/db",
        "mysql://root:Tiger@Pw1@127.0.0.1:3306",
        "mysql://root:Tiger@Pw1@127.0.0.1:33o6/db",
    ],
    ids=["unknown-engine", "no-database", "bad-port", "at-in-password", "at-in-password-bad-port"],
)
def test_parse_errors_never_show_the_password(raw: str) -> None:
    with pytest.raises(UsageError) as info:
        parse(raw)

    assert "Tiger" not in str(info.value) and "Pw1" not in str(info.value)
    assert ":***@" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("mysql://u:pw@h/db", "mysql://u:***@h/db"),
        ("postgresql://u:p%40ss@h:5433/app?schema=s", "postgresql://u:***@h:5433/app?schema=s"),
        ("mysql://root@127.0.0.1:3306/shop", "mysql://root@127.0.0.1:3306/shop"),
        ("sqlite:////tmp/shop.db", "sqlite:////tmp/shop.db"),
    ],
    ids=["password", "encoded-password-and-query", "no-password", "sqlite"],
)
def test_str_and_repr_of_a_url_hide_the_password(raw: str, shown: str) -> None:
    url = parse(raw)

    assert str(url) == shown
    if url.password:
        assert url.password not in repr(url)


# (id, text, masked)
MASK_CASES: list[tuple[str, str | None, str]] = [
    ("none", None, ""),
    ("empty", "", ""),
    ("plain-text", "nothing to hide: password=abc", "nothing to hide: password=abc"),
    ("url-without-password", "mysql://root@h/db", "mysql://root@h/db"),
    ("url", "mysql://u:secret@h/db", "mysql://u:***@h/db"),
    ("driver-scheme", "mysql+pymysql://u:secret@h/db", "mysql+pymysql://u:***@h/db"),
    ("empty-password", "mysql://u:@h/db", "mysql://u:***@h/db"),
    ("encoded", "postgresql://u:p%40ss%2F1@h/db?schema=x", "postgresql://u:***@h/db?schema=x"),
    ("colon-in-password", "mysql://u:p:w@h/db", "mysql://u:***@h/db"),
    ("slash-in-password", "mysql://u:p/w@h/db", "mysql://u:***@h/db"),
    ("at-in-password", "mysql://root:Tr0ub@dor&3@127.0.0.1:3306/db", "mysql://root:***@127.0.0.1:3306/db"),
    ("slash-then-at-in-password", "error: mysql://u:a/b@c@h/db: no", "error: mysql://u:***@h/db: no"),
    ("at-in-query", "postgresql://u:pw@h/db?x=a@b", "postgresql://u:***@h/db?x=a@b"),
    (
        "two-urls-in-a-sentence",
        "copy mysql://a:one@h1/db to postgresql://b:two@h2:5432/db failed",
        "copy mysql://a:***@h1/db to postgresql://b:***@h2:5432/db failed",
    ),
    ("quoted", "source 'mysql://u:secret@h/db' names no database", "source 'mysql://u:***@h/db' names no database"),
    (
        "multi-line",
        "first mysql://u:s1@h/db\nsecond postgresql://v:s2@h/db",
        "first mysql://u:***@h/db\nsecond postgresql://v:***@h/db",
    ),
    ("uppercase-scheme", "MYSQL://u:secret@h/db", "MYSQL://u:***@h/db"),
    ("any-scheme", "https://user:token@example.com/x", "https://user:***@example.com/x"),
]


@pytest.mark.parametrize(("text", "masked"), [c[1:] for c in MASK_CASES], ids=[c[0] for c in MASK_CASES])
def test_mask(text: str | None, masked: str) -> None:
    assert mask(text) == masked
    assert mask(mask(text)) == masked  # idempotent


@pytest.mark.parametrize(
    ("text", "secrets", "shown"),
    [
        (
            "Access denied for user 'u' (using password: Tiger-Pw1)",
            ("Tiger-Pw1",),
            "Access denied for user 'u' (using password: ***)",
        ),
        ("dsn user=u password=p%40ss host=h", ("p@ss",), "dsn user=u password=*** host=h"),
        ("mysql://u:pw@h/db said pw", ("pw",), "mysql://u:***@h/db said ***"),
        ("nothing here", (None, ""), "nothing here"),
    ],
    ids=["driver-echo", "url-encoded-echo", "url-and-echo", "no-secrets"],
)
def test_redact(text: str, secrets: tuple[str | None, ...], shown: str) -> None:
    assert redact(text, *secrets) == shown


def test_password_with_a_space_is_masked() -> None:
    url = parse("postgresql://u:my secret@h/db")
    assert url.password == "my secret"

    assert "secret" not in str(url)
    with pytest.raises(UsageError) as info:
        parse("mysql://u:my secret@h")
    assert "secret" not in str(info.value)

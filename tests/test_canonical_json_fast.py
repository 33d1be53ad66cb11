"""The orjson fast path of JSON canonicalisation gives byte for byte what `canonical_json` (the
exact, stdlib path) gives, for every input; the inputs it cannot render the same way are routed
to the exact path, and the rest really take the fast path."""

from __future__ import annotations

import random
import re
import sys
from typing import Any

import orjson as _orjson_required  # noqa: F401 - a dependency of xfer: missing, this module fails, not skips
import pyarrow as pa
import pytest

from xfer.core import canonical
from xfer.core.canonical import _RISKY_JSON, canonical_json, canonical_json_texts

FAST, EXACT = True, False


def check(docs: list[str]) -> int:
    """Assert the column path equals `canonical_json` on every document; return how many took
    the exact path."""
    got, exact = canonical_json_texts(pa.array(docs, pa.string()))
    want = [canonical_json(d) for d in docs]
    for doc, g, w in zip(docs, got.to_pylist(), want, strict=True):
        assert g == w, f"{doc!r}: fast path {g!r}, exact path {w!r}"
    return exact


CASES: list[tuple[str, bool]] = [
    # MariaDB's JSON_OBJECT output, PostgreSQL's jsonb output, whitespace
    ('{"k": 42, "tag": "t7", "n": 123456}', FAST),
    ('{"k": 42, "n": 123456, "tag": "t7"}', FAST),
    (' \t\r\n{ "b" :\t1 ,\n"a" : [ 1 , 2 ] }\r\n ', FAST),
    # literals, empty and nested containers, top-level scalars
    ("true", FAST),
    ("false", FAST),
    ("null", FAST),
    ('"text"', FAST),
    ("0", FAST),
    ("[]", FAST),
    ("{}", FAST),
    ('[[], {}, [[]], {"a": {}}, {"a": []}]', FAST),
    ('{"a": [true, false, null, {"b": [1, [2, [3, {"c": null}]]]}]}', FAST),
    ("[" * 254 + "]" * 254, FAST),
    ("[" * 255 + "]" * 255, EXACT),  # orjson refuses to dump deeper than 254 levels
    ("[" * 600 + "]" * 600, EXACT),
    # integers: -0, the 64-bit edges (orjson returns a double beyond [-2**63, 2**64 - 1])
    ("-0", FAST),
    ('{"a": -0, "b": [-0]}', FAST),
    ("-1", FAST),
    ("999999999999999999", FAST),
    ("-999999999999999999", FAST),
    (str(2**63 - 1), FAST),
    (str(2**63), FAST),
    ("9999999999999999999", FAST),
    (str(-(2**63) + 1), EXACT),  # any 19 digits after a minus sign: routed (conservative)
    (str(-(2**63)), EXACT),
    (str(-(2**63) - 1), EXACT),
    ("-9999999999999999999", EXACT),
    (str(2**64 - 1), EXACT),  # any 20 digits: routed (conservative)
    (str(2**64), EXACT),
    ("123456789012345678901234567890", EXACT),
    ("[" + "1" * 5000 + "]", EXACT),  # beyond Python's int digit limit: 'invalid:' both ways
    # numbers with a fraction or exponent: always the exact path
    ('{"k": 1.0}', EXACT),
    ('{"k": 1e2}', EXACT),
    ('{"k": 1E2}', EXACT),
    ('{"k": 2.50}', EXACT),
    ('{"k": -0.0}', EXACT),
    ('{"k": 0.1}', EXACT),
    ('{"k": 0.10000000000000001}', EXACT),
    ('{"k": 1e400}', EXACT),
    ('{"k": 5e-324}', EXACT),
    ('{"k": [1, 2.0]}', EXACT),
    ('{"k":\n-3E1}', EXACT),
    ("1.5", EXACT),
    ('{"v": "v 1.2"}', EXACT),  # false alarms: only slower
    ('{"v": "release 2e"}', EXACT),
    ('{"v": "1.2", "w": "x1.5", "u": "\\u00e9\\u003E"}', FAST),  # not where a number can start
    # escapes: what the exact path escapes (", \\, control characters), what it does not
    ('"\\" \\\\ \\/ / \\b \\f \\n \\r \\t"', FAST),
    ('"\\u0000\\u0001\\u001f\\u001F\\u0020"', FAST),
    ('"\\u007f \x7f \\u0080 \x80 \\u00ad \xad"', FAST),
    ('"\\u2028 \\u2029 \u2028 \u2029"', FAST),
    ('"\\ufeff \ufeff \\uffff \uffff \\ue000"', FAST),
    ('"\\ud83d\\ude00 \\uD83D\\uDE00 \U0001f600 \U0010ffff \\udbff\\udfff"', FAST),
    ('"\\u00e9 \\u00E9 é e\u0301"', FAST),
    ('"<script>\\u003c/script\\u003e & \\u0026"', FAST),
    # key order: by code point (astral keys after U+E000..U+FFFF, not UTF-16 order)
    ('{"\U0001f600": 1, "\uffff": 2, "\ue000": 3, "z": 4, "é": 5, "": 6, "Z": 7, "a\\u0000": 8, "a": 9}', FAST),
    ('{"b": 1, "a": 2, "ab": 3, "a ": 4, "A": 5, "_": 6, "~": 7, "\x7f": 8, "\\u0080": 9}', FAST),
    ('{"\\n": 1, "\\u0001": 2, "\\"": 3, "\\\\": 4, "/": 5}', FAST),
    # duplicate keys: the last one wins in both
    ('{"a": 1, "a": 2}', FAST),
    ('{"b": 1, "a": 2, "b": 3, "a": {"x": 1, "x": [2]}}', FAST),
    # not JSON for the exact path: 'invalid:' + text, orjson refuses too
    ("", EXACT),
    ("   ", EXACT),
    ("NaN", EXACT),
    ('{"k": Infinity}', EXACT),
    ("[-Infinity]", EXACT),
    ("[1,]", EXACT),
    ('{"a": 1,}', EXACT),
    ("\ufeff{}", EXACT),
    ("True", EXACT),
    ("{'a': 1}", EXACT),
    ("01", EXACT),
    ("[1] x", EXACT),
    ("1 2", EXACT),
    ('"\\x41"', EXACT),
    ('"a\tb"', EXACT),
    ('"a\x00b"', EXACT),
    ('"\x1f"', EXACT),
    ("\f1", EXACT),
    ("\u00a01", EXACT),
    ("// comment\n1", EXACT),
]


@pytest.mark.parametrize("doc, fast", CASES, ids=[repr(d)[:40] for d, _ in CASES])
def test_fast_path_matches_exact_path(doc: str, fast: bool) -> None:
    assert check([doc]) == (0 if fast else 1)


@pytest.mark.parametrize("doc", ['"\\ud800"', '"\\udc00x"', '["\\ud83d"]', '{"\\uDFFF": 1}'])
def test_lone_surrogates_take_the_exact_path(doc: str) -> None:
    # The stdlib reads an escaped lone surrogate into a str that Arrow cannot store as UTF-8:
    # the column fails as it did before the fast path (orjson refuses the document).
    orjson = canonical._orjson()
    assert orjson is not None
    assert canonical._orjson_many(orjson, [doc]) == ([None], [0])
    # Arrow cannot store the lone surrogate as UTF-8: the document is rendered with its
    # non-ASCII characters escaped instead (the same on both sides), not a crash of the verify.
    (text,) = canonical_json_texts(pa.array([doc], pa.string()))[0].to_pylist()
    assert text == canonical_json(doc) and text.isascii() and "\\u" in text


def test_cases_together_keep_their_order() -> None:
    docs = [d for d, _ in CASES]
    assert check(docs) == sum(1 for _, fast in CASES if not fast)


def all_characters() -> list[str]:
    return [chr(c) for c in range(0x20, 0x110000) if not 0xD800 <= c <= 0xDFFF]


def test_every_character_raw_and_escaped_in_strings_and_keys() -> None:
    """Every code point (but surrogates and the controls JSON forbids raw) in strings and as
    keys, raw and as \\u escapes (surrogate pairs beyond the BMP): same escaping, same order."""
    chars = all_characters()
    docs = []
    for i in range(0, len(chars), 4096):
        part = chars[i : i + 4096]
        raw = ["\\\\" if c == "\\" else '\\"' if c == '"' else c for c in part]
        escaped = [_u_escape(c, upper=bool(n % 2)) for n, c in enumerate(part)]
        docs.append('"' + "".join(raw) + '"')
        docs.append('"' + "".join(escaped) + '"')
        docs.append("{" + ",".join(f'"{k}":{n}' for n, k in enumerate(reversed(raw))) + "}")
        docs.append("{" + ",".join(f'"{k}":{n}' for n, k in enumerate(escaped)) + "}")
    docs.append('"' + "".join(_u_escape(chr(c), upper=False) for c in range(0x20)) + '"')
    docs.append("{" + ",".join(f'"{_u_escape(chr(c), upper=True)}":{c}' for c in range(0x20)) + "}")
    docs.append("{" + ",".join(f'"x{k}":0' for k in ["\\\\", '\\"', "/", "\\/", "\x7f"] + chars[::97]) + "}")
    assert check(docs) == sum(1 for d in docs if re.search(_RISKY_JSON, d))


def _u_escape(c: str, upper: bool) -> str:
    n = ord(c)
    if n > 0xFFFF:
        n -= 0x10000
        units = [0xD800 + (n >> 10), 0xDC00 + (n & 0x3FF)]
    else:
        units = [n]
    return "".join(f"\\u{u:04X}" if upper else f"\\u{u:04x}" for u in units)


# -- random documents ------------------------------------------------------------------------
POOL = (
    list("abcxyzABC _-:/.,09")
    + ['"', "\\", "\x00", "\x01", "\n", "\t", "\x1f", "\x7f", "\x80", "é", "ß", "\u2028", "\u2029"]
    + ["\ufeff", "\ue000", "\uffff", "\U0001f600", "\U00010000", "\U0010ffff", "中", "\u0301"]
)
INTS = [0, 1, -1, 7, 42, 10**6, -(10**9), 2**31, 2**53 + 1, 2**63 - 1, 2**63, 10**18, -(10**18) + 1]
INTS += [-(2**63), 2**64 - 1, 2**64, 10**30, -(10**25)]


def random_string(rng: random.Random) -> str:
    return "".join(rng.choice(POOL) for _ in range(rng.randrange(0, 8)))


def write_string(s: str, rng: random.Random) -> str:
    """`s` as a JSON string, each character written one of the ways JSON allows."""
    out = []
    for c in s:
        short = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "/": "\\/"}.get(c)
        if ord(c) < 0x20 or c in '"\\' or rng.random() < 0.15:
            out.append(short if short and rng.random() < 0.5 else _u_escape(c, upper=rng.random() < 0.5))
        elif short and rng.random() < 0.5:
            out.append(short)
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def random_number(rng: random.Random, floats: bool) -> str:
    if floats and rng.random() < 0.3:
        return rng.choice(["1.0", "1e2", "-0.0", "2.50", "0.1", "3.14159", "1E-7", "12345.678e3"])
    n = rng.choice(INTS) if rng.random() < 0.3 else rng.randrange(-(10 ** rng.randrange(1, 19)), 10**18)
    return "-0" if n == 0 and rng.random() < 0.2 else str(n)


def random_value(rng: random.Random, depth: int, floats: bool) -> str:
    ws = lambda: rng.choice(["", "", " ", "\n  ", "\t", "\r\n"])  # noqa: E731
    kind = rng.randrange(7 if depth < 4 else 5)
    if kind == 0:
        return rng.choice(["true", "false", "null"])
    if kind in (1, 2):
        return random_number(rng, floats)
    if kind in (3, 4):
        return write_string(random_string(rng), rng)
    if kind == 5:
        items = [random_value(rng, depth + 1, floats) for _ in range(rng.randrange(0, 5))]
        return "[" + ws() + ("," + ws()).join(items) + ws() + "]"
    keys = [random_string(rng) for _ in range(rng.randrange(0, 6))]
    if keys and rng.random() < 0.2:
        keys.append(rng.choice(keys))  # a duplicate key
    members = [write_string(k, rng) + ws() + ":" + ws() + random_value(rng, depth + 1, floats) for k in keys]
    return "{" + ws() + ("," + ws()).join(members) + ws() + "}"


@pytest.mark.parametrize("floats", [False, True], ids=["ints-only", "with-fractions"])
def test_random_nested_documents(floats: bool) -> None:
    rng = random.Random(20240611 + floats)
    docs = [random_value(rng, 0, floats) for _ in range(3000)]
    risky = sum(1 for d in docs if re.search(_RISKY_JSON, d))
    exact = check(docs)
    # Only the documents the cheap check flags (or that orjson refuses) leave the fast path.
    assert exact == risky
    if not floats:
        assert exact < len(docs) // 5, f"{exact} of {len(docs)} documents took the exact path"


def test_json_column_keeps_nulls_duplicates_and_order() -> None:
    texts = ['{"b": 1, "a": 2}', None, '{"a":2,"b":1}', '{"k": 1.0}', None, '{"b": 1, "a": 2}', "[1,]", "7"]
    got = canonical._json_column(pa.array(texts, pa.string()))
    assert got.type == pa.string()
    assert got.to_pylist() == [None if t is None else canonical_json(t) for t in texts]
    empty = canonical._json_column(pa.array([None, None], pa.string()))
    assert empty.to_pylist() == [None, None]
    assert canonical._json_column(pa.array([], pa.string())).to_pylist() == []


def test_without_orjson_everything_takes_the_exact_path(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = [d for d, _ in CASES]
    monkeypatch.setitem(sys.modules, "orjson", None)  # `import orjson` raises ImportError
    assert canonical._orjson.__wrapped__() is None
    monkeypatch.setattr(canonical, "_orjson", lambda: None)
    assert check(docs) == len(docs)


@pytest.mark.parametrize(
    "docs",
    [
        [f'{{"n": {i}, "a": [{i}]}}' if i % 3 else None for i in range(3000)],  # distinct: no dedup
        [f'{{"k": {i % 5}}}' if i % 4 else None for i in range(3000)],  # repeats: deduplicated
        [None, None, '{"b":1,"a":2}'],  # NULLs first
        ['{"b":1,"a":2}'] * 3,  # no NULLs
        [None] * 3,
    ],
)
def test_json_column_keeps_each_document_in_place(docs: list[str | None]) -> None:
    """Whether or not the column is deduplicated, each row gets its own document's canonical
    text and NULL stays NULL."""
    got = canonical.prepare(pa.array(docs, pa.string()), canonical.Canon("j", "json")).to_pylist()
    assert got == [None if d is None else canonical_json(d) for d in docs]


@pytest.mark.parametrize("with_orjson", [True, False])
def test_invalid_documents_are_never_paired_with_their_neighbours_values(monkeypatch: Any, with_orjson: bool) -> None:
    """Parsing many documents as one JSON array is only safe when each is valid on its own:
    '"a' and 'b"' joined make the string "a,b", and '1,2' two numbers, so the count matches."""
    if not with_orjson:
        monkeypatch.setattr(canonical, "_orjson", lambda: None)
    docs = ['"a', 'b"', "1,2", '{"x": 1.5}', "[1e400]"]
    got = canonical_json_texts(pa.array(docs, pa.string()))[0].to_pylist()
    assert got == [canonical_json(d) for d in docs]
    assert got[:3] == ['invalid:"a', 'invalid:b"', "invalid:1,2"]

"""Type rules as data: `source type pattern -> target type`, first match wins.

The default MySQL/MariaDB -> PostgreSQL rules live in `mappings/mysql-to-postgres.yaml`
(shipped inside the package as `xfer/mappings/`); that file is what the code loads, so what a
user reads there is what runs. A rule is

    - match: {source: "decimal(p,s)"}      # the source column's type, as the engine prints it
      target: "numeric(p,s)"               # the target type; p and s are filled in

Pattern grammar (case-insensitive):
  * `name` alone matches that type with any parameters: `int` matches `int(11)` and `int`,
    `enum` matches every `enum(...)`; `*` matches every type.
  * `name(a,b)`: each parameter is a number (must be equal), a letter (captured and
    substituted in `target`), or `*` (anything). The parameter count must agree.
  * a trailing ` unsigned` matches unsigned columns only; without it signed and unsigned match
    (so put `int unsigned` before `int`).
  * `match.data` (optional) names a fact the source established from the column's data at
    plan time, e.g. `only_0_1` for a `tinyint(1)` holding nothing but 0, 1 and NULL; the rule
    only applies when that fact holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xfer.core.errors import UsageError

MAPPINGS_DIR = Path(__file__).parent.parent / "mappings"  # xfer/mappings (package data)

_TYPE = re.compile(
    r"^\s*(?P<base>[a-z_][a-z0-9_ ]*?)\s*(?:\((?P<args>.*)\))?\s*(?P<mods>(?:unsigned|signed|zerofill|\s)*)$",
    re.I | re.S,
)


@dataclass(frozen=True)
class ParsedType:
    base: str
    args: tuple[str, ...] | None  # None: no parentheses
    unsigned: bool


def parse_type(native: str) -> ParsedType:
    """ "int(10) unsigned zerofill" -> ParsedType("int", ("10",), True); enum/set labels are
    kept as raw (quoted) arguments."""
    m = _TYPE.match(native)
    if not m:
        return ParsedType(native.lower().split("(", 1)[0].strip(), None, "unsigned" in native.lower())
    args = None if m["args"] is None else tuple(a.strip() for a in _split_args(m["args"]))
    return ParsedType(m["base"].strip().lower(), args, "unsigned" in (m["mods"] or "").lower())


def _split_args(text: str) -> list[str]:
    """Split at commas outside single-quoted strings (enum labels may hold commas)."""
    out, cur, quoted, i = [], "", False, 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            if quoted and i + 1 < len(text) and text[i + 1] == "'":
                cur += "''"
                i += 2
                continue
            quoted = not quoted
        elif ch == "\\" and quoted and i + 1 < len(text):
            cur += text[i : i + 2]
            i += 2
            continue
        if ch == "," and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    out.append(cur)
    return out


@dataclass(frozen=True)
class TypeRule:
    source: str
    target: str
    data: str | None = None
    pattern: ParsedType = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", parse_type(self.source))

    def apply(self, native: str, facts: set[str] | frozenset[str] = frozenset()) -> str | None:
        """The target type for `native` if this rule matches it, else None."""
        if self.data and self.data not in facts:
            return None
        pat = self.pattern
        if pat.base == "*":
            return self.target
        t = parse_type(native)
        if t.base != pat.base or (pat.unsigned and not t.unsigned):
            return None
        if pat.args is None:
            return self.target
        if pat.args == ("*",):
            return self.target if t.args is not None else None
        if t.args is None or len(t.args) != len(pat.args):
            return None
        captured: dict[str, str] = {}
        for want, got in zip(pat.args, t.args, strict=True):
            if want == "*":
                continue
            if want.isdigit():
                if want != got.lower():
                    return None
            else:
                captured[want] = got
        if not captured:
            return self.target
        return re.sub(r"\b[a-z]\b", lambda m: captured.get(m[0], m[0]), self.target)


@dataclass(frozen=True)
class CollationRule:
    """`source` (a glob on the source collation's name) -> `target` (a collation of the target:
    "C", or a name in `collation_definitions`)."""

    source: str
    target: str
    note: str | None = None  # what the target collation does not reproduce


@dataclass(frozen=True)
class CollationDef:
    """A collation the target gets created (ICU): `locale` as ICU spells it, `deterministic`
    False for one that makes different strings equal."""

    name: str
    locale: str
    deterministic: bool


@dataclass
class TypeMap:
    rules: list[TypeRule]
    path: str = ""
    collations: list[CollationRule] = field(default_factory=list)
    collation_defs: dict[str, CollationDef] = field(default_factory=dict)

    def collation_for(self, source_collation: str) -> str | None:
        """The target collation for a source one (first rule whose glob matches), None: no rule."""
        rule = self.collation_rule(source_collation)
        return rule.target if rule else None

    def collation_rule(self, source_collation: str) -> CollationRule | None:
        import fnmatch

        name = source_collation.lower()
        return next((r for r in self.collations if fnmatch.fnmatchcase(name, r.source.lower())), None)

    def target_for(self, native: str, facts: set[str] | frozenset[str] = frozenset()) -> tuple[str, TypeRule] | None:
        for rule in self.rules:
            target = rule.apply(native, facts)
            if target is not None:
                return target, rule
        return None


def parse_rules(raw: Any, where: str) -> list[TypeRule]:
    """The `types:` list of a mapping file -> rules, with an error naming the bad rule."""
    if not isinstance(raw, list):
        raise UsageError(f"{where}: 'types' must be a list of {{match: {{source: ...}}, target: ...}} rules")
    rules = []
    for i, item in enumerate(raw, 1):
        match = _match(
            item, f'{where}: type rule {i} must look like {{match: {{source: "int unsigned"}}, target: bigint}}'
        )
        unknown = (set(item) - {"match", "target", "note"}) | (set(match) - {"source", "data"})
        if unknown:
            raise UsageError(f"{where}: type rule {i}: unknown key(s) {', '.join(sorted(unknown))}")
        rules.append(TypeRule(match["source"], item["target"], match.get("data")))
    return rules


def _match(item: Any, wrong: str) -> dict[str, Any]:
    """A rule's `match:` ({source: str, ...}), with a `target:` string beside it; else `wrong`."""
    match = item.get("match") if isinstance(item, dict) else None
    if (
        not isinstance(match, dict)
        or not isinstance(match.get("source"), str)
        or not isinstance(item.get("target"), str)
    ):
        raise UsageError(wrong)
    return match


def load(path: str | Path) -> TypeMap:
    import yaml

    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read type rules from {p}: {exc}") from None
    if not isinstance(doc, dict) or "types" not in doc:
        raise UsageError(f"{p}: no 'types:' list")
    defs = parse_collation_defs(doc.get("collation_definitions") or {}, str(p))
    coll = parse_collation_rules(doc.get("collations") or [], str(p), set(defs))
    return TypeMap(parse_rules(doc["types"], str(p)), str(p), coll, defs)


def parse_collation_rules(raw: Any, where: str, defined: set[str]) -> list[CollationRule]:
    """The `collations:` list: {match: {source: GLOB}, target: NAME}; NAME is "C" or defined."""
    if not isinstance(raw, list):
        raise UsageError(f"{where}: 'collations' must be a list of {{match: {{source: ...}}, target: ...}} rules")
    out = []
    for i, item in enumerate(raw, 1):
        match = _match(
            item, f'{where}: collation rule {i} must look like {{match: {{source: "*_ci"}}, target: xfer_ci_ai}}'
        )
        if item["target"] != "C" and item["target"] not in defined:
            raise UsageError(f'{where}: collation rule {i}: {item["target"]!r} is not "C" nor in collation_definitions')
        out.append(CollationRule(match["source"], item["target"], item.get("note")))
    return out


def parse_collation_defs(raw: Any, where: str) -> dict[str, CollationDef]:
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: 'collation_definitions' must map names to {{locale: ..., deterministic: ...}}")
    out = {}
    for name, d in raw.items():
        if not isinstance(d, dict) or not isinstance(d.get("locale"), str):
            raise UsageError(f"{where}: collation {name!r} needs a locale (e.g. und-u-ks-level1)")
        out[str(name)] = CollationDef(str(name), d["locale"], bool(d.get("deterministic", True)))
    return out


def default_map(source: str, target: str) -> TypeMap | None:
    """The shipped rules for an engine pair (`mappings/<source>-to-<target>.yaml`), if any."""
    p = MAPPINGS_DIR / f"{source}-to-{target}.yaml"
    return load(p) if p.exists() else None

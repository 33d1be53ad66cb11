"""Reading a mapping file: YAML with marks -> checked against the shipped JSON Schema -> model.

Only what can be known from the file alone is checked here; names of tables, columns and
types are checked against the source by `plan_mapping`, still before anything is changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path as FsPath
from typing import Any

from xfer.core.errors import UsageError
from xfer.mapping.model import (
    ColumnSpec,
    ColumnVerify,
    Discriminator,
    Hook,
    Mapping,
    MergeSpec,
    Output,
    Selection,
    TableSpec,
    TableVerify,
    TypeRule,
)
from xfer.mapping.problems import Marks, Path, Problems, did_you_mean
from xfer.mapping.yamlread import read_yaml


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of mapping files (shipped inside the package: xfer/mapping/schema.json)."""
    return json.loads(resources.files(__package__).joinpath("schema.json").read_text())


def load_mapping(path: str | FsPath, env: dict[str, str] | None = None) -> Mapping:
    """Read and check a mapping file; raise MappingError listing every problem (file:line:col)."""
    fs = FsPath(path)
    try:
        text = fs.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"mapping file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"mapping file {str(path)!r} is a directory") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"mapping file {str(path)!r} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"cannot read mapping file {str(path)!r}: {exc.strerror}") from None
    return parse_mapping(text, str(path), env)


def parse_mapping(text: str, file: str, env: dict[str, str] | None = None) -> Mapping:
    marks = Marks(file)
    problems = Problems(marks)
    data = read_yaml(text, marks, problems, env)
    problems.raise_if_any()
    if data is None:
        problems.add((), "the file is empty", "write at least `source:` and `target:`, or `tables:`")
        problems.raise_if_any()
    check_schema(data, problems)
    problems.raise_if_any()
    mapping = build(data, file, marks, problems)
    problems.raise_if_any()
    return mapping


# -- the JSON Schema, with messages a person can act on ------------------------------------
def check_schema(data: Any, problems: Problems) -> None:
    from jsonschema import Draft202012Validator

    for err in Draft202012Validator(schema()).iter_errors(data):
        for path, message, hint, key in _explain(err):
            problems.add(path, message, hint, key=key)


_MISMATCH = ("type", "const")  # an anyOf branch that failed on these did not apply to the value


def _explain(err: Any) -> Iterator[tuple[Path, str, str | None, bool]]:
    path: Path = tuple(err.absolute_path)
    what = describe(path)
    v, inst = err.validator, err.instance
    if v == "additionalProperties":
        allowed = list(err.schema.get("properties", {}))
        for k in inst:
            if k not in allowed:
                hint = did_you_mean(k, allowed, listing="keys allowed here")
                if k.endswith(")") and "(" not in k:  # {type: numeric(12,2)}: the comma split the value
                    hint = 'inside { } a comma separates entries: quote the value, e.g. {type: "numeric(12,2)"}'
                yield path + (k,), f"unknown key {k!r} in {what}", hint, True
    elif v == "required":
        for k in err.validator_value:
            if k not in inst:
                yield path, f"{what} needs `{k}:`", None, False
    elif v == "type":
        yield path, f"{what} must be {_kinds(err.validator_value)}, not {_kind(inst)}", None, False
    elif v == "enum":
        choices = [c for c in err.validator_value if c is not None]
        hint = did_you_mean(str(inst), choices, listing="write one of")
        if not hint.startswith("did you mean"):
            hint = "write one of: " + ", ".join(choices)
        yield path, f"{inst!r} is not a valid {what}", hint, False
    elif v in ("anyOf", "oneOf"):
        applicable = [e for e in err.context if not _mismatch(e, path)]
        if applicable:
            for sub in applicable:
                yield from _explain(sub)
        else:
            yield path, f"{what} must be {err.schema.get('x-expect', 'something else')}, not {_kind(inst)}", None, False
    elif v == "minLength":
        yield path, f"{what} must not be empty", None, False
    elif v in ("minItems", "minProperties"):
        yield path, f"{what} must not be empty", None, False
    elif v in ("minimum", "maximum"):
        yield path, f"{what} must be {'at least' if v == 'minimum' else 'at most'} {err.validator_value}", None, False
    else:
        yield path, f"{what}: {err.message}", None, False


def _mismatch(e: Any, path: Path) -> bool:
    """Did this anyOf branch fail only because the value is of another kind (so its errors would mislead)?"""
    if tuple(e.absolute_path) != path:
        return False
    return e.validator in _MISMATCH or (e.validator == "enum" and isinstance(e.instance, (list, dict)))


def _kind(value: Any) -> str:
    if value is None:
        return "empty (null)"
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list", dict: "a mapping"}.get(
        type(value), type(value).__name__
    )


def _kinds(expected: str | list[str]) -> str:
    words = {
        "string": "text",
        "integer": "a whole number",
        "number": "a number",
        "boolean": "true or false",
        "array": "a list",
        "object": "a mapping (key: value lines)",
        "null": "empty",
    }
    names = [expected] if isinstance(expected, str) else expected
    return " or ".join(words.get(n, n) for n in names)


def describe(path: Path) -> str:
    """A person's name for a node: "column 'email' of table 'customers'", "`where` of table 'x'"."""
    entity, rest = "the file", list(path)
    p = list(path)
    i = 0
    while i < len(p):
        k = p[i]
        nxt = p[i + 1] if i + 1 < len(p) else None
        if k == "tables" and nxt is not None and i == 0:
            entity, i = f"table {nxt!r}", i + 2
        elif k == "merge" and nxt is not None and i == 0:
            entity, i = f"merge into {nxt!r}", i + 2
        elif k == "split" and nxt is not None:
            entity, i = f"split part {nxt!r} of {entity}", i + 2
        elif k == "from" and nxt is not None and entity.startswith("merge"):
            entity, i = f"source {nxt!r} of {entity}", i + 2
        elif k == "columns" and nxt is not None:
            entity, i = f"column {nxt!r} of {entity}", i + 2
        elif k in ("types", "before", "after") and isinstance(nxt, int) and i == 0:
            entity = f"type rule {nxt + 1}" if k == "types" else f"{k} hook {nxt + 1}"
            i += 2
        else:
            break
        rest = p[i:]
    if not rest:
        return entity
    dotted = ".".join(str(x) if isinstance(x, str) else f"[{x}]" for x in rest).replace(".[", "[")
    return f"`{dotted}`" if entity == "the file" else f"`{dotted}` of {entity}"


# -- the model -----------------------------------------------------------------------------
def build(data: dict[str, Any], file: str, marks: Marks, problems: Problems) -> Mapping:
    m = Mapping(file=file, marks=marks, source=data.get("source"), target=data.get("target"))
    m.options = dict(data.get("options") or {})
    if "zero_dates" in m.options and m.options["zero_dates"] is None:
        m.options["zero_dates"] = "null"  # an unquoted `null` means the policy, not "unset"
    m.include = _globs(data.get("include"))
    m.exclude = _globs(data.get("exclude"))
    for name, spec in (data.get("tables") or {}).items():
        m.tables[name] = _table(name, spec or {}, ("tables", name), problems)
    for name, spec in (data.get("merge") or {}).items():
        m.merges[name] = _merge(name, spec, ("merge", name), problems)
    for i, rule in enumerate(data.get("types") or []):
        match = rule["match"]
        m.types.append(
            TypeRule(rule["target"], ("types", i), match.get("source"), match.get("column"), match.get("table"))
        )
    for phase in ("before", "after"):
        for i, h in enumerate(data.get(phase) or []):
            sql, on = (h, "target") if isinstance(h, str) else (h["sql"], h.get("on", "target"))
            getattr(m, phase).append(Hook(sql, on, phase, (phase, i)))
    return m


def _globs(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _table(name: str, spec: dict[str, Any], path: Path, problems: Problems) -> TableSpec:
    if "split" in spec:
        for k in spec:
            if k != "split":
                problems.add(
                    path + (k,),
                    f"`{k}` cannot sit beside `split` in table {name!r}",
                    f"give each split part its own `{k}:`",
                    key=True,
                )
        outputs = [
            _output(target, part or {}, path + ("split", target), problems) for target, part in spec["split"].items()
        ]
        return TableSpec(name, path, outputs, split=True)
    out = _output(spec.get("rename", name), spec, path, problems)
    return TableSpec(name, path, [out])


def _output(target: str, spec: dict[str, Any], path: Path, problems: Problems) -> Output:
    sel = _selection(spec, path, problems)
    pk = spec.get("primary_key")
    return Output(
        path=path,
        where=sel.where,
        only=sel.only,
        columns=sel.columns,
        target=target,
        primary_key=[] if pk is False else pk,
        verify=_table_verify(spec.get("verify"), path + ("verify",)),
    )


def _selection(spec: dict[str, Any], path: Path, problems: Problems) -> Selection:
    cols = {c: _column(c, s or {}, path + ("columns", c), problems) for c, s in (spec.get("columns") or {}).items()}
    return Selection(path, spec.get("where"), spec.get("only"), cols)


def _column(name: str, spec: dict[str, Any], path: Path, problems: Problems) -> ColumnSpec:
    if not spec:
        problems.add(path, f"column {name!r} says nothing", "give it rename, exclude, type, transform, expr or verify")
    if spec.get("exclude"):
        for k in spec:
            if k != "exclude":
                problems.add(
                    path + (k,),
                    f"`{k}` has no effect on a column that is excluded",
                    "drop one of the two",
                    key=True,
                )
    if "expr" in spec and "rename" in spec:
        problems.add(
            path + ("rename",),
            "a computed column (expr) is named by its key",
            f"drop `rename` and write the new name instead of {name!r}",
            key=True,
        )
    t = spec.get("transform")
    v = spec.get("verify")
    verify = ColumnVerify(ignore=v is False) if not isinstance(v, dict) else ColumnVerify(False, v.get("float_digits"))
    return ColumnSpec(
        name=name,
        path=path,
        rename=spec.get("rename"),
        exclude=bool(spec.get("exclude")),
        type=spec.get("type"),
        collation=spec.get("collation"),
        transforms=[] if t is None else [t] if isinstance(t, str) else list(t),
        expr=spec.get("expr"),
        verify=verify,
    )


def _table_verify(v: bool | dict[str, Any] | None, path: Path) -> TableVerify:
    if v is None or v is True:
        return TableVerify(path=path)
    if v is False:
        return TableVerify(skip=True, path=path)
    return TableVerify(False, v.get("float_digits"), list(v.get("ignore_columns") or []), path)


def _merge(target: str, spec: dict[str, Any], path: Path, problems: Problems) -> MergeSpec:
    src = spec["from"]
    sources: list[tuple[str, Selection]] = []
    if isinstance(src, list):
        seen: set[str] = set()
        for i, name in enumerate(src):
            if name in seen:
                problems.add(path + ("from", i), f"source table {name!r} is listed twice", "list it once")
            seen.add(name)
            sources.append((name, Selection(path + ("from", i))))
    else:
        for name, sel in src.items():
            sources.append((name, _selection(sel or {}, path + ("from", name), problems)))
    disc = None
    d = spec.get("discriminator")
    if d is not None:
        column, values = (d, {}) if isinstance(d, str) else (d["column"], dict(d.get("values") or {}))
        names = [n for n, _ in sources]
        for k in values:
            if k not in names:
                problems.add(
                    path + ("discriminator", "values", k),
                    f"{k!r} is not one of the tables merged into {target!r}",
                    did_you_mean(k, names, listing="merged tables"),
                    key=True,
                )
        disc = Discriminator(column, {n: values.get(n, n) for n in names}, path + ("discriminator",))
    pk = spec.get("primary_key")
    return MergeSpec(
        target=target,
        path=path,
        sources=sources,
        discriminator=disc,
        primary_key=[] if pk is False else pk,
        verify=_table_verify(spec.get("verify"), path + ("verify",)),
    )

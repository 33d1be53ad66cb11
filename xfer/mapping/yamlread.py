"""YAML to plain Python values, remembering where every node is, with `${ENV}` expanded.

PyYAML's composer gives nodes with start marks; we build the values ourselves so that:
- every key and value has a line:column for error messages;
- a duplicate key is an error (PyYAML would silently keep the last one);
- keys are always their text (YAML 1.1 reads a bare `on:` or `no:` key as a boolean);
- `${VAR}` / `${VAR:-default}` is expanded in every scalar (keys too); `$${` is a literal `${`.
  A plain (unquoted) scalar is re-typed after expansion, so `batch_size: ${ROWS}` is a number.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import yaml

from xfer.mapping.problems import Mark, Marks, Path, Problems

_ENV = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")


def read_yaml(text: str, marks: Marks, problems: Problems, env: Mapping[str, str] | None = None) -> Any:
    """The document's value (None for an empty file); problems are added, not raised."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where: Path = ()
        if mark is not None:
            marks.values[("<syntax>",)] = Mark(mark.line + 1, mark.column + 1)
            where = ("<syntax>",)
        problem = exc.problem or exc.context
        hint = None
        if "mapping values are not allowed" in str(problem):  # where: a: b, or SQL holding ': '
            hint = "a value holding ': ' must be quoted: where: \"note = 'a: b'\""
        problems.add(where, f"not valid YAML: {problem}", hint)
        return None
    except yaml.YAMLError as exc:  # e.g. a reader error: bytes that are not text
        problems.add((), f"not valid YAML: {exc}")
        return None
    if root is None:
        return None
    return _Reader(marks, problems, os.environ if env is None else env).value(root, ())


class _Reader:
    def __init__(self, marks: Marks, problems: Problems, env: Mapping[str, str]) -> None:
        self.marks = marks
        self.problems = problems
        self.env = env
        self.loader = yaml.SafeLoader("")

    def value(self, node: yaml.Node, path: Path) -> Any:
        self.marks.values[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, path + (i,)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)  # the composer makes only these three kinds of node
        return self.scalar(node, path)

    def mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        self.loader.flatten_mapping(node)  # YAML merge keys (<<: *anchor)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.marks.values[path + ("<key>",)] = _mark(key_node)
                self.problems.add(path + ("<key>",), "a key must be a plain name, not a list or a mapping")
                continue
            key = self.expand(key_node.value, path)
            child = path + (key,)
            if key in out:
                first = self.marks.keys[child]
                self.marks.keys[child + ("<dup>",)] = _mark(key_node)
                self.problems.add(
                    child + ("<dup>",),
                    f"key {key!r} appears twice (first at line {first.line})",
                    "merge the two entries into one",
                    key=True,
                )
                continue
            self.marks.keys[child] = _mark(key_node)
            out[key] = self.value(value_node, child)
        return out

    def scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        if node.tag != "tag:yaml.org,2002:str" or "${" not in node.value:
            return self.loader.construct_object(node, deep=True)
        text = self.expand(node.value, path)
        if node.style is None:  # plain scalar: type the expanded text as YAML would have
            tag = self.loader.resolve(yaml.ScalarNode, text, (True, False))
            return self.loader.construct_object(yaml.ScalarNode(tag, text, node.start_mark, node.end_mark), deep=True)
        return text

    def expand(self, text: str, path: Path) -> str:
        def one(m: re.Match[str]) -> str:
            if m[0] == "$${":
                return "${"
            if m[1] is None:
                self.problems.add(path, f"{m[0]!r} is not a valid reference", "write ${NAME} or ${NAME:-default}")
                return m[0]
            if m[1] in self.env:
                return self.env[m[1]]
            if m[2] is not None:
                return m[2]
            self.problems.add(
                path,
                f"environment variable {m[1]} is not set",
                f"set it, or give a default: ${{{m[1]}:-value}}",
            )
            return ""

        return _ENV.sub(one, text)


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)

"""The shape of the `xfer` package, checked by reading its source (issue #12).

No database, nothing imported from `xfer`: every module under `xfer/` is parsed with `ast` once,
and each rule is a table of cases with readable ids (`-k layering`, `-k 'xfer.copy.parallel'`):

- no import circle among `xfer` modules (an import inside a function counts, one under
  `if TYPE_CHECKING:` does not);
- the package layering  core < dialects < mapping < planning < verification < runs < copy < report
  < api < cli: a module imports only from its own package and the packages before it (a type
  named under `if TYPE_CHECKING:` only is allowed: no code of the higher layer runs);
- at most 8 modules directly in `xfer/`, and no `.py` file over 600 lines;
- outside `xfer/dialects/`: no engine module imported, no engine name compared, no `hasattr`, and
  no private member (`x._name`) of another object touched.

Every case passes; none is marked as an expected failure.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "xfer"

# Lowest first; a package imports only from itself and the packages before it.
LAYERS = ("core", "dialects", "mapping", "planning", "verification", "runs", "copy", "follow", "report", "api", "cli")
# Folders under xfer/ that are not a stage: they may import nothing of xfer at all.
OUTSIDE_LAYERS = {"samples"}  # build_shop.py: a stand-alone script that builds the demo database
# The root package is the public API (it re-exports `xfer.api`), so it ranks with `api`.
ROOT_RANK = LAYERS.index("api")
FREE_MODULES = {"xfer", "xfer.__main__"}  # xfer/__init__.py and xfer/__main__.py may import anything

MAX_TOP_LEVEL_MODULES = 8
MAX_LINES = 600

DIALECTS = "xfer.dialects"
# What code outside dialects/ may import from it: the contract, the capabilities and the registry.
# sqlexpr: SQL text from any engine's dialect to any other's (sqlglot), keyed by engine name as data.
DIALECT_NEUTRAL = {
    DIALECTS,
    f"{DIALECTS}.base",
    f"{DIALECTS}.capabilities",
    f"{DIALECTS}.connect",
    f"{DIALECTS}.sqlexpr",
}
ENGINE_NAMES = {"mysql", "mariadb", "postgres", "sqlite", "duckdb"}
ENGINE_NAME_HOLDERS = {"name", "engine"}  # attributes that hold an engine's name (`d.name`, `url.engine`)
# Documented namedtuple API, public despite the underscore.
PUBLIC_UNDERSCORED = {"_asdict", "_replace", "_fields", "_field_defaults", "_make"}


# --------------------------------------------------------------------------- reading the tree


@dataclass(frozen=True)
class Import:
    target: str  # the xfer module imported (a package means its __init__)
    line: int
    type_checking: bool  # under `if TYPE_CHECKING:`: not run, so no circle, but still a dependency


@dataclass(frozen=True)
class Module:
    name: str  # xfer.copy.parallel
    path: Path
    is_package: bool  # an __init__.py
    tree: ast.Module

    @property
    def rel(self) -> str:
        return self.path.relative_to(ROOT.parent).as_posix()

    @property
    def package(self) -> str:
        """The module's own package, against which relative imports resolve."""
        return self.name if self.is_package else self.name.rpartition(".")[0]

    @property
    def stage(self) -> str | None:
        """The layer the module belongs to (`copy`, `api`, ...); None for xfer/__init__ and __main__."""
        parts = self.name.split(".")
        if self.name in FREE_MODULES:
            return None
        return parts[1]


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


@functools.cache
def modules() -> dict[str, Module]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        name, is_package = _module_name(path)
        found[name] = Module(name, path, is_package, ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, type_checking: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every node below `node` (function bodies included), with whether it sits under
    `if TYPE_CHECKING:` (its `else:` branch runs, so it does not)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            yield child, type_checking
            for stmt in child.body:
                yield stmt, True
                yield from _walk(stmt, True)
            for stmt in child.orelse:
                yield stmt, type_checking
                yield from _walk(stmt, type_checking)
            continue
        yield child, type_checking
        yield from _walk(child, type_checking)


def _targets(importer: str, dotted: str, names: list[str], known: set[str]) -> Iterator[str]:
    """The xfer modules an import statement runs: each package on the dotted path (its __init__)
    that is not already an ancestor of the importer, the module itself, and for
    `from pkg import name` the submodule `pkg.name` when there is one."""
    parts = dotted.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        ancestor = importer == prefix or importer.startswith(prefix + ".")
        if prefix in known and not ancestor:
            yield prefix
    for name in names:
        if f"{dotted}.{name}" in known:
            yield f"{dotted}.{name}"


def read_imports(module: Module, known: set[str]) -> tuple[Import, ...]:
    """Every import of an xfer module (one of `known`) by `module`, resolved to absolute names."""
    found: list[Import] = []
    for node, type_checking in _walk(module.tree):
        if isinstance(node, ast.Import):
            statements: list[tuple[str, list[str]]] = [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = module.package.split(".")[: len(module.package.split(".")) - max(node.level - 1, 0)]
            relative = ".".join(base + ([node.module] if node.module else []))
            statements = [(relative if node.level else node.module or "", [a.name for a in node.names])]
        else:
            continue
        for dotted, names in statements:
            if dotted.split(".")[0] == "xfer":
                targets = _targets(module.name, dotted, names, known)
                found += [Import(t, node.lineno, type_checking) for t in targets]
    return tuple(dict.fromkeys(found))


@functools.cache
def imports(name: str) -> tuple[Import, ...]:
    return read_imports(modules()[name], set(modules()))


def named(imps: tuple[Import, ...]) -> list[Import]:
    """Only the deepest module of each statement (`xfer.dialects.postgres.journal`, not also the
    package `xfer.dialects.postgres` it passes through), so a message names each import once."""
    return [i for i in imps if not any(o.line == i.line and o.target.startswith(i.target + ".") for o in imps)]


def run_time_graph() -> dict[str, set[str]]:
    return {m: {i.target for i in imports(m) if not i.type_checking and i.target != m} for m in modules()}


def find_cycles(graph: dict[str, set[str]]) -> tuple[tuple[str, ...], ...]:
    """Import circles, one shortest circle through each module that is on one, as
    (a, b, ..., a); the same circle is listed once whichever module it was found from."""
    found: dict[frozenset[tuple[str, str]], tuple[str, ...]] = {}
    for start in sorted(graph):
        # breadth-first from start's imports back to start: the shortest circle through it
        parent: dict[str, str] = {}
        frontier = [start]
        while frontier and start not in parent:
            nxt = []
            for node in frontier:
                for dep in sorted(graph[node]):
                    if dep not in parent:
                        parent[dep] = node
                        nxt.append(dep)
            frontier = nxt
        if start not in parent:
            continue
        path = [start]
        while len(path) == 1 or path[-1] != start:
            path.append(parent[path[-1]])
        path.reverse()
        ring = path[:-1]
        first = ring.index(min(ring))  # written from its first module by name, so it reads the same each run
        ring = ring[first:] + ring[:first]
        found.setdefault(frozenset(zip(path, path[1:], strict=False)), (*ring, ring[0]))
    return tuple(sorted(found.values()))


@functools.cache
def cycles() -> tuple[tuple[str, ...], ...]:
    return find_cycles(run_time_graph())


def outside_dialects() -> list[str]:
    return [m for m in modules() if m != DIALECTS and not m.startswith(DIALECTS + ".")]


# --------------------------------------------------------------------------- cases


def cases(ids: list[str]) -> list[object]:
    return [pytest.param(i, id=i) for i in ids]


def where(module: Module, line: int) -> str:
    return f"{module.rel}:{line}"


# --------------------------------------------------------------------------- the reader itself


def _snippet(name: str, source: str, is_package: bool = False) -> Module:
    return Module(name, ROOT / "snippet.py", is_package, ast.parse(source))


KNOWN_SNIPPET = {"xfer", "xfer.a", "xfer.a.b", "xfer.a.c", "xfer.d", "xfer.d.e"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("import xfer.d.e", {("xfer.d", False), ("xfer.d.e", False)}, id="import-runs-package-init"),
        pytest.param("from xfer.d import e", {("xfer.d", False), ("xfer.d.e", False)}, id="from-pkg-import-submodule"),
        pytest.param("from xfer.d import thing", {("xfer.d", False)}, id="from-pkg-import-name"),
        pytest.param("from . import c", {("xfer.a.c", False)}, id="relative-submodule"),
        pytest.param("from ..d.e import f", {("xfer.d", False), ("xfer.d.e", False)}, id="relative-parent"),
        pytest.param("def f():\n    import xfer.a.c", {("xfer.a.c", False)}, id="inside-a-function-counts"),
        pytest.param(
            "if TYPE_CHECKING:\n    import xfer.a.c\nelse:\n    import xfer.d",
            {("xfer.a.c", True), ("xfer.d", False)},
            id="type-checking-only-not-run",
        ),
        pytest.param("import os\nfrom pathlib import Path", set(), id="not-xfer"),
    ],
)
def test_reader_resolves_imports(source: str, expected: set[tuple[str, bool]]) -> None:
    found = read_imports(_snippet("xfer.a.b", source), KNOWN_SNIPPET)
    assert {(i.target, i.type_checking) for i in found} == expected


@pytest.mark.parametrize(
    ("rule", "source", "flagged"),
    [
        pytest.param("no-engine-name-compared", "d.name == 'mysql'", True, id="name-eq"),
        pytest.param("no-engine-name-compared", "'postgres' != t.name", True, id="name-ne-reversed"),
        pytest.param("no-engine-name-compared", "u.engine in ('sqlite', 'duckdb')", True, id="engine-in"),
        pytest.param("no-engine-name-compared", "kind(d) == 'mariadb'", True, id="call"),
        pytest.param("no-engine-name-compared", "d.name == 'orders'", False, id="other-string"),
        pytest.param("no-hasattr", "hasattr(d, 'views')", True, id="hasattr"),
        pytest.param("no-private-member", "d._query('x')", True, id="other-object"),
        pytest.param("no-private-member", "self._query('x'); cls._x; super()._y", False, id="own"),
        pytest.param("no-private-member", "row._asdict(); x.__class__", False, id="public-underscored"),
    ],
)
def test_rules_detect(rule: str, source: str, flagged: bool) -> None:
    assert bool(list(ENGINE_RULES[rule](_snippet("xfer.a.b", source)))) == flagged


def test_find_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c", "a"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == (("a", "b", "a"), ("a", "b", "c", "a"))


# --------------------------------------------------------------------------- import circles


@pytest.mark.parametrize("name", cases([f"no-import-circle:{m}" for m in modules()]))
def test_no_import_circle(name: str) -> None:
    module = name.partition(":")[2]
    through = [" -> ".join(c) for c in cycles() if module in c]
    assert not through, f"{module} is on an import circle:\n  " + "\n  ".join(through)


# --------------------------------------------------------------------------- layering


def _rank(target: str) -> int | None:
    """A module's place in LAYERS; None for a folder outside the layers."""
    if target == "xfer":
        return ROOT_RANK
    if target == "xfer.__main__":
        return len(LAYERS)
    stage = target.split(".")[1]
    return LAYERS.index(stage) if stage in LAYERS else None


def layering_problems(name: str) -> list[str]:
    module = modules()[name]
    stage = module.stage
    if stage is None:
        return []
    if stage not in LAYERS and stage not in OUTSIDE_LAYERS:
        return [f"{module.rel}: package {stage!r} is not in the layering {' < '.join(LAYERS)}"]
    # core is rank 0, so it may import nothing else of xfer; folders outside the layers neither
    limit = LAYERS.index(stage) if stage in LAYERS else -1
    problems = []
    for imp in named(imports(name)):
        if modules()[imp.target].stage == stage:
            continue  # a package's own modules
        if imp.type_checking:
            # a type named in an annotation only (core.options' `mapping: Mapping | None`): no
            # code of the higher layer runs, and the import graph above keeps it out of circles
            continue
        rank = _rank(imp.target)
        if rank is None or rank > limit:
            how = " (under TYPE_CHECKING)" if imp.type_checking else ""
            problems.append(f"{where(module, imp.line)}: {stage} imports {imp.target}{how}, which is not below it")
    return problems


@pytest.mark.parametrize("name", cases([f"layering:{m}" for m in modules()]))
def test_layering(name: str) -> None:
    problems = layering_problems(name.partition(":")[2])
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- size


def test_at_most_8_modules_directly_in_xfer() -> None:
    top = sorted(p.name for p in ROOT.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"{len(top)} modules directly in xfer/: {', '.join(top)}"


@pytest.mark.parametrize("name", cases([f"size:{m}" for m in modules()]))
def test_no_file_over_600_lines(name: str) -> None:
    module = modules()[name.partition(":")[2]]
    lines = len(module.path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module.rel} has {lines} lines (at most {MAX_LINES})"


# --------------------------------------------------------------------------- engines stay in dialects/


def engine_imports(module: Module) -> Iterator[str]:
    for imp in named(imports(module.name)):
        if imp.target.startswith(DIALECTS + ".") and imp.target not in DIALECT_NEUTRAL:
            yield f"{where(module, imp.line)}: imports the engine module {imp.target}"


def _engine_names(node: ast.expr) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value} & ENGINE_NAMES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return set().union(*(_engine_names(e) for e in node.elts))
    return set()


def _holds_engine_name(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr in ENGINE_NAME_HOLDERS) or isinstance(node, ast.Call)


def engine_name_comparisons(module: Module) -> Iterator[str]:
    for node, _ in _walk(module.tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for left, right in zip(operands, operands[1:], strict=False):
            for const, other in ((left, right), (right, left)):
                names = _engine_names(const)
                if names and _holds_engine_name(other):
                    yield f"{where(module, node.lineno)}: compares an engine name: {ast.unparse(node)}"


def hasattr_calls(module: Module) -> Iterator[str]:
    for node, _ in _walk(module.tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "hasattr":
            yield f"{where(module, node.lineno)}: guesses a feature with {ast.unparse(node)}"


def _is_private(attr: str) -> bool:
    dunder = attr.startswith("__") and attr.endswith("__")
    return attr.startswith("_") and not dunder and attr not in PUBLIC_UNDERSCORED


def _is_own(node: ast.expr) -> bool:
    """`self`, `cls` or `super()`: the object's own members."""
    if isinstance(node, ast.Name):
        return node.id in {"self", "cls"}
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def private_member_uses(module: Module) -> Iterator[str]:
    for node, _ in _walk(module.tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr) and not _is_own(node.value):
            yield f"{where(module, node.lineno)}: touches a private member: {ast.unparse(node)}"


ENGINE_RULES = {
    "no-engine-import": engine_imports,
    "no-engine-name-compared": engine_name_comparisons,
    "no-hasattr": hasattr_calls,
    "no-private-member": private_member_uses,
}


@pytest.mark.parametrize("name", cases([f"{rule}:{m}" for rule in ENGINE_RULES for m in outside_dialects()]))
def test_engines_stay_in_dialects(name: str) -> None:
    rule, _, module = name.partition(":")
    problems = list(ENGINE_RULES[rule](modules()[module]))
    assert not problems, "\n".join(problems)

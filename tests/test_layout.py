"""The layout shows the architecture: imports only go down the layers, nothing runs in a circle,
and package faces hold no logic.

Read as text with ``ast`` (nothing is imported). Function-level imports count too: a lazy import
upward is still an upward dependency. ``if TYPE_CHECKING:`` blocks are left out (never executed).
The layer table here is the one docs/architecture.md describes; a new folder must be placed in it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "shared" / "ciqueue"

# Lowest first. A module may import its own layer and any layer below it.
LAYERS: list[set[str]] = [
    {"constants", "errors", "limits", "timefmt", "jsontext", "records"},  # the foundation
    {"ci"},
    {"schedule"},
    {"state"},
    {"envelopes"},
    {"app"},
    {"api"},
    {"handlers"},  # the four SCF handlers' bodies (functions/<name>/index.py re-exports them)
    {"dev", "deploy"},
    {"cli"},
    {"__main__"},
]
# The emulator sits on the other side of the wire: it may import only ci/ and the foundation.
EMULATOR_MAY_IMPORT = {"emulator", "ci"} | LAYERS[0]


def _rank(part: str) -> int:
    for rank, names in enumerate(LAYERS):
        if part in names:
            return rank
    raise AssertionError(f"ciqueue.{part} is in no layer of tests/test_layout.py (add it)")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        found[name] = path
    return found


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                skip.update(id(n) for n in ast.walk(sub))
    return skip


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target.startswith("ciqueue.") and target != name:
                out.append((node.lineno, target))
    return out


def _layer_of(module: str) -> str:
    return module.split(".")[1]


def test_imports_only_go_down() -> None:
    modules = _modules()
    upward = []
    for name, path in modules.items():
        if name == "ciqueue":
            continue
        mine = _layer_of(name)
        for line, target in _imports(name, path, modules):
            theirs = _layer_of(target)
            if mine == "emulator":
                if theirs not in EMULATOR_MAY_IMPORT:
                    upward.append(
                        f"{name}:{line} -> {target} (the emulator may import only ci/ and the foundation)"
                    )
            elif theirs == "emulator":
                if mine not in {"dev", "cli"}:
                    upward.append(f"{name}:{line} -> {target} (only dev/ and cli/ may start the emulator)")
            elif _rank(theirs) > _rank(mine):
                upward.append(f"{name}:{line} -> {target}")
    assert upward == []


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {name: {t for _, t in _imports(name, path, modules)} for name, path in modules.items()}
    # Tarjan's strongly connected components, iteratively.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    assert cycles == []


@pytest.mark.parametrize("face", sorted(PACKAGE.rglob("__init__.py")), ids=lambda p: str(p.parent.name))
def test_package_faces_hold_no_logic(face: Path) -> None:
    tree = ast.parse(face.read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{face} needs a docstring saying what the folder holds"
    allowed = (ast.Expr, ast.ImportFrom, ast.Assign)
    for node in tree.body:
        assert isinstance(node, allowed), f"{face}:{node.lineno}: a package face holds no logic"
        if isinstance(node, ast.ImportFrom):
            assert node.module == "__future__", f"{face}:{node.lineno}: a face re-exports nothing"
        if isinstance(node, ast.Assign):
            assert [ast.unparse(t) for t in node.targets] == ["__version__"]


def test_every_module_states_its_rules() -> None:
    missing = [str(p) for p in PACKAGE.rglob("*.py") if not ast.get_docstring(ast.parse(p.read_text()))]
    assert missing == []


def test_instants_are_parsed_in_timefmt_only() -> None:
    # The one time-parsing module: datetime.fromisoformat reads no trailing Z on Python 3.10 (the
    # SCF runtime), and timefmt.parse_instant does; a copy elsewhere breaks only on 3.10.
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "timefmt.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "datetime.fromisoformat(" in line
    ]
    assert offenders == []


def test_classes_of_fields_come_from_records_not_dataclasses() -> None:
    # ciqueue.records is the standard library's dataclass without its cold-start cost (~4 M
    # instructions per frozen class, and inspect): one import of dataclasses anywhere would bring
    # the cost back for every module that imports it.
    offenders = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name == "dataclasses" for a in node.names):
                offenders.append(f"{name}:{node.lineno}")
            from_dataclasses = isinstance(node, ast.ImportFrom) and node.module == "dataclasses"
            if from_dataclasses and name != "ciqueue.records":
                offenders.append(f"{name}:{node.lineno}")
    assert offenders == []

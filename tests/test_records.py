"""``ciqueue.records`` behaves as ``dataclasses.dataclass`` does for every feature the code uses.

Each check defines the same class twice, once with each decorator, and asserts the two agree
(construction, defaults and factories, errors, repr, equality, hashing, frozen, replace, asdict,
``__post_init__``, inheritance, order); then that a cold import of the modules the SCF handlers
load does not import ``dataclasses``, which is what the module is for.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from ciqueue import records as rec

ROOT = Path(__file__).resolve().parents[1]
Decorators = tuple[Callable[..., Any], Callable[..., Any]]
BOTH: list[Any] = [
    pytest.param((dataclasses.dataclass, dataclasses.field), id="dataclass"),
    pytest.param((rec.dataclass, rec.field), id="record"),
]


def _point(decorators: Decorators, **options: Any) -> Any:
    decorate, field = decorators

    @decorate(**options)
    class Point:
        x: int
        y: int = 0
        tags: list[str] = field(default_factory=list)
        hidden: str = field(default="h", repr=False)
        loose: float = field(default=0.0, compare=False)
        kind: ClassVar[str] = "point"

    return Point


@pytest.mark.parametrize("decorators", BOTH)
def test_construction_defaults_and_factories(decorators: Decorators) -> None:
    point = _point(decorators)
    a = point(1)
    assert (a.x, a.y, a.tags, a.hidden, a.loose) == (1, 0, [], "h", 0.0)
    b = point(1, 2, ["t"], loose=5.0)
    assert (b.x, b.y, b.tags, b.loose) == (1, 2, ["t"], 5.0)
    assert point(1).tags is not point(1).tags  # a fresh list per instance
    assert point.kind == "point"
    assert "kind" not in [
        f.name for f in (dataclasses.fields(a) if dataclasses.is_dataclass(a) else rec.fields(a))
    ]
    assert point.__match_args__ == ("x", "y", "tags", "hidden", "loose")


@pytest.mark.parametrize("decorators", BOTH)
@pytest.mark.parametrize(
    ("args", "kwargs", "named"),
    [
        ((), {}, "'x'"),
        ((1, 2, [], "h", 0.0, 9), {}, "positional"),
        ((1,), {"x": 2}, "'x'"),
        ((), {"z": 1}, "'z'"),
    ],
)
def test_bad_arguments_are_type_errors_naming_them(
    decorators: Decorators, args: tuple[Any, ...], kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(TypeError, match=named):
        _point(decorators)(*args, **kwargs)


@pytest.mark.parametrize("decorators", BOTH)
def test_repr_eq_and_hash(decorators: Decorators) -> None:
    point = _point(decorators, frozen=True)
    a, b = point(1, 2, ("t",)), point(1, 2, ("t",), loose=9.0)  # loose is not compared
    assert repr(a).endswith("Point(x=1, y=2, tags=('t',), loose=0.0)")
    assert a == b and hash(a) == hash(b)
    assert a != point(2) and a != (1, 2)
    unfrozen = _point(decorators)
    assert unfrozen.__hash__ is None  # eq without frozen: unhashable, as dataclass


@pytest.mark.parametrize("decorators", BOTH)
def test_frozen_refuses_assignment_and_deletion(decorators: Decorators) -> None:
    point = _point(decorators, frozen=True)(1)
    with pytest.raises(AttributeError, match="cannot assign to field 'x'"):
        point.x = 2
    with pytest.raises(AttributeError, match="cannot delete field 'x'"):
        del point.x
    assert point.x == 1


def test_frozen_error_is_an_attribute_error_of_its_own() -> None:
    point = _point((rec.dataclass, rec.field), frozen=True)(1)
    with pytest.raises(rec.FrozenInstanceError):
        point.y = 3


@pytest.mark.parametrize("decorators", BOTH)
def test_replace_and_asdict(decorators: Decorators) -> None:
    decorate, field = decorators
    point = _point(decorators, frozen=True)
    replace = dataclasses.replace if decorate is dataclasses.dataclass else rec.replace
    asdict = dataclasses.asdict if decorate is dataclasses.dataclass else rec.asdict

    @decorate
    class Line:
        start: Any
        points: list[Any] = field(default_factory=list)
        meta: dict[str, Any] = field(default_factory=dict)

    a = point(1, 2)
    moved = replace(a, y=5)
    assert (moved.x, moved.y) == (1, 5) and a.y == 2 and type(moved) is point
    line = Line(a, [a, moved], {"k": [1]})
    plain = asdict(line)
    assert plain == {
        "start": {"x": 1, "y": 2, "tags": [], "hidden": "h", "loose": 0.0},
        "points": [
            {"x": 1, "y": 2, "tags": [], "hidden": "h", "loose": 0.0},
            {"x": 1, "y": 5, "tags": [], "hidden": "h", "loose": 0.0},
        ],
        "meta": {"k": [1]},
    }
    assert plain["meta"]["k"] is not line.meta["k"]  # copied, not shared
    with pytest.raises(TypeError):
        asdict(a.x)


@pytest.mark.parametrize("decorators", BOTH)
def test_post_init_init_false_and_inheritance(decorators: Decorators) -> None:
    decorate, field = decorators

    @decorate(frozen=True)
    class Base:
        a: int
        derived: int = field(default=0, init=False)

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("a must not be negative")
            object.__setattr__(self, "derived", self.a * 10)

    @decorate(frozen=True)
    class Child(Base):
        b: str = "b"

    child = Child(2, "x")
    assert (child.a, child.derived, child.b) == (2, 20, "x")
    assert repr(child).endswith("Child(a=2, derived=20, b='x')")
    with pytest.raises(ValueError, match="negative"):
        Child(-1)
    with pytest.raises(TypeError):
        Child(1, derived=3)  # type: ignore[call-arg]


@pytest.mark.parametrize("decorators", BOTH)
def test_definition_errors(decorators: Decorators) -> None:
    decorate, _ = decorators
    with pytest.raises(TypeError, match="non-default argument"):

        @decorate
        class Wrong:
            a: int = 0
            b: int  # type: ignore[misc]

    with pytest.raises(ValueError, match="mutable default"):

        @decorate
        class Mutable:
            items: list[int] = []  # type: ignore[misc]  # noqa: RUF012


@pytest.mark.parametrize("decorators", BOTH)
def test_a_class_body_keeps_its_own_methods(decorators: Decorators) -> None:
    decorate, _ = decorators

    @decorate(frozen=True)
    class Named:
        name: str

        def __repr__(self) -> str:
            return f"<{self.name}>"

        def __hash__(self) -> int:
            return 7

    assert repr(Named("n")) == "<n>" and hash(Named("n")) == 7


@pytest.mark.parametrize("decorators", BOTH)
def test_order(decorators: Decorators) -> None:
    decorate, _ = decorators

    @decorate(frozen=True, order=True)
    class Slot:
        at: int
        name: str

    assert sorted([Slot(2, "a"), Slot(1, "b"), Slot(1, "a")]) == [Slot(1, "a"), Slot(1, "b"), Slot(2, "a")]
    assert Slot(1, "a") <= Slot(1, "a") < Slot(1, "b") and Slot(2, "a") >= Slot(1, "z") > Slot(1, "a")
    with pytest.raises(TypeError):
        assert Slot(1, "a") < (1, "a")


def test_shipped_modules_do_not_import_dataclasses() -> None:
    # Every module the SCF layer ships and a handler imports on a cold start.
    modules = [
        "ciqueue.handlers.scheduler",
        "ciqueue.handlers.http_toggle",
        "ciqueue.handlers.automation",
        "ciqueue.handlers.worker",
        "ciqueue.app.executor",
        "ciqueue.ci.operations",
        "ciqueue.api.routes",
        "ciqueue.state.cos",
    ]
    script = f"import sys, json; [__import__(m) for m in {modules!r}]; print(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "shared")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout))
    # (inspect is loaded all the same, by xmltodict's ``from inspect import isgenerator``; the
    # official SDK pays it too.)
    assert "dataclasses" not in loaded

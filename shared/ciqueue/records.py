"""``dataclass``, ``field``, ``replace``, ``asdict``: the standard library's, without its cold-start cost.

Why not the standard library's: ``dataclass`` writes each class's ``__init__``, ``__repr__``,
``__eq__``, ``__hash__``, ``__setattr__`` and ``__delattr__`` as source text and compiles it with
``exec`` when the module is imported, about 2.3 M instructions per class and 4 M per frozen one
(valgrind, Python 3.11), and it imports ``inspect`` (19 M). A cold pause imports about 27 such
classes: more than the whole gap between ours and a hand-written SDK script
(``bench/bench_first_invocation.py``). This ``dataclass`` builds the same methods from closures, so a
class costs almost nothing to define; building an instance costs a little more than a
dataclass's (one loop over the fields, the values written into the instance's ``__dict__`` at
once: about 1.3 µs against 1.1 µs for five fields), which no path of ours notices.

The rules are the dataclass rules this code base uses, no more:
- fields are the class's annotations in order, after its bases' (``ClassVar`` ones are
  not fields); a default is the class attribute, or ``field(default=..., default_factory=...,
  init=..., repr=..., compare=...)``; a field without a default after one with a default, or a
  list/dict/set default, is a TypeError/ValueError when the class is defined, as dataclass says;
- ``__init__`` takes the ``init`` fields positionally or by keyword, a TypeError naming the
  argument for a missing, unexpected or repeated one; then calls ``__post_init__`` if defined;
- ``__repr__`` is ``Name(a=1, b='x')`` over the ``repr`` fields; ``__eq__`` compares the
  ``compare`` fields of two instances of the same class (else NotImplemented); a frozen instance
  hashes those fields, an unfrozen one with ``eq`` is unhashable (unless the class defines
  ``__hash__``);
- ``frozen=True``: assigning or deleting an attribute raises ``FrozenInstanceError`` (an
  AttributeError, as dataclass's);
- ``replace(obj, **changes)``, ``asdict(obj)`` (instances, lists, tuples and dicts within, copied),
  ``fields(obj_or_class)`` and ``is_dataclass(obj)`` are the dataclasses functions of the same names;
- ``order=True`` adds ``<``, ``<=``, ``>``, ``>=`` over the compared fields (same class only).

Every module of ciqueue imports these from here, never from ``dataclasses``
(``tests/test_layout.py``): a module is one import line away from either. For the type checker
``dataclass``, ``field`` and ``replace`` are the dataclasses ones (under ``TYPE_CHECKING``), so
mypy checks every class exactly as a dataclass.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar

__all__ = ["FrozenInstanceError", "asdict", "dataclass", "field", "fields", "is_dataclass", "replace"]

_T = TypeVar("_T")
_MISSING: Any = object()
_MUTABLE_DEFAULTS = (list, dict, set)


class FrozenInstanceError(AttributeError):
    """An attribute of a frozen instance was assigned or deleted."""


class Field:
    """One field: its name, default (or factory) and what it takes part in."""

    __slots__ = ("compare", "default", "default_factory", "init", "name", "repr")

    def __init__(
        self,
        default: Any = _MISSING,
        default_factory: Any = _MISSING,
        init: bool = True,
        repr: bool = True,
        compare: bool = True,
    ) -> None:
        if default is not _MISSING and default_factory is not _MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.compare = compare

    def __repr__(self) -> str:
        return f"Field(name={self.name!r})"


def _is_classvar(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text == "ClassVar" or text.startswith(("ClassVar[", "typing.ClassVar", "t.ClassVar"))


def _collect(cls: type) -> tuple[Field, ...]:
    """The fields of ``cls``: its bases' first, then its own annotations."""
    found: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for inherited in base.__dict__.get("__record_fields__", ()):
            found[inherited.name] = inherited
    # Not inspect.get_annotations: importing inspect is the cost this module avoids.
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
        if _is_classvar(annotation):
            continue
        if "InitVar" in str(annotation):
            raise TypeError(f"{cls.__name__}.{name}: InitVar is not supported here")
        value = cls.__dict__.get(name, _MISSING)
        spec = value if isinstance(value, Field) else Field(default=value)
        if isinstance(spec.default, _MUTABLE_DEFAULTS):
            raise ValueError(
                f"mutable default {type(spec.default)} for field {name} is not allowed: use default_factory"
            )
        spec.name = name
        if isinstance(value, Field):
            if spec.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, spec.default)
        found[name] = spec
    seen_default = False
    for spec in found.values():
        if not spec.init:
            continue
        has_default = spec.default is not _MISSING or spec.default_factory is not _MISSING
        if seen_default and not has_default:
            raise TypeError(f"non-default argument {spec.name!r} follows default argument")
        seen_default = seen_default or has_default
    return tuple(found.values())


def _make_init(cls: type, specs: tuple[Field, ...]) -> Callable[..., None]:
    """``__init__`` over ``specs``: the values go straight into the instance's ``__dict__`` (as a
    frozen dataclass's ``object.__setattr__`` would put them, without a call per field)."""
    init_names = tuple(s.name for s in specs if s.init)
    plan = tuple((s.name, s.init, s.default, s.default_factory) for s in specs)
    qualname = f"{cls.__qualname__}.__init__()"
    post_init = getattr(cls, "__post_init__", None)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        given = len(args)
        if given > len(init_names):
            raise TypeError(
                f"{qualname} takes {len(init_names) + 1} positional arguments but {given + 1} were given"
            )
        values = {}
        position = used = 0
        missing = []
        for name, init, default, factory in plan:
            if init:
                if position < given:
                    if name in kwargs:
                        raise TypeError(f"{qualname} got multiple values for argument {name!r}")
                    values[name] = args[position]
                    position += 1
                    continue
                if name in kwargs:
                    values[name] = kwargs[name]
                    used += 1
                    continue
            if default is not _MISSING:
                values[name] = default
            elif factory is not _MISSING:
                values[name] = factory()
            elif init:
                missing.append(name)
        if used != len(kwargs):
            unexpected = next(key for key in kwargs if key not in init_names)
            raise TypeError(f"{qualname} got an unexpected keyword argument {unexpected!r}")
        if missing:
            names = " and ".join(repr(name) for name in missing)
            plural = "s" if len(missing) > 1 else ""
            raise TypeError(f"{qualname} missing {len(missing)} required argument{plural}: {names}")
        self.__dict__.update(values)
        if post_init is not None:
            self.__post_init__()

    return __init__


def _make_methods(
    cls: Any, specs: tuple[Field, ...], eq: bool, frozen: bool, repr_: bool, order: bool
) -> None:
    """The methods dataclass would add, each only where the class body does not define it."""
    shown = tuple(s.name for s in specs if s.repr)
    compared = tuple(s.name for s in specs if s.compare)
    names = frozenset(s.name for s in specs)
    own = cls.__dict__
    class_hash = own.get("__hash__", _MISSING)
    # As dataclass: a class body that defines __eq__ gets __hash__ = None from Python itself.
    explicit_hash = not (class_hash is _MISSING or (class_hash is None and "__eq__" in own))

    # The compared fields as a tuple, by operator.attrgetter (C), which gives a tuple for two or
    # more names: equality, hashing and ordering call it on every dict lookup and sort.
    values: Callable[[Any], tuple[Any, ...]]
    if len(compared) >= 2:
        values = attrgetter(*compared)
    elif compared:
        only = attrgetter(compared[0])
        values = lambda self: (only(self),)  # noqa: E731
    else:
        values = lambda self: ()  # noqa: E731

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{type(self).__qualname__}({inner})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return values(self) == values(other)

    def __hash__(self: Any) -> int:
        return hash(values(self))

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    if repr_ and "__repr__" not in own:
        cls.__repr__ = __repr__
    if eq and "__eq__" not in own:
        cls.__eq__ = __eq__
    if eq and not explicit_hash:
        cls.__hash__ = __hash__ if frozen else None
    if order:
        for name, compare in (
            ("__lt__", tuple.__lt__),
            ("__le__", tuple.__le__),
            ("__gt__", tuple.__gt__),
            ("__ge__", tuple.__ge__),
        ):
            if name in own:
                raise TypeError(
                    f"cannot overwrite attribute {name} in class {cls.__name__} (order=True writes it)"
                )
            setattr(cls, name, _orderer(values, compare))
    if frozen:
        if "__setattr__" in own or "__delattr__" in own:
            raise TypeError(f"cannot overwrite __setattr__ or __delattr__ in frozen dataclass {cls.__name__}")
        cls.__setattr__ = __setattr__
        cls.__delattr__ = __delattr__


def _orderer(values: Callable[[Any], tuple[Any, ...]], compare: Callable[[Any, Any], Any]) -> Any:
    def method(self: Any, other: object) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return compare(values(self), values(other))

    return method


def _process(cls: Any, frozen: bool, eq: bool, repr_: bool, order: bool) -> Any:
    specs = _collect(cls)
    cls.__record_fields__ = specs
    cls.__match_args__ = tuple(s.name for s in specs if s.init)  # type: ignore[misc]
    if "__init__" not in cls.__dict__:
        cls.__init__ = _make_init(cls, specs)
    if order and not eq:
        raise ValueError("eq must be true if order is true")
    _make_methods(cls, specs, eq, frozen, repr_, order)
    return cls


def _dataclass(
    cls: type[_T] | None = None,
    /,
    *,
    frozen: bool = False,
    eq: bool = True,
    repr: bool = True,
    order: bool = False,
) -> Any:
    if cls is None:
        return lambda inner: _process(inner, frozen, eq, repr, order)
    return _process(cls, frozen, eq, repr, order)


def _field(
    *,
    default: Any = _MISSING,
    default_factory: Any = _MISSING,
    init: bool = True,
    repr: bool = True,
    compare: bool = True,
) -> Any:
    return Field(default, default_factory, init, repr, compare)


def fields(obj: object) -> tuple[Field, ...]:
    """The fields of a dataclass or its class, in order."""
    found = getattr(obj, "__record_fields__", None)
    if found is None:
        raise TypeError("must be called with a dataclass or a dataclass class")
    return found  # type: ignore[no-any-return]


def is_dataclass(obj: object) -> bool:
    """True for an instance of a ``dataclass`` class of this module (not for the class itself)."""
    return not isinstance(obj, type) and hasattr(type(obj), "__record_fields__")


def _replace(obj: _T, /, **changes: Any) -> _T:
    for spec in fields(obj):
        if not spec.init:
            if spec.name in changes:
                raise ValueError(
                    f"field {spec.name} is declared with init=False, it cannot be specified with replace()"
                )
            continue
        if spec.name not in changes:
            changes[spec.name] = getattr(obj, spec.name)
    return type(obj)(**changes)


def asdict(obj: object) -> dict[str, Any]:
    """An instance as a dict, recursively (instances, lists, tuples and dicts within; others copied)."""
    if not is_dataclass(obj):
        raise TypeError("asdict() should be called on dataclass instances")
    return {spec.name: _plain(getattr(obj, spec.name)) for spec in fields(obj)}


def _plain(value: Any) -> Any:
    if is_dataclass(value):
        return asdict(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*[_plain(v) for v in value])
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return type(value)((_plain(k), _plain(v)) for k, v in value.items())
    return copy.deepcopy(value)


if TYPE_CHECKING:
    from dataclasses import dataclass, field, replace
else:
    dataclass = _dataclass
    field = _field
    replace = _replace

"""The state store: overrides people set and the decisions last carried out, in one JSON document.

A store is versioned: ``load`` returns the document and a version token, ``save`` writes only if
the stored version still equals the one read (else ``StateConflict``), and ``update`` runs
load -> mutate -> save and, on a conflict, reloads and re-applies the mutation. Two writers racing
therefore never lose each other's change.

What an update costs is what it changes, not the document's size (one last-applied record per
queue makes that the fleet's): the records are frozen, so ``update`` hands the mutator a working
copy sharing them (``working_copy``: own lists and dict, no deep copy) and ``same_content``
compares field by field, where a record left alone is the same object; an update that changes
nothing writes nothing. A store keeps the document of the version it read or wrote last, so
reading that version again (the reload of ``update``, the next tick of a warm instance) parses
nothing; the version token still comes from the stored bytes or object, so the conditional write
guards exactly as before. ``to_json`` is compact.

The records are plain frozen ``__slots__`` classes, not pydantic models: the document is our own
stored JSON (pydantic stays where user input enters), and a cold function pays neither pydantic's
import nor a model build for it. Reading keeps pydantic's verdicts and the bytes it wrote
(``to_json`` is byte-identical to its ``model_dump_json``, so stored files do not churn and an
older ciqueue reads them), except that a value pydantic coerced is refused: a number or a numeric
text as an instant (``timefmt.parse_aware_instant`` is the grammar), ``"1"``/``1.0``/``true`` as
a whole number, ``1``/``"yes"`` as true or false. ``from_json`` raises StateCorrupt naming the
first broken field (``overrides.0.created_at``) and its rule; keyword construction validates the
same rules (RecordInvalid, a ValueError); ``model_copy(update=...)``, ``model_dump(mode="json")``
and ``model_extra`` (unknown keys, kept in order and written back) keep pydantic's names.

Backends: ``ciqueue.state.file`` (local file, the test
fake) and ``ciqueue.state.cos`` (one COS object, conditional writes); this module imports neither,
and ``ciqueue.state.location`` is the one place that chooses and builds one.

``changes`` is the recent history: the audit records of what changed (or failed to), newest last,
kept within ``limits.MAX_HISTORY_CHANGES`` entries and ``limits.MAX_HISTORY_AGE`` by
``record_changes``, the one place that adds to it. The entries arrive already shaped and redacted by
``ciqueue.app.audit.history_entry`` (the one redaction); this module only stores and bounds them.
A failure that repeats the newest entry of its queue (same event, action, actor and error code)
updates that entry (``at``, ``result``, ``repeats``, ``first_at``) instead of adding one, so a CI
outage that fails every tick does not push the real changes out. ``recent_changes`` reads them.

The persisted shapes mirror ``engine.Override`` and ``engine.LastApplied`` (``to_engine`` /
``from_engine`` convert); ``engine`` is imported lazily so that adding an override stays a cheap
import for the HTTP function.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timezone
from enum import Enum
from json.encoder import encode_basestring
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeVar

from ciqueue.ci.identifiers import bucket_problem, parse_kind, queue_id_problem, region_problem
from ciqueue.ci.retry import Clock, Rand, Sleep, full_jitter
from ciqueue.constants import QUEUE_STATES
from ciqueue.errors import InvalidInput, Problem, StateConflict, StateCorrupt
from ciqueue.limits import MAX_ACTOR_LENGTH, MAX_HISTORY_AGE, MAX_HISTORY_CHANGES, MAX_REASON_LENGTH
from ciqueue.timefmt import STORED_INSTANT_RULE, parse_aware_instant

if TYPE_CHECKING:
    from ciqueue.schedule import engine

log = logging.getLogger("ciqueue.state")

SCHEMA_VERSION = 1
DEFAULT_UPDATE_ATTEMPTS = 5
# Backoff between conflicting attempts: writers that collided once should not collide again.
CONFLICT_BACKOFF_BASE_S = 0.05
CONFLICT_BACKOFF_CAP_S = 1.0

_OVERRIDE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_OVERRIDE_ID_RULE = "must be 1-64 letters, digits, '_', '.', ':' or '-'"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_STATE_RULE = "must be Active or Paused"
# Parsed stored instants by their text: a fleet's records share a few (the tick's decided_at, the
# windows' edges), so loading a document parses each once. Bounded for a warm instance.
_INSTANTS: dict[str, datetime] = {}
_INSTANTS_KEPT = 4096
# Written UTC instants by value (only those whose tzinfo is timezone.utc: equal instants in other
# zones compare equal but are written with their own offset).
_TEXTS: dict[datetime, str] = {}

QueueStateName = Literal["Active", "Paused"]
R = TypeVar("R", bound="_Record")


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


def queue_key(bucket: str, region: str, kind: str, queue_id: str) -> str:
    """The text key of a queue, ``bucket/region/kind/queue_id`` (as ``engine.QueueKey.text``)."""
    return f"{bucket}/{region}/{kind}/{queue_id}"


# --- field rules: one check per stored type, each returning the value kept ------------------------


class RecordInvalid(ValueError):
    """A record built from values that break a field's rule (``path``: the field, dotted)."""

    def __init__(self, path: Sequence[str | int], rule: str) -> None:
        self.path = ".".join(str(part) for part in path)
        self.rule = rule
        super().__init__(f"{self.path}: {rule}")


class FrozenRecord(AttributeError):
    """A stored record is frozen: ``model_copy(update=...)`` makes a changed one."""


class _Bad(Exception):
    """Internal: a value broke ``rule``; ``path`` grows as it unwinds to the document."""

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.path: list[str | int] = []

    def within(self, part: str | int) -> _Bad:
        self.path.insert(0, part)
        return self


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _Bad("must be text")


def _state(value: Any) -> str:
    if isinstance(value, str) and value in QUEUE_STATES:
        return value
    raise _Bad(_STATE_RULE)


def _override_id(value: Any) -> str:
    if isinstance(value, str) and _OVERRIDE_ID.fullmatch(value):
        return value
    raise _Bad(_OVERRIDE_ID_RULE)


def _whole(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _Bad("must be a whole number")


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _Bad("must be true or false")


def _object(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, Mapping):
        return dict(value)
    raise _Bad("must be an object")


def _aware(value: Any) -> datetime:
    """An aware instant as written (``updated_at`` keeps its offset, as it always has)."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise _Bad(STORED_INSTANT_RULE)
        return value
    if isinstance(value, str):
        try:
            return parse_aware_instant(value)
        except ValueError as exc:
            raise _Bad(str(exc)) from None
    raise _Bad(STORED_INSTANT_RULE)


def _utc_instant(value: Any) -> datetime:
    """An aware instant in UTC: how a record keeps every time."""
    if type(value) is str:
        found = _INSTANTS.get(value)
        if found is not None:
            return found
    aware = _aware(value)
    try:
        instant = aware.astimezone(timezone.utc)
    except OverflowError:
        raise _Bad(f"{STORED_INSTANT_RULE} (out of range in UTC)") from None
    if type(value) is str:
        if len(_INSTANTS) >= _INSTANTS_KEPT:
            _INSTANTS.clear()
        _INSTANTS[value] = instant
    return instant


Check = Callable[[Any], Any]
# A field: its name, its check, whether null is allowed, and its default (``_REQUIRED``: none).
_REQUIRED: Any = object()
Field = tuple[str, Check, bool, Any]


def _fill(obj: object, fields: tuple[Field, ...], names: frozenset[str], raw: Mapping[str, Any]) -> None:
    """Set ``obj``'s fields from ``raw`` by their checks, in declared order (the first broken one
    raises); keys that are no field are kept, in their order, as ``_extra``."""
    setter = object.__setattr__
    found = 0
    name = ""
    try:
        for name, check, nullable, default in fields:
            if name in raw:
                found += 1
                value = raw[name]
                if value is not None or not nullable:
                    value = check(value)
            elif default is _REQUIRED:
                raise _Bad("is required")
            else:
                value = default() if callable(default) else default
            setter(obj, name, value)
    except _Bad as bad:
        raise bad.within(name) from None
    setter(obj, "_extra", {k: v for k, v in raw.items() if k not in names} if len(raw) > found else {})


# --- JSON forms --------------------------------------------------------------------------------


def _instant_text(value: datetime) -> str:
    """An instant as pydantic's JSON mode wrote it (so stored files do not churn): UTC as
    ``2026-03-01T02:00:00Z`` (microseconds when not zero), another offset as ``+08:00``."""
    if value.tzinfo is timezone.utc:
        text = _TEXTS.get(value)
        if text is None:
            if len(_TEXTS) >= _INSTANTS_KEPT:
                _TEXTS.clear()
            text = _TEXTS[value] = value.isoformat()[:-6] + "Z"
        return text
    if value.tzinfo is not None and value.utcoffset() == _ZERO:
        return value.replace(tzinfo=None).isoformat() + "Z"
    return value.isoformat()


_ZERO = datetime(2000, 1, 1, tzinfo=timezone.utc).utcoffset()


class _OddFloat(Exception):
    """Internal: a float whose JSON text json.dumps writes differently than pydantic did."""


def _plain(value: Any) -> Any:
    """A value of an open-ended field (extras, ``before``/``after``/``result``) as JSON values;
    _OddFloat when it holds a float json.dumps would write otherwise (``_float_text``)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {str(k): _plain(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_plain(v) for v in value]
    if kind is float:
        if not math.isfinite(value) or "e-" in repr(value):
            raise _OddFloat
        return value
    if isinstance(value, datetime):
        return _instant_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, (set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, _Record):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _float_text(value: float) -> str:
    """A float as pydantic wrote it: Python's shortest repr, but ``0.00001`` for e-05 and ``1e-7``
    (no zero) below; not finite as ``null``."""
    if not math.isfinite(value):
        return "null"
    text = repr(value)
    if "e-" not in text:
        return text
    mantissa, exponent = text.split("e-")
    if int(exponent) == 5:
        sign = "-" if mantissa.startswith("-") else ""
        return f"{sign}0.0000{mantissa.lstrip('-').replace('.', '')}"
    return f"{mantissa}e-{int(exponent)}"


def _encode_exact(value: Any) -> str:
    """The slow writer, for a document holding an odd float: JSON text value by value."""
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, _Record):
        return _encode_exact(value._dump(exact=True))
    if isinstance(value, StateDocument):
        return _encode_exact(value._dump(exact=True))
    if isinstance(value, Mapping):
        return (
            "{" + ",".join(f"{encode_basestring(str(k))}:{_encode_exact(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode_exact(v) for v in value) + "]"
    return _encode_exact(_plain_exact(value))


def _plain_exact(value: Any) -> Any:
    """``_plain`` for the slow writer and ``model_dump(mode="json")``: floats stay floats
    (``_encode_exact`` writes them), those not finite are null (as pydantic's JSON mode made them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _plain_exact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain_exact(v) for v in value]
    return _plain(value)


def _dumps(form: Callable[[bool], Any]) -> str:
    """The compact JSON text of ``form(exact=False)``; of ``form(exact=True)`` by the exact writer
    when it holds an odd float."""
    try:
        return json.dumps(form(False), ensure_ascii=False, separators=(",", ":"))
    except _OddFloat:
        return _encode_exact(form(True))


def _value_text(value: Any) -> str:
    """The JSON text of an open-ended value (a document's extra)."""
    return _dumps(lambda exact: _json_value(value, exact))


def _text_json(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _instant_json(value: datetime | None) -> str:
    return "null" if value is None else f'"{_instant_text(value)}"'


def _json_value(value: Any, exact: bool) -> Any:
    if value is None or type(value) is str:
        return value
    if isinstance(value, datetime):
        return _instant_text(value)
    return _plain_exact(value) if exact else _plain(value)


# --- the records ---------------------------------------------------------------------------------


class _Record:
    """A frozen stored record: keyword construction validates every field by its rule (RecordInvalid
    naming the field), unknown keys are kept in ``model_extra``; ``model_copy(update=...)`` makes a
    changed copy (unvalidated, as pydantic's did); ``model_dump(mode="json")`` its JSON form."""

    __slots__ = ("_extra",)
    _fields: ClassVar[tuple[Field, ...]]
    _names: ClassVar[frozenset[str]]
    _values: ClassVar[attrgetter[tuple[Any, ...]]]
    _extra: dict[str, Any]

    def __init_subclass__(cls) -> None:
        cls._names = frozenset(name for name, *_ in cls._fields)
        cls._values = attrgetter(*(name for name, *_ in cls._fields))

    def __init__(self, **values: Any) -> None:
        try:
            _fill(self, self._fields, self._names, values)
        except _Bad as bad:
            raise RecordInvalid([type(self).__name__, *bad.path], bad.rule) from None

    @classmethod
    def _load(cls: type[R], raw: Any) -> R:
        """A record from its stored JSON object; _Bad naming the field otherwise."""
        if type(raw) is not dict:
            raise _Bad("must be an object")
        record = object.__new__(cls)
        _fill(record, cls._fields, cls._names, raw)
        return record

    @classmethod
    def model_validate(cls: type[R], value: Any) -> R:
        """``value`` if it is one, else a record from a mapping of its fields (validated)."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise RecordInvalid([cls.__name__], "must be an object")
        return cls(**value)

    @property
    def model_extra(self) -> dict[str, Any]:
        """The stored keys that are no field, as they were read (kept when written back)."""
        return self._extra

    def model_copy(self: R, *, update: Mapping[str, Any] | None = None) -> R:
        """A copy with ``update``'s values (not validated; keys that are no field join the extras)."""
        copy = object.__new__(type(self))
        setter = object.__setattr__
        extra = self._extra
        for name, value in zip((f[0] for f in self._fields), self._values(self), strict=True):
            setter(copy, name, value)
        if update:
            for key, value in update.items():
                if key in self._names:
                    setter(copy, key, value)
                else:
                    if extra is self._extra:
                        extra = dict(extra)
                    extra[key] = value
        setter(copy, "_extra", extra)
        return copy

    def _dump(self, exact: bool = False) -> dict[str, Any]:
        form = {
            name: _json_value(value, exact)
            for name, value in zip((f[0] for f in self._fields), self._values(self), strict=True)
        }
        if self._extra:
            for key, value in self._extra.items():
                form[key] = _json_value(value, exact)
        return form

    def _json_text(self) -> str:
        """The record's stored JSON text (its part of ``to_json``)."""
        return _dumps(self._dump)

    def model_dump(self, *, mode: Literal["json", "python"] = "python") -> dict[str, Any]:
        """The fields then the extras; ``mode="json"``: as stored (instants as ISO 8601 text)."""
        if mode == "json":
            try:
                return self._dump()
            except _OddFloat:
                return self._dump(exact=True)
        form = dict(zip((f[0] for f in self._fields), self._values(self), strict=True))
        form.update(self._extra)
        return form

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenRecord(f"{type(self).__name__} is frozen: {name} cannot be set (use model_copy)")

    def __delattr__(self, name: str) -> None:
        raise FrozenRecord(f"{type(self).__name__} is frozen: {name} cannot be deleted")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Record)
        return self._values(self) == other._values(other) and self._extra == other._extra

    def __hash__(self) -> int:
        return hash((type(self), self._values(self)))

    def __repr__(self) -> str:
        shown = [f"{f[0]}={v!r}" for f, v in zip(self._fields, self._values(self), strict=True)]
        shown += [f"{k}={v!r}" for k, v in self._extra.items()]
        return f"{type(self).__name__}({', '.join(shown)})"


class OverrideRecord(_Record):
    """A stored override: a person pins a queue's State until ``expires_at`` (None: until cancelled)."""

    __slots__ = (
        "actor",
        "bucket",
        "created_at",
        "expires_at",
        "id",
        "kind",
        "queue_id",
        "reason",
        "region",
        "state",
    )  # declared order: _fields
    _fields = (
        ("id", _override_id, False, _REQUIRED),
        ("bucket", _text, False, _REQUIRED),
        ("region", _text, False, _REQUIRED),
        ("kind", _text, False, _REQUIRED),
        ("queue_id", _text, False, _REQUIRED),
        ("state", _state, False, _REQUIRED),
        ("reason", _text, True, None),
        ("actor", _text, True, None),
        ("created_at", _utc_instant, False, _REQUIRED),
        ("expires_at", _utc_instant, True, None),
    )
    id: str
    bucket: str
    region: str
    kind: str
    queue_id: str
    state: QueueStateName
    reason: str | None
    actor: str | None
    created_at: datetime
    expires_at: datetime | None

    @property
    def key(self) -> str:
        return queue_key(self.bucket, self.region, self.kind, self.queue_id)

    def active_at(self, now: datetime) -> bool:
        return self.expires_at is None or _utc(now) < self.expires_at

    def to_engine(self) -> engine.Override:
        from ciqueue.schedule import engine

        return engine.Override(
            id=self.id,
            bucket=self.bucket,
            region=self.region,
            kind=self.kind,
            queue_id=self.queue_id,
            state=self.state,
            reason=self.reason,
            actor=self.actor,
            created_at=self.created_at,
            expires_at=self.expires_at,
        )

    @classmethod
    def from_engine(cls, override: engine.Override) -> OverrideRecord:
        return cls(
            id=override.id,
            bucket=override.bucket,
            region=override.region,
            kind=str(getattr(override.kind, "value", override.kind)),
            queue_id=override.queue_id,
            state=override.state,
            reason=override.reason,
            actor=override.actor,
            created_at=override.created_at,
            expires_at=override.expires_at,
        )


class LastAppliedRecord(_Record):
    """What the engine last carried out for a queue (``engine.LastApplied``) and when it decided."""

    __slots__ = (
        "callback_edge_at",
        "callback_index",
        "callback_source",
        "decided_at",
        "desired_state",
        "edge_at",
        "source",
    )  # declared order: _fields
    _fields = (
        ("desired_state", _state, True, None),
        ("edge_at", _utc_instant, True, None),
        ("source", _text, True, None),
        ("callback_index", _whole, True, None),
        ("callback_edge_at", _utc_instant, True, None),
        ("callback_source", _text, True, None),
        ("decided_at", _utc_instant, True, None),
    )
    desired_state: QueueStateName | None
    edge_at: datetime | None
    source: str | None
    callback_index: int | None
    callback_edge_at: datetime | None
    callback_source: str | None
    decided_at: datetime | None

    @classmethod
    def _load(cls, raw: Any) -> LastAppliedRecord:
        """The common stored shape checked inline (one per queue: a fleet loads 10,000); anything
        else (a broken field, extras) through the generic checks, which name the field."""
        if type(raw) is dict:
            get = raw.get
            state, edge, source, index = (
                get("desired_state"),
                get("edge_at"),
                get("source"),
                get("callback_index"),
            )
            cb_edge, cb_source, decided = get("callback_edge_at"), get("callback_source"), get("decided_at")
            if (
                (state is None or (type(state) is str and state in QUEUE_STATES))
                and (source is None or type(source) is str)
                and (index is None or type(index) is int)
                and (cb_source is None or type(cb_source) is str)
                and raw.keys() <= cls._names
            ):
                try:
                    edge = None if edge is None else _utc_instant(edge)
                    cb_edge = None if cb_edge is None else _utc_instant(cb_edge)
                    decided = None if decided is None else _utc_instant(decided)
                except _Bad:
                    return super()._load(raw)  # names the field
                record = object.__new__(cls)
                setter = object.__setattr__
                setter(record, "desired_state", state)
                setter(record, "edge_at", edge)
                setter(record, "source", source)
                setter(record, "callback_index", index)
                setter(record, "callback_edge_at", cb_edge)
                setter(record, "callback_source", cb_source)
                setter(record, "decided_at", decided)
                setter(record, "_extra", {})
                return record
        return super()._load(raw)

    def _json_text(self) -> str:
        state, edge, source, index, cb_edge, cb_source, decided = self._values(self)
        if (
            self._extra
            or not (state is None or type(state) is str)
            or not (source is None or type(source) is str)
            or not (index is None or type(index) is int)
            or not (cb_source is None or type(cb_source) is str)
            or not all(t is None or type(t) is datetime for t in (edge, cb_edge, decided))
        ):
            return super()._json_text()
        return (
            f'{{"desired_state":{_text_json(state)},"edge_at":{_instant_json(edge)},'
            f'"source":{_text_json(source)},"callback_index":{"null" if index is None else index},'
            f'"callback_edge_at":{_instant_json(cb_edge)},"callback_source":{_text_json(cb_source)},'
            f'"decided_at":{_instant_json(decided)}}}'
        )

    def to_engine(self) -> engine.LastApplied:
        from ciqueue.schedule import engine

        return engine.LastApplied(
            desired_state=self.desired_state,
            edge_at=self.edge_at,
            source=self.source,
            callback_index=self.callback_index,
            callback_edge_at=self.callback_edge_at,
            callback_source=self.callback_source,
        )

    @classmethod
    def from_engine(
        cls, applied: engine.LastApplied, decided_at: datetime | None = None
    ) -> LastAppliedRecord:
        return cls(
            desired_state=applied.desired_state,
            edge_at=applied.edge_at,
            source=applied.source,
            callback_index=applied.callback_index,
            callback_edge_at=applied.callback_edge_at,
            callback_source=applied.callback_source,
            decided_at=decided_at,
        )


def _ok() -> dict[str, Any]:
    return {"status": "ok"}


class ChangeRecord(_Record):
    """One entry of the recent history: who (``actor``) did what (``event``, ``action``, the changed
    fields ``before``/``after``) to which ``queue``, why (``reason``), when (``at``: the instant of
    the command or tick) and how it went (``result``: ``{"status": "ok"}`` or the error's code and
    message). Other audit fields (``override_id``, ``expires_at``, ``written``...) are kept as given.
    """

    __slots__ = (
        "action",
        "actor",
        "after",
        "at",
        "before",
        "changed",
        "event",
        "queue",
        "reason",
        "result",
    )  # declared order: _fields
    _fields = (
        ("at", _utc_instant, False, _REQUIRED),
        ("event", _text, False, _REQUIRED),
        ("actor", _text, True, None),
        ("queue", _text, True, None),
        ("action", _text, True, None),
        ("reason", _text, True, None),
        ("changed", _flag, True, None),
        ("before", _object, True, None),
        ("after", _object, True, None),
        ("result", _object, False, _ok),
    )
    at: datetime
    event: str
    actor: str | None
    queue: str | None
    action: str | None
    reason: str | None
    changed: bool | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    result: dict[str, Any]

    @property
    def failed(self) -> bool:
        return self.result.get("status") == "error"


def _records(kind: type[R]) -> Callable[[Any], list[R]]:
    def check(value: Any) -> list[R]:
        if not isinstance(value, list):
            raise _Bad("must be a list")
        records: list[R] = []
        for index, item in enumerate(value):
            try:
                records.append(item if type(item) is kind else kind._load(_mapping(item)))
            except _Bad as bad:
                raise bad.within(index) from None
        return records

    return check


def _mapping(value: Any) -> Any:
    """A mapping given to a constructor as the dict a stored record is read from."""
    return dict(value) if isinstance(value, Mapping) and type(value) is not dict else value


def _applied_map(value: Any) -> dict[str, LastAppliedRecord]:
    if not isinstance(value, dict):
        raise _Bad("must be an object")
    records: dict[str, LastAppliedRecord] = {}
    load = LastAppliedRecord._load
    for key, item in value.items():
        try:
            records[key] = item if type(item) is LastAppliedRecord else load(_mapping(item))
        except _Bad as bad:
            raise bad.within(key) from None
    return records


def _list() -> list[Any]:
    return []


def _dict() -> dict[str, Any]:
    return {}


_DOCUMENT_FIELDS: tuple[Field, ...] = (
    ("version", _whole, False, SCHEMA_VERSION),
    ("overrides", _records(OverrideRecord), False, _list),
    ("last_applied", _applied_map, False, _dict),
    ("updated_at", _aware, True, None),
    ("changes", _records(ChangeRecord), False, _list),
)
_DOCUMENT_NAMES = frozenset(name for name, *_ in _DOCUMENT_FIELDS)


class StateDocument:
    """Everything the functions remember between invocations. Unknown fields are kept as they are.

    Not frozen (its lists and dict are replaced through ``model_copy``; a mutator gets a
    ``working_copy``); keyword construction validates like ``from_json``."""

    __slots__ = (
        "_extra",
        "changes",
        "last_applied",
        "overrides",
        "updated_at",
        "version",
    )  # declared order: _fields
    version: int
    overrides: list[OverrideRecord]
    last_applied: dict[str, LastAppliedRecord]
    updated_at: datetime | None
    changes: list[ChangeRecord]
    _extra: dict[str, Any]

    def __init__(self, **values: Any) -> None:
        try:
            _fill(self, _DOCUMENT_FIELDS, _DOCUMENT_NAMES, values)
        except _Bad as bad:
            raise RecordInvalid(["StateDocument", *bad.path], bad.rule) from None

    @property
    def model_extra(self) -> dict[str, Any]:
        return self._extra

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> StateDocument:
        """A copy with ``update``'s values (not validated; the records are shared)."""
        copy = object.__new__(StateDocument)
        copy.version, copy.overrides, copy.last_applied = self.version, self.overrides, self.last_applied
        copy.updated_at, copy.changes, copy._extra = self.updated_at, self.changes, self._extra
        for key, value in (update or {}).items():
            if key in _DOCUMENT_NAMES:
                setattr(copy, key, value)
            else:
                copy._extra = {**copy._extra, key: value}
        return copy

    def _dump(self, exact: bool = False, ordered: bool = False) -> dict[str, Any]:
        applied = sorted(self.last_applied.items()) if ordered else self.last_applied.items()
        form = {
            "version": self.version,
            "overrides": [o._dump(exact) for o in self.overrides],
            "last_applied": {key: record._dump(exact) for key, record in applied},
            "updated_at": None if self.updated_at is None else _instant_text(self.updated_at),
            "changes": [c._dump(exact) for c in self.changes],
        }
        for key, value in self._extra.items():
            form[key] = _json_value(value, exact)
        return form

    def model_dump(self, *, mode: Literal["json", "python"] = "python") -> dict[str, Any]:
        if mode == "json":
            try:
                return self._dump()
            except _OddFloat:
                return self._dump(exact=True)
        form = {
            "version": self.version,
            "overrides": [o.model_dump() for o in self.overrides],
            "last_applied": {key: record.model_dump() for key, record in self.last_applied.items()},
            "updated_at": self.updated_at,
            "changes": [c.model_dump() for c in self.changes],
        }
        form.update(self._extra)
        return form

    def to_json(self) -> bytes:
        """Stable compact bytes: fields in declared order, extras after, ``last_applied`` sorted by
        queue key, a trailing newline.

        Byte for byte what the pydantic model wrote before (``model_dump_json``), so stored files
        do not churn and an older ciqueue reads what this one writes: UTC instants with ``Z``,
        UTF-8 unescaped, floats in pydantic's form. One ``json.dumps`` of the JSON form; a
        document holding a float json.dumps would write otherwise takes the exact, slower writer.
        Compact, since the file is machine-written and one record per queue makes its size the
        fleet's (any JSON form loads)."""
        applied = ",".join(
            f"{encode_basestring(key)}:{record._json_text()}"
            for key, record in sorted(self.last_applied.items())
        )
        parts = [
            f'{{"version":{_dumps(lambda exact: self.version)}',
            f'"overrides":[{",".join(o._json_text() for o in self.overrides)}]',
            f'"last_applied":{{{applied}}}',
            f'"updated_at":{_instant_json(self.updated_at)}',
            f'"changes":[{",".join(c._json_text() for c in self.changes)}]',
        ]
        parts += (f"{encode_basestring(key)}:{_value_text(value)}" for key, value in self._extra.items())
        return (",".join(parts) + "}\n").encode()

    @classmethod
    def from_json(cls, data: bytes | str, where: str) -> StateDocument:
        """Parse a stored document; StateCorrupt naming ``where``, the first bad field (in declared
        order, e.g. ``overrides.0.created_at``) and its rule otherwise."""
        if not data.strip():
            return cls()
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StateCorrupt(f"state {where} is not JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise StateCorrupt(f"state {where} must be a JSON object")
        schema = raw.get("version", SCHEMA_VERSION)
        if isinstance(schema, int) and schema > SCHEMA_VERSION:
            raise StateCorrupt(
                f"state {where} has schema version {schema}, written by a newer ciqueue "
                f"(this one reads {SCHEMA_VERSION})"
            )
        doc = object.__new__(cls)
        try:
            _fill(doc, _DOCUMENT_FIELDS, _DOCUMENT_NAMES, raw)
        except _Bad as bad:
            path = ".".join(str(part) for part in bad.path)
            raise StateCorrupt(f"state {where}: {path}: {bad.rule}") from None
        return doc

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StateDocument):
            return NotImplemented
        return self.updated_at == other.updated_at and self.same_content(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the pydantic model was

    def __repr__(self) -> str:
        return (
            f"StateDocument(version={self.version!r}, overrides={self.overrides!r}, "
            f"last_applied={self.last_applied!r}, updated_at={self.updated_at!r}, "
            f"changes={self.changes!r}{''.join(f', {k}={v!r}' for k, v in self._extra.items())})"
        )

    def same_content(self, other: StateDocument) -> bool:
        """True when the two differ at most in ``updated_at``.

        Field by field: records are frozen, so a record a mutator left alone is the same object and
        compares at once; the cost is the records that changed, not the fleet's."""
        return (
            self.version == other.version
            and self.overrides == other.overrides
            and self.last_applied == other.last_applied
            and self.changes == other.changes
            and self._extra == other._extra
        )

    def working_copy(self) -> StateDocument:
        """A copy whose lists and dict are its own (the records, frozen, are shared): what a
        mutator may change in place without touching this document."""
        return self.model_copy(
            update={
                "overrides": list(self.overrides),
                "last_applied": dict(self.last_applied),
                "changes": list(self.changes),
            }
        )

    def override(self, override_id: str) -> OverrideRecord | None:
        return next((o for o in self.overrides if o.id == override_id), None)

    def engine_overrides(self) -> list[engine.Override]:
        return [o.to_engine() for o in self.overrides]

    def engine_last_applied(self, keys: Iterable[str] | None = None) -> dict[str, engine.LastApplied]:
        """The records as the engine's, only those of ``keys`` when given (a shard's queues)."""
        if keys is None:
            return {key: record.to_engine() for key, record in self.last_applied.items()}
        found = ((key, self.last_applied.get(key)) for key in keys)
        return {key: record.to_engine() for key, record in found if record is not None}


Mutator = Callable[[StateDocument], StateDocument]


class StateStore(Protocol):
    """A versioned home for the StateDocument."""

    def load(self) -> tuple[StateDocument, str | None]:
        """The document and its version token (None: nothing stored yet, an empty document)."""
        ...

    def save(self, doc: StateDocument, expected_version: str | None) -> str:
        """Write ``doc`` if the stored version is still ``expected_version``; the new version.

        Raises StateConflict when someone else wrote in between.
        """
        ...

    def update(self, mutator: Mutator, attempts: int = DEFAULT_UPDATE_ATTEMPTS) -> StateDocument:
        """Load, apply ``mutator``, save; on a conflict reload and re-apply. The document saved."""
        ...


class VersionedStateStore(ABC):
    """``update`` built on a backend's ``load`` and conditional ``_write``."""

    def __init__(
        self, *, clock: Clock = time.time, sleep: Sleep = time.sleep, rand: Rand = random.random
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._known: tuple[str, StateDocument] | None = None

    def _keep(self, version: str, doc: StateDocument) -> None:
        """Remember the document stored at ``version`` (one read or written last)."""
        self._known = (version, doc)

    def _recall(self, version: str | None) -> StateDocument | None:
        """A working copy of the document kept at ``version`` (None: not the one kept)."""
        known = self._known
        if version is None or known is None or known[0] != version:
            return None
        return known[1].working_copy()

    @abstractmethod
    def load(self) -> tuple[StateDocument, str | None]: ...

    @abstractmethod
    def _write(self, doc: StateDocument, expected_version: str | None) -> str:
        """The conditional write; called inside ``_exclusive()``."""

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Held around read-modify-write; backends that can lock (a local file) do so here."""
        yield

    def save(self, doc: StateDocument, expected_version: str | None) -> str:
        with self._exclusive():
            version = self._write(doc, expected_version)
        self._keep(version, doc)
        return version

    def update(self, mutator: Mutator, attempts: int = DEFAULT_UPDATE_ATTEMPTS) -> StateDocument:
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise InvalidInput("attempts", "must be an integer of 1 or more")
        for attempt in range(1, attempts + 1):
            with self._exclusive():
                doc, version = self.load()
                changed = mutator(doc.working_copy())
                if not isinstance(changed, StateDocument):
                    raise TypeError("a state mutator must return the StateDocument")
                if changed.same_content(doc):
                    return doc  # nothing to write: no needless version bump
                changed = changed.model_copy(
                    update={"updated_at": datetime.fromtimestamp(self._clock(), timezone.utc)}
                )
                try:
                    self._keep(self._write(changed, version), changed)
                    return changed
                except StateConflict:
                    log.debug("state conflict on attempt %d of %d; reloading", attempt, attempts)
            if attempt < attempts:
                self._sleep(
                    full_jitter(attempt - 1, CONFLICT_BACKOFF_BASE_S, CONFLICT_BACKOFF_CAP_S, self._rand)
                )
        raise StateConflict(
            f"the state changed under us {attempts} times in a row; nothing was written (try again)"
        )


# --- helpers: pure, each returns a new document ---------------------------------------------------


def new_override(
    *,
    bucket: str,
    region: str,
    kind: str,
    queue_id: str,
    state: str,
    now: datetime,
    reason: str | None = None,
    actor: str | None = None,
    expires_at: datetime | None = None,
    override_id: str | None = None,
) -> OverrideRecord:
    """An override from a user's request; InvalidInput naming every broken field."""
    problems = [p for p in (bucket_problem(bucket), region_problem(region)) if p]
    kind_text = str(kind)
    try:
        kind_text = parse_kind(kind, "kind").value
    except InvalidInput as exc:
        problems.extend(exc.problems)
    problem = queue_id_problem(queue_id)
    if problem is not None:
        problems.append(problem)
    if state not in QUEUE_STATES:
        problems.append(Problem("state", f"must be Active or Paused (got {state!r})"))
    problems += _text_problems("reason", reason, MAX_REASON_LENGTH)
    problems += _text_problems("actor", actor, MAX_ACTOR_LENGTH)
    if now.tzinfo is None or now.utcoffset() is None:
        problems.append(Problem("now", "must be a timezone-aware time"))
    if expires_at is not None:
        if expires_at.tzinfo is None or expires_at.utcoffset() is None:
            problems.append(Problem("expires_at", "must include a timezone (e.g. 2025-01-01T08:00:00+08:00)"))
        elif now.tzinfo is not None and expires_at <= now:
            problems.append(Problem("expires_at", "must be in the future"))
    if override_id is not None and (
        not isinstance(override_id, str) or not _OVERRIDE_ID.fullmatch(override_id)
    ):
        problems.append(Problem("id", "must be 1-64 letters, digits, '_', '.', ':' or '-'"))
    if problems:
        raise InvalidInput(problems)
    return OverrideRecord(
        id=override_id or f"ovr-{secrets.token_hex(6)}",
        bucket=bucket,
        region=region,
        kind=kind_text,
        queue_id=queue_id,
        state=state,
        reason=reason,
        actor=actor,
        created_at=now,
        expires_at=expires_at,
    )


def _text_problems(name: str, value: str | None, limit: int) -> list[Problem]:
    if value is None:
        return []
    if not isinstance(value, str):
        return [Problem(name, "must be text")]
    if len(value) > limit:
        return [Problem(name, f"must be at most {limit} characters (got {len(value)})")]
    if _CONTROL.search(value):
        return [Problem(name, "must not contain control characters")]
    return []


def add_override(doc: StateDocument, override: OverrideRecord) -> StateDocument:
    """``doc`` with ``override`` added; one with the same id is replaced (so a retry adds it once)."""
    kept = [o for o in doc.overrides if o.id != override.id]
    return doc.model_copy(update={"overrides": [*kept, override]})


def cancel_override(doc: StateDocument, override_id: str) -> StateDocument:
    """``doc`` without the override; InvalidInput when no override has that id."""
    if doc.override(override_id) is None:
        raise InvalidInput("override_id", f"no override has id {override_id!r}")
    return doc.model_copy(update={"overrides": [o for o in doc.overrides if o.id != override_id]})


def expired_overrides(doc: StateDocument, now: datetime) -> list[OverrideRecord]:
    """The overrides whose time is up at ``now``."""
    return [o for o in doc.overrides if not o.active_at(now)]


def prune_expired(doc: StateDocument, now: datetime) -> StateDocument:
    """``doc`` without the overrides whose time is up at ``now``."""
    return doc.model_copy(update={"overrides": [o for o in doc.overrides if o.active_at(now)]})


def record_applied(doc: StateDocument, key: str, record: LastAppliedRecord) -> StateDocument:
    """``doc`` with the last applied decision of queue ``key`` (``bucket/region/kind/queue_id``) set."""
    return record_all_applied(doc, {key: record})


def record_all_applied(doc: StateDocument, records: Mapping[str, LastAppliedRecord]) -> StateDocument:
    """``doc`` with the last applied decisions of every queue key in ``records`` set, in one copy of
    the records (a tick's 200 changes against a 10,000-record document copied it 200 times)."""
    if not records:
        return doc
    return doc.model_copy(update={"last_applied": {**doc.last_applied, **records}})


def record_changes(
    doc: StateDocument, entries: Sequence[Mapping[str, Any] | ChangeRecord], now: datetime
) -> StateDocument:
    """``doc`` with ``entries`` (``app.audit.history_entry`` dicts) added to its history and the
    history bounded at ``now``: younger than MAX_HISTORY_AGE, at most MAX_HISTORY_CHANGES, newest
    last. A failure repeating its queue's newest entry updates that entry instead of adding one."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise InvalidInput("now", "must be a timezone-aware time")
    history = list(doc.changes)
    # Each queue's newest entry, kept as entries are added: a tick of 1,000 changes would
    # otherwise scan the growing history once per change.
    newest: dict[str | None, ChangeRecord] = {entry.queue: entry for entry in history}
    for raw in entries:
        entry = raw if isinstance(raw, ChangeRecord) else ChangeRecord.model_validate(dict(raw))
        previous = newest.get(entry.queue)
        if previous is not None and _repeats(previous, entry):
            index = history.index(previous)
            extra = previous.model_extra or {}
            entry = entry.model_copy(
                update={
                    "repeats": int(extra.get("repeats", 1)) + 1,
                    "first_at": extra.get("first_at") or previous.at.isoformat(),
                }
            )
            del history[index]
        history.append(entry)
        newest[entry.queue] = entry
    oldest = _utc(now) - MAX_HISTORY_AGE
    kept = [entry for entry in history if entry.at >= oldest][-MAX_HISTORY_CHANGES:]
    return doc.model_copy(update={"changes": kept})


def recent_changes(
    doc: StateDocument, queue: str | None = None, limit: int = MAX_HISTORY_CHANGES
) -> list[ChangeRecord]:
    """The kept history, newest first; only ``queue``'s (a key ``bucket/region/kind/queue_id``)
    when given; at most ``limit`` (1 to MAX_HISTORY_CHANGES) entries. Read-only."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_HISTORY_CHANGES:
        raise InvalidInput("limit", f"must be a whole number from 1 to {MAX_HISTORY_CHANGES} (got {limit!r})")
    found = [entry for entry in reversed(doc.changes) if queue is None or entry.queue == queue]
    return found[:limit]


def _repeats(previous: ChangeRecord, entry: ChangeRecord) -> bool:
    """The same failure again: same event, action and actor, and the same error code."""
    return (
        previous.failed
        and entry.failed
        and (previous.event, previous.action, previous.actor) == (entry.event, entry.action, entry.actor)
        and previous.result.get("code") == entry.result.get("code")
    )

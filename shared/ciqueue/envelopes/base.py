"""Envelopes: one module per SCF trigger source, each turning a raw event into Records.

Each source module reads its raw event and has a ``records(event)`` function. The timer and the
Function URL events (the paths of a cold pause) are read by ``read_keys`` from a table of keys, so
those paths import no pydantic; the other sources keep pydantic models (``validate``, which
imports pydantic when first called). Both give the same verdict in the same words: a key's rule
(``_RULES``) and its path (``_path``) have one home here.
A Record carries one command payload (or what to fetch for it) and the field path of that
payload inside the event, so ``parse_command(record.payload, field_prefix=record.field)``
names errors like ``Records[2].CMQ.msgBody.queues[0].kind``.

Rules shared by all sources:
- a malformed event as a whole (not a dict, ``Records`` not a list) raises InvalidInput;
- a malformed record becomes a Record with ``error`` set, and the other records still come out.
HTTP events (Function URL, API Gateway) are turned into ``envelopes.http.HttpRequest`` instead
(``detect.http_request_for``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from ciqueue import records
from ciqueue.envelopes.http import HttpRequest, build_request
from ciqueue.errors import InvalidInput, Problem
from ciqueue.jsontext import json_type_name, load_json_object
from ciqueue.limits import MAX_EVENT_RECORDS
from ciqueue.records import dataclass

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound="BaseModel")


@dataclass(frozen=True)
class Record:
    """One unit of work from an event.

    ``payload`` is the decoded JSON command (None when ``error`` is set or ``needs_fetch``).
    ``needs_fetch`` means the command lives elsewhere (a COS object named in ``meta``).
    """

    source: str
    record_id: str
    field: str
    payload: dict[str, Any] | None = None
    meta: dict[str, Any] = records.field(default_factory=dict)  # ``field`` is a field's name here
    error: InvalidInput | None = None
    needs_fetch: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def error_record(source: str, record_id: str, field: str, error: InvalidInput) -> Record:
    return Record(source=source, record_id=record_id, field=field, error=error)


def text_record(source: str, record_id: str, field: str, text: str, meta: dict[str, Any]) -> Record:
    """A Record whose command is the JSON text ``text`` at path ``field``."""
    try:
        payload = load_json_object(text, field)
    except InvalidInput as exc:
        return Record(source=source, record_id=record_id, field=field, meta=meta, error=exc)
    if not isinstance(payload, dict):
        problem = Problem(field, f"must be a JSON object (got {json_type_name(payload)})")
        return Record(source=source, record_id=record_id, field=field, meta=meta, error=InvalidInput(problem))
    return Record(source=source, record_id=record_id, field=field, payload=payload, meta=meta)


def each_record(
    event: object, source: str, model: type[M], build: Callable[[M, str, int], Record]
) -> list[Record]:
    """``build(item, "Records[i]", i)`` for each item of ``Records`` that validates as ``model``.

    An item that does not becomes an error Record ``<source>:#<i>``; the others still come out.
    """
    out = []
    for i, item in enumerate(record_list(event)):
        prefix = f"Records[{i}]"
        try:
            parsed: M = validate(model, item, prefix)
        except InvalidInput as exc:
            out.append(error_record(source, f"{source}:#{i}", prefix, exc))
            continue
        out.append(build(parsed, prefix, i))
    return out


def record_list(event: object, key: str = "Records") -> list[Any]:
    """The ``Records`` list of an event, or InvalidInput naming what is wrong."""
    if not isinstance(event, Mapping):
        raise InvalidInput("event", f"must be a JSON object (got {json_type_name(event)})")
    items = event.get(key)
    if items is None:
        raise InvalidInput(key, "is required")
    if not isinstance(items, list):
        raise InvalidInput(key, f"must be a list (got {json_type_name(items)})")
    if len(items) > MAX_EVENT_RECORDS:
        raise InvalidInput(key, f"must hold at most {MAX_EVENT_RECORDS} records (got {len(items)})")
    return items


KeyKind = Literal["str", "dict", "bool"]


@dataclass(frozen=True)
class Key:
    """One key of an event read by ``read_keys``, with pydantic's strict meaning: ``str`` is a
    string, ``dict`` an object with string keys, ``bool`` true or false (never 1 or "true").
    Without ``required`` an absent key reads as ``default``; ``nullable`` also lets ``null`` be."""

    name: str
    kind: KeyKind
    required: bool = False
    nullable: bool = False
    default: Any = None


_KIND_TYPES: dict[KeyKind, tuple[type, str]] = {
    "str": (str, "string_type"),
    "dict": (dict, "dict_type"),
    "bool": (bool, "bool_type"),
}


def read_keys(data: object, keys: tuple[Key, ...], prefix: str = "") -> dict[str, Any]:
    """The values of ``keys`` in ``data`` (other keys ignored), or InvalidInput naming every key
    that breaks its rule, in ``keys`` order, as a strict pydantic model said it."""
    if not isinstance(data, dict):
        raise InvalidInput(Problem(_path(prefix, ()), _RULES["model_type"]))
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for key in keys:
        if key.name not in data:
            if key.required:
                problems.append(Problem(_path(prefix, (key.name,)), _RULES["missing"]))
            values[key.name] = key.default
            continue
        value = data[key.name]
        wanted, error = _KIND_TYPES[key.kind]
        if value is None and key.nullable:
            values[key.name] = None
        elif not isinstance(value, wanted):
            problems.append(Problem(_path(prefix, (key.name,)), _RULES[error]))
        elif isinstance(value, dict):
            for k in value:
                if not isinstance(k, str):
                    problems.append(Problem(_path(prefix, (key.name, k, "[key]")), _RULES["string_type"]))
            values[key.name] = dict(value)
        else:
            values[key.name] = value
    if problems:
        raise InvalidInput(problems)
    return values


def validate(model: type[BaseModel], data: object, prefix: str) -> Any:
    """``model.model_validate(data)`` with pydantic errors turned into InvalidInput field paths."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(problems_from(exc, prefix)) from None


class HttpEvent(Protocol):
    """The keys both HTTP trigger events (Function URL, API Gateway) carry alike."""

    @property
    def httpMethod(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, Any] | None: ...
    @property
    def body(self) -> str | None: ...
    @property
    def isBase64Encoded(self) -> bool: ...


def validate_http(model: type[M], event: object) -> M:
    """``event`` as an HTTP trigger's model, or InvalidInput naming the malformed key."""
    parsed: M = validate(model, event, "")
    return parsed


def http_request(
    source: str,
    event: HttpEvent,
    query: Mapping[str, Any] | None,
    source_ip: str | None,
    request_id: str | None,
    cam_identity: str | None,
) -> HttpRequest:
    """The HttpRequest of a validated HTTP trigger event; the parts that differ are passed in."""
    return build_request(
        source=source,
        method=event.httpMethod,
        path=event.path,
        query=query,
        headers=event.headers,
        body=event.body,
        is_base64=event.isBase64Encoded,
        source_ip=source_ip,
        request_id=request_id,
        cam_identity=cam_identity,
    )


def problems_from(exc: ValidationError, prefix: str) -> list[Problem]:
    """One Problem per pydantic error, with a ``Records[2].CMQ.msgBody``-style path."""
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        problems.append(Problem(_path(prefix, err["loc"]), _RULES.get(err["type"], str(err["msg"]).lower())))
    return problems


def _path(prefix: str, loc: tuple[object, ...]) -> str:
    """``Records[2].CMQ.msgBody``: a key's path after ``prefix`` ("event" for the event itself)."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{int(part)}]"
        elif not str(part).startswith(("function-", "union[", "list[")):
            path = f"{path}.{part}" if path else str(part)
    return path or "event"


_RULES = {
    "missing": "is required",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "bool_type": "must be true or false",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "list_type": "must be a list",
    "string_too_long": "is too long",
    "literal_error": "has an unexpected value",
}

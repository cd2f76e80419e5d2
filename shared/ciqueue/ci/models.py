"""CI queue models (pydantic v2) read from and written to XML, and the documented update rules.

Attributes are snake_case; each one's XML element name is its alias (``Queue.model_fields``).
Models read from the wire are lenient: any text is accepted, unknown child elements are kept in
``extra`` (in order, xmltodict shapes) and written back unchanged. The rules (``check_update``,
``requested_notify_config``) judge only what a user asks for, never what the service returned.
The rules that differ by kind (Name length and charset, QueueID in the body, which callback Types
and elements a kind takes) come from the one table, ``ci.kinds.KIND_SPECS``; what a kind does not
take is refused naming the kind.

A write starts from a read and must carry back what every kind's update requires
(``CARRIED_BACK``): a read without it is a MalformedResponse from ``QueueUpdate.from_queue``, and
nothing is written (a PUT without NotifyConfig would wipe the callback).

An element present but empty (``<Url/>``) reads as None and is written back as ``<Url/>``; an
absent element stays absent (pydantic's ``model_fields_set`` remembers which were present).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal, NoReturn, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ciqueue.ci.kinds import KindSpec, QueueKind, notify_refusals, spec_for
from ciqueue.ci.netguard import check_callback_url
from ciqueue.ci.xmlcodec import Source, parse_root, render_xml
from ciqueue.constants import (
    DEFAULT_NOTIFY_EVENT,
    MQ_MODES,
    MQ_REGIONS,
    NOTIFY_EVENTS,
    NOTIFY_STATES,
    NOTIFY_TYPES,
    QUEUE_STATES,
    RESULT_FORMATS,
)
from ciqueue.errors import InvalidInput, MalformedResponse, Problem
from ciqueue.limits import MAX_QUEUE_NAME_LENGTH

__all__ = [
    "CARRIED_BACK",
    "READ_ONLY_ELEMENTS",
    "ActivatedBucket",
    "BucketListResult",
    "DescribeResult",
    "ErrorBody",
    "NotifyConfig",
    "Queue",
    "QueueUpdate",
    "UpdateResult",
    "check_notify_config",
    "check_update",
    "notify_config_off",
    "parse_bucket_list",
    "parse_describe",
    "parse_error",
    "parse_update",
    "parse_update_request",
    "render_bucket_list",
    "render_describe",
    "render_error",
    "render_update_response",
    "requested_notify_config",
]

# Elements the service owns: read, never written back in an update.
READ_ONLY_ELEMENTS = frozenset(
    {"QueueId", "QueueID", "MaxSize", "MaxConcurrent", "Category", "CreateTime", "UpdateTime", "BucketId"}
)

# What a PUT must carry back from its read, for every kind (reference ci-api.md §3.2 and §3.4:
# Name, State and NotifyConfig are required in each kind's update body). A kind whose body also
# carries QueueID (``kinds.KindSpec.queue_id_in_body``: doc) needs the read's QueueId too
# (``include_queue_id``). Name and State must have text; NotifyConfig must be present (an empty
# ``<NotifyConfig/>`` is written back as read).
CARRIED_BACK = ("Name", "State", "NotifyConfig")

NonExistShape = Literal["repeated", "nested"]

_M = TypeVar("_M", bound="XmlModel")


def _element(name: str) -> Any:
    # validation_alias (not alias) keeps the Python constructor keyword the snake_case name.
    return Field(default=None, validation_alias=name, serialization_alias=name)


def _shown(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


class _Reader:
    """Where a body came from, so a bad element becomes the right error with the right path."""

    def __init__(
        self, source: Source, what: str, status: int | None = None, request_id: str | None = None
    ) -> None:
        self.source = source
        self.what = what
        self.status = status
        self.request_id = request_id

    def fail(self, path: str, rule: str) -> NoReturn:
        if self.source == "request":
            raise InvalidInput(Problem(path or self.what, rule))
        where = f"{path} " if path else ""
        raise MalformedResponse(f"{self.what}: {where}{rule}", status=self.status, request_id=self.request_id)

    def text(self, value: Any, path: str) -> str | None:
        """The text of a simple element; attributes on it are dropped."""
        if value is None or value == "":
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # JSON seeds for the emulator
        if isinstance(value, dict) and all(k == "#text" or k.startswith("@") for k in value):
            text = value.get("#text")
            return text if isinstance(text, str) and text else None
        if isinstance(value, list):
            self.fail(path, f"must appear once (got {len(value)})")
        self.fail(path, "must be text, not child elements")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _rule_for(error: Any) -> str:
    kind = error.get("type", "")
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be an integer (got {_shown(error.get('input'))})"
    if kind == "missing":
        return "is missing"
    if kind == "string_type":
        return "must be text"
    return str(error.get("msg", "is invalid"))


# XmlModel subclass -> its XML element name -> field name map (see XmlModel._names).
_XML_NAMES: dict[type[XmlModel], dict[str, str]] = {}


class XmlModel(BaseModel):
    """A CI container element: known children as fields, unknown ones in ``extra``."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    extra: dict[str, Any] = Field(default_factory=dict)

    # Child containers read by another model: field name -> model.
    _NESTED: ClassVar[dict[str, type[XmlModel]]] = {}
    # Other spellings accepted on read (XML name -> field name), used when the main one is absent.
    _SYNONYMS: ClassVar[dict[str, str]] = {}

    @classmethod
    def xml_names(cls) -> dict[str, str]:
        """XML element name -> field name, in render order."""
        return dict(cls._names())

    @classmethod
    def _names(cls) -> dict[str, str]:
        # Read on every element of every body: worked out once per class (fields never change).
        names = _XML_NAMES.get(cls)
        if names is None:
            names = {}
            for field_name, info in cls.model_fields.items():
                if field_name != "extra" and isinstance(info.validation_alias, str):
                    names[info.validation_alias] = field_name
            _XML_NAMES[cls] = names
        return names

    @field_validator("extra")
    @classmethod
    def _extra_is_unknown_only(cls, extra: dict[str, Any]) -> dict[str, Any]:
        names = cls._names()
        clash = [k for k in extra if k in names or k in cls._SYNONYMS]
        if clash:
            raise ValueError(f"must not hold known elements ({', '.join(clash)})")
        return extra

    @classmethod
    def from_xml_dict(
        cls: type[_M], body: Any, path: str = "", *, source: Source = "request", what: str = "Request"
    ) -> _M:
        """Build from an xmltodict-shaped dict keyed by XML names (also JSON seeds)."""
        return cls._read(body, path, _Reader(source, what))

    @classmethod
    def _read(cls: type[_M], body: Any, path: str, reader: _Reader) -> _M:
        if body is None or body == "":
            body = {}
        if not isinstance(body, dict) or "#text" in body:
            reader.fail(path, "must hold child elements, not text")
        names = cls._names()
        data: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in body.items():
            field_name = names.get(key)
            if field_name is None and key in cls._SYNONYMS:
                field_name = cls._SYNONYMS[key]
                if field_name in data or cls._alias(field_name) in body:
                    continue  # the main spelling wins; the old one is not written back either
            if field_name is None:
                extra[key] = value
                continue
            data[field_name] = cls._read_field(field_name, value, _join(path, key), reader)
        data["extra"] = extra
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            loc = [cls._alias(str(part)) if isinstance(part, str) else f"[{part}]" for part in error["loc"]]
            where = ".".join(loc).replace(".[", "[")
            reader.fail(_join(path, where), _rule_for(error))

    @classmethod
    def _alias(cls, field_name: str) -> str:
        info = cls.model_fields.get(field_name)
        alias = info.validation_alias if info is not None else None
        return alias if isinstance(alias, str) else field_name

    @classmethod
    def _read_field(cls, field_name: str, value: Any, path: str, reader: _Reader) -> Any:
        nested = cls._NESTED.get(field_name)
        if nested is not None:
            if isinstance(value, list):
                reader.fail(path, f"must appear once (got {len(value)})")
            # An empty container reads as None like any empty element, so it re-renders as <X/>.
            return None if value is None or value == "" else nested._read(value, path, reader)
        return reader.text(value, path)

    def to_xml_dict(self) -> dict[str, Any]:
        """Known elements in order (set-but-empty ones as None), then the extras unchanged."""
        body: dict[str, Any] = {}
        for xml_name, field_name in self._names().items():
            value = getattr(self, field_name)
            if value is None and field_name not in self.model_fields_set:
                continue
            body[xml_name] = self._write_value(value)
        body.update(self.extra)
        return body

    @staticmethod
    def _write_value(value: Any) -> Any:
        if isinstance(value, XmlModel):
            return value.to_xml_dict() or None
        if isinstance(value, list):
            return [XmlModel._write_value(v) for v in value]
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value


class NotifyConfig(XmlModel):
    """Callback settings: Url or TDMQ (plus unknown children such as KafkaConfig, in ``extra``)."""

    url: str | None = _element("Url")
    event: str | None = _element("Event")
    type: str | None = _element("Type")
    state: str | None = _element("State")
    result_format: str | None = _element("ResultFormat")
    mq_mode: str | None = _element("MqMode")
    mq_name: str | None = _element("MqName")
    mq_region: str | None = _element("MqRegion")

    @property
    def effective_state(self) -> str:
        """State with CI's default (Off) applied."""
        return self.state or "Off"


class Queue(XmlModel):
    """One queue as the service describes it."""

    queue_id: str | None = _element("QueueId")
    name: str | None = _element("Name")
    state: str | None = _element("State")
    notify_config: NotifyConfig | None = _element("NotifyConfig")
    max_size: int | None = _element("MaxSize")
    max_concurrent: int | None = _element("MaxConcurrent")
    update_time: str | None = _element("UpdateTime")
    create_time: str | None = _element("CreateTime")
    category: str | None = _element("Category")
    bucket_id: str | None = _element("BucketId")

    _NESTED: ClassVar[dict[str, type[XmlModel]]] = {"notify_config": NotifyConfig}
    # Old docs (OLDQ) spell it QueueID inside QueueList.
    _SYNONYMS: ClassVar[dict[str, str]] = {"QueueID": "queue_id"}


class QueueUpdate(XmlModel):
    """The PUT ``<Request>`` body: the whole writable queue config."""

    name: str | None = _element("Name")
    queue_id: str | None = _element("QueueID")
    state: str | None = _element("State")
    notify_config: NotifyConfig | None = _element("NotifyConfig")

    _NESTED: ClassVar[dict[str, type[XmlModel]]] = {"notify_config": NotifyConfig}
    _SYNONYMS: ClassVar[dict[str, str]] = {"QueueId": "queue_id"}

    @classmethod
    def from_queue(
        cls, queue: Queue, include_queue_id: bool = False, *, request_id: str | None = None
    ) -> QueueUpdate:
        """The update that writes ``queue`` back as it is: extras carried, read-only elements not.

        MalformedResponse (with the read's ``request_id``) naming each CARRIED_BACK element
        (and QueueId with ``include_queue_id``) the read lacks: such a write would drop it.
        """
        lacking = [
            name
            for name, present in (
                ("Name", bool(queue.name)),
                ("State", bool(queue.state)),
                ("NotifyConfig", "notify_config" in queue.model_fields_set),
                ("QueueId", bool(queue.queue_id) or not include_queue_id),
            )
            if not present
        ]
        if lacking:
            elements = ", ".join(f"<{name}>" for name in lacking)
            raise MalformedResponse(
                f"queue {queue.queue_id or '?'} was read without {elements}, which its update must "
                "carry back; nothing written",
                request_id=request_id,
            )
        data: dict[str, Any] = {
            "name": queue.name,
            "state": queue.state,
            "extra": {k: v for k, v in queue.extra.items() if k not in READ_ONLY_ELEMENTS},
        }
        if queue.notify_config is not None or "notify_config" in queue.model_fields_set:
            data["notify_config"] = (
                queue.notify_config.model_copy(deep=True) if queue.notify_config is not None else None
            )
        if include_queue_id:
            data["queue_id"] = queue.queue_id
        return cls(**data)

    def to_xml(self) -> bytes:
        return render_xml("Request", self.to_xml_dict())


class DescribeResult(XmlModel):
    """A describe (list/search) response."""

    request_id: str | None = _element("RequestId")
    total_count: int | None = _element("TotalCount")
    page_number: int | None = _element("PageNumber")
    page_size: int | None = _element("PageSize")
    queues: list[Queue] = Field(
        default_factory=list, validation_alias="QueueList", serialization_alias="QueueList"
    )
    non_exist_pids: list[str] = Field(
        default_factory=list, validation_alias="NonExistPIDs", serialization_alias="NonExistPIDs"
    )

    @classmethod
    def _read_field(cls, field_name: str, value: Any, path: str, reader: _Reader) -> Any:
        if field_name == "queues":
            items = value if isinstance(value, list) else [value]
            # An empty <QueueList/> holds no queue.
            return [
                Queue._read(item, f"{path}[{i}]" if isinstance(value, list) else path, reader)
                for i, item in enumerate(items)
                if item is not None
            ]
        if field_name == "non_exist_pids":
            return _read_pids(value, path, reader)
        return super()._read_field(field_name, value, path, reader)

    def to_xml_dict(self, nonexist_shape: NonExistShape = "repeated") -> dict[str, Any]:
        body = super().to_xml_dict()
        if self.non_exist_pids and nonexist_shape == "nested":
            body["NonExistPIDs"] = {"QueueID": list(self.non_exist_pids)}
        return body


def _read_pids(value: Any, path: str, reader: _Reader) -> list[str]:
    """Both shapes: repeated ``<NonExistPIDs>id</NonExistPIDs>`` and nested ``<QueueID>`` children."""
    pids: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict) and set(item) <= {"QueueID", "QueueId"}:
            for inner in item.values():
                for pid in inner if isinstance(inner, list) else [inner]:
                    text = reader.text(pid, f"{path}.QueueID")
                    if text is not None:
                        pids.append(text)
            continue
        text = reader.text(item, path)
        if text is not None:
            pids.append(text)
    return pids


class UpdateResult(XmlModel):
    """An update response: the queue as stored after the PUT."""

    request_id: str | None = _element("RequestId")
    queue: Queue = Field(validation_alias="Queue", serialization_alias="Queue")

    _NESTED: ClassVar[dict[str, type[XmlModel]]] = {"queue": Queue}


class ErrorBody(XmlModel):
    """An error body: CI's ``<Error>`` (Code, Message, RequestId, TraceId) or COS's (+ Resource)."""

    code: str | None = _element("Code")
    message: str | None = _element("Message")
    resource: str | None = _element("Resource")
    request_id: str | None = _element("RequestId")
    trace_id: str | None = _element("TraceId")


# --- parse and render -------------------------------------------------------------------------


def parse_describe(
    xml: bytes | str, *, status: int | None = None, request_id: str | None = None
) -> DescribeResult:
    """A describe response; MalformedResponse naming the element when it cannot be read."""
    reader = _Reader("response", "DescribeQueues response", status, request_id)
    body = parse_root(xml, "Response", reader.what, status=status, request_id=request_id)
    return DescribeResult._read(body, "", reader)


def parse_update(
    xml: bytes | str, *, status: int | None = None, request_id: str | None = None
) -> UpdateResult:
    """An update response (``<Response><RequestId/><Queue>…</Queue></Response>``)."""
    reader = _Reader("response", "UpdateQueue response", status, request_id)
    body = parse_root(xml, "Response", reader.what, status=status, request_id=request_id)
    return UpdateResult._read(body, "", reader)


def parse_error(xml: bytes | str, *, status: int | None = None, request_id: str | None = None) -> ErrorBody:
    """An ``<Error>`` body; every element is optional (callers fall back to the HTTP status)."""
    reader = _Reader("response", "error response", status, request_id)
    body = parse_root(xml, "Error", reader.what, status=status, request_id=request_id)
    return ErrorBody._read(body, "", reader)


def parse_update_request(xml: bytes | str) -> QueueUpdate:
    """A PUT body as the emulator receives it: InvalidInput naming the element when unreadable.

    Lenient like the service's reader: the rules are applied separately (``check_update``).
    """
    body = parse_root(xml, "Request", "Request", source="request")
    return QueueUpdate._read(body, "", _Reader("request", "Request"))


def render_describe(result: DescribeResult, nonexist_shape: NonExistShape = "repeated") -> bytes:
    return render_xml("Response", result.to_xml_dict(nonexist_shape))


def render_update_response(result: UpdateResult) -> bytes:
    return render_xml("Response", result.to_xml_dict())


def render_error(body: ErrorBody) -> bytes:
    return render_xml("Error", body.to_xml_dict())


# --- the documented rules, for what a user asks for ---------------------------------------------

# CJK Unified Ideographs: the main block, Extension A and Extensions B to I (not the
# compatibility ideographs, which are not "unified").
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002a6df\U0002a700-\U0002ee5f\U00030000-\U000323af"
_NAME_CHAR = re.compile(f"[A-Za-z0-9_*\\-{_CJK}]")
_NAME_RULE = "may contain only Chinese characters, letters, digits, '_', '-' and '*'"
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


def _choices(values: tuple[str, ...]) -> str:
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return f"{values[0]} or {values[1]}"
    return "one of " + ", ".join(values)


def _name_problems(name: str | None, spec: KindSpec) -> list[Problem]:
    if not name:
        return [Problem("Name", "is required")]
    problems = []
    if len(name) > spec.name_max_length:
        # The kind is named where its limit is not the common one (doc queues: 100).
        where = "" if spec.name_max_length == MAX_QUEUE_NAME_LENGTH else f" for {spec.label}"
        problems.append(
            Problem("Name", f"must be at most {spec.name_max_length} characters{where} (got {len(name)})")
        )
    bad = next((c for c in name if not _NAME_CHAR.fullmatch(c)), None) if spec.name_charset else None
    if bad is not None:
        problems.append(Problem("Name", f"{_NAME_RULE} (found {bad!r})"))
    return problems


def _event_problem(event: str) -> str | None:
    entries = event.split(",")
    if any(entry == "" for entry in entries):
        return f"must not have empty entries in its comma-separated list (got {_shown(event)})"
    unknown = [entry for entry in entries if entry not in NOTIFY_EVENTS]
    if unknown:
        return f"must list only {' and '.join(NOTIFY_EVENTS)}, comma-separated (got {_shown(unknown[0])})"
    repeated = next((entry for i, entry in enumerate(entries) if entry in entries[:i]), None)
    if repeated is not None:
        return f"must not list an event twice ({repeated} is repeated)"
    return None


def _notify_problems(
    config: NotifyConfig, field: str, allow_private: bool, spec: KindSpec | None
) -> list[Problem]:
    """The shared rules, then (with ``spec``) what that kind does not take, in element order."""
    problems: list[Problem] = []

    def add(name: str, rule: str) -> None:
        problems.append(Problem(f"{field}.{name}", rule))

    def one_of(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
        if value and value not in allowed:
            add(name, f"must be {_choices(allowed)} (got {_shown(value)})")

    refused = dict(notify_refusals(spec.kind, config.to_xml_dict())) if spec is not None else {}
    types = spec.notify_types if spec is not None else NOTIFY_TYPES
    one_of("State", config.state, NOTIFY_STATES)
    on = config.state == "On"
    if on and not config.type:
        add("Type", f"is required when {field}.State is On ({_choices(types)})")
    one_of("Type", config.type, NOTIFY_TYPES)
    if "Type" in refused:
        add("Type", refused["Type"])
    if on and not config.event:
        add("Event", f"is required when {field}.State is On ({', '.join(NOTIFY_EVENTS)})")
    if config.event:
        event_rule = _event_problem(config.event)
        if event_rule is not None:
            add("Event", event_rule)
    one_of("ResultFormat", config.result_format, RESULT_FORMATS)
    if "ResultFormat" in refused:
        add("ResultFormat", refused["ResultFormat"])
    if on and config.type == "Url" and not config.url:
        add("Url", f"is required when {field}.Type is Url")
    if config.url:
        try:
            check_callback_url(config.url, f"{field}.Url", allow_private=allow_private)
        except InvalidInput as exc:
            problems.extend(exc.problems)
    # A TDMQ Type the kind refuses needs no Mq* elements: one problem says it.
    tdmq = on and config.type == "TDMQ" and "Type" not in refused
    for name, value in (
        ("MqMode", config.mq_mode),
        ("MqRegion", config.mq_region),
        ("MqName", config.mq_name),
    ):
        if tdmq and not value:
            add(name, f"is required when {field}.Type is TDMQ")
        if name in refused:
            add(name, refused[name])
    one_of("MqMode", config.mq_mode, MQ_MODES)
    one_of("MqRegion", config.mq_region, MQ_REGIONS)
    if config.mq_name and _SPACE_OR_CONTROL.search(config.mq_name):
        add("MqName", "must not contain whitespace or control characters")
    return problems


def check_notify_config(
    config: NotifyConfig,
    *,
    kind: str | QueueKind | None = None,
    allow_private: bool = False,
    field: str = "NotifyConfig",
) -> None:
    """Raise InvalidInput listing every documented rule ``config`` breaks.

    With ``kind``, also what that kind does not take ("doc queues take only Url"); without it,
    only the rules every kind shares (a callback asked for before its queues are known).
    """
    spec = spec_for(kind) if kind is not None else None
    problems = _notify_problems(config, field, allow_private, spec)
    if problems:
        raise InvalidInput(problems)


def check_update(
    update: QueueUpdate,
    *,
    kind: str | QueueKind,
    unchanged_from: Queue | None = None,
    allow_private: bool = False,
) -> None:
    """Raise InvalidInput listing every documented rule ``update`` breaks (nothing is sent then).

    ``kind`` picks the rules that differ by kind (``ci.kinds.KIND_SPECS``). With
    ``unchanged_from`` (the queue as the service returned it), values equal to the stored ones
    (Name, State, the whole NotifyConfig) are not judged: legacy values pass unchanged.
    """
    spec = spec_for(kind)
    problems: list[Problem] = []
    if unchanged_from is None or update.name != unchanged_from.name:
        problems.extend(_name_problems(update.name, spec))
    if spec.queue_id_in_body and not update.queue_id:
        problems.append(Problem("QueueID", f"is required for {spec.label}"))
    if unchanged_from is None or update.state != unchanged_from.state:
        if not update.state:
            problems.append(Problem("State", "is required"))
        elif update.state not in QUEUE_STATES:
            problems.append(
                Problem("State", f"must be {_choices(QUEUE_STATES)} (got {_shown(update.state)})")
            )
    notify = update.notify_config
    if unchanged_from is None or notify != unchanged_from.notify_config:
        if notify is None:
            problems.append(Problem("NotifyConfig", "is required (State Off turns callbacks off)"))
        else:
            problems.extend(_notify_problems(notify, "NotifyConfig", allow_private, spec))
    if problems:
        raise InvalidInput(problems)


def requested_notify_config(
    *,
    state: str = "On",
    type: str | None = None,
    url: str | None = None,
    event: str | None = None,
    result_format: str | None = None,
    mq_mode: str | None = None,
    mq_region: str | None = None,
    mq_name: str | None = None,
    kind: str | QueueKind | None = None,
    allow_private: bool = False,
) -> NotifyConfig:
    """A NotifyConfig a user asks for, judged by the rules now (InvalidInput listing all problems).

    With ``kind``, also by what that kind takes (``check_notify_config``).

    When ``state`` is On: ``event`` defaults to TaskFinish, and ``type`` to Url when only ``url``
    is given or to TDMQ when only TDMQ fields are.
    """
    if state == "On":
        event = event if event is not None else DEFAULT_NOTIFY_EVENT
        if type is None and url and not (mq_mode or mq_region or mq_name):
            type = "Url"
        elif type is None and not url and (mq_mode or mq_region or mq_name):
            type = "TDMQ"
    fields = {
        "State": state,
        "Type": type,
        "Url": url,
        "Event": event,
        "ResultFormat": result_format,
        "MqMode": mq_mode,
        "MqRegion": mq_region,
        "MqName": mq_name,
    }
    config = NotifyConfig.from_xml_dict(
        {k: v for k, v in fields.items() if v is not None},
        "NotifyConfig",
        source="request",
        what="NotifyConfig",
    )
    check_notify_config(config, kind=kind, allow_private=allow_private)
    return config


def notify_config_off() -> NotifyConfig:
    """The NotifyConfig that turns callbacks off."""
    return NotifyConfig(state="Off")


# --- bucket listing (GET /picbucket, /mediabucket, ... on ci.<Region>.myqcloud.com) -------------


class ActivatedBucket(XmlModel):
    """One bucket a kind's service is activated for (``PicBucketList``, ``MediaBucketList``, ...)."""

    bucket_id: str | None = _element("BucketId")
    name: str | None = _element("Name")
    region: str | None = _element("Region")
    create_time: str | None = _element("CreateTime")


class BucketListResult(XmlModel):
    """A bucket listing page. The list element is named per kind (``KindSpec.bucket_list_element``),
    so ``buckets`` is read and written by ``parse_bucket_list`` / ``render_bucket_list``."""

    request_id: str | None = _element("RequestId")
    total_count: int | None = _element("TotalCount")
    page_number: int | None = _element("PageNumber")
    page_size: int | None = _element("PageSize")
    buckets: list[ActivatedBucket] = Field(default_factory=list)

    def to_xml_dict_as(self, list_element: str) -> dict[str, Any]:
        body = self.to_xml_dict()
        if self.buckets:
            body[list_element] = [bucket.to_xml_dict() for bucket in self.buckets]
        return body


def parse_bucket_list(
    xml: bytes | str, list_element: str, *, status: int | None = None, request_id: str | None = None
) -> BucketListResult:
    """A bucket listing; ``<list_element>`` repeats once per bucket (an empty one holds none)."""
    reader = _Reader("response", f"{list_element} response", status, request_id)
    body = parse_root(xml, "Response", reader.what, status=status, request_id=request_id)
    if not isinstance(body, dict):
        body = {}
    rest = {k: v for k, v in body.items() if k != list_element}
    result = BucketListResult._read(rest, "", reader)
    raw = body.get(list_element)
    items = raw if isinstance(raw, list) else [raw]
    result.buckets = [
        ActivatedBucket._read(item, f"{list_element}[{i}]" if isinstance(raw, list) else list_element, reader)
        for i, item in enumerate(items)
        if item is not None and item != ""
    ]
    return result


def render_bucket_list(result: BucketListResult, list_element: str) -> bytes:
    return render_xml("Response", result.to_xml_dict_as(list_element))

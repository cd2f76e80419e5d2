"""CI queue models read from and written to XML, and the documented update rules.

The models are plain classes on a small base (``XmlModel``), not pydantic: they read the
service's replies and build PUT bodies, where no user input enters, and a cold SCF invocation
should not pay pydantic's import and model build for them (issue 12). Their rules:

- Attributes are snake_case; each one's XML element name is declared beside it
  (``Queue.xml_names()``: XML name -> attribute, in render order).
- A constructor takes attributes by keyword (an unknown one is a TypeError) of their annotated
  types: text or None, an int (or its text, read as below), a nested model (or a dict of its
  elements), a list of them; ``extra`` must not hold a known element (ValueError). A required
  one (``UpdateResult.queue``) missing is a ValueError. ``model_validate(mapping)`` takes XML
  names or attribute names the same way (an unknown key is a ValueError).
- ``model_fields_set`` is the set of attributes given (a read always gives ``extra``); assigning
  an attribute adds it. ``model_copy(update=..., deep=...)`` copies (nested models, lists and
  extras too with ``deep``) and sets the ``update`` values unchecked, adding them to the set.
- Two models are equal when they are of the same class with equal attributes; which were given
  does not matter (``<Url/>`` and no Url compare equal). Models are not hashable.

Models read from the wire are lenient: any text is accepted, unknown child elements are kept in
``extra`` (in order, xmltodict shapes) and written back unchanged. An integer element (MaxSize,
MaxConcurrent, TotalCount, PageNumber, PageSize) takes what pydantic's lax int took, so a reply
reads as it always has: optional surrounding whitespace, an optional sign, ASCII digits (leading
zeros and single underscores between digits allowed), an optional ``.0``-only fraction; more
than 4,300 digits is refused. A body that cannot be read is a MalformedResponse for a response
and an InvalidInput for a request, naming the element by its XML path; the first problem is
reported: one in the element structure (in body order), else the first integer or required
element that fails (in attribute order).

The rules (``check_update``, ``requested_notify_config``) judge only what a user asks for, never
what the service returned. The rules that differ by kind (Name length and charset, QueueID in the
body, which callback Types and elements a kind takes) come from the one table,
``ci.kinds.KIND_SPECS``; what a kind does not take is refused naming the kind.

A write starts from a read and must carry back what every kind's update requires
(``CARRIED_BACK``): a read without it is a MalformedResponse from ``QueueUpdate.from_queue``, and
nothing is written (a PUT without NotifyConfig would wipe the callback).

An element present but empty (``<Url/>``) reads as None and is written back as ``<Url/>``; an
absent element stays absent (``model_fields_set`` remembers which were present).
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal, NoReturn, TypeVar

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
    "ModelError",
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


class ModelError(ValueError):
    """A model built in code with a value its attribute does not take (a programming error)."""


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


# --- integers from text ---------------------------------------------------------------------------
# The rules pydantic 2's lax int applied to these elements before, kept so a reply reads exactly
# as it did (tests/ci/test_models.py holds the table): first the text as a JSON integer; failing
# that, a cleaned spelling (surrounding Unicode White_Space and one '+' dropped, leading zeros and
# single inner underscores removed, an all-zero fraction cut) as a JSON integer. A JSON-shaped
# digit run longer than MAX_INT_DIGITS in the text itself is "too large"; anything else unreadable
# is "not an integer".

MAX_INT_DIGITS = 4300  # CPython's default int_max_str_digits, which pydantic followed
_INT_TOO_LARGE = "Unable to parse input string as an integer, exceeded maximum size"
_JSON_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_LONG_RUN = re.compile(f"-?[1-9][0-9]{{{MAX_INT_DIGITS}}}")
# Unicode White_Space (what Rust's str::trim strips): str.strip() would also strip \x1c-\x1f.
_WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


class _NotAnInt(Exception):
    def __init__(self, too_large: bool) -> None:
        super().__init__()
        self.too_large = too_large


def _json_int(text: str) -> int | None:
    if _JSON_INT.fullmatch(text) and len(text.lstrip("-")) <= MAX_INT_DIGITS:
        return int(text)
    return None


def _without_leading_zeros(text: str) -> str | None:
    """Leading zeros (and underscores among them) dropped, one zero kept before a '.' or alone."""
    if not text:
        return None
    if text[0] != "0":
        return text if text[0] in "123456789-" else None
    for i in range(1, len(text)):
        char = text[i]
        if char in "0_":
            continue
        if char in "123456789-":
            return text[i:]
        if char == ".":
            return text[i - 1 :]
        return None
    return text[-1]


def _cleaned(original: str) -> str | None:
    """The spelling to read again, or None when cleaning changed nothing (or found a bad sign)."""
    text = original.strip(_WHITE_SPACE)
    if text.startswith("+"):
        if text[1:2] == "-":
            return None
        text = text[1:]
    sign = ""
    if text.startswith("-"):
        if text[1:2] in ("-", "+") and len(text) > 1:
            return None
        sign, text = "-", text[1:]
    stripped = _without_leading_zeros(text)
    if stripped is None:
        return None
    text = stripped
    dot = text.find(".")
    if dot >= 0 and len(text) > dot + 1 and not text[dot + 1 :].strip("0"):
        text = text[:dot]
    if "_" in text and text[0] != "_" and text[-1] != "_" and "__" not in text:
        return sign + text.replace("_", "")
    if len(text) == len(original):
        return None
    return sign + text


def _lax_int(text: str) -> int:
    if len(text) < 19 and text.isascii() and text.isdigit():
        return int(text)  # the common case, read the same by every rule below
    if _LONG_RUN.match(text):
        raise _NotAnInt(too_large=True)
    value = _json_int(text)
    if value is None:
        cleaned = _cleaned(text)
        value = _json_int(cleaned) if cleaned is not None else None
        if value is None:
            raise _NotAnInt(too_large=False)
    return value


def _int_rule(text: str, too_large: bool) -> str:
    return _INT_TOO_LARGE if too_large else f"must be an integer (got {_shown(text)})"


# --- the base -------------------------------------------------------------------------------------


class _Field:
    """One attribute: its XML element name (None: not read or written by name) and what it holds."""

    __slots__ = ("kind", "model", "name", "required", "xml")

    def __init__(self, xml: str | None, kind: str, model: type[XmlModel] | None = None) -> None:
        self.xml = xml
        self.kind = kind  # text, int, model, models, texts, extra
        self.model = model
        self.required = False
        self.name = ""

    def check(self, owner: type[XmlModel], value: Any) -> Any:
        """``value`` as the attribute holds it, or ModelError (a constructor's check)."""
        kind = self.kind
        if kind == "text":
            if value is None or isinstance(value, str):
                return value
            self._refuse(owner, "must be text or None")
        if kind == "int":
            if value is None or (isinstance(value, int) and not isinstance(value, bool)):
                return value
            if isinstance(value, str):
                try:
                    return _lax_int(value)
                except _NotAnInt as exc:
                    self._refuse(owner, _int_rule(value, exc.too_large))
            self._refuse(owner, "must be an integer or None")
        if kind == "model":
            if value is None and not self.required:
                return None
            return self._one(owner, value)
        if kind == "models":
            if isinstance(value, list):
                return [self._one(owner, item) for item in value]
            self._refuse(owner, "must be a list")
        if kind == "texts":
            if isinstance(value, list) and all(isinstance(item, str) for item in value):
                return value
            self._refuse(owner, "must be a list of text")
        if not isinstance(value, dict):
            self._refuse(owner, "must be a dict")
        clash = [k for k in value if k in owner._NAMES or k in owner._SYNONYMS]
        if clash:
            self._refuse(owner, f"must not hold known elements ({', '.join(clash)})")
        return value

    def _one(self, owner: type[XmlModel], value: Any) -> XmlModel:
        assert self.model is not None
        if isinstance(value, self.model):
            return value
        if isinstance(value, Mapping):
            return self.model.model_validate(value)
        self._refuse(owner, f"must be a {self.model.__name__}")

    def _refuse(self, owner: type[XmlModel], rule: str) -> NoReturn:
        raise ModelError(f"{owner.__name__}: {self.name} {rule}")


def _text(xml: str) -> Any:
    return _Field(xml, "text")


def _int(xml: str) -> Any:
    return _Field(xml, "int")


def _model(xml: str, model: type[XmlModel], *, required: bool = False) -> Any:
    field = _Field(xml, "model", model)
    field.required = required
    return field


def _models(xml: str | None, model: type[XmlModel]) -> Any:
    return _Field(xml, "models", model)


def _texts(xml: str) -> Any:
    return _Field(xml, "texts")


_FACTORIES: dict[str, Callable[[], Any]] = {"models": list, "texts": list, "extra": dict}


class XmlModel:
    """A CI container element: known children as attributes, unknown ones in ``extra``.

    A subclass declares each attribute as ``name: type = _text("Xml")`` (``_int``, ``_model``,
    ``_models``, ``_texts``); the declarations become the class's field table, and the class
    attribute the default (None; a list or ``extra`` is made per instance).
    """

    extra: dict[str, Any]

    # Attribute name -> field, in order (``extra`` first); XML name -> attribute, in render order.
    _FIELDS: ClassVar[dict[str, _Field]] = {"extra": _Field(None, "extra")}
    _NAMES: ClassVar[dict[str, str]] = {}
    # What a read still checks once the elements are taken, in attribute order: ints, required.
    _CHECKED: ClassVar[tuple[_Field, ...]] = ()
    # Attributes made per instance when not given: (name, factory).
    _MADE: ClassVar[tuple[tuple[str, Callable[[], Any]], ...]] = (("extra", dict),)
    # Attributes read as an element's text (text and int): a non-empty string is taken as is.
    _PLAIN: ClassVar[frozenset[str]] = frozenset()
    # Other spellings accepted on read (XML name -> attribute), used when the main one is absent.
    _SYNONYMS: ClassVar[dict[str, str]] = {}

    __hash__: ClassVar[None]  # type: ignore[assignment]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = dict(cls._FIELDS)
        for name, value in list(vars(cls).items()):
            if isinstance(value, _Field):
                value.name = name
                fields[name] = value
                setattr(cls, name, None)
        fields["extra"].name = "extra"
        cls._FIELDS = fields
        cls._NAMES = {f.xml: name for name, f in fields.items() if f.xml is not None}
        cls._CHECKED = tuple(f for f in fields.values() if f.kind == "int" or f.required)
        cls._MADE = tuple((name, _FACTORIES[f.kind]) for name, f in fields.items() if f.kind in _FACTORIES)
        cls._PLAIN = frozenset(name for name, f in fields.items() if f.kind in ("text", "int"))

    def __init__(self, **data: Any) -> None:
        cls = type(self)
        fields = cls._FIELDS
        for name in data:
            if name not in fields:
                raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {name!r}")
        values: dict[str, Any] = {}
        for name, field in fields.items():  # in attribute order: the first problem is reported
            if name in data:
                values[name] = field.check(cls, data[name])
            elif field.required:
                raise ModelError(f"{cls.__name__}: {name} is missing")
        self._fill(values)

    def _fill(self, values: dict[str, Any]) -> None:
        state = self.__dict__
        state.update(values)
        for name, factory in self._MADE:
            if name not in values:
                state[name] = factory()
        state["_fields_set"] = set(values)

    @classmethod
    def _made(cls: type[_M], values: dict[str, Any]) -> _M:
        """An instance from values already read and checked (the read path: no constructor)."""
        model = cls.__new__(cls)
        model._fill(values)
        return model

    @classmethod
    def model_validate(cls: type[_M], data: Any) -> _M:
        """From a mapping keyed by XML names or attribute names (an instance is returned as is)."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            raise ModelError(f"{cls.__name__}: must be a mapping of its elements (got {type(data).__name__})")
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = key if key in cls._FIELDS else cls._NAMES.get(key)
            if name is None:
                raise ModelError(f"{cls.__name__}: {key} is not one of its elements")
            values[name] = value
        return cls(**values)

    @property
    def model_fields_set(self) -> set[str]:
        """The attributes given (read, passed, copied in or assigned)."""
        fields_set: set[str] = self.__dict__["_fields_set"]
        return fields_set

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._FIELDS:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
        self.__dict__[name] = value
        self.__dict__["_fields_set"].add(name)

    def model_copy(self: _M, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> _M:
        """A copy (``deep``: nested models, lists and extras copied too) with ``update`` set as
        given, unchecked; its keys join ``model_fields_set``."""
        cls = type(self)
        copied = cls.__new__(cls)
        state = copied.__dict__
        if deep:
            state.update({name: _deep(value) for name, value in self.__dict__.items()})
        else:
            state.update(self.__dict__)
        state["_fields_set"] = set(self.__dict__["_fields_set"])
        if update:
            unknown = [name for name in update if name not in cls._FIELDS]
            if unknown:
                raise TypeError(f"{cls.__name__}.model_copy() got unknown attributes {unknown}")
            state.update(update)
            state["_fields_set"].update(update)
        return copied

    def model_dump(self, *, mode: str = "python") -> dict[str, Any]:
        """Attribute name -> value, nested models as dicts (the same in either ``mode``)."""
        return {name: _dumped(getattr(self, name)) for name in self._FIELDS}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, XmlModel):
            return NotImplemented
        if type(other) is not type(self):
            return False
        return all(getattr(self, name) == getattr(other, name) for name in self._FIELDS)

    def __repr__(self) -> str:
        given = self.__dict__["_fields_set"]
        shown = [
            f"{name}={getattr(self, name)!r}"
            for name in self._FIELDS
            if name != "extra" and (name in given or getattr(self, name) not in (None, []))
        ]
        if self.extra:
            shown.append(f"extra={self.extra!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    @classmethod
    def xml_names(cls) -> dict[str, str]:
        """XML element name -> attribute name, in render order."""
        return dict(cls._NAMES)

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
        names = cls._NAMES
        plain = cls._PLAIN
        data: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in body.items():
            field_name = names.get(key)
            if field_name in plain and type(value) is str and value:
                data[field_name] = value  # what _Reader.text returns for it, without the call
                continue
            if field_name is None and key in cls._SYNONYMS:
                field_name = cls._SYNONYMS[key]
                if field_name in data or cls._FIELDS[field_name].xml in body:
                    continue  # the main spelling wins; the old one is not written back either
            if field_name is None:
                extra[key] = value
                continue
            data[field_name] = cls._read_field(field_name, value, _join(path, key), reader)
        data["extra"] = extra
        for field in cls._CHECKED:
            where = _join(path, field.xml or field.name)
            if field.kind == "int":
                text = data.get(field.name)
                if text is not None:
                    try:
                        data[field.name] = _lax_int(text)
                    except _NotAnInt as exc:
                        reader.fail(where, _int_rule(text, exc.too_large))
            elif field.name not in data:
                reader.fail(where, "is missing")
            elif data[field.name] is None:
                assert field.model is not None
                reader.fail(where, "must hold child elements (it is empty)")
        return cls._made(data)

    @classmethod
    def _read_field(cls, field_name: str, value: Any, path: str, reader: _Reader) -> Any:
        nested = cls._FIELDS[field_name].model
        if nested is not None and cls._FIELDS[field_name].kind == "model":
            if isinstance(value, list):
                reader.fail(path, f"must appear once (got {len(value)})")
            # An empty container reads as None like any empty element, so it re-renders as <X/>.
            return None if value is None or value == "" else nested._read(value, path, reader)
        return reader.text(value, path)

    def to_xml_dict(self) -> dict[str, Any]:
        """Known elements in order (set-but-empty ones as None), then the extras unchanged."""
        body: dict[str, Any] = {}
        given = self.__dict__["_fields_set"]
        for xml_name, field_name in self._NAMES.items():
            value = getattr(self, field_name)
            if value is None and field_name not in given:
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


def _deep(value: Any) -> Any:
    if isinstance(value, XmlModel):
        return value.model_copy(deep=True)
    if isinstance(value, list):
        return [_deep(item) for item in value]
    if isinstance(value, (dict, set)):
        return copy.deepcopy(value)
    return value  # text, int, None


def _dumped(value: Any) -> Any:
    if isinstance(value, XmlModel):
        return value.model_dump()
    if isinstance(value, list):
        return [_dumped(item) for item in value]
    if isinstance(value, dict):
        return copy.deepcopy(value)
    return value


class NotifyConfig(XmlModel):
    """Callback settings: Url or TDMQ (plus unknown children such as KafkaConfig, in ``extra``)."""

    url: str | None = _text("Url")
    event: str | None = _text("Event")
    type: str | None = _text("Type")
    state: str | None = _text("State")
    result_format: str | None = _text("ResultFormat")
    mq_mode: str | None = _text("MqMode")
    mq_name: str | None = _text("MqName")
    mq_region: str | None = _text("MqRegion")

    @property
    def effective_state(self) -> str:
        """State with CI's default (Off) applied."""
        return self.state or "Off"


class Queue(XmlModel):
    """One queue as the service describes it."""

    queue_id: str | None = _text("QueueId")
    name: str | None = _text("Name")
    state: str | None = _text("State")
    notify_config: NotifyConfig | None = _model("NotifyConfig", NotifyConfig)
    max_size: int | None = _int("MaxSize")
    max_concurrent: int | None = _int("MaxConcurrent")
    update_time: str | None = _text("UpdateTime")
    create_time: str | None = _text("CreateTime")
    category: str | None = _text("Category")
    bucket_id: str | None = _text("BucketId")

    # Old docs (OLDQ) spell it QueueID inside QueueList.
    _SYNONYMS: ClassVar[dict[str, str]] = {"QueueID": "queue_id"}


class QueueUpdate(XmlModel):
    """The PUT ``<Request>`` body: the whole writable queue config."""

    name: str | None = _text("Name")
    queue_id: str | None = _text("QueueID")
    state: str | None = _text("State")
    notify_config: NotifyConfig | None = _model("NotifyConfig", NotifyConfig)

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

    request_id: str | None = _text("RequestId")
    total_count: int | None = _int("TotalCount")
    page_number: int | None = _int("PageNumber")
    page_size: int | None = _int("PageSize")
    queues: list[Queue] = _models("QueueList", Queue)
    non_exist_pids: list[str] = _texts("NonExistPIDs")

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

    request_id: str | None = _text("RequestId")
    queue: Queue = _model("Queue", Queue, required=True)


class ErrorBody(XmlModel):
    """An error body: CI's ``<Error>`` (Code, Message, RequestId, TraceId) or COS's (+ Resource)."""

    code: str | None = _text("Code")
    message: str | None = _text("Message")
    resource: str | None = _text("Resource")
    request_id: str | None = _text("RequestId")
    trace_id: str | None = _text("TraceId")


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


@functools.cache
def _name_char() -> re.Pattern[str]:
    # Compiled on first use (about 2.5 ms for the CJK ranges): a pause or resume carries its Name
    # back unchanged and never judges it.
    return re.compile(f"[A-Za-z0-9_*\\-{_CJK}]")


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
    name_char = _name_char() if spec.name_charset else None
    bad = next((c for c in name if not name_char.fullmatch(c)), None) if name_char is not None else None
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

    bucket_id: str | None = _text("BucketId")
    name: str | None = _text("Name")
    region: str | None = _text("Region")
    create_time: str | None = _text("CreateTime")


class BucketListResult(XmlModel):
    """A bucket listing page. The list element is named per kind (``KindSpec.bucket_list_element``),
    so ``buckets`` is read and written by ``parse_bucket_list`` / ``render_bucket_list``."""

    request_id: str | None = _text("RequestId")
    total_count: int | None = _int("TotalCount")
    page_number: int | None = _int("PageNumber")
    page_size: int | None = _int("PageSize")
    buckets: list[ActivatedBucket] = _models(None, ActivatedBucket)

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

"""The one command schema shared by the HTTP API, a timer's Message and event payloads.

``parse_command`` judges a command's shape and field rules and names the exact field path of
every broken rule. ``until`` is an ISO 8601 time with an offset, or ``"cancelled"``: an override
with no end, which pins the queue until someone cancels it (``cancel_override``). A callback is
also judged by what the kinds of the queues it names take (``ci.kinds.notify_refusals``:
"callback.type: doc queues take only Url (got 'TDMQ')"); queues a ``target`` stands for are
judged when the executor knows them, before anything is written. Rules that need the clock (is
``until`` in the future?) live in ``resolve_expiry``, which takes ``now`` so that parsing stays
pure.

Every rule is judged here, by hand, so that each door gets the same verdict and wording; what
``parse_command`` returns (``Command``, ``QueueRef``, ``Callback``) are frozen dataclasses holding
values already judged. They were pydantic models that only carried those values, and building
their schemas was a cold timer's or HTTP request's largest cost after the imports themselves
(bench/bench_first_invocation.py). Code outside this module builds a ``QueueRef`` only from
values a door has judged (a listing's ids, a config's targets).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from ciqueue.ci.identifiers import QueueKind, bucket_problem, parse_kind, queue_id_problem, region_problem
from ciqueue.ci.kinds import notify_refusals
from ciqueue.constants import (
    CALLBACK_FIELD_ELEMENTS,
    DEFAULT_NOTIFY_EVENT,
    MQ_MODES,
    MQ_REGIONS,
    NOTIFY_EVENTS,
    NOTIFY_TYPES,
    RESULT_FORMATS,
)
from ciqueue.errors import InvalidInput, Problem, key_path
from ciqueue.jsontext import json_type_name, load_json_object
from ciqueue.limits import (
    MAX_MQ_NAME_LENGTH,
    MAX_OVERRIDE_DURATION,
    MAX_QUEUES_PER_COMMAND,
    MAX_REASON_LENGTH,
)
from ciqueue.records import asdict, dataclass
from ciqueue.timefmt import DURATION_RULE, format_duration, parse_duration, parse_instant

Action = Literal["pause", "resume", "set_callback", "cancel_override", "reconcile"]
ACTIONS: tuple[Action, ...] = ("pause", "resume", "set_callback", "cancel_override", "reconcile")
OVERRIDE_ACTIONS = ("pause", "resume")
# ``until`` of an override that lasts until someone cancels it.
UNTIL_CANCELLED = "cancelled"


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

_FIELDS = ("action", "queues", "target", "reason", "until", "for", "callback", "override_id", "id")
_QUEUE_FIELDS = ("bucket", "region", "kind", "queue_id")
_CALLBACK_FIELDS = ("state", "type", "url", "event", "format", "mq_mode", "mq_region", "mq_name")


@dataclass(frozen=True)
class QueueRef:
    """One CI queue: bucket (``name-appid``), region, kind and queue id (judged by ``parse_command``)."""

    bucket: str
    region: str
    kind: QueueKind = QueueKind.PIC
    queue_id: str = ""

    def key(self) -> str:
        return f"{self.bucket}/{self.region}/{self.kind.value}/{self.queue_id}"

    def to_dict(self) -> dict[str, str]:
        """The JSON form, as a command's ``queues`` entry takes it."""
        return {
            "bucket": self.bucket,
            "region": self.region,
            "kind": self.kind.value,
            "queue_id": self.queue_id,
        }


@dataclass(frozen=True)
class Callback:
    """A requested NotifyConfig: ``state="Off"``, or ``type`` Url (url) or TDMQ (mq_*)."""

    state: Literal["On", "Off"] = "On"
    type: str | None = None
    url: str | None = None
    event: str | None = None
    format: str | None = None
    mq_mode: str | None = None
    mq_region: str | None = None
    mq_name: str | None = None

    def notify_fields(self) -> dict[str, str]:
        """The given values under the field names of ``models.NotifyConfig``."""
        fields = {
            "state": self.state,
            "type": self.type,
            "url": self.url,
            "event": self.event,
            "result_format": self.format,
            "mq_mode": self.mq_mode,
            "mq_region": self.mq_region,
            "mq_name": self.mq_name,
        }
        return {k: v for k, v in fields.items() if v is not None}

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Command:
    """A validated command (only ``parse_command`` judges; these are its results). ``for_`` is the
    ``for`` field of the JSON schema."""

    action: Action
    queues: tuple[QueueRef, ...] = ()
    target: str | None = None
    reason: str | None = None
    until: datetime | None = None
    until_cancelled: bool = False  # ``"until": "cancelled"``: an override with no end
    for_: timedelta | None = None
    callback: Callback | None = None
    override_id: str | None = None
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; ``parse_command(cmd.to_dict()) == cmd``."""
        out: dict[str, Any] = {"action": self.action}
        if self.queues:
            out["queues"] = [q.to_dict() for q in self.queues]
        for name in ("target", "reason", "override_id", "id"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.until is not None:
            out["until"] = self.until.isoformat()
        if self.until_cancelled:
            out["until"] = UNTIL_CANCELLED
        if self.for_ is not None:
            out["for"] = format_duration(self.for_)
        if self.callback is not None:
            out["callback"] = self.callback.to_dict()
        return out


def parse_command(
    data: Mapping[str, Any] | str | bytes, field_prefix: str = "", *, allow_private: bool = False
) -> Command:
    """Judge ``data`` (a dict or JSON text) and return a Command, or raise InvalidInput.

    Every broken rule is reported at once, each under its path joined to ``field_prefix``
    (``Records[0].CMQ.msgBody`` gives ``Records[0].CMQ.msgBody.queues[1].kind``).
    ``allow_private`` lets callback URLs point at private hosts (local mode only).
    """
    root = field_prefix or "command"
    # Already-decoded JSON that is not an object (a list, a number, null) is judged, not decoded.
    obj: Any = load_json_object(data, root) if isinstance(data, (str, bytes)) else data
    if not isinstance(obj, Mapping):
        raise InvalidInput(root, f"must be a JSON object (got {json_type_name(obj)})")
    v = _Judge(field_prefix)
    for key in obj:
        if key not in _FIELDS:
            v.fail(key_path("", key), f"is not a known field (known: {', '.join(_FIELDS)})")

    action = v.choice(obj, "action", ACTIONS, required=True)
    queues = _queues(v, obj.get("queues"))
    target = v.pattern(obj, "target", _NAME_RE, "must be a group name of letters, digits, _ . - (1-64)")
    reason = _reason(v, obj.get("reason"))
    until_cancelled = obj.get("until") == UNTIL_CANCELLED
    until = None if until_cancelled else _until(v, obj.get("until"))
    duration = _duration(v, obj.get("for"))
    callback = _callback(v, obj.get("callback"), allow_private, [q.kind for q in queues])
    override_id = v.pattern(obj, "override_id", _KEY_RE, "must be 1-128 of letters, digits, _ . : -")
    command_id = v.pattern(obj, "id", _KEY_RE, "must be 1-128 of letters, digits, _ . : -")

    if action is not None:
        _action_rules(v, obj, action)
    if "until" in obj and "for" in obj:
        v.fail("for", "cannot be combined with until (give one of them)")
    v.raise_if_failed()  # so ``action`` is one of ACTIONS below
    return Command(
        action=cast(Action, action),
        queues=tuple(queues),
        target=target,
        reason=reason,
        until=until,
        until_cancelled=until_cancelled,
        for_=duration,
        callback=callback,
        override_id=override_id,
        id=command_id,
    )


def resolve_expiry(command: Command, now: datetime) -> datetime | None:
    """When the override a pause/resume creates ends: ``until``, ``now + for`` or None (no end:
    no override at all, or one ``until_cancelled``).

    ``now`` must be timezone-aware. Raises InvalidInput when ``until`` is not in the future or
    lies more than 7 days ahead.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if command.for_ is not None:
        return now + command.for_
    if command.until is None:
        return None
    if command.until <= now:
        raise InvalidInput("until", f"must be in the future (got {command.until.isoformat()})")
    if command.until - now > MAX_OVERRIDE_DURATION:
        raise InvalidInput("until", f"must be at most {format_duration(MAX_OVERRIDE_DURATION)} ahead")
    return command.until


class _Judge:
    """Collects problems under a field prefix so that one pass reports every broken rule."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.problems: list[Problem] = []

    def path(self, name: str) -> str:
        if not self.prefix:
            return name
        return f"{self.prefix}{name}" if name.startswith("[") else f"{self.prefix}.{name}"

    def fail(self, name: str, rule: str) -> None:
        self.problems.append(Problem(self.path(name), rule))

    def raise_if_failed(self) -> None:
        if self.problems:
            raise InvalidInput(self.problems)

    def string(self, obj: Mapping[str, Any], key: str, name: str | None = None) -> str | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(name or key, f"must be a string (got {json_type_name(value)})")
            return None
        return value

    def choice(
        self,
        obj: Mapping[str, Any],
        key: str,
        choices: tuple[str, ...],
        *,
        name: str | None = None,
        required: bool = False,
    ) -> str | None:
        name = name or key
        value = self.string(obj, key, name)
        if value is None:
            if required and obj.get(key) is None:
                self.fail(name, f"is required (one of {', '.join(choices)})")
            return None
        if value not in choices:
            self.fail(name, f"must be one of {', '.join(choices)} (got {_show(value)})")
            return None
        return value

    def identifier(
        self, obj: Mapping[str, Any], key: str, problem_of: Callable[[object, str], Problem | None], name: str
    ) -> str | None:
        """A string judged by a rule of ``ciqueue.ci.identifiers`` (its own wording, our field path)."""
        value = self.string(obj, key, name)
        if value is None:
            return None
        problem = problem_of(value, self.path(name))
        if problem is not None:
            self.problems.append(problem)
            return None
        return value

    def pattern(
        self, obj: Mapping[str, Any], key: str, regex: re.Pattern[str], rule: str, name: str | None = None
    ) -> str | None:
        name = name or key
        value = self.string(obj, key, name)
        if value is None:
            return None
        if not regex.match(value):
            self.fail(name, f"{rule} (got {_show(value)})")
            return None
        return value


def _queues(v: _Judge, value: Any) -> list[QueueRef]:
    if value is None:
        return []
    if not isinstance(value, list):
        v.fail("queues", f"must be a list (got {json_type_name(value)})")
        return []
    if not value:
        v.fail("queues", "must hold at least one queue (leave it out to use only target)")
        return []
    if len(value) > MAX_QUEUES_PER_COMMAND:
        v.fail("queues", f"must hold at most {MAX_QUEUES_PER_COMMAND} queues (got {len(value)})")
        return []
    refs: list[QueueRef] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(value):
        name = f"queues[{i}]"
        if not isinstance(item, Mapping):
            v.fail(name, f"must be an object (got {json_type_name(item)})")
            continue
        before = len(v.problems)
        for key in item:
            if key not in _QUEUE_FIELDS:
                v.fail(key_path(name, key), f"is not a known field (known: {', '.join(_QUEUE_FIELDS)})")
        fields: dict[str, str | None] = {}
        for key, problem_of in (
            ("bucket", bucket_problem),
            ("region", region_problem),
            ("queue_id", queue_id_problem),
        ):
            if item.get(key) is None:
                v.fail(f"{name}.{key}", "is required")
            fields[key] = v.identifier(item, key, problem_of, f"{name}.{key}")
        kind = QueueKind.PIC
        kind_text = v.string(item, "kind", f"{name}.kind")
        if kind_text is not None:
            try:
                kind = parse_kind(kind_text, v.path(f"{name}.kind"))
            except InvalidInput as exc:
                v.problems.extend(exc.problems)
        if len(v.problems) > before:
            continue
        ref = QueueRef(
            bucket=fields["bucket"] or "",
            region=fields["region"] or "",
            kind=kind,
            queue_id=fields["queue_id"] or "",
        )
        if ref.key() in seen:
            v.fail(name, f"duplicates queues[{seen[ref.key()]}]")
            continue
        seen[ref.key()] = i
        refs.append(ref)
    return refs


def _reason(v: _Judge, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        v.fail("reason", f"must be a string (got {json_type_name(value)})")
        return None
    if len(value) > MAX_REASON_LENGTH:
        v.fail("reason", f"must be at most {MAX_REASON_LENGTH} characters (got {len(value)})")
        return None
    if _CONTROL_RE.search(value):
        v.fail("reason", "must not contain control characters (newlines, tabs)")
        return None
    return value


def _until(v: _Judge, value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        v.fail("until", f"must be an ISO 8601 time string (got {json_type_name(value)})")
        return None
    try:
        moment = parse_instant(value) if "T" in value or " " in value else None
    except ValueError:
        moment = None
    if moment is None:
        v.fail(
            "until",
            f"must be an ISO 8601 time like 2025-06-01T08:00:00+08:00, or {UNTIL_CANCELLED!r} "
            f"(got {_show(value)})",
        )
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        v.fail("until", f"must carry a UTC offset, like +08:00 or Z (got {_show(value)})")
        return None
    return moment


def _duration(v: _Judge, value: Any) -> timedelta | None:
    if value is None:
        return None
    rule = DURATION_RULE
    if not isinstance(value, str):
        v.fail("for", f"{rule} (got {json_type_name(value)})")
        return None
    duration = parse_duration(value)
    if duration is None:
        v.fail("for", f"{rule} (got {_show(value)})")
        return None
    if duration <= timedelta(0):
        v.fail("for", f"must be longer than 0s (got {_show(value)})")
        return None
    if duration > MAX_OVERRIDE_DURATION:
        v.fail("for", f"must be at most {format_duration(MAX_OVERRIDE_DURATION)} (got {_show(value)})")
        return None
    return duration


def _callback(v: _Judge, value: Any, allow_private: bool, kinds: list[QueueKind]) -> Callback | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        v.fail("callback", f"must be an object (got {json_type_name(value)})")
        return None
    before = len(v.problems)
    for key in value:
        if key not in _CALLBACK_FIELDS:
            v.fail(key_path("callback", key), f"is not a known field (known: {', '.join(_CALLBACK_FIELDS)})")
    state = "On"
    if value.get("state") is not None:
        state = v.choice(value, "state", ("On", "Off"), name="callback.state") or ""
        if not state:
            return None
    if state == "Off":
        extra = [k for k in value if k != "state"]
        if extra:
            v.fail(f"callback.{extra[0]}", 'is not allowed with state "Off"')
        return None if len(v.problems) > before else Callback(state="Off")

    type_ = v.choice(value, "type", NOTIFY_TYPES, name="callback.type", required=True)
    event = _events(v, value.get("event"))
    fmt = v.choice(value, "format", RESULT_FORMATS, name="callback.format")
    url = mq_mode = mq_region = mq_name = None
    url_only, mq_only = ("url",), ("mq_mode", "mq_region", "mq_name")
    if type_ == "Url":
        url = v.string(value, "url", "callback.url")
        if url is None and value.get("url") is None:
            v.fail("callback.url", "is required when type is Url")
        elif url is not None:
            url = _callback_url(v, url, allow_private)
        for key in mq_only:
            if key in value:
                v.fail(f"callback.{key}", "is only allowed when type is TDMQ")
    elif type_ == "TDMQ":
        mq_mode = v.choice(value, "mq_mode", MQ_MODES, name="callback.mq_mode") or "Queue"
        mq_region = v.choice(value, "mq_region", MQ_REGIONS, name="callback.mq_region", required=True)
        mq_name = v.string(value, "mq_name", "callback.mq_name")
        if value.get("mq_name") is None:
            v.fail("callback.mq_name", "is required when type is TDMQ")
        elif mq_name is not None and not (0 < len(mq_name) <= MAX_MQ_NAME_LENGTH):
            v.fail("callback.mq_name", f"must be 1-{MAX_MQ_NAME_LENGTH} characters (got {len(mq_name)})")
        for key in url_only:
            if key in value:
                v.fail(f"callback.{key}", "is only allowed when type is Url")
    if len(v.problems) > before:
        return None
    # What the user gave (not the defaults filled in above), judged by each kind named.
    given = {e: value.get(k) for k, e in CALLBACK_FIELD_ELEMENTS.items() if k not in ("state", "event")}
    field_of = {e: k for k, e in CALLBACK_FIELD_ELEMENTS.items()}
    for kind in dict.fromkeys(kinds):
        for element, rule in notify_refusals(kind, given):
            v.fail(f"callback.{field_of[element]}", rule)
    if len(v.problems) > before:
        return None
    return Callback(
        state="On",
        type=type_,
        url=url,
        event=event,
        format=fmt,
        mq_mode=mq_mode,
        mq_region=mq_region,
        mq_name=mq_name,
    )


def _events(v: _Judge, value: Any) -> str | None:
    """``event`` as a list or a comma-separated string; stored comma-joined, as CI takes it."""
    rule = f"must be one or more of {', '.join(NOTIFY_EVENTS)}"
    if value is None:
        return DEFAULT_NOTIFY_EVENT  # as the CLI, the config and the library default it
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, list) and all(isinstance(x, str) for x in value):
        items = list(value)
    else:
        v.fail("callback.event", f"{rule}, as a string or a list of strings (got {json_type_name(value)})")
        return None
    bad = [x for x in items if x not in NOTIFY_EVENTS]
    if not items or bad:
        v.fail("callback.event", f"{rule} (got {_show(bad[0] if bad else '')})")
        return None
    return ",".join(dict.fromkeys(items))


def _callback_url(v: _Judge, url: str, allow_private: bool) -> str | None:
    from ciqueue.ci.netguard import check_callback_url  # the guard is shared with models and the emulator

    try:
        check_callback_url(url, v.path("callback.url"), allow_private=allow_private)
    except InvalidInput as exc:
        v.problems.extend(exc.problems)
        return None
    return url


def _action_rules(v: _Judge, obj: Mapping[str, Any], action: str) -> None:
    """Which fields each action needs and which it refuses."""
    has_scope = obj.get("queues") is not None or obj.get("target") is not None
    if action in ("pause", "resume", "set_callback") and not has_scope:
        v.fail("queues", f"is required for {action} (give queues, target or both)")
    if action == "cancel_override":
        if obj.get("override_id") is None:
            v.fail("override_id", "is required for cancel_override")
        for key in ("queues", "target"):
            if key in obj:
                v.fail(key, "is not allowed with cancel_override (the override names its queues)")
    elif "override_id" in obj:
        v.fail("override_id", "is only allowed with cancel_override")
    if action == "set_callback":
        if obj.get("callback") is None:
            v.fail("callback", "is required for set_callback")
    elif "callback" in obj:
        v.fail("callback", "is only allowed with set_callback")
    if action not in OVERRIDE_ACTIONS:
        for key in ("until", "for"):
            if key in obj:
                v.fail(key, "is only allowed with pause or resume")


def _show(value: str, limit: int = 64) -> str:
    """A user's value for an error message, shortened so a huge value cannot flood a log line."""
    return repr(value if len(value) <= limit else value[:limit] + "…")

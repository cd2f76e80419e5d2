"""The declarative schedule configuration: targets, maintenance windows, callback rotations.

``load_config`` reads YAML or JSON (text or a file) and returns a validated ``Config``. Every
broken rule is reported at once as ``InvalidInput`` whose problems name the exact spot, e.g.
``windows[1].periods[0].end: must be HH:MM (got '25:00')``. ``config_json_schema`` gives the
JSON Schema for editors. The reference is docs/configuration.md.

Field values stay as written (strings); ``ciqueue.schedule.windows`` interprets them. Validation here
guarantees that interpretation cannot fail.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from ciqueue.ci.identifiers import KIND_NAMES, bucket_problem, parse_kind, queue_id_problem, region_problem
from ciqueue.constants import MQ_REGIONS, NOTIFY_EVENTS
from ciqueue.errors import InvalidInput, Problem, key_path
from ciqueue.schedule.cron import cron_rule
from ciqueue.timefmt import DURATION_RULE, as_utc, parse_duration, parse_instant

CONFIG_VERSION = 1
DEFAULT_TIMEZONE = "UTC"
DEFAULT_CONCURRENCY = 8
DEFAULT_SHARD_SIZE = 200

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HHMM_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --- value parsers (shared with ciqueue.schedule.windows) ----------------------------------------------


def parse_clock(text: str, *, allow_24: bool = False) -> tuple[int, int, int] | None:
    """``"HH:MM"`` or ``"HH:MM:SS"`` as (h, m, s); ``"24:00"`` only when ``allow_24``."""
    if not isinstance(text, str):
        return None
    if allow_24 and text in ("24:00", "24:00:00"):
        return (24, 0, 0)
    match = _HHMM_RE.match(text)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def parse_days(spec: str | Sequence[str] | None) -> frozenset[int]:
    """Day names/ranges (``mon-fri``, ``sat``, ``fri-mon`` wraps) as ``date.weekday()`` numbers."""
    if spec is None:
        return frozenset(range(7))
    items = spec.split(",") if isinstance(spec, str) else [p for s in spec for p in str(s).split(",")]
    days: set[int] = set()
    for raw in items:
        item = raw.strip().lower()
        if item in ("*", "daily", "all"):
            days.update(range(7))
            continue
        first, dash, last = item.partition("-")
        if first not in DAY_NAMES or (dash and last not in DAY_NAMES):
            raise ValueError(f"must be day names mon..sun or ranges like mon-fri (got {raw.strip()!r})")
        a = DAY_NAMES.index(first)
        b = DAY_NAMES.index(last) if dash else a
        days.update((a + i) % 7 for i in range(((b - a) % 7) + 1))
    if not days:
        raise ValueError("must name at least one day")
    return frozenset(days)


def parse_local_datetime(text: str) -> datetime | None:
    """An ISO date-time (``2026-05-01T02:00`` or with a space); naive = local to the window."""
    if not isinstance(text, str) or len(text) < 16:
        return None
    try:
        return parse_instant(text.replace(" ", "T", 1))
    except ValueError:
        return None


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for a validated IANA name (cached)."""
    return ZoneInfo(name)


def _timezone_rule(name: str) -> str | None:
    if not isinstance(name, str) or not name or name.startswith(("/", ".")) or ".." in name:
        return f"must be an IANA time zone such as Asia/Shanghai (got {name!r})"
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)"
    return None


def _identifier(value: Any, problem_of: Callable[[object, str], Problem | None], index: str = "") -> Any:
    """A string judged by a rule of ``ciqueue.ci.identifiers``; other types are left to pydantic."""
    if isinstance(value, str):
        problem = problem_of(value, "")
        if problem is not None:
            raise ValueError(index + problem.rule)
    return value


def _check_duration(value: str | None) -> None:
    """The one duration grammar (``ciqueue.timefmt``); a window or rotation step must be positive."""
    if value is None:
        return
    length = parse_duration(value)
    if length is None:
        raise ValueError(f"{DURATION_RULE} (got {value!r})")
    if length <= timedelta(0):
        raise ValueError(f"must be longer than 0s (got {value!r})")


def _check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(f"must be 1-64 letters, digits, '_', '.' or '-' (got {value!r})")
    return value


def _check_zone(value: str) -> str:
    rule = _timezone_rule(value)
    if rule:
        raise ValueError(rule)
    return value


def _check_clock(value: str) -> str:
    if parse_clock(value) is None:
        raise ValueError(f"must be HH:MM (got {value!r})")
    return value


def _check_days(value: str | list[str] | None) -> str | list[str] | None:
    parse_days(value)
    return value


# --- models ------------------------------------------------------------------------------------

# Field types checked the same way wherever they stand (the rule raises ValueError with its message).
_Name = Annotated[str, AfterValidator(_check_name)]
_Zone = Annotated[str, AfterValidator(_check_zone)]
_Clock = Annotated[str, AfterValidator(_check_clock)]
_Days = Annotated[str | list[str] | None, AfterValidator(_check_days)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Target(_Model):
    """A named group of queues in one bucket: explicit ``queue_ids`` or a Name ``name_pattern``."""

    bucket: str = Field(description="bucket as name-appid, e.g. media-1250000000")
    region: str = Field(description="e.g. ap-guangzhou")
    # The kind is judged by kinds.parse_kind (the one kind rule), not a Literal copy of the names.
    kind: str = Field("pic", description="queue kind", json_schema_extra={"enum": list(KIND_NAMES)})
    queue_ids: list[str] | None = Field(None, description="explicit queue ids")
    name_pattern: str | None = Field(None, description="fnmatch pattern over the queue Name")

    # The identifier rules (ciqueue.ci.identifiers) judge the value as written, before the
    # model-wide whitespace stripping: " demo-1250000000" is refused here as at every other door.
    @field_validator("bucket", mode="before")
    @classmethod
    def _bucket(cls, value: Any) -> Any:
        return _identifier(value, bucket_problem)

    @field_validator("region", mode="before")
    @classmethod
    def _region(cls, value: Any) -> Any:
        return _identifier(value, region_problem)

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value  # pydantic then says "must be a string"
        try:
            return parse_kind(value).value
        except InvalidInput as exc:
            raise ValueError(exc.rule) from None

    @field_validator("queue_ids", mode="before")
    @classmethod
    def _queue_ids(cls, value: Any) -> Any:
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, str):
                    _identifier(item, queue_id_problem, f"[{index}] ")
        return value

    @field_validator("queue_ids")
    @classmethod
    def _some_queue_ids(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("must list at least one queue id")
        return value

    def matches(self, bucket: str, region: str, kind: str, queue_id: str, name: str | None) -> bool:
        """True when the queue belongs to this group."""
        if (bucket, region, kind) != (self.bucket, self.region, self.kind):
            return False
        if self.queue_ids is not None:
            return queue_id in self.queue_ids
        return self.name_pattern is not None and fnmatchcase(name or "", self.name_pattern)


class Period(_Model):
    """A weekly period: on ``days`` from ``start`` to ``end`` (end < start runs past midnight)."""

    days: _Days = Field(None, description="mon..sun, ranges like mon-fri; default every day")
    start: _Clock = Field(description="HH:MM local")
    end: str = Field(description="HH:MM local, or 24:00; earlier than start = next day")

    @field_validator("end")
    @classmethod
    def _end(cls, value: str) -> str:
        if parse_clock(value, allow_24=True) is None:
            raise ValueError(f"must be HH:MM (got {value!r})")
        return value


class OneOff(_Model):
    """A one-off window from ``start`` to ``end`` (ISO local date-times)."""

    start: str = Field(description="ISO local date-time, e.g. 2026-05-01T00:00")
    end: str = Field(description="ISO local date-time, after start")

    @field_validator("start", "end")
    @classmethod
    def _when(cls, value: str) -> str:
        if parse_local_datetime(value) is None:
            raise ValueError(f"must be an ISO date-time like 2026-05-01T02:00 (got {value!r})")
        return value


class Window(_Model):
    """A maintenance window: while it is open its target queues are kept Paused."""

    name: _Name
    targets: list[str] = Field(description="names of target groups")
    description: str | None = None
    start: str | None = Field(None, description="SCF 7-field cron, local to the window's timezone")
    end: str | None = Field(None, description="SCF 7-field cron: the first fire after start closes")
    duration: str | None = Field(None, description="instead of end: 90m, 2h, 1h30m")
    periods: list[Period] | None = Field(None, description="weekly periods, instead of start")
    dates: list[OneOff] = Field(default_factory=list, description="one-off windows")
    exclude: list[str] = Field(default_factory=list, description="YYYY-MM-DD: no window opens that day")
    timezone: _Zone | None = Field(None, description="IANA zone; default: the config's timezone")
    enforced: bool = Field(False, strict=True, description="re-pause queues resumed by hand while open")

    @field_validator("start", "end")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            rule = cron_rule(value)
            if rule is not None:
                raise ValueError(rule)
        return value

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        _check_duration(value)
        return value

    @field_validator("exclude")
    @classmethod
    def _exclude(cls, value: list[str]) -> list[str]:
        for index, text in enumerate(value):
            if _parse_date(text) is None:
                raise ValueError(f"[{index}] must be a date YYYY-MM-DD (got {text!r})")
        return value

    @property
    def zone_name(self) -> str:
        return self.timezone or DEFAULT_TIMEZONE

    def excluded_dates(self) -> frozenset[date]:
        return frozenset(d for d in (_parse_date(t) for t in self.exclude) if d is not None)


class Callback(_Model):
    """One callback (NotifyConfig) of a rotation: ``type`` Url (``url``) or TDMQ (``mq_*``)."""

    type: Literal["Url", "TDMQ"]
    url: str | None = None
    event: str = Field("TaskFinish", description="TaskFinish, WorkflowFinish or both comma-separated")
    format: Literal["XML", "JSON"] = "XML"
    mq_mode: Literal["Queue", "Topic"] | None = None
    mq_region: str | None = Field(None, description=", ".join(MQ_REGIONS))
    mq_name: str | None = None

    @field_validator("event")
    @classmethod
    def _event(cls, value: str) -> str:
        events = [e.strip() for e in value.split(",")]
        if not all(e in NOTIFY_EVENTS for e in events):
            raise ValueError(f"must be {' and/or '.join(NOTIFY_EVENTS)}, comma-separated (got {value!r})")
        return ",".join(events)

    @field_validator("mq_region")
    @classmethod
    def _mq_region(cls, value: str | None) -> str | None:
        if value is not None and value not in MQ_REGIONS:
            raise ValueError(f"must be one of {', '.join(MQ_REGIONS)} (got {value!r})")
        return value

    def notify_fields(self) -> dict[str, str]:
        """The NotifyConfig this callback asks for, under the XML element names."""
        fields = {"State": "On", "Type": self.type, "Event": self.event, "ResultFormat": self.format}
        if self.type == "Url":
            fields["Url"] = self.url or ""
        else:
            fields.update(
                MqMode=self.mq_mode or "Queue", MqRegion=self.mq_region or "", MqName=self.mq_name or ""
            )
        return fields

    def describe(self) -> str:
        """A short label safe for logs: the URL without its query (it may carry a token)."""
        if self.type == "Url":
            url = (self.url or "").split("#", 1)[0]
            base, sep, _ = url.partition("?")
            return f"Url {base}{'?…' if sep else ''}"
        return f"TDMQ {self.mq_mode or 'Queue'} {self.mq_region}/{self.mq_name}"


class Switch(_Model):
    """A time of day at which a rotation switches to callback number ``callback``."""

    time: _Clock = Field(description="HH:MM local")
    callback: int = Field(ge=0, strict=True, description="index into callbacks")
    days: _Days = Field(None, description="mon..sun, ranges; default every day")


class Rotation(_Model):
    """Callback rotation: switches the target queues' NotifyConfig through ``callbacks``."""

    name: _Name
    targets: list[str]
    description: str | None = None
    callbacks: list[Callback] = Field(min_length=1)
    every: str | None = Field(None, description="switch every duration, counted from anchor")
    anchor: str | None = Field(None, description="ISO local date-time at which callback 0 starts")
    at: list[Switch] | None = Field(None, description="switch at times of day")
    timezone: _Zone | None = None
    enforced: bool = Field(False, strict=True, description="restore the callback when it is changed by hand")

    @field_validator("every")
    @classmethod
    def _every(cls, value: str | None) -> str | None:
        _check_duration(value)
        return value

    @field_validator("anchor")
    @classmethod
    def _anchor(cls, value: str | None) -> str | None:
        if value is not None and parse_local_datetime(value) is None:
            raise ValueError(f"must be an ISO date-time like 2026-01-05T09:00 (got {value!r})")
        return value

    @property
    def zone_name(self) -> str:
        return self.timezone or DEFAULT_TIMEZONE


class Settings(_Model):
    """Run settings; new settings get a default so old files stay valid."""

    concurrency: int = Field(
        DEFAULT_CONCURRENCY, strict=True, ge=1, le=64, description="queues changed in parallel"
    )
    shard_size: int = Field(
        DEFAULT_SHARD_SIZE, strict=True, ge=1, le=10000, description="queues per worker invocation"
    )
    state: str | None = Field(None, description="state store location, e.g. file:///tmp/ciqueue-state.json")
    dry_run: bool = Field(False, strict=True, description="decide and log, change nothing")


class Config(_Model):
    """The whole schedule file (``version: 1``)."""

    version: Literal[1]
    timezone: _Zone = Field(DEFAULT_TIMEZONE, description="default IANA zone for windows and rotations")
    targets: dict[str, Target] = Field(default_factory=dict)
    windows: list[Window] = Field(default_factory=list)
    rotations: list[Rotation] = Field(default_factory=list)
    settings: Settings = Field(default_factory=lambda: Settings.model_validate({}))

    def windows_for(self, groups: Sequence[str]) -> list[Window]:
        """Windows that target any of ``groups``, in file order."""
        return [w for w in self.windows if any(g in w.targets for g in groups)]

    def rotations_for(self, groups: Sequence[str]) -> list[Rotation]:
        """Rotations that target any of ``groups``, in file order."""
        return [r for r in self.rotations if any(g in r.targets for g in groups)]


def match_targets(
    config: Config, bucket: str, region: str, kind: str, queue_id: str, name: str | None
) -> list[str]:
    """Names of the target groups a queue belongs to (pure; ``kind`` as its value, e.g. ``pic``)."""
    return [g for g, t in config.targets.items() if t.matches(bucket, region, kind, queue_id, name)]


# --- loading -----------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML without the 1.1 surprises: ``20:00`` stays a string (not 1200), dates stay strings,
    and only true/false are booleans (``on``/``off``/``no`` stay strings)."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:int", "tag:yaml.org,2002:bool")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_config(path_or_text: str | os.PathLike[str], *, now: datetime) -> Config:
    """Load a config from a file path or from YAML/JSON text; InvalidInput on any problem.

    ``now`` (aware) is the instant the windows are judged around (the overlap and density checks
    look at the occurrences near it): callers pass their clock, tests a fixed time."""
    text = _read_source(path_or_text)
    if text.lstrip().startswith("{"):
        try:
            return parse_config(json.loads(text), now=now)
        except json.JSONDecodeError as exc:
            json_error = f"is not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        # A YAML flow mapping also starts with '{'; report the JSON error if YAML fails too.
        try:
            data = yaml.load(text, Loader=_Loader)
        except yaml.YAMLError:
            raise InvalidInput("config", json_error) from None
        return parse_config(data, now=now)
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise InvalidInput("config", f"is not valid YAML ({where}{problem})") from None
    return parse_config(data, now=now)


def parse_config(data: Any, *, now: datetime) -> Config:
    """Validate already-decoded data (a mapping) as a Config, judging windows around ``now``."""
    if not isinstance(data, Mapping):
        raise InvalidInput("config", f"must be a mapping with version: 1 (got {_type_name(data)})")
    try:
        config = Config.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidInput(_problems(exc)) from None
    # Windows and rotations carry their effective zone so schedule functions need nothing else.
    for window in config.windows:
        window.timezone = window.timezone or config.timezone
    for rotation in config.rotations:
        rotation.timezone = rotation.timezone or config.timezone
    problems = _check_references(config, as_utc(now))
    if problems:
        raise InvalidInput(problems)
    return config


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of the config file, for editors (e.g. yaml-language-server)."""
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "ciqueue schedule configuration"
    return schema


def _read_source(source: str | os.PathLike[str]) -> str:
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and "\n" not in source and source.strip().endswith((".yaml", ".yml", ".json"))
    ):
        path = Path(source)
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InvalidInput("config", f"file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput("config", f"cannot be read: {path} ({type(exc).__name__})") from None
    if not isinstance(source, str):
        raise InvalidInput("config", f"must be a path or YAML/JSON text (got {_type_name(source)})")
    return source


def _parse_date(text: str) -> date | None:
    if not isinstance(text, str) or not _DATE_RE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _check_references(config: Config, now: datetime) -> list[Problem]:
    """Rules that span fields: which fields go together, names that must exist or be unique."""
    problems: list[Problem] = []
    add = problems.append
    defined = ", ".join(config.targets) or "none"
    for group, target in config.targets.items():
        if not _NAME_RE.match(group):
            add(Problem(f"targets.{group}", "target names must be 1-64 letters, digits, '_', '.' or '-'"))
        if (target.queue_ids is None) == (target.name_pattern is None):
            add(Problem(f"targets.{group}", "needs exactly one of queue_ids or name_pattern"))

    def check_targets(path: str, names: list[str]) -> None:
        if not names:
            add(Problem(f"{path}.targets", "must name at least one target"))
        for i, name in enumerate(names):
            if name not in config.targets:
                add(Problem(f"{path}.targets[{i}]", f"unknown target {name!r} (defined: {defined})"))

    seen: dict[str, int] = {}
    for i, window in enumerate(config.windows):
        path = f"windows[{i}]"
        if window.name in seen:
            add(
                Problem(
                    f"{path}.name",
                    f"duplicate window name {window.name!r} (also windows[{seen[window.name]}])",
                )
            )
        seen.setdefault(window.name, i)
        check_targets(path, window.targets)
        shape_problems = len(problems)
        _check_window_shape(window, path, add)
        if len(problems) == shape_problems:
            _check_window_overlap(window, path, add, now)

    seen = {}
    rotated: dict[str, str] = {}
    for i, rotation in enumerate(config.rotations):
        path = f"rotations[{i}]"
        if rotation.name in seen:
            add(
                Problem(
                    f"{path}.name",
                    f"duplicate rotation name {rotation.name!r} (also rotations[{seen[rotation.name]}])",
                )
            )
        seen.setdefault(rotation.name, i)
        check_targets(path, rotation.targets)
        for j, name in enumerate(rotation.targets):
            if name in rotated and rotated[name] != rotation.name:
                add(
                    Problem(
                        f"{path}.targets[{j}]", f"target {name!r} is already rotated by {rotated[name]!r}"
                    )
                )
            rotated.setdefault(name, rotation.name)
        _check_rotation_shape(rotation, path, add)
    return problems


def _check_window_shape(window: Window, path: str, add: Any) -> None:
    if window.start is not None and window.periods is not None:
        add(Problem(path, "give either start (cron) or periods, not both"))
    if window.start is not None:
        if (window.end is None) == (window.duration is None):
            add(Problem(path, "start needs exactly one of end (cron) or duration"))
    else:
        for name in ("end", "duration"):
            if getattr(window, name) is not None:
                add(Problem(f"{path}.{name}", "is only allowed together with start"))
    if window.start is None and not window.periods and not window.dates:
        add(Problem(path, "needs start (cron), periods or dates"))
    if window.periods is not None and not window.periods:
        add(Problem(f"{path}.periods", "must list at least one period"))
    for j, period in enumerate(window.periods or []):
        if period.start == period.end:
            add(Problem(f"{path}.periods[{j}].end", f"must differ from start (got {period.end!r})"))
    for j, one_off in enumerate(window.dates):
        start, end = parse_local_datetime(one_off.start), parse_local_datetime(one_off.end)
        if start is None or end is None:
            continue
        if (start.tzinfo is None) != (end.tzinfo is None):
            add(Problem(f"{path}.dates[{j}]", "start and end must both have, or both lack, a UTC offset"))
        elif end <= start:
            add(Problem(f"{path}.dates[{j}].end", f"must be after start (got {one_off.end!r})"))


def _check_window_overlap(window: Window, path: str, add: Any, now: datetime) -> None:
    # schedule builds on this module, so it is imported here, once the shapes are known good.
    from ciqueue.schedule.windows import self_overlap, too_dense

    found = self_overlap(window, now)
    if found:
        add(Problem(f"{path}.{found[0]}", found[1]))
        return  # a window that never closes is also "dense"; one problem says it
    rule = too_dense(window, now)
    if rule:
        add(Problem(f"{path}.start", rule))


def _check_rotation_shape(rotation: Rotation, path: str, add: Any) -> None:
    if (rotation.every is None) == (rotation.at is None):
        add(Problem(path, "needs exactly one of every or at"))
    if rotation.every is not None and rotation.anchor is None:
        add(Problem(f"{path}.anchor", "is required with every (the local date-time callback 0 starts)"))
    if rotation.anchor is not None and rotation.every is None:
        add(Problem(f"{path}.anchor", "is only allowed together with every"))
    if rotation.at is not None and not rotation.at:
        add(Problem(f"{path}.at", "must list at least one switch time"))
    count = len(rotation.callbacks)
    for j, switch in enumerate(rotation.at or []):
        if switch.callback >= count:
            add(
                Problem(
                    f"{path}.at[{j}].callback",
                    f"must be a callback index 0-{count - 1} (got {switch.callback})",
                )
            )
    for j, callback in enumerate(rotation.callbacks):
        _check_callback(callback, f"{path}.callbacks[{j}]", add)


def _check_callback(callback: Callback, path: str, add: Any) -> None:
    """Type-dependent required fields, then the URL rules of ``ciqueue.ci.netguard``."""
    if callback.type == "Url":
        for name in ("mq_mode", "mq_region", "mq_name"):
            if getattr(callback, name) is not None:
                add(Problem(f"{path}.{name}", "is only allowed with type TDMQ"))
        if not callback.url:
            add(Problem(f"{path}.url", "is required for type Url"))
            return
        try:
            check_callback_url(callback.url, f"{path}.url")
        except InvalidInput as exc:
            for problem in exc.problems:
                add(problem)
    else:
        if callback.url is not None:
            add(Problem(f"{path}.url", "is only allowed with type Url"))
        for name in ("mq_region", "mq_name"):
            if not getattr(callback, name):
                add(Problem(f"{path}.{name}", "is required for type TDMQ"))


def check_callback_url(url: str, field: str) -> None:
    """The single place callback URLs are judged (delegates to ``ciqueue.ci.netguard``)."""
    from ciqueue.ci.netguard import check_callback_url as netguard_check

    netguard_check(url, field)


# --- pydantic errors as field paths --------------------------------------------------------------


def _problems(exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        rule = _rule(error)
        if rule.startswith("[") and "] " in rule:  # a list validator naming the item itself
            index, _, rule = rule[1:].partition("] ")
            loc = (*loc, int(index))
        problems.append(Problem(_path(loc) or "config", rule))
    return problems


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out = f"{out}[{part}]" if isinstance(part, int) else key_path(out, part)
    return out


def _rule(error: Any) -> str:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", error["msg"])).removeprefix("Value error, ")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(tuple(error["loc"])[:-1])
        return "unknown key" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        one = " or " not in expected and "," not in expected
        return f"must be {'' if one else 'one of '}{expected} (got {value!r})"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number (got {value!r})"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false (got {value!r})"
    if kind == "string_type":
        return f"must be a string (got {_type_name(value)})"
    if kind == "list_type":
        return f"must be a list (got {_type_name(value)})"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping (got {_type_name(value)})"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[
            kind
        ]
        limit = next(iter(ctx.values()), "")
        return f"must be {sign} {limit} (got {value!r})"
    if kind == "too_short":
        return "must not be empty"
    return str(error["msg"])


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model at ``loc`` (for 'unknown key' messages)."""
    current: Any = Config
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int) or (get_origin(current) is dict and isinstance(part, str)):
            args = get_args(current)
            current = args[-1] if args else None
            continue
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> X (the first model or container member)."""
    if get_origin(annotation) in (Union, type(int | None)):
        members = [a for a in get_args(annotation) if a is not type(None)]
        for member in members:
            if get_origin(member) in (list, dict) or (
                isinstance(member, type) and issubclass(member, BaseModel)
            ):
                return member
        return members[0] if members else annotation
    return annotation


def _type_name(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number"}
    if value is None:
        return "null"
    return names.get(type(value), type(value).__name__)

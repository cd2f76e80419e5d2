"""The declarative schedule configuration, as models: targets, maintenance windows, rotations.

The models judge every field (each rule raises with a message naming what is wrong);
``config_json_schema`` gives the JSON Schema for editors. Reading a file and the checks that span
fields or need the windows' occurrences live one level up, in ``ciqueue.schedule.load``
(``load_config``, ``parse_config``), so that ``ciqueue.schedule.windows`` can read these models
without a cycle: load -> windows -> config. The reference is docs/configuration.md.

Field values stay as written (strings); ``ciqueue.schedule.windows`` interprets them. Validation
guarantees that interpretation cannot fail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from ciqueue.ci.identifiers import KIND_NAMES, bucket_problem, parse_kind, queue_id_problem, region_problem
from ciqueue.ci.netguard import redact_url
from ciqueue.constants import DEFAULT_NOTIFY_EVENT, MQ_REGIONS, NOTIFY_EVENTS
from ciqueue.errors import InvalidInput, Problem
from ciqueue.limits import DEFAULT_BUCKET_RATE, DEFAULT_CONCURRENCY, MAX_BUCKET_RATE
from ciqueue.schedule.cron import cron_rule
from ciqueue.timefmt import DURATION_RULE, parse_duration, parse_instant

CONFIG_VERSION = 1
DEFAULT_TIMEZONE = "UTC"
DEFAULT_SHARD_SIZE = 200

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
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
    if not NAME_RE.match(value):
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
    model_config = ConfigDict(extra="forbid")


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
    event: str = Field(DEFAULT_NOTIFY_EVENT, description="TaskFinish, WorkflowFinish or both comma-separated")
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
        """A short label safe for logs: the URL redacted (netguard's rule: query values as ***)."""
        if self.type == "Url":
            return f"Url {redact_url(self.url or '')}"
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
        DEFAULT_CONCURRENCY, strict=True, ge=1, le=64, description="CI requests a tick has in flight at once"
    )
    shard_size: int = Field(
        DEFAULT_SHARD_SIZE, strict=True, ge=1, le=10000, description="queues per worker invocation"
    )
    rate_limit: float = Field(
        DEFAULT_BUCKET_RATE,
        strict=True,
        ge=1,
        le=MAX_BUCKET_RATE,
        description="CI requests per second per bucket (a tick never sends more; throttling lowers it)",
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


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of the config file, for editors (e.g. yaml-language-server)."""
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "ciqueue schedule configuration"
    return schema


def _parse_date(text: str) -> date | None:
    if not isinstance(text, str) or not _DATE_RE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None

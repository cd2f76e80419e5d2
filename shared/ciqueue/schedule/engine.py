"""The reconciling decision engine: ``decide`` is pure (config, now, observed, overrides, last applied
-> decisions with reasons). It reads no clock, makes no call and changes nothing.

Rules (after AWS Instance Scheduler's stored-desired-state model):
- Reconcile, don't fire: every tick computes the desired state from the schedule, so a missed,
  late or repeated tick is harmless; deciding twice on the same input gives the same decisions.
- A queue's State comes from, in order: an unexpired override of that queue (always enforced);
  else the union of the windows targeting it (open -> Paused, closed -> Active).
- Manual changes are respected until the next schedule edge: once the engine has carried out the
  desired state of the current edge (``LastApplied``), a queue that differs was changed by hand
  and is left alone ('skip'), unless an open window (or rotation) is ``enforced``.
  ``enforced`` on a window acts only while it is open.
- A queue seen for the first time (no LastApplied) is brought to the desired state.
- A rotation only ever sets NotifyConfig; windows and overrides only ever set State. Each
  decision is about one of these two aspects.
- Expired overrides are ignored and listed in ``Decision.expired_overrides`` for cleanup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from ciqueue.ci.kinds import notify_elements_taken
from ciqueue.ci.netguard import redact_url
from ciqueue.records import dataclass, field, replace
from ciqueue.schedule.config import Config, Rotation, match_targets, zone
from ciqueue.schedule.cron import UTC
from ciqueue.schedule.windows import (
    FAR_FUTURE,
    SPANS,
    WindowState,
    format_instant,
    rotation_state,
    windows_state,
)
from ciqueue.timefmt import as_utc, parse_instant

Action = Literal["pause", "resume", "set_callback", "none", "skip"]
Aspect = Literal["state", "callback"]
SourceType = Literal["window", "override", "rotation", "none"]
ACTIVE = "Active"
PAUSED = "Paused"

# NotifyConfig element names -> attribute names of ciqueue.ci.models.NotifyConfig (and the arguments
# of requested_notify_config, which reconcile builds from a decision's desired_callback).
NOTIFY_ATTRS = {
    "State": "state",
    "Type": "type",
    "Url": "url",
    "Event": "event",
    "ResultFormat": "result_format",
    "MqMode": "mq_mode",
    "MqRegion": "mq_region",
    "MqName": "mq_name",
}
# What CI assumes when an element is absent.
_NOTIFY_DEFAULTS = {"State": "Off", "ResultFormat": "XML", "MqMode": "Queue"}


@dataclass(frozen=True, order=True)
class QueueKey:
    """Identifies one queue; ``text`` (``bucket/region/kind/queue_id``) is its stored form."""

    bucket: str
    region: str
    kind: str
    queue_id: str

    @property
    def text(self) -> str:
        return f"{self.bucket}/{self.region}/{self.kind}/{self.queue_id}"

    def __str__(self) -> str:
        return self.text

    @classmethod
    def from_text(cls, text: str) -> QueueKey:
        bucket, region, kind, queue_id = text.split("/")
        return cls(bucket, region, kind, queue_id)


def _kind_text(kind: Any) -> str:
    return str(getattr(kind, "value", kind))


@dataclass(frozen=True)
class ObservedQueue:
    """A queue as read from CI. ``notify``: a dict with XML element names or a models.NotifyConfig."""

    bucket: str
    region: str
    kind: Any  # QueueKind or its value
    queue_id: str
    name: str | None
    state: str | None
    notify: Any = None

    @property
    def key(self) -> QueueKey:
        return QueueKey(self.bucket, self.region, _kind_text(self.kind), self.queue_id)


@dataclass(frozen=True)
class Override:
    """A per-queue pin of State by a person, until ``expires_at`` (None: until cancelled)."""

    id: str
    bucket: str
    region: str
    kind: Any
    queue_id: str
    state: str  # Active | Paused
    reason: str | None
    actor: str | None
    created_at: datetime
    expires_at: datetime | None = None

    @property
    def key(self) -> QueueKey:
        return QueueKey(self.bucket, self.region, _kind_text(self.kind), self.queue_id)

    def active_at(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True)
class LastApplied:
    """What the engine last decided for a queue (stored between ticks), one part per aspect.

    ``edge_at`` / ``callback_edge_at``: the schedule edge whose desired state was carried out.
    """

    desired_state: str | None = None
    edge_at: datetime | None = None
    source: str | None = None
    callback_index: int | None = None
    callback_edge_at: datetime | None = None
    callback_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "desired_state": self.desired_state,
            "edge_at": _iso(self.edge_at),
            "source": self.source,
            "callback_index": self.callback_index,
            "callback_edge_at": _iso(self.callback_edge_at),
            "callback_source": self.callback_source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LastApplied:
        return cls(
            desired_state=data.get("desired_state"),
            edge_at=_from_iso(data.get("edge_at")),
            source=data.get("source"),
            callback_index=data.get("callback_index"),
            callback_edge_at=_from_iso(data.get("callback_edge_at")),
            callback_source=data.get("callback_source"),
        )


@dataclass(frozen=True)
class Decision:
    """One action on one aspect of one queue, with the reason a person reads.

    ``last_applied`` is what to store for the queue once this decision is carried out (the other
    aspect as given); fold several decisions of one queue with ``merge_last_applied``.
    """

    key: QueueKey
    aspect: Aspect
    action: Action
    reason: str
    source: str | None
    source_type: SourceType
    edge_at: datetime | None
    next_edge_at: datetime | None
    desired_state: str | None = None
    # repr=False and redacted in to_dict: a callback URL's query string may carry a token.
    desired_callback: dict[str, str] | None = field(default=None, repr=False)
    callback_index: int | None = None
    last_applied: LastApplied = field(default_factory=LastApplied)
    expired_overrides: tuple[str, ...] = ()

    @property
    def changes(self) -> bool:
        return self.action in ("pause", "resume", "set_callback")

    def to_dict(self) -> dict[str, Any]:
        return {
            "queue": self.key.text,
            "aspect": self.aspect,
            "action": self.action,
            "reason": self.reason,
            "source": self.source,
            "source_type": self.source_type,
            "edge_at": _iso(self.edge_at),
            "next_edge_at": _iso(self.next_edge_at),
            "desired_state": self.desired_state,
            "desired_callback": _redacted(self.desired_callback),
            "callback_index": self.callback_index,
            "expired_overrides": list(self.expired_overrides),
        }


@dataclass(frozen=True)
class DesiredState:
    """The State the schedule (or an override) asks for at an instant, and why."""

    state: str
    source: str | None
    source_type: SourceType
    edge_at: datetime | None
    next_edge_at: datetime | None
    enforced: bool
    because: str  # e.g. "window 'nightly' opened at 02:00 CST"
    window: WindowState | None = None
    override: Override | None = None
    windows: tuple[str, ...] = ()  # every window holding the queue Paused (in the order they opened)


@dataclass(frozen=True)
class DesiredCallback:
    """The callback a rotation selects at an instant."""

    rotation: Rotation
    index: int
    fields: dict[str, str]
    edge_at: datetime | None
    next_edge_at: datetime | None
    because: str

    @property
    def label(self) -> str:
        return f"#{self.index} ({self.rotation.callbacks[self.index].describe()})"


# --- desired state -------------------------------------------------------------------------------


def desired_state_at(
    config: Config, groups: Sequence[str], now: datetime, overrides: Sequence[Override] = ()
) -> DesiredState | None:
    """The State for a queue in ``groups`` at ``now``; None when neither window nor override applies.

    Times in ``because`` are in the config's zone. Every window holding the queue Paused is named
    (``DesiredState.windows``); the pause lasts until the last of them closes (``next_edge_at``).
    """
    now = as_utc(now)
    tz = zone(config.timezone)
    live = [o for o in overrides if o.active_at(now)]
    if live:
        pin = max(live, key=lambda o: (o.created_at, o.id))
        until = f"until {format_instant(pin.expires_at, tz, now)}" if pin.expires_at else "(no expiry)"
        by = f" by {pin.actor}" if pin.actor else ""
        return DesiredState(
            state=pin.state,
            source=pin.id,
            source_type="override",
            edge_at=pin.created_at,
            next_edge_at=pin.expires_at,
            enforced=True,
            because=f"override {pin.id}{by} {until} wins",
            override=pin,
        )
    windows = config.windows_for(groups)
    if not windows:
        return None
    ws = windows_state(windows, now)
    if ws.active:
        name = ws.opened_by or windows[0].name
        return DesiredState(
            PAUSED,
            name,
            "window",
            ws.opened_at,
            ws.closes_at,
            ws.enforced,
            _open_because(ws, name, tz, now),
            ws,
            windows=ws.covering or (name,),
        )
    name = ws.closed_by or ws.next_by or windows[0].name
    if ws.last_closed_at is not None:
        because = f"window {name!r} closed at {format_instant(ws.last_closed_at, tz, now)}"
    else:
        because = (
            f"no window has opened (next: {ws.next_by or name!r} at {format_instant(ws.next_open, tz, now)})"
        )
    return DesiredState(ACTIVE, name, "window", ws.last_closed_at, ws.next_open, False, because, ws)


def _open_because(ws: WindowState, opened_by: str, tz: Any, now: datetime) -> str:
    """Why the union of windows is open: each window holding it, and when the stretch began."""
    if len(ws.holding) > 1:
        parts = [
            f"{o.window!r} (opened {format_instant(o.opens, tz, now)}, "
            + (
                "does not close)"
                if o.closes >= FAR_FUTURE
                else f"closes {format_instant(o.closes, tz, now)})"
            )
            for o in ws.holding
        ]
        return f"windows {and_list(parts)} are open"
    if ws.opened_at is None:  # open for longer than the schedule looks back: no edge to speak of
        return f"window {opened_by!r} has been open for more than {SPANS[-1].days} days"
    since = format_instant(ws.opened_at, tz, now)
    holder = ws.holding[0] if ws.holding else None
    if holder is not None and holder.window != opened_by:
        return (
            f"window {holder.window!r} opened at {format_instant(holder.opens, tz, now)} "
            f"(Paused since window {opened_by!r} opened at {since})"
        )
    return f"window {opened_by!r} opened at {since}"


def and_list(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def override_words(override: Override) -> str:
    """``override o-9 by alice ('load test')``: who pinned it and why, as explanations name it."""
    by = f" by {override.actor}" if override.actor else ""
    why = f" ({override.reason!r})" if override.reason else ""
    return f"override {override.id}{by}{why}"


def desired_callback_at(rotation: Rotation, now: datetime) -> DesiredCallback:
    """The callback ``rotation`` selects at ``now``."""
    now = as_utc(now)
    index, since, next_change = rotation_state(rotation, now)
    tz = zone(rotation.zone_name)
    callback = rotation.callbacks[index]
    label = f"#{index} ({callback.describe()})"
    if since is not None:
        because = (
            f"rotation {rotation.name!r} switched to callback {label} at {format_instant(since, tz, now)}"
        )
    else:
        because = f"rotation {rotation.name!r} selects callback {label}"
    return DesiredCallback(rotation, index, callback.notify_fields(), since, next_change, because)


def expired_overrides(overrides: Iterable[Override], now: datetime) -> list[Override]:
    """Overrides whose time is up (to delete from the store)."""
    now = as_utc(now)
    return [o for o in overrides if not o.active_at(now)]


def merge_last_applied(previous: LastApplied | None, decision: Decision) -> LastApplied:
    """``previous`` with only ``decision``'s aspect taken from ``decision.last_applied``."""
    base = previous or LastApplied()
    new = decision.last_applied
    if decision.aspect == "state":
        return replace(base, desired_state=new.desired_state, edge_at=new.edge_at, source=new.source)
    return replace(
        base,
        callback_index=new.callback_index,
        callback_edge_at=new.callback_edge_at,
        callback_source=new.callback_source,
    )


def notify_matches(observed: Any, wanted: Mapping[str, str]) -> bool:
    """True when the observed NotifyConfig already has every field ``wanted`` asks for."""
    for name, value in wanted.items():
        have = _notify_value(observed, name)
        if name == "Event":
            if {e.strip() for e in have.split(",") if e.strip()} != {e for e in value.split(",") if e}:
                return False
        elif have != value:
            return False
    return True


# --- decide ------------------------------------------------------------------------------------


def decide(
    config: Config,
    now: datetime,
    observed: Iterable[ObservedQueue],
    overrides: Iterable[Override] = (),
    last_applied: Mapping[QueueKey, LastApplied] | Mapping[str, LastApplied] | None = None,
    memo: dict[tuple[str, ...], DesiredState | None] | None = None,
) -> list[Decision]:
    """Decisions for every observed queue that a target group covers (state first, then callback).

    ``last_applied`` may be keyed by QueueKey or by its text. Pure: same input, same output.
    ``memo``: the windows' answers worked out so far, for a caller that decides a tick's queues in
    parts (the same ``config`` and ``now``); it only saves the work again.
    """
    now = as_utc(now)
    stored: dict[str, LastApplied] = {str(k): v for k, v in (last_applied or {}).items()}
    pins: dict[QueueKey, list[Override]] = {}
    for override in overrides:
        pins.setdefault(override.key, []).append(override)
    cache: dict[tuple[str, ...], DesiredState | None] = {} if memo is None else memo
    decisions: list[Decision] = []
    for queue in sorted(observed, key=lambda q: q.key):
        key = queue.key
        groups = match_targets(config, queue.bucket, queue.region, key.kind, queue.queue_id, queue.name)
        if not groups:
            continue
        last = stored.get(key.text)
        mine = pins.get(key, [])
        expired = tuple(o.id for o in mine if not o.active_at(now))
        if any(o.active_at(now) for o in mine):
            desired = desired_state_at(config, groups, now, mine)
        else:
            # Without an override the answer depends only on the windows that apply, which many
            # target groups share (e.g. one window over every bucket): work it out once per set.
            windows_key = tuple(w.name for w in config.windows_for(groups))
            if windows_key not in cache:
                cache[windows_key] = desired_state_at(config, groups, now)
            desired = cache[windows_key]
        if desired is not None:
            ended = ended_override(mine, now, desired)
            decisions.append(_state_decision(config, now, queue, desired, last, expired, ended))
        rotations = config.rotations_for(groups)
        if len(rotations) > 1:
            names = " and ".join(repr(r.name) for r in rotations)
            decisions.append(
                Decision(
                    key=key,
                    aspect="callback",
                    action="skip",
                    reason=f"rotations {names} both target this queue; not changing its callback",
                    source=None,
                    source_type="rotation",
                    edge_at=None,
                    next_edge_at=None,
                    last_applied=last or LastApplied(),
                )
            )
        elif rotations:
            decisions.append(
                _callback_decision(config, now, queue, desired_callback_at(rotations[0], now), last)
            )
    return decisions


def _state_decision(
    config: Config,
    now: datetime,
    queue: ObservedQueue,
    desired: DesiredState,
    last: LastApplied | None,
    expired: tuple[str, ...],
    ended: Override | None = None,
) -> Decision:
    want = desired.state
    record = replace(
        last or LastApplied(), desired_state=want, edge_at=desired.edge_at, source=desired.source
    )
    handled = last is not None and last.desired_state == want and _not_before(last.edge_at, desired.edge_at)
    tz = _reason_zone(config, desired)
    next_edge = (
        format_instant(desired.next_edge_at, tz, now) if desired.next_edge_at else "none within 800 days"
    )

    def decision(action: Action, reason: str, stored: LastApplied) -> Decision:
        return Decision(
            key=queue.key,
            aspect="state",
            action=action,
            reason=reason,
            source=desired.source,
            source_type=desired.source_type,
            edge_at=desired.edge_at,
            next_edge_at=desired.next_edge_at,
            desired_state=want,
            last_applied=stored,
            expired_overrides=expired,
        )

    if queue.state not in (ACTIVE, PAUSED):
        return decision(
            "skip",
            f"queue state {queue.state!r} is neither Active nor Paused; not touching it",
            last or LastApplied(),
        )
    act: Action = "pause" if want == PAUSED else "resume"
    doing = "pausing" if want == PAUSED else "resuming"
    if desired.source_type == "override":
        if queue.state == want:
            return decision("none", f"{desired.because}: keep {want}", record)
        return decision(act, f"{desired.because}: {doing}", record)
    if queue.state == want:
        return decision(
            "none", f"already {want} as {_requirement(desired)}", last if handled and last else record
        )
    if not handled:
        if ended is not None:  # the override's end is why the queue changes now, not the window
            assert ended.expires_at is not None
            return decision(
                act,
                f"{override_words(ended)} ended at {format_instant(ended.expires_at, tz, now)}; "
                f"the schedule wants {want} ({desired.because}); {doing}",
                record,
            )
        return decision(act, f"{desired.because}; {doing}", record)
    changed = "resumed" if queue.state == ACTIVE else "paused"
    if desired.enforced:
        return decision(
            act, f"{desired.because} and is enforced: queue was {changed} by hand; {doing} again", record
        )
    return decision(
        "skip",
        f"manual change respected: queue was {changed} by hand after {desired.because}; "
        f"next edge {next_edge}",
        last or record,
    )


def _callback_decision(
    config: Config, now: datetime, queue: ObservedQueue, desired: DesiredCallback, last: LastApplied | None
) -> Decision:
    rotation = desired.rotation
    record = replace(
        last or LastApplied(),
        callback_index=desired.index,
        callback_edge_at=desired.edge_at,
        callback_source=rotation.name,
    )
    handled = (
        last is not None
        and last.callback_index == desired.index
        and last.callback_source == rotation.name
        and _not_before(last.callback_edge_at, desired.edge_at)
    )
    tz = zone(rotation.zone_name)
    # What this queue's kind takes: a doc queue has no ResultFormat, so the rotation's default
    # format is not asked of it (a format written in the file is refused when the config loads).
    fields = notify_elements_taken(queue.kind, desired.fields)

    def decision(action: Action, reason: str, stored: LastApplied) -> Decision:
        return Decision(
            key=queue.key,
            aspect="callback",
            action=action,
            reason=reason,
            source=rotation.name,
            source_type="rotation",
            edge_at=desired.edge_at,
            next_edge_at=desired.next_edge_at,
            desired_callback=dict(fields),
            callback_index=desired.index,
            last_applied=stored,
        )

    if notify_matches(queue.notify, fields):
        reason = f"callback already {desired.label} as rotation {rotation.name!r} requires"
        return decision("none", reason, last if handled and last else record)
    if not handled:
        return decision("set_callback", f"{desired.because}; setting callback", record)
    if rotation.enforced:
        return decision(
            "set_callback",
            f"{desired.because} and is enforced: callback was changed by hand; restoring it",
            record,
        )
    next_switch = format_instant(desired.next_edge_at, tz, now) if desired.next_edge_at else "none"
    return decision(
        "skip",
        f"manual change respected: callback was changed by hand after {desired.because}; "
        f"next switch {next_switch}",
        last or record,
    )


def ended_override(mine: Sequence[Override], now: datetime, desired: DesiredState) -> Override | None:
    """The override of this queue whose end is the latest thing that happened to its State: one
    that has expired since the schedule's current edge (an override that ended before the window
    last opened or closed is not why the queue changes). None while an override is live."""
    if desired.source_type == "override":
        return None
    ended = [
        o
        for o in mine
        if o.expires_at is not None
        and not o.active_at(now)
        and (desired.edge_at is None or o.expires_at > desired.edge_at)
    ]
    return max(ended, key=lambda o: (o.expires_at, o.created_at, o.id)) if ended else None


def _requirement(desired: DesiredState) -> str:
    if desired.state == PAUSED:
        names = desired.windows or (desired.source,)
        if len(names) > 1:
            return f"windows {and_list([repr(n) for n in names])} require"
        return f"window {names[0]!r} requires"
    return "no window is open"


def _reason_zone(config: Config, desired: DesiredState) -> Any:
    """Explanations show times in the config's zone (one zone per output)."""
    return zone(config.timezone)


def _not_before(stored_edge: datetime | None, edge: datetime | None) -> bool:
    """True when the stored edge is the current edge or later (None = since ever)."""
    if edge is None:
        return True
    return stored_edge is not None and stored_edge >= edge


def _notify_value(observed: Any, name: str) -> str:
    if observed is None:
        value: Any = None
    elif isinstance(observed, Mapping):
        value = observed.get(name, observed.get(NOTIFY_ATTRS[name]))
    else:
        value = getattr(observed, NOTIFY_ATTRS[name], None)
    value = getattr(value, "value", value)
    if value is None or value == "":
        return _NOTIFY_DEFAULTS.get(name, "")
    return str(value)


def _redacted(fields: dict[str, str] | None) -> dict[str, str] | None:
    """The callback fields as shown: the URL redacted by netguard's one rule."""
    if fields is None or "Url" not in fields:
        return fields
    return {**fields, "Url": redact_url(fields["Url"])}


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _from_iso(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    parsed = parse_instant(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)

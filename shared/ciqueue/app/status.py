"""A queue's status as a person asks for it: its observed state, why it is so, until when, and its
next change. The one home of that answer: ``ciqueue status``, the console's pages and
``GET /queues`` (each view's ``status``) all call ``queue_statuses``.

Rules:
- Nothing here decides: the reason comes from the engine (``desired_state_at`` and ``decide``, with
  the overrides and last-applied record of the state store), the next change from
  ``schedule.plan.lanes`` over the same overrides. This module only picks which answer applies.
- *Why*, in this order (``reason`` names the kind): an override pins it (``override``: its id,
  actor, reason and end); no group of the schedule names it (``unmanaged``); the next tick would
  leave it alone because a person changed it after the current edge (``manual``: respected until
  the next edge); the windows (``window``: already as they want, or, "at the next tick", being
  brought there); no window covers its groups (``none``).
- *Until*: the pinning override's end (None: until cancelled), else the edge where what the
  schedule wants next changes (None: not within the horizon the engine looks at).
- *Next change*: a change of State the next tick would make (``at`` None: "at the next tick"), else
  the first transition of the queue's plan lane (a callback the next tick would set is said in
  ``callback_status``), in which an override holds off the schedule's pauses and
  resumes until it ends. ``kind``: what brings it (``window``, ``override``, ``rotation``).
- The callback is explained the same way when one rotation covers the queue (``rotation`` or
  ``manual``); the URL is shown through the one redaction rule (``netguard.redact_url``).
- Times are aware UTC datetimes here; ``why`` reads them in the config's zone, as every
  explanation does; a door formats ``until`` and ``next_change.at`` in that zone too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from ciqueue.ci.operations import describe_callback
from ciqueue.records import dataclass
from ciqueue.schedule.config import Config, match_targets, zone
from ciqueue.schedule.engine import (
    PAUSED,
    Decision,
    LastApplied,
    ObservedQueue,
    Override,
    decide,
    desired_state_at,
    override_words,
)
from ciqueue.schedule.plan import Transition, lanes
from ciqueue.schedule.windows import format_instant
from ciqueue.timefmt import as_utc

# How far ahead the next change is looked for: a weekly window's next opening is always found.
STATUS_HORIZON_DAYS = 8

ReasonKind = Literal["override", "window", "manual", "none", "unmanaged"]
CallbackKind = Literal["rotation", "manual", "none"]
MANUAL = "manual change respected"


@dataclass(frozen=True)
class NextChange:
    """The next thing that happens to the queue: ``at`` None means "at the next tick"."""

    at: datetime | None
    change: str  # pause | resume | set_callback | release
    kind: str  # window | override | rotation
    source: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "change": self.change,
            "kind": self.kind,
            "source": self.source,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class CallbackStatus:
    """What the queue's one rotation wants of its callback, and why it is as it is."""

    rotation: str | None
    index: int | None
    kind: CallbackKind
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"rotation": self.rotation, "index": self.index, "kind": self.kind, "why": self.why}


@dataclass(frozen=True)
class QueueStatus:
    """One queue: state (as read from CI), why, until when, next change."""

    queue: ObservedQueue
    groups: tuple[str, ...]
    wanted: str | None
    reason: ReasonKind
    why: str
    windows: tuple[str, ...]  # the windows holding it Paused now
    override: Override | None
    until: datetime | None
    next_change: NextChange | None
    callback: str
    callback_status: CallbackStatus | None

    @property
    def key(self) -> str:
        return self.queue.key.text

    def to_dict(self) -> dict[str, Any]:
        pin = self.override
        return {
            "queue": self.key,
            "name": self.queue.name,
            "state": self.queue.state,
            "wanted": self.wanted,
            "groups": list(self.groups),
            "reason": self.reason,
            "why": self.why,
            "windows": list(self.windows),
            "override": None
            if pin is None
            else {
                "id": pin.id,
                "state": pin.state,
                "reason": pin.reason,
                "actor": pin.actor,
                "created_at": _iso(pin.created_at),
                "expires_at": _iso(pin.expires_at),
            },
            "until": _iso(self.until),
            "next_change": self.next_change.to_dict() if self.next_change else None,
            "callback": self.callback,
            "callback_status": self.callback_status.to_dict() if self.callback_status else None,
        }


def queue_statuses(
    config: Config | None,
    queues: Sequence[ObservedQueue],
    overrides: Sequence[Override],
    last_applied: Mapping[str, LastApplied],
    now: datetime,
    days: float = STATUS_HORIZON_DAYS,
) -> list[QueueStatus]:
    """The status of each of ``queues`` at ``now``, in the order given.

    ``overrides``: the state store's (expired ones too: an override that has just ended is the
    reason for the change it leaves behind); ``last_applied``: keyed by queue key text."""
    now = as_utc(now)
    if config is None:
        return [_unmanaged(q) for q in queues]
    decisions: dict[tuple[str, str], Decision] = {
        (d.key.text, d.aspect): d for d in decide(config, now, queues, overrides, last_applied)
    }
    managed = [q for q in queues if match_targets(config, q.bucket, q.region, q.key.kind, q.queue_id, q.name)]
    plans = {lane.name: lane.transitions for lane in lanes(config, now, days, managed, overrides)}
    tz = zone(config.timezone)
    found = []
    for queue in queues:
        key = queue.key
        groups = tuple(
            match_targets(config, queue.bucket, queue.region, key.kind, queue.queue_id, queue.name)
        )
        if not groups:
            found.append(_unmanaged(queue))
            continue
        mine = [o for o in overrides if o.key == key]
        desired = desired_state_at(config, groups, now, mine)
        state = decisions.get((key.text, "state"))
        pin = desired.override if desired is not None and desired.source_type == "override" else None
        reason: ReasonKind
        if pin is not None:
            reason = "override"
            until_text = (
                f"until {format_instant(pin.expires_at, tz, now)}" if pin.expires_at else "until cancelled"
            )
            why = f"{override_words(pin)} pins it {pin.state} {until_text}"
            if state is not None and state.action in ("pause", "resume"):
                why += f"; the next tick {state.action}s it"
        elif state is None:
            reason, why = "none", "no window covers this queue: ciqueue leaves its state as it is"
        elif state.action == "skip" and state.reason.startswith(MANUAL):
            reason, why = "manual", state.reason
        elif state.action == "skip":
            reason, why = "none", state.reason
        elif state.action in ("pause", "resume"):
            reason, why = "window", f"{state.reason} (at the next tick)"
        else:
            reason, why = "window", state.reason
        until = pin.expires_at if pin is not None else (desired.next_edge_at if desired else None)
        callback = decisions.get((key.text, "callback"))
        found.append(
            QueueStatus(
                queue=queue,
                groups=groups,
                wanted=desired.state if desired else None,
                reason=reason,
                why=why,
                windows=desired.windows if desired is not None and desired.state == PAUSED else (),
                override=pin,
                until=until,
                # An edge at ``now`` itself is the present (the tick at now acts on it), not next.
                next_change=_next_change(state, [t for t in plans.get(key.text, ()) if t.at > now], config),
                callback=_callback_text(queue.notify),
                callback_status=_callback_status(callback),
            )
        )
    return found


def _unmanaged(queue: ObservedQueue) -> QueueStatus:
    return QueueStatus(
        queue=queue,
        groups=(),
        wanted=None,
        reason="unmanaged",
        why="no target group of the schedule names this queue: ciqueue leaves it as it is",
        windows=(),
        override=None,
        until=None,
        next_change=None,
        callback=_callback_text(queue.notify),
        callback_status=None,
    )


def _next_change(state: Decision | None, plan: Sequence[Transition], config: Config) -> NextChange | None:
    if state is not None and state.changes:
        return NextChange(None, state.action, state.source_type, state.source, state.reason)
    if not plan:
        return None
    first = min(plan)
    rotations = {r.name for r in config.rotations}
    windows = {w.name for w in config.windows}
    if first.change == "set_callback" or first.source in rotations:
        kind = "rotation"
    elif first.source in windows and first.change != "release" and not first.reason.startswith("override "):
        kind = "window"
    else:
        kind = "override"
    return NextChange(first.at, first.change, kind, first.source, first.reason)


def _callback_status(decision: Decision | None) -> CallbackStatus | None:
    if decision is None:
        return None
    if decision.action == "skip" and decision.reason.startswith(MANUAL):
        kind: CallbackKind = "manual"
    elif decision.action == "skip":
        kind = "none"
    else:
        kind = "rotation"
    why = f"{decision.reason} (at the next tick)" if decision.changes else decision.reason
    return CallbackStatus(decision.source, decision.callback_index, kind, why)


def _callback_text(notify: Any) -> str:
    """The callback the queue reports to, redacted (``describe_callback``'s one phrase)."""
    if notify is None or isinstance(notify, Mapping):
        from ciqueue.ci.models import NotifyConfig

        fields = dict(notify or {})
        try:
            notify = NotifyConfig.model_validate(fields) if fields else None
        except ValueError:
            return "?"
    return describe_callback(notify)


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value is not None else None

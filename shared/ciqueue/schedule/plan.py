"""The coming transitions per target group (or per observed queue) over a horizon.

``plan`` steps through every window and rotation edge in the horizon and asks the engine's own
``desired_state_at`` / rotation state at each one, so it shows exactly what ticks would do
(overlapping windows produce no transition where their union stays open). Overrides and manual
changes are not simulated. ``render_plan`` prints the result as a text table.

``lanes`` gives the same transitions grouped per subject together with what holds at the start
(paused by a window? which callback?), so a picture of the horizon (``ciqueue.schedule.timeline``)
can shade a window that was already open when the horizon began.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ciqueue.schedule.config import Config, match_targets, zone
from ciqueue.schedule.cron import UTC
from ciqueue.schedule.engine import ObservedQueue, desired_state_at
from ciqueue.schedule.windows import (
    format_instant,
    occurrences,
    rotation_changes,
    rotation_state,
    window_zone,
)

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, order=True)
class Transition:
    """One coming change: at ``at``, ``target`` (group name or queue key) gets ``change``."""

    at: datetime
    target: str
    change: str  # pause | resume | set_callback
    source: str
    reason: str
    callback_index: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "target": self.target,
            "change": self.change,
            "source": self.source,
            "reason": self.reason,
            "callback_index": self.callback_index,
        }


@dataclass(frozen=True)
class Lane:
    """One subject of a plan: a target group, or an observed queue (``name`` = its key text).

    ``label`` is what a person reads (the group name, or the queue's Name and its groups);
    ``paused_at_start`` says whether a window holds it Paused when the horizon begins;
    ``callback_at_start`` is the rotation's callback index then (None: no single rotation);
    ``transitions`` are this subject's, sorted by time.
    """

    name: str
    label: str
    groups: tuple[str, ...]
    paused_at_start: bool
    callback_at_start: int | None
    transitions: tuple[Transition, ...]


def plan(
    config: Config, start: datetime, days: float = 7, observed: Iterable[ObservedQueue] | None = None
) -> list[Transition]:
    """Transitions in ``[start, start + days)``, sorted by time, per group or per observed queue."""
    return sorted(t for lane in lanes(config, start, days, observed) for t in lane.transitions)


def lanes(
    config: Config, start: datetime, days: float = 7, observed: Iterable[ObservedQueue] | None = None
) -> list[Lane]:
    """``plan``'s transitions per subject, in subject order (groups as in the file, queues by key),
    each with the state and callback that hold at ``start``."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("an aware datetime is required (got a naive one)")
    start = start.astimezone(UTC)
    end = start + timedelta(days=days)
    subjects: list[tuple[str, str, tuple[str, ...]]]
    if observed is None:
        subjects = [(name, name, (name,)) for name in config.targets]
    else:
        subjects = []
        for queue in sorted(observed, key=lambda q: q.key):
            key = queue.key
            matched = match_targets(config, queue.bucket, queue.region, key.kind, queue.queue_id, queue.name)
            if matched:
                label = f"{queue.name or key.queue_id} ({', '.join(matched)})"
                subjects.append((key.text, label, tuple(matched)))
    per_groups: dict[tuple[str, ...], tuple[list[Transition], bool, int | None]] = {}
    result: list[Lane] = []
    for subject, label, groups in subjects:
        if groups not in per_groups:
            desired = desired_state_at(config, groups, start)
            rotations = config.rotations_for(groups)
            per_groups[groups] = (
                _state_changes(config, groups, start, end) + _callback_changes(config, groups, start, end),
                desired is not None and desired.state == "Paused",
                rotation_state(rotations[0], start).index if len(rotations) == 1 else None,
            )
        changes, paused, callback = per_groups[groups]
        transitions = tuple(
            sorted(Transition(t.at, subject, t.change, t.source, t.reason, t.callback_index) for t in changes)
        )
        result.append(Lane(subject, label, groups, paused, callback, transitions))
    return result


def _state_changes(config: Config, groups: Sequence[str], start: datetime, end: datetime) -> list[Transition]:
    windows = config.windows_for(groups)
    if not windows:
        return []
    edges: set[datetime] = set()
    for window in windows:
        for occ in occurrences(window, start, end):
            edges.update(t for t in (occ.opens, occ.closes) if start <= t < end)
    previous = desired_state_at(config, groups, start - _TICK)
    changes = []
    for at in sorted(edges):
        desired = desired_state_at(config, groups, at)
        if desired is None or previous is None or desired.state == previous.state:
            previous = desired
            continue
        ws = desired.window
        by_name = {w.name: w for w in windows}
        source = desired.source or ""
        tz = window_zone(by_name[source]) if source in by_name else zone(config.timezone)
        if desired.state == "Paused":
            until = format_instant(ws.closes_at, tz, at) if ws and ws.closes_at else "no close"
            changes.append(Transition(at, "", "pause", source, f"window {source!r} opens (until {until})"))
        else:
            closed_by = (ws.closed_by if ws else None) or source
            next_tz = window_zone(by_name[ws.next_by]) if ws and ws.next_by in by_name else tz
            following = (
                format_instant(ws.next_open, next_tz, at) if ws and ws.next_open else "none within 800 days"
            )
            changes.append(
                Transition(
                    at, "", "resume", closed_by, f"window {closed_by!r} closes (next opens {following})"
                )
            )
        previous = desired
    return changes


def _callback_changes(
    config: Config, groups: Sequence[str], start: datetime, end: datetime
) -> list[Transition]:
    rotations = config.rotations_for(groups)
    if len(rotations) != 1:  # none, or a conflict the engine refuses to act on
        return []
    rotation = rotations[0]
    current = rotation_state(rotation, start - _TICK).index
    changes = []
    for at, index in rotation_changes(rotation, start, end):
        if index == current:
            continue
        label = rotation.callbacks[index].describe()
        changes.append(
            Transition(
                at,
                "",
                "set_callback",
                rotation.name,
                f"rotation {rotation.name!r} switches to callback #{index} ({label})",
                index,
            )
        )
        current = index
    return changes


def render_plan(transitions: Sequence[Transition], tz: str | ZoneInfo = "UTC") -> str:
    """A text table: when (in ``tz``), target, change, source, reason."""
    zone_info = zone(tz) if isinstance(tz, str) else tz
    headers = (f"WHEN ({zone_info.key})", "TARGET", "CHANGE", "SOURCE", "REASON")
    rows = [
        (
            t.at.astimezone(zone_info).strftime("%Y-%m-%d %a %H:%M" + (":%S" if t.at.second else "") + " %Z"),
            t.target,
            t.change if t.callback_index is None else f"{t.change} #{t.callback_index}",
            t.source,
            t.reason,
        )
        for t in transitions
    ]
    if not rows:
        return "\n".join([_line(headers, [len(h) for h in headers]), "(no transitions)"])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    return "\n".join(_line(row, widths) for row in [headers, *rows])


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=False)).rstrip()

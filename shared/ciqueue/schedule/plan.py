"""The coming transitions per target group (or per observed queue) over a horizon.

``plan`` steps through every window and rotation edge in the horizon and asks the engine's own
``desired_state_at`` / rotation state at each one, so it shows exactly what ticks would do
(overlapping windows produce no transition where their union stays open). The overrides given
(the state store's) pin their queues until they end; manual changes are not simulated. Times in
reasons are in the config's zone. ``render_plan`` prints the result as a text table.

``lanes`` gives the same transitions grouped per subject together with what holds at the start
(paused by a window? which callback?), so a picture of the horizon (``ciqueue.schedule.timeline``)
can shade a window that was already open when the horizon began.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ciqueue.records import dataclass
from ciqueue.schedule.config import Config, match_targets, zone
from ciqueue.schedule.cron import UTC
from ciqueue.schedule.engine import (
    PAUSED,
    DesiredState,
    ObservedQueue,
    Override,
    QueueKey,
    and_list,
    desired_state_at,
    override_words,
)
from ciqueue.schedule.windows import (
    WindowState,
    format_instant,
    occurrences,
    rotation_changes,
    rotation_state,
)
from ciqueue.timefmt import local_text

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, order=True)
class Transition:
    """One coming change: at ``at``, ``target`` (group name or queue key) gets ``change``."""

    at: datetime
    target: str
    change: str  # pause | resume | set_callback | release (an override ends, the state stays)
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
    config: Config,
    start: datetime,
    days: float = 7,
    observed: Iterable[ObservedQueue] | None = None,
    overrides: Iterable[Override] = (),
) -> list[Transition]:
    """Transitions in ``[start, start + days)``, sorted by time, per group or per observed queue,
    with the overrides that pin a queue in the horizon (see ``lanes``)."""
    return sorted(t for lane in lanes(config, start, days, observed, overrides) for t in lane.transitions)


def lanes(
    config: Config,
    start: datetime,
    days: float = 7,
    observed: Iterable[ObservedQueue] | None = None,
    overrides: Iterable[Override] = (),
) -> list[Lane]:
    """``plan``'s transitions per subject, in subject order (groups as in the file, queues by key),
    each with the state and callback that hold at ``start``.

    ``overrides`` (live at some point of the horizon) pin their queue: its pauses and resumes are
    held off while one is live, and where it ends the schedule takes the queue back (a pause or a
    resume, or ``release`` when the schedule wants the state the override held). Per observed queue
    they act on that queue's lane; per group each pinned queue gets a lane of its own (its name is
    not read then, so a group that picks queues by name is taken to cover it)."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("an aware datetime is required (got a naive one)")
    start = start.astimezone(UTC)
    end = start + timedelta(days=days)
    pins: dict[str, list[Override]] = {}
    for override in overrides:
        if override.created_at < end and (override.expires_at is None or override.expires_at > start):
            pins.setdefault(override.key.text, []).append(override)
    subjects: list[tuple[str, str, tuple[str, ...]]]
    if observed is None:
        subjects = [(name, name, (name,)) for name in config.targets]
        for text in sorted(pins):
            key = QueueKey.from_text(text)
            subjects.append((text, text, tuple(_groups_of_pinned(config, key))))
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
        mine = pins.get(subject, [])
        if mine:  # this queue's own State, overrides and all; its callback is the group's
            changes = _state_changes(config, groups, start, end, mine) + [
                t for t in changes if t.change == "set_callback"
            ]
        transitions = tuple(
            sorted(Transition(t.at, subject, t.change, t.source, t.reason, t.callback_index) for t in changes)
        )
        result.append(Lane(subject, label, groups, paused, callback, transitions))
    return result


def _groups_of_pinned(config: Config, key: QueueKey) -> list[str]:
    """The groups of a pinned queue whose name is unknown: those naming its id, else those that
    pick queues of its bucket, region and kind by name."""
    named = match_targets(config, key.bucket, key.region, key.kind, key.queue_id, None)
    if named:
        return named
    return [
        name
        for name, target in config.targets.items()
        if (target.bucket, target.region, target.kind) == (key.bucket, key.region, key.kind)
        and target.queue_ids is None
    ]


def _state_changes(
    config: Config,
    groups: Sequence[str],
    start: datetime,
    end: datetime,
    pins: Sequence[Override] = (),
) -> list[Transition]:
    windows = config.windows_for(groups)
    if not windows and not pins:
        return []
    edges: set[datetime] = set()
    for window in windows:
        for occ in occurrences(window, start, end):
            edges.update(t for t in (occ.opens, occ.closes) if start <= t < end)
    for pin in pins:
        edges.update(t for t in (pin.created_at, pin.expires_at) if t is not None and start <= t < end)
    tz = zone(config.timezone)

    def made_by(at: datetime) -> list[Override]:
        # An override pins nothing before it was made; one made by the start is in force already
        # (its making is no coming change).
        return [pin for pin in pins if pin.created_at <= max(at, start)]

    previous = desired_state_at(config, groups, start - _TICK, made_by(start - _TICK))
    changes = []
    for at in sorted(edges):
        desired = desired_state_at(config, groups, at, made_by(at))
        was = previous
        previous = desired
        if desired is None or was is None:
            continue
        if desired.source_type == "override":
            if desired.state == was.state or desired.override is None:
                continue  # a new pin of the state it is in: nothing changes
            pin = desired.override
            until = f"until {format_instant(pin.expires_at, tz, at)}" if pin.expires_at else "(no expiry)"
            change = "pause" if desired.state == PAUSED else "resume"
            words = f"{override_words(pin)} pins it {desired.state} {until}"
            changes.append(Transition(at, "", change, pin.id, words))
            continue
        if was.source_type == "override" and was.override is not None:
            ended = was.override
            same = desired.state == was.state
            change = "release" if same else ("pause" if desired.state == PAUSED else "resume")
            verb = f"keeps it {desired.state}" if same else "takes it back"
            words = f"{override_words(ended)} ends; the schedule {verb}: {_wanted(desired, tz, at)}"
            changes.append(Transition(at, "", change, ended.id, words))
            continue
        if desired.state == was.state:
            continue
        ws = desired.window
        source = desired.source or ""
        if desired.state == PAUSED:
            until = format_instant(ws.closes_at, tz, at) if ws and ws.closes_at else "no close"
            if ws and ws.closes_at and ws.closed_by and ws.closed_by != source:
                until += f", when window {ws.closed_by!r} closes"
            changes.append(Transition(at, "", "pause", source, f"window {source!r} opens (until {until})"))
        else:
            closed_by = (ws.closed_by if ws else None) or source
            changes.append(
                Transition(
                    at,
                    "",
                    "resume",
                    closed_by,
                    f"window {closed_by!r} closes ({_next_open(ws, closed_by, tz, at)})",
                )
            )
    return changes


def _next_open(ws: WindowState | None, closed_by: str | None, tz: ZoneInfo, at: datetime) -> str:
    """``next opens T`` (the same window) or ``next: window 'b' opens T``: the window that opens next."""
    if ws is None or ws.next_open is None:
        return "none opens within 800 days"
    when = format_instant(ws.next_open, tz, at)
    if ws.next_by is None or ws.next_by == closed_by:
        return f"next opens {when}"
    return f"next: window {ws.next_by!r} opens {when}"


def _wanted(desired: DesiredState, tz: ZoneInfo, at: datetime) -> str:
    """What the windows want at ``at``, said in the present tense (after an override ends)."""
    ws = desired.window
    if desired.state == PAUSED:
        names = desired.windows or (desired.source,)
        who = (
            f"window {names[0]!r} is"
            if len(names) == 1
            else f"windows {and_list([repr(n) for n in names])} are"
        )
        close = f"until {format_instant(ws.closes_at, tz, at)}" if ws and ws.closes_at else "with no close"
        return f"{who} open {close}"
    return f"no window is open ({_next_open(ws, None, tz, at)})"


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
            local_text(t.at, zone_info),
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

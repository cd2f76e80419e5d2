"""Windows and rotations evaluated at an instant: what is active now, since when, until when.

A window is a set of occurrences ``[opens, closes)`` from three sources, all in the window's zone:
- ``start`` cron + ``end`` cron (closes at the first end fire after the start) or ``duration``;
- weekly ``periods`` (an end earlier than the start runs past midnight);
- one-off ``dates``.
A window is open while any occurrence covers the instant; overlapping or touching occurrences,
of one window or of several, merge into one open stretch (union). ``exclude`` dates cancel the
recurring occurrences (cron and periods) that start on that local day; one-off dates are explicit
and not excluded. DST follows ``ciqueue.schedule.cron``: a local time in a spring-forward gap means the
first instant after the gap, a repeated local time means its first occurrence.

All instants in and out are aware datetimes; results are in UTC.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from ciqueue.errors import InvalidInput, Problem
from ciqueue.limits import MAX_OCCURRENCES
from ciqueue.records import dataclass
from ciqueue.schedule.config import (
    Rotation,
    Window,
    parse_clock,
    parse_days,
    parse_local_datetime,
    zone,
)
from ciqueue.schedule.cron import UTC, parse_cron, wall_time, wall_to_instant
from ciqueue.timefmt import as_utc, parse_duration

# Instants at or after this mean "never" (a window whose end cron never fires again).
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)
# Evaluation spans around `now`, widened only when an answer lies beyond the smaller one.
SPANS = (timedelta(days=8), timedelta(days=64), timedelta(days=800))
_TICK = timedelta(microseconds=1)


class ScheduleTooDense(InvalidInput, ValueError):
    """A window fires so often that evaluating it would take unreasonably long (bad config)."""

    def __init__(self, window: str, days: int) -> None:
        super().__init__(
            Problem(
                f"windows.{window}.start",
                f"fires too often to evaluate (more than {MAX_OCCURRENCES} openings within "
                f"{days} days); open the window less often",
            )
        )


@dataclass(frozen=True, order=True)
class Occurrence:
    """One opening of one window: open from ``opens`` (inclusive) to ``closes`` (exclusive)."""

    opens: datetime
    closes: datetime
    window: str


@dataclass(frozen=True)
class WindowState:
    """Whether one window (or the union of several) is open at an instant, and its edges.

    ``opened_at``/``closes_at`` bound the open stretch around now (when active);
    ``last_closed_at`` is the end of the latest stretch before now (when not active);
    ``next_open`` is the start of the next stretch. None means "not within ~800 days".
    """

    active: bool
    opened_at: datetime | None
    closes_at: datetime | None
    next_open: datetime | None
    reason: str
    last_closed_at: datetime | None = None
    opened_by: str | None = None  # the window whose occurrence began the stretch
    closed_by: str | None = None  # the window whose occurrence ends (or ended) the stretch
    next_by: str | None = None  # the window that opens next
    covering: tuple[str, ...] = ()  # windows with an occurrence covering now
    enforced: bool = False  # any covering window is enforced
    # The occurrence covering now of each covering window (the latest-closing one per window), in
    # the order the windows opened: what holds the queue Paused, each with its own open and close.
    holding: tuple[Occurrence, ...] = ()

    @property
    def edge_at(self) -> datetime | None:
        """When the current state (open or closed) began."""
        return self.opened_at if self.active else self.last_closed_at

    @property
    def next_edge(self) -> datetime | None:
        """When the current state ends."""
        return self.closes_at if self.active else self.next_open


@dataclass(frozen=True)
class RotationState:
    """Which callback a rotation selects now, since when (None: always) and until when.

    Unpacks as ``index, since, next_change = rotation_state(rotation, now)``.
    """

    index: int
    since: datetime | None
    next_change: datetime | None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.index, self.since, self.next_change))


# --- windows -----------------------------------------------------------------------------------


def window_zone(window: Window) -> ZoneInfo:
    return zone(window.zone_name)


def occurrences(window: Window, start: datetime, end: datetime) -> list[Occurrence]:
    """Occurrences of ``window`` that overlap ``[start, end)``, sorted by opening time."""
    start, end = as_utc(start), as_utc(end)
    found: list[Occurrence] = []
    if window.start is not None:
        found += _cron_occurrences(window, start, end)
    if window.periods:
        found += _period_occurrences(window, start, end)
    found += _one_off_occurrences(window, start, end)
    return sorted(found)


# Consecutive openings of a start + duration window checked for overlapping themselves.
OVERLAP_SAMPLE = 200


def self_overlap(window: Window, reference: datetime) -> tuple[str, str] | None:
    """(field, rule) when a cron window never really closes: it opens again before (or the very
    moment) it has closed. None when it is fine.

    Such openings merge into one stretch with no close in sight, which the evaluator could only
    find by enumerating every opening for years (and nobody means it: a window that is always
    open is written as a period 00:00-24:00). The first ``OVERLAP_SAMPLE`` openings after
    ``reference`` are checked.
    """
    if window.start is None:
        return None
    length = parse_duration(window.duration) if window.duration else None
    closing = parse_cron(window.end) if window.end else None
    if length is None and closing is None:
        return None
    tz = window_zone(window)
    starts = parse_cron(window.start)
    fire = starts.next_after(as_utc(reference), tz)
    for _ in range(OVERLAP_SAMPLE):
        if fire is None:
            return None
        if length is not None:
            following = starts.next_after(fire, tz)
            if following is not None and following <= fire + length:
                return (
                    "duration",
                    f"must be shorter than the time between two starts: the window opening at "
                    f"{format_instant(fire, tz)} would not have closed when the next one starts at "
                    f"{format_instant(following, tz)} ({window.duration!r})",
                )
        else:
            assert closing is not None
            closes = closing.next_after(fire, tz)
            if closes is None:
                return None
            following = starts.next_after(closes - _TICK, tz)
            if following is not None and following <= closes:
                return (
                    "end",
                    f"must leave the window closed for a while: the opening at "
                    f"{format_instant(fire, tz)} closes at {format_instant(closes, tz)}, the moment "
                    f"the start cron fires again",
                )
        fire = following
    return None


def too_dense(window: Window, reference: datetime) -> str | None:
    """Why a cron window is refused, or None: it opens and closes so often that evaluating it
    over the widest span (``SPANS[-1]`` each side of now) would exceed ``MAX_OCCURRENCES``,
    taking minutes per scheduler tick. Sampled over ``SPANS[0]`` after ``reference``, at most a
    few hundred cron steps.
    """
    if window.start is None or (window.end is None and window.duration is None):
        return None
    tz = window_zone(window)
    starts = parse_cron(window.start)
    closing = parse_cron(window.end) if window.end else None
    sample = SPANS[0]
    limit = MAX_OCCURRENCES * sample // (2 * SPANS[-1])
    horizon = as_utc(reference) + sample
    fire = starts.next_after(as_utc(reference), tz)
    for _ in range(limit + 1):
        if fire is None or fire >= horizon:
            return None
        if closing is None:
            fire = starts.next_after(fire, tz)
            continue
        closes = closing.next_after(fire, tz)
        if closes is None:
            return None
        fire = starts.next_after(closes - _TICK, tz)
    until = f"to {window.end!r}" if window.end else f"for {window.duration!r}"
    return (
        f"opens and closes more than {limit} times in {sample.days} days (from {window.start!r} "
        f"{until}); too often to evaluate: fire start or end less often"
    )


def window_state(window: Window, now: datetime) -> WindowState:
    """The state of one window at ``now``."""
    return windows_state([window], now)


def windows_state(windows: Sequence[Window], now: datetime) -> WindowState:
    """The state of the union of ``windows`` at ``now`` (open if any of them is open)."""
    now = as_utc(now)
    by_name = {w.name: w for w in windows}
    if not windows:
        return WindowState(False, None, None, None, "no window applies")
    for span in SPANS:
        last_try = span == SPANS[-1]
        low, high = now - span, now + span
        stretches = _merge([o for w in windows for o in occurrences(w, low, high)])
        current = next((s for s in stretches if s[0] <= now < s[1]), None)
        if current is not None:
            opens, closes, _ = current
            if not last_try and (opens <= low or closes >= high):
                continue
            # Beyond the widest span the stretch's ends are unknown, not the span's edges: an
            # edge that moved with `now` would look like a new schedule edge at every tick.
            return _open_state(now, by_name, stretches, current, opens > low, closes < high)
        before = [s for s in stretches if s[1] <= now]
        after = [s for s in stretches if s[0] > now]
        if not last_try and (not before or not after):
            continue
        return _closed_state(now, by_name, before[-1] if before else None, after[0] if after else None)
    raise AssertionError("unreachable")  # pragma: no cover


_Stretch = tuple[datetime, datetime, tuple[Occurrence, ...]]


def _merge(items: list[Occurrence]) -> list[_Stretch]:
    stretches: list[_Stretch] = []
    for occ in sorted(items):
        if stretches and occ.opens <= stretches[-1][1]:
            opens, closes, members = stretches[-1]
            stretches[-1] = (opens, max(closes, occ.closes), (*members, occ))
        else:
            stretches.append((occ.opens, occ.closes, (occ,)))
    return stretches


def _open_state(
    now: datetime,
    by_name: dict[str, Window],
    stretches: list[_Stretch],
    current: _Stretch,
    known_open: bool = True,
    known_close: bool = True,
) -> WindowState:
    opens, closes, members = current
    covering = tuple(dict.fromkeys(o.window for o in members if o.opens <= now < o.closes))
    holding = tuple(
        max((o for o in members if o.window == name and o.opens <= now < o.closes), key=lambda o: o.closes)
        for name in covering
    )
    opened_by = members[0].window
    closed_by = max(members, key=lambda o: o.closes).window
    later = [s for s in stretches if s[0] > closes]
    closes_at = None if closes >= FAR_FUTURE or not known_close else closes
    next_open = later[0][0] if later and known_close else None
    opened_at = opens if known_open else None
    zone_of = window_zone(by_name[opened_by])
    others = [name for name in covering if name != opened_by]
    if opened_at is not None:
        reason = f"window {opened_by!r} open since {format_instant(opens, zone_of, now)}"
    else:
        reason = f"window {opened_by!r} open for more than {SPANS[-1].days} days"
    if closes_at:
        reason += f", closes {format_instant(closes_at, zone_of, now)}"
    else:
        reason += ", does not close" if known_close else f", not closing within {SPANS[-1].days} days"
    if others:
        reason += f" (also open: {', '.join(repr(n) for n in others)})"
    return WindowState(
        active=True,
        opened_at=opened_at,
        closes_at=closes_at,
        next_open=next_open,
        reason=reason,
        opened_by=opened_by,
        closed_by=closed_by,
        next_by=later[0][2][0].window if later else None,
        covering=covering,
        enforced=any(by_name[name].enforced for name in covering),
        holding=holding,
    )


def _closed_state(
    now: datetime, by_name: dict[str, Window], before: _Stretch | None, after: _Stretch | None
) -> WindowState:
    parts = ["no window open"]
    closed_by = next_by = None
    if before is not None:
        closed_by = max(before[2], key=lambda o: o.closes).window
        parts.append(
            f"{closed_by!r} closed at {format_instant(before[1], window_zone(by_name[closed_by]), now)}"
        )
    if after is not None:
        next_by = after[2][0].window
        parts.append(f"{next_by!r} opens {format_instant(after[0], window_zone(by_name[next_by]), now)}")
    else:
        parts.append("none opens within 800 days")
    return WindowState(
        active=False,
        opened_at=None,
        closes_at=None,
        next_open=after[0] if after else None,
        reason="; ".join(parts),
        last_closed_at=before[1] if before else None,
        closed_by=closed_by,
        next_by=next_by,
    )


def _cron_occurrences(window: Window, start: datetime, end: datetime) -> list[Occurrence]:
    assert window.start is not None
    tz = window_zone(window)
    starts = parse_cron(window.start)
    closing = parse_cron(window.end) if window.end else None
    length = parse_duration(window.duration) if window.duration else None
    excluded = window.excluded_dates()

    def is_excluded(instant: datetime) -> bool:
        return bool(excluded) and wall_time(instant, tz).date() in excluded

    fire: datetime | None
    if length is not None:
        fire = starts.next_after(start - length, tz)
    else:
        # The latest start at or before `start` may still be open; starts between it and its
        # close share that close, so they add nothing.
        fire = starts.previous_at_or_before(start, tz)
        while fire is not None and is_excluded(fire):
            midnight = wall_to_instant(datetime.combine(wall_time(fire, tz).date(), time()), tz)
            fire = starts.previous_at_or_before(midnight - _TICK, tz)
        if fire is None:
            fire = starts.next_after(start, tz)
    found: list[Occurrence] = []
    steps = 0
    while fire is not None and fire < end:
        steps += 1
        if steps > MAX_OCCURRENCES:
            raise ScheduleTooDense(window.name, (end - start).days)
        if is_excluded(fire):
            fire = starts.next_after(fire, tz)
            continue
        if length is not None:
            closes = fire + length
        else:
            assert closing is not None
            closes = closing.next_after(fire, tz) or FAR_FUTURE
        if closes > start:
            found.append(Occurrence(fire, closes, window.name))
        fire = starts.next_after(fire if length is not None else closes - _TICK, tz)
    return found


@lru_cache(maxsize=1024)
def _period_bounds(
    days: str | tuple[str, ...] | None, start: str, end: str
) -> tuple[frozenset[int], time, time, int]:
    weekdays = parse_days(days)
    sh, sm, ss = parse_clock(start) or (0, 0, 0)
    eh, em, es = parse_clock(end, allow_24=True) or (0, 0, 0)
    begin = time(sh, sm, ss)
    if eh == 24:
        return weekdays, begin, time(0), 1
    finish = time(eh, em, es)
    return weekdays, begin, finish, 0 if finish > begin else 1


def _period_occurrences(window: Window, start: datetime, end: datetime) -> list[Occurrence]:
    tz = window_zone(window)
    excluded = window.excluded_dates()
    first = wall_time(start, tz).date() - timedelta(days=1)
    last = wall_time(end, tz).date()
    found: list[Occurrence] = []
    for period in window.periods or []:
        days = tuple(period.days) if isinstance(period.days, list) else period.days
        weekdays, begin, finish, carry = _period_bounds(days, period.start, period.end)
        day = first
        while day <= last:
            if day.weekday() in weekdays and day not in excluded:
                opens = wall_to_instant(datetime.combine(day, begin), tz)
                closes = wall_to_instant(datetime.combine(day + timedelta(days=carry), finish), tz)
                # A period entirely inside a spring-forward gap opens and closes at once: skip it.
                if opens < closes and opens < end and closes > start:
                    found.append(Occurrence(opens, closes, window.name))
            day += timedelta(days=1)
    return found


def _one_off_occurrences(window: Window, start: datetime, end: datetime) -> list[Occurrence]:
    tz = window_zone(window)
    found = []
    for one_off in window.dates:
        opens, closes = _local_instant(one_off.start, tz), _local_instant(one_off.end, tz)
        if opens < closes and opens < end and closes > start:
            found.append(Occurrence(opens, closes, window.name))
    return found


# --- rotations ---------------------------------------------------------------------------------


def rotation_state(rotation: Rotation, now: datetime) -> RotationState:
    """Which callback ``rotation`` selects at ``now``: (index, since, next_change)."""
    now = as_utc(now)
    count = len(rotation.callbacks)
    tz = zone(rotation.zone_name)
    if rotation.every is not None:
        step = parse_duration(rotation.every)
        assert step is not None and rotation.anchor is not None
        if count == 1:
            return RotationState(0, None, None)
        anchor = _local_instant(rotation.anchor, tz)
        k = (now - anchor) // step
        since = anchor + k * step
        return RotationState(k % count, since, since + step)
    fires = _switch_fires(rotation, tz, wall_time(now, tz).date())
    past = [f for f in fires if f[0] <= now]
    index = past[-1][1] if past else 0
    changed_at: datetime | None = None
    for position in range(len(past) - 1, -1, -1):
        if past[position][1] != index:
            changed_at = past[position + 1][0]
            break
    next_change = next((f[0] for f in fires if f[0] > now and f[1] != index), None)
    return RotationState(index, changed_at, next_change)


def rotation_changes(rotation: Rotation, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """(instant, new index) for every change of ``rotation`` in ``[start, end)``."""
    changes = []
    state = rotation_state(rotation, start)
    if state.since is not None and state.since == as_utc(start):
        changes.append((state.since, state.index))
    at = state.next_change
    while at is not None and at < end:
        state = rotation_state(rotation, at)
        changes.append((at, state.index))
        at = state.next_change
    return changes


def _switch_fires(rotation: Rotation, tz: ZoneInfo, today: date) -> list[tuple[datetime, int]]:
    """Switch instants from 15 days before to 8 days after ``today``, with their callback index.

    Every switch recurs at least weekly, so this range always holds the change before now and
    the change after it, if the rotation changes at all.
    """
    fires: list[tuple[datetime, int, int]] = []
    for position, switch in enumerate(rotation.at or []):
        days = tuple(switch.days) if isinstance(switch.days, list) else switch.days
        weekdays = parse_days(days)
        clock = time(*(parse_clock(switch.time) or (0, 0, 0)))
        for offset in range(-15, 9):
            day = today + timedelta(days=offset)
            if day.weekday() in weekdays:
                fires.append((wall_to_instant(datetime.combine(day, clock), tz), position, switch.callback))
    # Same instant: the switch listed later wins, and the others at that instant do not count at
    # all (else a losing switch would look like a change and its instant like a new edge).
    last_at: dict[datetime, int] = {}
    for at, _, index in sorted(fires):
        last_at[at] = index
    return sorted(last_at.items())


# --- helpers ------------------------------------------------------------------------------------


def format_instant(instant: datetime | None, tz: ZoneInfo, now: datetime | None = None) -> str:
    """``02:00 CST`` when on the same local day as ``now``, else ``2026-03-29 02:00 CEST``."""
    if instant is None:
        return "never"
    local = instant.astimezone(tz)
    text = local.strftime("%H:%M:%S" if local.second else "%H:%M") + " " + (local.tzname() or tz.key)
    if now is None or now.astimezone(tz).date() != local.date():
        text = local.strftime("%Y-%m-%d ") + text
    return text


def _local_instant(text: str, tz: ZoneInfo) -> datetime:
    value = parse_local_datetime(text)
    assert value is not None, "validated by ciqueue.schedule.config"
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    return wall_to_instant(value, tz)

"""The coming week as a picture: an SVG timeline drawn from a plan, one lane per group or queue.

Pure: no I/O and no clock. ``now`` and the zone are arguments, and the same input gives the same
bytes (numbers are written with one decimal, items in a fixed order), so a test or a cache can
compare pictures. One renderer serves the console page and ``ciqueue plan --svg FILE``.

What it draws, per lane (``plan.lanes``: a target group, or an observed queue):
- the lane's label, then a bar over the horizon: grey while the schedule leaves the queue alone,
  amber where a window holds it Paused (a window already open at the start is shaded from the
  left edge; one still open at the end runs to the right edge);
- under the bar, the overrides (``engine.Override``, as the state store keeps them): dark blue
  where one pins Paused, green where one pins Active, from its creation (or the start) to its
  expiry (or the end), at least 4 units wide; an override whose queue has no lane gets a lane of
  its own, after the others, labelled with its queue key. Labels under the bar never overlap: an
  override's is placed before the switches' (a label with no room is left out; its mark keeps
  its ``<title>``);
- rotation switches: a blue mark across the bar at the switch, labelled ``#N`` (the callback's
  index), and the callback in force at the start at the left;
- across all lanes: day ticks at local midnight and hour ticks (every 1-12 h, as many as fit),
  times in ``tz`` with its abbreviation in the heading (``CST`` or ``CET/CEST`` when the horizon
  crosses a DST change), and a red "now" line when ``now`` falls inside the horizon.

Accessibility: ``role="img"`` named by a ``<title>`` and described by a ``<desc>`` that says in
words what the bars show; every shaded span and mark carries its own ``<title>``; all text is real
text (no font files: the generic ``sans-serif``), dark on white or white on the darker fills, each
pair at a contrast ratio of 4.5:1 or more; no script, no external reference, no DTD. The picture
has a natural size of 720 px wide (text 12-16 px) and a ``viewBox``, so it scales: a page shows it
in a horizontally scrolling box on a phone (the text keeps its size) or scales it down with CSS
``max-width: 100%; height: auto``.

Untrusted text (lane names, override reasons and actors) is escaped; callback labels come from
``Callback.describe`` (no query string), so no secret reaches the picture.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

from ciqueue.records import dataclass
from ciqueue.schedule.config import Config, zone
from ciqueue.schedule.cron import UTC
from ciqueue.schedule.engine import ObservedQueue, Override
from ciqueue.schedule.plan import Lane, lanes

WIDTH = 720
PAD = 12
PLOT_LEFT, PLOT_RIGHT = PAD, WIDTH - PAD
AXIS_TOP = 50  # day labels sit above this line, hour labels below it
LANES_TOP = 90
LANE_HEIGHT = 84
BAR_OFFSET, BAR_HEIGHT = 20, 28  # within a lane: the label row, then the schedule bar
OVERRIDE_OFFSET, OVERRIDE_HEIGHT = 52, 10
NOTE_BASELINE = 78  # switch and override labels under the bar
LEGEND_HEIGHT = 44
# Day labels need about this much room; hour ticks are drawn at the finest step that leaves this much.
MIN_DAY_LABEL_GAP = 64
MIN_HOUR_LABEL_GAP = 26
HOUR_STEPS = (1, 2, 3, 6, 12)
MIN_MARK = 4.0  # the narrowest drawn override, so a 30-minute pin on a week is still seen
# Colours (each text or mark against what lies behind it reaches 4.5:1 or more).
INK = "#111827"  # text on white
MUTED = "#4b5563"  # secondary text on white (7.6:1)
GRID = "#d1d5db"
LANE_BG = "#f3f4f6"
PAUSED = "#b45309"  # amber-700: 5.0:1 on white, 4.6:1 on LANE_BG
PIN_PAUSED = "#1e3a8a"
PIN_ACTIVE = "#047857"
SWITCH = "#1d4ed8"
NOW = "#b91c1c"
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MAX_LABEL_CHARS = 80  # at 15 units a character averages ~8.5 units: 80 fill the width


@dataclass(frozen=True)
class _Span:
    start: datetime
    end: datetime


def week_svg(
    config: Config,
    now: datetime,
    *,
    start: datetime | None = None,
    days: float = 7,
    observed: Iterable[ObservedQueue] | None = None,
    overrides: Sequence[Override] = (),
    id_prefix: str = "timeline",
) -> str:
    """The plan of ``config`` over ``days`` from ``start`` (default: local midnight of ``now``'s day
    in the config's zone) as SVG text; per queue when ``observed`` is given, else per group."""
    tz = zone(config.timezone)
    if start is None:
        today = now.astimezone(tz).date()
        start = _local_midnight(today, tz)
    subjects = lanes(config, start, days, observed)
    return render_timeline(
        subjects,
        start=start,
        end=start + timedelta(days=days),
        now=now,
        tz=tz,
        overrides=overrides,
        id_prefix=id_prefix,
    )


def render_timeline(
    subjects: Sequence[Lane],
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    tz: str | ZoneInfo,
    overrides: Sequence[Override] = (),
    id_prefix: str = "timeline",
) -> str:
    """The SVG text of ``subjects`` over ``[start, end)`` with ``overrides`` and a now line.

    ``id_prefix`` keeps element ids unique when a page shows more than one picture.
    """
    for name, value in (("start", start), ("end", end), ("now", now)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be an aware datetime (got a naive one)")
    start, end, now = start.astimezone(UTC), end.astimezone(UTC), now.astimezone(UTC)
    if end <= start:
        raise ValueError("end must be after start")
    zone_info = zone(tz) if isinstance(tz, str) else tz
    scale = _Scale(start, end)
    all_lanes = _with_override_lanes(subjects, overrides, start, end)
    height = LANES_TOP + max(1, len(all_lanes)) * LANE_HEIGHT + LEGEND_HEIGHT
    abbreviations = _abbreviations(start, end, zone_info)
    heading = f"{_local(start, zone_info)} to {_local(end, zone_info)}, {abbreviations} ({zone_info.key})"
    title_id, desc_id = f"{id_prefix}-title", f"{id_prefix}-desc"
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" '
        f'preserveAspectRatio="xMinYMin meet" role="img" aria-labelledby="{title_id} {desc_id}" '
        f'font-family="sans-serif" font-size="14" fill="{INK}">',
        f"<title id={quoteattr(title_id)}>{escape(heading)}</title>",
        f"<desc id={quoteattr(desc_id)}>{escape(_description(all_lanes, start, end, now, zone_info))}</desc>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{PAD}" y="20" font-size="15" font-weight="bold">{escape(heading)}</text>',
    ]
    out += _axis(scale, zone_info, height - LEGEND_HEIGHT)
    if not all_lanes:
        out.append(
            f'<text x="{PAD}" y="{LANES_TOP + 40}" font-size="15">No target groups or queues to show: '
            "add targets and windows to the schedule.</text>"
        )
    for index, (lane, pins) in enumerate(all_lanes):
        out += _lane(lane, pins, LANES_TOP + index * LANE_HEIGHT, scale, zone_info, now)
    if start <= now <= end:
        out += _now_line(scale.x(now), now, zone_info, height - LEGEND_HEIGHT)
    out += _legend(height - LEGEND_HEIGHT + 14)
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --- geometry ----------------------------------------------------------------------------------


class _Scale:
    """Instants to x positions over the plot."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        self.seconds = (end - start).total_seconds()

    def x(self, at: datetime) -> float:
        share = (at - self.start).total_seconds() / self.seconds
        return PLOT_LEFT + min(1.0, max(0.0, share)) * (PLOT_RIGHT - PLOT_LEFT)

    @property
    def per_hour(self) -> float:
        return (PLOT_RIGHT - PLOT_LEFT) * 3600 / self.seconds


def _num(value: float) -> str:
    return f"{value:.1f}"


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _local(at: datetime, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    return f"{_DAY_NAMES[local.weekday()]} {local:%Y-%m-%d %H:%M}"  # no %a: locale-free


def _clock(at: datetime, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    return f"{_DAY_NAMES[local.weekday()]} {local:%H:%M}"


def _abbreviations(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """The zone's abbreviations over the horizon, in order of appearance (``CET/CEST``)."""
    names: list[str] = []
    at = start
    while at <= end:
        name = at.astimezone(tz).tzname() or tz.key
        if name not in names:
            names.append(name)
        at += timedelta(hours=6)
    last = end.astimezone(tz).tzname() or tz.key
    if last not in names:
        names.append(last)
    return "/".join(names)


def _axis(scale: _Scale, tz: ZoneInfo, bottom: float) -> list[str]:
    out = [f'<line x1="{PLOT_LEFT}" y1="{AXIS_TOP}" x2="{PLOT_RIGHT}" y2="{AXIS_TOP}" stroke="{MUTED}"/>']
    per_day = scale.per_hour * 24
    day_step = max(1, math.ceil(MIN_DAY_LABEL_GAP / per_day)) if per_day > 0 else 1
    hour_step = next((h for h in HOUR_STEPS if scale.per_hour * h >= MIN_HOUR_LABEL_GAP), None)
    first = scale.start.astimezone(tz).date()
    last = scale.end.astimezone(tz).date()
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        midnight = _local_midnight(day, tz)
        if scale.start <= midnight <= scale.end:
            x = _num(scale.x(midnight))
            out.append(
                f'<line x1="{x}" y1="{AXIS_TOP - 8}" x2="{x}" y2="{_num(bottom)}" stroke="{GRID}" '
                'class="day-tick"/>'
            )
            if offset % day_step == 0 and scale.x(midnight) <= PLOT_RIGHT - 40:
                label = f"{_DAY_NAMES[day.weekday()]} {day:%m-%d}"
                out.append(f'<text x="{_num(scale.x(midnight) + 3)}" y="{AXIS_TOP - 6}">{label}</text>')
        if hour_step is None:
            continue
        for hour in range(hour_step, 24, hour_step):
            local = datetime.combine(day, time(hour), tzinfo=tz)
            at = local.astimezone(UTC)
            if not scale.start <= at <= scale.end:
                continue
            x = _num(scale.x(at))
            out.append(
                f'<line x1="{x}" y1="{AXIS_TOP}" x2="{x}" y2="{AXIS_TOP + 6}" stroke="{MUTED}" '
                'class="hour-tick"/>'
            )
            out.append(
                f'<text x="{x}" y="{AXIS_TOP + 20}" font-size="12" fill="{MUTED}" '
                f'text-anchor="middle">{hour:02d}</text>'
            )
    return out


# --- lanes -------------------------------------------------------------------------------------


def _with_override_lanes(
    subjects: Sequence[Lane], overrides: Sequence[Override], start: datetime, end: datetime
) -> list[tuple[Lane, list[Override]]]:
    """Each lane with the overrides on it; an override on a queue with no lane gets its own lane."""
    shown = [o for o in overrides if o.created_at < end and (o.expires_at is None or o.expires_at > start)]
    shown.sort(key=lambda o: (o.created_at, o.id))
    by_lane: dict[str, list[Override]] = {lane.name: [] for lane in subjects}
    extra: dict[str, list[Override]] = {}
    for override in shown:
        key = override.key.text
        (by_lane[key] if key in by_lane else extra.setdefault(key, [])).append(override)
    result = [(lane, by_lane[lane.name]) for lane in subjects]
    for key in sorted(extra):
        result.append((Lane(key, f"{key} (override)", (), False, None, ()), extra[key]))
    return result


def _paused_spans(lane: Lane, start: datetime, end: datetime) -> list[_Span]:
    spans: list[_Span] = []
    opened: datetime | None = start if lane.paused_at_start else None
    for transition in lane.transitions:
        if transition.change == "pause" and opened is None:
            opened = transition.at
        elif transition.change == "resume" and opened is not None:
            spans.append(_Span(opened, transition.at))
            opened = None
    if opened is not None:
        spans.append(_Span(opened, end))
    return spans


def _lane(
    lane: Lane, pins: Sequence[Override], top: float, scale: _Scale, tz: ZoneInfo, now: datetime
) -> list[str]:
    label = lane.label if len(lane.label) <= _MAX_LABEL_CHARS else lane.label[: _MAX_LABEL_CHARS - 1] + "…"
    bar_y = top + BAR_OFFSET
    width = _num(PLOT_RIGHT - PLOT_LEFT)
    out = [
        f'<g class="lane" data-lane={quoteattr(lane.name)}>',
        f"<title>{escape(lane.name)}</title>",
        f'<text x="{PLOT_LEFT}" y="{_num(top + 15)}" font-size="15" font-weight="bold">'
        f"{escape(label)}</text>",
        f'<rect class="lane-bar" x="{PLOT_LEFT}" y="{_num(bar_y)}" width="{width}" height="{BAR_HEIGHT}" '
        f'fill="{LANE_BG}" stroke="{GRID}"/>',
    ]
    for span in _paused_spans(lane, scale.start, scale.end):
        x0, x1 = scale.x(span.start), scale.x(span.end)
        what = f"Paused by the schedule {_clock(span.start, tz)} to {_clock(span.end, tz)}"
        out.append(
            f'<rect class="paused" x="{_num(x0)}" y="{_num(bar_y)}" width="{_num(max(x1 - x0, 1.0))}" '
            f'height="{BAR_HEIGHT}" fill="{PAUSED}"><title>{escape(what)}</title></rect>'
        )
        if x1 - x0 >= 60:
            out.append(
                f'<text x="{_num(x0 + 4)}" y="{_num(bar_y + 19)}" fill="#ffffff" font-size="13">paused</text>'
            )
    notes: list[tuple[float, str, str, int]] = []  # x, text, colour, priority (0 first)
    if lane.callback_at_start is not None:
        notes.append((PLOT_LEFT, f"#{lane.callback_at_start}", SWITCH, 1))
    for transition in lane.transitions:
        if transition.change != "set_callback":
            continue
        x = _num(scale.x(transition.at))
        what = f"{_clock(transition.at, tz)}: {transition.reason}"
        out.append(
            f'<line class="switch" x1="{x}" y1="{_num(bar_y - 3)}" '
            f'x2="{x}" y2="{_num(bar_y + BAR_HEIGHT + 3)}" '
            f'stroke="{SWITCH}" stroke-width="3"><title>{escape(what)}</title></line>'
        )
        notes.append((scale.x(transition.at), f"#{transition.callback_index}", SWITCH, 1))
    for pin in pins:
        x0 = scale.x(max(pin.created_at, scale.start))
        x1 = scale.x(min(pin.expires_at, scale.end) if pin.expires_at else scale.end)
        colour = PIN_PAUSED if pin.state == "Paused" else PIN_ACTIVE
        out.append(
            f'<rect class="override" data-override={quoteattr(pin.id)} data-state={quoteattr(pin.state)} '
            f'x="{_num(x0)}" y="{_num(top + OVERRIDE_OFFSET)}" width="{_num(max(x1 - x0, MIN_MARK))}" '
            f'height="{OVERRIDE_HEIGHT}" fill="{colour}"><title>{escape(_pin_text(pin, tz))}</title></rect>'
        )
        notes.append((x0, _pin_note(pin, tz), colour, 0))
    out += _notes(notes, top + NOTE_BASELINE)
    out.append("</g>")
    return out


def _notes(notes: Sequence[tuple[float, str, str, int]], baseline: float) -> list[str]:
    """Short labels under the bar: placed by priority (overrides before switches), then left to
    right; one that would overlap a placed label is dropped (its mark keeps its ``<title>``)."""
    placed: list[tuple[float, float, str, str]] = []
    for x, text, colour, _ in sorted(notes, key=lambda n: (n[3], n[0])):
        width = 7.0 * len(text)
        x = min(x, PLOT_RIGHT - width)
        if any(x < right + 6 and left < x + width + 6 for left, right, _, _ in placed):
            continue
        placed.append((x, x + width, text, colour))
    return [
        f'<text class="note" x="{_num(x)}" y="{_num(baseline)}" font-size="12" fill="{colour}">'
        f"{escape(text)}</text>"
        for x, _, text, colour in sorted(placed)
    ]


def _pin_text(pin: Override, tz: ZoneInfo) -> str:
    until = f"until {_clock(pin.expires_at, tz)}" if pin.expires_at else "until cancelled"
    by = f" by {pin.actor}" if pin.actor else ""
    why = f": {pin.reason}" if pin.reason else ""
    return f"override {pin.id} pins {pin.state}{by} {until}{why}"


def _pin_note(pin: Override, tz: ZoneInfo) -> str:
    until = f"until {_clock(pin.expires_at, tz)}" if pin.expires_at else "until cancelled"
    return f"pinned {pin.state} {until}"


def _now_line(x: float, now: datetime, tz: ZoneInfo, bottom: float) -> list[str]:
    label = f"now {now.astimezone(tz):%H:%M %Z}"
    anchor = "end" if x > WIDTH - 120 else "start"
    text_x = x - 3 if anchor == "end" else x + 3
    return [
        f'<line class="now" x1="{_num(x)}" y1="{AXIS_TOP}" x2="{_num(x)}" y2="{_num(bottom)}" '
        f'stroke="{NOW}" stroke-width="2"><title>{escape(label)}</title></line>',
        f'<text class="now-label" x="{_num(text_x)}" y="{LANES_TOP - 6}" font-size="12" fill="{NOW}" '
        f'text-anchor="{anchor}">{escape(label)}</text>',
    ]


def _legend(y: float) -> list[str]:
    items = (
        ("rect", PAUSED, "paused by a window"),
        ("rect", PIN_PAUSED, "override: Paused"),
        ("rect", PIN_ACTIVE, "override: Active"),
        ("line", SWITCH, "callback switch #N"),
        ("line", NOW, "now"),
    )
    out = ['<g class="legend">']
    x = float(PAD)
    for shape, colour, text in items:
        if shape == "rect":
            out.append(f'<rect x="{_num(x)}" y="{_num(y)}" width="14" height="14" fill="{colour}"/>')
        else:
            out.append(
                f'<line x1="{_num(x + 7)}" y1="{_num(y - 1)}" x2="{_num(x + 7)}" y2="{_num(y + 15)}" '
                f'stroke="{colour}" stroke-width="3"/>'
            )
        out.append(f'<text x="{_num(x + 18)}" y="{_num(y + 12)}" font-size="12">{escape(text)}</text>')
        x += 18 + 7.0 * len(text) + 14
    out.append("</g>")
    return out


def _description(
    all_lanes: Sequence[tuple[Lane, Sequence[Override]]],
    start: datetime,
    end: datetime,
    now: datetime,
    tz: ZoneInfo,
) -> str:
    """What the picture shows, in words (the ``<desc>``, read by screen readers)."""
    if not all_lanes:
        return "No target groups or queues to show."
    parts = [f"Now is {_local(now, tz)}."] if start <= now <= end else []
    for lane, pins in all_lanes:
        spans = _paused_spans(lane, start, end)
        said = [f"{lane.label}:"]
        if spans:
            said.append(
                "paused " + "; ".join(f"{_clock(s.start, tz)} to {_clock(s.end, tz)}" for s in spans) + "."
            )
        else:
            said.append("not paused by a window.")
        switches = [t for t in lane.transitions if t.change == "set_callback"]
        if switches:
            said.append(
                "callback switches "
                + "; ".join(f"{_clock(t.at, tz)} to #{t.callback_index}" for t in switches)
                + "."
            )
        said += [_pin_text(pin, tz) + "." for pin in pins]
        parts.append(" ".join(said))
    return " ".join(parts)

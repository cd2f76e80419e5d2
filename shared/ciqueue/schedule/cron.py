"""SCF timer cron expressions (7 fields) and local wall time, evaluated in an IANA zone.

Fields: ``Second Minute Hour Day Month Week Year``. Each field takes ``*``, numbers, ranges
``a-b``, steps ``*/n``, ``a/n``, ``a-b/n`` and comma lists. Month takes ``JAN..DEC``, Week takes
``SUN..SAT`` (0 = Sunday, 0-6). Day also takes ``?``, ``L`` (last day), ``LW`` (last weekday) and
``nW`` (weekday nearest day n, within the month); Week also takes ``?``, ``nL`` (last weekday n of
the month, e.g. ``5L`` = last Friday) and ``n#k`` (k-th weekday n, e.g. ``1#2`` = 2nd Monday).
When both Day and Week are restricted (neither is ``*`` nor ``?``) a date matches if EITHER
matches (SCF: "they combine as OR"); when only one is restricted, only that one counts.

Time zones and DST (our choice, since SCF leaves it open): an expression is matched against local
wall-clock time in the given zone.
- A wall time that does not exist (spring forward gap) fires once, at the first valid instant
  after the gap (02:30 in Europe/Berlin on 2026-03-29 fires at 03:00 CEST).
- A wall time that occurs twice (fall back) fires once, at its first occurrence (the DST one).

We evaluate the fields ourselves rather than through croniter: the Year field, the SCF Day/Week OR
rule and the DST rules above are exactly what we need to control and test.
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from ciqueue.errors import InvalidInput, Problem
from ciqueue.records import dataclass
from ciqueue.timefmt import as_utc, local_text

UTC = timezone.utc
MIN_YEAR = 1970
MAX_YEAR = 2099

FIELD_NAMES = ("second", "minute", "hour", "day", "month", "week", "year")
_BOUNDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6), (MIN_YEAR, MAX_YEAR))
MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEK_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_ONE_SECOND = timedelta(seconds=1)


class CronError(ValueError):
    """A rule the expression breaks; the text names the field, e.g. ``cron field 3 (hour): ...``."""


@dataclass(frozen=True)
class DaySpec:
    """Day-of-month rules: plain days, ``L``, ``LW`` and ``nW``."""

    any: bool
    days: frozenset[int]
    last: bool = False
    last_weekday: bool = False
    nearest_weekday: frozenset[int] = frozenset()

    def matches(self, day: date) -> bool:
        if self.any:
            return True
        month_len = calendar.monthrange(day.year, day.month)[1]
        if day.day in self.days or (self.last and day.day == month_len):
            return True
        if self.last_weekday and day == _nearest_weekday(day.year, day.month, month_len, month_len):
            return True
        return any(
            n <= month_len and day == _nearest_weekday(day.year, day.month, n, month_len)
            for n in self.nearest_weekday
        )


@dataclass(frozen=True)
class WeekSpec:
    """Day-of-week rules (0 = Sunday): plain days, ``nL`` and ``n#k``."""

    any: bool
    weekdays: frozenset[int]
    last: frozenset[int] = frozenset()
    nth: frozenset[tuple[int, int]] = frozenset()

    def matches(self, day: date) -> bool:
        if self.any:
            return True
        dow = cron_weekday(day)
        if dow in self.weekdays:
            return True
        month_len = calendar.monthrange(day.year, day.month)[1]
        if dow in self.last and day.day + 7 > month_len:
            return True
        return (dow, (day.day - 1) // 7 + 1) in self.nth


@dataclass(frozen=True)
class CronExpr:
    """A parsed 7-field expression. Instants in and out are aware datetimes (results in UTC)."""

    text: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    day: DaySpec
    months: frozenset[int]
    week: WeekSpec
    years: tuple[int, ...]

    def matches_date(self, day: date) -> bool:
        """True when ``day`` (a local date) is one on which the expression fires."""
        if day.year not in self.years or day.month not in self.months:
            return False
        if self.day.any or self.week.any:
            return self.day.matches(day) and self.week.matches(day)
        return self.day.matches(day) or self.week.matches(day)

    def next_after(self, instant: datetime, zone: ZoneInfo) -> datetime | None:
        """The first fire time strictly after ``instant``; None when there is none before 2100."""
        after = as_utc(instant)
        local = wall_time(after, zone)
        # Candidates are visited in wall-time order; a fall-back within a day can map a wall time
        # up to (offset drop) earlier than `local` to an instant after `after`.
        drop = max(timedelta(0), _offset(after, zone) - min(_offsets_around(after, zone, +1)))
        bound = local - drop
        day: date | None = bound.date()
        first = True
        while day is not None:
            day = self._date_on_or_after(day)
            if day is None:
                return None
            start = bound.time() if first and day == bound.date() else None
            first = False
            for hms in self._times_from(start):
                fire = wall_to_instant(datetime.combine(day, time(*hms)), zone)
                if fire > after:
                    return fire
            day = _add_days(day, 1)
        return None

    def previous_at_or_before(self, instant: datetime, zone: ZoneInfo) -> datetime | None:
        """The last fire time at or before ``instant``; None when there is none since 1970."""
        at = as_utc(instant)
        local = wall_time(at, zone)
        rise = max(timedelta(0), max(_offsets_around(at, zone, -1)) - _offset(at, zone))
        bound = local + rise
        day: date | None = bound.date()
        first = True
        while day is not None:
            day = self._date_on_or_before(day)
            if day is None:
                return None
            end = bound.time() if first and day == bound.date() else None
            first = False
            for hms in self._times_down_from(end):
                fire = wall_to_instant(datetime.combine(day, time(*hms)), zone)
                if fire <= at:
                    return fire
            day = _add_days(day, -1)
        return None

    def iter_between(self, start: datetime, end: datetime, zone: ZoneInfo) -> Iterator[datetime]:
        """Fire times t with start <= t < end, ascending."""
        fire = self.next_after(as_utc(start) - timedelta(microseconds=1), zone)
        while fire is not None and fire < end:
            yield fire
            fire = self.next_after(fire, zone)

    def _date_on_or_after(self, day: date) -> date | None:
        while True:
            if day.year > MAX_YEAR:
                return None
            if day.year not in self.years:
                index = bisect_right(self.years, day.year)
                if index == len(self.years):
                    return None
                day = date(self.years[index], 1, 1)
                continue
            if day.month not in self.months:
                day = date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)
                continue
            if self.matches_date(day):
                return day
            if day == date.max:
                return None
            day += timedelta(days=1)

    def _date_on_or_before(self, day: date) -> date | None:
        while True:
            if day.year < MIN_YEAR:
                return None
            if day.year not in self.years:
                index = bisect_left(self.years, day.year)
                if index == 0:
                    return None
                day = date(self.years[index - 1], 12, 31)
                continue
            if day.month not in self.months:
                day = date(day.year, day.month, 1) - timedelta(days=1)
                continue
            if self.matches_date(day):
                return day
            day -= timedelta(days=1)

    def _times_from(self, start: time | None) -> Iterator[tuple[int, int, int]]:
        for h in self.hours:
            if start is not None and h < start.hour:
                continue
            on_hour = start is not None and h == start.hour
            for m in self.minutes:
                if on_hour and start is not None and m < start.minute:
                    continue
                on_minute = on_hour and start is not None and m == start.minute
                for s in self.seconds:
                    if on_minute and start is not None and s < start.second:
                        continue
                    yield h, m, s

    def _times_down_from(self, end: time | None) -> Iterator[tuple[int, int, int]]:
        for h in reversed(self.hours):
            if end is not None and h > end.hour:
                continue
            on_hour = end is not None and h == end.hour
            for m in reversed(self.minutes):
                if on_hour and end is not None and m > end.minute:
                    continue
                on_minute = on_hour and end is not None and m == end.minute
                for s in reversed(self.seconds):
                    if on_minute and end is not None and s > end.second:
                        continue
                    yield h, m, s


# --- local wall time -------------------------------------------------------------------------


def wall_time(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall-clock time of an aware instant in ``zone``."""
    return instant.astimezone(zone).replace(tzinfo=None)


def wall_to_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive local wall time, with our DST rules.

    Ambiguous (fall back): the first occurrence. Nonexistent (spring forward): the first valid
    instant after the gap, i.e. the moment of the transition.
    """
    guess = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if wall_time(guess, zone) == wall:
        return guess
    # In a gap, fold=1 applies the later (post-transition) offset and lands before the
    # transition; fold=0 lands after it. Search the first instant whose wall time reaches `wall`.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = guess
    if low > high:
        low, high = high, low
    lo_s, hi_s = int(low.timestamp()), int(high.timestamp()) + 1
    while lo_s < hi_s:
        mid = (lo_s + hi_s) // 2
        if wall_time(datetime.fromtimestamp(mid, UTC), zone) >= wall:
            hi_s = mid
        else:
            lo_s = mid + 1
    return datetime.fromtimestamp(lo_s, UTC)


def cron_weekday(day: date) -> int:
    """0 = Sunday ... 6 = Saturday, as the Week field counts."""
    return (day.weekday() + 1) % 7


def _offset(instant: datetime, zone: ZoneInfo) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta(0)


def _offsets_around(instant: datetime, zone: ZoneInfo, direction: int) -> list[timedelta]:
    # Offsets over the next (or previous) 30 hours; zones never change offset twice that fast.
    return [_offset(instant + direction * timedelta(hours=6 * k), zone) for k in range(6)]


def _add_days(day: date, days: int) -> date | None:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return None


def _nearest_weekday(year: int, month: int, n: int, month_len: int) -> date:
    target = date(year, month, n)
    weekday = target.weekday()  # Mon=0 .. Sun=6
    if weekday == 5:  # Saturday: Friday before, unless that leaves the month
        return target - timedelta(days=1) if n > 1 else target + timedelta(days=2)
    if weekday == 6:  # Sunday: Monday after, unless that leaves the month
        return target + timedelta(days=1) if n < month_len else target - timedelta(days=2)
    return target


# --- parsing ---------------------------------------------------------------------------------

_NUMBER = re.compile(r"^\d+$")


def _label(index: int) -> str:
    return f"cron field {index + 1} ({FIELD_NAMES[index]})"


def _value(token: str, index: int) -> int:
    names = MONTH_NAMES if index == 4 else WEEK_NAMES if index == 5 else None
    lo, hi = _BOUNDS[index]
    upper = token.upper()
    if names is not None and upper in names:
        return names.index(upper) + (1 if index == 4 else 0)
    if not _NUMBER.match(token):
        hint = " or month name (JAN..DEC)" if index == 4 else " or day name (SUN..SAT)" if index == 5 else ""
        raise CronError(f"{_label(index)}: {token!r} is not a number{hint}")
    value = int(token)
    if not lo <= value <= hi:
        raise CronError(f"{_label(index)}: {value} is out of range {lo}-{hi}")
    return value


def _plain_item(item: str, index: int) -> set[int]:
    lo, hi = _BOUNDS[index]
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not _NUMBER.match(step_text) or int(step_text) == 0:
            raise CronError(f"{_label(index)}: step must be a positive number (got {step_text!r})")
        step = int(step_text)
    if base == "*":
        first, last = lo, hi
    elif "-" in base:
        a, _, b = base.partition("-")
        first, last = _value(a, index), _value(b, index)
        if first > last:
            raise CronError(f"{_label(index)}: range {base} runs backwards")
    else:
        first = _value(base, index)
        last = hi if slash else first
    return set(range(first, last + 1, step))


def _field_values(text: str, index: int) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"{_label(index)}: empty item in {text!r}")
        if item == "?" or "#" in item:
            raise CronError(f"{_label(index)}: {item!r} is allowed only in day and week")
        values |= _plain_item(item, index)
    return values


def _day_spec(text: str) -> DaySpec:
    if text in ("*", "?"):
        return DaySpec(any=True, days=frozenset())
    days: set[int] = set()
    last = last_weekday = False
    nearest: set[int] = set()
    for item in text.split(","):
        upper = item.upper()
        if upper == "L":
            last = True
        elif upper == "LW":
            last_weekday = True
        elif upper.endswith("W") and _NUMBER.match(upper[:-1]):
            nearest.add(_value(upper[:-1], 3))
        elif item == "?" or "#" in item or "L" in upper or "W" in upper:
            raise CronError(f"{_label(3)}: {item!r} is not allowed (use L, LW, nW or '?' alone)")
        elif not item:
            raise CronError(f"{_label(3)}: empty item in {text!r}")
        else:
            days |= _plain_item(item, 3)
    return DaySpec(False, frozenset(days), last, last_weekday, frozenset(nearest))


def _week_spec(text: str) -> WeekSpec:
    if text in ("*", "?"):
        return WeekSpec(any=True, weekdays=frozenset())
    weekdays: set[int] = set()
    last: set[int] = set()
    nth: set[tuple[int, int]] = set()
    for item in text.split(","):
        upper = item.upper()
        if "#" in upper:
            day_text, _, k_text = upper.partition("#")
            if not _NUMBER.match(k_text) or not 1 <= int(k_text) <= 5:
                raise CronError(f"{_label(5)}: {item!r} needs n#k with k from 1 to 5")
            nth.add((_value(day_text, 5), int(k_text)))
        elif upper.endswith("L") and len(upper) > 1:
            last.add(_value(upper[:-1], 5))
        elif item == "?" or "L" in upper:
            raise CronError(f"{_label(5)}: {item!r} is not allowed (use nL, n#k or '?' alone)")
        elif not item:
            raise CronError(f"{_label(5)}: empty item in {text!r}")
        else:
            weekdays |= _plain_item(item, 5)
    return WeekSpec(False, frozenset(weekdays), frozenset(last), frozenset(nth))


@lru_cache(maxsize=512)
def _parse(text: str) -> CronExpr:
    fields = text.split()
    if len(fields) != 7:
        raise CronError(
            f"must have 7 fields (second minute hour day month week year), got {len(fields)}"
            + (" (the 5-field form is not supported)" if len(fields) == 5 else "")
        )
    plain = {i: sorted(_field_values(fields[i], i)) for i in (0, 1, 2, 4, 6)}
    return CronExpr(
        text=" ".join(fields),
        seconds=tuple(plain[0]),
        minutes=tuple(plain[1]),
        hours=tuple(plain[2]),
        day=_day_spec(fields[3]),
        months=frozenset(plain[4]),
        week=_week_spec(fields[5]),
        years=tuple(plain[6]),
    )


def parse_cron(text: str, field: str = "cron") -> CronExpr:
    """Parse an SCF 7-field expression; bad input raises InvalidInput(field, rule naming the cron field)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(Problem(field, "must be a 7-field cron expression (got an empty value)"))
    try:
        return _parse(text.strip())
    except CronError as exc:
        raise InvalidInput(Problem(field, str(exc))) from None


def cron_rule(text: str) -> str | None:
    """The rule ``text`` breaks, or None when it is a valid expression (for validators)."""
    try:
        _parse(text.strip())
    except CronError as exc:
        return str(exc)
    return None


def no_fire_rule(expr: CronExpr, after: datetime, zone: ZoneInfo) -> str | None:
    """None when ``expr`` fires after ``after`` (aware) in ``zone``; else the rule it breaks: it can
    never fire (no date from 1970 through 2099 matches it: a day its months never have, such as
    February 30 or April 31, or only years outside the range), or it never fires again (its last
    time is at or before ``after``: a year in the past)."""
    possible = _some_month_has_the_day(expr)
    if possible and expr.next_after(after, zone) is not None:
        return None
    last = expr.previous_at_or_before(after, zone) if possible else None
    if last is None:
        return (
            f"can never fire: no date from {MIN_YEAR} through {MAX_YEAR} matches {expr.text!r} "
            "(a day its months never have, such as 30 February or 31 April, or none in its years)"
        )
    return (
        f"never fires again: its last time was {local_text(last, zone)}, "
        f"before now ({local_text(after, zone)})"
    )


def _some_month_has_the_day(expr: CronExpr) -> bool:
    """False when only the Day field counts and none of its days (plain or ``nW``) exists in any
    of the months in any of the years: decided from the fields, not by walking 130 years of dates."""
    day, week = expr.day, expr.week
    if day.any or day.last or day.last_weekday or not week.any:
        return True  # L and LW fall in every month; a Week rule matches in some month or year
    leap = any(calendar.isleap(year) for year in expr.years)
    longest = max(29 if month == 2 and leap else calendar.monthrange(2001, month)[1] for month in expr.months)
    return min(day.days | day.nearest_weekday) <= longest

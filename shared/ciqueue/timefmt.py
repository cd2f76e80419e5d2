"""Time as text, the one home of its grammars: ISO 8601 instants and durations.

- Instants: ``parse_instant`` is the ISO 8601 reader of what people type (``INSTANT_RULE``:
  ``YYYY-MM-DD``, then optionally ``T``, ``t`` or a space and ``HH:MM[:SS[.f]]``, then optionally
  ``Z``, ``+HH:MM`` or ``+HHMM``; naive without an offset); ``parse_aware_instant`` the one of stored instants
  (the state document), whose timezone is required (``STORED_INSTANT_RULE``). Both are
  hand-parsed, never ``datetime.fromisoformat``: Python 3.11 reads far more than 3.10 (the SCF
  runtime) does (``20260301T0200``, week dates, ``Z``), so the same text would get a different
  verdict on the laptop than on SCF. ``iso_z`` writes one with a ``Z``. ``local_text`` is how an instant is
  shown to a person (every CLI text output and message): in one zone, with the weekday, to the
  minute, and the zone's abbreviation, ``2026-12-01 Tue 02:00 CST`` (seconds only when they are not
  zero, never microseconds). JSON keeps ISO 8601 with its UTC offset (``isoformat``).
- Durations: ``parse_duration`` is the only duration grammar, for a pause's ``for``, a window's
  ``duration`` and a rotation's ``every`` alike: ``[<n>d][<n>h][<n>m][<n>s]`` in that order, at
  least one part, lowercase, no spaces, each ``n`` at most 6 digits (so any value fits a timedelta
  and a datetime sum stays computable). Seconds are allowed at every door: ``30s`` means the same
  thing to a pause as to a window. Bounds (at most 7 days for a pause, more than zero) belong to
  each door, as named limits in ``ciqueue.limits`` or beside the field that applies them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo

_DURATION_RE = re.compile(r"(?:([0-9]{1,6})d)?(?:([0-9]{1,6})h)?(?:([0-9]{1,6})m)?(?:([0-9]{1,6})s)?")
_DURATION_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
# One wording for a text that is not a duration, at every door.
DURATION_RULE = "must be a duration like 30m, 2h, 1h30m or 45s"
# The stored instant: date, time to the minute or finer, and a UTC offset or Z. What pydantic's
# AwareDatetime read from a string (the state document's reader before it was hand-written): a
# ``T``, ``t``, space or ``_`` between date and time, ``.`` or ``,`` before a fraction (digits
# past microseconds dropped), ``+08:00`` or ``+0800``. Numbers (Unix times) are not instants here.
_AWARE_INSTANT_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt _]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?"
    r"(?:[Zz]|([+-])([0-9]{2}):?([0-9]{2}))"
)
STORED_INSTANT_RULE = "must be an ISO 8601 time with a timezone, like 2026-03-01T02:00:00Z"
# What people type: a date, optionally a time to the minute or finer (a ``T``, ``t`` or space
# between; up to 6 fraction digits), optionally ``Z`` or a ``+HH:MM`` / ``+HHMM`` (as CI writes its
# times) offset after the time.
_INSTANT_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?"
    r"(?:([Zz])|([+-])([0-9]{2}):?([0-9]{2}))?)?"
)
INSTANT_RULE = "must be an ISO 8601 time like 2026-03-01T02:00:00Z or 2026-03-01T10:00+08:00"


def parse_instant(text: str) -> datetime:
    """An instant as people type it (``_INSTANT_RE``, ``INSTANT_RULE``); ValueError for anything else.

    The result is naive when ``text`` carries no offset (and midnight for a date alone): what that
    means is the caller's rule. ``Z``/``z`` is UTC."""
    match = _INSTANT_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(INSTANT_RULE)
    year, month, day, hour, minute, second, fraction, z, sign, off_h, off_m = match.groups()
    zone: tzinfo | None = None
    if z is not None or sign is not None:
        zone = _zone(sign, off_h, off_m, INSTANT_RULE)
    return _instant((year, month, day), (hour, minute, second), fraction, zone, INSTANT_RULE)


def _zone(sign: str | None, off_h: str | None, off_m: str | None, rule: str) -> tzinfo:
    """UTC for ``Z`` (no sign), else the offset ``sign off_h:off_m``; ValueError when out of range."""
    if sign is None or off_h is None or off_m is None:
        return timezone.utc
    if int(off_h) > 23 or int(off_m) > 59:
        raise ValueError(f"{rule} (its UTC offset is out of range)")
    offset = timedelta(hours=int(off_h), minutes=int(off_m))
    return timezone(-offset if sign == "-" else offset)


def _instant(
    date: tuple[str, str, str],
    time: tuple[str | None, str | None, str | None],
    fraction: str | None,
    zone: tzinfo | None,
    rule: str,
) -> datetime:
    """The datetime of matched digits (a missing time part is 0: midnight, whole minutes or
    seconds); ValueError naming ``rule`` when a value is out of range."""
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    hour, minute, second = (int(part or 0) for part in time)
    try:
        return datetime(int(date[0]), int(date[1]), int(date[2]), hour, minute, second, micro, zone)
    except ValueError as exc:
        raise ValueError(f"{rule} ({exc})") from None


def parse_aware_instant(text: str) -> datetime:
    """A stored instant (``_AWARE_INSTANT_RE``), aware, in the offset it was written with;
    ValueError (``STORED_INSTANT_RULE`` or the range broken) for anything else. Hand-parsed, so
    Python 3.10 and 3.11+ (whose ``fromisoformat`` reads far more) give the same verdict."""
    match = _AWARE_INSTANT_RE.fullmatch(text)
    if match is None:
        raise ValueError(STORED_INSTANT_RULE)
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    zone = _zone(sign, off_h, off_m, STORED_INSTANT_RULE)
    return _instant((year, month, day), (hour, minute, second), fraction, zone, STORED_INSTANT_RULE)


def iso_z(instant: datetime) -> str:
    """``2026-03-01T02:00:00Z``: the instant in UTC to the second, as SCF writes a timer's Time."""
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_text(instant: datetime, zone: tzinfo) -> str:
    """``2026-12-01 Tue 02:00 CST``: ``instant`` (aware) in ``zone`` with the weekday, to the minute
    (to the second when its seconds are not zero), and the zone's abbreviation; never microseconds.
    Every CLI text output and message shows an instant this way, in one zone per output."""
    local = as_utc(instant).astimezone(zone)
    shown = "%Y-%m-%d %a %H:%M:%S" if local.second else "%Y-%m-%d %a %H:%M"
    return f"{local.strftime(shown)} {local.tzname() or local.strftime('%z')}"


def as_utc(instant: datetime) -> datetime:
    """``instant`` in UTC; ValueError for a naive datetime (its zone would be a guess)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("an aware datetime is required (got a naive one)")
    return instant.astimezone(timezone.utc)


def parse_duration(text: object) -> timedelta | None:
    """``"90m"``, ``"2h"``, ``"1h30m"``, ``"7d"``, ``"45s"`` as a timedelta (``"0m"`` is zero);
    None when ``text`` is not that shape. Judged as written: no stripping, no upper case."""
    match = _DURATION_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest ``parse_duration`` text of ``value`` in whole seconds (``1h30m``, ``45s``)."""
    rest = int(value.total_seconds())
    parts = []
    for unit, size in _DURATION_UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"

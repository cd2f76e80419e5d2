"""SCF 7-field cron: parsing errors that name the field, fire times, DST, and a next/previous law."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from ciqueue.errors import InvalidInput
from ciqueue.schedule.cron import parse_cron, wall_to_instant
from hypothesis import given, settings
from hypothesis import strategies as st

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")
Z_UTC = ZoneInfo("UTC")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fires(expr: str, start: datetime, count: int, tz: ZoneInfo = Z_UTC) -> list[str]:
    out = []
    cron = parse_cron(expr)
    at: datetime | None = start
    for _ in range(count):
        assert at is not None
        at = cron.next_after(at, tz)
        assert at is not None
        out.append(at.astimezone(tz).isoformat())
    return out


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("0 0 25 * * * *", "start: cron field 3 (hour): 25 is out of range 0-23"),
        ("0 60 * * * * *", "start: cron field 2 (minute): 60 is out of range 0-59"),
        (
            "0 2 * * *",
            "start: must have 7 fields (second minute hour day month week year), got 5"
            " (the 5-field form is not supported)",
        ),
        ("0 0 2 * * *", "start: must have 7 fields (second minute hour day month week year), got 6"),
        ("0 0 2 * FOO * *", "start: cron field 5 (month): 'FOO' is not a number or month name (JAN..DEC)"),
        ("0 0 2 * * FUN *", "start: cron field 6 (week): 'FUN' is not a number or day name (SUN..SAT)"),
        ("0 */0 * * * * *", "start: cron field 2 (minute): step must be a positive number (got '0')"),
        ("0 0 22-2 * * * *", "start: cron field 3 (hour): range 22-2 runs backwards"),
        ("0 0 ? * * * *", "start: cron field 3 (hour): '?' is allowed only in day and week"),
        ("0 0 0 * * 7 *", "start: cron field 6 (week): 7 is out of range 0-6"),
        ("0 0 0 * * * 2100", "start: cron field 7 (year): 2100 is out of range 1970-2099"),
        ("0 0 0 0 * * *", "start: cron field 4 (day): 0 is out of range 1-31"),
        ("0 0 0 * * 1#6 *", "start: cron field 6 (week): '1#6' needs n#k with k from 1 to 5"),
        ("0 0 0 1,,2 * * *", "start: cron field 4 (day): empty item in '1,,2'"),
        ("0 0 0 5L * * *", "start: cron field 4 (day): '5L' is not allowed (use L, LW, nW or '?' alone)"),
        ("0 0 0 * * L *", "start: cron field 6 (week): 'L' is not allowed (use nL, n#k or '?' alone)"),
        ("", "start: must be a 7-field cron expression (got an empty value)"),
    ],
)
def test_parse_errors_name_the_field_and_rule(expr: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_cron(expr, field="start")
    assert str(caught.value) == message
    assert caught.value.field == "start"


def test_scf_documented_examples() -> None:
    # every 5 s
    assert fires("*/5 * * * * * *", utc(2026, 1, 1, 0, 0, 58), 3) == [
        "2026-01-01T00:01:00+00:00",
        "2026-01-01T00:01:05+00:00",
        "2026-01-01T00:01:10+00:00",
    ]
    # 02:00 on day 1 of each month
    assert fires("0 0 2 1 * * *", utc(2026, 1, 15), 2) == [
        "2026-02-01T02:00:00+00:00",
        "2026-03-01T02:00:00+00:00",
    ]
    # 10:15 Monday to Friday (2026-01-02 is a Friday)
    assert fires("0 15 10 * * MON-FRI *", utc(2026, 1, 2, 11), 2) == [
        "2026-01-05T10:15:00+00:00",
        "2026-01-06T10:15:00+00:00",
    ]
    # every 30 minutes from 9 to 17
    assert fires("0 */30 9-17 * * * *", utc(2026, 1, 1, 17, 10), 3) == [
        "2026-01-01T17:30:00+00:00",
        "2026-01-02T09:00:00+00:00",
        "2026-01-02T09:30:00+00:00",
    ]
    # 12:00 on Wednesdays
    assert fires("0 0 12 * * WED *", utc(2026, 1, 1), 1) == ["2026-01-07T12:00:00+00:00"]


def test_day_and_week_combine_as_or() -> None:
    # the 1st of the month OR any Monday
    got = fires("0 0 12 1 * MON *", utc(2026, 1, 20), 4)
    assert got == [
        "2026-01-26T12:00:00+00:00",
        "2026-02-01T12:00:00+00:00",
        "2026-02-02T12:00:00+00:00",
        "2026-02-09T12:00:00+00:00",
    ]
    # '?' leaves only the other field
    assert fires("0 0 12 ? * MON *", utc(2026, 1, 27), 1) == ["2026-02-02T12:00:00+00:00"]


def test_special_day_and_week_symbols() -> None:
    assert fires("0 0 2 L * * *", utc(2026, 1, 1), 3) == [
        "2026-01-31T02:00:00+00:00",
        "2026-02-28T02:00:00+00:00",
        "2026-03-31T02:00:00+00:00",
    ]
    # last weekday: 2026-01-31 is a Saturday -> Friday 30th; 2026-05-31 is a Sunday -> Friday 29th
    assert fires("0 0 2 LW * * *", utc(2026, 1, 1), 1) == ["2026-01-30T02:00:00+00:00"]
    assert fires("0 0 2 LW * * *", utc(2026, 5, 1), 1) == ["2026-05-29T02:00:00+00:00"]
    # nearest weekday to the 1st: 2026-02-01 is a Sunday -> Monday 2nd; 2026-08-01 Saturday -> Monday 3rd
    assert fires("0 0 2 1W * * *", utc(2026, 1, 15), 1) == ["2026-02-02T02:00:00+00:00"]
    assert fires("0 0 2 1W * * *", utc(2026, 7, 15), 1) == ["2026-08-03T02:00:00+00:00"]
    # 5L = last Friday; 1#2 = second Monday
    assert fires("0 0 2 * * 5L *", utc(2026, 1, 1), 2) == [
        "2026-01-30T02:00:00+00:00",
        "2026-02-27T02:00:00+00:00",
    ]
    assert fires("0 0 2 * * 1#2 *", utc(2026, 1, 1), 2) == [
        "2026-01-12T02:00:00+00:00",
        "2026-02-09T02:00:00+00:00",
    ]


def test_year_field_and_end_of_range() -> None:
    cron = parse_cron("0 0 0 1 1 * 2027,2029")
    assert cron.next_after(utc(2026, 6, 1), Z_UTC) == utc(2027, 1, 1)
    assert cron.next_after(utc(2027, 1, 1), Z_UTC) == utc(2029, 1, 1)
    assert cron.next_after(utc(2029, 1, 1), Z_UTC) is None
    assert cron.previous_at_or_before(utc(2028, 6, 1), Z_UTC) == utc(2027, 1, 1)
    assert cron.previous_at_or_before(utc(2026, 6, 1), Z_UTC) is None


def test_names_are_case_insensitive_and_month_names_work() -> None:
    assert fires("0 0 0 1 jan,Jul * *", utc(2026, 2, 1), 2) == [
        "2026-07-01T00:00:00+00:00",
        "2027-01-01T00:00:00+00:00",
    ]


def test_zone_is_local_wall_time() -> None:
    # 02:00 Beijing time is 18:00 UTC the day before
    assert parse_cron("0 0 2 * * * *").next_after(utc(2026, 3, 1), SHANGHAI) == utc(2026, 3, 1, 18)


def test_spring_forward_gap_fires_at_first_instant_after_gap() -> None:
    cron = parse_cron("0 30 2 * * * *")
    # Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
    assert fires("0 30 2 * * * *", utc(2026, 3, 28, 12), 2, BERLIN) == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]
    assert cron.previous_at_or_before(utc(2026, 3, 29, 1, 0), BERLIN) == utc(2026, 3, 29, 1, 0)
    assert cron.previous_at_or_before(utc(2026, 3, 29, 0, 59), BERLIN) == utc(2026, 3, 28, 1, 30)
    # New York 2026-03-08: 02:00 EST jumps to 03:00 EDT
    assert fires("0 30 2 * * * *", utc(2026, 3, 7, 12), 2, NEW_YORK) == [
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:30:00-04:00",
    ]
    # several times in the gap fire once, together with 03:00 itself
    assert fires("0 0,30 2,3 * * * *", utc(2026, 3, 28, 23), 3, BERLIN) == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T03:30:00+02:00",
        "2026-03-30T02:00:00+02:00",
    ]


def test_fall_back_fires_once_at_first_occurrence() -> None:
    # Berlin 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:xx happens twice.
    assert fires("0 30 2 * * * *", utc(2026, 10, 24, 12), 2, BERLIN) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
    ]
    assert fires("0 0/30 2 * * * *", utc(2026, 10, 24, 12), 3, BERLIN) == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:00:00+01:00",
    ]
    # New York 2026-11-01: 01:30 happens at 05:30 UTC (EDT) and 06:30 UTC (EST); only the first fires
    cron = parse_cron("0 30 1 * * * *")
    assert cron.next_after(utc(2026, 11, 1), NEW_YORK) == utc(2026, 11, 1, 5, 30)
    assert cron.next_after(utc(2026, 11, 1, 5, 30), NEW_YORK) == utc(2026, 11, 2, 6, 30)
    assert cron.previous_at_or_before(utc(2026, 11, 1, 7), NEW_YORK) == utc(2026, 11, 1, 5, 30)


def test_wall_to_instant_rules() -> None:
    assert wall_to_instant(datetime(2026, 3, 29, 2, 30), BERLIN) == utc(2026, 3, 29, 1)
    assert wall_to_instant(datetime(2026, 10, 25, 2, 30), BERLIN) == utc(2026, 10, 25, 0, 30)
    assert wall_to_instant(datetime(2026, 7, 1, 12), BERLIN) == utc(2026, 7, 1, 10)


def test_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        parse_cron("0 0 2 * * * *").next_after(datetime(2026, 1, 1), Z_UTC)


EXPRESSIONS = [
    "0 30 2 * * * *",
    "0 0/30 1-3 * * * *",
    "0 0 22 L * * *",
    "0 15 10 * * MON-FRI *",
    "0 0 12 1 * MON *",
    "30 45 2 * * SUN *",
]
ZONES = [Z_UTC, BERLIN, NEW_YORK, SHANGHAI]


@settings(max_examples=150, deadline=None)
@given(
    expr=st.sampled_from(EXPRESSIONS),
    tz=st.sampled_from(ZONES),
    seconds=st.integers(min_value=0, max_value=2 * 366 * 86400),
)
def test_next_and_previous_bracket_every_instant(expr: str, tz: ZoneInfo, seconds: int) -> None:
    cron = parse_cron(expr)
    now = utc(2025, 6, 1) + timedelta(seconds=seconds)
    before = cron.previous_at_or_before(now, tz)
    after = cron.next_after(now, tz)
    assert before is not None and after is not None
    assert before <= now < after
    # no fire lies strictly between them: they are neighbours
    assert cron.next_after(before, tz) == after
    assert cron.previous_at_or_before(after - timedelta(microseconds=1), tz) == before
    assert cron.previous_at_or_before(after, tz) == after

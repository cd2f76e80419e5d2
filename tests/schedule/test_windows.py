"""Windows and rotations at an instant: midnight, month ends, unions, holidays, one-offs, DST."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from ciqueue.schedule.config import Config, Rotation, Window
from ciqueue.schedule.load import parse_config
from ciqueue.schedule.windows import (
    occurrences,
    rotation_changes,
    rotation_state,
    window_state,
    windows_state,
)
from conftest import CONFIG_NOW, PICS_TARGET

UTC = timezone.utc
QID = "p" + "a" * 32


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def config(
    windows: list[dict[str, Any]] = (), rotations: list[dict[str, Any]] = (), tz: str = "Asia/Shanghai"
) -> Config:  # type: ignore[assignment]
    return parse_config(
        {
            "version": 1,
            "timezone": tz,
            "targets": {"g": {"bucket": "media-1250000000", "region": "ap-guangzhou", "queue_ids": [QID]}},
            "windows": [{"targets": ["g"], **w} for w in windows],
            "rotations": [{"targets": ["g"], **r} for r in rotations],
        },
        now=CONFIG_NOW,
    )


def window(tz: str = "Asia/Shanghai", **fields: Any) -> Window:
    return config([{"name": "w", **fields}], tz=tz).windows[0]


def rotation(tz: str = "Asia/Shanghai", **fields: Any) -> Rotation:
    callbacks = [{"type": "Url", "url": f"https://cb{i}.example.com/x"} for i in range(3)]
    return config(rotations=[{"name": "r", "callbacks": callbacks, **fields}], tz=tz).rotations[0]


def state(w: Window, *at: int) -> tuple[bool, datetime | None, datetime | None]:
    s = window_state(w, utc(*at))
    return (s.active, s.opened_at, s.closes_at) if s.active else (s.active, s.last_closed_at, s.next_open)


def test_cron_window_with_duration() -> None:
    w = window(start="0 0 2 * * * *", duration="2h")  # 02:00-04:00 CST = 18:00-20:00 UTC
    assert state(w, 2026, 3, 1, 18, 0) == (True, utc(2026, 3, 1, 18), utc(2026, 3, 1, 20))
    assert state(w, 2026, 3, 1, 19, 59, 59) == (True, utc(2026, 3, 1, 18), utc(2026, 3, 1, 20))
    # closed at exactly the close instant; previous close and next open reported
    assert state(w, 2026, 3, 1, 20, 0) == (False, utc(2026, 3, 1, 20), utc(2026, 3, 2, 18))
    s = window_state(w, utc(2026, 3, 1, 18, 30))
    assert s.reason == "window 'w' open since 02:00 CST, closes 04:00 CST"
    assert s.edge_at == utc(2026, 3, 1, 18) and s.next_edge == utc(2026, 3, 1, 20)
    s = window_state(w, utc(2026, 3, 1, 23))
    assert s.reason == "no window open; 'w' closed at 04:00 CST; 'w' opens 2026-03-03 02:00 CST"


def test_period_across_midnight() -> None:
    w = window(periods=[{"days": "sat", "start": "23:00", "end": "01:30"}])  # 2026-03-07 is a Saturday
    assert state(w, 2026, 3, 7, 15, 30) == (True, utc(2026, 3, 7, 15), utc(2026, 3, 7, 17, 30))  # Sat 23:30
    assert state(w, 2026, 3, 7, 17, 0) == (True, utc(2026, 3, 7, 15), utc(2026, 3, 7, 17, 30))  # Sun 01:00
    assert state(w, 2026, 3, 7, 17, 31) == (False, utc(2026, 3, 7, 17, 30), utc(2026, 3, 14, 15))
    # Sunday evening: not a period day
    assert window_state(w, utc(2026, 3, 8, 15, 30)).active is False


def test_window_across_month_end() -> None:
    # 2026-01-31 is a Saturday: 22:00 Jan 31 -> 02:00 Feb 1 (UTC zone for readability)
    w = window(tz="UTC", periods=[{"days": "sat", "start": "22:00", "end": "02:00"}])
    assert state(w, 2026, 2, 1, 1, 0) == (True, utc(2026, 1, 31, 22), utc(2026, 2, 1, 2))
    # last day of the month, start and end as cron: Jan 31 22:00 -> first 06:00 after
    w = window(tz="UTC", start="0 0 22 L * * *", end="0 0 6 * * * *")
    assert state(w, 2026, 2, 1, 5, 0) == (True, utc(2026, 1, 31, 22), utc(2026, 2, 1, 6))
    assert state(w, 2026, 2, 1, 6, 0) == (False, utc(2026, 2, 1, 6), utc(2026, 2, 28, 22))
    assert state(w, 2026, 2, 28, 23, 0) == (True, utc(2026, 2, 28, 22), utc(2026, 3, 1, 6))


def test_start_and_end_cron_repeated_starts_share_one_close() -> None:
    # starts every even hour, closes at the next 07:00: open 08:00 -> 07:00 the next day
    w = window(tz="UTC", start="0 0 */2 * * * *", end="0 0 7 * * * *")
    assert state(w, 2026, 3, 2, 7, 30) == (False, utc(2026, 3, 2, 7), utc(2026, 3, 2, 8))
    assert state(w, 2026, 3, 2, 12, 0) == (True, utc(2026, 3, 2, 8), utc(2026, 3, 3, 7))
    assert state(w, 2026, 3, 3, 6, 59) == (True, utc(2026, 3, 2, 8), utc(2026, 3, 3, 7))


def test_overlapping_windows_are_a_union() -> None:
    cfg = config(
        [
            {"name": "a", "start": "0 0 1 * * * *", "duration": "2h"},  # 01:00-03:00 UTC
            {"name": "b", "start": "0 0 2 * * * *", "end": "0 0 5 * * * *", "enforced": True},  # 02:00-05:00
        ],
        tz="UTC",
    )
    s = windows_state(cfg.windows, utc(2026, 3, 2, 2, 30))
    assert (s.active, s.opened_at, s.closes_at, s.covering) == (
        True,
        utc(2026, 3, 2, 1),
        utc(2026, 3, 2, 5),
        ("a", "b"),
    )
    assert s.opened_by == "a" and s.closed_by == "b" and s.enforced is True
    assert s.reason == "window 'a' open since 01:00 UTC, closes 05:00 UTC (also open: 'b')"
    # after a closed, the stretch still began at 01:00 (one edge, not two)
    s = windows_state(cfg.windows, utc(2026, 3, 2, 4))
    assert (s.opened_at, s.covering, s.enforced) == (utc(2026, 3, 2, 1), ("b",), True)
    # touching windows merge as well
    touching = config(
        [
            {"name": "a", "start": "0 0 1 * * * *", "duration": "1h"},
            {"name": "b", "start": "0 0 2 * * * *", "duration": "1h"},
        ],
        tz="UTC",
    )
    s = windows_state(touching.windows, utc(2026, 3, 2, 2, 30))
    assert (s.opened_at, s.closes_at) == (utc(2026, 3, 2, 1), utc(2026, 3, 2, 3))


def test_holiday_exclusion() -> None:
    w = window(start="0 0 2 * * * *", duration="2h", exclude=["2026-10-01", "2026-10-02"])
    # Oct 1 02:30 CST: excluded
    s = window_state(w, utc(2026, 9, 30, 18, 30))
    assert s.active is False
    assert (s.last_closed_at, s.next_open) == (utc(2026, 9, 30, 20) - timedelta(days=1), utc(2026, 10, 2, 18))
    # periods are excluded by the day they start on
    p = window(tz="UTC", periods=[{"start": "23:00", "end": "01:00"}], exclude=["2026-10-01"])
    assert window_state(p, utc(2026, 10, 2, 0, 30)).active is False  # started Oct 1: excluded
    assert window_state(p, utc(2026, 10, 1, 0, 30)).active is True  # started Sep 30


def test_one_off_dates_with_recurring() -> None:
    w = window(
        tz="Europe/Berlin",
        periods=[{"days": "mon-fri", "start": "01:00", "end": "02:00"}],
        dates=[{"start": "2026-05-02T22:00", "end": "2026-05-03T06:00"}],
        exclude=["2026-05-02"],
    )
    # one-off dates are not excluded by `exclude`
    assert state(w, 2026, 5, 2, 21) == (True, utc(2026, 5, 2, 20), utc(2026, 5, 3, 4))
    assert state(w, 2026, 5, 2, 19) == (False, utc(2026, 5, 1, 0), utc(2026, 5, 2, 20))
    only = window(tz="UTC", dates=[{"start": "2026-05-02 22:00", "end": "2026-05-03 06:00"}])
    s = window_state(only, utc(2026, 1, 1))
    assert (s.active, s.last_closed_at, s.next_open) == (False, None, utc(2026, 5, 2, 22))
    s = window_state(only, utc(2026, 6, 1))
    assert (s.active, s.last_closed_at, s.next_open) == (False, utc(2026, 5, 3, 6), None)
    assert s.reason == "no window open; 'w' closed at 2026-05-03 06:00 UTC; none opens within 800 days"


def test_dst_spring_forward_berlin() -> None:
    # 2026-03-29: 02:00 CET -> 03:00 CEST. A 02:00-04:00 period opens at 03:00 CEST (01:00 UTC).
    w = window(tz="Europe/Berlin", periods=[{"start": "02:00", "end": "04:00"}])
    assert [(o.opens, o.closes) for o in occurrences(w, utc(2026, 3, 28), utc(2026, 3, 30))] == [
        (utc(2026, 3, 28, 1), utc(2026, 3, 28, 3)),
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)),
    ]
    # a cron start inside the gap fires at 03:00 CEST; a duration is absolute time
    c = window(tz="Europe/Berlin", start="0 30 2 * * * *", duration="1h")
    assert state(c, 2026, 3, 29, 1, 30) == (True, utc(2026, 3, 29, 1), utc(2026, 3, 29, 2))
    # a period entirely inside the gap does not open at all
    gap = window(tz="Europe/Berlin", periods=[{"start": "02:10", "end": "02:50"}])
    assert [o.opens for o in occurrences(gap, utc(2026, 3, 29), utc(2026, 3, 30))] == []


def test_dst_fall_back_berlin_and_new_york() -> None:
    # 2026-10-25: 03:00 CEST -> 02:00 CET; 01:30-02:30 closes at the FIRST 02:30 (00:30 UTC)
    w = window(tz="Europe/Berlin", periods=[{"start": "01:30", "end": "02:30"}])
    assert state(w, 2026, 10, 25, 0, 0) == (True, utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 0, 30))
    assert window_state(w, utc(2026, 10, 25, 1, 15)).active is False  # 02:15 CET, the second pass
    # New York 2026-11-01: 01:00-03:00 is three hours long that night
    ny = window(tz="America/New_York", periods=[{"start": "01:00", "end": "03:00"}])
    assert state(ny, 2026, 11, 1, 7) == (True, utc(2026, 11, 1, 5), utc(2026, 11, 1, 8))
    # New York 2026-03-08 spring forward: 01:00-03:00 is one hour long
    assert state(ny, 2026, 3, 8, 6, 30) == (True, utc(2026, 3, 8, 6), utc(2026, 3, 8, 7))


def test_rotation_every() -> None:
    r = rotation(every="12h", anchor="2026-03-02T08:00")  # 00:00 UTC
    assert tuple(rotation_state(r, utc(2026, 3, 2, 0))) == (0, utc(2026, 3, 2, 0), utc(2026, 3, 2, 12))
    assert tuple(rotation_state(r, utc(2026, 3, 2, 12))) == (1, utc(2026, 3, 2, 12), utc(2026, 3, 3, 0))
    assert tuple(rotation_state(r, utc(2026, 3, 3, 1))) == (2, utc(2026, 3, 3, 0), utc(2026, 3, 3, 12))
    assert tuple(rotation_state(r, utc(2026, 3, 3, 12))) == (0, utc(2026, 3, 3, 12), utc(2026, 3, 4, 0))
    # before the anchor it counts backwards
    index, since, next_change = rotation_state(r, utc(2026, 3, 1, 23))
    assert (index, since, next_change) == (2, utc(2026, 3, 1, 12), utc(2026, 3, 2, 0))


def test_rotation_at_times_and_days() -> None:
    r = rotation(at=[{"time": "08:00", "callback": 0}, {"time": "20:00", "callback": 1}])
    # 07:59 CST Mar 2 = 23:59 UTC Mar 1: still the night callback since 20:00 CST Mar 1
    assert tuple(rotation_state(r, utc(2026, 3, 1, 23, 59))) == (1, utc(2026, 3, 1, 12), utc(2026, 3, 2, 0))
    assert tuple(rotation_state(r, utc(2026, 3, 2, 0))) == (0, utc(2026, 3, 2, 0), utc(2026, 3, 2, 12))
    weekly = rotation(
        tz="UTC",
        at=[
            {"time": "09:00", "callback": 2, "days": "mon"},
            {"time": "09:00", "callback": 0, "days": ["tue-sun"]},
        ],
    )
    # 2026-03-02 is a Monday
    assert tuple(rotation_state(weekly, utc(2026, 3, 2, 10))) == (2, utc(2026, 3, 2, 9), utc(2026, 3, 3, 9))
    assert tuple(rotation_state(weekly, utc(2026, 3, 5, 10))) == (0, utc(2026, 3, 3, 9), utc(2026, 3, 9, 9))
    assert rotation_changes(weekly, utc(2026, 3, 2), utc(2026, 3, 10)) == [
        (utc(2026, 3, 2, 9), 2),
        (utc(2026, 3, 3, 9), 0),
        (utc(2026, 3, 9, 9), 2),
    ]


def test_a_switch_that_loses_at_its_instant_is_no_edge() -> None:
    # A switch tied at its instant with one that wins used to count as a change of callback.
    config = parse_config(
        {
            "version": 1,
            "targets": {"pics": PICS_TARGET},
            "rotations": [
                {
                    "name": "cb",
                    "targets": ["pics"],
                    "callbacks": [
                        {"type": "Url", "url": "https://a.example.com/ci"},
                        {"type": "Url", "url": "https://b.example.com/ci"},
                    ],
                    "at": [
                        {"time": "09:00", "callback": 1, "days": "mon-fri"},
                        {"time": "09:00", "callback": 0, "days": "fri"},  # Fridays stay on 0
                        {"time": "18:00", "callback": 0, "days": "mon-thu"},
                    ],
                }
            ],
        },
        now=CONFIG_NOW,
    )
    rotation = config.rotations[0]
    friday_10 = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)

    index, since, next_change = rotation_state(rotation, friday_10)

    assert index == 0
    assert since == datetime(2026, 3, 5, 18, 0, tzinfo=UTC)  # Thursday evening, the real switch
    assert next_change == datetime(2026, 3, 9, 9, 0, tzinfo=UTC)  # Monday morning


def test_rotation_at_in_dst_gap() -> None:
    r = rotation(tz="Europe/Berlin", at=[{"time": "02:30", "callback": 1}, {"time": "12:00", "callback": 0}])
    assert tuple(rotation_state(r, utc(2026, 3, 29, 1))) == (1, utc(2026, 3, 29, 1), utc(2026, 3, 29, 10))


def test_single_callback_never_changes() -> None:
    cfg = config(
        rotations=[
            {
                "name": "r",
                "callbacks": [{"type": "Url", "url": "https://a.example.com"}],
                "every": "1h",
                "anchor": "2026-01-01T00:00",
            }
        ]
    )
    assert tuple(rotation_state(cfg.rotations[0], utc(2026, 3, 2))) == (0, None, None)


def test_naive_datetimes_are_refused() -> None:
    w = window(start="0 0 2 * * * *", duration="2h")
    with pytest.raises(ValueError, match="aware datetime"):
        window_state(w, datetime(2026, 3, 1))

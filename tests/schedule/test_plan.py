"""plan(): the coming transitions, from the same engine functions, and their text table."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from ciqueue.schedule.config import Config
from ciqueue.schedule.engine import ObservedQueue
from ciqueue.schedule.load import parse_config
from ciqueue.schedule.plan import Transition, plan, render_plan
from conftest import CONFIG_NOW

UTC = timezone.utc
CST = ZoneInfo("Asia/Shanghai")
BUCKET, REGION = "media-1250000000", "ap-guangzhou"
Q1 = "p" + "1" * 32

CONFIG: Config = parse_config(
    {
        "version": 1,
        "timezone": "Asia/Shanghai",
        "targets": {
            "g": {"bucket": BUCKET, "region": REGION, "queue_ids": [Q1]},
            "d": {"bucket": BUCKET, "region": REGION, "kind": "doc", "name_pattern": "doc-*"},
        },
        "windows": [
            {
                "name": "nightly",
                "targets": ["g"],
                "start": "0 0 2 * * * *",
                "duration": "2h",
                "exclude": ["2026-03-04"],
            },
            {
                "name": "overlap",
                "targets": ["g"],
                "periods": [{"days": "fri", "start": "03:00", "end": "05:00"}],
            },
            {
                "name": "weekend",
                "targets": ["d"],
                "periods": [{"days": "sat", "start": "23:00", "end": "01:30"}],
            },
        ],
        "rotations": [
            {
                "name": "mq",
                "targets": ["d"],
                "every": "3d",
                "anchor": "2026-03-01T12:00",
                "callbacks": [
                    {"type": "Url", "url": "https://a.example.com/cb"},
                    {"type": "Url", "url": "https://b.example.com/cb?key=secret"},
                ],
            }
        ],
    },
    now=CONFIG_NOW,
)


def cst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=CST)


def short(transitions: list[Transition]) -> list[tuple[str, str, str, str]]:
    return [(t.at.astimezone(CST).strftime("%d %H:%M"), t.target, t.change, t.source) for t in transitions]


def test_seven_days_list_exactly_the_expected_transitions() -> None:
    got = plan(CONFIG, cst(2, 0), days=7)  # Monday 2026-03-02 to Monday 2026-03-09
    nightly = [
        (f"{day:02d} {hour}", "g", change, "nightly")
        for day in (2, 3, 5, 7, 8)
        for hour, change in (("02:00", "pause"), ("04:00", "resume"))
    ]
    expected = sorted(
        [
            *nightly,
            # Friday: nightly 02-04 and overlap 03-05 are one stretch, no change at 03:00 or 04:00
            ("06 02:00", "g", "pause", "nightly"),
            ("06 05:00", "g", "resume", "overlap"),
            ("04 12:00", "d", "set_callback", "mq"),
            ("07 12:00", "d", "set_callback", "mq"),
            ("07 23:00", "d", "pause", "weekend"),
            ("08 01:30", "d", "resume", "weekend"),
        ]
    )
    assert short(got) == expected
    by_time = {(t.at, t.target): t for t in got}
    assert by_time[(cst(6, 2), "g")].reason == (
        "window 'nightly' opens (until 05:00 CST, when window 'overlap' closes)"
    )
    assert by_time[(cst(6, 5), "g")].reason == (
        "window 'overlap' closes (next: window 'nightly' opens 2026-03-07 02:00 CST)"
    )
    assert by_time[(cst(3, 4), "g")].reason == "window 'nightly' closes (next opens 2026-03-05 02:00 CST)"
    rotation = by_time[(cst(4, 12), "d")]
    assert (rotation.callback_index, rotation.reason) == (
        1,
        "rotation 'mq' switches to callback #1 (Url https://b.example.com/cb?key=***)",
    )


def test_plan_per_observed_queue() -> None:
    observed = [
        ObservedQueue(BUCKET, REGION, "pic", Q1, "q", "Active"),
        ObservedQueue(BUCKET, REGION, "doc", "p" + "2" * 32, "doc-main", "Active"),
        ObservedQueue(BUCKET, REGION, "pic", "p" + "3" * 32, "unmanaged", "Active"),
    ]
    got = plan(CONFIG, cst(7, 12), days=0.5, observed=observed)
    assert short(got) == [
        ("07 12:00", f"{BUCKET}/{REGION}/doc/p{'2' * 32}", "set_callback", "mq"),
        ("07 23:00", f"{BUCKET}/{REGION}/doc/p{'2' * 32}", "pause", "weekend"),
    ]


def test_plan_across_dst_spring_forward() -> None:
    config = parse_config(
        {
            "version": 1,
            "timezone": "Europe/Berlin",
            "targets": {"g": {"bucket": BUCKET, "region": REGION, "queue_ids": [Q1]}},
            "windows": [{"name": "w", "targets": ["g"], "start": "0 30 2 * * * *", "duration": "1h"}],
        },
        now=CONFIG_NOW,
    )
    got = plan(config, datetime(2026, 3, 28, tzinfo=UTC), days=2)
    assert [(t.at, t.change) for t in got] == [
        (datetime(2026, 3, 28, 1, 30, tzinfo=UTC), "pause"),
        (datetime(2026, 3, 28, 2, 30, tzinfo=UTC), "resume"),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "pause"),  # 02:30 does not exist: 03:00 CEST
        (datetime(2026, 3, 29, 2, 0, tzinfo=UTC), "resume"),
    ]


def test_render_plan_table() -> None:
    text = render_plan(plan(CONFIG, cst(7, 12), days=0.6), "Asia/Shanghai")
    when = "WHEN (Asia/Shanghai)      "
    assert text.splitlines() == [
        when + "TARGET  CHANGE           SOURCE   REASON",
        "2026-03-07 Sat 12:00 CST  d       set_callback #0  mq       "
        "rotation 'mq' switches to callback #0 (Url https://a.example.com/cb)",
        "2026-03-07 Sat 23:00 CST  d       pause            weekend  "
        "window 'weekend' opens (until 2026-03-08 01:30 CST)",
        "2026-03-08 Sun 01:30 CST  d       resume           weekend  "
        "window 'weekend' closes (next opens 2026-03-14 23:00 CST)",
        "2026-03-08 Sun 02:00 CST  g       pause            nightly  "
        "window 'nightly' opens (until 04:00 CST)",
    ]
    assert render_plan([], "UTC") == "WHEN (UTC)  TARGET  CHANGE  SOURCE  REASON\n(no transitions)"

"""What the engine and the plan say, not only what they decide: an ended override is named as the
cause of the change it leaves behind, "next" names the window that opens next, every window that
holds a queue is named, and a plan shows the overrides that pin a queue. Times are in the config's
zone with its abbreviation."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ciqueue.schedule.config import Config
from ciqueue.schedule.engine import LastApplied, ObservedQueue, Override, decide
from ciqueue.schedule.load import parse_config
from ciqueue.schedule.plan import plan
from conftest import CONFIG_NOW

CST = ZoneInfo("Asia/Shanghai")
BUCKET, REGION = "media-1250000000", "ap-guangzhou"
Q1 = "p" + "1" * 32
KEY = f"{BUCKET}/{REGION}/pic/{Q1}"


def cst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=CST)


def config(*windows: dict[str, object]) -> Config:
    return parse_config(
        {
            "version": 1,
            "timezone": "Asia/Shanghai",
            "targets": {"g": {"bucket": BUCKET, "region": REGION, "queue_ids": [Q1]}},
            "windows": list(windows),
        },
        now=CONFIG_NOW,
    )


NIGHTLY = {"name": "nightly", "targets": ["g"], "start": "0 0 2 * * * *", "duration": "2h"}
EARLY = {"name": "early", "targets": ["g"], "start": "0 0 1 * * * *", "duration": "2h"}  # 01-03
LATE = {"name": "late", "targets": ["g"], "start": "0 0 2 * * * *", "duration": "2h"}  # 02-04
EVENING = {"name": "evening", "targets": ["g"], "start": "0 0 20 * * * *", "duration": "1h"}


def queue(state: str) -> ObservedQueue:
    return ObservedQueue(BUCKET, REGION, "pic", Q1, "q", state)


def override(state: str, created: datetime, expires: datetime | None, oid: str = "o-9") -> Override:
    return Override(oid, BUCKET, REGION, "pic", Q1, state, "load test", "alice", created, expires)


# --- an ended override is the reason for the change it leaves behind ------------------------------


def test_an_expiring_override_is_named_when_the_schedule_takes_the_queue_back() -> None:
    # Paused by hand at 15:00 for two hours, long after the night window closed at 04:00.
    pin = override("Paused", cst(2, 15), cst(2, 17))
    applied = LastApplied("Paused", cst(2, 15), "o-9")
    (d,) = decide(config(NIGHTLY), cst(2, 17), [queue("Paused")], [pin], {KEY: applied})
    assert (d.action, d.desired_state, d.expired_overrides) == ("resume", "Active", ("o-9",))
    assert d.reason == (
        "override o-9 by alice ('load test') ended at 17:00 CST; the schedule wants Active "
        "(window 'nightly' closed at 04:00 CST); resuming"
    )


def test_an_override_ending_inside_a_window_says_the_window_pauses_again() -> None:
    pin = override("Active", cst(2, 2, 10), cst(2, 2, 40))
    applied = LastApplied("Active", cst(2, 2, 10), "o-9")
    (d,) = decide(config(NIGHTLY), cst(2, 2, 40), [queue("Active")], [pin], {KEY: applied})
    assert d.action == "pause"
    assert d.reason == (
        "override o-9 by alice ('load test') ended at 02:40 CST; the schedule wants Paused "
        "(window 'nightly' opened at 02:00 CST); pausing"
    )


def test_an_override_that_ended_before_the_current_edge_is_not_the_reason() -> None:
    # It expired at 01:00 and no tick ran until the window opened at 02:00: the window is why.
    pin = override("Active", cst(2, 0), cst(2, 1))
    applied = LastApplied("Active", cst(2, 0), "o-9")
    (d,) = decide(config(NIGHTLY), cst(2, 2, 5), [queue("Active")], [pin], {KEY: applied})
    assert (d.action, d.reason) == ("pause", "window 'nightly' opened at 02:00 CST; pausing")


# --- overlapping windows: every window holding the queue is named -----------------------------------


def test_two_open_windows_are_both_named_and_the_pause_lasts_until_the_last_closes() -> None:
    schedule = config(EARLY, LATE)
    (d,) = decide(schedule, cst(2, 2, 30), [queue("Active")])
    assert d.action == "pause"
    assert d.reason == (
        "windows 'early' (opened 01:00 CST, closes 03:00 CST) and 'late' (opened 02:00 CST, "
        "closes 04:00 CST) are open; pausing"
    )
    assert d.next_edge_at == cst(2, 4)
    (d,) = decide(schedule, cst(2, 2, 30), [queue("Paused")])
    assert (d.action, d.reason) == ("none", "already Paused as windows 'early' and 'late' require")
    # 'early' has closed, 'late' still holds it: 'late' is named, not the window that opened first
    (d,) = decide(schedule, cst(2, 3, 30), [queue("Paused")])
    assert (d.action, d.reason) == ("none", "already Paused as window 'late' requires")
    (d,) = decide(schedule, cst(2, 3, 30), [queue("Active")])
    assert d.reason == (
        "window 'late' opened at 02:00 CST (Paused since window 'early' opened at 01:00 CST); pausing"
    )
    (d,) = decide(schedule, cst(2, 4), [queue("Paused")])
    assert (d.action, d.reason) == ("resume", "window 'late' closed at 04:00 CST; resuming")


# --- plan: "next" names the window that opens next -----------------------------------------------


def test_plan_names_the_window_that_opens_next() -> None:
    got = plan(config(NIGHTLY, EVENING), cst(2, 3), days=1)
    reasons = [(t.at, t.change, t.reason) for t in got]
    assert reasons == [
        (cst(2, 4), "resume", "window 'nightly' closes (next: window 'evening' opens 20:00 CST)"),
        (cst(2, 20), "pause", "window 'evening' opens (until 21:00 CST)"),
        (
            cst(2, 21),
            "resume",
            "window 'evening' closes (next: window 'nightly' opens 2026-03-03 02:00 CST)",
        ),
        (cst(3, 2), "pause", "window 'nightly' opens (until 04:00 CST)"),
    ]


def test_plan_names_the_window_that_ends_an_overlap() -> None:
    got = plan(config(EARLY, LATE), cst(2, 0), days=1)
    assert [(t.at, t.change, t.source, t.reason) for t in got] == [
        (cst(2, 1), "pause", "early", "window 'early' opens (until 04:00 CST, when window 'late' closes)"),
        (
            cst(2, 4),
            "resume",
            "late",
            "window 'late' closes (next: window 'early' opens 2026-03-03 01:00 CST)",
        ),
    ]


# --- plan: active overrides pin a queue until they end ---------------------------------------------


def test_plan_per_queue_shows_an_override_until_it_ends_then_the_schedule() -> None:
    pin = override("Active", cst(2, 2, 10), cst(2, 2, 40))
    got = plan(config(NIGHTLY), cst(2, 2, 10), days=1, observed=[queue("Active")], overrides=[pin])
    assert [(t.at, t.target, t.change, t.source, t.reason) for t in got] == [
        (
            cst(2, 2, 40),
            KEY,
            "pause",
            "o-9",
            "override o-9 by alice ('load test') ends; the schedule takes it back: "
            "window 'nightly' is open until 04:00 CST",
        ),
        (cst(2, 4), KEY, "resume", "nightly", "window 'nightly' closes (next opens 2026-03-03 02:00 CST)"),
        (cst(3, 2), KEY, "pause", "nightly", "window 'nightly' opens (until 04:00 CST)"),
    ]


def test_plan_shows_a_pin_that_outlasts_the_window_and_ends_with_no_change() -> None:
    pin = override("Paused", cst(2, 3), cst(2, 15))
    got = plan(config(NIGHTLY), cst(2, 3), days=0.6, observed=[queue("Paused")], overrides=[pin])
    # the 04:00 resume is held off by the pin; at 15:00 the schedule takes the queue back (Active)
    assert [(t.at, t.change, t.reason) for t in got] == [
        (
            cst(2, 15),
            "resume",
            "override o-9 by alice ('load test') ends; the schedule takes it back: no window is open "
            "(next: window 'nightly' opens 2026-03-03 02:00 CST)",
        ),
    ]
    still_paused = override("Paused", cst(2, 1), cst(2, 3))
    got = plan(config(NIGHTLY), cst(2, 1), days=0.2, observed=[queue("Paused")], overrides=[still_paused])
    assert [(t.at, t.change, t.reason) for t in got] == [
        (
            cst(2, 3),
            "release",
            "override o-9 by alice ('load test') ends; the schedule keeps it Paused: "
            "window 'nightly' is open until 04:00 CST",
        ),
        (cst(2, 4), "resume", "window 'nightly' closes (next opens 2026-03-03 02:00 CST)"),
    ]


def test_plan_per_group_adds_a_lane_for_each_pinned_queue() -> None:
    pin = override("Paused", cst(2, 15), cst(2, 17))
    got = plan(config(NIGHTLY), cst(2, 14), days=0.5, overrides=[pin])
    assert [(t.at, t.target, t.change) for t in got] == [
        (cst(2, 15), KEY, "pause"),
        (cst(2, 17), KEY, "resume"),
    ]
    assert got[0].reason == "override o-9 by alice ('load test') pins it Paused until 17:00 CST"
    # an override that has ended (or is cancelled) is not planned at all
    gone = override("Paused", cst(2, 10), cst(2, 11))
    assert plan(config(NIGHTLY), cst(2, 14), days=0.5, overrides=[gone]) == []
    assert plan(config(NIGHTLY), cst(2, 14), days=0.5) == []

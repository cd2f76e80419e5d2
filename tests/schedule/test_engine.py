"""The pure decision engine: reconciling ticks, manual changes, enforced, overrides, rotations."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ciqueue.errors import InvalidInput
from ciqueue.records import replace
from ciqueue.schedule.config import Config
from ciqueue.schedule.engine import (
    Decision,
    LastApplied,
    ObservedQueue,
    Override,
    QueueKey,
    decide,
    expired_overrides,
    merge_last_applied,
)
from ciqueue.schedule.load import parse_config
from ciqueue.schedule.windows import windows_state
from conftest import CONFIG_NOW, DEMO_BUCKET, DEMO_REGION, NOON_UTC, PIC_DEFAULT_ID, PICS_TARGET
from hypothesis import given, settings
from hypothesis import strategies as st

UTC = timezone.utc
CST = ZoneInfo("Asia/Shanghai")
BUCKET, REGION = "media-1250000000", "ap-guangzhou"
Q1 = "p" + "1" * 32
Q2 = "p" + "2" * 32
R1 = "p" + "3" * 32
DAY = {"type": "Url", "url": "https://day.example.com/cb"}
NIGHT = {"type": "Url", "url": "https://night.example.com/cb", "format": "JSON"}
DAY_FIELDS = {
    "State": "On",
    "Type": "Url",
    "Url": "https://day.example.com/cb",
    "Event": "TaskFinish",
    "ResultFormat": "XML",
}
NIGHT_FIELDS = {**DAY_FIELDS, "Url": "https://night.example.com/cb", "ResultFormat": "JSON"}


def make_config(
    enforced: bool = False, rotation_enforced: bool = False, extra_rotation: bool = False
) -> Config:
    rotations: list[dict[str, Any]] = [
        {
            "name": "on-call",
            "targets": ["r"],
            "callbacks": [DAY, NIGHT],
            "at": [{"time": "08:00", "callback": 0}, {"time": "20:00", "callback": 1}],
            "enforced": rotation_enforced,
        }
    ]
    targets: dict[str, Any] = {
        "g": {"bucket": BUCKET, "region": REGION, "queue_ids": [Q1, Q2]},
        "r": {"bucket": BUCKET, "region": REGION, "name_pattern": "rot-*"},
    }
    if extra_rotation:
        targets["all"] = {"bucket": BUCKET, "region": REGION, "name_pattern": "*"}
        rotations.append(
            {
                "name": "weekly",
                "targets": ["all"],
                "callbacks": [DAY],
                "every": "7d",
                "anchor": "2026-01-05T00:00",
            }
        )
    return parse_config(
        {
            "version": 1,
            "timezone": "Asia/Shanghai",
            "targets": targets,
            "windows": [
                {
                    "name": "nightly",
                    "targets": ["g"],
                    "start": "0 0 2 * * * *",
                    "duration": "2h",
                    "enforced": enforced,
                }
            ],
            "rotations": rotations,
        },
        now=CONFIG_NOW,
    )


CONFIG = make_config()


def cst(day: int, hour: int, minute: int = 0) -> datetime:
    """A CST (UTC+8) time on 2026-03-<day>."""
    return datetime(2026, 3, day, hour, minute, tzinfo=CST)


def queue(
    queue_id: str = Q1, state: str | None = "Active", name: str = "q", notify: Any = None
) -> ObservedQueue:
    return ObservedQueue(BUCKET, REGION, "pic", queue_id, name, state, notify)


def key(queue_id: str = Q1) -> QueueKey:
    return QueueKey(BUCKET, REGION, "pic", queue_id)


def one(decisions: list[Decision]) -> Decision:
    assert len(decisions) == 1, decisions
    return decisions[0]


def apply(
    observed: list[ObservedQueue], decisions: list[Decision], store: dict[str, LastApplied]
) -> tuple[list[ObservedQueue], dict[str, LastApplied]]:
    """Carry decisions out as operations would, and store what the engine says to store."""
    by_key = {q.key: q for q in observed}
    stored = dict(store)
    for d in decisions:
        q = by_key[d.key]
        if d.action in ("pause", "resume"):
            q = replace(q, state=d.desired_state)
        elif d.action == "set_callback":
            q = replace(q, notify=dict(d.desired_callback or {}))
        by_key[d.key] = q
        stored[d.key.text] = merge_last_applied(stored.get(d.key.text), d)
    return list(by_key.values()), stored


PAUSED_AT_2 = LastApplied("Paused", cst(2, 2).astimezone(UTC), "nightly")


def test_window_open_pauses_with_reason() -> None:
    d = one(decide(CONFIG, cst(2, 2, 17), [queue()]))
    assert (d.action, d.aspect, d.desired_state, d.source, d.source_type) == (
        "pause",
        "state",
        "Paused",
        "nightly",
        "window",
    )
    assert d.reason == "window 'nightly' opened at 02:00 CST; pausing"
    assert (d.edge_at, d.next_edge_at) == (cst(2, 2), cst(2, 4))
    assert d.last_applied == LastApplied("Paused", cst(2, 2), "nightly")
    assert d.desired_callback is None


def test_already_in_desired_state_is_none() -> None:
    d = one(decide(CONFIG, cst(2, 3), [queue(state="Paused")]))
    assert (d.action, d.reason) == ("none", "already Paused as window 'nightly' requires")
    assert d.last_applied == LastApplied("Paused", cst(2, 2), "nightly")


def test_repeated_tick_changes_nothing_and_is_deterministic() -> None:
    now = cst(2, 2, 0)
    observed = [queue(Q1), queue(Q2, state="Paused"), queue(R1, name="rot-a", notify=DAY_FIELDS)]
    first = decide(CONFIG, now, observed, [], {})
    assert [(d.key.queue_id, d.action) for d in first] == [(Q1, "pause"), (Q2, "none"), (R1, "set_callback")]
    assert decide(CONFIG, now, observed, [], {}) == first  # same input, same output
    observed2, store = apply(observed, first, {})
    second = decide(CONFIG, now, observed2, [], store)
    assert [d.action for d in second] == ["none", "none", "none"]
    # a retried tick a bit later within the same edge: still nothing to do
    assert [d.action for d in decide(CONFIG, now + timedelta(minutes=5), observed2, [], store)] == [
        "none"
    ] * 3


def test_late_tick_still_reconciles_a_missed_edge() -> None:
    yesterday = LastApplied("Active", cst(1, 4), "nightly")  # stored at yesterday's close
    d = one(decide(CONFIG, cst(2, 3, 59), [queue()], [], {key(): yesterday}))
    assert d.action == "pause"
    assert d.reason == "window 'nightly' opened at 02:00 CST; pausing"
    # and the missed close: the tick after 04:00 resumes
    d = one(decide(CONFIG, cst(2, 9), [queue(state="Paused")], [], {key(): PAUSED_AT_2}))
    assert (d.action, d.reason) == ("resume", "window 'nightly' closed at 04:00 CST; resuming")


def test_manual_change_respected_until_next_edge() -> None:
    d = one(decide(CONFIG, cst(2, 3), [queue(state="Active")], [], {key(): PAUSED_AT_2}))
    assert d.action == "skip"
    assert d.reason == (
        "manual change respected: queue was resumed by hand after window 'nightly' opened at 02:00 CST;"
        " next edge 04:00 CST"
    )
    assert d.last_applied == PAUSED_AT_2
    # at the next edge the schedule applies again: the window closed, queue is Active -> nothing to do
    d = one(decide(CONFIG, cst(2, 4, 1), [queue(state="Active")], [], {key(): PAUSED_AT_2}))
    assert (d.action, d.reason) == ("none", "already Active as no window is open")
    assert d.last_applied == LastApplied("Active", cst(2, 4), "nightly")
    # a manual pause outside the window is respected too, until the window next opens
    d = one(decide(CONFIG, cst(2, 10), [queue(state="Paused")], [], {key(): d.last_applied}))
    assert d.action == "skip"
    assert d.reason == (
        "manual change respected: queue was paused by hand after window 'nightly' closed at 04:00 CST;"
        " next edge 2026-03-03 02:00 CST"
    )
    # ... and at that edge it is paused anyway (it already is): none, new edge stored
    d = one(decide(CONFIG, cst(3, 2, 1), [queue(state="Paused")], [], {key(): d.last_applied}))
    assert (d.action, d.last_applied.edge_at) == ("none", cst(3, 2))


def test_enforced_window_undoes_manual_resume() -> None:
    config = make_config(enforced=True)
    d = one(decide(config, cst(2, 3), [queue(state="Active")], [], {key(): PAUSED_AT_2}))
    assert d.action == "pause"
    assert (
        d.reason
        == "window 'nightly' opened at 02:00 CST and is enforced: queue was resumed by hand; pausing again"
    )
    # enforced acts only while open: a manual pause after the close is respected
    closed = LastApplied("Active", cst(2, 4), "nightly")
    assert one(decide(config, cst(2, 10), [queue(state="Paused")], [], {key(): closed})).action == "skip"


def test_override_wins_then_expires_mid_window() -> None:
    override = Override(
        "o-123", BUCKET, REGION, "pic", Q1, "Active", "hotfix", "alice", cst(2, 2, 10), cst(2, 3)
    )
    d = one(decide(CONFIG, cst(2, 2, 30), [queue(state="Paused")], [override], {key(): PAUSED_AT_2}))
    assert (d.action, d.source, d.source_type) == ("resume", "o-123", "override")
    assert d.reason == "override o-123 by alice until 03:00 CST wins: resuming"
    observed, store = apply([queue(state="Paused")], [d], {key().text: PAUSED_AT_2})
    d = one(decide(CONFIG, cst(2, 2, 45), observed, [override], store))
    assert (d.action, d.reason) == ("none", "override o-123 by alice until 03:00 CST wins: keep Active")
    assert d.expired_overrides == ()
    # override is enforced: a manual pause during it is undone
    d = one(decide(CONFIG, cst(2, 2, 50), [queue(state="Paused")], [override], store))
    assert d.action == "resume"
    # expired at 03:00: the window wins again (the override's end is why), and the override is
    # reported for cleanup
    d = one(decide(CONFIG, cst(2, 3), observed, [override], store))
    assert (d.action, d.reason) == (
        "pause",
        "override o-123 by alice ('hotfix') ended at 03:00 CST; the schedule wants Paused "
        "(window 'nightly' opened at 02:00 CST); pausing",
    )
    assert d.expired_overrides == ("o-123",)
    assert expired_overrides([override], cst(2, 3)) == [override]
    assert expired_overrides([override], cst(2, 2, 59)) == []


def test_override_without_expiry_and_newest_wins() -> None:
    older = Override("o-1", BUCKET, REGION, "pic", Q1, "Active", None, "bob", cst(1, 9))
    newer = Override("o-2", BUCKET, REGION, "pic", Q1, "Paused", None, None, cst(1, 10))
    d = one(decide(CONFIG, cst(2, 12), [queue(state="Paused")], [older, newer]))
    assert (d.action, d.reason) == ("none", "override o-2 (no expiry) wins: keep Paused")


def test_rotation_sets_only_the_callback() -> None:
    d = one(decide(CONFIG, cst(2, 9), [queue(R1, name="rot-a", notify=NIGHT_FIELDS)]))
    assert (d.action, d.aspect, d.source, d.callback_index) == ("set_callback", "callback", "on-call", 0)
    assert d.reason == (
        "rotation 'on-call' switched to callback #0 (Url https://day.example.com/cb) at 08:00 CST;"
        " setting callback"
    )
    assert d.desired_callback == DAY_FIELDS and d.desired_state is None
    assert d.last_applied == LastApplied(
        callback_index=0, callback_edge_at=cst(2, 8), callback_source="on-call"
    )
    # already right, given as a dict with XML names or as an object with attribute names
    notify_obj = SimpleNamespace(
        state="On", type="Url", url="https://day.example.com/cb", event="TaskFinish", result_format=None
    )
    for notify in (DAY_FIELDS, notify_obj):
        d = one(decide(CONFIG, cst(2, 9), [queue(R1, name="rot-a", notify=notify)]))
        assert (d.action, d.reason) == (
            "none",
            "callback already #0 (Url https://day.example.com/cb) as rotation 'on-call' requires",
        )


def test_rotation_manual_change_respected_or_enforced() -> None:
    stored = {key(R1): LastApplied(callback_index=0, callback_edge_at=cst(2, 8), callback_source="on-call")}
    changed = [queue(R1, name="rot-a", notify={**DAY_FIELDS, "Url": "https://elsewhere.example.com/x"})]
    d = one(decide(CONFIG, cst(2, 9), changed, [], stored))
    assert d.action == "skip"
    assert d.reason == (
        "manual change respected: callback was changed by hand after rotation 'on-call' switched to"
        " callback #0 (Url https://day.example.com/cb) at 08:00 CST; next switch 20:00 CST"
    )
    d = one(decide(make_config(rotation_enforced=True), cst(2, 9), changed, [], stored))
    assert d.action == "set_callback" and d.reason.endswith(
        "is enforced: callback was changed by hand; restoring it"
    )
    # at the next switch the rotation applies again
    d = one(decide(CONFIG, cst(2, 20, 5), changed, [], stored))
    assert (d.action, d.desired_callback) == ("set_callback", NIGHT_FIELDS)


def test_callback_url_query_never_shows_in_repr_or_dict() -> None:
    config = parse_config(
        {
            "version": 1,
            "targets": {"r": {"bucket": BUCKET, "region": REGION, "name_pattern": "*"}},
            "rotations": [
                {
                    "name": "x",
                    "targets": ["r"],
                    "callbacks": [{"type": "Url", "url": "https://hooks.example.com/ci?token=s3cr3t"}],
                    "every": "1d",
                    "anchor": "2026-01-01T00:00",
                }
            ],
        },
        now=CONFIG_NOW,
    )
    d = one(decide(config, cst(2, 9), [queue(R1, name="any")]))
    assert d.desired_callback is not None and d.desired_callback["Url"].endswith("token=s3cr3t")
    assert "s3cr3t" not in repr(d) and "s3cr3t" not in str(d.to_dict()) and "s3cr3t" not in d.reason
    assert d.to_dict()["desired_callback"]["Url"] == "https://hooks.example.com/ci?token=***"


def test_queue_in_window_and_rotation_gets_two_separate_decisions() -> None:
    both = queue(Q2, name="rot-both", notify=NIGHT_FIELDS)
    decisions = decide(CONFIG, cst(2, 9), [both], [], {})
    assert [(d.aspect, d.action) for d in decisions] == [("state", "none"), ("callback", "set_callback")]
    assert decisions[0].desired_callback is None and decisions[1].desired_state is None
    # both are stored independently
    _, store = apply([both], decisions, {})
    assert store[both.key.text] == LastApplied("Active", cst(2, 4), "nightly", 0, cst(2, 8), "on-call")


def test_conflicting_rotations_are_refused() -> None:
    config = make_config(extra_rotation=True)
    decisions = decide(config, cst(2, 9), [queue(R1, name="rot-a", notify=NIGHT_FIELDS)])
    d = one(decisions)
    assert (d.action, d.aspect) == ("skip", "callback")
    assert d.reason == "rotations 'on-call' and 'weekly' both target this queue; not changing its callback"


def test_unknown_state_untargeted_queue_and_naive_now() -> None:
    d = one(decide(CONFIG, cst(2, 3), [queue(state="Deleting")]))
    assert (d.action, d.reason) == (
        "skip",
        "queue state 'Deleting' is neither Active nor Paused; not touching it",
    )
    assert decide(CONFIG, cst(2, 3), [queue("p" + "9" * 32, name="other")]) == []
    with pytest.raises(ValueError, match="aware datetime"):
        decide(CONFIG, datetime(2026, 3, 2, 3), [queue()])


def test_last_applied_round_trip_and_merge() -> None:
    record = LastApplied("Paused", cst(2, 2), "nightly", 1, cst(2, 20), "on-call")
    assert LastApplied.from_dict(record.to_dict()) == record
    assert record.to_dict()["edge_at"] == "2026-03-01T18:00:00+00:00"
    state_only = Decision(
        key(),
        "state",
        "resume",
        "r",
        "x",
        "window",
        None,
        None,
        last_applied=LastApplied("Active", cst(2, 4), "nightly"),
    )
    assert merge_last_applied(record, state_only) == LastApplied(
        "Active", cst(2, 4), "nightly", 1, cst(2, 20), "on-call"
    )
    assert QueueKey.from_text(key().text) == key()


# --- an always-open window has no invented edges ---------------------------------------------------

ALWAYS = parse_config(
    {
        "version": 1,
        "targets": {"pics": PICS_TARGET},
        "windows": [{"name": "park", "targets": ["pics"], "periods": [{"start": "00:00", "end": "24:00"}]}],
    },
    now=CONFIG_NOW,
)


def test_a_window_open_beyond_the_horizon_reports_no_invented_edges() -> None:
    # A window open beyond the 800-day horizon used to report phantom opening and closing edges.
    state = windows_state(ALWAYS.windows, NOON_UTC)

    assert state.active
    assert (state.opened_at, state.closes_at, state.next_open) == (None, None, None)
    assert state.reason == "window 'park' open for more than 800 days, not closing within 800 days"


def test_a_manual_resume_under_an_always_open_window_is_not_undone_a_day_later() -> None:
    # A phantom edge used to undo a manual resume under an always-open window.
    queue = ObservedQueue(DEMO_BUCKET, DEMO_REGION, "pic", PIC_DEFAULT_ID, "q", "Active")
    [first] = decide(ALWAYS, NOON_UTC, [queue])
    assert first.action == "pause"
    assert first.reason == "window 'park' has been open for more than 800 days; pausing"
    stored = {first.key: first.last_applied}

    # Someone resumed it by hand; nothing in the schedule changes, so neither does the decision.
    for later in (NOON_UTC + timedelta(hours=1), NOON_UTC + timedelta(days=1), NOON_UTC + timedelta(days=30)):
        [decision] = decide(ALWAYS, later, [queue], (), stored)
        assert decision.action == "skip", (later, decision.reason)


STATES = st.sampled_from(["Active", "Paused"])
NOTIFIES = st.sampled_from([DAY_FIELDS, NIGHT_FIELDS, None, {"State": "Off"}])


@settings(max_examples=120, deadline=None)
@given(
    minutes=st.integers(min_value=0, max_value=3 * 24 * 60),
    earlier=st.one_of(st.none(), st.integers(min_value=1, max_value=36 * 60)),
    states=st.tuples(STATES, STATES, STATES),
    notifies=st.tuples(NOTIFIES, NOTIFIES),
    manual=st.tuples(STATES, STATES, STATES),
    pinned=st.one_of(st.none(), st.tuples(STATES, st.integers(min_value=-120, max_value=120))),
)
def test_decide_is_idempotent_and_never_mixes_aspects(
    minutes: int,
    earlier: int | None,
    states: tuple[str, str, str],
    notifies: tuple[Any, Any],
    manual: tuple[str, str, str],
    pinned: tuple[str, int] | None,
) -> None:
    now = cst(1, 0) + timedelta(minutes=minutes)
    observed = [
        queue(Q1, states[0]),
        queue(Q2, states[1], name="rot-both", notify=notifies[0]),
        queue(R1, states[2], name="rot-a", notify=notifies[1]),
    ]
    overrides = []
    if pinned is not None:
        overrides.append(
            Override(
                "o-1",
                BUCKET,
                REGION,
                "pic",
                Q2,
                pinned[0],
                None,
                "eve",
                now - timedelta(hours=1),
                now + timedelta(minutes=pinned[1]),
            )
        )
    store: dict[str, LastApplied] = {}
    if earlier is not None:
        # an earlier tick was carried out, then someone changed states by hand
        before = now - timedelta(minutes=earlier)
        done, store = apply(observed, decide(CONFIG, before, observed, overrides, store), store)
        observed = [replace(q, state=s) for q, s in zip(done, manual, strict=True)]
    first = decide(CONFIG, now, observed, overrides, store)
    assert decide(CONFIG, now, observed, overrides, store) == first
    for d in first:
        if d.aspect == "state":
            assert d.action in ("pause", "resume", "none", "skip") and d.desired_callback is None
        else:
            assert d.action in ("set_callback", "none", "skip") and d.desired_state is None
    observed2, store2 = apply(observed, first, store)
    second = decide(CONFIG, now, observed2, overrides, store2)
    assert [d.action for d in second if d.changes] == []
    # skips stay skips (manual change still respected); everything else is settled
    assert [d.action == "skip" for d in second] == [d.action == "skip" for d in first]


def _doc_rotation(callbacks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": 1,
        "timezone": "Asia/Shanghai",
        "targets": {"docs": {"bucket": BUCKET, "region": REGION, "kind": "doc", "name_pattern": "*"}},
        "rotations": [
            {
                "name": "docs",
                "targets": ["docs"],
                "callbacks": callbacks,
                "at": [{"time": "08:00", "callback": 0}],
            }
        ],
    }


def test_a_rotation_of_doc_queues_asks_no_result_format() -> None:
    config = parse_config(_doc_rotation([DAY]), now=CONFIG_NOW)
    doc_queue = ObservedQueue(BUCKET, REGION, "doc", Q1, "d", "Active", {"State": "Off"})
    d = one(decide(config, cst(2, 9), [doc_queue]))
    # The rotation's default format (XML) is a pic-family element: a doc queue has none.
    assert d.action == "set_callback"
    assert d.desired_callback == {k: v for k, v in DAY_FIELDS.items() if k != "ResultFormat"}
    without_format = {k: v for k, v in DAY_FIELDS.items() if k != "ResultFormat"}
    assert one(decide(config, cst(2, 9), [replace(doc_queue, notify=without_format)])).action == "none"


def test_a_rotation_of_doc_queues_refuses_what_doc_queues_do_not_take() -> None:
    tdmq = {"type": "TDMQ", "mq_region": "gz", "mq_name": "t"}
    with pytest.raises(InvalidInput) as info:
        parse_config(_doc_rotation([NIGHT, tdmq]), now=CONFIG_NOW)
    assert [(p.field, p.rule) for p in info.value.problems] == [
        ("rotations[0].callbacks[0].format", "doc queues take no ResultFormat"),
        ("rotations[0].callbacks[1].type", "doc queues take only Url (got 'TDMQ')"),
    ]

"""The command schema: every field rule, exact field paths, and until/for resolution."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from ciqueue.app.commands import (
    Callback,
    Command,
    QueueRef,
    parse_command,
    resolve_expiry,
)
from ciqueue.ci.identifiers import BUCKET_RULE, QUEUE_ID_RULE, REGION_RULE
from ciqueue.ci.kinds import QueueKind
from ciqueue.errors import InvalidInput, Problem
from ciqueue.limits import MAX_COMMAND_BYTES
from ciqueue.timefmt import format_duration, parse_duration

QID = "p8366c460c67b4c65a9bf81b41eaa3c4b"
QUEUE = {"bucket": "demo-1250000000", "region": "ap-guangzhou", "kind": "pic", "queue_id": QID}
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
CST = timezone(timedelta(hours=8))


def problems(data: Any, prefix: str = "") -> list[Problem]:
    with pytest.raises(InvalidInput) as info:
        parse_command(data, field_prefix=prefix)
    return info.value.problems


def only(data: Any, prefix: str = "") -> str:
    found = problems(data, prefix)
    assert len(found) == 1, found
    return str(found[0])


def pause(**extra: Any) -> dict[str, Any]:
    return {"action": "pause", "queues": [dict(QUEUE)], **extra}


# --- well-formed commands -------------------------------------------------------------------


def test_pause_with_queues_and_for() -> None:
    cmd = parse_command(pause(**{"for": "1h30m", "reason": "db maintenance", "id": "op-42"}))
    assert cmd.action == "pause"
    assert cmd.queues == (QueueRef(bucket="demo-1250000000", region="ap-guangzhou", queue_id=QID),)
    assert cmd.queues[0].kind is QueueKind.PIC
    assert cmd.for_ == timedelta(hours=1, minutes=30)
    assert cmd.until is None
    assert (cmd.reason, cmd.id) == ("db maintenance", "op-42")


def test_kind_defaults_to_pic_and_other_kinds_parse() -> None:
    ref = {k: v for k, v in QUEUE.items() if k != "kind"}
    assert parse_command({"action": "resume", "queues": [ref]}).queues[0].kind is QueueKind.PIC
    media = dict(QUEUE, kind="media")
    assert parse_command({"action": "resume", "queues": [media]}).queues[0].kind is QueueKind.MEDIA


def test_json_text_and_bytes_parse_like_dicts() -> None:
    data = pause(until="2025-03-01T20:00:00+08:00")
    assert parse_command(json.dumps(data)) == parse_command(data)
    assert parse_command(json.dumps(data).encode()) == parse_command(data)


def test_target_alone_is_a_scope() -> None:
    cmd = parse_command({"action": "resume", "target": "nightly-batch"})
    assert cmd.target == "nightly-batch" and cmd.queues == ()


def test_reconcile_needs_nothing_else() -> None:
    assert parse_command({"action": "reconcile"}) == Command(action="reconcile")


def test_cancel_override() -> None:
    assert parse_command({"action": "cancel_override", "override_id": "ovr-1"}).override_id == "ovr-1"


def test_to_dict_round_trips() -> None:
    cmd = parse_command(
        pause(until="2025-03-02T08:00:00Z", reason="r", id="k1", target="grp"),
    )
    assert cmd.to_dict() == {
        "action": "pause",
        "queues": [QUEUE],
        "target": "grp",
        "reason": "r",
        "id": "k1",
        "until": "2025-03-02T08:00:00+00:00",
    }
    assert parse_command(cmd.to_dict()) == cmd
    cb = parse_command(
        {
            "action": "set_callback",
            "queues": [QUEUE],
            "callback": {"type": "TDMQ", "mq_region": "gz", "mq_name": "topic-a", "event": ["TaskFinish"]},
        }
    )
    assert parse_command(cb.to_dict()) == cb
    assert parse_command(pause(**{"for": "7d"})).to_dict()["for"] == "7d"


# --- action ---------------------------------------------------------------------------------


def test_action_required_and_known() -> None:
    assert only({"queues": [QUEUE]}).startswith("action: is required (one of pause, resume, set_callback")
    assert (
        only({"action": "stop", "queues": [QUEUE]})
        == "action: must be one of pause, resume, set_callback, cancel_override, reconcile (got 'stop')"
    )
    assert only({"action": 3, "queues": [QUEUE]}) == "action: must be a string (got number)"


def test_unknown_field() -> None:
    assert only(pause(force=True)) == (
        "force: is not a known field (known: action, queues, target, reason, until, for, callback, "
        "override_id, id)"
    )


def test_not_an_object_or_not_json() -> None:
    assert only("[1, 2]") == "command: must be a JSON object (got list)"
    assert only("{nope") == "command: must be a JSON object (invalid JSON at line 1 column 2)"
    assert only(b"\xff\xfe") == "command: must be UTF-8 text"
    assert (
        only("{nope", prefix="Message") == "Message: must be a JSON object (invalid JSON at line 1 column 2)"
    )
    big = json.dumps(pause(reason="x" * MAX_COMMAND_BYTES))
    assert only(big) == f"command: must be at most {MAX_COMMAND_BYTES} bytes (got {len(big)})"
    assert only("[" * 30_000 + "]" * 30_000) == "command: must nest at most 64 levels of objects and lists"
    assert (
        only('{"action": ' + "[" * 65 + "]" * 65 + "}")
        == "command: must nest at most 64 levels of objects and lists"
    )


# --- queues ---------------------------------------------------------------------------------


def test_queue_kind_rule_names_the_index() -> None:
    data = {"action": "pause", "queues": [QUEUE, dict(QUEUE, kind="video", queue_id="p" + "1" * 32)]}
    assert only(data) == "queues[1].kind: must be one of pic, media, doc, asr, ai, file (got 'video')"


def test_queue_field_rules() -> None:
    bad = {"bucket": "Demo", "region": "guangzhou", "queue_id": "p/1", "colour": "red"}
    assert [str(p) for p in problems({"action": "pause", "queues": [bad]})] == [
        "queues[0].colour: is not a known field (known: bucket, region, kind, queue_id)",
        f"queues[0].bucket: {BUCKET_RULE} (got 'Demo')",
        f"queues[0].region: {REGION_RULE} (got 'guangzhou')",
        f"queues[0].queue_id: {QUEUE_ID_RULE} (got 'p/1')",
    ]


def test_queue_required_fields_and_types() -> None:
    assert [str(p) for p in problems({"action": "pause", "queues": [{"kind": "pic"}]})] == [
        "queues[0].bucket: is required",
        "queues[0].region: is required",
        "queues[0].queue_id: is required",
    ]
    assert only({"action": "pause", "queues": ["demo/ap-guangzhou/p1"]}) == (
        "queues[0]: must be an object (got string)"
    )
    assert only({"action": "pause", "queues": QUEUE}) == "queues: must be a list (got object)"
    assert only({"action": "pause", "queues": []}) == (
        "queues: must hold at least one queue (leave it out to use only target)"
    )
    assert only({"action": "pause", "queues": [dict(QUEUE, kind=1)]}) == (
        "queues[0].kind: must be a string (got number)"
    )


def test_duplicate_queue_and_too_many() -> None:
    assert only({"action": "pause", "queues": [QUEUE, QUEUE]}) == "queues[1]: duplicates queues[0]"
    many = [dict(QUEUE, queue_id=f"p{i}") for i in range(101)]
    assert only({"action": "pause", "queues": many}) == "queues: must hold at most 100 queues (got 101)"


def test_scope_required_for_queue_actions() -> None:
    for action in ("pause", "resume"):
        assert only({"action": action}) == f"queues: is required for {action} (give queues, target or both)"


def test_target_rule() -> None:
    assert only({"action": "pause", "target": "no spaces"}) == (
        "target: must be a group name of letters, digits, _ . - (1-64) (got 'no spaces')"
    )


# --- reason, id -----------------------------------------------------------------------------


def test_reason_rules() -> None:
    assert parse_command(pause(reason="x" * 256)).reason == "x" * 256
    assert only(pause(reason="x" * 257)) == "reason: must be at most 256 characters (got 257)"
    assert (
        only(pause(reason="a\nfake log line"))
        == "reason: must not contain control characters (newlines, tabs)"
    )
    assert only(pause(reason=5)) == "reason: must be a string (got number)"


def test_id_and_override_id_rules() -> None:
    assert only(pause(id="has space")) == "id: must be 1-128 of letters, digits, _ . : - (got 'has space')"
    assert only({"action": "cancel_override"}) == "override_id: is required for cancel_override"
    assert only({"action": "cancel_override", "override_id": "o1", "target": "g"}) == (
        "target: is not allowed with cancel_override (the override names its queues)"
    )
    assert only(pause(override_id="o1")) == "override_id: is only allowed with cancel_override"


# --- until / for ----------------------------------------------------------------------------


def test_for_rules() -> None:
    assert only(pause(**{"for": "soon"})) == "for: must be a duration like 30m, 2h, 1h30m or 45s (got 'soon')"
    assert only(pause(**{"for": 30})) == "for: must be a duration like 30m, 2h, 1h30m or 45s (got number)"
    assert only(pause(**{"for": "0m"})) == "for: must be longer than 0s (got '0m')"
    assert only(pause(**{"for": "7d1m"})) == "for: must be at most 7d (got '7d1m')"
    assert (
        only(pause(**{"for": "30m2h"})) == "for: must be a duration like 30m, 2h, 1h30m or 45s (got '30m2h')"
    )


def test_until_rules() -> None:
    assert only(pause(until="tomorrow")) == (
        "until: must be an ISO 8601 time like 2025-06-01T08:00:00+08:00, or 'cancelled' (got 'tomorrow')"
    )
    assert only(pause(until="2025-03-01T20:00:00")) == (
        "until: must carry a UTC offset, like +08:00 or Z (got '2025-03-01T20:00:00')"
    )
    assert only(pause(until="2025-03-01")).startswith("until: must be an ISO 8601 time")
    assert parse_command(pause(until="2025-03-01T20:00:00+08:00")).until == datetime(
        2025, 3, 1, 20, tzinfo=CST
    )


def test_until_and_for_are_exclusive_and_only_for_overrides() -> None:
    assert only(pause(until="2025-03-01T20:00:00Z", **{"for": "2h"})) == (
        "for: cannot be combined with until (give one of them)"
    )
    assert only({"action": "reconcile", "for": "2h"}) == "for: is only allowed with pause or resume"
    assert only({"action": "reconcile", "until": "2025-03-01T20:00:00Z"}) == (
        "until: is only allowed with pause or resume"
    )


def test_resolve_expiry_with_injected_now() -> None:
    assert resolve_expiry(parse_command(pause(**{"for": "1h30m"})), NOW) == NOW + timedelta(minutes=90)
    assert resolve_expiry(parse_command(pause()), NOW) is None
    later = parse_command(pause(until="2025-03-01T21:00:00+08:00"))  # 13:00 UTC
    assert resolve_expiry(later, NOW) == datetime(2025, 3, 1, 13, tzinfo=timezone.utc)


def test_resolve_expiry_refuses_past_and_far_until() -> None:
    past = parse_command(pause(until="2025-03-01T19:59:00+08:00"))  # 11:59 UTC, one minute ago
    with pytest.raises(InvalidInput) as info:
        resolve_expiry(past, NOW)
    assert str(info.value) == "until: must be in the future (got 2025-03-01T19:59:00+08:00)"
    exact = parse_command(pause(until="2025-03-01T12:00:00Z"))
    with pytest.raises(InvalidInput, match="until: must be in the future"):
        resolve_expiry(exact, NOW)
    far = parse_command(pause(until="2025-03-08T12:01:00Z"))
    with pytest.raises(InvalidInput) as info:
        resolve_expiry(far, NOW)
    assert str(info.value) == "until: must be at most 7d ahead"
    assert resolve_expiry(parse_command(pause(until="2025-03-08T12:00:00Z")), NOW) == NOW + timedelta(days=7)
    with pytest.raises(ValueError):
        resolve_expiry(exact, datetime(2025, 3, 1))


def test_duration_text() -> None:
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("1d2h3m") == timedelta(days=1, hours=2, minutes=3)
    assert parse_duration("") is None and parse_duration("1h 30m") is None
    # Seconds are part of the one grammar (timefmt.parse_duration), as for a window's duration.
    assert parse_duration("90s") == timedelta(seconds=90)
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    assert format_duration(timedelta(days=2)) == "2d"


def test_for_takes_seconds_like_a_window_duration() -> None:
    command = parse_command(pause(**{"for": "30s"}))
    assert command.for_ == timedelta(seconds=30)
    assert resolve_expiry(command, NOW) == NOW + timedelta(seconds=30)
    # The JSON form keeps the seconds: parse_command(cmd.to_dict()) == cmd.
    assert command.to_dict()["for"] == "30s" and parse_command(command.to_dict()) == command
    assert parse_command(pause(**{"for": "1h30m15s"})).for_ == timedelta(hours=1, minutes=30, seconds=15)


# --- callback -------------------------------------------------------------------------------


def set_cb(callback: Any) -> dict[str, Any]:
    return {"action": "set_callback", "queues": [QUEUE], "callback": callback}


def test_url_callback() -> None:
    cb = parse_command(
        set_cb({"type": "Url", "url": "https://cb.example.com/ci", "event": "TaskFinish,WorkflowFinish"})
    ).callback
    assert cb == Callback(type="Url", url="https://cb.example.com/ci", event="TaskFinish,WorkflowFinish")
    assert cb.notify_fields() == {
        "state": "On",
        "type": "Url",
        "url": "https://cb.example.com/ci",
        "event": "TaskFinish,WorkflowFinish",
    }
    listed = parse_command(
        set_cb(
            {"type": "Url", "url": "https://cb.example.com", "event": ["WorkflowFinish"], "format": "JSON"}
        )
    ).callback
    assert listed is not None and (listed.event, listed.format) == ("WorkflowFinish", "JSON")


def test_tdmq_callback_defaults_queue_mode() -> None:
    cb = parse_command(
        set_cb({"type": "TDMQ", "mq_region": "sh", "mq_name": "ci-topic", "event": "TaskFinish"})
    ).callback
    assert cb is not None
    assert cb.notify_fields() == {
        "state": "On",
        "type": "TDMQ",
        "event": "TaskFinish",
        "mq_mode": "Queue",
        "mq_region": "sh",
        "mq_name": "ci-topic",
    }


def test_callback_off() -> None:
    assert parse_command(set_cb({"state": "Off"})).callback == Callback(state="Off")
    assert only(set_cb({"state": "Off", "url": "https://x.example.com"})) == (
        'callback.url: is not allowed with state "Off"'
    )


def test_callback_rules() -> None:
    assert only(set_cb({"type": "url", "url": "https://a.example.com", "event": "TaskFinish"})) == (
        "callback.type: must be one of Url, TDMQ (got 'url')"
    )
    assert (
        only(set_cb({"type": "Url", "event": "TaskFinish"})) == "callback.url: is required when type is Url"
    )
    # No event: TaskFinish, the default the CLI and the config give too (it was refused here only).
    defaulted = parse_command(set_cb({"type": "Url", "url": "https://a.example.com"})).callback
    assert defaulted is not None and defaulted.event == "TaskFinish"
    assert only(set_cb({"type": "Url", "url": "https://a.example.com", "event": "Done"})) == (
        "callback.event: must be one or more of TaskFinish, WorkflowFinish (got 'Done')"
    )
    assert only(
        set_cb({"type": "Url", "url": "https://a.example.com", "event": "TaskFinish", "format": "YAML"})
    ) == ("callback.format: must be one of XML, JSON (got 'YAML')")
    assert only(set_cb({"type": "TDMQ", "mq_name": "t", "event": "TaskFinish", "mq_region": "sz"})) == (
        "callback.mq_region: must be one of sh, bj, gz, cd, hk (got 'sz')"
    )
    assert only(set_cb({"type": "TDMQ", "mq_region": "gz", "event": "TaskFinish"})) == (
        "callback.mq_name: is required when type is TDMQ"
    )
    assert only(
        set_cb(
            {"type": "TDMQ", "mq_region": "gz", "mq_name": "t", "event": "TaskFinish", "url": "https://a.b"}
        )
    ) == ("callback.url: is only allowed when type is Url")
    assert only(set_cb({"state": "Maybe"})) == "callback.state: must be one of On, Off (got 'Maybe')"
    assert only(set_cb("https://a.example.com")) == "callback: must be an object (got string)"
    assert only({"action": "set_callback", "queues": [QUEUE]}) == "callback: is required for set_callback"
    assert only(pause(callback={"state": "Off"})) == "callback: is only allowed with set_callback"


def test_callback_url_goes_through_netguard() -> None:
    data = set_cb({"type": "Url", "url": "http://127.0.0.1/cb", "event": "TaskFinish"})
    found = problems(data, prefix="body")
    assert [p.field for p in found] == ["body.callback.url"]
    assert "private" in found[0].rule
    # local mode (the emulator) may call back to loopback
    cmd = parse_command(data, allow_private=True)
    assert cmd.callback is not None and cmd.callback.url == "http://127.0.0.1/cb"


# --- prefixes and many problems at once ------------------------------------------------------


def test_prefix_joins_every_path() -> None:
    data = {"action": "pause", "queues": [dict(QUEUE, kind="video")], "for": "soon"}
    assert [str(p) for p in problems(data, prefix="Records[2].CMQ.msgBody")] == [
        "Records[2].CMQ.msgBody.queues[0].kind: must be one of pic, media, doc, asr, ai, file (got 'video')",
        "Records[2].CMQ.msgBody.for: must be a duration like 30m, 2h, 1h30m or 45s (got 'soon')",
    ]


def test_long_values_are_shortened_in_messages() -> None:
    message = only(pause(target="x" * 5000))
    assert len(message) < 200 and message.endswith("…')")


# --- found by tests/test_fuzz_inputs.py -----------------------------------------------------------


def test_an_empty_or_odd_unknown_key_is_still_named() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_command({"": "pause", "action": "pause", "queues": [{"x y": 1}], "callback": {"a" * 100: 1}})
    rules = {p.field: p.rule for p in caught.value.problems}
    for field in ("['']", "queues[0]['x y']", "callback['" + "a" * 32 + "…']"):
        assert rules[field].startswith("is not a known field (known: "), field
    assert next(iter(rules)) == "['']"


@pytest.mark.parametrize(("data", "got"), [([], "list"), (None, "null"), (5, "number"), (True, "boolean")])
def test_decoded_json_that_is_not_an_object_is_refused(data: Any, got: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_command(data)
    assert caught.value.problems == [Problem("command", f"must be a JSON object (got {got})")]


def test_until_cancelled_is_an_override_with_no_end() -> None:
    command = parse_command(pause(until="cancelled"))

    assert (command.until, command.until_cancelled) == (None, True)
    assert parse_command(command.to_dict()) == command
    assert resolve_expiry(command, datetime(2025, 3, 1, tzinfo=CST)) is None
    assert only(pause(until="Cancelled")).startswith("until: must be an ISO 8601 time")
    assert (
        only(pause(until="cancelled", **{"for": "2h"}))
        == "for: cannot be combined with until (give one of them)"
    )
    assert only(
        {"action": "set_callback", "queues": [QUEUE], "callback": {"state": "Off"}, "until": "cancelled"}
    ) == ("until: is only allowed with pause or resume")

"""Envelopes: every sample event parses, malformed ones name the path, bad records stay apart."""

from __future__ import annotations

import base64
import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from ciqueue.app.commands import parse_command
from ciqueue.envelopes import ckafka, cls, cmq, cos, function_url, timer
from ciqueue.envelopes.base import Record
from ciqueue.envelopes.detect import detect_source, records_for
from ciqueue.errors import InvalidInput

EVENTS = Path(__file__).resolve().parents[1] / "events"
QUEUE = {
    "bucket": "demo-1250000000",
    "region": "ap-guangzhou",
    "kind": "pic",
    "queue_id": "p8366c460c67b4c65a9bf81b41eaa3c4b",
}
PAUSE = {"action": "pause", "queues": [QUEUE], "for": "2h", "reason": "maintenance"}
RESUME = {"action": "resume", "target": "nightly", "id": "resume-1"}


def load(name: str) -> Any:
    return json.loads((EVENTS / f"{name}.json").read_text())


def errors(records: list[Record]) -> list[str | None]:
    return [None if r.error is None else str(r.error) for r in records]


def cls_event(payload: Any, *, raw: bytes | None = None) -> dict[str, Any]:
    data = raw if raw is not None else json.dumps(payload).encode()
    return {"clslogs": {"data": base64.b64encode(gzip.compress(data, mtime=0)).decode()}}


# --- detect_source --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("timer", "timer"),
        ("timer_reconcile", "timer"),
        ("timer_legacy_lowercase", "timer"),
        ("timer_missing_trigger_name", "timer"),
        ("apigw_proxy", "apigw"),
        ("apigw_base64", "apigw"),
        ("function_url", "function_url"),
        ("function_url_capture", "function_url"),
        ("function_url_cam", "function_url"),
        ("cos_put", "cos"),
        ("cos_command_object", "cos"),
        ("cmq_topic", "cmq"),
        ("cmq_one_bad_among_good", "cmq"),
        ("ckafka", "ckafka"),
        ("cls", "cls"),
        ("cls_bad_base64", "cls"),
    ],
)
def test_detect_source_of_samples(name: str, source: str) -> None:
    assert detect_source(load(name)) == source


@pytest.mark.parametrize(
    "event",
    [None, [], "Timer", {}, {"Records": []}, {"Records": [{"s3": {}}]}, {"Records": ["x"]}, {"Type": 1}],
)
def test_detect_source_unknown(event: Any) -> None:
    assert detect_source(event) == "unknown"


def test_every_sample_event_file_is_detected() -> None:
    names = sorted(p.stem for p in EVENTS.glob("*.json"))
    assert len(names) >= 20
    for name in names:
        assert detect_source(load(name)) != "unknown", name


# --- timer ----------------------------------------------------------------------------------


def test_timer_reference_sample_has_free_text_message() -> None:
    [rec] = timer.records(load("timer"))
    assert rec.record_id == "timer:EveryDay:2019-02-21T11:49:00Z"
    assert rec.meta == {"trigger_name": "EveryDay", "time": "2019-02-21T11:49:00Z"}
    assert str(rec.error) == "Message: must be a JSON object (invalid JSON at line 1 column 1)"
    assert rec.payload is None


def test_timer_empty_message_is_reconcile() -> None:
    [rec] = timer.records(load("timer_reconcile"))
    assert rec.ok and rec.payload == {"action": "reconcile"}
    assert parse_command(rec.payload, rec.field).action == "reconcile"
    [legacy] = timer.records(load("timer_legacy_lowercase"))
    assert legacy.payload == {"action": "reconcile"}
    [blank] = timer.records({"Type": "Timer", "TriggerName": "t", "Time": "x", "Message": "  "})
    assert blank.payload == {"action": "reconcile"}
    [missing] = timer.records({"Type": "Timer", "TriggerName": "t", "Time": "x"})
    assert missing.payload == {"action": "reconcile"}


def test_timer_json_message_is_an_explicit_command() -> None:
    [rec] = timer.records(load("timer_command"))
    assert rec.payload == PAUSE and rec.field == "Message"
    cmd = parse_command(rec.payload, rec.field)
    assert cmd.action == "pause" and cmd.queues[0].queue_id == QUEUE["queue_id"]


def test_timer_command_errors_name_message_paths() -> None:
    event = {"Type": "Timer", "TriggerName": "t", "Time": "x", "Message": json.dumps({"action": "halt"})}
    [rec] = timer.records(event)
    with pytest.raises(InvalidInput) as info:
        parse_command(rec.payload or {}, rec.field)
    assert str(info.value).startswith("Message.action: must be one of pause, resume")
    [listed] = timer.records({"Type": "Timer", "TriggerName": "t", "Time": "x", "Message": "[1]"})
    assert str(listed.error) == "Message: must be a JSON object (got list)"
    [huge] = timer.records({"Type": "Timer", "TriggerName": "t", "Time": "x", "Message": "{" + "x" * 4096})
    # SCF caps a timer argument at 4 KB; the handler and the deploy check refuse the same size.
    assert str(huge.error) == "Message: must be at most 4096 bytes (got 4097)"


def test_timer_malformed_event() -> None:
    with pytest.raises(InvalidInput) as info:
        timer.records(load("timer_missing_trigger_name"))
    assert str(info.value) == "TriggerName: is required"
    with pytest.raises(InvalidInput) as info:
        timer.records({"Type": "Timer", "TriggerName": "t", "Time": "x", "Message": {"action": "pause"}})
    assert str(info.value) == "Message: must be a string"
    with pytest.raises(InvalidInput) as info:
        timer.records({"Type": "Cron", "TriggerName": "t", "Time": "x"})
    assert str(info.value) == "Type: must be Timer (got 'Cron')"
    with pytest.raises(InvalidInput) as info:
        timer.records("not an event")
    assert str(info.value) == "event: must be an object"
    with pytest.raises(InvalidInput) as info:
        timer.records({"Type": 1, "Time": None, "Message": None})
    # Every key's problem at once, in the event's documented key order.
    assert str(info.value) == (
        "Type: must be a string; TriggerName: is required; Time: must be a string; Message: must be a string"
    )


TRUE_OR_FALSE = "must be true or false"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "event: must be an object"),
        ({}, "httpMethod: is required; path: is required"),
        ({"httpMethod": "GET", "path": 1}, "path: must be a string"),
        ({"httpMethod": "GET", "path": "/", "headers": ["a"]}, "headers: must be an object"),
        ({"httpMethod": "GET", "path": "/", "queryString": "a=1"}, "queryString: must be an object"),
        ({"httpMethod": "GET", "path": "/", "rawQueryString": {}}, "rawQueryString: must be a string"),
        ({"httpMethod": "GET", "path": "/", "body": {"a": 1}}, "body: must be a string"),
        ({"httpMethod": "GET", "path": "/", "isBase64Encoded": "true"}, f"isBase64Encoded: {TRUE_OR_FALSE}"),
        ({"httpMethod": "GET", "path": "/", "isBase64Encoded": None}, f"isBase64Encoded: {TRUE_OR_FALSE}"),
        ({"httpMethod": "GET", "path": "/", "requestContext": "x"}, "requestContext: must be an object"),
        ({"httpMethod": "GET", "path": "/", "headers": {1: "a"}}, "headers[1].[key]: must be a string"),
    ],
)
def test_function_url_malformed_events(event: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        function_url.parse_request(event)
    assert str(info.value) == message


def test_function_url_optional_keys_may_be_null() -> None:
    keys = ("headers", "queryString", "rawQueryString", "queryStringParameters", "body", "requestContext")
    event = {"httpMethod": "GET", "path": "/queues", **dict.fromkeys(keys), "other": object()}
    request = function_url.parse_request(event)
    assert (request.method, request.path, request.body, request.query) == ("GET", "/queues", b"", {})


# --- COS ------------------------------------------------------------------------------------


def test_cos_reference_sample_is_not_a_command_object() -> None:
    [rec] = cos.records(load("cos_put"))
    assert rec.record_id == "cos:testpic-1253970026/testfile#NWMxOWY4MGFfMjViMjU4NjRfMTQ4OV8yNzVjNDM1"
    assert str(rec.error) == (
        "Records[0].cos.cosObject.key: must be ciqueue/commands/<name>.json (got 'testfile')"
    )


def test_cos_command_object_needs_fetch() -> None:
    [rec] = cos.records(load("cos_command_object"))
    assert rec.ok and rec.needs_fetch and rec.payload is None
    assert rec.field == "Records[0].cos.cosObject"
    assert rec.meta == {
        "bucket": "testpic-1253970026",
        "region": "ap-chengdu",
        "region_short": "cd",
        "key": "ciqueue/commands/pause-2025-03-01.json",
        "size": 240,
        "version_id": None,
        "event_name": "cos:ObjectCreated:Put",
        "event_time": 1545205770,
        "request_id": "NWMxOWY4MGFfMjViMjU4NjRfMTQ4OV8yNzVjNDM1",
    }


def test_cos_metadata_command_is_inline() -> None:
    [rec] = cos.records(load("cos_meta_command"))
    assert rec.ok and not rec.needs_fetch and rec.payload == RESUME
    assert rec.field == "Records[0].cos.cosObject.meta.x-cos-meta-ciqueue-command"


def test_cos_rules() -> None:
    [removed] = cos.records(load("cos_remove"))
    assert str(removed.error) == (
        "Records[0].event.eventName: must be a cos:ObjectCreated:* event (got 'cos:ObjectRemove:Delete')"
    )
    big = load("cos_command_object")
    big["Records"][0]["cos"]["cosObject"]["size"] = 10**6
    [rec] = cos.records(big)
    assert str(rec.error) == "Records[0].cos.cosObject.size: must be at most 65536 bytes (got 1000000)"


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("ciqueue/commands/../x.json", "must be a relative object key without empty, '.' or '..' parts"),
        ("ciqueue/commands/%2E%2E/x.json", "must be a relative object key without empty, '.' or '..' parts"),
        ("ciqueue/commands/x\n.json", "must not contain control characters"),
        ("ciqueue/commands/x%0a.json", "must not contain control characters"),
        ("ciqueue/commands/" + "x" * 850 + ".json", "must be at most 850 bytes"),
    ],
)
def test_cos_command_keys_meet_the_object_key_rule(key: str, rule: str) -> None:
    event = load("cos_command_object")
    event["Records"][0]["cos"]["cosObject"]["key"] = "/1253970026/testpic/" + key
    [rec] = cos.records(event)
    shown = key if len(key) <= 64 else key[:64] + "…"
    assert str(rec.error) == f"Records[0].cos.cosObject.key: {rule} (got {shown!r})"
    assert not rec.needs_fetch


def test_cos_one_bad_record_among_good() -> None:
    good = load("cos_command_object")["Records"][0]
    broken = copy.deepcopy(good)
    del broken["cos"]["cosBucket"]["name"]
    wrong_type = copy.deepcopy(good)
    wrong_type["cos"]["cosObject"]["key"] = 7
    records = cos.records({"Records": [good, broken, wrong_type, good]})
    assert errors(records) == [
        None,
        "Records[1].cos.cosBucket.name: is required",
        "Records[2].cos.cosObject.key: must be a string",
        None,
    ]
    assert [r.needs_fetch for r in records] == [True, False, False, True]


# --- CMQ ------------------------------------------------------------------------------------


def test_cmq_reference_sample() -> None:
    [rec] = cmq.records(load("cmq_topic"))
    assert rec.record_id == "cmq:123345346"
    assert rec.meta["tags"] == ["tag1", "tag2"] and rec.meta["topic"] == "testtopic"
    assert str(rec.error) == "Records[0].CMQ.msgBody: must be a JSON object (invalid JSON at line 1 column 1)"


def test_cmq_commands_and_both_tag_shapes() -> None:
    first, second = cmq.records(load("cmq_commands"))
    assert (first.payload, second.payload) == (PAUSE, RESUME)
    assert first.meta["tags"] == ["tag1", "tag2"] and second.meta["tags"] == ["ops"]
    assert [first.record_id, second.record_id] == ["cmq:msg-1", "cmq:msg-2"]


def test_cmq_one_bad_record_never_blocks_the_others() -> None:
    records = cmq.records(load("cmq_one_bad_among_good"))
    assert errors(records) == [
        None,
        "Records[1].CMQ.msgBody: must be a string",
        "Records[2].CMQ: must be an object",
        "Records[3].CMQ.msgBody: must be a JSON object (invalid JSON at line 1 column 2)",
        None,
    ]
    assert [r.payload for r in records if r.ok] == [PAUSE, RESUME]
    # and a bad command inside a good record names its full path
    with pytest.raises(InvalidInput) as info:
        parse_command({"action": "pause", "queues": [dict(QUEUE, kind="video")]}, records[0].field)
    assert str(info.value) == (
        "Records[0].CMQ.msgBody.queues[0].kind: must be one of pic, media, doc, asr, ai, file (got 'video')"
    )


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, "Records: is required"),
        ({"Records": {"CMQ": {}}}, "Records: must be a list (got object)"),
        ([], "event: must be a JSON object (got list)"),
    ],
)
def test_cmq_malformed_events(event: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        cmq.records(event)
    assert str(info.value) == message


# --- CKafka ---------------------------------------------------------------------------------


def test_ckafka_reference_sample() -> None:
    [rec] = ckafka.records(load("ckafka"))
    assert rec.record_id == "ckafka:test-topic/1/36"
    assert rec.meta == {"topic": "test-topic", "partition": 1, "offset": 36, "key": "None"}
    assert rec.error is not None and rec.error.field == "Records[0].Ckafka.msgBody"


def test_ckafka_batch_with_a_wrongly_typed_record() -> None:
    records = ckafka.records(load("ckafka_commands"))
    assert errors(records) == [None, "Records[1].Ckafka.partition: must be an integer", None]
    assert [r.record_id for r in records] == ["ckafka:ciqueue/0/7", "ckafka:#1", "ckafka:ciqueue/0/9"]
    assert records[2].payload == RESUME and records[2].meta["key"] is None


def test_ckafka_missing_fields_name_each_path() -> None:
    [rec] = ckafka.records({"Records": [{"Ckafka": {"topic": "t"}}]})
    assert rec.error is not None
    assert [str(p) for p in rec.error.problems] == [
        "Records[0].Ckafka.partition: is required",
        "Records[0].Ckafka.offset: is required",
        "Records[0].Ckafka.msgBody: is required",
    ]


# --- CLS ------------------------------------------------------------------------------------


def test_cls_reference_shape() -> None:
    [rec] = cls.records(load("cls"))
    assert rec.record_id == "cls:xxxx-xx-xx-xx-yyyyyyyy/1605578090000000#0"
    assert rec.meta == {
        "topic_id": "xxxx-xx-xx-xx-yyyyyyyy",
        "topic_name": "testname",
        "timestamp": "1605578090000000",
    }
    assert str(rec.error) == (
        "clslogs.data.records[0].content: must be a JSON object (invalid JSON at line 1 column 1)"
    )


def test_cls_commands_with_one_bad_record() -> None:
    records = cls.records(load("cls_commands"))
    assert [r.payload for r in records] == [PAUSE, RESUME, None]
    assert errors(records) == [None, None, "clslogs.data.records[2].content: is required"]
    assert records[0].field == "clslogs.data.records[0].content"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("cls_bad_base64", "clslogs.data: must be base64 text"),
        ("cls_not_gzip", "clslogs.data: must be base64 of gzip data"),
        ("cls_truncated_gzip", "clslogs.data: must be base64 of complete gzip data (it is truncated)"),
    ],
)
def test_cls_malformed_files(name: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        cls.records(load(name))
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"clslogs": "x"}, "clslogs: must be an object"),
        ({"clslogs": {}}, "clslogs.data: is required"),
        ({"clslogs": {"data": 5}}, "clslogs.data: must be a string"),
        (
            {"clslogs": {"data": "A" * 300_000}},
            "clslogs.data: must be at most 262144 characters (got 300000)",
        ),
        (cls_event(None, raw=b"\xff not json"), "clslogs.data: must decode to a JSON object"),
        (cls_event([1, 2]), "clslogs.data: must be an object"),
        (cls_event({"records": []}), "clslogs.data.topic_id: is required"),
        (cls_event({"topic_id": "t", "records": "x"}), "clslogs.data.records: must be a list"),
    ],
)
def test_cls_malformed_events(event: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        cls.records(event)
    assert str(info.value) == message


def test_cls_gzip_bomb_is_refused() -> None:
    event = cls_event(None, raw=b" " * (9 * 1024 * 1024))
    assert len(event["clslogs"]["data"]) < 20_000  # small on the wire
    with pytest.raises(InvalidInput) as info:
        cls.records(event)
    assert str(info.value) == "clslogs.data: must decompress to at most 8388608 bytes"


# --- dispatch -------------------------------------------------------------------------------


def test_records_for_dispatches_by_source() -> None:
    source, records = records_for(load("cmq_commands"))
    assert source == "cmq" and [r.payload for r in records] == [PAUSE, RESUME]
    source, records = records_for(load("timer_reconcile"))
    assert source == "timer" and records[0].payload == {"action": "reconcile"}


def test_records_for_refuses_http_and_unknown() -> None:
    with pytest.raises(InvalidInput) as info:
        records_for(load("function_url"))
    assert str(info.value) == "event: must be a timer, COS, CMQ, CKafka or CLS event (got function_url)"
    with pytest.raises(InvalidInput, match=r"\(got unknown\)"):
        records_for({"hello": "world"})

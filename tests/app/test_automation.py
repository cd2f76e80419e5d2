"""Event automation end to end: SCF-shaped CMQ / CKafka / CLS / COS events carried out against the
emulator, with a file state store in tmp_path. Good records are applied, bad ones reported, a
redelivery writes nothing twice, and a transient failure asks SCF for a redelivery.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from ciqueue.app.automation import AutomationReport, RetryDelivery, process_event
from ciqueue.app.runtime import Runtime
from ciqueue.ci.retry import RetryPolicy
from ciqueue.schedule.load import load_config
from conftest import (
    CONFIG_NOW,
    DEMO_BUCKET,
    DEMO_REGION,
    NOON_UTC,
    PIC_CALLBACK_ID,
    PIC_DEFAULT_ID,
    PIC_PAUSED_ID,
    SECRET_CALLBACK_URL,
    EmuAdmin,
    load_function,
    pic_ref,
)

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
FIXTURE_QUEUE = "p8366c460c67b4c65a9bf81b41eaa3c4b"  # the queue id the event fixtures name
CONFIG = f"""
version: 1
targets:
  nightly:
    bucket: {DEMO_BUCKET}
    region: {DEMO_REGION}
    kind: pic
    queue_ids: [{PIC_PAUSED_ID}, {PIC_CALLBACK_ID}]
"""


def fixture_event(name: str) -> Any:
    """An event fixture, its commands aimed at the demo bucket's default pic queue."""
    return json.loads((EVENTS / f"{name}.json").read_text().replace(FIXTURE_QUEUE, PIC_DEFAULT_ID))


def command(action: str, queue_id: str, kind: str = "pic", **extra: Any) -> str:
    queue = {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kind": kind, "queue_id": queue_id}
    return json.dumps({"action": action, "queues": [queue], **extra})


def cmq_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {"CMQ": {"msgId": f"m-{i}", "topicName": "ops", "msgBody": b}} for i, b in enumerate(bodies)
        ]
    }


def cls_event(*contents: str) -> dict[str, Any]:
    logs = {
        "topic_id": "6e2b2f5c-0000-4000-8000-000000000009",
        "topic_name": "ops",
        "records": [{"timestamp": str(1740800000000000 + i), "content": c} for i, c in enumerate(contents)],
    }
    data = base64.b64encode(gzip.compress(json.dumps(logs).encode())).decode()
    return {"clslogs": {"data": data}}


def cos_event(key: str, size: int = 200) -> dict[str, Any]:
    name, appid = DEMO_BUCKET.rsplit("-", 1)
    event = json.loads((EVENTS / "cos_command_object.json").read_text())
    obj = event["Records"][0]["cos"]["cosObject"]
    obj["url"] = f"http://{DEMO_BUCKET}.cos.{DEMO_REGION}.myqcloud.com/{key}"
    obj["key"] = f"/{appid}/{name}/{key}"
    obj["size"] = size
    event["Records"][0]["cos"]["cosBucket"] = {"region": "gz", "name": name, "appid": appid}
    return event


@pytest.fixture
def runtime(emulator_runtime: Callable[..., Runtime], demo_bucket: Any) -> Runtime:
    return emulator_runtime(
        config=load_config(CONFIG, now=CONFIG_NOW),
        # One attempt: a fault shows at once as a transient failure (no backoff sleeps).
        client_options={"retry": RetryPolicy(max_attempts=1)},
    )


def overrides(runtime: Runtime) -> list[dict[str, Any]]:
    doc, _ = runtime.state.load()
    return [o.model_dump(mode="json") for o in doc.overrides]


def summary(report: AutomationReport) -> list[tuple[str, bool, int, str | None]]:
    return [(r.record_id, r.ok, r.status, (r.error or {}).get("field")) for r in report.results]


def test_cmq_batch_applies_good_records_and_reports_bad_ones(runtime: Runtime, emu_admin: EmuAdmin) -> None:
    report = process_event(fixture_event("cmq_one_bad_among_good"), runtime)
    assert report.source == "cmq"
    assert summary(report) == [
        ("cmq:msg-1", True, 200, None),
        ("cmq:#1", False, 400, "Records[1].CMQ.msgBody"),
        ("cmq:#2", False, 400, "Records[2].CMQ"),
        ("cmq:msg-4", False, 400, "Records[3].CMQ.msgBody"),
        ("cmq:msg-5", True, 200, None),
    ]
    assert report.results[1].error is not None
    assert report.results[1].error["message"] == "Records[1].CMQ.msgBody: must be a string"
    assert report.retry is False and report.ok is False
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"  # msg-1: pause for 2h
    assert emu_admin.queue(PIC_PAUSED_ID)["State"] == "Active"  # msg-5: resume target nightly
    assert sorted(emu_admin.put_paths()) == sorted(
        [f"/picqueue/{PIC_DEFAULT_ID}", f"/picqueue/{PIC_PAUSED_ID}"]
    )
    stored = overrides(runtime)
    assert [(o["queue_id"], o["state"], o["actor"], o["reason"]) for o in stored] == [
        (PIC_DEFAULT_ID, "Paused", "event:cmq", "maintenance")
    ]

    emu_admin.clear_requests()
    again = process_event(fixture_event("cmq_one_bad_among_good"), runtime)
    assert summary(again) == summary(report)
    assert emu_admin.put_paths() == []  # redelivery: every queue is already as asked
    assert [o["id"] for o in overrides(runtime)] == [stored[0]["id"]]  # and no second override


def test_ckafka_batch(runtime: Runtime, emu_admin: EmuAdmin) -> None:
    report = process_event(fixture_event("ckafka_commands"), runtime)
    assert summary(report) == [
        ("ckafka:ciqueue/0/7", True, 200, None),
        ("ckafka:#1", False, 400, "Records[1].Ckafka.partition"),
        ("ckafka:ciqueue/0/9", True, 200, None),
    ]
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"
    assert emu_admin.queue(PIC_PAUSED_ID)["State"] == "Active"
    assert report.results[0].outcome is not None
    assert report.results[0].outcome["override"]["queues"] == [
        f"{DEMO_BUCKET}/{DEMO_REGION}/pic/{PIC_DEFAULT_ID}"
    ]


def test_cls_batch_names_the_bad_field(runtime: Runtime, emu_admin: EmuAdmin) -> None:
    event = cls_event(
        command("pause", PIC_DEFAULT_ID),
        command("pause", PIC_CALLBACK_ID, kind="video"),
        command("resume", PIC_PAUSED_ID, reason="done"),
    )
    report = process_event(event, runtime)
    assert [(r.ok, r.status) for r in report.results] == [(True, 200), (False, 400), (True, 200)]
    error = report.results[1].error
    assert error is not None
    assert error["field"] == "clslogs.data.records[1].content.queues[0].kind"
    assert "must be one of pic, media, doc, asr, ai, file (got 'video')" in error["message"]
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"
    assert emu_admin.queue(PIC_CALLBACK_ID)["State"] == "Active"
    assert emu_admin.queue(PIC_PAUSED_ID)["State"] == "Active"
    assert overrides(runtime) == []  # no until/for: one-off changes


def test_unknown_queue_is_404_and_final(runtime: Runtime, emu_admin: EmuAdmin) -> None:
    report = process_event(cmq_event(command("pause", "p" + "f" * 32, **{"for": "1h"})), runtime)
    # The field is queue_id, as the HTTP API always said (errors.QueueNotFound.report_fields).
    assert summary(report) == [("cmq:m-0", False, 404, "queue_id")]
    assert report.results[0].error is not None and report.results[0].error["code"] == "QueueNotFound"
    assert report.retry is False
    assert overrides(runtime) == [] and emu_admin.put_paths() == []


def test_same_command_id_in_two_messages_makes_one_override(runtime: Runtime) -> None:
    body = command("pause", PIC_DEFAULT_ID, id="change-42", **{"for": "1h"})
    report = process_event(cmq_event(body, body), runtime)
    assert [r.ok for r in report.results] == [True, True]
    assert len(overrides(runtime)) == 1


def test_cos_command_object_is_fetched(runtime: Runtime, emulator: Any, emu_admin: EmuAdmin) -> None:
    key = "ciqueue/commands/pause-2025-03-01.json"
    emulator.cos.put(DEMO_BUCKET, DEMO_REGION, key, command("pause", PIC_DEFAULT_ID, reason="cos").encode())
    report = process_event(cos_event(key), runtime)
    assert report.source == "cos"
    assert [(r.ok, r.status) for r in report.results] == [(True, 200)], report.to_dict()
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"
    gets = [r for r in emu_admin.requests() if r["path"] == f"/{key}"]
    assert [(r["method"], r["host"], r["status"]) for r in gets] == [
        ("GET", f"{DEMO_BUCKET}.cos.{DEMO_REGION}.myqcloud.com", 200)
    ]


def test_cos_object_missing_or_not_json_is_final(runtime: Runtime, emulator: Any) -> None:
    report = process_event(cos_event("ciqueue/commands/gone.json"), runtime)
    assert summary(report)[0][1:] == (False, 400, "Records[0].cos.cosObject.key")
    assert report.results[0].error is not None and "NoSuchKey" in report.results[0].error["message"]

    key = "ciqueue/commands/broken.json"
    emulator.cos.put(DEMO_BUCKET, DEMO_REGION, key, b'{"action": "pause", "queues": ')
    report = process_event(cos_event(key), runtime)
    assert summary(report)[0][1:] == (False, 400, "Records[0].cos.cosObject")
    assert report.retry is False


@pytest.mark.parametrize(
    "key",
    [
        "ciqueue/commands/../state.json",
        "ciqueue/commands/./pause.json",
        "ciqueue/commands/%2e%2e/%2E%2e/ciqueue/state.json",
        "ciqueue/commands/a/%2e/pause.json",
        "ciqueue/commands//pause.json",
    ],
)
def test_a_command_key_with_dot_segments_is_refused_before_any_fetch(
    runtime: Runtime, emulator: Any, emu_admin: EmuAdmin, key: str
) -> None:
    emulator.cos.put(
        DEMO_BUCKET, DEMO_REGION, "ciqueue/state.json", command("pause", PIC_DEFAULT_ID).encode()
    )
    emu_admin.clear_requests()

    report = process_event(cos_event(key), runtime)

    assert summary(report)[0][1:] == (False, 400, "Records[0].cos.cosObject.key")
    assert report.results[0].error is not None
    assert report.results[0].error["message"] == (
        "Records[0].cos.cosObject.key: must be a relative object key without empty, '.' or '..' parts"
        f" (got {key!r})"
    )
    assert emu_admin.requests() == []
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Active"


def test_malformed_event_is_reported_not_raised(runtime: Runtime) -> None:
    report = process_event({"hello": "world"}, runtime)
    assert summary(report) == [("event", False, 400, "event")]
    assert report.retry is False
    report = process_event(json.loads((EVENTS / "cls_not_gzip.json").read_text()), runtime)
    assert report.source == "cls" and report.results[0].status == 400


def test_transient_failure_raises_for_redelivery_and_redelivery_finishes(
    runtime: Runtime, emu_admin: EmuAdmin
) -> None:
    module = load_function("automation")
    module._RUNTIME = runtime
    event = cmq_event(command("pause", PIC_DEFAULT_ID), command("resume", PIC_PAUSED_ID))
    emu_admin.faults(next={"count": 1, "status": 503, "code": "SlowDown"})  # the first record's read
    with pytest.raises(RetryDelivery) as caught:
        module.main_handler(event, {"request_id": "r-1", "time_limit_in_ms": 60000})
    report = caught.value.report
    assert [(r.record_id, r.ok, r.status, r.retryable) for r in report.results] == [
        ("cmq:m-0", False, 502, True),
        ("cmq:m-1", True, 200, False),
    ]
    assert report.results[0].error is not None and report.results[0].error["code"] == "SlowDown"
    assert "1 of 2 record(s) failed transiently (first: cmq:m-0)" in str(caught.value)
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Active"
    assert emu_admin.queue(PIC_PAUSED_ID)["State"] == "Active"

    emu_admin.clear_requests()
    result = module.main_handler(event, {"request_id": "r-2"})
    assert (result["ok"], result["retry"], result["failed"]) == (True, False, 0)
    assert emu_admin.put_paths() == [f"/picqueue/{PIC_DEFAULT_ID}"]  # the resumed queue is not written again


def test_handler_returns_normally_for_bad_input(runtime: Runtime, emu_admin: EmuAdmin) -> None:
    module = load_function("automation")
    module._RUNTIME = runtime
    result = module.main_handler(cmq_event("{nope", command("pause", "bad id!")), {})
    assert (result["ok"], result["retry"], result["failed"]) == (False, False, 2)
    assert [r["error"]["field"] for r in result["results"]] == [
        "Records[0].CMQ.msgBody",
        "Records[1].CMQ.msgBody.queues[0].queue_id",
    ]
    assert emu_admin.put_paths() == []


def test_the_automation_log_line_leaves_out_the_url_query(
    night_runtime: Callable[[datetime], Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    # The automation function's log line used to carry the callback URL's query string.
    automation = load_function("automation")
    automation._RUNTIME = night_runtime(NOON_UTC)
    callback = {"type": "Url", "url": SECRET_CALLBACK_URL, "event": "TaskFinish"}
    body = json.dumps({"action": "set_callback", "queues": [pic_ref(PIC_CALLBACK_ID)], "callback": callback})
    event = {"Records": [{"CMQ": {"msgId": "m-1", "msgBody": body}}]}

    with caplog.at_level("INFO", logger="ciqueue.automation"):
        summary = automation.main_handler(event, {"request_id": "r-1", "time_limit_in_ms": 30000})

    assert summary["ok"], summary
    logged = [r.getMessage() for r in caplog.records if r.name == "ciqueue.automation"]
    assert logged and "hooks.example.com/ci?token=***" in logged[0]
    assert "s3cr3t" not in "\n".join(logged)

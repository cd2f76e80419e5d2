"""Simulated jobs and callback delivery in the emulator (emulator/jobs.py), over its admin API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import xmltodict
from ciqueue.dev.rehearsal import CallbackSink
from ciqueue.emulator.server import EmulatorServer
from conftest import EmuAdmin

BUCKET, REGION = "jobs-1250000000", "ap-guangzhou"
Q1 = "p" + "1" * 32
Q2 = "p" + "2" * 32


@pytest.fixture(scope="module")
def local_emulator() -> Iterator[EmulatorServer]:
    """An emulator in local mode (private callback targets allowed)."""
    with EmulatorServer(allow_private_callbacks=True) as server:
        yield server


@pytest.fixture
def local_admin(local_emulator: EmulatorServer) -> EmuAdmin:
    admin = EmuAdmin(local_emulator.endpoint)
    admin.reset()
    local_emulator.jobs.redirects.clear()
    return admin


@pytest.fixture
def sinks() -> Iterator[tuple[CallbackSink, CallbackSink]]:
    with CallbackSink("primary") as primary, CallbackSink("standby") as standby:
        yield primary, standby


def notify(url: str, fmt: str = "JSON", event: str = "TaskFinish", state: str = "On") -> dict[str, str]:
    return {"State": state, "Type": "Url", "Url": url, "Event": event, "ResultFormat": fmt}


def seed(admin: EmuAdmin, *queues: dict[str, Any]) -> None:
    admin.seed([{"bucket": BUCKET, "region": REGION, "kinds": ["pic"], "queues": list(queues)}])


def enqueue(admin: EmuAdmin, queue_id: str, count: int) -> list[str]:
    body = {"bucket": BUCKET, "region": REGION, "kind": "pic", "queue_id": queue_id, "count": count}
    ids: list[str] = admin.call("POST", "jobs", body)["job_ids"]
    return ids


def counts(admin: EmuAdmin, queue_id: str) -> dict[str, int]:
    result: dict[str, int] = admin.call("GET", "jobs")["counts"][queue_id]
    return result


def tick(admin: EmuAdmin) -> dict[str, Any]:
    result: dict[str, Any] = admin.call("POST", "jobs/tick")
    return result


def test_an_active_queue_runs_at_most_max_concurrent_jobs_per_tick(local_admin: EmuAdmin) -> None:
    seed(local_admin, {"kind": "pic", "queue_id": Q1, "name": "q1", "max_concurrent": 2})
    ids = enqueue(local_admin, Q1, 5)
    assert len(ids) == 5 and all(i.startswith("j") and len(i) == 33 for i in ids)
    assert counts(local_admin, Q1) == {"Submitted": 5, "Running": 0, "Success": 0}

    steps = [(tick(local_admin), counts(local_admin, Q1)) for _ in range(4)]

    assert [(r["started"], r["finished"]) for r, _ in steps] == [(2, 0), (2, 2), (1, 2), (0, 1)]
    assert [c for _, c in steps] == [
        {"Submitted": 3, "Running": 2, "Success": 0},
        {"Submitted": 1, "Running": 2, "Success": 2},
        {"Submitted": 0, "Running": 1, "Success": 4},
        {"Submitted": 0, "Running": 0, "Success": 5},
    ]
    jobs = local_admin.call("GET", "jobs", None)["jobs"]
    assert [j["job_id"] for j in jobs] == ids  # submission order is processing order
    assert [j["object"] for j in jobs] == [f"input/job-{n:04d}" for n in range(1, 6)]


def test_a_paused_queue_holds_its_jobs_until_resumed(local_admin: EmuAdmin) -> None:
    seed(local_admin, {"kind": "pic", "queue_id": Q1, "name": "q1", "state": "Paused"})
    enqueue(local_admin, Q1, 3)
    for _ in range(3):
        assert tick(local_admin) == {"started": 0, "finished": 0, "deliveries": []}
    assert counts(local_admin, Q1) == {"Submitted": 3, "Running": 0, "Success": 0}

    local_admin.patch(BUCKET, "pic", Q1, {"State": "Active"})
    assert tick(local_admin)["started"] == 3


def test_pausing_does_not_abort_running_jobs(local_admin: EmuAdmin) -> None:
    seed(local_admin, {"kind": "pic", "queue_id": Q1, "name": "q1", "max_concurrent": 1})
    enqueue(local_admin, Q1, 2)
    tick(local_admin)
    local_admin.patch(BUCKET, "pic", Q1, {"State": "Paused"})
    assert tick(local_admin)["finished"] == 1
    assert counts(local_admin, Q1) == {"Submitted": 1, "Running": 0, "Success": 1}


def test_a_finished_job_calls_back_with_a_json_result(
    local_admin: EmuAdmin, sinks: tuple[CallbackSink, CallbackSink]
) -> None:
    primary, _ = sinks
    seed(
        local_admin,
        {
            "kind": "pic",
            "queue_id": Q1,
            "name": "q1",
            "notify_config": notify(f"{primary.base_url}/ci/cb?k=v"),
        },
    )
    [job_id] = enqueue(local_admin, Q1, 1)
    tick(local_admin)
    assert primary.count == 0  # started, not finished
    report = tick(local_admin)

    [(path, headers, body)] = primary.received
    assert path == "/ci/cb?k=v"
    assert headers["content-type"] == "application/json"
    doc = json.loads(body)
    assert doc["EventName"] == "TaskFinish"
    detail = doc["JobsDetail"]
    assert (detail["JobId"], detail["State"], detail["Code"], detail["QueueId"]) == (
        job_id,
        "Success",
        "Success",
        Q1,
    )
    assert detail["Input"] == {"BucketId": BUCKET, "Region": REGION, "Object": "input/job-0001"}
    assert detail["EndTime"] and detail["StartTime"] and detail["CreationTime"]
    [delivery] = report["deliveries"]
    assert delivery["status"] == "delivered" and delivery["http_status"] == 200
    assert (
        delivery["target"] == f"{primary.base_url}/ci/cb?k=***"
    )  # query values (maybe a token) are not logged
    assert local_admin.call("GET", "callbacks") == [delivery]


def test_xml_result_format_sends_an_xml_document(
    local_admin: EmuAdmin, sinks: tuple[CallbackSink, CallbackSink]
) -> None:
    primary, _ = sinks
    seed(
        local_admin,
        {
            "kind": "pic",
            "queue_id": Q1,
            "name": "q1",
            "notify_config": notify(primary.base_url + "/x", "XML"),
        },
    )
    [job_id] = enqueue(local_admin, Q1, 1)
    tick(local_admin)
    tick(local_admin)
    [(_, headers, body)] = primary.received
    assert headers["content-type"] == "application/xml"
    doc = xmltodict.parse(body)["Response"]
    assert doc["EventName"] == "TaskFinish"
    assert doc["JobsDetail"]["JobId"] == job_id and doc["JobsDetail"]["State"] == "Success"


def test_the_callback_in_place_when_a_job_finishes_is_the_one_used(
    local_admin: EmuAdmin, sinks: tuple[CallbackSink, CallbackSink]
) -> None:
    primary, standby = sinks
    local_admin.call(
        "POST",
        "callbacks/config",
        {"redirects": {"primary.example.com": primary.base_url, "standby.example.com": standby.base_url}},
    )
    seed(
        local_admin,
        {
            "kind": "pic",
            "queue_id": Q1,
            "name": "q1",
            "max_concurrent": 2,
            "notify_config": notify("https://primary.example.com/cb"),
        },
    )
    enqueue(local_admin, Q1, 4)
    tick(local_admin)
    tick(local_admin)  # jobs 1-2 finish -> primary
    local_admin.patch(BUCKET, "pic", Q1, {"NotifyConfig": notify("https://standby.example.com/cb")})
    tick(local_admin)  # jobs 3-4 finish -> standby

    assert (primary.count, standby.count) == (2, 2)
    assert [p for p, _, _ in standby.received] == ["/cb", "/cb"]
    shown = [(d["target"], d["delivered_to"]) for d in local_admin.call("GET", "callbacks")]
    assert (
        shown
        == [("https://primary.example.com/cb", primary.base_url)] * 2
        + [("https://standby.example.com/cb", standby.base_url)] * 2
    )


def test_no_callback_when_off_or_not_for_task_finish(
    local_admin: EmuAdmin, sinks: tuple[CallbackSink, CallbackSink]
) -> None:
    primary, _ = sinks
    seed(
        local_admin,
        {
            "kind": "pic",
            "queue_id": Q1,
            "name": "off",
            "notify_config": notify(primary.base_url, state="Off"),
        },
        {
            "kind": "pic",
            "queue_id": Q2,
            "name": "wf",
            "notify_config": notify(primary.base_url, event="WorkflowFinish"),
        },
    )
    enqueue(local_admin, Q1, 1)
    enqueue(local_admin, Q2, 1)
    tick(local_admin)
    assert tick(local_admin)["finished"] == 2
    assert primary.count == 0 and local_admin.call("GET", "callbacks") == []


def test_private_targets_are_refused_without_local_mode(
    emulator: EmulatorServer, emu_admin: EmuAdmin, sinks: tuple[CallbackSink, CallbackSink]
) -> None:
    primary, _ = sinks
    assert emulator.jobs.allow_private_callbacks is False
    seed(emu_admin, {"kind": "pic", "queue_id": Q1, "name": "q1"})
    # Set behind the API's back (the PUT path would refuse it already), as a stale config could be.
    emu_admin.patch(BUCKET, "pic", Q1, {"NotifyConfig": notify(primary.base_url + "/cb")})
    enqueue(emu_admin, Q1, 1)
    tick(emu_admin)
    [delivery] = tick(emu_admin)["deliveries"]

    assert primary.count == 0
    assert delivery["status"] == "refused"
    assert (
        delivery["error"] == "NotifyConfig.Url: must not be a private-network address (127.0.0.1 is loopback)"
    )
    assert emu_admin.call("GET", "callbacks") == [delivery]


def test_public_targets_are_not_contacted_unless_external_delivery_is_on(
    emulator: EmulatorServer, emu_admin: EmuAdmin
) -> None:
    seed(
        emu_admin,
        {"kind": "pic", "queue_id": Q1, "name": "q1", "notify_config": notify("https://cb.example.com/ci")},
    )
    enqueue(emu_admin, Q1, 1)
    tick(emu_admin)
    [delivery] = tick(emu_admin)["deliveries"]
    assert (delivery["status"], delivery["http_status"]) == ("skipped", None)
    assert delivery["error"].startswith("external delivery is off")


def test_tdmq_callbacks_go_to_the_tdmq_log(local_admin: EmuAdmin) -> None:
    tdmq = {
        "State": "On",
        "Type": "TDMQ",
        "MqMode": "Topic",
        "MqRegion": "gz",
        "MqName": "ci-events",
        "Event": "TaskFinish,WorkflowFinish",
    }
    seed(local_admin, {"kind": "pic", "queue_id": Q1, "name": "q1", "notify_config": tdmq})
    [job_id] = enqueue(local_admin, Q1, 1)
    tick(local_admin)
    tick(local_admin)
    [message] = local_admin.call("GET", "tdmq")
    assert (message["mq_mode"], message["mq_region"], message["mq_name"]) == ("Topic", "gz", "ci-events")
    assert message["message"]["JobsDetail"]["JobId"] == job_id
    [delivery] = local_admin.call("GET", "callbacks")
    assert (delivery["type"], delivery["target"], delivery["status"]) == (
        "TDMQ",
        "Topic/gz/ci-events",
        "delivered",
    )


def test_bad_job_requests_name_the_field(local_admin: EmuAdmin) -> None:
    seed(local_admin, {"kind": "pic", "queue_id": Q1, "name": "q1"})
    base = {"bucket": BUCKET, "region": REGION, "kind": "pic", "queue_id": Q1}
    cases = [
        ({**base, "count": 0}, "count: must be an integer from 1 to 1000"),
        ({**base, "queue_id": Q2}, f"queue_id: no pic queue {Q2} in {BUCKET} ({REGION})"),
        ({**base, "kind": "media"}, "kind: MediaBucketUnBinded"),
        ({**base, "colour": "red"}, "colour: is not a job field"),
    ]
    for body, message in cases:
        error = local_admin.call("POST", "jobs", body, expect=400)["error"]
        assert error.startswith(message), error
    assert local_admin.call("GET", "jobs")["jobs"] == []
    error = local_admin.call(
        "POST", "callbacks/config", {"redirects": {"a.example.com": "ftp://x"}}, expect=400
    )
    assert error["error"] == "redirects.a.example.com: must be a base URL such as http://127.0.0.1:8081"


def test_reset_forgets_jobs_and_deliveries(local_admin: EmuAdmin) -> None:
    seed(
        local_admin,
        {"kind": "pic", "queue_id": Q1, "name": "q1", "notify_config": notify("https://x.example.com")},
    )
    enqueue(local_admin, Q1, 2)
    tick(local_admin)
    tick(local_admin)
    assert len(local_admin.call("GET", "callbacks")) == 2
    local_admin.reset()
    assert local_admin.call("GET", "jobs") == {"jobs": [], "counts": {}}
    assert local_admin.call("GET", "callbacks") == []

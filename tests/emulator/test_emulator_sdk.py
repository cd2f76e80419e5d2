"""The unchanged official Python SDK (cos-python-sdk-v5) against the emulator: an independent client
that signs, sends and parses the CI queue APIs its own way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ciqueue.constants import DEMO_SECRET_ID
from ciqueue.emulator.server import EmulatorServer
from conftest import (
    DEMO_BUCKET,
    DEMO_HOST,
    DEMO_NOTIFY,
    MEDIA_ID,
    PIC_CALLBACK_ID,
    PIC_DEFAULT_ID,
    PIC_PAUSED_ID,
    DemoBucket,
    EmuAdmin,
)
from qcloud_cos.cos_exception import CosServiceError

FRESH_BUCKET = "fresh-1250000000"


def service_error(call: Callable[[], Any]) -> CosServiceError:
    with pytest.raises(CosServiceError) as caught:
        call()
    error = caught.value
    # The SDK reads Code, Message, Resource and RequestId only when all are present and non-empty.
    assert error.get_request_id() and error.get_trace_id() != "Unknown"
    assert error.get_resource_location()
    return error


def test_sdk_activates_pic_and_finds_the_default_queue(
    make_sdk_client: Callable[..., Any], emu_admin: EmuAdmin
) -> None:
    client = make_sdk_client(bucket=FRESH_BUCKET)
    unbound = service_error(lambda: client.ci_get_media_pic_queue(Bucket=FRESH_BUCKET))
    assert (unbound.get_status_code(), unbound.get_error_code()) == (400, "PicBucketUnBinded")

    headers, data = client.ci_open_pic_bucket(Bucket=FRESH_BUCKET)
    assert headers["x-ci-request-id"] == data["RequestId"]
    assert data["PicBucket"]["Name"] == FRESH_BUCKET
    assert data["PicBucket"]["Region"] == "ap-guangzhou"

    listed = client.ci_get_media_pic_queue(Bucket=FRESH_BUCKET)
    assert listed["TotalCount"] == "1"
    (queue,) = listed["QueueList"]
    assert queue["Category"] == "PicProcessing"
    assert queue["State"] == "Active"
    assert [q["QueueId"] for q in emu_admin.state()["buckets"][0]["queues"]] == [queue["QueueId"]]


def test_sdk_activates_asr_and_ai(make_sdk_client: Callable[..., Any]) -> None:
    client = make_sdk_client(bucket=FRESH_BUCKET)
    client.ci_open_asr_bucket(Bucket=FRESH_BUCKET)
    client.ci_open_ai_bucket(Bucket=FRESH_BUCKET)
    assert client.ci_get_asr_queue(Bucket=FRESH_BUCKET)["QueueList"][0]["Category"] == "Transcoding"
    assert client.ci_get_ai_queue(Bucket=FRESH_BUCKET)["QueueList"][0]["Category"] == "AIProcess"


def test_sdk_lists_pic_queues_with_its_default_params(
    sdk_client: Any, demo_bucket: DemoBucket, emu_admin: EmuAdmin
) -> None:
    listed = sdk_client.ci_get_media_pic_queue(Bucket=DEMO_BUCKET)
    assert (listed["TotalCount"], listed["PageNumber"], listed["PageSize"]) == ("3", "1", "10")
    assert [q["QueueId"] for q in listed["QueueList"]] == [PIC_DEFAULT_ID, PIC_CALLBACK_ID, PIC_PAUSED_ID]
    assert listed["QueueList"][1]["NotifyConfig"]["Url"] == DEMO_NOTIFY["Url"]
    (logged,) = emu_admin.requests()
    assert logged["query"] == {"queueIds": "", "state": "All", "pageNumber": "", "pageSize": ""}
    assert logged["host"] == DEMO_HOST

    paused = sdk_client.ci_get_media_pic_queue(Bucket=DEMO_BUCKET, State="Paused", PageSize="5")
    assert [q["QueueId"] for q in paused["QueueList"]] == [PIC_PAUSED_ID]

    missing = "p" + "a" * 32
    searched = sdk_client.ci_get_media_pic_queue(Bucket=DEMO_BUCKET, QueueIds=f"{PIC_DEFAULT_ID},{missing}")
    assert [q["QueueId"] for q in searched["QueueList"]] == [PIC_DEFAULT_ID]
    assert searched["NonExistPIDs"] == missing
    assert "TotalCount" not in searched


def test_sdk_updates_a_pic_queue(sdk_client: Any, demo_bucket: DemoBucket, emu_admin: EmuAdmin) -> None:
    request = {
        "Name": "paused-by-sdk",
        "State": "Paused",
        "NotifyConfig": {
            "State": "On",
            "Type": "Url",
            "Url": "https://sdk.example.com/cb",
            "Event": "TaskFinish",
        },
        "SomeNewElement": "v",
    }
    result = sdk_client.ci_update_media_pic_queue(
        Bucket=DEMO_BUCKET, QueueId=PIC_CALLBACK_ID, Request=request
    )
    (queue,) = result["Queue"]
    assert (queue["QueueId"], queue["Name"], queue["State"]) == (PIC_CALLBACK_ID, "paused-by-sdk", "Paused")
    assert queue["NotifyConfig"]["Url"] == "https://sdk.example.com/cb"
    stored = emu_admin.queue(PIC_CALLBACK_ID)
    assert (stored["Name"], stored["State"], stored["SomeNewElement"]) == ("paused-by-sdk", "Paused", "v")
    assert stored["NotifyConfig"] == {
        "Url": "https://sdk.example.com/cb",
        "Event": "TaskFinish",
        "Type": "Url",
        "State": "On",
    }


def test_sdk_media_queue_read_and_update(
    sdk_client: Any, demo_bucket: DemoBucket, emu_admin: EmuAdmin
) -> None:
    listed = sdk_client.ci_get_media_queue(Bucket=DEMO_BUCKET)
    assert [q["QueueId"] for q in listed["QueueList"]] == [MEDIA_ID]
    request = {"Name": "media-1", "State": "Paused", "NotifyConfig": dict(DEMO_NOTIFY)}
    sdk_client.ci_update_media_queue(Bucket=DEMO_BUCKET, QueueId=MEDIA_ID, Request=request)
    assert emu_admin.queue(MEDIA_ID)["State"] == "Paused"


def test_sdk_sees_validation_errors_and_nothing_changes(
    sdk_client: Any, demo_bucket: DemoBucket, emu_admin: EmuAdmin
) -> None:
    before = emu_admin.queue(PIC_DEFAULT_ID)
    request = {"Name": "x", "State": "Running", "NotifyConfig": {"State": "Off"}}
    error = service_error(
        lambda: sdk_client.ci_update_media_pic_queue(
            Bucket=DEMO_BUCKET, QueueId=PIC_DEFAULT_ID, Request=request
        )
    )
    assert (error.get_status_code(), error.get_error_code()) == (400, "InvalidArgument")
    assert error.get_error_msg() == "State: must be Active or Paused (got 'Running')"
    assert emu_admin.queue(PIC_DEFAULT_ID) == before


def test_sdk_with_a_wrong_key_gets_signature_does_not_match(
    make_sdk_client: Callable[..., Any], demo_bucket: DemoBucket
) -> None:
    wrong = make_sdk_client(secret_key="not-the-demo-secret")
    error = service_error(lambda: wrong.ci_get_media_pic_queue(Bucket=DEMO_BUCKET))
    assert (error.get_status_code(), error.get_error_code()) == (403, "SignatureDoesNotMatch")
    stranger = make_sdk_client(secret_id="AKIDnobodyknowsthisone", secret_key="x")
    error = service_error(lambda: stranger.ci_get_media_pic_queue(Bucket=DEMO_BUCKET))
    assert (error.get_status_code(), error.get_error_code()) == (401, "SecretidNotExist")


def test_sdk_with_a_temporary_key_sends_its_token(
    make_sdk_client: Callable[..., Any], demo_bucket: DemoBucket, emu_admin: EmuAdmin
) -> None:
    emu_admin.seed(keys=[{"secret_id": "AKIDtempsdk000001", "secret_key": "temp-sdk", "token": "sdk-token"}])
    good = make_sdk_client(secret_id="AKIDtempsdk000001", secret_key="temp-sdk", token="sdk-token")
    assert good.ci_get_media_pic_queue(Bucket=DEMO_BUCKET)["TotalCount"] == "3"
    bad = make_sdk_client(secret_id="AKIDtempsdk000001", secret_key="temp-sdk", token="stale")
    error = service_error(lambda: bad.ci_get_media_pic_queue(Bucket=DEMO_BUCKET))
    assert (error.get_status_code(), error.get_error_code()) == (403, "InvalidAccessKeyId")


def test_sdk_sees_injected_throttling(sdk_client: Any, demo_bucket: DemoBucket, emu_admin: EmuAdmin) -> None:
    emu_admin.faults(next={"count": 1, "status": 503, "code": "SlowDown"})
    error = service_error(lambda: sdk_client.ci_get_media_queue(Bucket=DEMO_BUCKET))
    assert (error.get_status_code(), error.get_error_code()) == (503, "SlowDown")
    assert sdk_client.ci_get_media_queue(Bucket=DEMO_BUCKET)["QueueList"][0]["QueueId"] == MEDIA_ID


def test_demo_key_is_the_documented_one(emulator: EmulatorServer) -> None:
    assert DEMO_SECRET_ID in emulator.model.key_ids()

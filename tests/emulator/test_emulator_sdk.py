"""The unchanged official Python SDK (cos-python-sdk-v5) against the emulator: an independent client
that signs, sends and parses the CI queue APIs, activation, bucket listings and closing its own way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ciqueue.ci import models
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
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


def service_error(call: Callable[[], Any]) -> tuple[int, str, str]:
    """(HTTP status, Code, Message) of the CI error the SDK raised, read from the body it kept.

    CI's error document holds Code, Message, RequestId and TraceId, no Resource (that is COS's).
    The SDK (cos_exception.digest_xml) reads an error only when Code, Message, Resource and
    RequestId are all there, so against CI (and the emulator) it cannot read one: its code is
    'Unknown' and its digest 'Response Error Msg Is INVALID'. The status and the original body
    survive; ciqueue's reader (models.parse_error) takes the body.
    """
    with pytest.raises(CosServiceError) as caught:
        call()
    error = caught.value
    assert error.get_digest_msg() == "Response Error Msg Is INVALID"
    assert (error.get_error_code(), error.get_request_id(), error.get_resource_location()) == ("Unknown",) * 3
    body = models.parse_error(error.get_origin_msg())
    assert body.request_id and body.trace_id and body.resource is None
    return error.get_status_code(), body.code or "", body.message or ""


def test_sdk_activates_pic_and_finds_the_default_queue(
    make_sdk_client: Callable[..., Any], emu_admin: EmuAdmin
) -> None:
    client = make_sdk_client(bucket=FRESH_BUCKET)
    unbound = service_error(lambda: client.ci_get_media_pic_queue(Bucket=FRESH_BUCKET))
    assert unbound[:2] == (400, "PicBucketUnBinded")

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
    assert client.ci_get_asr_queue(Bucket=FRESH_BUCKET)["QueueList"][0]["Category"] == "Speeching"
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
    assert error == (400, "InvalidArgument", "State: must be Active or Paused (got 'Running')")
    assert emu_admin.queue(PIC_DEFAULT_ID) == before


def test_sdk_with_a_wrong_key_gets_signature_does_not_match(
    make_sdk_client: Callable[..., Any], demo_bucket: DemoBucket
) -> None:
    wrong = make_sdk_client(secret_key="not-the-demo-secret")
    assert service_error(lambda: wrong.ci_get_media_pic_queue(Bucket=DEMO_BUCKET))[:2] == (
        403,
        "SignatureDoesNotMatch",
    )
    stranger = make_sdk_client(secret_id="AKIDnobodyknowsthisone", secret_key="x")
    assert service_error(lambda: stranger.ci_get_media_pic_queue(Bucket=DEMO_BUCKET))[:2] == (
        401,
        "SecretidNotExist",
    )


def test_sdk_with_a_temporary_key_sends_its_token(
    make_sdk_client: Callable[..., Any], demo_bucket: DemoBucket, emu_admin: EmuAdmin
) -> None:
    emu_admin.seed(keys=[{"secret_id": "AKIDtempsdk000001", "secret_key": "temp-sdk", "token": "sdk-token"}])
    good = make_sdk_client(secret_id="AKIDtempsdk000001", secret_key="temp-sdk", token="sdk-token")
    assert good.ci_get_media_pic_queue(Bucket=DEMO_BUCKET)["TotalCount"] == "3"
    bad = make_sdk_client(secret_id="AKIDtempsdk000001", secret_key="temp-sdk", token="stale")
    assert service_error(lambda: bad.ci_get_media_pic_queue(Bucket=DEMO_BUCKET))[:2] == (
        403,
        "InvalidAccessKeyId",
    )


def test_sdk_sees_injected_throttling(sdk_client: Any, demo_bucket: DemoBucket, emu_admin: EmuAdmin) -> None:
    emu_admin.faults(next={"count": 1, "status": 503, "code": "SlowDown"})
    assert service_error(lambda: sdk_client.ci_get_media_queue(Bucket=DEMO_BUCKET))[:2] == (503, "SlowDown")
    assert sdk_client.ci_get_media_queue(Bucket=DEMO_BUCKET)["QueueList"][0]["QueueId"] == MEDIA_ID


def test_demo_key_is_the_documented_one(emulator: EmulatorServer) -> None:
    assert DEMO_SECRET_ID in emulator.model.key_ids()


# --- one unchanged SDK client for both hosts: the emulator as its HTTP proxy ---------------------
# Configured as the SDK's own tests configure it (Region and keys; no IP, Port or Domain), plus
# plain http and the emulator as proxy: bucket calls go to <bucket>.ci.<region>.myqcloud.com and
# bucket listings to ci.<region>.myqcloud.com, both through 127.0.0.1, signed for the real host.

SDK_BUCKET = "cos-python-v5-test-ci-1250000000"


@pytest.fixture
def proxied_sdk(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    from qcloud_cos import CosConfig, CosS3Client

    for name in ("NO_PROXY", "no_proxy"):  # a bypass would send the request to the real host
        monkeypatch.delenv(name, raising=False)
    config = CosConfig(
        Region="ap-guangzhou",
        SecretId=DEMO_SECRET_ID,
        SecretKey=DEMO_SECRET_KEY,
        Scheme="http",
        Proxies={"http": emulator.endpoint},
    )
    return CosS3Client(config, retry=0)


def test_sdk_lists_activated_buckets_of_every_kind(proxied_sdk: Any, emu_admin: EmuAdmin) -> None:
    emu_admin.seed(
        [
            {
                "bucket": SDK_BUCKET,
                "region": "ap-guangzhou",
                "kinds": ["pic", "media", "doc", "asr", "ai", "file"],
            },
            {"bucket": "other-1250000000", "region": "ap-beijing", "kinds": ["pic"]},
        ]
    )
    pic = proxied_sdk.ci_get_pic_bucket()
    assert (pic["TotalCount"], pic["PageNumber"], pic["PageSize"]) == ("2", "1", "10")
    assert [(b["BucketId"], b["Region"]) for b in pic["PicBucketList"]] == [
        (SDK_BUCKET, "ap-guangzhou"),
        ("other-1250000000", "ap-beijing"),
    ]
    media = proxied_sdk.ci_get_media_bucket(
        Regions="ap-guangzhou", BucketNames=SDK_BUCKET, BucketName=SDK_BUCKET, PageNumber="1", PageSize="2"
    )
    assert [b["Name"] for b in media["MediaBucketList"]] == [SDK_BUCKET]
    doc = proxied_sdk.ci_get_doc_bucket(
        Regions="ap-guangzhou", BucketNames=SDK_BUCKET, PageSize=1, PageNumber=1
    )
    assert [b["BucketId"] for b in doc["DocBucketList"]] == [SDK_BUCKET]
    asr = proxied_sdk.ci_get_asr_bucket(BucketName="cos-python", PageSize="1")
    assert asr["TotalCount"] == "1" and asr["AsrBucketList"][0]["BucketId"] == SDK_BUCKET
    # The SDK makes a list of one element only for pic and media (format_dict); ai stays a dict.
    ai = proxied_sdk.ci_get_ai_bucket(BucketName=SDK_BUCKET, PageSize="1")
    assert ai["AiBucketList"]["BucketId"] == SDK_BUCKET
    files = proxied_sdk.ci_get_bucket(Path="/file_bucket", Regions="ap-beijing")
    assert files["TotalCount"] == "0" and "FileBucketList" not in files
    hosts = {r["host"] for r in emu_admin.requests()}
    assert hosts == {"ci.ap-guangzhou.myqcloud.com"}


def test_sdk_pages_a_bucket_listing(proxied_sdk: Any, emu_admin: EmuAdmin) -> None:
    emu_admin.seed(
        [{"bucket": f"b{n}-1250000000", "region": "ap-guangzhou", "kinds": ["pic"]} for n in range(5)]
    )
    pages = [proxied_sdk.ci_get_pic_bucket(PageNumber=str(n), PageSize="2") for n in (1, 2, 3)]
    assert [[b["BucketId"] for b in p["PicBucketList"]] for p in pages] == [
        ["b0-1250000000", "b1-1250000000"],
        ["b2-1250000000", "b3-1250000000"],
        ["b4-1250000000"],
    ]
    assert {p["TotalCount"] for p in pages} == {"5"}
    error = service_error(lambda: proxied_sdk.ci_get_pic_bucket(PageSize="101"))
    assert error[:2] == (400, "InvalidArgument")


@pytest.mark.parametrize("kind", ["pic", "asr", "ai"])
def test_sdk_closes_and_reopens_a_kind(proxied_sdk: Any, emu_admin: EmuAdmin, kind: str) -> None:
    open_call = getattr(proxied_sdk, f"ci_open_{kind}_bucket")
    close_call = getattr(proxied_sdk, f"ci_close_{kind}_bucket")
    element = {"pic": "PicBucket", "asr": "AsrBucket", "ai": "AiBucket"}[kind]
    _, opened = open_call(Bucket=SDK_BUCKET)
    assert opened[element]["Name"] == SDK_BUCKET
    first = [q["QueueId"] for q in emu_admin.state()["buckets"][0]["queues"]]
    headers, closed = close_call(Bucket=SDK_BUCKET)
    assert closed == {"RequestId": headers["x-ci-request-id"], "BucketName": SDK_BUCKET}
    assert emu_admin.state()["buckets"][0] == {
        "bucket": SDK_BUCKET,
        "region": "ap-guangzhou",
        "kinds": [],
        "queues": [],
    }
    listed = getattr(proxied_sdk, f"ci_get_{kind}_bucket")(BucketName=SDK_BUCKET, PageSize="1")
    assert listed["TotalCount"] == "0"
    # Asked for JSON, as the SDK's own test does: the answer stays XML, which the SDK reads too.
    _, reopened = open_call(Bucket=SDK_BUCKET, Accept="application/json")
    assert reopened[element]["Name"] == SDK_BUCKET
    assert [q["QueueId"] for q in emu_admin.state()["buckets"][0]["queues"]] != first
    _, closed_again = close_call(Bucket=SDK_BUCKET, Accept="application/json")
    assert closed_again["BucketName"] == SDK_BUCKET
    error = service_error(lambda: close_call(Bucket=SDK_BUCKET))
    assert error[:2] == (400, f"{element}UnBinded")


def test_sdk_reads_and_updates_every_kind_of_queue(proxied_sdk: Any, emu_admin: EmuAdmin) -> None:
    """get/update for pic, media, doc, asr and ai (the SDK has no file-queue methods), with the
    bodies the SDK's own tests send (QueueID included, ContentType application/xml)."""
    emu_admin.seed(
        [
            {
                "bucket": SDK_BUCKET,
                "region": "ap-guangzhou",
                "kinds": ["media", "doc"],
                "queues": [{"kind": "media", "name": "m"}, {"kind": "doc", "name": "d"}],
            }
        ]
    )
    proxied_sdk.ci_open_pic_bucket(Bucket=SDK_BUCKET)
    proxied_sdk.ci_open_asr_bucket(Bucket=SDK_BUCKET)
    proxied_sdk.ci_open_ai_bucket(Bucket=SDK_BUCKET)
    calls = {
        "pic": (proxied_sdk.ci_get_media_pic_queue, proxied_sdk.ci_update_media_pic_queue),
        "media": (proxied_sdk.ci_get_media_queue, proxied_sdk.ci_update_media_queue),
        "doc": (proxied_sdk.ci_get_doc_queue, proxied_sdk.ci_update_doc_queue),
        "asr": (proxied_sdk.ci_get_asr_queue, proxied_sdk.ci_update_asr_queue),
        "ai": (proxied_sdk.ci_get_ai_queue, proxied_sdk.ci_update_ai_queue),
    }
    for kind, (get, update) in calls.items():
        (queue,) = get(Bucket=SDK_BUCKET, State="Active")["QueueList"]
        body = {
            "Name": f"{kind}-queue",
            "QueueID": queue["QueueId"],
            "State": "Paused",
            "NotifyConfig": {
                "Type": "Url",
                "Url": "http://www.demo.com",
                "Event": "TaskFinish",
                "State": "On",
                # as the SDK's own queue tests send it, to every kind (doc included)
                "ResultFormat": "JSON",
            },
        }
        result = update(
            Bucket=SDK_BUCKET, QueueId=queue["QueueId"], Request=body, ContentType="application/xml"
        )
        assert result["Queue"][0]["QueueId"] == queue["QueueId"], kind
        stored = emu_admin.queue(queue["QueueId"])
        assert (stored["kind"], stored["Name"], stored["State"]) == (kind, f"{kind}-queue", "Paused")
        assert stored["NotifyConfig"]["Url"] == "http://www.demo.com"
        assert get(Bucket=SDK_BUCKET, State="Active").get("QueueList") in (None, [])

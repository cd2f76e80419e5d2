"""The CI emulator over raw HTTP: signatures, routing, describe/update/activate, faults, admin API."""

from __future__ import annotations

import base64
import re
import time
from typing import Any

import pytest
import requests
import xmltodict
from ciqueue.ci import models
from ciqueue.ci.credentials import Credentials
from ciqueue.ci.identifiers import QUEUE_ID_RULE
from ciqueue.ci.kinds import KIND_SPECS
from ciqueue.ci.signing import authorize
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.emulator.faults import RequestLog
from ciqueue.emulator.models import EmulatorModel, time_text
from ciqueue.emulator.server import EmulatorServer
from conftest import (
    DEMO_BUCKET,
    DEMO_HOST,
    DEMO_NOTIFY,
    MEDIA_ID,
    MEDIA_SPEED_ID,
    PIC_CALLBACK_ID,
    PIC_DEFAULT_ID,
    PIC_PAUSED_ID,
    DemoBucket,
    EmuAdmin,
    demo_seed,
)

DEMO = Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY)
QUEUE_ID = re.compile(r"^p[0-9a-f]{32}$")


def ci(
    emu: EmulatorServer,
    method: str,
    path: str,
    params: dict[str, str] | None = None,
    body: bytes | None = None,
    *,
    host: str = DEMO_HOST,
    creds: Credentials = DEMO,
    now: float | None = None,
    headers: dict[str, str] | None = None,
    sign: bool = True,
) -> requests.Response:
    """A CI request signed with ``ciqueue.ci.signing.authorize`` (host, content-* and x-ci-* headers)."""
    sent = {"Host": host}
    if body is not None:
        sent.update({"Content-Type": "application/xml", "Content-Length": str(len(body))})
    sent.update(headers or {})
    if sign:
        sent["Authorization"] = authorize(
            creds, method, path, params or {}, sent, time.time() if now is None else now
        )
    return requests.request(method, emu.endpoint + path, params=params, data=body, headers=sent, timeout=10)


def xml(response: requests.Response) -> dict[str, Any]:
    doc: dict[str, Any] = xmltodict.parse(response.content, force_list=("QueueList", "NonExistPIDs"))
    return doc


def error_of(response: requests.Response) -> tuple[int, str, str]:
    """(status, Code, Message), after checking the error envelope every CI error carries."""
    body = xml(response)["Error"]
    assert list(body) == ["Code", "Message", "RequestId", "TraceId"]  # CI's error document (ERR-CI)
    assert body["RequestId"] == response.headers["x-ci-request-id"]
    assert body["TraceId"] == response.headers["x-ci-trace-id"]
    assert response.headers["Content-Type"] == "application/xml"
    assert response.headers["Server"] == "tencent-ci"
    return response.status_code, body["Code"], body["Message"]


def update_body(
    name: str = "renamed",
    state: str = "Paused",
    notify: dict[str, str] | None = None,
    extra: str = "",
) -> bytes:
    notify = {"State": "Off"} if notify is None else notify
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in notify.items())
    return (
        f"<Request><Name>{name}</Name><State>{state}</State><NotifyConfig>{inner}</NotifyConfig>{extra}</Request>"
    ).encode()


# --- headers, request ids ------------------------------------------------------------------------


def test_success_carries_ci_headers_and_a_request_id_shaped_like_ci(
    emulator: EmulatorServer, demo_bucket: DemoBucket
) -> None:
    before = int(time.time())
    response = ci(emulator, "GET", "/picqueue")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/xml"
    assert response.headers["Server"] == "tencent-ci"
    request_id = response.headers["x-ci-request-id"]
    assert xml(response)["Response"]["RequestId"] == request_id
    assert "x-ci-trace-id" not in response.headers
    decoded = base64.b64decode(request_id + "=" * (-len(request_id) % 4)).decode()
    match = re.fullmatch(r"([0-9a-f]+)_([0-9a-f]+)_([0-9a-f]+)_([0-9]+)", decoded)
    assert match is not None, decoded
    assert before - 1 <= int(match[1], 16) <= int(time.time()) + 1
    second = ci(emulator, "GET", "/picqueue").headers["x-ci-request-id"]
    assert second != request_id


# --- authentication ------------------------------------------------------------------------------


def test_missing_authorization(emulator: EmulatorServer, demo_bucket: DemoBucket) -> None:
    status, code, _ = error_of(ci(emulator, "GET", "/picqueue", sign=False))
    assert (status, code) == (401, "MissingAuthorization")


def test_unparsable_authorization_names_the_bad_part(
    emulator: EmulatorServer, demo_bucket: DemoBucket
) -> None:
    response = ci(
        emulator, "GET", "/picqueue", sign=False, headers={"Authorization": "q-sign-algorithm=sha1"}
    )
    status, code, message = error_of(response)
    assert (status, code) == (401, "InvalidAuthorization")
    assert message == "Authorization is malformed: q-ak is missing"


def test_unknown_secret_id(emulator: EmulatorServer, demo_bucket: DemoBucket) -> None:
    stranger = Credentials("AKIDunknownunknownunknown", "whatever")
    status, code, message = error_of(ci(emulator, "GET", "/picqueue", creds=stranger))
    assert (status, code) == (401, "SecretidNotExist")
    assert "whatever" not in message and "AKIDunknownunknownunknown" not in message


def test_wrong_secret_key(emulator: EmulatorServer, demo_bucket: DemoBucket) -> None:
    wrong = Credentials(DEMO_SECRET_ID, "not-the-demo-key")
    assert error_of(ci(emulator, "GET", "/picqueue", creds=wrong))[:2] == (403, "SignatureDoesNotMatch")


def test_a_param_changed_after_signing_breaks_the_signature(
    emulator: EmulatorServer, demo_bucket: DemoBucket
) -> None:
    headers = {"Host": DEMO_HOST}
    headers["Authorization"] = authorize(DEMO, "GET", "/picqueue", {"state": "Active"}, headers, time.time())
    response = requests.get(
        emulator.endpoint + "/picqueue", params={"state": "Paused"}, headers=headers, timeout=10
    )
    assert error_of(response)[:2] == (403, "SignatureDoesNotMatch")


def test_expired_and_skewed_signatures(emulator: EmulatorServer, demo_bucket: DemoBucket) -> None:
    # authorize signs [now-60, now+600]: 700 s ago it has ended, 1000 s ahead it starts too late.
    expired = ci(emulator, "GET", "/picqueue", now=time.time() - 700)
    assert error_of(expired)[:2] == (401, "SignatureExpired")
    skewed = ci(emulator, "GET", "/picqueue", now=time.time() + 1000)
    assert error_of(skewed)[:2] == (403, "RequestTimeTooSkewed")
    assert ci(emulator, "GET", "/picqueue", now=time.time() + 800).status_code == 200


def test_injected_clock_judges_signature_time() -> None:
    t0 = 1_700_000_000.0
    clock = {"now": t0}
    with EmulatorServer(clock=lambda: clock["now"]) as emu:
        EmuAdmin(emu.endpoint).seed(demo_seed())
        assert ci(emu, "GET", "/picqueue", now=t0).status_code == 200
        clock["now"] = t0 + 600  # the last second of [t0-60, t0+600]
        assert ci(emu, "GET", "/picqueue", now=t0).status_code == 200
        clock["now"] = t0 + 601
        assert error_of(ci(emu, "GET", "/picqueue", now=t0))[:2] == (401, "SignatureExpired")
        clock["now"] = t0 - 961  # start t0-60 is now 901 s in the future
        assert error_of(ci(emu, "GET", "/picqueue", now=t0))[:2] == (403, "RequestTimeTooSkewed")
        clock["now"] = t0 - 960
        assert ci(emu, "GET", "/picqueue", now=t0).status_code == 200


def test_temporary_key_needs_its_token_in_either_header(
    emulator: EmulatorServer, emu_admin: EmuAdmin, demo_bucket: DemoBucket
) -> None:
    emu_admin.seed(keys=[{"secret_id": "AKIDtempkey0001", "secret_key": "temp-secret", "token": "tok-123"}])
    temp = Credentials("AKIDtempkey0001", "temp-secret")
    no_token = ci(emulator, "GET", "/picqueue", creds=temp)
    assert error_of(no_token)[:2] == (403, "InvalidAccessKeyId")
    wrong = ci(emulator, "GET", "/picqueue", creds=temp, headers={"x-ci-security-token": "tok-999"})
    status, code, message = error_of(wrong)
    assert (status, code) == (403, "InvalidAccessKeyId")
    assert "tok-" not in message
    for header in ("x-ci-security-token", "x-cos-security-token"):
        ok = ci(emulator, "GET", "/picqueue", creds=temp, headers={header: "tok-123"})
        assert ok.status_code == 200, ok.text


def test_signature_in_query_parameters(emulator: EmulatorServer, demo_bucket: DemoBucket) -> None:
    params = {"state": "Paused"}
    auth = authorize(DEMO, "GET", "/picqueue", params, {"host": DEMO_HOST}, time.time())
    query = dict(part.split("=", 1) for part in auth.split("&"))
    response = requests.get(
        emulator.endpoint + "/picqueue", params={**params, **query}, headers={"Host": DEMO_HOST}, timeout=10
    )
    assert response.status_code == 200, response.text
    assert xml(response)["Response"]["TotalCount"] == "1"


def test_keys_from_the_environment_are_accepted() -> None:
    env = {"TENCENTCLOUD_SECRETID": "AKIDfromenv0000001", "TENCENTCLOUD_SECRETKEY": "env-secret"}
    model = EmulatorModel(env=env)
    assert "AKIDfromenv0000001" in model.key_ids()
    assert repr(model._keys["AKIDfromenv0000001"]).count("env-secret") == 0


# --- routing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "demo-1250000000.cos.ap-guangzhou.myqcloud.com",
        "demo.ci.ap-guangzhou.myqcloud.com",
        "ci.ap-guangzhou.myqcloud.com",
        "demo-1250000000.ci.ap-guangzhou.myqcloud.com.evil.com",
    ],
)
def test_unknown_host_is_invalid_host(emulator: EmulatorServer, demo_bucket: DemoBucket, host: str) -> None:
    assert error_of(ci(emulator, "GET", "/picqueue", host=host))[:2] == (400, "InvalidHost")


def test_ci_errors_are_ci_documents_and_cos_errors_cos_documents(
    emulator: EmulatorServer, demo_bucket: DemoBucket
) -> None:
    ci_answer = ci(emulator, "GET", "/nothing")
    ci_body = xml(ci_answer)["Error"]
    assert list(ci_body) == ["Code", "Message", "RequestId", "TraceId"]  # no Resource: that is COS's
    cos_host = "demo-1250000000.cos.ap-guangzhou.myqcloud.com"
    cos_answer = ci(emulator, "GET", "/ciqueue/state.json", host=cos_host)
    cos_body = xml(cos_answer)["Error"]
    assert cos_answer.status_code == 404
    assert list(cos_body) == ["Code", "Message", "Resource", "RequestId", "TraceId"]
    assert (cos_body["Code"], cos_body["Resource"]) == ("NoSuchKey", cos_host + "/ciqueue/state.json")
    assert cos_body["RequestId"] == cos_answer.headers["x-cos-request-id"]
    # ciqueue's reader takes both.
    assert models.parse_error(ci_answer.content).code == "NoSuchResource"
    assert models.parse_error(ci_answer.content).resource is None
    assert models.parse_error(cos_answer.content).resource == cos_host + "/ciqueue/state.json"


def test_kind_not_activated_is_kind_bucket_unbinded(
    emulator: EmulatorServer, demo_bucket: DemoBucket
) -> None:
    expected = {
        "/docqueue": "DocBucketUnBinded",
        "/asrqueue": "AsrBucketUnBinded",
        "/ai_queue": "AiBucketUnBinded",
        "/file_queue": "FileBucketUnBinded",
    }
    for path, code in expected.items():
        assert error_of(ci(emulator, "GET", path))[:2] == (400, code)
    other_region = "demo-1250000000.ci.ap-beijing.myqcloud.com"
    assert error_of(ci(emulator, "GET", "/picqueue", host=other_region))[:2] == (400, "PicBucketUnBinded")
    body = update_body()
    put = ci(emulator, "PUT", f"/docqueue/{PIC_DEFAULT_ID}", body=body)
    assert error_of(put)[:2] == (400, "DocBucketUnBinded")


def test_unknown_paths_and_methods(emulator: EmulatorServer, demo_bucket: DemoBucket) -> None:
    assert error_of(ci(emulator, "GET", "/nothing"))[:2] == (404, "NoSuchResource")
    assert error_of(ci(emulator, "DELETE", "/picqueue"))[:2] == (405, "MethodNotAllowed")
    assert error_of(ci(emulator, "PUT", "/picbucket"))[:2] == (405, "MethodNotAllowed")


# --- describe --------------------------------------------------------------------------------------


def ids_of(response: requests.Response) -> list[str]:
    return [q["QueueId"] for q in xml(response)["Response"].get("QueueList", [])]


def test_list_pages_and_total_count(emulator: EmulatorServer, demo_bucket: DemoBucket) -> None:
    first = ci(emulator, "GET", "/picqueue")
    body = xml(first)["Response"]
    assert (body["TotalCount"], body["PageNumber"], body["PageSize"]) == ("3", "1", "10")
    assert ids_of(first) == [PIC_DEFAULT_ID, PIC_CALLBACK_ID, PIC_PAUSED_ID]
    assert "NonExistPIDs" not in body
    callback = body["QueueList"][1]
    assert callback["NotifyConfig"] == {
        "Url": "https://cb.example.com/ci",
        "Event": "TaskFinish",
        "Type": "Url",
        "State": "On",
        "ResultFormat": "JSON",
    }
    assert callback["SomeNewElement"] == "v"
    assert (callback["MaxSize"], callback["MaxConcurrent"], callback["Category"]) == (
        "10000",
        "10",
        "PicProcessing",
    )

    page2 = ci(emulator, "GET", "/picqueue", {"pageNumber": "2", "pageSize": "2"})
    assert ids_of(page2) == [PIC_PAUSED_ID]
    assert xml(page2)["Response"]["TotalCount"] == "3"
    beyond = ci(emulator, "GET", "/picqueue", {"pageNumber": "9", "pageSize": "2"})
    assert ids_of(beyond) == [] and xml(beyond)["Response"]["TotalCount"] == "3"


def test_state_filter_including_the_sdk_defaults(emulator: EmulatorServer, demo_bucket: DemoBucket) -> None:
    paused = ci(emulator, "GET", "/picqueue", {"state": "Paused"})
    assert ids_of(paused) == [PIC_PAUSED_ID] and xml(paused)["Response"]["TotalCount"] == "1"
    active = ci(emulator, "GET", "/picqueue", {"state": "Active"})
    assert ids_of(active) == [PIC_DEFAULT_ID, PIC_CALLBACK_ID]
    sdk_style = ci(
        emulator, "GET", "/picqueue", {"queueIds": "", "state": "All", "pageNumber": "", "pageSize": ""}
    )
    assert ids_of(sdk_style) == [PIC_DEFAULT_ID, PIC_CALLBACK_ID, PIC_PAUSED_ID]
    assert xml(sdk_style)["Response"]["PageSize"] == "10"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"state": "Running"}, "state: must be Active, Paused or All (got 'Running')"),
        ({"pageSize": "0"}, "pageSize: must be an integer from 1 to 100 (got '0')"),
        ({"pageSize": "101"}, "pageSize: must be an integer from 1 to 100 (got '101')"),
        ({"pageSize": "ten"}, "pageSize: must be an integer from 1 to 100 (got 'ten')"),
        ({"pageNumber": "0"}, "pageNumber: must be an integer of 1 or more (got '0')"),
        ({"pageNumber": "-1"}, "pageNumber: must be an integer of 1 or more (got '-1')"),
        (
            {"queueIds": ",".join(f"p{i:032x}" for i in range(11))},
            "queueIds: must name at most 10 queues (got 11)",
        ),
    ],
)
def test_bad_describe_params_are_invalid_argument(
    emulator: EmulatorServer, demo_bucket: DemoBucket, params: dict[str, str], message: str
) -> None:
    assert error_of(ci(emulator, "GET", "/picqueue", params)) == (400, "InvalidArgument", message)


def test_media_category(emulator: EmulatorServer, demo_bucket: DemoBucket) -> None:
    assert ids_of(ci(emulator, "GET", "/queue")) == [MEDIA_ID]
    assert ids_of(ci(emulator, "GET", "/queue", {"category": "CateAll"})) == [MEDIA_ID, MEDIA_SPEED_ID]
    assert ids_of(ci(emulator, "GET", "/queue", {"category": "SpeedTranscoding"})) == [MEDIA_SPEED_ID]
    status, code, message = error_of(ci(emulator, "GET", "/queue", {"category": "Fast"}))
    assert (status, code) == (400, "InvalidArgument")
    assert message == "category: must be one of CateAll, Transcoding, SpeedTranscoding (got 'Fast')"


def test_queue_ids_answer_with_non_exist_pids_in_both_shapes(
    emulator: EmulatorServer, emu_admin: EmuAdmin, demo_bucket: DemoBucket
) -> None:
    missing = "p" + "f" * 32
    params = {"queueIds": f"{PIC_CALLBACK_ID},{missing},notaqueue"}
    response = ci(emulator, "GET", "/picqueue", params)
    body = xml(response)["Response"]
    assert ids_of(response) == [PIC_CALLBACK_ID]
    assert body["NonExistPIDs"] == [missing, "notaqueue"]
    assert not {"TotalCount", "PageNumber", "PageSize"} & set(body)
    assert f"<NonExistPIDs>{missing}</NonExistPIDs><NonExistPIDs>notaqueue</NonExistPIDs>" in response.text

    emu_admin.config(non_exist_pids="nested")
    nested = ci(emulator, "GET", "/picqueue", params)
    assert (
        f"<NonExistPIDs><QueueID>{missing}</QueueID><QueueID>notaqueue</QueueID></NonExistPIDs>"
        in nested.text
    )
    assert models.parse_describe(nested.content).non_exist_pids == [missing, "notaqueue"]
    emu_admin.call("POST", "config", {"non_exist_pids": "flat"}, expect=400)


# --- update ----------------------------------------------------------------------------------------


def test_update_happy_path_stores_everything_and_returns_the_full_queue() -> None:
    clock = {"now": 1_660_033_391.0}  # 2022-08-09T16:23:11+0800
    with EmulatorServer(clock=lambda: clock["now"]) as emu:
        admin = EmuAdmin(emu.endpoint)
        admin.seed(demo_seed())
        created = admin.queue(PIC_CALLBACK_ID)["CreateTime"]
        clock["now"] += 60
        notify = {
            "State": "On",
            "Type": "Url",
            "Url": "https://new.example.com/hook",
            "Event": "TaskFinish,WorkflowFinish",
            "ResultFormat": "XML",
            "KafkaConfig": "<Region>gz</Region>",
        }
        body = update_body("pic-renamed", "Paused", notify, "<SomeNewElement>v2</SomeNewElement>")
        response = ci(emu, "PUT", f"/picqueue/{PIC_CALLBACK_ID}", body=body, now=clock["now"])
        assert response.status_code == 200, response.text
        doc = xmltodict.parse(response.content)["Response"]
        assert doc["RequestId"] == response.headers["x-ci-request-id"]
        queue = doc["Queue"]
        assert queue["QueueId"] == PIC_CALLBACK_ID
        assert (queue["Name"], queue["State"]) == ("pic-renamed", "Paused")
        assert queue["NotifyConfig"]["Url"] == "https://new.example.com/hook"
        assert queue["NotifyConfig"]["KafkaConfig"] == {"Region": "gz"}
        assert queue["SomeNewElement"] == "v2"
        assert queue["UpdateTime"] == "2022-08-09T16:24:11+0800"
        assert queue["CreateTime"] == created
        assert (queue["MaxSize"], queue["MaxConcurrent"], queue["Category"]) == (
            "10000",
            "10",
            "PicProcessing",
        )
        stored = admin.queue(PIC_CALLBACK_ID)
        assert stored["Name"] == "pic-renamed" and stored["State"] == "Paused"
        assert stored["NotifyConfig"]["Event"] == "TaskFinish,WorkflowFinish"
        assert stored["SomeNewElement"] == "v2"
        assert stored["UpdateTime"] == "2022-08-09T16:24:11+0800"


def test_update_without_an_extra_drops_it(
    emulator: EmulatorServer, emu_admin: EmuAdmin, demo_bucket: DemoBucket
) -> None:
    # An update replaces the whole config: a client that forgets an extra element loses it.
    response = ci(emulator, "PUT", f"/picqueue/{PIC_CALLBACK_ID}", body=update_body())
    assert response.status_code == 200
    assert "SomeNewElement" not in emu_admin.queue(PIC_CALLBACK_ID)


def test_time_text_is_china_time() -> None:
    assert time_text(1_660_033_391) == "2022-08-09T16:23:11+0800"


BAD_UPDATES = [
    (b"", 400, "MissingContent", "the request body is empty; a <Request> was expected"),
    (b"<Request><Name>x</Name>", 400, "MalformedXML", "Request: must be well-formed XML"),
    (b"<Other><Name>x</Name></Other>", 400, "MalformedXML", "Request: must have the root element <Request>"),
    (
        b'<!DOCTYPE r [<!ENTITY e "x">]><Request><Name>&e;</Name></Request>',
        400,
        "MalformedXML",
        "Request: must not contain a DOCTYPE",
    ),
    (update_body(name=""), 400, "InvalidArgument", "Name: is required"),
    (update_body(name="bad name!"), 400, "InvalidArgument", "Name: may contain only"),
    (update_body(name="n" * 129), 400, "InvalidArgument", "Name: must be at most 128 characters (got 129)"),
    (update_body(state="Running"), 400, "InvalidArgument", "State: must be Active or Paused (got 'Running')"),
    (
        b"<Request><Name>x</Name><State>Active</State></Request>",
        400,
        "InvalidArgument",
        "NotifyConfig: is required",
    ),
    (
        update_body(notify={"State": "On", "Url": "https://cb.example.com", "Event": "TaskFinish"}),
        400,
        "InvalidArgument",
        "NotifyConfig.Type: is required when NotifyConfig.State is On",
    ),
    (
        update_body(
            notify={"State": "On", "Type": "Url", "Url": "http://10.1.2.3/cb", "Event": "TaskFinish"}
        ),
        400,
        "InvalidArgument",
        "NotifyConfig.Url: must not be a private-network address",
    ),
    (
        update_body(notify={"State": "On", "Type": "Url", "Url": "http://127.1/cb", "Event": "TaskFinish"}),
        400,
        "InvalidArgument",
        "NotifyConfig.Url: must not be a private-network address",
    ),
    (
        update_body(notify={"State": "On", "Type": "Url", "Url": "https://cb.example.com", "Event": "Done"}),
        400,
        "InvalidArgument",
        "NotifyConfig.Event: must list only TaskFinish and WorkflowFinish",
    ),
    (
        update_body(extra="<MaxSize>5</MaxSize>"),
        400,
        "InvalidArgument",
        "MaxSize: is read-only and must not be sent in an update",
    ),
    (
        update_body(extra="<QueueID>p00000000000000000000000000000000</QueueID>"),
        400,
        "InvalidArgument",
        f"QueueID: must equal the queue id in the path ({PIC_CALLBACK_ID})",
    ),
]


@pytest.mark.parametrize(("body", "status", "code", "message"), BAD_UPDATES)
def test_every_rejected_update_leaves_the_queue_unchanged(
    emulator: EmulatorServer,
    emu_admin: EmuAdmin,
    demo_bucket: DemoBucket,
    body: bytes,
    status: int,
    code: str,
    message: str,
) -> None:
    before = emu_admin.queue(PIC_CALLBACK_ID)
    got_status, got_code, got_message = error_of(
        ci(emulator, "PUT", f"/picqueue/{PIC_CALLBACK_ID}", body=body)
    )
    assert (got_status, got_code) == (status, code)
    assert got_message.startswith(message), got_message
    assert emu_admin.queue(PIC_CALLBACK_ID) == before


def test_update_of_unknown_queue_is_queue_not_found(
    emulator: EmulatorServer, demo_bucket: DemoBucket
) -> None:
    response = ci(emulator, "PUT", "/picqueue/p" + "0" * 32, body=update_body())
    assert error_of(response) == (404, "QueueNotFound", f"queue p{'0' * 32} does not exist")


def test_doc_queues_need_a_matching_queue_id(emulator: EmulatorServer, emu_admin: EmuAdmin) -> None:
    doc_id = "p" + "d0c" * 10 + "00"
    emu_admin.seed(
        [
            {
                "bucket": DEMO_BUCKET,
                "region": "ap-guangzhou",
                "kinds": ["doc"],
                "queues": [{"kind": "doc", "queue_id": doc_id}],
            }
        ]
    )
    without = ci(emulator, "PUT", f"/docqueue/{doc_id}", body=update_body())
    assert error_of(without) == (400, "InvalidArgument", "QueueID: is required for doc queues")
    with_id = ci(
        emulator, "PUT", f"/docqueue/{doc_id}", body=update_body(extra=f"<QueueID>{doc_id}</QueueID>")
    )
    assert with_id.status_code == 200, with_id.text
    assert emu_admin.queue(doc_id)["Name"] == "renamed"


@pytest.mark.parametrize(
    ("name", "notify", "message"),
    [
        (
            "doc-1",
            {"State": "On", "Type": "TDMQ", "Event": "TaskFinish", "MqMode": "Queue", "MqRegion": "gz"},
            "NotifyConfig.Type: doc queues take only Url (got 'TDMQ')",
        ),
        (
            "doc-1",
            {"State": "On", "Type": "Url", "Url": "https://hooks.example.com/d", "ResultFormat": "JSON"},
            "NotifyConfig.Event: is required when NotifyConfig.State is On (TaskFinish, WorkflowFinish)",
        ),
        ("d" * 101, {"State": "Off"}, "Name: must be at most 100 characters for doc queues (got 101)"),
    ],
    ids=["tdmq", "no-event", "name-101"],
)
def test_doc_queue_rules_are_the_kinds_and_nothing_changes(
    emulator: EmulatorServer, emu_admin: EmuAdmin, name: str, notify: dict[str, str], message: str
) -> None:
    doc_id = "p" + "d0c" * 10 + "00"
    seed = {"bucket": DEMO_BUCKET, "region": "ap-guangzhou", "kinds": ["doc"]}
    emu_admin.seed([{**seed, "queues": [{"kind": "doc", "queue_id": doc_id}]}])
    before = emu_admin.queue(doc_id)
    body = update_body(name=name, notify=notify, extra=f"<QueueID>{doc_id}</QueueID>")
    assert error_of(ci(emulator, "PUT", f"/docqueue/{doc_id}", body=body)) == (
        400,
        "InvalidArgument",
        message,
    )
    assert emu_admin.queue(doc_id) == before


def test_a_doc_queue_takes_a_result_format_and_keeps_none(
    emulator: EmulatorServer, emu_admin: EmuAdmin
) -> None:
    # The official SDK's own test_ci_put_doc_queue sends ResultFormat to a doc queue of the real
    # service and passes there; the doc page documents none and its replies show none. So CI, as
    # the emulator plays it, takes one and keeps none. (ciqueue itself never asks for one: the
    # kinds table refuses it at every door.)
    doc_id = "p" + "d0c" * 10 + "01"
    seed = {"bucket": DEMO_BUCKET, "region": "ap-guangzhou", "kinds": ["doc"]}
    emu_admin.seed([{**seed, "queues": [{"kind": "doc", "queue_id": doc_id}]}])
    notify = {"State": "On", "Type": "Url", "Url": "https://hooks.example.com/d", "Event": "TaskFinish"}
    body = update_body(
        name="doc-1", notify={**notify, "ResultFormat": "JSON"}, extra=f"<QueueID>{doc_id}</QueueID>"
    )
    response = ci(emulator, "PUT", f"/docqueue/{doc_id}", body=body)
    assert response.status_code == 200, response.text
    assert "<ResultFormat>JSON" not in response.text
    assert emu_admin.queue(doc_id)["NotifyConfig"] == notify


def test_legacy_notify_config_written_back_unchanged_is_accepted(
    emulator: EmulatorServer, emu_admin: EmuAdmin
) -> None:
    legacy = {"State": "On", "Type": "Url", "Url": "https://cb.example.com", "Event": "TransCodingFinish"}
    emu_admin.seed(
        [
            {
                "bucket": DEMO_BUCKET,
                "region": "ap-guangzhou",
                "kinds": ["media"],
                "queues": [{"kind": "media", "queue_id": MEDIA_ID, "name": "m", "notify_config": legacy}],
            }
        ]
    )
    same = ci(emulator, "PUT", f"/queue/{MEDIA_ID}", body=update_body(name="m", notify=legacy))
    assert same.status_code == 200, same.text
    changed = dict(legacy, Url="https://other.example.com")
    status, code, message = error_of(
        ci(emulator, "PUT", f"/queue/{MEDIA_ID}", body=update_body(notify=changed))
    )
    assert (status, code) == (400, "InvalidArgument") and message.startswith("NotifyConfig.Event:")


def test_private_callbacks_allowed_when_the_server_says_so() -> None:
    with EmulatorServer(allow_private_callbacks=True) as emu:
        EmuAdmin(emu.endpoint).seed(demo_seed())
        notify = {"State": "On", "Type": "Url", "Url": "http://127.0.0.1:8080/cb", "Event": "TaskFinish"}
        response = ci(emu, "PUT", f"/picqueue/{PIC_DEFAULT_ID}", body=update_body(notify=notify))
        assert response.status_code == 200, response.text


# --- activation ------------------------------------------------------------------------------------


def test_activation_creates_a_default_queue_for_each_kind(
    emulator: EmulatorServer, emu_admin: EmuAdmin
) -> None:
    for spec in KIND_SPECS.values():
        assert error_of(ci(emulator, "GET", spec.queue_path))[1] == f"{spec.bucket_element}UnBinded"
        response = ci(emulator, "POST", spec.activation_path)
        assert response.status_code == 200, response.text
        doc = xmltodict.parse(response.content)["Response"]
        assert doc["RequestId"] == response.headers["x-ci-request-id"]
        bucket = doc[spec.bucket_element]
        assert (bucket["BucketId"], bucket["Name"], bucket["Region"]) == (
            DEMO_BUCKET,
            DEMO_BUCKET,
            "ap-guangzhou",
        )
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0800", bucket["CreateTime"])
        listed = xml(ci(emulator, "GET", spec.queue_path, {"category": "CateAll"}))["Response"]
        assert listed["TotalCount"] == "1"
        queue = listed["QueueList"][0]
        assert QUEUE_ID.match(queue["QueueId"])
        assert (queue["State"], queue["Category"]) == ("Active", spec.category)
        # Activating again changes nothing.
        assert ci(emulator, "POST", spec.activation_path).status_code == 200
        again = xml(ci(emulator, "GET", spec.queue_path, {"category": "CateAll"}))["Response"]
        assert again["QueueList"][0]["QueueId"] == queue["QueueId"] and again["TotalCount"] == "1"
    state = emu_admin.state()["buckets"]
    assert [b["kinds"] for b in state] == [["pic", "media", "doc", "asr", "ai", "file"]]


# --- faults ----------------------------------------------------------------------------------------


def test_fault_next_n_answers_with_status_and_code(
    emulator: EmulatorServer, emu_admin: EmuAdmin, demo_bucket: DemoBucket
) -> None:
    emu_admin.faults(next={"count": 2, "status": 503, "code": "SlowDown"})
    first = ci(emulator, "GET", "/picqueue")
    assert error_of(first) == (503, "SlowDown", "injected fault")
    assert emu_admin.state()["buckets"]  # admin calls are never faulted
    assert error_of(ci(emulator, "GET", "/picqueue"))[:2] == (503, "SlowDown")
    assert ci(emulator, "GET", "/picqueue").status_code == 200


def test_fault_drop_next_closes_without_an_answer(
    emulator: EmulatorServer, emu_admin: EmuAdmin, demo_bucket: DemoBucket
) -> None:
    emu_admin.faults(drop_next=1)
    with pytest.raises(requests.ConnectionError):
        ci(emulator, "GET", "/picqueue")
    assert ci(emulator, "GET", "/picqueue").status_code == 200
    log = emu_admin.requests()
    assert [(e["status"], e["code"]) for e in log] == [(None, "DroppedConnection"), (200, None)]


def test_fault_error_rate_is_reproducible_with_a_seed(
    emulator: EmulatorServer, emu_admin: EmuAdmin, demo_bucket: DemoBucket
) -> None:
    def run() -> list[int]:
        emu_admin.faults(error_rate=0.5, error_status=500, error_code="InternalError", seed=7)
        return [ci(emulator, "GET", "/picqueue").status_code for _ in range(12)]

    first = run()
    assert set(first) == {200, 500}
    assert run() == first
    failed = next(e for e in emu_admin.requests() if e["status"] == 500)
    assert failed["code"] == "InternalError"


def test_fault_latency(emulator: EmulatorServer, emu_admin: EmuAdmin, demo_bucket: DemoBucket) -> None:
    emu_admin.faults(latency_ms=60)
    started = time.monotonic()
    assert ci(emulator, "GET", "/picqueue").status_code == 200
    assert time.monotonic() - started >= 0.06
    assert emu_admin.clear_faults()["latency_ms"] == 0


def test_fault_mutate_after_put_applies_once(
    emulator: EmulatorServer, emu_admin: EmuAdmin, demo_bucket: DemoBucket
) -> None:
    emu_admin.faults(mutate_after_put={"queue_id": PIC_DEFAULT_ID, "set": {"Name": "changed-by-someone"}})
    put = ci(emulator, "PUT", f"/picqueue/{PIC_DEFAULT_ID}", body=update_body(name="mine"))
    assert xmltodict.parse(put.content)["Response"]["Queue"]["Name"] == "mine"
    assert emu_admin.queue(PIC_DEFAULT_ID)["Name"] == "changed-by-someone"
    assert (
        ci(emulator, "PUT", f"/picqueue/{PIC_DEFAULT_ID}", body=update_body(name="mine")).status_code == 200
    )
    assert emu_admin.queue(PIC_DEFAULT_ID)["Name"] == "mine"


def test_fault_settings_are_validated(emulator: EmulatorServer, emu_admin: EmuAdmin) -> None:
    bad = emu_admin.call("POST", "faults", {"error_rate": 2}, expect=400)
    assert bad == {"error": "error_rate: must be a number from 0 to 1"}
    unknown = emu_admin.call("POST", "faults", {"latency": 5}, expect=400)
    assert unknown["error"].startswith("latency: is not a fault setting")
    read_only = {"queue_id": PIC_DEFAULT_ID, "set": {"MaxSize": "1"}}
    refused = emu_admin.call("POST", "faults", {"mutate_after_put": read_only}, expect=400)
    assert refused == {"error": "mutate_after_put.set.MaxSize: is read-only"}
    assert emu_admin.call("GET", "faults")["mutate_after_put"] is None


def test_an_emulator_bug_is_answered_as_internal_error(
    emulator: EmulatorServer, demo_bucket: DemoBucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(emulator.model, "queues", broken)
    response = ci(emulator, "GET", "/picqueue")
    assert error_of(response) == (500, "InternalError", "emulator failure (KeyError)")


# --- request log and admin -------------------------------------------------------------------------


def test_request_log_records_requests_without_authorization(
    emulator: EmulatorServer, emu_admin: EmuAdmin, demo_bucket: DemoBucket
) -> None:
    emu_admin.faults(latency_ms=50)
    started = time.time()
    ok = ci(emulator, "GET", "/picqueue", {"state": "Active"})
    emu_admin.clear_faults()
    ci(emulator, "GET", "/picqueue", sign=False)
    ended = time.time()
    log = emu_admin.requests()
    # Each entry says when it arrived (before the injected latency) and when it was handled.
    times = [(entry.pop("received_at"), entry.pop("answered_at")) for entry in log]
    assert (
        started <= times[0][0] and times[0][0] + 0.045 <= times[0][1] <= times[1][0] <= times[1][1] <= ended
    )
    assert log == [
        {
            "method": "GET",
            "path": "/picqueue",
            "query": {"state": "Active"},
            "host": DEMO_HOST,
            "status": 200,
            "code": None,
            "request_id": ok.headers["x-ci-request-id"],
        },
        {
            "method": "GET",
            "path": "/picqueue",
            "query": {},
            "host": DEMO_HOST,
            "status": 401,
            "code": "MissingAuthorization",
            "request_id": log[1]["request_id"],
        },
    ]
    assert "q-signature" not in str(log) and DEMO_SECRET_KEY not in str(log)
    emu_admin.clear_requests()
    assert emu_admin.requests() == []


def test_request_counts_cover_more_requests_than_the_log_keeps(
    emulator: EmulatorServer, emu_admin: EmuAdmin
) -> None:
    log = RequestLog(limit=2)
    for method in ("GET", "PUT", "GET"):
        log.add(method, "/picqueue", {}, DEMO_HOST, 200, None)
    assert len(log.entries()) == 2
    assert log.counts() == {"total": 3, "methods": {"GET": 2, "PUT": 1}}
    log.clear()
    assert log.counts() == {"total": 0, "methods": {}}
    # The admin endpoint answers the server's own counts, and DELETE requests resets them.
    ci(emulator, "GET", "/picqueue")
    ci(emulator, "GET", "/picqueue")
    assert emu_admin.call("GET", "requests/counts") == {"total": 2, "methods": {"GET": 2}}
    emu_admin.clear_requests()
    assert emu_admin.call("GET", "requests/counts") == {"total": 0, "methods": {}}


def test_request_log_never_keeps_a_token_sent_in_the_query(
    emulator: EmulatorServer, emu_admin: EmuAdmin
) -> None:
    # Session tokens sent as query parameters (as pre-signed URLs carry them) used to be logged.
    response = requests.get(
        f"{emulator.endpoint}/picqueue",
        params={"state": "Active", "x-cos-security-token": "TokenInQuery", "X-Ci-Security-Token": "T2"},
        headers={"Host": DEMO_HOST},
        timeout=5,
    )
    assert response.status_code == 401
    (entry,) = emu_admin.requests()
    assert entry["query"] == {"state": "Active"}


def test_patch_changes_a_queue_behind_the_clients_back(
    emulator: EmulatorServer, emu_admin: EmuAdmin, demo_bucket: DemoBucket
) -> None:
    patched = emu_admin.patch(DEMO_BUCKET, "pic", PIC_DEFAULT_ID, {"State": "Paused", "Extra1": "x"})
    assert (patched["State"], patched["Extra1"]) == ("Paused", "x")
    listed = xml(ci(emulator, "GET", "/picqueue", {"queueIds": PIC_DEFAULT_ID}))["Response"]["QueueList"][0]
    assert (listed["State"], listed["Extra1"]) == ("Paused", "x")
    emu_admin.patch(DEMO_BUCKET, "pic", PIC_DEFAULT_ID, {"NotifyConfig": DEMO_NOTIFY, "Extra1": None})
    stored = emu_admin.queue(PIC_DEFAULT_ID)
    assert stored["NotifyConfig"] == DEMO_NOTIFY and "Extra1" not in stored
    read_only = emu_admin.call(
        "PATCH", f"queues/{DEMO_BUCKET}/pic/{PIC_DEFAULT_ID}", {"MaxSize": 1}, expect=400
    )
    assert read_only == {"error": "MaxSize: is read-only"}
    emu_admin.call("PATCH", f"queues/{DEMO_BUCKET}/pic/p{'0' * 32}", {"State": "Paused"}, expect=404)
    emu_admin.call("PATCH", f"queues/{DEMO_BUCKET}/video/{PIC_DEFAULT_ID}", {"State": "Paused"}, expect=400)


def test_seed_is_validated_whole(emulator: EmulatorServer, emu_admin: EmuAdmin) -> None:
    body = {
        "buckets": [
            {
                "bucket": DEMO_BUCKET,
                "region": "ap-guangzhou",
                "kinds": ["pic"],
                "queues": [
                    {"kind": "media", "queue_id": MEDIA_ID},
                    {"kind": "pic", "queue_id": "q/123"},
                    {"kind": "pic", "extra": {"Name": "x"}},
                ],
            }
        ]
    }
    error = emu_admin.call("POST", "seed", body, expect=400)["error"]
    assert error == (
        "buckets[0].queues[0].kind: media must be listed in the bucket's kinds; "
        f"buckets[0].queues[1].queue_id: {QUEUE_ID_RULE} (got 'q/123'); "
        "buckets[0].queues[2].extra.Name: is a known element; set it by its own field"
    )
    assert emu_admin.state()["buckets"] == []


def test_reset_empties_state_but_keeps_keys(emulator: EmulatorServer, emu_admin: EmuAdmin) -> None:
    emu_admin.seed(demo_seed(), keys=[{"secret_id": "AKIDkeptkey00001", "secret_key": "kept"}])
    emu_admin.faults(latency_ms=5)
    emu_admin.reset()
    state = emu_admin.state()
    assert state["buckets"] == []
    assert "AKIDkeptkey00001" in state["keys"] and DEMO_SECRET_ID in state["keys"]
    assert emu_admin.call("GET", "faults")["latency_ms"] == 0
    emu_admin.seed(demo_seed())
    kept = Credentials("AKIDkeptkey00001", "kept")
    assert ci(emulator, "GET", "/picqueue", creds=kept).status_code == 200


def test_unknown_admin_action(emulator: EmulatorServer, emu_admin: EmuAdmin) -> None:
    assert emu_admin.call("GET", "nothing", expect=404) == {
        "error": "no admin action GET /_emulator/nothing",
        "code": "NotFound",
    }

"""CIClient over real HTTP against the emulator: paging, batching, errors, retries, deadlines, secrets."""

from __future__ import annotations

import http.client
import logging
import re
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import urllib3
from ciqueue import errors
from ciqueue.ci import models
from ciqueue.ci.client import CIClient, QueueListing, _service_error
from ciqueue.ci.credentials import Credentials
from ciqueue.ci.models import QueueUpdate
from ciqueue.ci.retry import Deadline, RetryPolicy
from ciqueue.ci.signing import parse_authorization
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.errors import (
    DeadlineExceeded,
    InvalidInput,
    QueueNotFound,
    ServiceError,
    TransportError,
)
from conftest import (
    DEMO_BUCKET,
    DEMO_HOST,
    DEMO_REGION,
    OTHER_BUCKET,
    PIC_CALLBACK_ID,
    PIC_DEFAULT_ID,
    PIC_PAUSED_ID,
    EmuAdmin,
    queue_id,
    seed_queues,
)

MakeClient = Callable[..., CIClient]

BIG_BUCKET = "big-1250000000"
BIG_HOST = f"{BIG_BUCKET}.ci.ap-guangzhou.myqcloud.com"
TEMP_ID = "AKIDtempTEMPtempTEMPtempTEMPtemp0001"
TEMP_KEY = "tempSecretKeyValueThatMustNeverLeak01"
TEMP_TOKEN = "tempSessionTokenValueThatMustNeverLeak"


def seed_big_bucket(emu_admin: EmuAdmin, count: int) -> list[str]:
    ids = [queue_id(1000 + n) for n in range(count)]
    emu_admin.seed(
        [
            {
                "bucket": BIG_BUCKET,
                "region": "ap-guangzhou",
                "kinds": ["pic"],
                "queues": [{"kind": "pic", "queue_id": i, "name": f"q{n}"} for n, i in enumerate(ids)],
            }
        ]
    )
    emu_admin.clear_requests()
    return ids


class Sleeps:
    """An injected sleep: records the delays, never waits."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class RecordingSession(requests.Session):
    """A real session that also remembers each request's timeout and prepared headers."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[Any] = []
        self.sent: list[requests.PreparedRequest] = []
        self.hooks["response"].append(self._remember)

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.sent.append(response.request)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.timeouts.append(kwargs.get("timeout"))
        return super().request(method, url, *args, **kwargs)


class CannedSession(requests.Session):
    """Answers every request with one canned response (CI without RequestId in the update body)."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        super().__init__()
        self.canned = (status, body, headers)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = requests.Response()
        response.status_code, response._content, headers = self.canned
        response.headers.update(headers)
        return response


# -- construction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "rule_part"),
    [
        ({"bucket": "demo"}, "bucket", "must be <name>-<appid>"),
        ({"bucket": "Demo-1250000000"}, "bucket", "lowercase letters"),
        ({"bucket": "-demo-1250000000"}, "bucket", "not at either end"),
        ({"bucket": "demo-12500x0000"}, "bucket", "numeric APPID"),
        ({"bucket": "demo-1250000000\n"}, "bucket", "must be <name>-<appid>"),
        ({"bucket": "a" * 40 + "-1250000000"}, "bucket", "at most 50 characters"),
        ({"region": "guangzhou"}, "region", "such as ap-guangzhou"),
        ({"region": "ap-guangzhou/../x"}, "region", "such as ap-guangzhou"),
        ({"endpoint": "ftp://127.0.0.1:9000"}, "endpoint", "http(s) URL"),
        ({"endpoint": "http://127.0.0.1:9000/prefix"}, "endpoint", "without path"),
        # Any query, fragment or userinfo, even empty: the path sent must be the path signed.
        ({"endpoint": "http://127.0.0.1:9000?"}, "endpoint", "without path, query, fragment or user"),
        ({"endpoint": "http://127.0.0.1:9000#"}, "endpoint", "without path, query, fragment or user"),
        ({"endpoint": "http://127.0.0.1:9000/?"}, "endpoint", "without path, query, fragment or user"),
        ({"endpoint": "http://127.0.0.1:9000/#x"}, "endpoint", "without path, query, fragment or user"),
        ({"endpoint": "http://127.0.0.1:9000?a=1"}, "endpoint", "without path, query, fragment or user"),
        ({"endpoint": "http://u:p@127.0.0.1:9000"}, "endpoint", "without path, query, fragment or user"),
        ({"endpoint": "http://@127.0.0.1:9000"}, "endpoint", "without path, query, fragment or user"),
        ({"endpoint": f"http://{'a' * 64}.example.com:9000"}, "endpoint", "labels of 1 to 63"),
        ({"endpoint": "http://a..example.com:9000"}, "endpoint", "labels of 1 to 63"),
        ({"region": "ap-" + "a" * 61}, "region", "at most 63 characters"),
        ({"timeout": 0}, "timeout", "positive"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, Any], field: str, rule_part: str) -> None:
    args: dict[str, Any] = {"bucket": "demo-1250000000", "region": "ap-guangzhou", **kwargs}
    with pytest.raises(InvalidInput) as caught:
        CIClient(credentials=Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY), **args)
    assert caught.value.field == field
    assert rule_part in caught.value.rule


def test_bucket_of_exactly_fifty_characters_is_accepted() -> None:
    bucket = "a" * 39 + "-1250000000"
    assert len(bucket) == 50
    client = CIClient(bucket, "ap-guangzhou", Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY))
    assert client.host == f"{bucket}.ci.ap-guangzhou.myqcloud.com"
    assert client.base_url == f"https://{bucket}.ci.ap-guangzhou.myqcloud.com"
    # One pooled keep-alive session, sized for ~16 concurrent requests, and no hidden adapter retries.
    adapter = client.session.get_adapter(client.base_url)
    assert isinstance(adapter, requests.adapters.HTTPAdapter)
    assert adapter.poolmanager.connection_pool_kw["maxsize"] == 16
    assert adapter.max_retries.total == 0


@pytest.mark.parametrize(
    ("endpoint", "rule"),
    [
        ("http://[::1", "must be an http(s) URL"),
        ("http://127.0.0.1:99999", "must have a port between 1 and 65535"),
        ("http://127.0.0.1:abc", "must have a port between 1 and 65535"),
        ("http://127.0.0.1:0", "must have a port between 1 and 65535"),
        ("http://exa mple.com", "must be an http(s) URL"),
    ],
)
def test_bad_endpoint_names_the_field(endpoint: str, rule: str) -> None:
    # These used to escape as ValueError / requests.InvalidURL, or retry a port-0 connection.
    with pytest.raises(InvalidInput) as caught:
        CIClient(DEMO_BUCKET, DEMO_REGION, Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY), endpoint)
    assert caught.value.field == "endpoint" and caught.value.rule.startswith(rule)


@pytest.mark.parametrize(
    ("credentials", "field"),
    [
        (Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY, "SessionTokenSecret\n"), "credentials.token"),
        (Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY, "SessionToken秘密"), "credentials.token"),
        (Credentials("AKID secret id", DEMO_SECRET_KEY), "credentials.secret_id"),
        (Credentials(DEMO_SECRET_ID, ""), "credentials.secret_key"),
    ],
)
def test_credentials_that_cannot_be_sent_are_refused_without_showing_them(
    credentials: Credentials, field: str
) -> None:
    # requests used to raise InvalidHeader quoting the header value, i.e. the session token.
    with pytest.raises(InvalidInput) as caught:
        CIClient(DEMO_BUCKET, DEMO_REGION, credentials)
    assert caught.value.field == field
    assert "Secret" not in str(caught.value) and "secret id" not in str(caught.value)


def test_credentials_default_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TENCENTCLOUD_SECRETID", raising=False)
    monkeypatch.delenv("TENCENTCLOUD_SECRETKEY", raising=False)
    with pytest.raises(InvalidInput, match="TENCENTCLOUD_SECRETID: must be set"):
        CIClient("demo-1250000000", "ap-guangzhou")
    monkeypatch.setenv("TENCENTCLOUD_SECRETID", DEMO_SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRETKEY", DEMO_SECRET_KEY)
    assert CIClient("demo-1250000000", "ap-guangzhou").credentials.secret_key == DEMO_SECRET_KEY


# -- listing --------------------------------------------------------------------------------


def test_list_walks_every_page(make_client: MakeClient, emu_admin: EmuAdmin) -> None:
    ids = seed_big_bucket(emu_admin, 25)
    listing = make_client(bucket=BIG_BUCKET).list_queues("pic", page_size=10)
    assert isinstance(listing, QueueListing)
    assert [q.queue_id for q in listing.queues] == ids
    assert listing.missing == []
    log = emu_admin.requests()
    assert [(e["method"], e["path"], e["query"]) for e in log] == [
        ("GET", "/picqueue", {"pageNumber": str(n), "pageSize": "10"}) for n in (1, 2, 3)
    ]
    assert listing.request_ids == [e["request_id"] for e in log]


def test_list_stops_when_total_count_is_read(make_client: MakeClient, emu_admin: EmuAdmin) -> None:
    ids = seed_big_bucket(emu_admin, 20)
    listing = make_client(bucket=BIG_BUCKET).list_queues("pic", page_size=10)
    assert [q.queue_id for q in listing.queues] == ids
    # Two full pages hold TotalCount=20 queues: no third, empty request.
    assert len(emu_admin.requests()) == 2


def test_list_keeps_reading_when_the_service_caps_page_size(
    make_client: MakeClient, emu_admin: EmuAdmin
) -> None:
    # A service that answers 7 per page while we ask for 10 must not end the walk at the first
    # "short" page: TotalCount says 25, so every queue is read.
    ids = seed_big_bucket(emu_admin, 25)
    emu_admin.config(page_size_cap=7)
    listing = make_client(bucket=BIG_BUCKET).list_queues("pic", page_size=10)
    assert [q.queue_id for q in listing.queues] == ids
    assert [e["query"]["pageNumber"] for e in emu_admin.requests()] == ["1", "2", "3", "4"]


def test_list_filters_by_state(make_client: MakeClient, demo_bucket: Any) -> None:
    listing = make_client().list_queues("pic", state="Paused")
    assert [q.queue_id for q in listing.queues] == [PIC_PAUSED_ID]
    with pytest.raises(InvalidInput, match=r"^state: must be one of Active, Paused"):
        make_client().list_queues("pic", state="All")


def test_queue_ids_go_in_batches_of_ten(make_client: MakeClient, emu_admin: EmuAdmin) -> None:
    existing = seed_big_bucket(emu_admin, 20)
    missing = [queue_id(n) for n in (1, 2, 3)]
    wanted = [*existing[:10], missing[0], *existing[10:], *missing[1:]]
    assert len(wanted) == 23
    listing = make_client(bucket=BIG_BUCKET).list_queues("pic", queue_ids=wanted)
    assert sorted(q.queue_id or "" for q in listing.queues) == sorted(existing)
    assert listing.missing == missing
    log = emu_admin.requests()
    batches = [e["query"]["queueIds"].split(",") for e in log]
    assert [len(b) for b in batches] == [10, 10, 3]
    assert [i for batch in batches for i in batch] == wanted
    assert len(listing.request_ids) == 3


def test_queue_ids_search_with_a_small_page_size_ends(make_client: MakeClient, emu_admin: EmuAdmin) -> None:
    # CI answers a queueIds search whole (no paging); the walk used to ask for page after page of
    # the same queues until MAX_PAGES (1000 requests).
    ids = [queue_id(100 + n) for n in range(6)]
    seed_queues(emu_admin, [{"kind": "pic", "queue_id": i} for i in ids])
    listing = make_client(bucket=OTHER_BUCKET).list_queues("pic", queue_ids=ids, page_size=5)
    assert [q.queue_id for q in listing.queues] == ids
    assert [e["query"]["pageNumber"] for e in emu_admin.requests()] == ["1", "2"]


def test_bad_queue_id_is_refused_before_any_request(make_client: MakeClient, emu_admin: EmuAdmin) -> None:
    with pytest.raises(InvalidInput, match=r"^queue_ids\[1\]: must be a queue id"):
        make_client().list_queues("pic", queue_ids=[PIC_DEFAULT_ID, "a,b"])
    with pytest.raises(InvalidInput, match=r"^queue_id: must be a queue id"):
        make_client().update_queue("pic", "../x", QueueUpdate(name="n", state="Active"))
    assert emu_admin.requests() == []


def test_get_queue(make_client: MakeClient, demo_bucket: Any, emu_admin: EmuAdmin) -> None:
    queue, request_id = make_client().get_queue("pic", PIC_CALLBACK_ID)
    assert queue.queue_id == PIC_CALLBACK_ID
    assert queue.name == "pic-callback"
    assert queue.notify_config is not None and queue.notify_config.url == "https://cb.example.com/ci"
    assert request_id == emu_admin.requests()[-1]["request_id"]


def test_get_queue_not_found(make_client: MakeClient, demo_bucket: Any, emu_admin: EmuAdmin) -> None:
    with pytest.raises(QueueNotFound) as caught:
        make_client().get_queue("pic", queue_id(7))
    request_id = emu_admin.requests()[-1]["request_id"]
    assert caught.value.queue_id == queue_id(7)
    assert caught.value.request_id == request_id
    assert str(caught.value) == f"QueueNotFound: queue {queue_id(7)} does not exist [RequestId: {request_id}]"


def test_get_queue_names_the_queue_id_field(make_client: MakeClient, emu_admin: EmuAdmin) -> None:
    with pytest.raises(InvalidInput, match=r"^queue_id: must be a queue id"):
        make_client().get_queue("pic", "no such/id")
    assert emu_admin.requests() == []


def test_update_round_trip(make_client: MakeClient, demo_bucket: Any, emu_admin: EmuAdmin) -> None:
    client = make_client()
    queue, _ = client.get_queue("pic", PIC_CALLBACK_ID)
    update = QueueUpdate.from_queue(queue).model_copy(update={"state": "Paused"})
    result = client.update_queue("pic", PIC_CALLBACK_ID, update)
    assert result.queue.state == "Paused"
    assert result.request_id == emu_admin.requests()[-1]["request_id"]
    stored = emu_admin.queue(PIC_CALLBACK_ID)
    assert stored["State"] == "Paused"
    assert stored["Name"] == "pic-callback"
    assert stored["SomeNewElement"] == "v"  # the extra element we read went back unchanged
    assert stored["NotifyConfig"]["Url"] == "https://cb.example.com/ci"
    assert client.get_queue("pic", PIC_CALLBACK_ID)[0].state == "Paused"


def test_update_result_takes_the_request_id_from_the_header() -> None:
    body = b"<Response><Queue><QueueId>%s</QueueId><State>Paused</State></Queue></Response>" % (
        PIC_DEFAULT_ID.encode()
    )
    session = CannedSession(200, body, {"x-ci-request-id": "rid-header"})
    client = CIClient(DEMO_BUCKET, DEMO_REGION, Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY), session=session)
    update = models.QueueUpdate(name="q", state="Paused", notify_config=models.notify_config_off())
    assert client.update_queue("pic", PIC_DEFAULT_ID, update).request_id == "rid-header"


def test_activate_creates_the_default_queue(
    make_client: MakeClient, emulator: Any, emu_admin: EmuAdmin
) -> None:
    emu_admin.seed([{"bucket": "demo-1250000000", "region": "ap-guangzhou", "kinds": []}])
    client = make_client()
    with pytest.raises(ServiceError) as caught:
        client.list_queues("pic")
    assert (caught.value.status, caught.value.code) == (400, "PicBucketUnBinded")
    request_id = client.activate("pic")
    assert request_id == emu_admin.requests()[-1]["request_id"]
    assert emu_admin.requests()[-1]["path"] == "/picbucket"
    assert len(client.list_queues("pic").queues) == 1


# -- endpoint override ----------------------------------------------------------------------


def test_endpoint_override_sends_and_signs_the_real_host(
    make_client: MakeClient, demo_bucket: Any, emu_admin: EmuAdmin
) -> None:
    session = RecordingSession()
    client = make_client(session=session)
    client.list_queues("pic")
    assert emu_admin.requests()[0]["host"] == DEMO_HOST
    sent = session.sent[0]
    assert sent.url is not None and sent.url.startswith(client.endpoint or "")
    assert sent.headers["Host"] == DEMO_HOST
    parsed = parse_authorization(sent.headers["Authorization"])
    assert parsed.header_list == ["host"]
    assert parsed.url_param_list == ["pagenumber", "pagesize"]


def test_put_signs_content_type_and_length(make_client: MakeClient, demo_bucket: Any) -> None:
    session = RecordingSession()
    client = make_client(session=session)
    queue, _ = client.get_queue("pic", PIC_DEFAULT_ID)
    client.update_queue("pic", PIC_DEFAULT_ID, QueueUpdate.from_queue(queue))
    put = session.sent[-1]
    assert put.method == "PUT"
    assert put.headers["Content-Type"] == "application/xml"
    assert put.headers["Content-Length"] == str(len(put.body or b""))
    assert parse_authorization(put.headers["Authorization"]).header_list == [
        "content-length",
        "content-type",
        "host",
    ]


def test_wrong_region_reaches_no_bucket(
    make_client: MakeClient, demo_bucket: Any, emu_admin: EmuAdmin
) -> None:
    # The emulator routes by Host: the same endpoint with another region's Host finds no bucket.
    with pytest.raises(ServiceError) as caught:
        make_client(region="ap-beijing").list_queues("pic")
    assert (caught.value.status, caught.value.code) == (400, "PicBucketUnBinded")
    assert emu_admin.requests()[-1]["host"] == "demo-1250000000.ci.ap-beijing.myqcloud.com"


# -- retries --------------------------------------------------------------------------------


def test_slow_down_is_retried_with_jitter(
    make_client: MakeClient, demo_bucket: Any, emu_admin: EmuAdmin
) -> None:
    emu_admin.faults(next={"count": 2, "status": 503, "code": "SlowDown"})
    sleeps = Sleeps()
    start = int(time.time())
    ticks = iter(range(start, start + 100, 7))
    session = RecordingSession()
    client = make_client(sleep=sleeps, rand=lambda: 0.5, clock=lambda: float(next(ticks)), session=session)
    listing = client.list_queues("pic")
    assert len(listing.queues) == 3
    log = emu_admin.requests()
    assert [(e["status"], e["code"]) for e in log] == [(503, "SlowDown"), (503, "SlowDown"), (200, None)]
    assert sleeps.delays == pytest.approx([0.1, 0.2])
    # Every attempt is signed afresh (the injected clock moved between them).
    sign_times = [parse_authorization(r.headers["Authorization"]).sign_time for r in session.sent]
    assert len(set(sign_times)) == 3


def test_client_error_is_never_retried(
    make_client: MakeClient, demo_bucket: Any, emu_admin: EmuAdmin
) -> None:
    sleeps = Sleeps()
    with pytest.raises(ServiceError) as caught:
        make_client(sleep=sleeps).list_queues("doc")
    log = emu_admin.requests()
    assert len(log) == 1 and sleeps.delays == []
    assert (caught.value.status, caught.value.code) == (400, "DocBucketUnBinded")
    assert caught.value.request_id == log[0]["request_id"]
    assert caught.value.trace_id


def test_dropped_connection_is_retried(
    make_client: MakeClient, demo_bucket: Any, emu_admin: EmuAdmin
) -> None:
    emu_admin.faults(drop_next=1)
    sleeps = Sleeps()
    listing = make_client(sleep=sleeps, rand=lambda: 0.0).list_queues("pic")
    assert len(listing.queues) == 3
    assert [e["code"] for e in emu_admin.requests()] == ["DroppedConnection", None]
    assert sleeps.delays == [0.0]


def test_attempts_exhausted_raise_the_service_error(
    make_client: MakeClient, demo_bucket: Any, emu_admin: EmuAdmin
) -> None:
    emu_admin.faults(next={"count": 10, "status": 503, "code": "SlowDown"})
    sleeps = Sleeps()
    with pytest.raises(ServiceError) as caught:
        make_client(sleep=sleeps, rand=lambda: 1.0).get_queue("pic", PIC_DEFAULT_ID)
    log = emu_admin.requests()
    assert len(log) == 4
    assert sleeps.delays == pytest.approx([0.2, 0.4, 0.8])
    assert caught.value.code == "SlowDown" and caught.value.status == 503
    assert caught.value.request_id == log[-1]["request_id"]
    assert str(caught.value) == f"SlowDown (HTTP 503): injected fault [RequestId: {log[-1]['request_id']}]"


def test_connection_refused_gives_transport_error_after_retries() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    client = CIClient(
        "demo-1250000000",
        "ap-guangzhou",
        Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY),
        endpoint=f"http://127.0.0.1:{port}",
        retry=RetryPolicy(max_attempts=3),
        sleep=sleeps,
        rand=lambda: 0.0,
    )
    with pytest.raises(TransportError) as caught:
        client.list_queues("pic")
    assert str(caught.value) == (
        "GET /picqueue to demo-1250000000.ci.ap-guangzhou.myqcloud.com "
        f"via http://127.0.0.1:{port} failed after 3 attempt(s): ConnectionError"
    )
    assert len(sleeps.delays) == 2


# -- deadlines ------------------------------------------------------------------------------


def test_deadline_caps_the_request_timeout(
    make_client: MakeClient, demo_bucket: Any, emu_admin: EmuAdmin
) -> None:
    emu_admin.faults(latency_ms=500)
    session = RecordingSession()
    sleeps = Sleeps()
    client = make_client(session=session, sleep=sleeps, rand=lambda: 1.0)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as caught:
        client.list_queues("pic", deadline=Deadline.after(0.1))
    elapsed = time.monotonic() - started
    # The socket timeout and the attempt's watchdog end it at the same instant; either tells it.
    assert re.fullmatch(
        r"deadline exceeded (after 1 attempt\(s\); last error: ReadTimeout"
        r"|during attempt 1 of GET /picqueue \(no whole reply in time\))",
        str(caught.value),
    )
    assert len(session.timeouts) == 1 and 0 < session.timeouts[0] <= 0.1
    assert sleeps.delays == []
    assert elapsed < 0.5  # gave up at the deadline rather than waiting for the slow answer
    # Let the slow request land in the emulator's log before the next test resets it.
    for _ in range(50):
        if emu_admin.requests():
            break
        time.sleep(0.02)


def test_backoff_never_sleeps_past_the_deadline(
    make_client: MakeClient, demo_bucket: Any, emu_admin: EmuAdmin
) -> None:
    emu_admin.faults(next={"count": 10, "status": 503, "code": "SlowDown"})
    now = [100.0]

    def fake_sleep(seconds: float) -> None:
        now[0] += seconds

    deadline = Deadline.after(0.5, monotonic=lambda: now[0])
    client = make_client(sleep=fake_sleep, rand=lambda: 1.0, retry=RetryPolicy(max_attempts=10))
    with pytest.raises(DeadlineExceeded) as caught:
        client.list_queues("pic", deadline=deadline)
    # Backoffs 0.2 then 0.4: the second would end at 100.6 > 100.5, so it stops after 2 attempts.
    assert str(caught.value) == "deadline exceeded after 2 attempt(s); last error: SlowDown"
    assert isinstance(caught.value.__cause__, ServiceError)
    assert now[0] == pytest.approx(100.2)
    assert len(emu_admin.requests()) == 2


def test_deadline_running_out_before_the_send_is_deadline_exceeded(
    make_client: MakeClient, demo_bucket: Any, emu_admin: EmuAdmin
) -> None:
    # The retry loop sees 10 s left; by the time the request is built none is left. urllib3 used to
    # refuse the zero timeout with a bare ValueError.
    readings = iter([0.0])

    def monotonic() -> float:
        return next(readings, 10.0)

    with pytest.raises(DeadlineExceeded, match=r"^deadline exceeded before attempt 1 of GET /picqueue$"):
        make_client().list_queues("pic", deadline=Deadline(10.0, monotonic))
    assert emu_admin.requests() == []


# -- temporary credentials ------------------------------------------------------------------


def test_temporary_credentials_send_and_sign_the_token(
    make_client: MakeClient, demo_bucket: Any, emu_admin: EmuAdmin
) -> None:
    emu_admin.seed(keys=[{"secret_id": TEMP_ID, "secret_key": TEMP_KEY, "token": TEMP_TOKEN}])
    session = RecordingSession()
    client = make_client(credentials=Credentials(TEMP_ID, TEMP_KEY, TEMP_TOKEN), session=session)
    assert len(client.list_queues("pic").queues) == 3
    sent = session.sent[0]
    assert sent.headers["x-ci-security-token"] == TEMP_TOKEN
    assert "x-ci-security-token" in parse_authorization(sent.headers["Authorization"]).header_list

    wrong = make_client(credentials=Credentials(TEMP_ID, TEMP_KEY, "not-the-token"))
    with pytest.raises(ServiceError) as caught:
        wrong.list_queues("pic")
    assert (caught.value.status, caught.value.code) == (403, "InvalidAccessKeyId")


def test_wrong_secret_key_is_refused(make_client: MakeClient, demo_bucket: Any) -> None:
    with pytest.raises(ServiceError) as caught:
        make_client(credentials=Credentials(DEMO_SECRET_ID, "x" * 32)).list_queues("pic")
    assert (caught.value.status, caught.value.code) == (403, "SignatureDoesNotMatch")


# -- secrets --------------------------------------------------------------------------------


def test_no_secret_in_errors_repr_or_logs(
    make_client: MakeClient, demo_bucket: Any, emu_admin: EmuAdmin, caplog: pytest.LogCaptureFixture
) -> None:
    emu_admin.seed(keys=[{"secret_id": TEMP_ID, "secret_key": TEMP_KEY, "token": TEMP_TOKEN}])
    emu_admin.faults(next={"count": 1, "status": 503, "code": "SlowDown"}, drop_next=1)
    caplog.set_level(logging.DEBUG, logger="ciqueue.client")
    client = make_client(credentials=Credentials(TEMP_ID, TEMP_KEY, TEMP_TOKEN), sleep=Sleeps())
    client.list_queues("pic")
    texts = [repr(client), str(client)]
    for bad in (Credentials(TEMP_ID, TEMP_KEY, "wrong-token"), Credentials(TEMP_ID, "wrong-key", TEMP_TOKEN)):
        with pytest.raises(ServiceError) as caught:
            make_client(credentials=bad).get_queue("pic", PIC_DEFAULT_ID)
        texts += [str(caught.value), repr(caught.value)]
    records = [r for r in caplog.records if r.name == "ciqueue.client"]
    assert any("status=200" in r.getMessage() for r in records)
    assert any("error=SlowDown" in r.getMessage() for r in records)
    texts += [r.getMessage() for r in records]
    for text in texts:
        for secret in (TEMP_KEY, TEMP_TOKEN, "wrong-token", "wrong-key", "q-signature", "q-sign-algorithm"):
            assert secret not in text
    assert repr(client) == (
        f"CIClient(bucket='demo-1250000000', region='ap-guangzhou', endpoint={client.endpoint!r}, "
        "credentials=Credentials(secret_id='AKID***0001', secret_key='***', token='***'))"
    )


# -- error bodies ---------------------------------------------------------------------------


def _response(status: int, body: bytes, headers: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers.update(headers)
    response.reason = "Service Unavailable" if status == 503 else "Bad Gateway"
    return response


def test_unreadable_error_body_still_gives_a_service_error() -> None:
    error = _service_error(_response(502, b"<html>bad gateway</html>", {"x-ci-request-id": "rid-1"}))
    assert (error.status, error.code, error.request_id) == (502, "HTTP502", "rid-1")
    error = _service_error(_response(503, b"", {"x-cos-error-code": "SlowDown"}))
    assert (error.status, error.code, error.request_id) == (503, "SlowDown", None)


def test_error_body_request_id_wins_over_header() -> None:
    body = (
        b"<?xml version='1.0' encoding='utf-8' ?><Error><Code>InternalError</Code><Message>oops</Message>"
        b"<RequestId>rid-body</RequestId><TraceId>tid</TraceId></Error>"
    )
    error = _service_error(_response(500, body, {"x-ci-request-id": "rid-header"}))
    assert (error.code, error.message, error.request_id, error.trace_id) == (
        "InternalError",
        "oops",
        "rid-body",
        "tid",
    )


# -- every transport failure is a typed error --------------------------------------------------


class RaisingSession(requests.Session):
    """A session whose every request raises ``exc`` (what requests, urllib3 or the stdlib raise)."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc = exc

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "verdict", "text"),
    [
        (
            requests.exceptions.InvalidURL("URL has an invalid label."),
            InvalidInput,
            "region: must give a URL",
        ),
        (urllib3.exceptions.LocationParseError("x"), InvalidInput, "(LocationParseError)"),
        (
            UnicodeError("encoding with 'idna' codec failed (UnicodeError: label too long)"),
            InvalidInput,
            "63",
        ),
        (requests.exceptions.InvalidHeader("bad"), InvalidInput, "headers: must be printable ASCII"),
        (requests.exceptions.SSLError("cert"), TransportError, "failed after 1 attempt(s): SSLError"),
        (requests.exceptions.ChunkedEncodingError("x"), TransportError, ": ChunkedEncodingError"),
        (requests.exceptions.ContentDecodingError("x"), TransportError, ": ContentDecodingError"),
        (
            urllib3.exceptions.ProtocolError("broken", http.client.IncompleteRead(b"")),
            TransportError,
            ": ProtocolError (IncompleteRead)",
        ),
        (http.client.RemoteDisconnected("gone"), TransportError, ": RemoteDisconnected"),
        (ConnectionResetError(104, "reset"), TransportError, ": ConnectionResetError"),
    ],
)
def test_transport_exceptions_become_typed_errors(
    exc: BaseException, verdict: type[Exception], text: str
) -> None:
    client = CIClient(
        DEMO_BUCKET,
        DEMO_REGION,
        Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY),
        session=RaisingSession(exc),
        retry=RetryPolicy(max_attempts=1),
    )
    with pytest.raises(verdict) as caught:
        client.list_queues("pic")
    assert text in str(caught.value)
    assert errors.describe(caught.value).expected  # a verdict of its own, never "internal error"


def test_a_bug_below_the_transport_is_not_passed_off_as_one() -> None:
    client = CIClient(
        DEMO_BUCKET,
        DEMO_REGION,
        Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY),
        session=RaisingSession(KeyError("x")),
    )
    with pytest.raises(KeyError):
        client.list_queues("pic")

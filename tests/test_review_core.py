"""Defects found in review of the wire layer (client, operations, netguard, emulator, CLI), one test each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from ciqueue.ci import models
from ciqueue.ci.client import CIClient
from ciqueue.ci.credentials import Credentials
from ciqueue.ci.netguard import check_callback_url, is_private_host
from ciqueue.ci.operations import set_callback
from ciqueue.ci.retry import Deadline
from ciqueue.cli import main as cli
from ciqueue.constants import (
    DEMO_SECRET_ID,
    DEMO_SECRET_KEY,
    ENV_ENDPOINT,
    ENV_REGION,
    ENV_SECRET_ID,
    ENV_SECRET_KEY,
    ENV_SESSION_TOKEN,
)
from ciqueue.emulator.server import EmulatorServer
from ciqueue.errors import DeadlineExceeded, InvalidInput
from conftest import DEMO_BUCKET, DEMO_HOST, DEMO_REGION, PIC_DEFAULT_ID, EmuAdmin

MakeClient = Callable[..., CIClient]
OTHER_BUCKET = "review-1250000000"


def queue_id(n: int) -> str:
    return f"p{n:032x}"


def seed_queues(emu_admin: EmuAdmin, queues: list[dict[str, Any]]) -> None:
    emu_admin.seed([{"bucket": OTHER_BUCKET, "region": DEMO_REGION, "kinds": ["pic"], "queues": queues}])
    emu_admin.clear_requests()


# -- client ---------------------------------------------------------------------------------


def test_queue_ids_search_with_a_small_page_size_ends(make_client: MakeClient, emu_admin: EmuAdmin) -> None:
    # CI answers a queueIds search whole (no paging); the walk used to ask for page after page of
    # the same queues until MAX_PAGES (1000 requests).
    ids = [queue_id(100 + n) for n in range(6)]
    seed_queues(emu_admin, [{"kind": "pic", "queue_id": i} for i in ids])
    listing = make_client(bucket=OTHER_BUCKET).list_queues("pic", queue_ids=ids, page_size=5)
    assert [q.queue_id for q in listing.queues] == ids
    assert [e["query"]["pageNumber"] for e in emu_admin.requests()] == ["1", "2"]


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


def test_get_queue_names_the_queue_id_field(make_client: MakeClient, emu_admin: EmuAdmin) -> None:
    with pytest.raises(InvalidInput, match=r"^queue_id: must be a queue id"):
        make_client().get_queue("pic", "no such/id")
    assert emu_admin.requests() == []


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


def test_update_result_takes_the_request_id_from_the_header() -> None:
    body = b"<Response><Queue><QueueId>%s</QueueId><State>Paused</State></Queue></Response>" % (
        PIC_DEFAULT_ID.encode()
    )
    session = CannedSession(200, body, {"x-ci-request-id": "rid-header"})
    client = CIClient(DEMO_BUCKET, DEMO_REGION, Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY), session=session)
    update = models.QueueUpdate(name="q", state="Paused", notify_config=models.notify_config_off())
    assert client.update_queue("pic", PIC_DEFAULT_ID, update).request_id == "rid-header"


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


def test_cli_bad_endpoint_is_one_usage_line(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_SECRET_ID, DEMO_SECRET_ID)
    monkeypatch.setenv(ENV_SECRET_KEY, DEMO_SECRET_KEY)
    monkeypatch.delenv(ENV_SESSION_TOKEN, raising=False)
    monkeypatch.delenv(ENV_REGION, raising=False)
    monkeypatch.setenv(ENV_ENDPOINT, "http://[::1")
    code = cli.main(["queues", "list", "--bucket", DEMO_BUCKET, "--region", DEMO_REGION])
    assert (code, capsys.readouterr().err) == (
        2,
        "error: endpoint: must be an http(s) URL such as http://127.0.0.1:9000\n",
    )


# -- operations -----------------------------------------------------------------------------


def test_callback_without_state_is_already_off(make_client: MakeClient, emu_admin: EmuAdmin) -> None:
    # CI's NotifyConfig.State defaults to Off: turning such a callback off must write nothing.
    notify = {"Url": "https://cb.example.com/ci", "Type": "Url", "Event": "TaskFinish"}
    seed_queues(emu_admin, [{"kind": "pic", "queue_id": queue_id(7), "name": "q", "notify_config": notify}])
    result = set_callback(make_client(bucket=OTHER_BUCKET), "pic", queue_id(7), models.notify_config_off())
    assert (result.changed, result.diff, result.reason) == (
        False,
        [],
        "already callback off; nothing written",
    )
    assert [e["method"] for e in emu_admin.requests()] == ["GET"]
    assert emu_admin.queue(queue_id(7))["NotifyConfig"] == notify


# -- netguard -------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["[::ffff:0:7f00:1]", "[::ffff:0:a00:1]", "[::7f00:1:0:0]"])
def test_reserved_ipv6_forms_are_private(host: str) -> None:
    # ::ffff:0:a.b.c.d (SIIT "IPv4-translated") passed as public because is_global was True.
    assert is_private_host(host)
    with pytest.raises(InvalidInput) as caught:
        check_callback_url(f"http://{host}/cb")
    assert caught.value.rule.startswith("must not be a private-network address (")


@pytest.mark.parametrize("host", ["[2400:cb00::1]", "[2001:4860:4860::8888]", "[::ffff:8.8.8.8]"])
def test_public_ipv6_still_passes(host: str) -> None:
    assert not is_private_host(host)


# -- emulator -------------------------------------------------------------------------------


def test_request_log_never_keeps_a_token_sent_in_the_query(
    emulator: EmulatorServer, emu_admin: EmuAdmin
) -> None:
    response = requests.get(
        f"{emulator.endpoint}/picqueue",
        params={"state": "Active", "x-cos-security-token": "TokenInQuery", "X-Ci-Security-Token": "T2"},
        headers={"Host": DEMO_HOST},
        timeout=5,
    )
    assert response.status_code == 401
    (entry,) = emu_admin.requests()
    assert entry["query"] == {"state": "Active"}

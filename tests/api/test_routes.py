"""The HTTP API end to end: SCF-shaped Function URL / API Gateway events into the http_toggle
handler, over real HTTP to the emulator, with a file state store and a schedule file in tmp_path.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from ciqueue.api.auth import ApiToken, hash_token
from ciqueue.api.routes import HttpApi
from ciqueue.app.runtime import Runtime
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.envelopes.http import HttpRequest
from ciqueue.timefmt import parse_instant
from conftest import (
    DEMO_BUCKET,
    DEMO_REGION,
    MEDIA_ID,
    MEDIA_SPEED_ID,
    NOON_UTC,
    PIC_CALLBACK_ID,
    PIC_DEFAULT_ID,
    PIC_PAUSED_ID,
    EmuAdmin,
    demo_seed,
    load_function,
    reads_fail_after_put,
)

ROOT = Path(__file__).resolve().parents[2]
OPERATE_TOKEN = "oncall-token-0123456789abcdef"
NEW_OPERATE_TOKEN = "oncall-token-rotated-fedcba9876"
READ_TOKEN = "viewer-token-0123456789abcdef"
QUEUE = f"/queues/{DEMO_BUCKET}/{DEMO_REGION}/pic"
# A one-off window 02:00-04:00 Beijing time, a year ahead (the engine looks at most 800 days ahead).
WINDOW_DAY = (datetime.now(timezone.utc) + timedelta(days=365)).date()
WINDOW_OPENS = datetime(
    WINDOW_DAY.year, WINDOW_DAY.month, WINDOW_DAY.day, 2, tzinfo=timezone(timedelta(hours=8))
)
CONFIG = f"""
version: 1
timezone: Asia/Shanghai
targets:
  nightly:
    bucket: {DEMO_BUCKET}
    region: {DEMO_REGION}
    kind: pic
    queue_ids: [{PIC_PAUSED_ID}, {PIC_CALLBACK_ID}]
windows:
  - name: night
    targets: [nightly]
    dates:
      - start: "{WINDOW_DAY.isoformat()}T02:00"
        end: "{WINDOW_DAY.isoformat()}T04:00"
"""

Handler = Callable[..., dict[str, Any]]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, emulator: Any) -> Path:
    """The environment a deployed http_toggle would see, aimed at the emulator."""
    tokens = [
        {"name": "oncall", "sha256": hash_token(OPERATE_TOKEN), "scopes": ["read", "operate"]},
        {"name": "oncall-next", "sha256": hash_token(NEW_OPERATE_TOKEN), "scopes": ["read", "operate"]},
        {"name": "viewer", "sha256": hash_token(READ_TOKEN), "scopes": ["read"]},
    ]
    config = tmp_path / "ciqueue.yml"
    config.write_text(CONFIG)
    state = tmp_path / "state.json"
    for name in (
        "CIQUEUE_STATE_BUCKET",
        "TENCENTCLOUD_SESSIONTOKEN",
        "TENCENTCLOUD_RUNENV",
        "CIQUEUE_TRUST_CAM",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CIQUEUE_API_TOKENS", json.dumps(tokens))
    monkeypatch.setenv("CIQUEUE_ENDPOINT", emulator.endpoint)
    monkeypatch.setenv("TENCENTCLOUD_SECRETID", DEMO_SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRETKEY", DEMO_SECRET_KEY)
    monkeypatch.setenv("CIQUEUE_CONFIG", str(config))
    monkeypatch.setenv("CIQUEUE_STATE_FILE", str(state))
    monkeypatch.delenv("CIQUEUE_INVOKER", raising=False)
    return state


@pytest.fixture
def call(env: Path, demo_bucket: Any) -> Handler:
    """``call(method, path, token=..., body=..., query=..., apigw=False) -> (status, headers, json)``."""
    module = load_function("http_toggle")

    def invoke(method: str, path: str, **kwargs: Any) -> Any:
        event = http_event(method, path, **kwargs)
        response = module.main_handler(event, {"request_id": "ctx-req-1", "time_limit_in_ms": 30000})
        assert set(response) == {"isBase64Encoded", "statusCode", "headers", "body"}
        body = json.loads(response["body"]) if response["body"] else None
        return response["statusCode"], response["headers"], body

    return invoke


def http_event(
    method: str,
    path: str,
    *,
    token: str | None = OPERATE_TOKEN,
    authorization: str | None = None,
    body: Any = None,
    raw_body: str | None = None,
    query: dict[str, str] | None = None,
    apigw: bool = False,
) -> dict[str, Any]:
    headers = {"content-type": "application/json", "x-scf-request-id": "scf-req-1"}
    if authorization is not None:
        headers["authorization"] = authorization
    elif token is not None:
        headers["authorization"] = f"Bearer {token}"
    text = raw_body if raw_body is not None else ("" if body is None else json.dumps(body))
    event: dict[str, Any] = {
        "httpMethod": method,
        "path": path,
        "headers": headers,
        "queryString": query or {},
        "body": text,
        "isBase64Encoded": False,
    }
    if apigw:
        headers.pop("x-scf-request-id")
        headers["Authorization"] = headers.pop("authorization", "")
        event["requestContext"] = {
            "serviceId": "service-f94sy04v",
            "requestId": "apigw-req-1",
            "sourceIp": "10.0.2.14",
            "stage": "release",
        }
        event["queryStringParameters"] = query or {}
    return event


def puts(admin: EmuAdmin) -> list[dict[str, Any]]:
    return [r for r in admin.requests() if r["method"] == "PUT"]


# --- happy paths --------------------------------------------------------------------------------


def test_health_answers_the_caller_and_needs_read(call: Handler) -> None:
    status, _, body = call("GET", "/health", token=READ_TOKEN)
    assert status == 200
    assert body["status"] == "ok"
    assert body["caller"] == "token:viewer"
    assert body["scopes"] == ["read"]
    assert body["configured"] is True
    status, headers, body = call("GET", "/health", token=None)
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")


def test_list_queues_of_a_bucket_with_the_schedule_view(call: Handler, emu_admin: EmuAdmin) -> None:
    status, _, body = call(
        "GET",
        "/queues",
        token=READ_TOKEN,
        query={"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kind": "pic"},
    )
    assert status == 200, body
    by_id = {q["queue_id"]: q for q in body["queues"]}
    assert sorted(by_id) == sorted([PIC_DEFAULT_ID, PIC_CALLBACK_ID, PIC_PAUSED_ID])
    assert body["count"] == 3
    paused = by_id[PIC_PAUSED_ID]
    assert paused["key"] == f"{DEMO_BUCKET}/{DEMO_REGION}/pic/{PIC_PAUSED_ID}"
    assert paused["queue"]["State"] == "Paused"
    assert paused["schedule"]["targets"] == ["nightly"]
    assert paused["schedule"]["windows"] == ["night"]
    desired = paused["schedule"]["desired_state"]
    assert desired["state"] == "Active"
    assert desired["source"] == "night"
    assert desired["next_edge_at"] == WINDOW_OPENS.astimezone(timezone.utc).isoformat()
    # The next tick would resume it: the window is closed and the queue was never handled.
    assert [d["action"] for d in paused["schedule"]["next_tick"]] == ["resume"]
    untargeted = by_id[PIC_DEFAULT_ID]["schedule"]
    assert untargeted["targets"] == [] and untargeted["desired_state"] is None
    assert untargeted["next_tick"] == []
    assert puts(emu_admin) == []


def test_list_queues_without_a_bucket_uses_the_config_targets(call: Handler) -> None:
    status, _, body = call("GET", "/queues", token=READ_TOKEN)
    assert status == 200, body
    assert body["count"] == 3  # the targets' bucket, region and kind: all pic queues of the bucket
    status, _, body = call("GET", "/queues", token=READ_TOKEN, query={"kind": "media"})
    assert (status, body["count"]) == (200, 0)


def test_listing_media_queues_includes_every_category(night_runtime: Callable[[datetime], Runtime]) -> None:
    # Media queues come in categories and CI lists only Transcoding unless asked for all; the
    # listing used to miss the others.
    api = HttpApi(night_runtime(NOON_UTC), [ApiToken("ops", hash_token(READ_TOKEN), frozenset({"read"}))])
    request = HttpRequest(
        "GET",
        "/queues",
        query={"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kind": "media"},
        headers={"authorization": f"Bearer {READ_TOKEN}"},
    )

    response = api.handle(request)

    assert response.status == 200, response.body
    assert sorted(q["queue_id"] for q in response.body["queues"]) == [MEDIA_ID, MEDIA_SPEED_ID]


def test_show_one_queue_and_unknown_queue(call: Handler) -> None:
    status, _, body = call("GET", f"{QUEUE}/{PIC_CALLBACK_ID}", token=READ_TOKEN)
    assert status == 200, body
    assert body["queue"]["NotifyConfig"]["Url"] == "https://cb.example.com/ci"
    assert body["queue"]["SomeNewElement"] == "v"
    assert body["schedule"]["targets"] == ["nightly"]
    assert body["overrides"] == []

    missing = "p" + "f" * 32
    status, _, body = call("GET", f"{QUEUE}/{missing}", token=READ_TOKEN)
    assert status == 404
    assert body["error"]["code"] == "QueueNotFound"
    assert missing in body["error"]["message"]


def test_pause_and_resume_change_the_queue(
    call: Handler, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, body = call("POST", f"{QUEUE}/{PIC_DEFAULT_ID}/pause", body={"reason": "db maintenance"})
    assert status == 200, body
    assert body["ok"] is True
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"
    assert [r["path"] for r in puts(emu_admin)] == [f"/picqueue/{PIC_DEFAULT_ID}"]
    audit_lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(a.get("actor") == "token:oncall" and a.get("action") == "pause" for a in audit_lines)

    status, _, body = call("POST", f"{QUEUE}/{PIC_PAUSED_ID}/resume", token=NEW_OPERATE_TOKEN)
    assert status == 200, body
    assert emu_admin.queue(PIC_PAUSED_ID)["State"] == "Active"


def test_pause_again_writes_nothing(call: Handler, emu_admin: EmuAdmin) -> None:
    status, _, _ = call("POST", f"{QUEUE}/{PIC_PAUSED_ID}/pause")
    assert status == 200
    assert puts(emu_admin) == []


def test_dry_run_changes_nothing(call: Handler, emu_admin: EmuAdmin) -> None:
    status, _, body = call("POST", f"{QUEUE}/{PIC_DEFAULT_ID}/pause", body={"dry_run": True})
    assert status == 200, body
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Active"
    assert puts(emu_admin) == []


def test_pause_for_creates_an_override_seen_everywhere_and_delete_cancels(
    call: Handler, emu_admin: EmuAdmin, env: Path
) -> None:
    status, _, body = call("POST", f"{QUEUE}/{PIC_CALLBACK_ID}/pause", body={"for": "2h", "reason": "deploy"})
    assert status == 200, body
    override = body["override"]
    key = f"{DEMO_BUCKET}/{DEMO_REGION}/pic/{PIC_CALLBACK_ID}"
    assert override["state"] == "Paused" and override["queues"] == [key]
    assert override["actor"] == "token:oncall" and override["reason"] == "deploy"
    assert emu_admin.queue(PIC_CALLBACK_ID)["State"] == "Paused"

    status, _, listed = call("GET", "/overrides", token=READ_TOKEN)
    assert status == 200
    assert [o["id"] for o in listed["overrides"]] == [override["id"]]
    assert listed["overrides"][0]["key"] == key

    status, _, view = call("GET", f"{QUEUE}/{PIC_CALLBACK_ID}", token=READ_TOKEN)
    assert [o["id"] for o in view["overrides"]] == [override["id"]]
    desired = view["schedule"]["desired_state"]
    assert (desired["state"], desired["source_type"], desired["source"]) == (
        "Paused",
        "override",
        override["id"],
    )

    status, _, body = call("DELETE", f"/overrides/{override['id']}")
    assert status == 200, body
    # Cancelling hands the queue back to the schedule: the window is closed, so it resumes.
    assert emu_admin.queue(PIC_CALLBACK_ID)["State"] == "Active"
    status, _, listed = call("GET", "/overrides", token=READ_TOKEN)
    assert listed["overrides"] == []
    assert json.loads(env.read_text())["overrides"] == []


def test_delete_unknown_override(call: Handler) -> None:
    status, _, body = call("DELETE", "/overrides/ovr-nope")
    assert status == 404
    assert body["error"]["code"] == "OverrideNotFound"
    assert body["error"]["field"] == "override_id"


def test_set_callback_url_and_off(
    call: Handler, emu_admin: EmuAdmin, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    callback = {"type": "Url", "url": "https://hooks.example.com/ci", "event": "TaskFinish", "format": "JSON"}
    status, _, body = call("POST", f"{QUEUE}/{PIC_DEFAULT_ID}/callback", body=callback)
    assert status == 200, body
    # One name for the action (the command schema's, docs/events.md): the answer, each result,
    # the audit line and the state's history say set_callback alike.
    assert (body["action"], [r["action"] for r in body["results"]]) == ("set_callback", ["set_callback"])
    audit = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    changed = [a for a in audit if a["event"] == "queue.callback_changed"]
    assert [a["action"] for a in changed] == ["set_callback"]
    history = json.loads(env.read_text(encoding="utf-8"))["changes"]
    assert [c["action"] for c in history if c["event"] == "queue.callback_changed"] == ["set_callback"]
    notify = emu_admin.queue(PIC_DEFAULT_ID)["NotifyConfig"]
    assert (notify["State"], notify["Type"], notify["Url"]) == ("On", "Url", "https://hooks.example.com/ci")

    status, _, body = call("POST", f"{QUEUE}/{PIC_CALLBACK_ID}/callback", body={"state": "Off"})
    assert status == 200, body
    queue = emu_admin.queue(PIC_CALLBACK_ID)
    assert queue["NotifyConfig"]["State"] == "Off"
    assert queue["SomeNewElement"] == "v"  # never clobbered


def test_plan_lists_the_coming_transitions(call: Handler) -> None:
    start = WINDOW_OPENS - timedelta(hours=2)
    status, _, body = call("GET", "/plan", token=READ_TOKEN, query={"days": "1", "from": start.isoformat()})
    assert status == 200, body
    opens = WINDOW_OPENS.astimezone(timezone.utc)
    assert [(t["at"], t["target"], t["change"]) for t in body["transitions"]] == [
        (opens.isoformat(), "nightly", "pause"),
        ((opens + timedelta(hours=2)).isoformat(), "nightly", "resume"),
    ]
    assert body["from"] == start.isoformat()
    assert body["days"] == 1.0
    status, _, body = call("GET", "/plan", token=READ_TOKEN, query={"days": "40"})
    assert status == 400 and body["error"]["field"] == "query.days"


def test_plan_shows_an_active_override_until_it_ends(call: Handler) -> None:
    # An override made now for 2h on a queue outside the window: it pins the queue Paused, then
    # the schedule takes it back; /plan shows it from the same function as `ciqueue plan`.
    status, _, body = call("POST", f"{QUEUE}/{PIC_CALLBACK_ID}/pause", body={"for": "2h", "reason": "deploy"})
    assert status == 200, body
    override = body["override"]
    status, _, body = call("GET", "/plan", token=READ_TOKEN, query={"days": "1"})
    assert status == 200, body
    key = f"{DEMO_BUCKET}/{DEMO_REGION}/pic/{PIC_CALLBACK_ID}"
    (row,) = [t for t in body["transitions"] if t["target"] == key]
    assert parse_instant(row["at"]) == parse_instant(override["expires_at"])
    assert (row["change"], row["source"]) == ("resume", override["id"])
    assert row["reason"].startswith(
        f"override {override['id']} by token:oncall ('deploy') ends; the schedule takes it back: "
        "no window is open"
    )


def test_api_gateway_event_works_the_same(call: Handler, emu_admin: EmuAdmin) -> None:
    status, _, body = call("POST", f"{QUEUE}/{PIC_DEFAULT_ID}/pause", apigw=True)
    assert status == 200, body
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"
    status, _, body = call("GET", "/health", apigw=True, token=None)
    assert status == 401
    assert body["error"]["request_id"] == "apigw-req-1"


SECRET_CALLBACK = "https://cb.example.com/ci?token=s3cret-callback-token&v=2"
SHOWN_CALLBACK = "https://cb.example.com/ci?token=***&v=***"


def test_callback_query_strings_are_redacted_for_every_caller(call: Handler, emu_admin: EmuAdmin) -> None:
    seed = demo_seed()
    for queue in seed[0]["queues"]:
        if "notify_config" in queue:
            queue["notify_config"]["Url"] = SECRET_CALLBACK
    emu_admin.seed(seed)

    status, _, listing = call("GET", "/queues", token=READ_TOKEN)
    assert status == 200, listing
    urls = {q["queue_id"]: (q["queue"]["NotifyConfig"] or {}).get("Url") for q in listing["queues"]}
    assert urls[PIC_CALLBACK_ID] == SHOWN_CALLBACK
    status, _, shown = call("GET", f"{QUEUE}/{PIC_CALLBACK_ID}", token=READ_TOKEN)
    assert status == 200 and shown["queue"]["NotifyConfig"]["Url"] == SHOWN_CALLBACK
    # An operate caller changing the callback sees the same: a secret never needs to be shown.
    status, _, changed = call(
        "POST", f"{QUEUE}/{PIC_DEFAULT_ID}/callback", body={"type": "Url", "url": SECRET_CALLBACK}
    )
    assert status == 200, changed
    [result] = changed["results"]
    assert result["after"]["NotifyConfig"]["Url"] == SHOWN_CALLBACK
    assert [c["after"] for c in result["diff"] if c["field"] == "NotifyConfig.Url"] == [SHOWN_CALLBACK]
    for body in (listing, shown, changed):
        assert "s3cret-callback-token" not in json.dumps(body)
    # CI holds the real URL: only what is shown is redacted.
    assert emu_admin.queue(PIC_DEFAULT_ID)["NotifyConfig"]["Url"] == SECRET_CALLBACK


# --- authentication: exact status, nothing changed --------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "status", "code"),
    [
        (None, 401, "Unauthorized"),
        ("Basic b25jYWxsOnNlY3JldA==", 401, "Unauthorized"),
        ("Bearer ", 401, "Unauthorized"),
        ("Bearer not-a-configured-token", 401, "Unauthorized"),
        ("Bearer bad token with spaces", 401, "Unauthorized"),
        (f"Bearer {READ_TOKEN}", 403, "Forbidden"),
    ],
)
def test_auth_failures_change_nothing(
    call: Handler, emu_admin: EmuAdmin, env: Path, authorization: str | None, status: int, code: str
) -> None:
    emu_admin.clear_requests()
    got, headers, body = call(
        "POST",
        f"{QUEUE}/{PIC_DEFAULT_ID}/pause",
        token=None,
        authorization=authorization,
        body={"for": "1h"},
    )
    assert (got, body["error"]["code"]) == (status, code)
    assert headers["WWW-Authenticate"].startswith('Bearer realm="ciqueue"')
    if status == 403:
        assert 'scope="operate"' in headers["WWW-Authenticate"]
    assert emu_admin.requests() == []  # not even a read
    assert not env.exists()
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Active"
    assert READ_TOKEN not in json.dumps(body) and "b25jYWxs" not in json.dumps(body)


@pytest.mark.parametrize(
    ("headers", "apigw"),
    [
        ({"authorization": f"Bearer {READ_TOKEN}", "Authorization": f"Bearer {OPERATE_TOKEN}"}, False),
        ({"Authorization": f"Bearer {READ_TOKEN}", "AUTHORIZATION": f"Bearer {OPERATE_TOKEN}"}, True),
        ({"authorization": [f"Bearer {READ_TOKEN}", f"Bearer {OPERATE_TOKEN}"]}, False),
        ({"authorization": [f"Bearer {OPERATE_TOKEN}", f"Bearer {OPERATE_TOKEN}"]}, False),
        ({"authorization": f"Bearer {READ_TOKEN}, Bearer {OPERATE_TOKEN}"}, False),
    ],
    ids=["case-variants", "case-variants-apigw", "list", "list-of-the-same", "comma-joined"],
)
def test_several_authorization_values_are_refused_not_resolved(
    call: Handler, emu_admin: EmuAdmin, env: Path, headers: dict[str, Any], apigw: bool
) -> None:
    # "Last one wins" would let a read token ride along with an operate one, or pick either.
    emu_admin.clear_requests()
    event = http_event("POST", f"{QUEUE}/{PIC_DEFAULT_ID}/pause", token=None, body={"for": "1h"}, apigw=apigw)
    event["headers"].update(headers)
    module = load_function("http_toggle")

    response = module.main_handler(event, {"request_id": "ctx-req-1", "time_limit_in_ms": 30000})

    body = json.loads(response["body"])
    assert (response["statusCode"], body["error"]["code"]) == (401, "Unauthorized")
    assert response["headers"]["WWW-Authenticate"].startswith('Bearer realm="ciqueue"')
    assert emu_admin.requests() == []
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Active"
    assert READ_TOKEN not in response["body"] and OPERATE_TOKEN not in response["body"]


def test_a_single_authorization_value_in_a_list_is_not_ambiguous(call: Handler, env: Path) -> None:
    event = http_event("GET", "/health", token=None)
    event["headers"]["authorization"] = [f"Bearer {READ_TOKEN}"]
    response = load_function("http_toggle").main_handler(
        event, {"request_id": "r", "time_limit_in_ms": 30000}
    )
    assert response["statusCode"] == 200, response["body"]


def test_rotated_tokens_are_both_valid(call: Handler) -> None:
    for token in (OPERATE_TOKEN, NEW_OPERATE_TOKEN):
        status, _, body = call("GET", "/overrides", token=token)
        assert status == 200, body


def test_unknown_route_is_401_before_404(call: Handler) -> None:
    assert call("GET", "/nope", token=None)[0] == 401
    status, _, body = call("GET", "/nope", token=READ_TOKEN)
    assert (status, body["error"]["code"]) == (404, "NotFound")
    # A read-only caller still learns 404/405 for routes (it is a known caller).
    status, headers, body = call("PUT", f"{QUEUE}/{PIC_DEFAULT_ID}/pause", token=READ_TOKEN)
    assert status == 405
    assert headers["Allow"] == "POST"


# --- bad input: 400 naming the field, nothing changed ----------------------------------------------


@pytest.mark.parametrize(
    ("path", "raw", "field", "rule_part"),
    [
        (f"{QUEUE}/{PIC_DEFAULT_ID}/pause", "{not json", "body", "must be a JSON object (invalid JSON"),
        (f"{QUEUE}/{PIC_DEFAULT_ID}/pause", "[1, 2]", "body", "must be a JSON object (got list)"),
        (f"{QUEUE}/{PIC_DEFAULT_ID}/pause", '{"colour": "red"}', "colour", "is not a known field"),
        (f"{QUEUE}/{PIC_DEFAULT_ID}/pause", '{"for": "2x"}', "for", "must be a duration like 30m"),
        (f"{QUEUE}/{PIC_DEFAULT_ID}/pause", '{"for": "8d"}', "for", "must be at most 7d"),
        (
            f"{QUEUE}/{PIC_DEFAULT_ID}/pause",
            '{"for": "1h", "until": "2999-01-01T00:00:00Z"}',
            "for",
            "cannot be combined with until",
        ),
        (f"{QUEUE}/{PIC_DEFAULT_ID}/pause", '{"dry_run": "yes"}', "dry_run", "must be true or false"),
        (f"{QUEUE}/{PIC_DEFAULT_ID}/resume", '{"reason": "a\\nb"}', "reason", "control characters"),
        (f"/queues/{DEMO_BUCKET}/{DEMO_REGION}/video/{PIC_DEFAULT_ID}/pause", "", "kind", "must be one of"),
        (f"/queues/NoSuchBucket/{DEMO_REGION}/pic/{PIC_DEFAULT_ID}/pause", "", "bucket", "<name>-<appid>"),
        (
            f"{QUEUE}/{PIC_DEFAULT_ID}/callback",
            '{"type": "Url", "url": "http://10.0.0.8/cb", "event": "TaskFinish"}',
            "url",
            "private",
        ),
        (
            f"{QUEUE}/{PIC_DEFAULT_ID}/callback",
            '{"type": "Sms", "event": "TaskFinish"}',
            "type",
            "must be one of",
        ),
        (f"{QUEUE}/{PIC_DEFAULT_ID}/callback", "", "body", "is required"),
    ],
)
def test_bad_input_is_400_naming_the_field(
    call: Handler, emu_admin: EmuAdmin, env: Path, path: str, raw: str, field: str, rule_part: str
) -> None:
    emu_admin.clear_requests()
    status, _, body = call("POST", path, raw_body=raw)
    assert status == 400, body
    error = body["error"]
    assert error["code"] == "InvalidInput"
    assert error["field"] == field
    assert rule_part in error["message"], error["message"]
    assert error["request_id"] == "scf-req-1"
    assert puts(emu_admin) == []
    assert not env.exists()


def test_until_in_the_past_is_400(call: Handler, emu_admin: EmuAdmin) -> None:
    status, _, body = call("POST", f"{QUEUE}/{PIC_DEFAULT_ID}/pause", body={"until": "2001-01-01T00:00:00Z"})
    assert status == 400
    assert body["error"]["field"] == "until"
    assert puts(emu_admin) == []


def test_body_over_64_kib_is_413(call: Handler, emu_admin: EmuAdmin) -> None:
    raw = json.dumps({"reason": "x" * (64 * 1024)})
    status, _, body = call("POST", f"{QUEUE}/{PIC_DEFAULT_ID}/pause", raw_body=raw)
    assert status == 413
    assert body["error"]["code"] == "PayloadTooLarge"
    assert "at most 65536 bytes" in body["error"]["message"]
    assert puts(emu_admin) == []


@pytest.mark.parametrize("apigw", [False, True], ids=["function-url", "apigw"])
@pytest.mark.parametrize("encoded", [False, True], ids=["text", "base64"])
def test_a_body_over_its_limit_is_413_through_every_http_event(
    env: Path, demo_bucket: Any, emu_admin: EmuAdmin, apigw: bool, encoded: bool
) -> None:
    module = load_function("http_toggle")
    path = f"{QUEUE}/{PIC_DEFAULT_ID}/pause"
    at_limit = '{"for": "30m"}'.ljust(64 * 1024)  # exactly the limit: taken
    over = at_limit + " "  # one byte more: refused
    answers = []
    for raw in (over, at_limit):
        event = http_event("POST", path, raw_body=raw, apigw=apigw)
        if encoded:
            event["body"], event["isBase64Encoded"] = base64.b64encode(raw.encode()).decode(), True
        response = module.main_handler(event, {"request_id": "ctx-req-1", "time_limit_in_ms": 30000})
        answers.append((response["statusCode"], json.loads(response["body"])))
    (status, refused), (taken_status, taken) = answers
    assert (status, refused["error"]["code"], refused["error"]["field"]) == (413, "PayloadTooLarge", "body")
    assert refused["error"]["message"] == f"the body must be at most 65536 bytes (got {64 * 1024 + 1})"
    assert taken_status == 200, taken
    assert len(puts(emu_admin)) == 1  # only the body at the limit wrote


def test_a_base64_body_over_its_limit_is_413_before_it_is_decoded(env: Path, demo_bucket: Any) -> None:
    # Not even valid base64: the size is judged first, on the encoded text, so nothing is decoded.
    event = http_event("POST", f"{QUEUE}/{PIC_DEFAULT_ID}/pause", raw_body="!" * (3 * 1024 * 1024))
    event["isBase64Encoded"] = True
    response = load_function("http_toggle").main_handler(
        event, {"request_id": "r", "time_limit_in_ms": 30000}
    )
    body = json.loads(response["body"])
    assert (response["statusCode"], body["error"]["code"]) == (413, "PayloadTooLarge")


def test_unknown_query_parameter_is_400(call: Handler) -> None:
    status, _, body = call("GET", "/overrides", token=READ_TOKEN, query={"all": "1"})
    assert (status, body["error"]["field"]) == (400, "query.all")


# --- service failures -------------------------------------------------------------------------------


def test_concurrent_change_is_409(call: Handler, emu_admin: EmuAdmin) -> None:
    emu_admin.faults(mutate_after_put={"queue_id": PIC_DEFAULT_ID, "set": {"Name": "changed-by-someone"}})
    status, _, body = call("POST", f"{QUEUE}/{PIC_DEFAULT_ID}/pause")
    assert status == 409, body
    assert body["ok"] is False
    assert body["error"]["code"] == "Conflict"


def test_a_write_that_cannot_be_verified_is_502_written_not_verified(
    call: Handler, emu_admin: EmuAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ciqueue.ci import client

    session = reads_fail_after_put(emu_admin)
    monkeypatch.setattr(client, "pooled_session", lambda *args, **kwargs: session)
    status, _, body = call("POST", f"{QUEUE}/{PIC_DEFAULT_ID}/pause")

    emu_admin.clear_faults()
    assert status == 502, body
    assert (body["error"]["code"], body["error"]["written"], body["error"]["verified"]) == (
        "UnverifiedWrite",
        True,
        False,
    )
    assert body["error"]["request_id"] == "scf-req-1" and body["error"]["ci_request_id"]
    [result] = body["results"]
    assert (result["changed"], result["written"], result["verified"]) == (True, True, False)
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"


def test_ci_error_is_502_with_code_and_request_id(call: Handler, emu_admin: EmuAdmin) -> None:
    emu_admin.faults(next={"count": 5, "status": 403, "code": "AccessDenied"})
    status, _, body = call("GET", f"{QUEUE}/{PIC_DEFAULT_ID}", token=READ_TOKEN)
    assert status == 502, body
    error = body["error"]
    assert error["code"] == "AccessDenied" and error["ci_code"] == "AccessDenied"
    assert error["ci_request_id"]
    assert error["ci_request_id"] in error["message"]


def test_unexpected_error_is_a_bare_500(
    call: Handler, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from ciqueue.app import executor

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom at /var/secret/path")

    monkeypatch.setattr(executor, "execute", boom)
    status, _, body = call("POST", f"{QUEUE}/{PIC_DEFAULT_ID}/pause")
    assert status == 500
    assert body == {
        "error": {
            "code": "InternalError",
            "message": "internal error",
            "field": None,
            "request_id": "scf-req-1",
        }
    }
    assert any("unhandled RuntimeError" in r.getMessage() for r in caplog.records)
    assert OPERATE_TOKEN not in caplog.text


def test_broken_token_setting_is_500_misconfigured(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIQUEUE_API_TOKENS", "raw-token-pasted-by-mistake")
    module = load_function("http_toggle")
    response = module.main_handler(http_event("GET", "/health"), {})
    assert response["statusCode"] == 500
    body = json.loads(response["body"])
    assert body["error"]["code"] == "Misconfigured"
    assert "CIQUEUE_API_TOKENS" in body["error"]["message"]
    assert "raw-token-pasted" not in response["body"]


def test_not_an_http_event_is_400(env: Path) -> None:
    module = load_function("http_toggle")
    response = module.main_handler({"Type": "Timer"}, {"request_id": "r-9"})
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["field"] == "event"


def test_cam_identity_is_trusted_only_when_configured(
    env: Path, demo_bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = json.loads((ROOT / "tests" / "events" / "function_url_cam.json").read_text())
    event.update(httpMethod="GET", path="/health", body="", queryString={})
    module = load_function("http_toggle")
    assert module.main_handler(event, {})["statusCode"] == 401
    monkeypatch.setenv("CIQUEUE_TRUST_CAM", "true")
    module = load_function("http_toggle")
    response = module.main_handler(event, {})
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["caller"].startswith("cam:")


def test_changes_lists_the_recent_history_newest_first_with_read_scope(
    call: Handler, emu_admin: EmuAdmin
) -> None:
    status, _, body = call("GET", "/changes", token=READ_TOKEN)
    assert (status, body["changes"]) == (200, [])
    assert body["kept"] == {"changes": 200, "days": 14}
    call("POST", f"{QUEUE}/{PIC_CALLBACK_ID}/pause", body={"for": "2h", "reason": "deploy"})
    call("POST", f"{QUEUE}/{PIC_DEFAULT_ID}/pause", body={"reason": "noisy"})

    status, _, body = call("GET", "/changes", token=READ_TOKEN)

    assert status == 200
    key = f"{DEMO_BUCKET}/{DEMO_REGION}/pic"
    assert [(c["event"], c["queue"], c["actor"], c["reason"]) for c in body["changes"]] == [
        ("queue.paused", f"{key}/{PIC_DEFAULT_ID}", "token:oncall", "noisy"),
        ("queue.paused", f"{key}/{PIC_CALLBACK_ID}", "token:oncall", "deploy"),
        ("override.created", f"{key}/{PIC_CALLBACK_ID}", "token:oncall", "deploy"),
    ]
    assert body["changes"][0]["result"] == {"status": "ok"} and body["changes"][0]["at"]
    status, _, one = call(
        "GET", "/changes", token=READ_TOKEN, query={"queue": f"{key}/{PIC_CALLBACK_ID}", "limit": "1"}
    )
    assert status == 200
    assert [c["event"] for c in one["changes"]] == ["queue.paused"]


@pytest.mark.parametrize(
    ("query", "field", "rule"),
    [
        ({"limit": "0"}, "query.limit", "must be a whole number from 1 to 200 (got '0')"),
        ({"limit": "1e3"}, "query.limit", "must be a whole number from 1 to 200 (got '1e3')"),
        ({"queue": "a/b"}, "query.queue", "must be bucket/region/kind/queue_id (got 'a/b')"),
        ({"since": "x"}, "query.since", "is not a known parameter (known: queue, limit)"),
    ],
)
def test_changes_refuses_bad_query_naming_the_parameter(
    call: Handler, query: dict[str, str], field: str, rule: str
) -> None:
    status, _, body = call("GET", "/changes", token=READ_TOKEN, query=query)
    assert status == 400
    assert (body["error"]["field"], body["error"]["problems"][0]["rule"]) == (field, rule)


def test_changes_needs_a_token(call: Handler, env: Path) -> None:
    status, _, _ = call("GET", "/changes", token=None)
    assert status == 401
    assert not env.exists()  # nothing read or written for an unknown caller

"""The error model, table-driven: every error class's status, code and transient (errors.describe),
and every door telling the same failure the same way. The doors run for real: the HTTP API
(http_toggle with an SCF Function URL event, through the api router), the executor, a reconcile
tick, and the scheduler, worker and automation handlers with SCF-shaped events and a context
dict, against the emulator. The failure is injected where the wire's operation would raise it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ciqueue import errors
from ciqueue.api.auth import hash_token, load_tokens
from ciqueue.api.routes import HttpApi
from ciqueue.app.automation import RetryDelivery
from ciqueue.app.commands import parse_command
from ciqueue.app.executor import execute
from ciqueue.app.reconcile import reconcile
from ciqueue.app.runtime import Runtime
from ciqueue.ci import operations
from ciqueue.ci.retry import RetryPolicy, is_retryable
from ciqueue.dev.invoke import fan_out_in_process
from ciqueue.errors import (
    CloudApiError,
    ConflictError,
    CredentialsMissing,
    DeadlineExceeded,
    ErrorReport,
    InvalidInput,
    MalformedResponse,
    PackagingError,
    PayloadTooLarge,
    QueueNotFound,
    ServiceError,
    StateConflict,
    StateCorrupt,
    TransportError,
    UnverifiedWrite,
    describe,
)
from ciqueue.schedule.load import load_config
from ciqueue.state.file import FileStateStore
from conftest import CONFIG_NOW, DEMO_BUCKET, DEMO_REGION, PIC_DEFAULT_ID, EmuAdmin, load_function

CST = ZoneInfo("Asia/Shanghai")
OPEN = datetime(2026, 3, 1, 3, 0, tzinfo=CST)  # inside the window below
SCHEDULE = f"""
version: 1
timezone: Asia/Shanghai
targets:
  one: {{bucket: {DEMO_BUCKET}, region: {DEMO_REGION}, kind: pic, queue_ids: [{PIC_DEFAULT_ID}]}}
windows:
  - name: nightly
    targets: [one]
    dates: [{{start: "2026-03-01T02:00", end: "2026-03-01T04:00"}}]
"""
CONTEXT = {"request_id": "scf-req-err", "time_limit_in_ms": 30000, "function_name": "ciqueue-test"}
TOKEN = "errors-test-token-0123456789"
QUEUE_REF = {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kind": "pic", "queue_id": PIC_DEFAULT_ID}
PAUSE = {"action": "pause", "queues": [QUEUE_REF]}
SECRET = "hunter2-db-password"  # in an unexpected exception's text: must reach no answer


def _unexpected() -> Exception:
    return RuntimeError(f"connect to postgres://admin:{SECRET}@db failed")


def _unverified(cause: BaseException) -> UnverifiedWrite:
    diff = [{"field": "State", "before": "Active", "after": "Paused"}]
    return UnverifiedWrite(
        PIC_DEFAULT_ID, "pause", cause, diff, ["ci-rid-r", "ci-rid-w"], "State Active → Paused"
    )


# (make the exception, HTTP status, code, transient): the one table every door must agree with.
TABLE: list[tuple[Callable[[], BaseException], int, str, bool]] = [
    (lambda: InvalidInput("callback.url", "must be https"), 400, "InvalidInput", False),
    (lambda: CredentialsMissing("TENCENTCLOUD_SECRETID", "must be set"), 500, "CredentialsMissing", False),
    (lambda: QueueNotFound(PIC_DEFAULT_ID, "ci-rid-1"), 404, "QueueNotFound", False),
    (lambda: ConflictError(PIC_DEFAULT_ID, "State is 'Active'", "ci-rid-2"), 409, "Conflict", False),
    (lambda: StateConflict("the state object changed since it was read"), 409, "StateConflict", True),
    (lambda: StateCorrupt("the state object is not JSON"), 500, "StateCorrupt", False),
    (lambda: ServiceError(403, "AccessDenied", "denied", "ci-rid-3"), 502, "AccessDenied", False),
    (lambda: ServiceError(404, "NoSuchBucket", "no bucket", "ci-rid-4"), 502, "NoSuchBucket", False),
    (lambda: ServiceError(503, "SlowDown", "slow down", "ci-rid-5"), 502, "SlowDown", True),
    (lambda: ServiceError(500, "InternalError", "oops", "ci-rid-6"), 502, "InternalError", True),
    (lambda: ServiceError(429, "TooMany", "later", "ci-rid-7"), 502, "TooMany", True),
    (
        lambda: ServiceError(400, "RequestLimitExceeded", "later", "ci-rid-8"),
        502,
        "RequestLimitExceeded",
        True,
    ),
    # Tencent Cloud API 3.0 answers (SCF's Invoke, fan-out): judged by the Code's family.
    (lambda: CloudApiError("scf", "RequestLimitExceeded", "later", "r1"), 502, "RequestLimitExceeded", True),
    (
        lambda: CloudApiError("scf", "RequestLimitExceeded.UinLimitExceeded", "later", "r2"),
        502,
        "RequestLimitExceeded.UinLimitExceeded",
        True,
    ),
    (lambda: CloudApiError("scf", "InternalError.System", "oops", "r3"), 502, "InternalError.System", True),
    (
        lambda: CloudApiError("scf", "AuthFailure.UnauthorizedOperation", "denied", "r4"),
        502,
        "AuthFailure.UnauthorizedOperation",
        False,
    ),
    (
        lambda: CloudApiError("scf", "LimitExceeded.Function", "quota", "r5"),
        502,
        "LimitExceeded.Function",
        False,
    ),
    (
        lambda: MalformedResponse("Response.QueueList: is missing", 200, "ci-rid-9"),
        502,
        "MalformedResponse",
        False,
    ),
    (
        lambda: TransportError("PUT /picqueue/x failed after 1 attempt(s): ConnectionError"),
        502,
        "TransportError",
        True,
    ),
    (lambda: DeadlineExceeded("deadline exceeded after 2 attempt(s)"), 504, "DeadlineExceeded", True),
    (lambda: PayloadTooLarge("body", 65536, 70000), 413, "PayloadTooLarge", False),
    (lambda: PackagingError("pip could not fetch a wheel"), 500, "PackagingError", False),
    # Written, then the verifying read failed: the read's status and transient, its own code.
    (lambda: _unverified(ServiceError(503, "SlowDown", "slow", "ci-rid-a")), 502, "UnverifiedWrite", True),
    (lambda: _unverified(DeadlineExceeded("deadline exceeded")), 504, "UnverifiedWrite", True),
    (lambda: _unverified(MalformedResponse("QueueList: missing", 200)), 502, "UnverifiedWrite", False),
    (lambda: ConnectionResetError(104, "reset"), 502, "TransportError", True),
    (lambda: TimeoutError(), 502, "TransportError", True),
    (_unexpected, 500, "InternalError", False),
]
IDS = [f"{type(make()).__name__}-{status}-{code}" for make, status, code, _ in TABLE]


@pytest.mark.parametrize(("make", "status", "code", "transient"), TABLE, ids=IDS)
def test_each_class_carries_its_status_code_and_transient(
    make: Callable[[], BaseException], status: int, code: str, transient: bool
) -> None:
    report = describe(make())
    assert (report.status, report.code, report.transient) == (status, code, transient)
    assert report.to_dict()["code"] == code and report.to_dict()["message"]


@pytest.mark.parametrize(("make", "status", "code", "transient"), TABLE, ids=IDS)
def test_the_client_retries_exactly_the_transient_errors(
    make: Callable[[], BaseException], status: int, code: str, transient: bool
) -> None:
    exc = make()
    # One rule: transient; a deadline that ran out is never retried under itself.
    assert is_retryable(None, None, exc) is (transient and not isinstance(exc, DeadlineExceeded))


def test_every_error_class_of_the_model_is_in_the_table() -> None:
    defined = {
        value
        for value in vars(errors).values()
        if isinstance(value, type)
        and issubclass(value, errors.CiQueueError)
        and value is not errors.CiQueueError
    }
    tabled = {type(make()) for make, *_ in TABLE}
    assert defined <= tabled, f"not in the table: {sorted(c.__name__ for c in defined - tabled)}"


def test_an_unexpected_error_says_nothing_of_itself() -> None:
    report = describe(_unexpected())
    assert report == ErrorReport(500, "InternalError", "internal error", False, {}, expected=False)


def test_ci_errors_carry_cis_status_code_and_request_id() -> None:
    fields = describe(ServiceError(403, "AccessDenied", "denied", "ci-rid-3")).fields
    assert fields == {
        "http_status": 403,
        "ci_code": "AccessDenied",
        "request_id": "ci-rid-3",
        "ci_request_id": "ci-rid-3",
    }


# --- every door tells the same --------------------------------------------------------------------


@pytest.fixture
def runtime(emulator_runtime: Callable[..., Runtime], demo_bucket: Any) -> Runtime:
    runtime = emulator_runtime(
        config=load_config(SCHEDULE, now=CONFIG_NOW),
        clock=lambda: OPEN,
        client_options={"retry": RetryPolicy(max_attempts=1)},
    )
    fan_out_in_process(runtime)
    return runtime


def _inject(monkeypatch: pytest.MonkeyPatch, make: Callable[[], BaseException]) -> None:
    """The pause operation (read-modify-write-verify) raises ``make()``, as the wire would."""

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise make()

    monkeypatch.setattr(operations, "pause_queue", failing)
    # The tick changes queues in batches: the batch's read raises it for every queue.
    monkeypatch.setattr(operations.BatchChange, "read", failing)


def _verdict(status: int, error: dict[str, Any], transient: bool) -> tuple[int, str, bool]:
    assert SECRET not in json.dumps(error)
    return status, str(error["code"]), transient


def _http_door(runtime: Runtime) -> tuple[int, str, bool]:
    module = load_function("http_toggle")
    tokens = load_tokens(
        {
            "CIQUEUE_API_TOKENS": json.dumps(
                [{"name": "t", "sha256": hash_token(TOKEN), "scopes": ["operate"]}]
            )
        }
    )
    module._API = HttpApi(runtime, tokens)
    event = {
        "httpMethod": "POST",
        "path": f"/queues/{DEMO_BUCKET}/{DEMO_REGION}/pic/{PIC_DEFAULT_ID}/pause",
        "headers": {"authorization": f"Bearer {TOKEN}", "x-scf-request-id": "scf-req-http"},
        "queryString": {},
        "body": "",
        "isBase64Encoded": False,
    }
    response = module.main_handler(event, CONTEXT)
    body = json.loads(response["body"])
    assert body["error"]["request_id"] == "scf-req-http"  # the API call's id, CI's is ci_request_id
    return _verdict(response["statusCode"], body["error"], body["retryable"])


def _executor_door(runtime: Runtime) -> tuple[int, str, bool]:
    outcome = execute(parse_command(PAUSE), runtime, actor="test")
    assert outcome.error is not None and not outcome.ok
    return _verdict(outcome.status, outcome.error, outcome.retryable)


def _reconcile_door(runtime: Runtime) -> tuple[int, str, bool]:
    report = reconcile(runtime, now=OPEN)
    [entry] = report.errors
    assert (entry["stage"], entry["queue"], entry["action"]) == ("apply", _key(), "pause")
    assert report.transient is entry["transient"]
    return _verdict(entry["status"], entry, entry["transient"])


def _scheduler_door(runtime: Runtime) -> tuple[int, str, bool]:
    module = load_function("scheduler")
    module._RUNTIME = runtime
    event = {
        "Type": "Timer",
        "TriggerName": "pause-now",
        "Time": "2026-02-28T19:00:00Z",
        "Message": json.dumps(PAUSE),
    }
    try:
        result = module.main_handler(event, CONTEXT)
    except module.TransientFailure as raised:  # SCF retries the invocation
        return _raised_verdict(runtime, str(raised))
    return _verdict(result["status"], result["error"], result["retryable"])


def _worker_door(runtime: Runtime) -> tuple[int, str, bool]:
    module = load_function("worker")
    module._RUNTIME = runtime
    payload = {"shard": [[DEMO_BUCKET, DEMO_REGION]], "now": OPEN.isoformat()}
    try:
        result = module.main_handler(payload, CONTEXT)
    except module.TransientFailure as raised:
        return _raised_verdict(runtime, str(raised), tick=True)
    [entry] = result["errors"]
    return _verdict(entry["status"], entry, entry["transient"])


def _automation_door(runtime: Runtime) -> tuple[int, str, bool]:
    module = load_function("automation")
    module._RUNTIME = runtime
    event = {"Records": [{"CMQ": {"msgId": "m-0", "topicName": "ops", "msgBody": json.dumps(PAUSE)}}]}
    try:
        summary = module.main_handler(event, CONTEXT)
    except RetryDelivery as raised:
        [record] = raised.report.results
        assert record.error is not None
        return _verdict(record.status, record.error, True)
    [record_dict] = summary["results"]
    return _verdict(record_dict["status"], record_dict["error"], record_dict["retryable"])


def _raised_verdict(runtime: Runtime, message: str, *, tick: bool = False) -> tuple[int, str, bool]:
    """A handler raised so that SCF retries: its message names the code; the status is the one
    the same work reports (a raise stands for "transient", so a non-transient one fails here)."""
    assert SECRET not in message
    if tick:
        [entry] = reconcile(runtime, now=OPEN).errors
        status, code, transient = entry["status"], entry["code"], entry["transient"]
    else:
        outcome = execute(parse_command(PAUSE), runtime, actor="test")
        assert outcome.error is not None
        status, code, transient = outcome.status, outcome.error["code"], outcome.retryable
    assert f"failed with {code} " in message
    return (status, code, True) if transient else (0, "raised although not transient", False)


def _key() -> str:
    return f"{DEMO_BUCKET}/{DEMO_REGION}/pic/{PIC_DEFAULT_ID}"


DOORS = {
    "http": _http_door,
    "executor": _executor_door,
    "reconcile": _reconcile_door,
    "scheduler": _scheduler_door,
    "worker": _worker_door,
    "automation": _automation_door,
}


@pytest.mark.parametrize(("make", "status", "code", "transient"), TABLE, ids=IDS)
def test_every_door_reports_the_same(
    make: Callable[[], BaseException],
    status: int,
    code: str,
    transient: bool,
    runtime: Runtime,
    emu_admin: EmuAdmin,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _inject(monkeypatch, make)
    seen = {name: door(runtime) for name, door in DOORS.items()}
    assert seen == dict.fromkeys(DOORS, (status, code, transient))
    assert emu_admin.put_paths() == []  # the operation failed before writing: nothing reached CI


# --- the behaviour changes, each through the real route ---------------------------------------------


def _api_call(
    runtime: Runtime, method: str, path: str, body: str = "", query: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    module = load_function("http_toggle")
    entry = {"name": "t", "sha256": hash_token(TOKEN), "scopes": ["read", "operate"]}
    module._API = HttpApi(runtime, load_tokens({"CIQUEUE_API_TOKENS": json.dumps([entry])}))
    event = {
        "httpMethod": method,
        "path": path,
        "headers": {"authorization": f"Bearer {TOKEN}", "x-scf-request-id": "scf-req-http"},
        "queryString": query or {},
        "body": body,
        "isBase64Encoded": False,
    }
    response = module.main_handler(event, CONTEXT)
    return response["statusCode"], json.loads(response["body"])


def test_missing_credentials_are_500_on_every_route(
    emulator: Any, demo_bucket: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Was 400 InvalidInput on GET /queues and 500 on a pause.
    for name in ("TENCENTCLOUD_SECRETID", "TENCENTCLOUD_SECRETKEY", "TENCENTCLOUD_SESSIONTOKEN"):
        monkeypatch.delenv(name, raising=False)
    state = FileStateStore(tmp_path / "state.json")
    runtime = Runtime(
        config=load_config(SCHEDULE, now=CONFIG_NOW),
        state=state,
        endpoint=emulator.endpoint,
        credentials=None,
    )
    queues = f"/queues/{DEMO_BUCKET}/{DEMO_REGION}/pic/{PIC_DEFAULT_ID}"
    calls = [
        ("GET", "/queues", {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kind": "pic"}),
        ("GET", queues, None),
        ("POST", queues + "/pause", None),
    ]
    seen = []
    for method, path, query in calls:
        status, body = _api_call(runtime, method, path, query=query)
        seen.append((status, body["error"]["code"], body["error"]["field"]))
    assert seen == [(500, "CredentialsMissing", "TENCENTCLOUD_SECRETID")] * 3


def test_a_malformed_answer_is_502_and_not_retried_on_every_route(
    runtime: Runtime, emu_admin: EmuAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Was 500 InternalError on GET /queues/..., 502 on a pause, and transient in the tick.
    from ciqueue.ci.client import CIClient

    def unreadable(*args: Any, **kwargs: Any) -> Any:
        raise MalformedResponse("Response.QueueList[0].State: is missing", 200, "ci-rid-m")

    monkeypatch.setattr(CIClient, "get_queue", unreadable)
    _inject(monkeypatch, lambda: MalformedResponse("Response.Queue: is missing", 200, "ci-rid-m"))
    status, body = _api_call(runtime, "GET", f"/queues/{DEMO_BUCKET}/{DEMO_REGION}/pic/{PIC_DEFAULT_ID}")
    assert (status, body["error"]["code"], body["error"]["ci_request_id"]) == (
        502,
        "MalformedResponse",
        "ci-rid-m",
    )
    status, body = _api_call(
        runtime, "POST", f"/queues/{DEMO_BUCKET}/{DEMO_REGION}/pic/{PIC_DEFAULT_ID}/pause"
    )
    assert (status, body["error"]["code"], body["retryable"]) == (502, "MalformedResponse", False)
    assert reconcile(runtime, now=OPEN).transient is False


@pytest.mark.parametrize("size", [64 * 1024 + 1, 1024 * 1024 + 1])
def test_a_body_over_its_limit_is_413_wherever_it_is_refused(
    runtime: Runtime, emu_admin: EmuAdmin, size: int
) -> None:
    # A body over 1 MiB (refused while reading the event) was 400; over 64 KiB (the route) 413.
    raw = json.dumps({"reason": "x" * size})
    status, body = _api_call(
        runtime, "POST", f"/queues/{DEMO_BUCKET}/{DEMO_REGION}/pic/{PIC_DEFAULT_ID}/pause", raw
    )
    assert (status, body["error"]["code"], body["error"]["field"]) == (413, "PayloadTooLarge", "body")
    assert emu_admin.put_paths() == []

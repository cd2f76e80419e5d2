"""Fan-out through SCF's Invoke API (``ScfInvoker``) against a loopback stand-in of that API.

The stand-in checks what Tencent documents for a Tencent Cloud API 3.0 call: the TC3-HMAC-SHA256
signature (verified here from the documented algorithm, Signature v3, not with the SDK's code),
the timestamp, the session token of temporary keys (``X-TC-Token``), the action and version;
it records each call and answers as told: success (an Event answer: a FunctionRequestId and no
InvokeResult), throttling, an internal error, auth and parameter errors, unreadable answers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ciqueue import limits
from ciqueue.app.invoker import InvokerUnavailable, ScfInvoker, parse_endpoint
from ciqueue.app.reconcile import reconcile
from ciqueue.app.runtime import Runtime
from ciqueue.errors import (
    CloudApiError,
    CredentialsMissing,
    InvalidInput,
    MalformedResponse,
    PayloadTooLarge,
    TransportError,
    describe,
)
from ciqueue.schedule.load import load_config
from conftest import CONFIG_NOW, DEMO_REGION, EmuAdmin, load_function

ROLE_ID = "AKIDroleTEMPORARYkeyFORciqueueTESTS0001"
ROLE_KEY = "roleSecretKeyNEVERinANYoutput000000001"
ROLE_TOKEN = "roleSessionTokenNEVERinANYoutput-0123456789abcdef"
WORKER = "ciqueue-worker-dev"
OPEN = datetime.fromisoformat("2026-03-01T03:00:00+08:00")  # inside the window below
SHARD = {"shard": [["examplebucket-1250000000", "ap-guangzhou"]], "now": "2026-03-01T03:00:00+08:00"}


# --- the stand-in ---------------------------------------------------------------------------------


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def canonical_request(
    method: str, path: str, query: str, headers: dict[str, str], signed: list[str], body: bytes
) -> str:
    """Signature v3, step 1: method, URI, query, the signed headers (lower-case name, trimmed
    lower-case value), their names, and the hex SHA-256 of the payload, one per line."""
    lines = "".join(f"{name}:{headers.get(name, '').strip().lower()}\n" for name in signed)
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join([method, path, query, lines, ";".join(signed), digest])


def tc3_signature(secret_key: str, date: str, service: str, timestamp: str, canonical: str) -> str:
    """Signature v3, steps 2-3: the string to sign, then the key derived from the date, the
    service and ``tc3_request``."""
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join(
        ["TC3-HMAC-SHA256", timestamp, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()]
    )
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode("utf-8"), date), service), "tc3_request")
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


class ScfApiStandIn:
    """A loopback Tencent Cloud API 3.0 endpoint serving SCF's ``Invoke``."""

    def __init__(self, keys: dict[str, tuple[str, str | None]]) -> None:
        self.keys = keys  # SecretId -> (SecretKey, session token or None for a permanent key)
        self.mode = "success"
        self.calls: list[dict[str, Any]] = []
        self.refused: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), 1024 * 1024)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, answer, content_type = stand_in.answer(self.path, headers, body)
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def error(code: str, message: str) -> dict[str, Any]:
        return {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}}

    def authenticate(self, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any] | None:
        """None when the request is signed as documented; else the documented error answer."""
        auth = headers.get("authorization", "")
        prefix = "TC3-HMAC-SHA256 "
        if not auth.startswith(prefix):
            return self.error("AuthFailure.InvalidAuthorization", "Authorization is not TC3-HMAC-SHA256")
        fields = dict(part.strip().split("=", 1) for part in auth[len(prefix) :].split(","))
        secret_id, date, service, terminator = fields["Credential"].split("/")
        if secret_id not in self.keys:
            return self.error("AuthFailure.SecretIdNotFound", "The SecretId is not found")
        timestamp = headers.get("x-tc-timestamp", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return self.error("AuthFailure.SignatureExpire", "The signature expired")
        if date != datetime.fromtimestamp(int(timestamp), timezone.utc).strftime("%Y-%m-%d"):
            return self.error(
                "AuthFailure.InvalidAuthorization", "Credential date differs from X-TC-Timestamp"
            )
        if (service, terminator) != ("scf", "tc3_request"):
            return self.error("AuthFailure.InvalidAuthorization", "The credential scope is not scf")
        signed = fields["SignedHeaders"].split(";")
        if not {"content-type", "host"} <= set(signed):
            return self.error("AuthFailure.InvalidAuthorization", "content-type and host must be signed")
        secret_key, token = self.keys[secret_id]
        canonical = canonical_request("POST", path.split("?")[0], "", headers, signed, body)
        expected = tc3_signature(secret_key, date, service, timestamp, canonical)
        if not hmac.compare_digest(expected, fields["Signature"]):
            return self.error(
                "AuthFailure.SignatureFailure", "The provided credentials could not be validated"
            )
        if token is not None and headers.get("x-tc-token") != token:
            return self.error("AuthFailure.TokenFailure", "The session token is missing or wrong")
        return None

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, str]:
        refusal = self.authenticate(path, headers, body)
        if refusal is not None:
            self.refused.append(refusal["Response"]["Error"]["Code"])
            return 200, refusal, "application/json"
        params = json.loads(body)
        self.calls.append(
            {
                "action": headers.get("x-tc-action"),
                "version": headers.get("x-tc-version"),
                "region": headers.get("x-tc-region"),
                "token": headers.get("x-tc-token"),
                "params": params,
            }
        )
        if (headers.get("x-tc-action"), headers.get("x-tc-version")) != ("Invoke", "2018-04-16"):
            return (
                200,
                self.error("InvalidAction", "only Invoke 2018-04-16 is served here"),
                "application/json",
            )
        mode = self.mode
        if mode == "success":
            result = {
                "FunctionRequestId": str(uuid.uuid4()),
                "Log": "",
                "RetMsg": "",
                "ErrMsg": "",
                "MemUsage": 0,
                "Duration": 0,
                "BillDuration": 0,
            }  # an Event answer: no InvokeResult, which Tencent marks unmaintained
            return 200, {"Response": {"Result": result, "RequestId": str(uuid.uuid4())}}, "application/json"
        errors = {
            "throttled": ("RequestLimitExceeded", "Your current request times exceeds the frequency limit"),
            "uin-throttled": ("RequestLimitExceeded.UinLimitExceeded", "The main account exceeds its limit"),
            "internal": ("InternalError.System", "Internal system error"),
            "denied": (
                "AuthFailure.UnauthorizedOperation",
                f"{ROLE_ID} is not authorized to scf:InvokeFunction",
            ),
            "no-function": ("ResourceNotFound.Function", f"function {params.get('FunctionName')} not found"),
            "bad-param": ("InvalidParameterValue.ClientContext", "ClientContext is not valid JSON"),
        }
        if mode in errors:
            return 200, self.error(*errors[mode]), "application/json"
        if mode == "html":
            return 200, b"<html><body>gateway page</body></html>", "text/html"
        if mode == "no-result":
            return 200, {"Response": {"RequestId": str(uuid.uuid4())}}, "application/json"
        if mode == "not-json":
            return 200, b"{not json", "application/json"
        if mode == "bad-gateway":
            return 502, b"bad gateway", "text/plain"
        raise AssertionError(mode)


@pytest.fixture
def scf_api() -> Iterator[ScfApiStandIn]:
    stand_in = ScfApiStandIn({ROLE_ID: (ROLE_KEY, ROLE_TOKEN)})
    try:
        yield stand_in
    finally:
        stand_in.close()


def role_env(endpoint: str, **extra: str) -> dict[str, str]:
    """What SCF gives a scheduler with a role, fan-out on and the Invoke API at ``endpoint``."""
    return {
        "CIQUEUE_INVOKER": "scf",
        "CIQUEUE_SCF_ENDPOINT": endpoint,
        "CIQUEUE_WORKER_FUNCTION": WORKER,
        "TENCENTCLOUD_SECRETID": ROLE_ID,
        "TENCENTCLOUD_SECRETKEY": ROLE_KEY,
        "TENCENTCLOUD_SESSIONTOKEN": ROLE_TOKEN,
        "TENCENTCLOUD_REGION": "ap-guangzhou",
        "TENCENTCLOUD_RUNENV": "SCF",
        "SCF_NAMESPACE": "ops",
        **extra,
    }


def invoker_for(env: dict[str, str], tmp_path: Path) -> ScfInvoker:
    runtime = Runtime.from_env({**env, "CIQUEUE_STATE_FILE": str(tmp_path / "state.json")})
    assert isinstance(runtime.invoker, ScfInvoker)
    return runtime.invoker


# --- the verifier itself --------------------------------------------------------------------------


def test_the_stand_ins_signature_check_follows_the_documented_example() -> None:
    """Signature v3's worked example (a CVM DescribeInstances call): the payload hash and the
    canonical request hash the documentation prints."""
    body = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    headers = {
        "content-type": "application/json; charset=utf-8",
        "host": "cvm.tencentcloudapi.com",
        "x-tc-action": "DescribeInstances",
    }
    canonical = canonical_request("POST", "/", "", headers, ["content-type", "host", "x-tc-action"], body)
    assert canonical.endswith("\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064")
    assert "\nx-tc-action:describeinstances\n" in canonical
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    assert digest == "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
    one = tc3_signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", "2019-02-25", "cvm", "1551113065", canonical)
    other = tc3_signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLf", "2019-02-25", "cvm", "1551113065", canonical)
    assert len(one) == 64 and one != other


# --- success --------------------------------------------------------------------------------------


def test_a_successful_event_invoke_is_dispatched_with_its_function_request_id(
    scf_api: ScfApiStandIn, tmp_path: Path
) -> None:
    invoker = invoker_for(role_env(scf_api.endpoint), tmp_path)

    invocation = invoker.invoke_async(WORKER, SHARD)

    assert scf_api.refused == [] and len(scf_api.calls) == 1
    call = scf_api.calls[0]
    assert (call["action"], call["version"], call["region"]) == ("Invoke", "2018-04-16", "ap-guangzhou")
    assert call["token"] == ROLE_TOKEN  # the role's session token is sent (X-TC-Token) and signed with
    params = call["params"]
    assert {k: params[k] for k in ("FunctionName", "InvocationType", "Namespace", "Qualifier")} == {
        "FunctionName": WORKER,
        "InvocationType": "Event",
        "Namespace": "ops",
        "Qualifier": "$DEFAULT",
    }
    assert json.loads(params["ClientContext"]) == SHARD  # the worker's event is the shard payload
    assert invocation is not None and uuid.UUID(invocation)  # Result.FunctionRequestId


def test_the_tick_reports_each_shard_dispatched_and_the_recorded_event_runs_the_worker(
    scf_api: ScfApiStandIn,
    emulator: Any,
    emu_admin: EmuAdmin,
    emulator_runtime: Callable[..., Runtime],
    tmp_path: Path,
) -> None:
    """The fix of issue 9.6: an Event answer without InvokeResult is a dispatched shard, not an error."""
    buckets = ["shard-a-1250000000", "shard-b-1250000000"]
    emu_admin.seed(
        [
            {
                "bucket": bucket,
                "region": DEMO_REGION,
                "kinds": ["pic"],
                "queues": [{"kind": "pic", "queue_id": f"p{i:x}{n:031x}", "name": f"q{n}"} for n in range(2)],
            }
            for i, bucket in enumerate(buckets, start=10)
        ]
    )
    config = load_config(
        json.dumps(
            {
                "version": 1,
                "timezone": "Asia/Shanghai",
                "targets": {
                    b.split("-")[1]: {"bucket": b, "region": DEMO_REGION, "name_pattern": "*"}
                    for b in buckets
                },
                "windows": [
                    {
                        "name": "nightly",
                        "targets": ["a", "b"],
                        "dates": [{"start": "2026-03-01T02:00", "end": "2026-03-01T04:00"}],
                    }
                ],
                "settings": {"shard_size": 2},
            }
        ),
        now=CONFIG_NOW,
    )
    invoker = invoker_for(role_env(scf_api.endpoint), tmp_path)
    runtime = emulator_runtime(config=config, invoker=invoker, worker_function=WORKER)

    report = reconcile(runtime, now=OPEN)

    assert report.ok and report.errors == []
    assert [(s["shard"], s["queues"]) for s in report.shards] == [
        ([[buckets[0], DEMO_REGION]], 2),
        ([[buckets[1], DEMO_REGION]], 2),
    ]
    assert all(uuid.UUID(s["invocation"]) and "error" not in s for s in report.shards)
    events = [json.loads(c["params"]["ClientContext"]) for c in scf_api.calls]
    # Shards are dispatched concurrently, so the calls arrive in any order; each shard exactly once.
    assert sorted(e["shard"] for e in events) == sorted(s["shard"] for s in report.shards)
    assert {q["State"] for b in emu_admin.state()["buckets"] for q in b["queues"]} == {"Active"}

    worker = load_function("worker")
    worker._RUNTIME = emulator_runtime(config=config, clock=lambda: OPEN)
    results = [worker.main_handler(e, {"function_name": WORKER}) for e in events]

    assert [(r["ok"], r["counts"]) for r in results] == [(True, {"pause": 2})] * 2
    assert {q["State"] for b in emu_admin.state()["buckets"] for q in b["queues"]} == {"Paused"}


# --- failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "kind", "code", "transient"),
    [
        ("throttled", CloudApiError, "RequestLimitExceeded", True),
        ("uin-throttled", CloudApiError, "RequestLimitExceeded.UinLimitExceeded", True),
        ("internal", CloudApiError, "InternalError.System", True),
        ("denied", CloudApiError, "AuthFailure.UnauthorizedOperation", False),
        ("no-function", CloudApiError, "ResourceNotFound.Function", False),
        ("bad-param", CloudApiError, "InvalidParameterValue.ClientContext", False),
        ("html", MalformedResponse, "MalformedResponse", False),
        ("not-json", MalformedResponse, "MalformedResponse", False),
        ("no-result", MalformedResponse, "MalformedResponse", False),
        ("bad-gateway", TransportError, "TransportError", True),
    ],
)
def test_a_failed_invoke_is_typed_with_its_transient_verdict(
    scf_api: ScfApiStandIn, tmp_path: Path, mode: str, kind: type, code: str, transient: bool
) -> None:
    scf_api.mode = mode
    invoker = invoker_for(role_env(scf_api.endpoint), tmp_path)

    with pytest.raises(kind) as info:
        invoker.invoke_async(WORKER, SHARD)

    verdict = describe(info.value)
    assert (verdict.status, verdict.code, verdict.transient, verdict.expected) == (502, code, transient, True)
    assert len(scf_api.calls) == 1 and scf_api.refused == []
    if kind is CloudApiError:
        assert verdict.fields["service"] == "scf" and verdict.fields["api_code"] == code
        assert uuid.UUID(verdict.fields["api_request_id"])


def test_a_wrong_key_is_an_auth_error_that_is_not_retried(scf_api: ScfApiStandIn, tmp_path: Path) -> None:
    invoker = invoker_for(role_env(scf_api.endpoint, TENCENTCLOUD_SECRETKEY="not-the-role-key"), tmp_path)

    with pytest.raises(CloudApiError) as info:
        invoker.invoke_async(WORKER, SHARD)

    assert (info.value.code, info.value.transient) == ("AuthFailure.SignatureFailure", False)
    assert scf_api.refused == ["AuthFailure.SignatureFailure"] and scf_api.calls == []


def test_temporary_keys_without_their_session_token_are_refused(
    scf_api: ScfApiStandIn, tmp_path: Path
) -> None:
    env = role_env(scf_api.endpoint)
    del env["TENCENTCLOUD_SESSIONTOKEN"]
    invoker = invoker_for(env, tmp_path)

    with pytest.raises(CloudApiError) as info:
        invoker.invoke_async(WORKER, SHARD)

    assert (info.value.code, describe(info.value).transient) == ("AuthFailure.TokenFailure", False)
    assert scf_api.refused == ["AuthFailure.TokenFailure"]


def test_no_answer_is_a_transient_transport_error(tmp_path: Path) -> None:
    stand_in = ScfApiStandIn({})
    endpoint = stand_in.endpoint
    stand_in.close()  # nothing listens there any more
    invoker = invoker_for(role_env(endpoint), tmp_path)

    with pytest.raises(TransportError) as info:
        invoker.invoke_async(WORKER, SHARD)

    assert describe(info.value).transient and "no answer (ClientNetworkError)" in str(info.value)


def test_a_dispatch_that_cannot_be_made_sends_nothing(scf_api: ScfApiStandIn, tmp_path: Path) -> None:
    no_keys = {k: v for k, v in role_env(scf_api.endpoint).items() if not k.startswith("TENCENTCLOUD_SECRET")}
    with pytest.raises(CredentialsMissing) as missing:
        invoker_for(no_keys, tmp_path).invoke_async(WORKER, SHARD)
    assert describe(missing.value).status == 500 and not describe(missing.value).transient

    no_region = {k: v for k, v in role_env(scf_api.endpoint).items() if k != "TENCENTCLOUD_REGION"}
    with pytest.raises(InvokerUnavailable, match="TENCENTCLOUD_REGION must be set"):
        invoker_for(no_region, tmp_path).invoke_async(WORKER, SHARD)

    huge = {"shard": [["b" * 60 + "-1250000000", "ap-guangzhou"]] * 2000}
    with pytest.raises(PayloadTooLarge) as too_large:
        invoker_for(role_env(scf_api.endpoint), tmp_path).invoke_async(WORKER, huge)
    assert describe(too_large.value).status == 413
    assert f"at most {limits.SCF_MAX_ASYNC_EVENT_BYTES} bytes" in str(too_large.value)
    assert scf_api.calls == [] and scf_api.refused == []


def test_no_secret_reaches_a_message_or_a_log_line(
    scf_api: ScfApiStandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, the SDK's own debug lines included
    invoker = invoker_for(role_env(scf_api.endpoint), tmp_path)
    said: list[str] = [str(invoker.invoke_async(WORKER, SHARD)), repr(invoker)]
    for mode in ("denied", "internal", "html", "bad-gateway"):
        scf_api.mode = mode
        with pytest.raises(Exception) as info:
            invoker.invoke_async(WORKER, SHARD)
        said += [str(info.value), json.dumps(describe(info.value).to_dict())]

    assert "AKID***0001 is not authorized to scf:InvokeFunction" in said[2]  # the SecretId masked
    text = "\n".join([*said, caplog.text])
    for secret in (ROLE_KEY, ROLE_TOKEN, ROLE_ID):
        assert secret not in text


# --- choosing and loading -------------------------------------------------------------------------


def test_the_endpoint_is_internal_inside_scf_and_configurable(tmp_path: Path) -> None:
    base = {"CIQUEUE_INVOKER": "scf", "CIQUEUE_STATE_FILE": str(tmp_path / "s.json")}
    inside = Runtime.from_env({**base, "TENCENTCLOUD_RUNENV": "SCF"}).invoker
    outside = Runtime.from_env(base).invoker
    local = Runtime.from_env({**base, "CIQUEUE_SCF_ENDPOINT": "http://127.0.0.1:9"}).invoker
    assert (
        isinstance(inside, ScfInvoker) and isinstance(outside, ScfInvoker) and isinstance(local, ScfInvoker)
    )
    assert (inside.scheme, inside.endpoint) == ("https", "scf.internal.tencentcloudapi.com")
    assert (outside.scheme, outside.endpoint) == ("https", "scf.tencentcloudapi.com")
    assert (local.scheme, local.endpoint, local.namespace) == ("http", "127.0.0.1:9", "default")
    assert parse_endpoint("scf.example.com:8443") == ("https", "scf.example.com:8443")
    for bad in ("ftp://scf.example.com", "http://h/path", "http://user@h", "h:port"):
        with pytest.raises(InvalidInput, match=r"CIQUEUE_SCF_ENDPOINT: must be a host or http\(s\)://host"):
            Runtime.from_env({**base, "CIQUEUE_SCF_ENDPOINT": bad})


def test_without_the_sdk_fan_out_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tencentcloud", None)  # as if the extra were not installed
    monkeypatch.setitem(sys.modules, "tencentcloud.common", None)
    with pytest.raises(InvokerUnavailable) as info:
        ScfInvoker(region="ap-guangzhou").invoke_async(WORKER, SHARD)
    assert "pip install 'ciqueue[scf]'" in str(info.value)
    assert "tencentcloud-sdk-python-scf tencentcloud-sdk-python-common" in str(info.value)


def test_the_sdk_is_not_imported_until_a_shard_is_dispatched(tmp_path: Path) -> None:
    """Cold start: building the scheduler's runtime with fan-out on imports nothing of the SDK."""
    script = (
        "import sys\n"
        "from ciqueue.app import commands, executor, reconcile\n"
        "from ciqueue.app.runtime import Runtime\n"
        "from ciqueue.envelopes import timer\n"
        f"env = {{'CIQUEUE_INVOKER': 'scf', 'CIQUEUE_STATE_FILE': {str(tmp_path / 's.json')!r}}}\n"
        "r = Runtime.from_env(env)\n"
        "print(type(r.invoker).__name__, sorted(m for m in sys.modules if m.startswith('tencentcloud')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split(" ", 1) == ["ScfInvoker", "[]\n"]

"""The shapes SCF hands a Python handler, built locally: the context dict, trigger events and the
Function URL integration response.

Rules (reference scf.md §1-4):
- the context is a dict with ``request_id``, ``time_limit_in_ms``, ``memory_limit_in_mb``,
  ``function_name`` and friends, as SCF passes it;
- a timer sends ``{"Type": "Timer", "TriggerName", "Time" (UTC, Z), "Message" (the argument)}``;
- a Function URL sends the API-Gateway-like event built from the HTTP request (lower-case headers,
  ``queryString``, ``body`` as text or base64 with ``isBase64Encoded``) and turns an integration
  response ``{"statusCode", "headers", "body"}`` back into HTTP; any other JSON value is a 200
  ``application/json`` body, and a malformed response is a 502 as SCF answers it.
Pure: builds dicts, runs nothing.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ciqueue.constants import DEMO_APPID
from ciqueue.errors import InvalidInput
from ciqueue.records import dataclass
from ciqueue.timefmt import iso_z

UTC = timezone.utc
SAMPLE_KINDS = ("timer", "url", "apigw", "cos", "cmq", "ckafka", "cls")
DEFAULT_TIMEOUT_S = 60
DEFAULT_MEMORY_MB = 128
LOCAL_REGION = "ap-guangzhou"
LOCAL_UIN = "100000000001"


def scf_context(
    function_name: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
    request_id: str | None = None,
    *,
    namespace: str = "default",
    region: str = LOCAL_REGION,
) -> dict[str, Any]:
    """A context dict shaped like the one SCF passes a Python handler (scf.md §3)."""
    return {
        "memory_limit_in_mb": int(memory_mb),
        "time_limit_in_ms": int(timeout_s * 1000),
        "request_id": request_id or str(uuid.uuid4()),
        "environment": json.dumps({"SCF_NAMESPACE": namespace}),
        "environ": f"SCF_NAMESPACE={namespace}",
        "function_version": "$LATEST",
        "function_name": function_name,
        "namespace": namespace,
        "tencentcloud_region": region,
        "tencentcloud_appid": DEMO_APPID,
        "tencentcloud_uin": LOCAL_UIN,
    }


def timer_event(trigger_name: str, at: datetime, message: str = "") -> dict[str, Any]:
    return {"Type": "Timer", "TriggerName": trigger_name, "Time": iso_z(at), "Message": message}


def sample_event(
    kind: str,
    *,
    now: datetime | None = None,
    token: str | None = None,
    command: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A realistic event of trigger ``kind`` (timer, url, apigw, cos, cmq, ckafka, cls).

    Timer: a reconcile tick at ``now``. url/apigw: ``GET /health`` (with ``Authorization: Bearer
    <token>`` when a token is given). The message triggers (cos, cmq, ckafka, cls) carry
    ``command`` (default ``{"action": "reconcile"}``).
    """
    now = now or datetime.now(UTC)
    body = json.dumps(dict(command) if command is not None else {"action": "reconcile"})
    request_id = str(uuid.uuid4())
    if kind == "timer":
        return timer_event("reconcile", now)
    if kind in ("url", "apigw"):
        headers = {
            "accept": "application/json",
            "user-agent": "ciqueue-local",
            "x-scf-request-id": request_id,
        }
        if token:
            headers["authorization"] = f"Bearer {token}"
        if kind == "url":
            return function_url_event("GET", "/health", {}, headers, b"", "127.0.0.1", request_id)
        return {
            "requestContext": {
                "serviceId": "service-local0001",
                "path": "/health",
                "httpMethod": "GET",
                "requestId": request_id,
                "identity": {},
                "sourceIp": "127.0.0.1",
                "stage": "release",
            },
            "headers": headers,
            "body": "",
            "pathParameters": {},
            "queryStringParameters": {},
            "headerParameters": {},
            "stageVariables": {"stage": "release"},
            "path": "/health",
            "queryString": {},
            "httpMethod": "GET",
        }
    stamp = int(now.timestamp())
    if kind == "cos":
        object_key = f"ciqueue/commands/local-{stamp}.json"
        key = f"/{DEMO_APPID}/ops/{object_key}"
        host = f"ops-{DEMO_APPID}.cos.{LOCAL_REGION}.myqcloud.com"
        return {
            "Records": [
                {
                    "cos": {
                        "cosSchemaVersion": "1.0",
                        "cosObject": {
                            "url": f"http://{host}/{object_key}",
                            "meta": {
                                "x-cos-request-id": request_id,
                                "Content-Type": "application/json",
                                "x-cos-meta-ciqueue-command": body,
                            },
                            "vid": "",
                            "key": key,
                            "size": len(body),
                        },
                        "cosBucket": {"region": "gz", "name": "ops", "appid": DEMO_APPID},
                        "cosNotificationId": "unkown",
                    },
                    "event": {
                        "eventName": "cos:ObjectCreated:Put",
                        "eventVersion": "1.0",
                        "eventTime": stamp,
                        "eventSource": "qcs::cos",
                        "requestParameters": {"requestSourceIP": "127.0.0.1", "requestHeaders": {}},
                        "eventQueue": f"qcs:0:lambda:gz:appid/{DEMO_APPID}:default.automation.$LATEST",
                        "reservedInfo": "",
                        "reqid": stamp,
                    },
                }
            ]
        }
    if kind == "cmq":
        message = {
            "type": "topic",
            "topicOwner": int(LOCAL_UIN),
            "topicName": "ciqueue-ops",
            "subscriptionName": "local",
            "publishTime": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "msgId": f"msg-{stamp}",
            "requestId": request_id,
            "msgBody": body,
            "msgTag": "ops",
        }
        return {"Records": [{"CMQ": message}]}
    if kind == "ckafka":
        message = {"topic": "ciqueue-ops", "partition": 0, "offset": stamp, "msgKey": "None", "msgBody": body}
        return {"Records": [{"Ckafka": message}]}
    if kind == "cls":
        import gzip

        logs = {
            "topic_id": "00000000-0000-4000-8000-000000000001",
            "topic_name": "ciqueue-ops",
            "records": [{"timestamp": str(stamp * 1_000_000), "content": body}],
        }
        data = base64.b64encode(gzip.compress(json.dumps(logs).encode())).decode()
        return {"clslogs": {"data": data}}
    raise InvalidInput("--sample", f"must be one of {', '.join(SAMPLE_KINDS)} (got {kind!r})")


def function_url_event(
    method: str,
    path: str,
    query: Mapping[str, Any],
    headers: Mapping[str, str | list[str]],
    body: bytes,
    source_ip: str,
    request_id: str,
) -> dict[str, Any]:
    """The event a Function URL sends an event function for one HTTP request (scf.md §2).

    Headers keep their values with lower-case names, plus ``x-scf-request-id`` and
    ``x-scf-remote-addr``; a header sent more than once (on several lines, or in two cases) keeps
    every value as a list, since the reference does not document how the platform merges them
    and the handler refuses ambiguity it can see. A body that is not UTF-8 text travels base64
    with ``isBase64Encoded``.
    """
    lowered: dict[str, Any] = {}
    for key, value in headers.items():
        name = str(key).lower()
        values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        if name in lowered:
            before = lowered[name]
            values = [*(before if isinstance(before, list) else [before]), *values]
        lowered[name] = values[0] if len(values) == 1 else values
    lowered.setdefault("x-scf-request-id", request_id)
    lowered["x-scf-remote-addr"] = source_ip
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    return {
        "body": text,
        "headers": lowered,
        "httpMethod": method.upper(),
        "path": path or "/",
        "queryString": dict(query),
        "isBase64Encoded": encoded,
        "headerParameters": {},
        "pathParameters": {},
        "queryStringParameters": {},
        "requestContext": {"sourceIp": source_ip, "requestId": request_id},
    }


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


def integration_response(result: Any) -> HttpAnswer:
    """The HTTP answer for a handler's return value, as a Function URL makes it."""
    if isinstance(result, Mapping) and "statusCode" in result:
        status = result.get("statusCode")
        headers = result.get("headers") or {}
        body = result.get("body", "")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            return _invalid_response()
        if not isinstance(headers, Mapping) or not isinstance(body, str):
            return _invalid_response()
        if result.get("isBase64Encoded"):
            try:
                data = base64.b64decode(body, validate=True)
            except ValueError:
                return _invalid_response()
        else:
            data = body.encode("utf-8")
        return HttpAnswer(status, {str(k): str(v) for k, v in headers.items()}, data)
    try:
        data = json.dumps(result, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError):
        return _invalid_response()
    return HttpAnswer(200, {"Content-Type": "application/json"}, data)


def _invalid_response() -> HttpAnswer:
    body = {"errno": 403, "error": "Invalid scf response format. expected scf response valid JSON."}
    return HttpAnswer(502, {"Content-Type": "application/json"}, json.dumps(body).encode())

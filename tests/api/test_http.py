"""HTTP shapes: both event forms into HttpRequest, integration responses, errors and routing."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from ciqueue.api.http import (
    BadRequest,
    Conflict,
    Forbidden,
    HttpResponse,
    MethodNotAllowed,
    NotFound,
    Router,
    Unauthorized,
    http_error_for,
)
from ciqueue.envelopes.detect import http_request_for
from ciqueue.envelopes.http import HttpRequest
from ciqueue.errors import ConflictError, InvalidInput, Problem, QueueNotFound, ServiceError

EVENTS = Path(__file__).resolve().parents[1] / "events"
QID = "p8366c460c67b4c65a9bf81b41eaa3c4b"
QUEUE_PATH = f"/queues/demo-1250000000/ap-guangzhou/pic/{QID}"


def load(name: str) -> Any:
    return json.loads((EVENTS / f"{name}.json").read_text())


# --- parsing events -------------------------------------------------------------------------


def test_apigw_reference_sample() -> None:
    req = http_request_for(load("apigw_proxy"))
    assert req == HttpRequest(
        method="POST",
        path="/test/value",
        query={"foo": "bar", "bob": "alice"},  # the full queryString, not the configured params
        headers={
            "accept-language": "en-US,en,cn",
            "accept": "text/html,application/xml,application/json",
            "host": "service-3ei3tii4-251000691.ap-guangzhou.apigateway.myqloud.com",
            "user-agent": "User Agent String",
        },
        body=b'{"test":"body"}',
        source_ip="10.0.2.14",
        request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        source="apigw",
        cam_identity=None,  # the gateway key-pair identity is never a CAM caller
    )
    assert req.json_body() == {"test": "body"}


def test_apigw_base64_body_is_decoded() -> None:
    req = http_request_for(load("apigw_base64"))
    assert req.json_body() == {"action": "resume", "target": "nightly", "id": "resume-1"}
    assert req.header("Authorization") == "Bearer example-token"


def test_apigw_bad_base64_is_a_bad_request() -> None:
    # A malformed HTTP event is bad input like any other (InvalidInput, 400 through the error model).
    with pytest.raises(InvalidInput) as info:
        http_request_for(load("apigw_bad_base64"))
    assert (info.value.field, str(info.value)) == (
        "body",
        "body: must be base64 (isBase64Encoded is true)",
    )


def test_apigw_query_falls_back_to_configured_params() -> None:
    event = load("apigw_proxy")
    del event["queryString"]
    assert http_request_for(event).query == {"foo": "bar"}


def test_function_url_reference_sample() -> None:
    req = http_request_for(load("function_url"), {"request_id": "ctx-req-1"})
    assert req == HttpRequest(
        method="POST",
        path="/",
        query={"a": "1", "b": "2"},
        headers={"accept": "*/*", "content-length": "17", "x-scf-remote-addr": "111.206.96.145"},
        body=b'{"test":"hello world"}',
        source_ip="111.206.96.145",
        request_id="ctx-req-1",  # the event has none: taken from the context
        source="function_url",
    )


def test_function_url_capture_shape() -> None:
    req = http_request_for(load("function_url_capture"))
    assert (req.method, req.path, req.query) == ("GET", QUEUE_PATH, {"verbose": "1"})
    assert req.request_id == "0f1e2d3c-aaaa-bbbb-cccc-000000000001"
    assert req.source_ip == "203.0.113.9"
    assert req.headers["authorization"] == "Bearer example-token"
    assert req.body == b"" and req.json_body() == {}


def test_function_url_raw_query_and_repeated_keys() -> None:
    event = {"httpMethod": "get", "path": "/q", "rawQueryString": "a=1&b=&a=3"}
    assert http_request_for(event).query == {"a": "3", "b": ""}
    event = {"httpMethod": "GET", "path": "/q", "queryString": {"a": ["1", "2"], "n": 5}}
    req = http_request_for(event)
    assert req.method == "GET" and req.query == {"a": "2", "n": "5"}


def test_function_url_cam_identity() -> None:
    assert http_request_for(load("function_url_cam")).cam_identity == "uin:100000000001"
    event = load("function_url_cam")
    event["requestContext"]["identity"] = {"secretId": "AKIDabcdefghijklmnop1234"}
    assert http_request_for(event).cam_identity == "secretId:AKID***1234"
    event["requestContext"]["identity"] = {"uin": ""}
    assert http_request_for(event).cam_identity is None


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"httpMethod": "GET", "path": "/", "headers": "x"}, "headers"),
        ({"httpMethod": "GET", "path": "/", "body": {"a": 1}}, "body"),
        ({"httpMethod": "GET", "path": "/", "isBase64Encoded": "yes"}, "isBase64Encoded"),
        ({"httpMethod": "GET", "path": "/", "requestContext": {"serviceId": 5}}, "requestContext.serviceId"),
    ],
)
def test_malformed_http_events_name_the_key(event: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        http_request_for(event)
    assert info.value.field == field


def test_non_http_event_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        http_request_for(load("timer"))
    assert str(info.value) == "event: must be a Function URL or API Gateway event (got timer)"


def test_json_body_errors() -> None:
    req = HttpRequest("POST", "/", body=b"{oops")
    # The body is a user's JSON text like a timer Message: one decoder, one wording (jsontext).
    with pytest.raises(InvalidInput) as info:
        req.json_body()
    assert str(info.value) == "body: must be a JSON object (invalid JSON at line 1 column 2)"


def test_repr_never_shows_credentials() -> None:
    req = HttpRequest("GET", "/", headers={"authorization": "Bearer s3cret-token", "cookie": "sid=s3cret"})
    assert "s3cret" not in repr(req) and "s3cret" not in str(req)


# --- responses ------------------------------------------------------------------------------


def test_integration_response_shapes() -> None:
    assert HttpResponse(200, {"b": 1, "a": "é"}).to_integration_response() == {
        "isBase64Encoded": False,
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": '{"a":"é","b":1}',
    }
    assert HttpResponse(204).to_integration_response() == {
        "isBase64Encoded": False,
        "statusCode": 204,
        "headers": {},
        "body": "",
    }
    text = HttpResponse(200, "ok", {"content-type": "text/csv"}).to_integration_response()
    assert text["headers"] == {"content-type": "text/csv"} and text["body"] == "ok"
    raw = HttpResponse(200, b"\x00\x01").to_integration_response()
    assert raw["isBase64Encoded"] is True and base64.b64decode(raw["body"]) == b"\x00\x01"


def test_error_bodies() -> None:
    resp = BadRequest("queues[0].kind", "must be one of pic, media").to_response("req-9")
    assert resp.status == 400
    assert json.loads(resp.to_integration_response()["body"]) == {
        "error": {
            # One code for bad input at every door (the router said "BadRequest", routes "InvalidInput").
            "code": "InvalidInput",
            "message": "queues[0].kind: must be one of pic, media",
            "field": "queues[0].kind",
            "request_id": "req-9",
            "problems": [{"field": "queues[0].kind", "rule": "must be one of pic, media"}],
        }
    }
    unauthorized = Unauthorized("missing Authorization header").to_response()
    assert (unauthorized.status, unauthorized.headers) == (
        401,
        {"WWW-Authenticate": 'Bearer realm="ciqueue"'},
    )
    assert unauthorized.body == {
        "error": {"code": "Unauthorized", "message": "missing Authorization header", "field": "Authorization"}
    }
    assert Forbidden("no").to_response().status == 403
    assert NotFound("no").to_response().body["error"]["code"] == "NotFound"
    assert Conflict("changed").to_response().status == 409
    not_allowed = MethodNotAllowed("PUT", ["POST", "GET", "POST"]).to_response()
    assert (not_allowed.status, not_allowed.headers) == (405, {"Allow": "GET, POST"})


def test_http_error_for_library_errors() -> None:
    invalid = http_error_for(InvalidInput([Problem("a", "is required"), Problem("b", "is bad")]))
    assert isinstance(invalid, BadRequest) and invalid.problems == [
        Problem("a", "is required"),
        Problem("b", "is bad"),
    ]
    missing = http_error_for(QueueNotFound(QID, "req-1"))
    assert (missing.status, missing.code, missing.field) == (404, "QueueNotFound", "queue_id")
    assert http_error_for(ConflictError(QID, "State changed")).status == 409
    upstream = http_error_for(ServiceError(403, "AccessDenied", "denied", "req-2"))
    assert (upstream.status, upstream.code) == (502, "AccessDenied")
    crash = http_error_for(RuntimeError("db password is hunter2"))
    assert crash.status == 500 and "hunter2" not in json.dumps(crash.error_body())


# --- routing --------------------------------------------------------------------------------


def make_router() -> tuple[Router, list[tuple[str, dict[str, str]]]]:
    calls: list[tuple[str, dict[str, str]]] = []
    router = Router()

    @router.route("POST", "/queues/{bucket}/{region}/{kind}/{queue_id}/pause")
    def pause(request: HttpRequest, **params: str) -> dict[str, Any]:
        calls.append(("pause", params))
        return {"paused": params["queue_id"]}

    @router.route("GET", "/queues/{bucket}/{region}/{kind}/{queue_id}")
    def show(request: HttpRequest, **params: str) -> HttpResponse:
        calls.append(("show", params))
        return HttpResponse(200, {"queue": params["queue_id"]}, {"X-Req": request.request_id or "-"})

    @router.route("GET", "/health")
    def health(request: HttpRequest) -> tuple[dict[str, str], int]:
        calls.append(("health", {}))
        return {"ok": "yes"}, 202

    @router.route("POST", "/boom")
    def boom(request: HttpRequest) -> None:
        raise RuntimeError("secret detail")

    @router.route("POST", "/invalid")
    def invalid(request: HttpRequest) -> None:
        raise InvalidInput("for", "must be a duration like 30m, 2h or 1h30m (got 'soon')")

    return router, calls


def test_route_matches_with_path_params() -> None:
    router, calls = make_router()
    resp = router.dispatch(HttpRequest("POST", QUEUE_PATH + "/pause/"))
    assert (resp.status, resp.body) == (200, {"paused": QID})
    assert calls == [
        ("pause", {"bucket": "demo-1250000000", "region": "ap-guangzhou", "kind": "pic", "queue_id": QID})
    ]
    shown = router.dispatch(HttpRequest("GET", QUEUE_PATH, request_id="r1"))
    assert shown.headers == {"X-Req": "r1"}
    assert router.dispatch(HttpRequest("GET", "/health")).status == 202


def test_route_params_are_percent_decoded() -> None:
    router, calls = make_router()
    router.dispatch(HttpRequest("GET", "/queues/demo-1250000000/ap-guangzhou/pic/p%2D1"))
    assert calls[-1][1]["queue_id"] == "p-1"


def test_not_found_and_method_not_allowed() -> None:
    router, calls = make_router()
    missing = router.dispatch(HttpRequest("GET", "/queues/demo-1250000000", request_id="r2"))
    assert missing.status == 404
    assert missing.body == {
        "error": {
            "code": "NotFound",
            "message": "no route for /queues/demo-1250000000",
            "field": "path",
            "request_id": "r2",
        }
    }
    wrong = router.dispatch(HttpRequest("DELETE", QUEUE_PATH))
    assert (wrong.status, wrong.headers["Allow"]) == (405, "GET")
    assert router.dispatch(HttpRequest("GET", QUEUE_PATH + "/pause")).status == 405
    assert calls == []


def test_handler_errors_become_responses() -> None:
    router, _ = make_router()
    bad = router.dispatch(HttpRequest("POST", "/invalid"))
    assert bad.status == 400 and bad.body["error"]["field"] == "for"
    crash = router.dispatch(HttpRequest("POST", "/boom", request_id="r3"))
    assert crash.status == 500
    assert crash.body == {
        "error": {"code": "InternalError", "message": "internal error", "field": None, "request_id": "r3"}
    }


def test_duplicate_and_bad_patterns_are_refused() -> None:
    router, _ = make_router()
    with pytest.raises(ValueError, match="already registered"):
        router.add("get", "/health", lambda request: None)
    with pytest.raises(ValueError, match="must start with /"):
        router.add("GET", "health", lambda request: None)

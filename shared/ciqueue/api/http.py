"""HTTP request/response shapes, one exception class per HTTP status, and a small route table.

``parse_http_event`` reads a Function URL event or a legacy API Gateway event into one neutral
``HttpRequest``; ``HttpResponse.to_integration_response()`` gives the SCF integration-response
dict both accept. Route handlers are plain functions ``handler(request, **path_params)``.

Errors: the HTTP-only failures (401, 403, 404 route, 405) are ``HttpError`` classes that carry
their status like every library error does; ``error_response`` answers ANY exception from
``errors.describe`` (status, code, message, fields), so no status is decided in this module.
A body over ``limits.MAX_API_BODY_BYTES`` is refused with 413 (errors.PayloadTooLarge), as every
route refuses one.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ciqueue.errors import (
    CiQueueError,
    ErrorReport,
    InvalidInput,
    PayloadTooLarge,
    Problem,
    describe,
)
from ciqueue.limits import MAX_API_BODY_BYTES

logger = logging.getLogger(__name__)

# Header values that may hold credentials: never shown in a repr or a log line.
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
JSON_CONTENT_TYPE = "application/json"
BEARER_CHALLENGE = 'Bearer realm="ciqueue"'


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP call, whichever trigger carried it. Header names are lower-case."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    source_ip: str | None = None
    request_id: str | None = None
    source: str = "function_url"
    # A CAM caller identity the platform put in the event (Function URL only; see auth.py).
    cam_identity: str | None = None

    def __repr__(self) -> str:
        shown = {k: ("***" if k in SENSITIVE_HEADERS else v) for k, v in self.headers.items()}
        return (
            f"HttpRequest(method={self.method!r}, path={self.path!r}, query={self.query!r}, "
            f"headers={shown!r}, body=<{len(self.body)} bytes>, source_ip={self.source_ip!r}, "
            f"request_id={self.request_id!r}, source={self.source!r}, cam_identity={self.cam_identity!r})"
        )

    __str__ = __repr__

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json_body(self, field: str = "body") -> Any:
        """The body as JSON (an empty body is ``{}``), or BadRequest naming ``field``."""
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body.decode("utf-8"))
        except UnicodeDecodeError:
            raise BadRequest(field, "must be UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise BadRequest(
                field, f"must be JSON (invalid at line {exc.lineno} column {exc.colno})"
            ) from None
        except RecursionError:
            raise BadRequest(field, "must be JSON (nested too deeply)") from None


@dataclass(frozen=True)
class HttpResponse:
    """A response; ``body`` may be a JSON-able value, text, bytes or None."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def to_integration_response(self) -> dict[str, Any]:
        """``{"isBase64Encoded", "statusCode", "headers", "body"}`` as SCF expects it."""
        headers = dict(self.headers)
        has_type = any(k.lower() == "content-type" for k in headers)
        encoded = False
        if self.body is None:
            text = ""
        elif isinstance(self.body, bytes):
            text, encoded = base64.b64encode(self.body).decode("ascii"), True
            if not has_type:
                headers["Content-Type"] = "application/octet-stream"
        elif isinstance(self.body, str):
            text = self.body
            if not has_type:
                headers["Content-Type"] = "text/plain; charset=utf-8"
        else:
            text = json.dumps(self.body, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
            if not has_type:
                headers["Content-Type"] = JSON_CONTENT_TYPE
        return {"isBase64Encoded": encoded, "statusCode": self.status, "headers": headers, "body": text}


# Errors -------------------------------------------------------------------------------------


class HttpError(CiQueueError):
    """An error answer: status, code, a message safe to show, the field it concerns, headers."""

    http_status = 500
    code = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message
        self.field = field
        if code is not None:
            self.code = code
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(f"{self.http_status} {self.code}: {message}")

    @property
    def status(self) -> int:
        """The HTTP status (``http_status``, the name every error class uses)."""
        return self.http_status

    def report_message(self) -> str:
        return self.message

    def report_fields(self) -> dict[str, Any]:
        return {"field": self.field}

    def error_body(self, request_id: str | None = None) -> dict[str, Any]:
        return error_body(describe(self), request_id)

    def to_response(self, request_id: str | None = None) -> HttpResponse:
        return error_response(self, request_id)


class BadRequest(HttpError):
    """400 for input the HTTP layer itself refuses; the code is the library's ``InvalidInput``."""

    http_status = InvalidInput.http_status
    code = InvalidInput.code

    def __init__(self, field: str, rule: str, problems: list[Problem] | None = None) -> None:
        self.problems = problems or [Problem(field, rule)]
        super().__init__("; ".join(str(p) for p in self.problems), field=field)

    @classmethod
    def from_invalid(cls, exc: InvalidInput) -> BadRequest:
        return cls(exc.field, exc.rule, exc.problems)

    def report_fields(self) -> dict[str, Any]:
        return {"field": self.field, "problems": [{"field": p.field, "rule": p.rule} for p in self.problems]}


class Unauthorized(HttpError):
    http_status = 401
    code = "Unauthorized"

    def __init__(self, message: str, *, challenge: str = BEARER_CHALLENGE) -> None:
        super().__init__(message, field="Authorization", headers={"WWW-Authenticate": challenge})


class Forbidden(HttpError):
    http_status = 403
    code = "Forbidden"


class NotFound(HttpError):
    http_status = 404
    code = "NotFound"


class MethodNotAllowed(HttpError):
    http_status = 405
    code = "MethodNotAllowed"

    def __init__(self, method: str, allowed: list[str]) -> None:
        self.allowed = sorted(set(allowed))
        super().__init__(
            f"method {method} is not allowed here (allowed: {', '.join(self.allowed)})",
            headers={"Allow": ", ".join(self.allowed)},
        )


class Conflict(HttpError):
    http_status = 409
    code = "Conflict"


class InternalServerError(HttpError):
    http_status = 500
    code = "InternalError"


class BadGateway(HttpError):
    http_status = 502
    code = "BadGateway"


class GatewayTimeout(HttpError):
    http_status = 504
    code = "GatewayTimeout"


class ReportedError(HttpError):
    """A library error as the HttpError to answer with: everything from its ErrorReport."""

    def __init__(self, report: ErrorReport) -> None:
        self.report = report
        self.http_status = report.status
        self.transient = report.transient
        super().__init__(report.message, field=report.fields.get("field"), code=report.code)

    def report_fields(self) -> dict[str, Any]:
        return {"field": None, **self.report.fields}


def http_error_for(exc: Exception) -> HttpError:
    """The HttpError to answer ``exc`` with, from ``errors.describe`` (internals never reach the body)."""
    if isinstance(exc, HttpError):
        return exc
    if isinstance(exc, InvalidInput) and type(exc) is InvalidInput:
        return BadRequest.from_invalid(exc)
    return ReportedError(describe(exc))


def error_body(report: ErrorReport, request_id: str | None = None) -> dict[str, Any]:
    """``{"error": {"code", "message", "field", ...fields, "request_id"}}`` of a report."""
    return error_body_of(report.to_dict(), request_id)


def error_body_of(error: Mapping[str, Any], request_id: str | None = None) -> dict[str, Any]:
    """An error object (``ErrorReport.to_dict()``, as outcomes carry it) as the API answers it:
    ``field`` always present, ``request_id`` naming this API call (CI's own id, when CI failed,
    is ``ci_request_id``)."""
    shown: dict[str, Any] = {"field": None, **error}
    shown.pop("request_id", None)
    if request_id:
        shown["request_id"] = request_id
    return {"error": shown}


def error_response(exc: BaseException, request_id: str | None = None) -> HttpResponse:
    """The answer to ``exc``: status and body from ``errors.describe``, an HttpError's headers."""
    headers = dict(exc.headers) if isinstance(exc, HttpError) else {}
    report = describe(exc)
    return HttpResponse(report.status, error_body(report, request_id), headers)


# Parsing events -----------------------------------------------------------------------------


def parse_http_event(event: object, context: Mapping[str, Any] | None = None) -> HttpRequest:
    """Read a Function URL or API Gateway event into an HttpRequest, or raise BadRequest."""
    from ciqueue.envelopes import apigw, function_url
    from ciqueue.envelopes.detect import detect_source

    source = detect_source(event)
    if source == "apigw":
        request = apigw.parse_request(event)
    elif source == "function_url":
        request = function_url.parse_request(event)
    else:
        raise BadRequest("event", f"must be a Function URL or API Gateway event (got {source})")
    if request.request_id is None and context is not None and isinstance(context.get("request_id"), str):
        request = _with_request_id(request, context["request_id"])
    return request


def build_request(
    *,
    source: str,
    method: str,
    path: str,
    query: Mapping[str, Any] | None,
    headers: Mapping[str, Any] | None,
    body: str | None,
    is_base64: bool,
    source_ip: str | None,
    request_id: str | None,
    cam_identity: str | None = None,
) -> HttpRequest:
    """Normalise the parts of an HTTP event: upper-case method, lower-case headers, bytes body."""
    norm_headers = {str(k).lower(): _text(v) for k, v in (headers or {}).items()}
    raw = body or ""
    if is_base64:
        try:
            data = base64.b64decode(raw, validate=True)
        except ValueError:
            raise BadRequest("body", "must be base64 (isBase64Encoded is true)") from None
    else:
        data = raw.encode("utf-8")
    if len(data) > MAX_API_BODY_BYTES:
        raise PayloadTooLarge("body", MAX_API_BODY_BYTES, len(data))
    return HttpRequest(
        method=method.upper(),
        path=path or "/",
        query={str(k): _text(v) for k, v in (query or {}).items()},
        headers=norm_headers,
        body=data,
        source_ip=source_ip or norm_headers.get("x-scf-remote-addr"),
        request_id=request_id or norm_headers.get("x-scf-request-id"),
        source=source,
        cam_identity=cam_identity,
    )


def _text(value: Any) -> str:
    """A query/header value as text; a repeated key (a list) keeps its last value."""
    if isinstance(value, list):
        value = value[-1] if value else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _with_request_id(request: HttpRequest, request_id: str) -> HttpRequest:
    from dataclasses import replace

    return replace(request, request_id=request_id)


# Routing ------------------------------------------------------------------------------------

Handler = Callable[..., Any]
_PARAM_RE = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    regex: re.Pattern[str]
    handler: Handler


class Router:
    """Method + path pattern (``/queues/{bucket}/{region}/{kind}/{queue_id}/pause``) -> handler.

    A segment ``{name}`` matches one non-empty path segment, passed percent-decoded as a keyword
    argument. No path match answers 404; a path match with another method answers 405.
    """

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        method = method.upper()
        if any(r.method == method and r.pattern == pattern for r in self.routes):
            raise ValueError(f"route {method} {pattern} is already registered")
        self.routes.append(Route(method, pattern, _compile(pattern), handler))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Decorator form of ``add``."""

        def register(handler: Handler) -> Handler:
            self.add(method, pattern, handler)
            return handler

        return register

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route and path parameters for a call; NotFound or MethodNotAllowed otherwise."""
        path = _normal_path(path)
        allowed = []
        for route in self.routes:
            found = route.regex.match(path)
            if found is None:
                continue
            if route.method == method.upper():
                return route, {k: unquote(v) for k, v in found.groupdict().items()}
            allowed.append(route.method)
        if allowed:
            raise MethodNotAllowed(method.upper(), allowed)
        raise NotFound(f"no route for {path}", field="path")

    def dispatch(self, request: HttpRequest) -> HttpResponse:
        """Call the matching handler; every exception becomes an error response."""
        try:
            route, params = self.match(request.method, request.path)
            return _to_response(route.handler(request, **params))
        except Exception as exc:
            if not describe(exc).expected:
                logger.exception("unhandled error for %s %s", request.method, request.path)
            return error_response(exc, request.request_id)


def _compile(pattern: str) -> re.Pattern[str]:
    if not pattern.startswith("/"):
        raise ValueError(f"route pattern must start with / (got {pattern!r})")
    parts = []
    for segment in _normal_path(pattern).split("/")[1:]:
        param = _PARAM_RE.match(segment)
        parts.append(f"(?P<{param.group(1)}>[^/]+)" if param else re.escape(segment))
    return re.compile("^/" + "/".join(parts) + "$")


def _normal_path(path: str) -> str:
    path = path or "/"
    return path.rstrip("/") or "/"


def _to_response(result: Any) -> HttpResponse:
    if isinstance(result, HttpResponse):
        return result
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], int):
        return HttpResponse(result[1], result[0])
    return HttpResponse(200, result)

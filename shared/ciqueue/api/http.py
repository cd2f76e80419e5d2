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
from typing import Any
from urllib.parse import unquote

from ciqueue.envelopes.http import HttpRequest
from ciqueue.errors import (
    CiQueueError,
    ErrorReport,
    InvalidInput,
    Problem,
    describe,
)
from ciqueue.records import dataclass, field

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json"
BEARER_CHALLENGE = 'Bearer realm="ciqueue"'


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

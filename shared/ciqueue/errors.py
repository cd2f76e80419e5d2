"""Exceptions and the error model: what every door (HTTP API, executor, reconcile, automation,
retries, the four handlers) says about a failure is read from the exception's class, here, once.

Rules:
- Each class carries ``http_status`` (what a remote caller is answered), ``code`` (a stable name;
  a class's own name unless it sets one) and ``transient`` (a later attempt of the same work may
  succeed, so a retry or a redelivery is worth it). ``describe(exc)`` turns ANY exception into an
  ``ErrorReport``; no door decides a status, a code or "transient?" on its own.
- Messages are safe to show: built from field names, rules, CI codes and request ids, never a
  secret. An exception ciqueue did not raise on purpose is reported as ``500 InternalError`` with
  the message "internal error" (its text may quote data; the door logs it with its trace).
- The verdicts (status, code, transient) and why:

  - InvalidInput 400 InvalidInput, no: the caller's input; retrying cannot fix it.
  - CredentialsMissing 500 CredentialsMissing, no: the function runs without a role or keys. That
    is the deployment's fault, never the caller's, on every route; only an operator can fix it.
  - QueueNotFound 404, no: the id names no queue.
  - ConflictError 409 Conflict, no: someone else changed the queue between our write and our
    verifying read; a blind retry could overwrite their change (never clobber).
  - UnverifiedWrite, the status and "transient?" of the read that failed (502 or 504, yes for a
    5xx, throttling, no answer or the deadline): our PUT was answered with success, then the
    read that verifies it failed. What is known is said: ``written`` true, ``verified`` false,
    the fields written and the failed read's code under ``cause``. A retry is safe: the next
    attempt reads first and writes only what is still missing.
  - StateConflict 409, yes: our own state write lost a race with another invocation; the
    update re-applies cleanly on the fresh document.
  - StateCorrupt 500, no: the state document needs a person.
  - ServiceError 502 with CI's Code, transient for CI 5xx, 429 or a throttling code
    (``transient_answer``). Always 502, CI's status never passed through: a CI 403, 404 or 400
    is about OUR request or role, and passed through it would blame the caller or look like an
    unknown route. CI's status, Code and RequestId are in the fields.
  - CloudApiError 502 with the API's Code: a Tencent Cloud API 3.0 service (SCF's Invoke, for
    fan-out) answered ``Response.Error``. Transient for the throttling and InternalError
    families (``transient_answer``), never for AuthFailure, InvalidParameter, ResourceNotFound,
    UnauthorizedOperation...: those are about our role or request, not the caller's.
  - MalformedResponse 502, no: a complete answer we cannot read (CI changed its format, a proxy
    rewrote it); the same request gets the same bytes. The next tick tries anyway, while a
    redelivery would only hammer CI. (A cut-off body is a TransportError.)
  - TransportError 502, yes: no answer at all (reset, refused, timed out).
  - DeadlineExceeded 504, yes: our time ran out; a new invocation has more.
  - PayloadTooLarge 413, no: a body over its limit, refused unread.
  - anything else 500 InternalError, no: a bug. A ConnectionError or TimeoutError raised raw
    counts as a TransportError (502, yes).

  "Transient" is judged once; ``ci.retry.is_retryable`` reads it (and only adds that a
  DeadlineExceeded is never retried under the deadline that ran out).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ciqueue.constants import RETRYABLE_STATUSES, SERVER_ERROR_CODES, THROTTLING_CODES, THROTTLING_STATUSES
from ciqueue.records import dataclass
from ciqueue.records import field as dataclass_field

INTERNAL_ERROR_CODE = "InternalError"
INTERNAL_ERROR_MESSAGE = "internal error"


class CiQueueError(Exception):
    """Base class of every error ciqueue raises on purpose: a 500, not transient, unless a
    subclass says otherwise. ``code`` defaults to the subclass's own name."""

    http_status: int = 500
    code: str = "CiQueueError"
    transient: bool = False
    written: bool = False  # a write to CI was answered with success before this failure

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            cls.code = cls.__name__

    def report_message(self) -> str:
        """The message a report carries (safe to show by this module's rule)."""
        return str(self)

    def report_fields(self) -> dict[str, Any]:
        """What else a report carries: the field concerned, request ids, CI's own status."""
        return {}

    def report_expected(self) -> bool:
        """False when the failure behind this one was not raised on purpose (log its trace)."""
        return True


@dataclass(frozen=True)
class ErrorReport:
    """One failure as every door tells it: HTTP ``status``, ``code``, ``message``, whether it is
    ``transient`` and the extra ``fields`` (``field``, ``problems``, ``request_id``, ...).
    ``expected`` is False for an exception ciqueue did not raise on purpose (log it with a trace);
    ``written`` is True when a write to CI landed before the failure (``UnverifiedWrite``)."""

    status: int
    code: str
    message: str
    transient: bool
    fields: Mapping[str, Any] = dataclass_field(default_factory=dict)
    expected: bool = True
    written: bool = False

    def to_dict(self) -> dict[str, Any]:
        """``{"code", "message", **fields}``: the error object of an outcome, record or answer."""
        return {"code": self.code, "message": self.message, **self.fields}


def describe(exc: BaseException) -> ErrorReport:
    """The one verdict on ``exc``: status, code, message, transient, fields (see the table above)."""
    if isinstance(exc, CiQueueError):
        return ErrorReport(
            exc.http_status,
            exc.code,
            exc.report_message(),
            bool(exc.transient),
            exc.report_fields(),
            expected=exc.report_expected(),
            written=bool(exc.written),
        )
    if isinstance(exc, (ConnectionError, TimeoutError)):
        # Raised raw (not wrapped by the client): no answer came, exactly like TransportError.
        message = f"{type(exc).__name__} (no answer)"
        return ErrorReport(TransportError.http_status, TransportError.code, message, TransportError.transient)
    return ErrorReport(500, INTERNAL_ERROR_CODE, INTERNAL_ERROR_MESSAGE, False, {}, expected=False)


def transient_answer(status: int | None, code: str | None) -> bool:
    """Whether an error answer may pass on its own: 5xx, 429, or a throttling code whatever its
    status (constants.THROTTLING_CODES); never another 4xx. A dotted Tencent Cloud API code is
    judged by its family too (``RequestLimitExceeded.UinLimitExceeded``), and the family of the
    service's own failure (constants.SERVER_ERROR_CODES: ``InternalError``) is transient."""
    if throttling_answer(None, code) or (code is not None and _family(code) in SERVER_ERROR_CODES):
        return True
    return status is not None and status in RETRYABLE_STATUSES


def throttling_answer(status: int | None, code: str | None) -> bool:
    """Whether an error answer asks us to slow down rather than failing on its own: a throttling
    code (constants.THROTTLING_CODES, or its family for a dotted code) or a throttling status
    (constants.THROTTLING_STATUSES: 429, 503). A rate limiter slows a whole bucket down for it."""
    if code is not None and (code in THROTTLING_CODES or _family(code) in THROTTLING_CODES):
        return True
    return status is not None and status in THROTTLING_STATUSES


def _family(code: str) -> str:
    """``RequestLimitExceeded`` of ``RequestLimitExceeded.UinLimitExceeded``: a dotted code's family."""
    return code.split(".", 1)[0]


@dataclass(frozen=True)
class Problem:
    """One broken rule: the field path (e.g. ``NotifyConfig.Url``) and the rule it breaks."""

    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


_PLAIN_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def key_path(parent: str, key: object) -> str:
    """The field path of ``key`` under ``parent``: ``parent.key``, or ``parent['…']`` (shortened)
    when the key is empty, long or not a plain name, so a field is never blank or a flood."""
    text = str(key)
    if _PLAIN_KEY_RE.match(text):
        return f"{parent}.{text}" if parent else text
    shown = text if len(text) <= 32 else text[:32] + "…"
    return f"{parent}[{shown!r}]"


class InvalidInput(CiQueueError):
    """Bad input from a user: arguments, config, events, HTTP bodies. Nothing was changed."""

    http_status = 400

    def __init__(self, problems: list[Problem] | Problem | str, rule: str | None = None) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems, rule or "is invalid")]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))

    @property
    def field(self) -> str:
        return self.problems[0].field

    @property
    def rule(self) -> str:
        return self.problems[0].rule

    def report_fields(self) -> dict[str, Any]:
        return {"field": self.field, "problems": [{"field": p.field, "rule": p.rule} for p in self.problems]}


class CredentialsMissing(InvalidInput):
    """No credentials were given and the environment holds none.

    Still an InvalidInput to a library caller (the argument and the environment are its input),
    but reported as 500: to anyone calling a deployed function it is the deployment's fault.
    """

    http_status = 500


class PayloadTooLarge(CiQueueError):
    """A body over its limit; refused before it is read."""

    http_status = 413

    def __init__(self, what: str, limit: int, size: int) -> None:
        self.what = what
        self.limit = limit
        self.size = size
        super().__init__(f"the {what} must be at most {limit} bytes (got {size})")

    def report_fields(self) -> dict[str, Any]:
        return {"field": self.what, "limit": self.limit}


class MalformedResponse(CiQueueError):
    """The service (or something in between) answered with a body we cannot read."""

    http_status = 502

    def __init__(self, what: str, status: int | None = None, request_id: str | None = None) -> None:
        self.status = status
        self.request_id = request_id
        extra = f" (HTTP {status}, RequestId: {request_id or '-'})" if status is not None else ""
        super().__init__(f"malformed response: {what}{extra}")

    def report_fields(self) -> dict[str, Any]:
        return _ci_fields(self.request_id, ci_status=self.status)


class ServiceError(CiQueueError):
    """CI answered with an error body: HTTP status, Code, Message and RequestId.

    ``code`` is CI's Code; ``transient`` is computed from CI's status and code
    (``transient_answer``); the HTTP status we answer with is always 502 (see the module table).
    """

    http_status = 502

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        request_id: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.trace_id = trace_id
        self.transient = transient_answer(status, code)
        super().__init__(f"{code} (HTTP {status}): {message} [RequestId: {request_id or '-'}]")

    @property
    def retryable(self) -> bool:
        """The same as ``transient`` (the older name)."""
        return self.transient

    def report_fields(self) -> dict[str, Any]:
        return {"http_status": self.status, "ci_code": self.code, **_ci_fields(self.request_id)}


class CloudApiError(CiQueueError):
    """A Tencent Cloud API 3.0 service answered ``Response.Error``: Code, Message, RequestId.

    Used for SCF's Invoke API (fan-out). ``code`` is the API's Code; ``transient`` is computed
    from it (``transient_answer``; these answers carry no HTTP error status); the HTTP status we
    answer with is 502, as for ServiceError. The API's Message is kept to ``MAX_MESSAGE`` chars.
    """

    http_status = 502
    MAX_MESSAGE = 300

    def __init__(self, service: str, code: str, message: str, request_id: str | None = None) -> None:
        self.service = service
        self.code = code
        self.message = message[: self.MAX_MESSAGE]
        self.request_id = request_id
        self.transient = transient_answer(None, code)
        super().__init__(f"{service} {code}: {self.message} [RequestId: {request_id or '-'}]")

    def report_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"service": self.service, "api_code": self.code}
        if self.request_id:
            fields["api_request_id"] = self.request_id
        return fields


class QueueNotFound(CiQueueError):
    """The queue id is not in the bucket (CI listed it in NonExistPIDs or returned no queue)."""

    http_status = 404

    def __init__(self, queue_id: str, request_id: str | None = None) -> None:
        self.queue_id = queue_id
        self.request_id = request_id
        super().__init__(f"QueueNotFound: queue {queue_id} does not exist [RequestId: {request_id or '-'}]")

    def report_fields(self) -> dict[str, Any]:
        return {"field": "queue_id", "queue_id": self.queue_id, **_ci_fields(self.request_id)}


class TransportError(CiQueueError):
    """The request never got an HTTP answer (connection refused, reset, timed out)."""

    http_status = 502
    transient = True


class DeadlineExceeded(CiQueueError):
    """The caller's deadline (e.g. the function's remaining time) ran out before success."""

    http_status = 504
    transient = True


class ConflictError(CiQueueError):
    """The queue changed under us between our read and our verification read."""

    http_status = 409
    code = "Conflict"

    def __init__(self, queue_id: str, detail: str, request_id: str | None = None) -> None:
        self.queue_id = queue_id
        self.detail = detail
        self.request_id = request_id
        super().__init__(f"Conflict: queue {queue_id} changed concurrently: {detail}")

    def report_fields(self) -> dict[str, Any]:
        return {"queue_id": self.queue_id, **_ci_fields(self.request_id)}


class UnverifiedWrite(CiQueueError):
    """Our PUT was answered with success, then the read that verifies it failed: the queue is
    written, not verified.

    ``diff`` is what was written (``[{"field", "before", "after"}]``, worded in ``summary``),
    ``request_ids`` the read's and the PUT's, ``cause`` the failure of the verifying read. The
    status and ``transient`` are the cause's (see the module table); the code is its own.
    """

    written = True

    def __init__(
        self,
        queue_id: str,
        action: str,
        cause: BaseException,
        diff: list[dict[str, Any]],
        request_ids: list[str],
        summary: str,
    ) -> None:
        self.queue_id = queue_id
        self.action = action
        self.cause = cause
        self.diff = list(diff)
        self.request_ids = list(request_ids)
        self.cause_report = describe(cause)
        self.http_status = self.cause_report.status
        self.transient = self.cause_report.transient
        # The PUT's RequestId: what CI support needs to confirm the write.
        self.request_id = self.request_ids[-1] if self.request_ids and self.request_ids[-1] else None
        super().__init__(
            f"queue {queue_id}: {action} written ({summary}) but not verified: {self.cause_report.message}"
        )

    def report_fields(self) -> dict[str, Any]:
        return {
            "queue_id": self.queue_id,
            "written": True,
            "verified": False,
            "diff": [dict(change) for change in self.diff],
            "request_ids": [i for i in self.request_ids if i],
            "cause": self.cause_report.to_dict(),
            **_ci_fields(self.request_id),
        }

    def report_expected(self) -> bool:
        return self.cause_report.expected


class PackagingError(CiQueueError):
    """Building a deployment zip failed (e.g. pip could not fetch a wheel for the SCF platform)."""


class StateConflict(CiQueueError):
    """The state document changed between our read and our conditional write (someone else wrote)."""

    http_status = 409
    transient = True


class StateCorrupt(CiQueueError):
    """The stored state document cannot be read (not JSON, or a field breaks its rule)."""


def _ci_fields(request_id: str | None, *, ci_status: int | None = None) -> dict[str, Any]:
    """CI's RequestId under both names the doors use: ``request_id`` (reports, audit lines) and
    ``ci_request_id`` (the HTTP API, whose own ``request_id`` names the API call)."""
    fields: dict[str, Any] = {}
    if ci_status is not None:
        fields["http_status"] = ci_status
    if request_id:
        fields["request_id"] = request_id
        fields["ci_request_id"] = request_id
    return fields

"""Exceptions: one class per kind of failure, each with a message safe to show a user.

No exception text ever carries a secret: messages are built from field names, rules, CI
codes and request ids only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ciqueue.constants import RETRYABLE_STATUSES, THROTTLING_CODES


class CiQueueError(Exception):
    """Base class of every error ciqueue raises on purpose."""


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


class MalformedResponse(CiQueueError):
    """The service (or something in between) answered with a body we cannot read."""

    def __init__(self, what: str, status: int | None = None, request_id: str | None = None) -> None:
        self.status = status
        self.request_id = request_id
        extra = f" (HTTP {status}, RequestId: {request_id or '-'})" if status is not None else ""
        super().__init__(f"malformed response: {what}{extra}")


class ServiceError(CiQueueError):
    """CI answered with an error body: HTTP status, Code, Message and RequestId."""

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
        super().__init__(f"{code} (HTTP {status}): {message} [RequestId: {request_id or '-'}]")

    @property
    def retryable(self) -> bool:
        """5xx, 429 or a throttling code: the same call may succeed later."""
        return self.status in RETRYABLE_STATUSES or self.code in THROTTLING_CODES


class QueueNotFound(CiQueueError):
    """The queue id is not in the bucket (CI listed it in NonExistPIDs or returned no queue)."""

    code = "QueueNotFound"

    def __init__(self, queue_id: str, request_id: str | None = None) -> None:
        self.queue_id = queue_id
        self.request_id = request_id
        super().__init__(f"QueueNotFound: queue {queue_id} does not exist [RequestId: {request_id or '-'}]")


class TransportError(CiQueueError):
    """The request never got an HTTP answer (connection refused, reset, timed out)."""


class DeadlineExceeded(CiQueueError):
    """The caller's deadline (e.g. the function's remaining time) ran out before success."""


class ConflictError(CiQueueError):
    """The queue changed under us between our read and our verification read."""

    code = "Conflict"

    def __init__(self, queue_id: str, detail: str, request_id: str | None = None) -> None:
        self.queue_id = queue_id
        self.detail = detail
        self.request_id = request_id
        super().__init__(f"Conflict: queue {queue_id} changed concurrently: {detail}")


class CredentialsMissing(InvalidInput):
    """No credentials were given and the environment holds none."""


class PackagingError(CiQueueError):
    """Building a deployment zip failed (e.g. pip could not fetch a wheel for the SCF platform)."""


class StateConflict(CiQueueError):
    """The state document changed between our read and our conditional write (someone else wrote)."""

    code = "StateConflict"


class StateCorrupt(CiQueueError):
    """The stored state document cannot be read (not JSON, or a field breaks its rule)."""

    code = "StateCorrupt"

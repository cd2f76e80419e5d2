"""Event automation: an SCF trigger event (CMQ, CKafka, CLS, COS, timer) -> commands -> outcomes.

Each record is judged and carried out on its own, so a bad record never blocks the others. Bad
input is final (retrying cannot fix it); a record that failed for a passing reason (CI answered
5xx, the network or the deadline failed) makes ``AutomationReport.retry`` true, and the handler
then raises so that SCF delivers the event again. What is bad input and what is passing is
``errors.describe``'s verdict (the record's ``status`` and ``retryable``), never this module's.
Redelivery is safe: operations write nothing when a queue is already as asked, and an override
is keyed by the command's ``id`` (or, without one, by the record's id, which the trigger keeps
across deliveries), so it is stored once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ciqueue.app.commands import Command, parse_command
from ciqueue.errors import CiQueueError, InvalidInput, ServiceError, describe
from ciqueue.limits import MAX_COMMAND_BYTES
from ciqueue.records import dataclass, field

if TYPE_CHECKING:
    from ciqueue.app.runtime import Runtime
    from ciqueue.ci.retry import Deadline
    from ciqueue.envelopes.base import Record

log = logging.getLogger("ciqueue.automation")

_DERIVED_ID_PREFIX = "evt-"
# COS reads a session token from this header (CI hosts use x-ci-security-token).
COS_SECURITY_TOKEN = "x-cos-security-token"


@dataclass
class RecordResult:
    """What became of one record."""

    record_id: str
    ok: bool
    status: int
    error: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None
    retryable: bool = False  # failed for a passing reason: a redelivery may succeed

    @property
    def transient(self) -> bool:
        return not self.ok and self.retryable

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"record_id": self.record_id, "ok": self.ok, "status": self.status}
        if not self.ok:
            out["retryable"] = self.retryable
        if self.error is not None:
            out["error"] = self.error
        if self.outcome is not None:
            out["outcome"] = self.outcome
        return out


@dataclass
class AutomationReport:
    """The per-record results of one event."""

    source: str
    results: list[RecordResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def retry(self) -> bool:
        """True when a record failed transiently: the handler should raise for a redelivery."""
        return any(r.transient for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ok": self.ok,
            "retry": self.retry,
            "records": len(self.results),
            "failed": sum(1 for r in self.results if not r.ok),
            "results": [r.to_dict() for r in self.results],
        }


class RetryDelivery(CiQueueError):
    """Raised by the handler when some records failed transiently (SCF then retries the event)."""

    def __init__(self, report: AutomationReport) -> None:
        self.report = report
        failed = [r.record_id for r in report.results if r.transient]
        super().__init__(
            f"{len(failed)} of {len(report.results)} record(s) failed transiently "
            f"(first: {failed[0] if failed else '-'}); asking for a redelivery"
        )


def process_event(
    event: object,
    runtime: Runtime,
    *,
    context: Mapping[str, Any] | Any | None = None,
    now: datetime | None = None,
) -> AutomationReport:
    """Carry out every command the event holds; never raises for bad input or failed records."""
    from ciqueue.app.runtime import deadline_from_context
    from ciqueue.envelopes.detect import detect_source, records_for

    deadline = deadline_from_context(context)
    try:
        source, records = records_for(event)
    except InvalidInput as exc:
        report = AutomationReport(detect_source(event))
        report.results.append(failure_result("event", exc))
        return report
    report = AutomationReport(source)
    for record in records:
        report.results.append(process_record(record, runtime, deadline=deadline, now=now, context=context))
    return report


def process_record(
    record: Record,
    runtime: Runtime,
    *,
    deadline: Deadline | None = None,
    now: datetime | None = None,
    context: Any = None,
) -> RecordResult:
    """One record: judge it, fetch its command if it lives in COS, execute it."""
    from ciqueue.app import executor

    if record.error is not None:
        return failure_result(record.record_id, record.error)
    try:
        payload: Any = (
            fetch_command_object(record, runtime, deadline) if record.needs_fetch else record.payload
        )
        if payload is None:
            raise InvalidInput(record.field, "holds no command")
        command = parse_command(payload, record.field, allow_private=runtime.allow_private)
        outcome = executor.execute(
            command,
            runtime,
            actor=f"event:{record.source}",
            now=now,
            deadline=deadline,
            idempotency_key=idempotency_key(command, record),
            context=context,
        )
    except Exception as exc:  # bad input (400) included: errors.describe tells them all
        return failure_result(record.record_id, exc)
    return RecordResult(
        record.record_id,
        outcome.ok,
        outcome.status,
        error=outcome.error if not outcome.ok else None,
        outcome=outcome.to_dict(),
        retryable=outcome.retryable,
    )


def idempotency_key(command: Command, record: Record) -> str:
    """The command's ``id``, else one derived from the record id (the same on every delivery)."""
    if command.id is not None:
        return command.id
    digest = hashlib.sha256(f"{record.source}\n{record.record_id}".encode()).hexdigest()[:24]
    return _DERIVED_ID_PREFIX + digest


def fetch_command_object(record: Record, runtime: Runtime, deadline: Deadline | None) -> bytes:
    """GET the COS object a record names (at most MAX_COMMAND_BYTES); its body."""
    from ciqueue.ci.client import CIClient

    meta = record.meta
    bucket, region, key = str(meta["bucket"]), str(meta["region"]), str(meta["key"])
    params = {"versionId": str(meta["version_id"])} if meta.get("version_id") else None
    # CIClient signs COS requests the same way; it is aimed at the COS host instead of CI's.
    client = CIClient(bucket, region, runtime.credentials, runtime.endpoint, **runtime.client_options)
    host = f"{client.bucket}.cos.{client.region}.myqcloud.com"
    if client.endpoint is None:
        client.base_url = f"https://{host}"
    token = client.credentials.token
    headers = {COS_SECURITY_TOKEN: token} if token else None
    try:
        response = client.request(
            "GET", "/" + key, params=params, headers=headers, deadline=deadline, host=host
        )
    except ServiceError as exc:
        if exc.status == 404:
            rule = f"names no object in {bucket} ({exc.code}, RequestId: {exc.request_id or '-'})"
            raise InvalidInput(f"{record.field}.key", rule) from None
        raise
    body = response.content
    if len(body) > MAX_COMMAND_BYTES:
        rule = f"must be at most {MAX_COMMAND_BYTES} bytes (got {len(body)})"
        raise InvalidInput(f"{record.field}.size", rule)
    return body


def failure_result(record_id: str, exc: BaseException) -> RecordResult:
    """A record that failed outside the executor (judging it, fetching its COS object), told by
    ``errors.describe`` exactly as the executor tells its failures."""
    report = describe(exc)
    if not report.expected:
        log.error("unhandled %s for record %s", type(exc).__name__, record_id, exc_info=exc)
    return RecordResult(record_id, False, report.status, error=report.to_dict(), retryable=report.transient)

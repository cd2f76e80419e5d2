"""Carry out one parsed command (HTTP API, timer Message, event payload) and say how it went.

Order of work: judge everything first (expiry, callback, every queue exists), then write the
override (if any), then change the queues. A validation failure therefore changes nothing.

- ``pause`` / ``resume`` with ``until`` or ``for`` create an override (id ``o-<12 hex>``) that pins
  the queue's State until it expires, even against an open window; the change is applied at once.
- ``"until": "cancelled"`` creates an override with no end: it pins the queue until cancelled.
- Without ``until``/``for`` they are a one-off change: the scheduler treats it like a change by
  hand and respects it until the schedule's next edge (an enforced window re-pauses at once).
- ``set_callback`` changes NotifyConfig only (a rotation may switch it at its next edge).
- ``cancel_override`` removes the override and reconciles that queue against the schedule.
- ``reconcile`` runs the scheduler tick (only the named queues when ``queues`` is given).

History: what a command changed (or failed to change) joins the state document's recent changes
(``state.document.record_changes``) in one state update per command, after its queues: an
override command's overrides and their ``override.created`` entries are one write before the
queues change (so the pin holds even if a change fails), its per-queue results one write after;
a cancel removes the override and records it in one write. Dry runs record nothing.

A failure's status, code and "retryable" are ``errors.describe``'s verdict, never decided here.
A queue whose write landed but could not be verified (``UnverifiedWrite``) is reported as such:
its result says ``changed``/``written`` true and ``verified`` false, never a bare failure.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from ciqueue.app.commands import Command, QueueRef, resolve_expiry
from ciqueue.ci.kinds import QueueKind
from ciqueue.constants import CALLBACK_FIELD_ELEMENTS
from ciqueue.errors import (
    CiQueueError,
    InvalidInput,
    Problem,
    QueueNotFound,
    describe,
)
from ciqueue.records import dataclass, field, replace

if TYPE_CHECKING:
    from ciqueue.app.runtime import Runtime
    from ciqueue.ci.models import NotifyConfig
    from ciqueue.ci.operations import OperationResult
    from ciqueue.ci.retry import Deadline
    from ciqueue.state.document import OverrideRecord

log = logging.getLogger("ciqueue.executor")

# NotifyConfig element -> the command's callback field, for error paths a caller recognises.
_CALLBACK_FIELDS = {element: name for name, element in CALLBACK_FIELD_ELEMENTS.items()}


class NothingMatched(CiQueueError):
    """A target group's name pattern matches no queue."""

    http_status = 404
    code = "NoQueueMatched"

    def report_fields(self) -> dict[str, Any]:
        return {"field": "target"}


class OverrideNotFound(CiQueueError):
    """No override has the id given."""

    http_status = 404

    def report_fields(self) -> dict[str, Any]:
        return {"field": "override_id"}


@dataclass
class CommandOutcome:
    """How a command went: HTTP-style ``status``, per-queue ``results``, the override, the error."""

    ok: bool
    status: int
    action: str
    results: list[dict[str, Any]] = field(default_factory=list)
    override: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    dry_run: bool = False
    report: dict[str, Any] | None = None
    retryable: bool = False  # the failure may pass on its own (throttling, 5xx, network, deadline)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": self.ok,
            "status": self.status,
            "action": self.action,
            "dry_run": self.dry_run,
            "results": list(self.results),
            "override": self.override,
            "error": self.error,
            "retryable": self.retryable,
        }
        if self.report is not None:
            data["report"] = self.report
        return data


def error_body(exc: BaseException) -> dict[str, Any]:
    """``{"code", "message", "field"?, "problems"?, "request_id"?, "http_status"?}`` (errors.describe)."""
    return describe(exc).to_dict()


def failed_result(queue: str, exc: BaseException) -> dict[str, Any]:
    """A queue's result when its operation failed: ``{"queue", "error"}``; when the write landed
    before the failure (an UnverifiedWrite) also ``changed``/``written`` true, ``verified`` false
    and the ``diff`` written, so no caller reads "failed" as "nothing changed"."""
    report = describe(exc)
    result: dict[str, Any] = {"queue": queue}
    if report.written:
        result.update(changed=True, written=True, verified=False, diff=list(report.fields.get("diff") or []))
    result["error"] = report.to_dict()
    return result


def execute(
    command: Command,
    runtime: Runtime,
    *,
    actor: str,
    now: datetime | None = None,
    deadline: Deadline | None = None,
    dry_run: bool = False,
    idempotency_key: str | None = None,
    context: Any = None,
) -> CommandOutcome:
    """Run ``command``; never raises for a failure it can describe (see CommandOutcome.status).

    ``idempotency_key`` (default: ``command.id``) makes a retried delivery reuse the same
    override ids instead of adding new ones.
    """
    try:
        call = _Call(
            command, runtime, now or runtime.clock(), deadline, dry_run, actor, idempotency_key, context
        )
        if command.action == "reconcile":
            return _reconcile(call)
        if command.action == "cancel_override":
            return _cancel(call)
        return _change(call)
    except Exception as exc:
        return failure(command.action, exc, dry_run=dry_run)


@dataclass(frozen=True)
class _Call:
    """One execution of a command: the arguments every step of ``execute`` needs."""

    command: Command
    runtime: Runtime
    now: datetime
    deadline: Deadline | None
    dry_run: bool
    actor: str
    idempotency_key: str | None
    context: Any


def failure(action: str, exc: BaseException, *, dry_run: bool = False) -> CommandOutcome:
    """The outcome of a command that failed as a whole: status, error and retryable from
    ``errors.describe`` (an unexpected exception is logged with its trace, answered plainly)."""
    report = describe(exc)
    if not report.expected:
        log.error("unhandled %s running %s", type(exc).__name__, action, exc_info=exc)
    return CommandOutcome(
        ok=False,
        status=report.status,
        action=action,
        error=report.to_dict(),
        dry_run=dry_run,
        retryable=report.transient,
    )


# --- pause / resume / set_callback ----------------------------------------------------------------


def _change(call: _Call) -> CommandOutcome:
    expires = resolve_expiry(call.command, call.now) if call.command.action in ("pause", "resume") else None
    notify = _notify(call.command, call.runtime) if call.command.action == "set_callback" else None
    refs = resolve_queues(call.command, call.runtime, call.deadline)
    if notify is not None:
        _check_callback_kinds(notify, refs, call.runtime)

    override: dict[str, Any] | None = None
    if expires is not None or call.command.until_cancelled:
        state = "Paused" if call.command.action == "pause" else "Active"
        records = _override_records(
            call.command, refs, state, call.now, expires, call.actor, call.idempotency_key
        )
        if not call.dry_run:
            records = _store_overrides(call.runtime, records, call.context, call.now)
        override = _override_summary(records)
        override["dry_run"] = call.dry_run

    def run(ref: QueueRef) -> OperationResult:
        from ciqueue.ci.operations import change_queue

        client = call.runtime.client_for(ref.bucket, ref.region)
        return change_queue(
            client,
            ref.kind,
            ref.queue_id,
            call.command.action,
            notify=notify,
            dry_run=call.dry_run,
            deadline=call.deadline,
            actor=call.actor,
        )

    outcomes = _run_all(call.runtime, refs, run)
    return _outcome(call, refs, outcomes, override)


def _notify(command: Command, runtime: Runtime) -> NotifyConfig:
    from ciqueue.ci.models import requested_notify_config

    assert command.callback is not None
    callback = command.callback
    try:
        return requested_notify_config(
            state=callback.state,
            type=callback.type,
            url=callback.url,
            event=callback.event,
            result_format=callback.format,
            mq_mode=callback.mq_mode,
            mq_region=callback.mq_region,
            mq_name=callback.mq_name,
            allow_private=runtime.allow_private,
        )
    except InvalidInput as exc:
        problems = [Problem(_callback_path(p.field), p.rule) for p in exc.problems]
        raise InvalidInput(problems) from None


def _check_callback_kinds(notify: NotifyConfig, refs: Sequence[QueueRef], runtime: Runtime) -> None:
    """The callback judged by what each kind it goes to takes, before any queue is written: the
    queues a target stands for are known only now (parse_command judged the ones it names)."""
    from ciqueue.ci.models import check_notify_config

    for kind in dict.fromkeys(ref.kind for ref in refs):
        try:
            check_notify_config(notify, kind=kind, allow_private=runtime.allow_private)
        except InvalidInput as exc:
            raise InvalidInput([Problem(_callback_path(p.field), p.rule) for p in exc.problems]) from None


def _callback_path(field_name: str) -> str:
    head, _, rest = field_name.partition(".")
    if head == "NotifyConfig" and rest in _CALLBACK_FIELDS:
        return f"callback.{_CALLBACK_FIELDS[rest]}"
    return "callback" if head == "NotifyConfig" else field_name


def resolve_queues(command: Command, runtime: Runtime, deadline: Deadline | None) -> list[QueueRef]:
    """The command's queues plus its target group's, each checked to exist (404 otherwise)."""
    refs: list[QueueRef] = []
    listed: set[str] = set()
    if command.target is not None:
        for ref in _target_queues(command.target, runtime, deadline):
            listed.add(ref.key())
            refs.append(ref)
    for ref in command.queues:
        if ref.key() not in {r.key() for r in refs}:
            refs.append(ref)
    unchecked: dict[tuple[str, str, str], list[QueueRef]] = {}
    for ref in refs:
        if ref.key() not in listed:
            unchecked.setdefault((ref.bucket, ref.region, ref.kind.value), []).append(ref)
    for (bucket, region, kind), group in unchecked.items():
        listing = runtime.client_for(bucket, region).list_queues(
            kind, queue_ids=[r.queue_id for r in group], deadline=deadline
        )
        found = {q.queue_id for q in listing.queues}
        for ref in group:
            if ref.queue_id in listing.missing or ref.queue_id not in found:
                request_id = listing.request_ids[-1] if listing.request_ids else None
                raise QueueNotFound(ref.queue_id, request_id)
    return refs


def _target_queues(name: str, runtime: Runtime, deadline: Deadline | None) -> list[QueueRef]:
    config = runtime.config
    if config is None:
        raise InvalidInput("target", "needs a schedule config (CIQUEUE_CONFIG) that defines target groups")
    target = config.targets.get(name)
    if target is None:
        defined = ", ".join(config.targets) or "none"
        raise InvalidInput("target", f"unknown target {name!r} (defined: {defined})")
    kind = QueueKind(target.kind)
    if target.queue_ids is not None:
        return [
            QueueRef(bucket=target.bucket, region=target.region, kind=kind, queue_id=queue_id)
            for queue_id in target.queue_ids
        ]
    category = "CateAll" if target.kind == "media" else None
    listing = runtime.client_for(target.bucket, target.region).list_queues(
        target.kind, deadline=deadline, category=category
    )
    pattern = target.name_pattern or ""
    refs = [
        QueueRef(bucket=target.bucket, region=target.region, kind=kind, queue_id=q.queue_id)
        for q in listing.queues
        if q.queue_id and fnmatchcase(q.name or "", pattern)
    ]
    if not refs:
        raise NothingMatched(
            f"target {name!r}: no {target.kind} queue in {target.bucket} matches {pattern!r}"
        )
    return refs


def _override_records(
    command: Command,
    refs: Sequence[QueueRef],
    state: str,
    now: datetime,
    expires: datetime | None,
    actor: str,
    idempotency_key: str | None,
) -> list[OverrideRecord]:
    from ciqueue.state.document import new_override

    key = idempotency_key or command.id
    records = []
    for ref in refs:
        if key:
            # The same delivery (SCF retries it) must name the same override, so it is stored once.
            digest = hashlib.sha256(f"{key}|{ref.key()}".encode()).hexdigest()[:12]
            override_id = f"o-{digest}"
        else:
            override_id = f"o-{secrets.token_hex(6)}"
        records.append(
            new_override(
                bucket=ref.bucket,
                region=ref.region,
                kind=ref.kind.value,
                queue_id=ref.queue_id,
                state=state,
                now=now,
                reason=command.reason,
                actor=actor[:128],
                expires_at=expires,
                override_id=override_id,
            )
        )
    return records


def _store_overrides(
    runtime: Runtime, records: list[OverrideRecord], context: Any, now: datetime
) -> list[OverrideRecord]:
    """Add the overrides and mark their State as carried out, in one state update; the records kept.

    Recording the pin as last applied means: when the override ends, the schedule's desired
    State differs from the last one carried out, so the scheduler converges the queue again
    instead of mistaking the override's State for a change by hand.

    A redelivery (same id) finds its override already stored and still running: that one is kept
    as it is, so a retry minutes or hours later neither extends nor renews it.
    """
    from ciqueue.app.audit import OVERRIDE_CREATED, audit, emit_record, history_entry
    from ciqueue.schedule.engine import LastApplied
    from ciqueue.state.document import LastAppliedRecord, add_override, record_applied, record_changes

    kept: list[OverrideRecord] = []
    reused: set[str] = set()
    lines: list[dict[str, Any]] = []

    def mutate(doc: Any) -> Any:
        kept.clear()
        reused.clear()
        lines.clear()
        for record in records:
            stored_override = doc.override(record.id)
            if (
                stored_override is not None
                and stored_override.active_at(now)
                and (stored_override.key, stored_override.state) == (record.key, record.state)
            ):
                kept.append(stored_override)
                reused.add(record.id)
                continue
            kept.append(record)
            doc = add_override(doc, record)
            stored = doc.last_applied.get(record.key)
            base = stored.to_engine() if stored is not None else LastApplied()
            pinned = LastApplied(
                desired_state=record.state,
                edge_at=record.created_at,
                source=record.id,
                callback_index=base.callback_index,
                callback_edge_at=base.callback_edge_at,
                callback_source=base.callback_source,
            )
            doc = record_applied(
                doc, record.key, LastAppliedRecord.from_engine(pinned, decided_at=record.created_at)
            )
            lines.append(
                audit(
                    OVERRIDE_CREATED,
                    actor=record.actor,
                    queue=record.key,
                    action="pause" if record.state == "Paused" else "resume",
                    reason=record.reason,
                    override_id=record.id,
                    expires_at=record.expires_at,
                    context=context,
                    emit=False,
                )
            )
        # The history learns of the new overrides in the same write that stores them.
        return record_changes(doc, [e for e in (history_entry(line, now) for line in lines) if e], now)

    runtime.state.update(mutate)
    for line in lines:  # a redelivery's reused overrides were created earlier: no line now
        emit_record(line)
    return kept


def _override_summary(records: Sequence[OverrideRecord]) -> dict[str, Any]:
    first = records[0]
    return {
        "id": first.id,
        "ids": [r.id for r in records],
        "state": first.state,
        "queues": [r.key for r in records],
        "created_at": first.created_at.isoformat(),
        "expires_at": first.expires_at.isoformat() if first.expires_at else None,
        "reason": first.reason,
        "actor": first.actor,
    }


def _run_all(runtime: Runtime, refs: Sequence[QueueRef], run: Any) -> list[tuple[QueueRef, Any]]:
    """``run(ref)`` for every queue on a bounded pool; each result or exception, in order."""

    def guarded(ref: QueueRef) -> Any:
        try:
            return run(ref)
        except Exception as exc:
            return exc

    workers = max(1, min(runtime.concurrency, len(refs)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ciqueue-command") as pool:
        return list(zip(refs, pool.map(guarded, refs), strict=True))


def _outcome(
    call: _Call,
    refs: Sequence[QueueRef],
    outcomes: list[tuple[QueueRef, Any]],
    override: dict[str, Any] | None,
) -> CommandOutcome:
    from ciqueue.app.audit import audit_failure, audit_operation

    results: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    first_error: BaseException | None = None
    for ref, outcome in outcomes:
        if isinstance(outcome, BaseException):
            first_error = first_error or outcome
            results.append(failed_result(ref.key(), outcome))
            line = audit_failure(
                outcome,
                actor=call.actor,
                queue=ref.key(),
                action=call.command.action,
                reason=call.command.reason,
                dry_run=call.dry_run,
                context=call.context,
            )
            lines.append(line)
            continue
        results.append({"queue": ref.key(), **outcome.to_dict()})
        lines.append(
            audit_operation(
                outcome, call.actor, call.command.reason, call.context, bucket=ref.bucket, region=ref.region
            )
        )
    if not call.dry_run:
        remember_changes(call.runtime, lines, call.now)
    if first_error is not None:
        errors = [o for _, o in outcomes if isinstance(o, BaseException)]
        report = describe(first_error)
        return CommandOutcome(
            ok=False,
            status=report.status,
            action=call.command.action,
            results=results,
            override=override,
            error=report.to_dict(),
            dry_run=call.dry_run,
            retryable=any(describe(e).transient for e in errors),
        )
    return CommandOutcome(
        ok=True,
        status=200,
        action=call.command.action,
        results=results,
        override=override,
        dry_run=call.dry_run,
    )


def remember_changes(runtime: Runtime, lines: Sequence[dict[str, Any]], now: datetime) -> bool:
    """The audit ``lines`` of one command added to the state's history in ONE update (not one per
    queue: fewer writes, fewer races); True when written. The queues are already as the lines say,
    so a store that cannot be written is logged, not turned into the command's failure."""
    from ciqueue.app.audit import history_entry
    from ciqueue.state.document import record_changes

    entries = [e for e in (history_entry(line, now) for line in lines) if e is not None]
    if not entries:
        return False
    try:
        runtime.state.update(lambda doc: record_changes(doc, entries, now))
    except Exception as exc:
        report = describe(exc)
        log.warning(
            "the history of %d change(s) was not stored: %s: %s", len(entries), report.code, report.message
        )
        return False
    return True


# --- cancel_override / reconcile ------------------------------------------------------------------


def _cancel(call: _Call) -> CommandOutcome:
    from ciqueue.state.document import cancel_override

    override_id = call.command.override_id or ""
    doc, _ = call.runtime.state.load()
    record = doc.override(override_id)
    if record is None:
        raise OverrideNotFound(f"override_id: no override has id {override_id!r}")
    summary = {**record.model_dump(mode="json"), "cancelled": not call.dry_run}
    if call.dry_run:
        return CommandOutcome(ok=True, status=200, action=call.command.action, override=summary, dry_run=True)
    from ciqueue.app.audit import OVERRIDE_CANCELLED, audit, emit_record, history_entry
    from ciqueue.state.document import record_changes

    line = audit(
        OVERRIDE_CANCELLED,
        actor=call.actor,
        queue=record.key,
        reason=call.command.reason,
        override_id=override_id,
        context=call.context,
        emit=False,
    )
    entry = history_entry(line, call.now)
    try:
        # The override goes and the history says so in one write.
        call.runtime.state.update(
            lambda d: record_changes(cancel_override(d, override_id), [entry] if entry else [], call.now)
        )
    except InvalidInput:  # cancelled by someone else in between
        raise OverrideNotFound(f"override_id: no override has id {override_id!r}") from None
    emit_record(line)
    if call.runtime.config is None:
        return CommandOutcome(ok=True, status=200, action=call.command.action, override=summary)
    outcome = _reconcile_queues(replace(call, dry_run=False), [record.key])
    outcome.override = summary
    return outcome


def _reconcile(call: _Call) -> CommandOutcome:
    keys = None
    if call.command.queues or call.command.target:
        keys = [ref.key() for ref in resolve_queues(call.command, call.runtime, call.deadline)]
    return _reconcile_queues(call, keys)


def _reconcile_queues(call: _Call, keys: list[str] | None) -> CommandOutcome:
    from ciqueue.app.reconcile import reconcile

    report = reconcile(
        call.runtime,
        now=call.now,
        deadline=call.deadline,
        queues=keys,
        dry_run=True if call.dry_run else None,
        actor=call.actor,
        context=call.context,
    )
    results: list[dict[str, Any]] = list(report.operations)
    results += [{"queue": e.get("queue") or e.get("scope"), "error": e} for e in report.errors]
    error = None
    status = 200
    if report.errors:
        # Each entry was told by errors.describe (reconcile.error_entry): its status travels with it.
        first = report.errors[0]
        error = {k: v for k, v in first.items() if k not in ("status", "transient")}
        status = int(first["status"])
    return CommandOutcome(
        ok=report.ok,
        status=status,
        action=call.command.action,
        results=results,
        error=error,
        dry_run=report.dry_run,
        report=report.to_dict(decisions=False),
        retryable=report.transient,
    )

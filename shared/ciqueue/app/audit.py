"""The audit trail: one JSON line per change (or skipped change) on the ``ciqueue.app.audit`` logger.

The logger writes to stdout, which SCF ships to CLS. Every line has the same keys in the same
order (absent values are null), so CLS can index them:

``ts event actor queue action reason changed dry_run before after result request_ids
function_request_id`` and then any extra fields, sorted. ``result`` of a failure is the error as
``errors.describe`` tells it, under ``"status": "error"`` (the one error model: the same code,
message and fields as the HTTP answer; an unexpected exception is "internal error", its text unsaid).

A redaction pass runs over everything: keys that name a secret (secret, token, authorization,
password, signature, credential...) have their value replaced by ``***`` at any depth, and
``q-signature=...``, ``Bearer ...`` and the query values and fragment of an http(s) URL inside
any text are masked too (``ci.netguard.redact_url``, the one rule for showing a URL).

The state document keeps the recent ones for the console (``history_entry`` shapes a record into
an entry: the same redacted record, stamped with the command's or tick's instant); which records
it keeps is decided here, how many and how long in ``ciqueue.state.document.record_changes``.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any

from ciqueue.ci.netguard import redact_url
from ciqueue.errors import describe
from ciqueue.records import asdict, is_dataclass

if TYPE_CHECKING:
    from ciqueue.ci.operations import OperationResult

LOGGER_NAME = "ciqueue.audit"
MASK = "***"
FIELD_ORDER = (
    "ts",
    "event",
    "actor",
    "queue",
    "action",
    "reason",
    "changed",
    "dry_run",
    "before",
    "after",
    "result",
    "request_ids",
    "function_request_id",
)
# Events the library emits (callers may add their own, same shape).
QUEUE_PAUSED = "queue.paused"
QUEUE_RESUMED = "queue.resumed"
QUEUE_CALLBACK_CHANGED = "queue.callback_changed"
QUEUE_UNCHANGED = "queue.unchanged"  # asked for what was already there: nothing written
QUEUE_SKIPPED = "queue.skipped"  # the engine left a queue alone (e.g. changed by hand)
QUEUE_FAILED = "queue.failed"  # an operation failed before anything was written
QUEUE_UNVERIFIED = "queue.unverified"  # written (the PUT was answered), then the verifying read failed
OVERRIDE_CREATED = "override.created"
OVERRIDE_CANCELLED = "override.cancelled"
OVERRIDE_EXPIRED = "override.expired"
# Audit events the state document's history leaves out (see history_entry).
HISTORY_LEFT_OUT = frozenset({QUEUE_UNCHANGED, QUEUE_SKIPPED})
# What a history entry keeps of an audit record: who, what, why, which queue, how it went. The
# line's own time (the entry has ``at``), invocation ids and a failure's detail (cause, fields)
# stay in the log line, so an entry stays small (~0.5 KB; limits.MAX_HISTORY_CHANGES of them).
HISTORY_FIELDS = (
    "event",
    "actor",
    "queue",
    "action",
    "reason",
    "changed",
    "before",
    "after",
    "result",
    "request_ids",
    "override_id",
    "expires_at",
    "source",
    "written",
    "verified",
)
_HISTORY_RESULT_FIELDS = ("status", "code", "message", "http_status", "request_id")
_ACTION_EVENTS = {
    "pause": QUEUE_PAUSED,
    "resume": QUEUE_RESUMED,
    "set_callback": QUEUE_CALLBACK_CHANGED,
}

_SECRET_KEY = re.compile(
    r"secret|token|authorization|password|passwd|signature|credential|api[_-]?key|private[_-]?key",
    re.IGNORECASE,
)
_SECRET_TEXT = (
    (re.compile(r"(q-signature=)[^&\s\"']*", re.IGNORECASE), r"\1" + MASK),
    (re.compile(r"(Bearer\s+)[^\s\"',;]+", re.IGNORECASE), r"\1" + MASK),
    # A callback URL's query string may carry a token: logs show it redacted (netguard's rule).
    (re.compile(r"\bhttps?://[^\s?#\"'<>]*[?#][^\s\"'<>]*", re.IGNORECASE), lambda m: redact_url(m.group(0))),
)
# Text that no pattern can match is left as it is without running them.
_MAYBE_SECRET_TEXT = re.compile(r"q-signature=|Bearer\s|https?://\S*[?#]", re.IGNORECASE)

clock = time.time  # replaceable in tests


class _StdoutHandler(logging.Handler):
    """Writes each record to the current ``sys.stdout`` (looked up per line, so capture works)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:  # logging must never break the operation it records
            self.handleError(record)


def audit_logger() -> logging.Logger:
    """The ``ciqueue.app.audit`` logger, with its stdout handler installed once."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(h, _StdoutHandler) for h in logger.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        # One line per call: the root logger (which SCF also prints) must not repeat it.
        logger.propagate = False
    return logger


def audit(
    event: str,
    *,
    ts: datetime | str | None = None,
    context: Any = None,
    error: BaseException | None = None,
    emit: bool = True,
    **fields: Any,
) -> dict[str, Any]:
    """Emit one audit line for ``event`` and return the record as written (redacted).

    ``emit=False`` only builds the record (``emit_record`` writes it later): a change stored with
    its history entry in one state update is logged once that update has landed.

    ``context`` is the SCF context (its ``request_id`` becomes ``function_request_id``);
    ``error`` fills ``result`` with the failure's code (default result: ``{"status": "ok"}``).
    """
    record: dict[str, Any] = dict.fromkeys(FIELD_ORDER)
    record["ts"] = _timestamp(ts)
    record["event"] = event
    request_id = _context_request_id(context)
    if request_id is not None:
        record["function_request_id"] = request_id
    record["result"] = result_of(error)
    extra: dict[str, Any] = {}
    for name, value in fields.items():
        if name in record and name not in ("ts", "event"):
            record[name] = value
        elif name not in record:
            extra[name] = value
    for name in sorted(extra):
        record[name] = extra[name]
    clean: dict[str, Any] = redact({k: _plain(v) for k, v in record.items()})
    if emit:
        emit_record(clean)
    return clean


def emit_record(record: Mapping[str, Any]) -> None:
    """Write an ``audit(..., emit=False)`` record as its line (once what it tells has happened)."""
    audit_logger().info(json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str))


def history_entry(record: Mapping[str, Any], at: datetime) -> dict[str, Any] | None:
    """The state document's history entry of an audit ``record`` (as ``audit`` returned it, so
    already redacted), stamped ``at`` the command's or tick's instant; None when the history
    keeps no such record: a dry run, a queue already as asked (``queue.unchanged``) or left alone
    (``queue.skipped``), which a tick would otherwise add for every queue every five minutes."""
    if record.get("event") in HISTORY_LEFT_OUT or record.get("dry_run"):
        return None
    entry = {name: record[name] for name in HISTORY_FIELDS if record.get(name) is not None}
    result = record.get("result")
    if isinstance(result, Mapping):
        entry["result"] = {k: result[k] for k in _HISTORY_RESULT_FIELDS if result.get(k) is not None}
    entry["at"] = _iso(at)
    return entry


def audit_operation(
    result: OperationResult,
    actor: str | None,
    reason: str | None = None,
    context: Any = None,
    *,
    bucket: str | None = None,
    region: str | None = None,
    event: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """The audit line of an ``operations`` result: only the changed fields in before/after.

    Event: ``queue.paused`` / ``queue.resumed`` / ``queue.callback_changed`` when something was (or,
    for a dry run, would be) written, ``queue.unchanged`` when the queue already was as asked.
    """
    if event is None:
        event = (
            _ACTION_EVENTS.get(result.action, f"queue.{result.action}") if result.diff else QUEUE_UNCHANGED
        )
    kind = getattr(result.kind, "value", result.kind)
    bucket = bucket or getattr(result.before, "bucket_id", None) or "-"
    return audit(
        event,
        context=context,
        actor=actor if actor is not None else result.actor,
        queue=f"{bucket}/{region or '-'}/{kind}/{result.queue_id}",
        action=result.action,
        reason=reason if reason is not None else result.reason,
        changed=result.changed,
        dry_run=result.dry_run,
        before={change.field: change.before for change in result.diff},
        after={change.field: change.after for change in result.diff},
        request_ids=[i for i in result.request_ids if i],
        **fields,
    )


def audit_failure(
    error: BaseException,
    *,
    actor: str | None,
    queue: str,
    action: str,
    reason: str | None = None,
    dry_run: bool = False,
    context: Any = None,
    **fields: Any,
) -> dict[str, Any]:
    """The audit line of an operation that failed, saying what is known of the queue.

    ``queue.failed`` with ``changed: false`` when nothing was written; ``queue.unverified`` with
    ``changed: true, written: true, verified: false`` and the written fields in before/after when
    the write landed before the failure (``errors.describe``'s ``written``, an UnverifiedWrite).
    """
    report = describe(error)
    if not report.written:
        return audit(
            QUEUE_FAILED,
            actor=actor,
            queue=queue,
            action=action,
            reason=reason,
            changed=False,
            dry_run=dry_run,
            context=context,
            error=error,
            **fields,
        )
    diff = list(report.fields.get("diff") or [])
    return audit(
        QUEUE_UNVERIFIED,
        actor=actor,
        queue=queue,
        action=action,
        reason=reason,
        changed=True,
        dry_run=dry_run,
        before={change["field"]: change["before"] for change in diff},
        after={change["field"]: change["after"] for change in diff},
        request_ids=list(report.fields.get("request_ids") or []),
        written=True,
        verified=False,
        context=context,
        error=error,
        **fields,
    )


def result_of(error: BaseException | None) -> dict[str, Any]:
    """``{"status": "ok"}`` or ``{"status": "error", **errors.describe(error).to_dict()}``: the
    code, the message and the fields every door reports (CI's status and RequestId included)."""
    if error is None:
        return {"status": "ok"}
    return {"status": "error", **describe(error).to_dict()}


def redact(value: Any) -> Any:
    """``value`` with every secret-named key's value masked and secrets in text masked, at any depth."""
    # Text first: most of an audit line is text (and str is no Mapping, an ABC check that costs).
    if isinstance(value, str):
        if _MAYBE_SECRET_TEXT.search(value) is None:
            return value
        for pattern, replacement in _SECRET_TEXT:
            value = pattern.sub(replacement, value)
        return value
    if isinstance(value, Mapping):
        return {
            str(k): (MASK if _is_secret_key(str(k)) and v is not None else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


@functools.lru_cache(maxsize=1024)
def _is_secret_key(key: str) -> bool:
    # Audit lines reuse a few dozen key names; the regex runs once per name.
    return _SECRET_KEY.search(key) is not None


def _plain(value: Any) -> Any:
    """JSON-ready data: models, dataclasses, enums and times become dicts, values and text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return _plain(to_dict())
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return _plain(dump(mode="json"))
    if is_dataclass(value):
        return _plain(asdict(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    text = value.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _timestamp(ts: datetime | str | None) -> str:
    if isinstance(ts, str):
        return ts
    if ts is None:
        ts = datetime.fromtimestamp(clock(), timezone.utc)
    return _iso(ts)


def _context_request_id(context: Any) -> str | None:
    if context is None:
        return None
    if isinstance(context, Mapping):
        value = context.get("request_id")
    else:
        value = getattr(context, "request_id", None)
    return str(value) if value else None

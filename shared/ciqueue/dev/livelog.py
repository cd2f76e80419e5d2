"""The live log of ``ciqueue local`` and the rehearsal: one readable line per decision, action and
callback, ``[02:00:00] actor  action  queue  reason``.

Rules:
- lines come from the audit trail (the ``ciqueue.app.audit`` logger) while attached, and the audit
  JSON lines themselves are held back then, so the terminal shows the readable form only;
- a line carries the simulated instant of the invocation that wrote it;
- ``queue.unchanged`` says nothing; queue ids are shown by label or shortened.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from ciqueue.timefmt import parse_instant

UTC = timezone.utc

_EVENT_ACTIONS = {
    "queue.paused": "pause",
    "queue.resumed": "resume",
    "queue.callback_changed": "callback",
    "queue.skipped": "skip",
    "override.created": "override",
    "override.cancelled": "cancel",
    "override.expired": "expired",
}


def short_queue(key: str) -> str:
    """``bucket/region/kind/p1234567…`` (the id shortened to 8 characters)."""
    head, _, queue_id = key.rpartition("/")
    return f"{head}/{queue_id[:8]}…" if head and len(queue_id) > 9 else key


class LiveLog:
    """One readable line per decision, action and callback: ``[02:00:00] actor  action  queue  reason``.

    Reads the audit trail (the ``ciqueue.app.audit`` logger) while ``attach()``-ed; the audit JSON lines
    themselves are held back then, so the terminal shows the readable form only.
    """

    def __init__(
        self,
        out: TextIO,
        clock: Callable[[], datetime],
        zone: str = "UTC",
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.out = out
        self.labels = dict(labels or {})  # queue id -> a name to show instead of the queue key
        self.clock = clock
        self.zone = ZoneInfo(zone)
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._handler: logging.Handler | None = None
        self._muted: list[tuple[logging.Handler, logging.Filter]] = []
        # While a function runs (invocations are serialised), its audit lines carry its instant.
        self.invocation_time: datetime | None = None

    def line(
        self, actor: str, action: str, subject: str = "", reason: str = "", at: datetime | None = None
    ) -> str:
        when = (at or self.clock()).astimezone(self.zone).strftime("%H:%M:%S")
        text = f"[{when}] {actor:<12} {action:<9} {subject}"
        if reason:
            text += f"  {reason}"
        with self._lock:
            self.lines.append(text.rstrip())
            print(text.rstrip(), file=self.out, flush=True)
        return text

    def audit_line(self, record: Mapping[str, Any]) -> None:
        event = str(record.get("event") or "")
        if event in ("queue.unchanged",):
            return  # a reconcile that found everything in place says nothing
        actor = str(record.get("actor") or "-").removeprefix("scf:").removeprefix("ciqueue-")
        action = _EVENT_ACTIONS.get(event, event)
        result = record.get("result") or {}
        reason = str(record.get("reason") or "")
        if isinstance(result, Mapping) and result.get("status") == "error":
            reason = f"FAILED {result.get('code')}" + (f" ({reason})" if reason else "")
        subject = self.queue_label(str(record.get("queue") or ""))
        if event.startswith("override."):
            expires = _parse_instant(record.get("expires_at"))
            if expires is not None:
                until = expires.astimezone(self.zone).strftime("%H:%M")
                reason = f"{record.get('action')} until {until}" + (f": {reason}" if reason else "")
            if not subject:
                subject = f"override {record.get('override_id') or '-'}"
        self.line(actor, action, subject, reason, at=self.invocation_time)

    def queue_label(self, key: str) -> str:
        """The label of the queue a key names, else the shortened key."""
        queue_id = key.rpartition("/")[2]
        return self.labels.get(queue_id) or short_queue(key)

    def attach(self) -> None:
        from ciqueue.app.audit import audit_logger

        logger = audit_logger()
        live = self

        class _Reader(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                try:
                    data = json.loads(record.getMessage())
                except ValueError:
                    return
                if isinstance(data, Mapping):
                    live.audit_line(data)

        class _Mute(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                return False

        for handler in logger.handlers:
            mute = _Mute()
            handler.addFilter(mute)
            self._muted.append((handler, mute))
        self._handler = _Reader()
        logger.addHandler(self._handler)

    def detach(self) -> None:
        from ciqueue.app.audit import LOGGER_NAME

        logger = logging.getLogger(LOGGER_NAME)
        if self._handler is not None:
            logger.removeHandler(self._handler)
            self._handler = None
        for handler, mute in self._muted:
            handler.removeFilter(mute)
        self._muted.clear()

    def delivery(self, delivery: Any) -> None:
        """A jobs listener: one line per callback."""
        where = delivery.delivered_to or ""
        outcome = delivery.status + (f" HTTP {delivery.http_status}" if delivery.http_status else "")
        if delivery.error and delivery.status != "delivered":
            outcome += f" ({delivery.error})"
        target = delivery.target + (f" -> {where}" if where else "")
        self.line(
            "ci",
            "callback",
            self.queue_label(f"{delivery.bucket}/{delivery.region}/{delivery.kind}/{delivery.queue_id}"),
            f"job {delivery.job_id[:9]}… {target}: {outcome}",
        )


def _parse_instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = parse_instant(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)

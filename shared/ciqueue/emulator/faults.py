"""Injected faults: latency, errors for the next N requests, dropped connections, a random error rate
and a one-shot change of a queue right after a PUT (to rehearse a concurrent change).

Configured through ``POST /_emulator/faults``; each POST sets the keys it names and keeps the others,
``DELETE`` clears everything. Faults apply to CI paths only, never to ``/_emulator/``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from typing import Any

from ciqueue.ci.models import READ_ONLY_ELEMENTS
from ciqueue.errors import InvalidInput, Problem
from ciqueue.records import dataclass


@dataclass(frozen=True)
class FaultDecision:
    """What to do with one CI request before handling it."""

    latency_ms: int = 0
    drop: bool = False
    status: int | None = None  # answer with this error instead of handling the request
    code: str | None = None


@dataclass(frozen=True)
class Mutation:
    """Fields (XML names) to set on a queue right after its next successful PUT."""

    queue_id: str
    set: dict[str, Any]


class Faults:
    """Thread-safe fault settings; ``decide()`` consumes counters and draws from a seeded RNG."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(0)
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._latency_ms = 0
            self._next_count = 0
            self._next_status = 503
            self._next_code = "SlowDown"
            self._drop_next = 0
            self._error_rate = 0.0
            self._error_status = 500
            self._error_code = "InternalError"
            self._seed: int | None = None
            self._rng = random.Random(0)
            self._mutation: Mutation | None = None

    def configure(self, body: Mapping[str, Any]) -> None:
        """Apply the keys of an admin request; raise InvalidInput naming the bad key."""
        known = {
            "latency_ms",
            "next",
            "drop_next",
            "error_rate",
            "error_status",
            "error_code",
            "seed",
            "mutate_after_put",
        }
        unknown = sorted(set(body) - known)
        if unknown:
            raise InvalidInput(unknown[0], f"is not a fault setting (known: {', '.join(sorted(known))})")
        with self._lock:
            if "latency_ms" in body:
                self._latency_ms = _int(body["latency_ms"], "latency_ms", 0, 60_000)
            if "next" in body:
                nxt = body["next"]
                if not isinstance(nxt, Mapping):
                    raise InvalidInput("next", "must be an object {count, status, code}")
                self._next_count = _int(nxt.get("count", 1), "next.count", 0, 1_000_000)
                self._next_status = _int(nxt.get("status", 503), "next.status", 300, 599)
                self._next_code = _code(nxt.get("code", "SlowDown"), "next.code")
            if "drop_next" in body:
                self._drop_next = _int(body["drop_next"], "drop_next", 0, 1_000_000)
            if "error_rate" in body:
                rate = body["error_rate"]
                if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
                    raise InvalidInput("error_rate", "must be a number from 0 to 1")
                self._error_rate = float(rate)
            if "error_status" in body:
                self._error_status = _int(body["error_status"], "error_status", 300, 599)
            if "error_code" in body:
                self._error_code = _code(body["error_code"], "error_code")
            if "seed" in body:
                self._seed = _int(body["seed"], "seed", 0, 2**63)
                self._rng = random.Random(self._seed)
            if "mutate_after_put" in body:
                self._mutation = _mutation(body["mutate_after_put"])

    def snapshot(self) -> dict[str, Any]:
        """The current settings, as ``GET /_emulator/faults`` shows them."""
        with self._lock:
            mutation = self._mutation
            return {
                "latency_ms": self._latency_ms,
                "next": {"count": self._next_count, "status": self._next_status, "code": self._next_code},
                "drop_next": self._drop_next,
                "error_rate": self._error_rate,
                "error_status": self._error_status,
                "error_code": self._error_code,
                "seed": self._seed,
                "mutate_after_put": (
                    None if mutation is None else {"queue_id": mutation.queue_id, "set": mutation.set}
                ),
            }

    def decide(self) -> FaultDecision:
        """Consume one request's worth of faults: drop first, then the next-N errors, then the rate."""
        with self._lock:
            latency = self._latency_ms
            if self._drop_next > 0:
                self._drop_next -= 1
                return FaultDecision(latency_ms=latency, drop=True)
            if self._next_count > 0:
                self._next_count -= 1
                return FaultDecision(latency, status=self._next_status, code=self._next_code)
            # Draw only when a rate is set, so a seed gives the same sequence whatever came before.
            if self._error_rate > 0 and self._rng.random() < self._error_rate:
                return FaultDecision(latency, status=self._error_status, code=self._error_code)
            return FaultDecision(latency)

    def take_mutation(self, queue_id: str) -> Mutation | None:
        """The pending mutation for this queue, removed so that it applies once."""
        with self._lock:
            mutation = self._mutation
            if mutation is None or mutation.queue_id != queue_id:
                return None
            self._mutation = None
            return mutation


def _int(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(field, f"must be an integer from {low} to {high}")
    return value


def _code(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.isalnum():
        raise InvalidInput(field, "must be an error code made of letters and digits, e.g. SlowDown")
    return value


def _mutation(value: Any) -> Mutation | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInput("mutate_after_put", "must be an object {queue_id, set}")
    queue_id = value.get("queue_id")
    changes = value.get("set")
    problems = []
    if not isinstance(queue_id, str) or not queue_id:
        problems.append(Problem("mutate_after_put.queue_id", "must be a queue id"))
    if not isinstance(changes, Mapping) or not changes:
        problems.append(Problem("mutate_after_put.set", "must be an object of XML-named fields"))
    else:
        read_only = sorted(set(changes) & (READ_ONLY_ELEMENTS - {"UpdateTime"}))
        problems += [Problem(f"mutate_after_put.set.{name}", "is read-only") for name in read_only]
        if "NotifyConfig" in changes and not isinstance(changes["NotifyConfig"], Mapping):
            problems.append(
                Problem("mutate_after_put.set.NotifyConfig", "must be an object of XML-named fields")
            )
    if problems:
        raise InvalidInput(problems)
    assert isinstance(queue_id, str) and isinstance(changes, Mapping)
    return Mutation(queue_id, dict(changes))


def _is_secret_param(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("q-") or lowered.endswith("security-token")


class RequestLog:
    """The CI requests received, oldest first: method, path, query, host, status, code, request id,
    and two Unix times (seconds, float): ``received_at`` when the request arrived (before any
    injected latency; what a per-second quota judges) and ``answered_at`` when it was handled
    (the instant the queue was read or written).

    The newest ``limit`` entries are kept; ``counts`` counts every request since the last clear
    (by method), so a benchmark of tens of thousands of requests still knows how many it sent.
    Authorization values (header or ``q-*`` query parameters) and session tokens sent as query
    parameters (``x-cos-security-token``, as pre-signed URLs carry them) are never recorded.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self._limit = limit
        self._counts: dict[str, int] = {}

    def add(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        host: str,
        status: int | None,
        code: str | None,
        request_id: str | None = None,
        received_at: float | None = None,
    ) -> None:
        answered_at = time.time()
        entry = {
            "method": method,
            "path": path,
            "query": {k: v for k, v in query.items() if not _is_secret_param(k)},
            "host": host,
            "status": status,
            "code": code,
            "request_id": request_id,
            "received_at": received_at if received_at is not None else answered_at,
            "answered_at": answered_at,
        }
        with self._lock:
            self._counts[method] = self._counts.get(method, 0) + 1
            self._entries.append(entry)
            if len(self._entries) > self._limit:
                del self._entries[: len(self._entries) - self._limit]

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e, query=dict(e["query"])) for e in self._entries]

    def counts(self) -> dict[str, Any]:
        """``{"total": n, "methods": {method: n}}`` since the last clear (entries beyond the
        kept ``limit`` included)."""
        with self._lock:
            return {"total": sum(self._counts.values()), "methods": dict(sorted(self._counts.items()))}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counts.clear()

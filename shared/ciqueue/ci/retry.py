"""Retries in small composable pieces, after botocore's standard mode.

A deadline (absolute monotonic instant), a policy (attempts and backoff bounds), full-jitter
backoff, a retry condition, a retry quota, and one loop that joins them. Clock, sleep and
randomness are injected so every piece is unit-testable without waiting.

The retry condition is not decided here: an error is retried when ``errors.describe`` calls it
transient (an answer's status and code by ``errors.transient_answer``), with one addition of
this module's own: a DeadlineExceeded is never retried, since the deadline that ran out is the
same one the next attempt would run under.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from ciqueue.errors import DeadlineExceeded, ServiceError, TransportError, describe, transient_answer
from ciqueue.records import dataclass, field

T = TypeVar("T")

Clock = Callable[[], float]
Sleep = Callable[[float], None]
Rand = Callable[[], float]


# A pause before an SCF function's end: leave time to log and return after the last attempt.
DEFAULT_SAFETY_MS = 500


@dataclass(frozen=True)
class Deadline:
    """An absolute instant on a monotonic clock; work must finish before it."""

    at: float
    monotonic: Clock = field(default=time.monotonic, repr=False, compare=False)

    @classmethod
    def after(cls, seconds: float, monotonic: Clock = time.monotonic) -> Deadline:
        return cls(monotonic() + seconds, monotonic)

    @classmethod
    def from_remaining_ms(
        cls, ms: float, safety_ms: float = DEFAULT_SAFETY_MS, monotonic: Clock = time.monotonic
    ) -> Deadline:
        """From an SCF context's remaining time, keeping ``safety_ms`` back for the reply."""
        return cls.after(max(0.0, (ms - safety_ms) / 1000.0), monotonic)

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at - self.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0.0


@dataclass(frozen=True)
class RetryPolicy:
    """Total attempts (the first included) and the full-jitter backoff bounds in seconds."""

    max_attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")

    # The architecture note names them base/cap.
    @property
    def base(self) -> float:
        return self.base_delay

    @property
    def cap(self) -> float:
        return self.max_delay


def full_jitter(attempt: int, base: float, cap: float, rand: Rand = random.random) -> float:
    """Delay before retry ``attempt`` (0 = first retry): uniform in [0, min(cap, base * 2**attempt)]."""
    # Bound the exponent so a large attempt number cannot overflow a float.
    ceiling = min(cap, base * 2.0 ** min(attempt, 62))
    return rand() * ceiling


def is_retryable(status: int | None, code: str | None, exc: BaseException | None) -> bool:
    """``exc`` when given, else an answer's ``status`` and ``code``: transient by the error model
    (5xx, 429, throttling codes, no answer); never another 4xx, never a DeadlineExceeded."""
    if exc is not None:
        return describe(exc).transient and not isinstance(exc, DeadlineExceeded)
    return transient_answer(status, code)


def error_code(exc: BaseException) -> str:
    """A short name for the failure, safe to show: the CI code or the exception class."""
    if isinstance(exc, ServiceError):
        return exc.code
    cause = exc.__cause__
    if isinstance(exc, TransportError) and cause is not None:
        return type(cause).__name__
    return type(exc).__name__


class RetryQuota:
    """A token bucket shared by one client's calls, so a failing service is not hammered.

    Each retry takes ``retry_cost`` (``timeout_cost`` after a timeout); a success refunds what
    the call took, or one token when it needed no retry.
    """

    def __init__(self, capacity: int = 500, retry_cost: int = 5, timeout_cost: int = 10) -> None:
        self.capacity = capacity
        self.available = capacity
        self.retry_cost = retry_cost
        self.timeout_cost = timeout_cost
        self._lock = threading.Lock()

    def acquire(self, exc: BaseException) -> int:
        """Take tokens for one retry after ``exc``; 0 when the bucket cannot pay (do not retry)."""
        cost = self.timeout_cost if _is_timeout(exc) else self.retry_cost
        with self._lock:
            if cost > self.available:
                return 0
            self.available -= cost
            return cost

    def release(self, amount: int) -> None:
        with self._lock:
            self.available = min(self.capacity, self.available + max(amount, 1))


def _is_timeout(exc: BaseException) -> bool:
    return (
        isinstance(exc, TimeoutError)
        or isinstance(exc.__cause__, TimeoutError)
        or "Timeout" in error_code(exc)
    )


def call_with_retries(
    attempt: Callable[[int], T],
    *,
    policy: RetryPolicy,
    deadline: Deadline | None = None,
    sleep: Sleep = time.sleep,
    rand: Rand = random.random,
    quota: RetryQuota | None = None,
    retryable: Callable[[BaseException], bool] = lambda exc: is_retryable(None, None, exc),
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Run ``attempt(n)`` (n = 1, 2, ...) until it returns, retrying retryable errors.

    Never sleeps past ``deadline``: when the next backoff would cross it (or it has passed),
    raises DeadlineExceeded chained to the last error. When attempts run out, or the error is
    not retryable, or the quota is empty, the last error itself is raised.
    """
    taken = 0
    number = 0
    last: BaseException | None = None
    while True:
        if deadline is not None and deadline.expired():
            raise _deadline_exceeded(number, last) from last
        number += 1
        try:
            result = attempt(number)
        except Exception as exc:
            if not retryable(exc) or number >= policy.max_attempts:
                raise
            cost = quota.acquire(exc) if quota is not None else 1
            if cost == 0:
                raise
            taken += cost
            last = exc
            delay = full_jitter(number - 1, policy.base_delay, policy.max_delay, rand)
            if deadline is not None and delay >= deadline.remaining():
                raise _deadline_exceeded(number, exc) from exc
            if on_retry is not None:
                on_retry(number, exc, delay)
            sleep(delay)
            continue
        if quota is not None:
            quota.release(taken)
        return result


def _deadline_exceeded(attempts: int, last: BaseException | None) -> DeadlineExceeded:
    if last is None:
        return DeadlineExceeded(f"deadline exceeded after {attempts} attempt(s)")
    return DeadlineExceeded(f"deadline exceeded after {attempts} attempt(s); last error: {error_code(last)}")

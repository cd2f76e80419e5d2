"""Retry pieces with an injected clock, sleep and randomness: no real waiting."""

from __future__ import annotations

import pytest
from ciqueue.ci.retry import (
    Deadline,
    RetryPolicy,
    RetryQuota,
    call_with_retries,
    full_jitter,
    is_retryable,
)
from ciqueue.errors import DeadlineExceeded, ServiceError, TransportError


class FakeClock:
    """A monotonic clock that only moves when something sleeps or an attempt takes time."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def failing(
    errors: list[BaseException], result: str = "ok", clock: FakeClock | None = None, cost: float = 0.0
):
    """An attempt function raising the given errors in turn, then returning ``result``."""
    calls: list[int] = []

    def attempt(number: int) -> str:
        calls.append(number)
        if clock is not None:
            clock.now += cost
        if errors:
            raise errors.pop(0)
        return result

    return attempt, calls


def slow_down() -> ServiceError:
    return ServiceError(503, "SlowDown", "Please reduce your request rate.", "req-1")


# -- full jitter ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "expected_ceiling"),
    [(0, 0.2), (1, 0.4), (2, 0.8), (3, 1.6), (4, 3.2), (5, 5.0), (6, 5.0), (400, 5.0)],
)
def test_full_jitter_ceiling_doubles_then_caps(attempt: int, expected_ceiling: float) -> None:
    assert full_jitter(attempt, 0.2, 5.0, rand=lambda: 1.0) == pytest.approx(expected_ceiling)
    assert full_jitter(attempt, 0.2, 5.0, rand=lambda: 0.0) == 0.0
    assert full_jitter(attempt, 0.2, 5.0, rand=lambda: 0.5) == pytest.approx(expected_ceiling / 2)


def test_full_jitter_stays_within_bounds_for_real_randomness() -> None:
    import random

    rng = random.Random(42)
    values = [full_jitter(3, 0.2, 1.0, rng.random) for _ in range(500)]
    assert all(0.0 <= v <= 1.0 for v in values)
    # Full jitter spreads over the whole range rather than clustering at the ceiling.
    assert min(values) < 0.1 and max(values) > 0.9


# -- retry condition ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_server_errors_and_429_retry(status: int) -> None:
    assert is_retryable(status, None, None)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "InvalidArgument"),
        (401, "SignatureExpired"),
        (403, "SignatureDoesNotMatch"),
        (403, "AccessDenied"),
        (404, "QueueNotFound"),
        (400, "PicBucketUnBinded"),
        (409, None),
        (412, "PreconditionFailed"),
    ],
)
def test_other_4xx_never_retry(status: int, code: str | None) -> None:
    assert not is_retryable(status, code, None)
    assert not is_retryable(None, None, ServiceError(status, code or "X", "m"))


@pytest.mark.parametrize("code", ["SlowDown", "RequestLimitExceeded", "Throttling"])
def test_throttling_codes_retry_whatever_the_status(code: str) -> None:
    assert is_retryable(400, code, None)
    assert is_retryable(None, None, ServiceError(400, code, "m"))
    assert ServiceError(400, code, "m").retryable


def test_a_400_request_timeout_is_another_4xx_and_never_retried() -> None:
    # The brief: retry 5xx, throttling and connection errors, never another 4xx.
    assert not is_retryable(400, "RequestTimeout", None)
    assert not ServiceError(400, "RequestTimeout", "m").retryable


@pytest.mark.parametrize("status", [429, 500, 503])
def test_service_error_and_the_retry_condition_agree(status: int) -> None:
    error = ServiceError(status, "Whatever", "m")
    assert error.retryable is is_retryable(None, None, error) is True


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TransportError("reset"), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (ServiceError(503, "ServiceUnavailable", "m"), True),
        (ValueError("bug"), False),
        (KeyError("x"), False),
    ],
)
def test_exceptions(exc: BaseException, expected: bool) -> None:
    assert is_retryable(None, None, exc) is expected


def test_nothing_known_is_not_retryable() -> None:
    assert not is_retryable(None, None, None)
    assert not is_retryable(200, None, None)


# -- deadline -------------------------------------------------------------------------------


def test_deadline_counts_down_on_the_injected_clock() -> None:
    clock = FakeClock()
    deadline = Deadline.after(2.0, monotonic=clock)
    assert deadline.at == 1002.0
    assert deadline.remaining() == 2.0 and not deadline.expired()
    clock.now += 1.5
    assert deadline.remaining() == 0.5
    clock.now += 1.0
    assert deadline.remaining() == 0.0 and deadline.expired()


def test_deadline_from_scf_remaining_time_keeps_a_safety_margin() -> None:
    clock = FakeClock()
    assert Deadline.from_remaining_ms(3000, safety_ms=500, monotonic=clock).remaining() == 2.5
    # Less time than the margin: already expired, never negative.
    assert Deadline.from_remaining_ms(300, safety_ms=500, monotonic=clock).expired()
    assert Deadline.from_remaining_ms(300, safety_ms=500, monotonic=clock).remaining() == 0.0


def test_policy_defaults_and_rejects_zero_attempts() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.base_delay, policy.max_delay) == (4, 0.2, 5.0)
    assert (policy.base, policy.cap) == (0.2, 5.0)
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


# -- the loop -------------------------------------------------------------------------------


def test_retries_until_success_with_jittered_sleeps() -> None:
    clock = FakeClock()
    attempt, calls = failing([slow_down(), TransportError("reset")])
    result = call_with_retries(attempt, policy=RetryPolicy(), sleep=clock.sleep, rand=lambda: 0.5)
    assert result == "ok"
    assert calls == [1, 2, 3]
    assert clock.sleeps == pytest.approx([0.1, 0.2])


def test_non_retryable_error_raises_at_once() -> None:
    clock = FakeClock()
    error = ServiceError(400, "InvalidArgument", "bad", "req-9")
    attempt, calls = failing([error])
    with pytest.raises(ServiceError) as caught:
        call_with_retries(attempt, policy=RetryPolicy(), sleep=clock.sleep, rand=lambda: 0.5)
    assert caught.value is error
    assert calls == [1] and clock.sleeps == []


def test_attempts_exhausted_raises_the_last_error() -> None:
    clock = FakeClock()
    errors: list[BaseException] = [slow_down() for _ in range(3)]
    last = ServiceError(503, "SlowDown", "still busy", "req-last")
    attempt, calls = failing([*errors, last, slow_down()])
    with pytest.raises(ServiceError) as caught:
        call_with_retries(attempt, policy=RetryPolicy(max_attempts=4), sleep=clock.sleep, rand=lambda: 1.0)
    assert caught.value is last
    assert calls == [1, 2, 3, 4]
    assert clock.sleeps == pytest.approx([0.2, 0.4, 0.8])


def test_never_sleeps_past_the_deadline() -> None:
    clock = FakeClock()
    deadline = Deadline.after(1.0, monotonic=clock)
    # Each attempt takes 0.3 s; backoffs are 0.2, 0.4 (ceiling, rand=1): 0.3+0.2+0.3 = 0.8, then a
    # 0.4 s sleep would end at 1.2 > 1.0, so the loop stops instead of sleeping.
    attempt, calls = failing([slow_down() for _ in range(5)], clock=clock, cost=0.3)
    with pytest.raises(DeadlineExceeded) as caught:
        call_with_retries(
            attempt,
            policy=RetryPolicy(max_attempts=10),
            deadline=deadline,
            sleep=clock.sleep,
            rand=lambda: 1.0,
        )
    assert str(caught.value) == "deadline exceeded after 2 attempt(s); last error: SlowDown"
    assert isinstance(caught.value.__cause__, ServiceError)
    assert calls == [1, 2]
    assert clock.sleeps == pytest.approx([0.2])
    assert clock.now <= deadline.at


def test_expired_deadline_makes_no_attempt() -> None:
    clock = FakeClock()
    deadline = Deadline.after(0.0, monotonic=clock)
    attempt, calls = failing([])
    with pytest.raises(DeadlineExceeded, match=r"^deadline exceeded after 0 attempt\(s\)$"):
        call_with_retries(attempt, policy=RetryPolicy(), deadline=deadline, sleep=clock.sleep)
    assert calls == []


def test_attempt_that_used_up_the_deadline_names_its_error() -> None:
    clock = FakeClock()
    deadline = Deadline.after(0.5, monotonic=clock)
    # The attempt's own (capped) timeout ate the rest of the deadline.
    attempt, calls = failing([TransportError("read timed out")], clock=clock, cost=0.5)
    with pytest.raises(DeadlineExceeded, match=r"after 1 attempt\(s\); last error: TransportError$"):
        call_with_retries(
            attempt, policy=RetryPolicy(), deadline=deadline, sleep=clock.sleep, rand=lambda: 0.0
        )
    assert calls == [1] and clock.sleeps == []


def test_deadline_message_names_the_transport_cause_not_its_text() -> None:
    clock = FakeClock()
    deadline = Deadline.after(0.1, monotonic=clock)
    try:
        raise TimeoutError("secret-looking detail")
    except TimeoutError as cause:
        wrapped = TransportError("GET /picqueue failed")
        wrapped.__cause__ = cause
    attempt, _ = failing([wrapped], clock=clock, cost=0.1)
    with pytest.raises(DeadlineExceeded) as caught:
        call_with_retries(attempt, policy=RetryPolicy(), deadline=deadline, sleep=clock.sleep)
    assert str(caught.value) == "deadline exceeded after 1 attempt(s); last error: TimeoutError"


# -- retry quota ----------------------------------------------------------------------------


def test_quota_stops_retrying_when_empty_and_refunds_on_success() -> None:
    clock = FakeClock()
    quota = RetryQuota(capacity=10, retry_cost=5, timeout_cost=10)
    attempt, calls = failing([slow_down(), slow_down(), slow_down()])
    with pytest.raises(ServiceError):
        call_with_retries(attempt, policy=RetryPolicy(), sleep=clock.sleep, rand=lambda: 0.0, quota=quota)
    # Two retries paid 5 each; the third failure found the bucket empty and was raised.
    assert calls == [1, 2, 3] and quota.available == 0

    quota = RetryQuota(capacity=20, retry_cost=5, timeout_cost=10)
    quota.available = 12
    attempt, calls = failing([TimeoutError()])
    assert call_with_retries(attempt, policy=RetryPolicy(), sleep=clock.sleep, rand=lambda: 0.0, quota=quota)
    assert quota.available == 12  # took 10 for the timeout, refunded 10 on success
    attempt, _ = failing([])
    call_with_retries(attempt, policy=RetryPolicy(), sleep=clock.sleep, quota=quota)
    assert quota.available == 13  # a first-try success adds one, up to capacity

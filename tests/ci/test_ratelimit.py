"""The bucket's request rate on a fake clock: the one-second window, reservations, throttling
that slows every sender, recovery, deadlines; and the client asking it before every attempt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ciqueue.ci.client import CIClient
from ciqueue.ci.ratelimit import MAX_THROTTLE_PAUSE_S, THROTTLE_PAUSE_S, RateLimit
from ciqueue.ci.retry import Deadline, RetryPolicy
from ciqueue.emulator.server import EmulatorServer
from ciqueue.errors import DeadlineExceeded
from conftest import DEMO_BUCKET, EmuAdmin


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(rate: float) -> tuple[RateLimit, FakeClock]:
    clock = FakeClock()
    return RateLimit(rate, monotonic=clock, sleep=clock.sleep), clock


def sends(rate: RateLimit, clock: FakeClock, count: int) -> list[float]:
    times = []
    for _ in range(count):
        rate.acquire()
        times.append(clock.now)
        rate.finished()  # answered at once
    return times


def most_in_one_second(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


def test_no_one_second_window_holds_more_than_the_rate() -> None:
    rate, clock = limiter(5)
    times = sends(rate, clock, 23)
    assert times[:5] == [100.0] * 5  # the first five go at once
    assert times[5] == pytest.approx(101.0)  # the sixth when the first leaves the window
    assert most_in_one_second(times) == 5
    assert times[-1] == pytest.approx(104.0)


def test_a_slot_counts_until_a_second_after_its_answer() -> None:
    rate, clock = limiter(2)
    rate.acquire()
    rate.acquire()
    clock.now += 3.0  # both still in flight: nothing else goes, however long they take
    assert rate.try_reserve(1)[0] == 0
    rate.finished()
    assert rate.try_reserve(1) == (0, pytest.approx(1.0))
    clock.now += 1.0
    assert rate.try_reserve(1) == (1, 0.0)


def test_reserved_slots_count_until_used_and_unused_ones_come_back() -> None:
    rate, clock = limiter(5)
    assert rate.reserve(4) == 4
    rate.acquire()  # a fifth request fits beside the four held
    rate.finished()
    clock.now += 0.5
    rate.acquire(reserved=True)  # a held slot is used without waiting
    rate.finished()
    rate.release(3)
    rate.acquire()  # room again: three held slots came back
    rate.finished()
    assert clock.slept == []
    assert rate.reserve(20) == 5  # never more than the limit; waits for a whole free window
    assert clock.now >= 101.5


def test_a_throttle_halves_the_rate_and_holds_every_sender_back() -> None:
    rate, clock = limiter(8)
    rate.throttled()
    assert rate.limit == 4
    rate.acquire()
    rate.finished()
    assert clock.now == pytest.approx(100.0 + THROTTLE_PAUSE_S)
    rate.throttled()  # a second throttle in a row: a longer pause, half again
    assert rate.limit == 2
    start = clock.now
    times = sends(rate, clock, 4)
    assert times[0] == pytest.approx(start + 2 * THROTTLE_PAUSE_S)
    assert most_in_one_second(times) == 2
    for _ in range(40):
        rate.throttled()
    assert rate.limit == 1  # never below one a second
    before = clock.now
    rate.acquire()
    rate.finished()
    assert clock.now - before <= MAX_THROTTLE_PAUSE_S + 1e-9


def test_successes_recover_the_rate_up_to_the_setting() -> None:
    rate, _ = limiter(8)
    rate.throttled()
    for _ in range(15):
        rate.succeeded()
    assert rate.limit == 7.75
    for _ in range(100):
        rate.succeeded()
    assert rate.limit == 8


def test_a_wait_past_the_deadline_is_refused_at_once() -> None:
    rate, clock = limiter(1)
    rate.acquire()
    rate.finished()
    with pytest.raises(DeadlineExceeded, match="request rate"):
        rate.acquire(Deadline(clock.now + 0.5, clock))
    assert clock.slept == []


@pytest.mark.parametrize("bad", [0, 0.5, True, "5"])
def test_a_rate_is_at_least_one_request_a_second(bad: Any) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RateLimit(bad)


def test_the_client_asks_the_rate_before_every_attempt_and_slows_down_on_slowdown(
    emulator: EmulatorServer, emu_admin: EmuAdmin, make_client: Callable[..., CIClient]
) -> None:
    emu_admin.seed([{"bucket": DEMO_BUCKET, "region": "ap-guangzhou", "kinds": ["pic"], "queues": []}])
    rate = RateLimit(50)
    client = make_client(rate=rate, retry=RetryPolicy(max_attempts=4, base_delay=0))
    emu_admin.faults(next={"count": 2, "status": 503, "code": "SlowDown"})
    emu_admin.clear_requests()

    client.list_queues("pic")

    log = emu_admin.requests()
    assert [e["code"] for e in log] == ["SlowDown", "SlowDown", None]
    assert rate.throttles == 2 and rate.limit < 50
    # The retries waited for the bucket's pause (0.25 s, then 0.5 s), not the retry backoff (0).
    assert log[1]["received_at"] - log[0]["received_at"] >= THROTTLE_PAUSE_S - 0.05
    assert log[2]["received_at"] - log[1]["received_at"] >= 2 * THROTTLE_PAUSE_S - 0.05

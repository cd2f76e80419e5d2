"""A bucket's request rate: at most ``rate`` CI requests in any one second, slowed down together
when CI throttles.

One ``RateLimit`` belongs to one bucket's client and is shared by every thread sending through it
(the tick's workers), so the bound holds for the bucket, not per worker. Rules, each with its
reason:

- **Sliding one-second window, as the service sees it.** A slot is taken before a request is sent
  and counts until one second after its answer (``finished``), so a request is admitted only when
  fewer than the current limit are in flight, reserved, or answered within the last second. The
  service receives each request between those two instants, so in ANY one second it receives at
  most ``rate`` requests of the bucket, however long our process takes to put a request on the
  wire (a GIL-bound process can take tens of milliseconds): what a per-second quota judges.
- **Reservations.** ``reserve(n)`` waits until n slots fit and holds them, so a batch that reads
  queues and then writes them is never made to wait for the rate between its read and its writes
  (that wait would widen the window in which someone else's change could be overwritten). Slots
  left unused are given back with ``release``. A reservation larger than the limit gets the limit.
- **Throttling slows everyone.** A throttled answer (``SlowDown``, 429, 503: ``throttled()``)
  halves the current limit (never below 1 a second) and holds every sender of the bucket back
  for a pause that doubles with each throttle in a row (``THROTTLE_PAUSE_S`` up to
  ``MAX_THROTTLE_PAUSE_S``), so the whole tick backs off at once instead of each request retrying
  on its own into the same wall. Each success gives back a quarter of a request per second, up to
  ``rate``.
- **Patience.** ``patience`` is how many throttled answers one request may wait out this way
  (each after the bucket's pause), before its retry policy judges the throttling like any other
  transient error. 0 (the default) leaves a single command's retries as they were: someone is
  waiting for its answer. A scheduler tick sets ``TICK_PATIENCE`` on the clients it uses
  (``app.reconcile``), so a throttled tick slows down instead of failing queue after queue.
- **Deadlines.** A wait that would end past the caller's deadline raises DeadlineExceeded at once
  (nothing sent), like the retry loop's backoff.

Clock and sleep are injected so the rules are testable without waiting.
"""

from __future__ import annotations

import heapq
import threading
import time
from typing import TYPE_CHECKING

from ciqueue.errors import DeadlineExceeded

if TYPE_CHECKING:
    from ciqueue.ci.retry import Clock, Deadline, Sleep

WINDOW_S = 1.0
THROTTLE_PAUSE_S = 0.25
MAX_THROTTLE_PAUSE_S = 4.0
# Throttled answers a tick's request waits out (pauses 0.25, 0.5, 1, 2, 4, 4, 4, 4 s: under 20 s,
# and never past the tick's deadline).
TICK_PATIENCE = 8
RECOVERY_PER_SUCCESS = 0.25


class RateLimit:
    """At most ``rate`` requests per second (sliding window), adaptive under throttling."""

    def __init__(
        self,
        rate: float,
        *,
        patience: int = 0,
        monotonic: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate < 1:
            raise ValueError("rate must be at least 1 request per second")
        self.rate = float(rate)
        self.limit = float(rate)
        self.patience = patience
        self._monotonic = monotonic
        self._sleep = sleep
        self._answered: list[float] = []  # a heap of answer instants within the window
        self._flying = 0
        self._pending = 0
        self._paused_until = 0.0
        self._streak = 0
        self.throttles = 0
        self._lock = threading.Lock()

    def acquire(self, deadline: Deadline | None = None, *, reserved: bool = False) -> None:
        """Wait for a slot for one request (``reserved``: use one held by ``reserve``); call
        ``finished`` once it is answered (or failed)."""
        if reserved:
            with self._lock:
                if self._pending > 0:
                    self._pending -= 1
                    self._flying += 1
                    return
        self._take(1, deadline, send=True)

    def finished(self) -> None:
        """The request of an ``acquire`` is over: its slot counts one more second from now."""
        with self._lock:
            self._flying = max(0, self._flying - 1)
            heapq.heappush(self._answered, self._monotonic())

    def reserve(self, count: int, deadline: Deadline | None = None) -> int:
        """Wait until ``count`` slots fit (at most the limit) and hold them; how many are held."""
        return self._take(max(1, count), deadline, send=False)

    def try_reserve(self, count: int) -> tuple[int, float]:
        """Hold up to ``count`` slots if they fit now: (held, 0.0); else (0, seconds to wait)."""
        with self._lock:
            return self._try(max(1, count), send=False)

    def room(self) -> int:
        """How many slots are free now (0 while the bucket is held back after a throttle)."""
        with self._lock:
            now = self._monotonic()
            self._expire(now)
            if now < self._paused_until:
                return 0
            used = len(self._answered) + self._flying + self._pending
            return max(0, max(1, int(self.limit)) - used)

    def wait_for(self, count: int) -> float:
        """Seconds until ``count`` slots (at most the limit) would fit, holding nothing."""
        with self._lock:
            return self._try(max(1, count), send=None)[1]

    def release(self, count: int) -> None:
        """Give back reserved slots that will not be used."""
        with self._lock:
            self._pending = max(0, self._pending - max(0, count))

    def throttled(self) -> None:
        """CI said slow down: halve the limit and hold the bucket back (see the module rules)."""
        with self._lock:
            self.throttles += 1
            self.limit = max(1.0, self.limit / 2)
            pause = min(MAX_THROTTLE_PAUSE_S, THROTTLE_PAUSE_S * 2**self._streak)
            self._streak += 1
            self._paused_until = max(self._paused_until, self._monotonic() + pause)

    def succeeded(self) -> None:
        """An answer that was not throttling: recover towards ``rate``."""
        with self._lock:
            self._streak = 0
            self.limit = min(self.rate, self.limit + RECOVERY_PER_SUCCESS)

    def _expire(self, now: float) -> None:
        while self._answered and self._answered[0] <= now - WINDOW_S:
            heapq.heappop(self._answered)

    def _try(self, count: int, *, send: bool | None) -> tuple[int, float]:
        """(slots, 0.0) when ``count`` (at most the limit) fit now, taken for a send (``send``),
        held (False) or only looked at (None); else (0, seconds until they would fit)."""
        now = self._monotonic()
        self._expire(now)
        allowed = max(1, int(self.limit))
        count = min(count, allowed)
        used = len(self._answered) + self._flying + self._pending
        if now >= self._paused_until and used + count <= allowed:
            if send:
                self._flying += 1
            elif send is False:
                self._pending += count
            return count, 0.0
        wait = max(self._paused_until - now, 0.0)
        if used + count > allowed:
            # Answered slots leave the window oldest first; the others when answered or used.
            excess = used + count - allowed
            if excess <= len(self._answered):
                wait = max(wait, heapq.nsmallest(excess, self._answered)[-1] + WINDOW_S - now)
            else:
                wait = max(wait, 0.005)
        return 0, max(wait, 0.001)

    def _take(self, count: int, deadline: Deadline | None, *, send: bool) -> int:
        while True:
            with self._lock:
                held, wait = self._try(count, send=send)
            if held:
                return held
            if deadline is not None and wait >= deadline.remaining():
                raise DeadlineExceeded(
                    f"deadline exceeded waiting {wait:.2f} s for the bucket's request rate"
                )
            self._sleep(wait)

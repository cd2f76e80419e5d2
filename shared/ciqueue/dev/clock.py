"""Simulated time and the timers it fires: the local stand-in for SCF's timer triggers.

Rules:
- the simulated clock is ``start`` plus real elapsed time times ``speed``, plus manual advances;
- a function's timers are the enabled timer triggers of its ``serverless.yml``, read in the
  function's ``TZ`` (else UTC);
- every edge between the last check and now fires, in time order; a timer that fell more than
  ``MAX_CATCH_UP`` edges behind fires only its latest one (and says how many it skipped).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ciqueue.dev.invoke import FUNCTIONS
from ciqueue.errors import InvalidInput
from ciqueue.records import dataclass

UTC = timezone.utc
# A timer that fell this far behind (a suspended laptop, a huge --speed) fires only its latest edge.
MAX_CATCH_UP = 10


class SimClock:
    """Simulated time: ``start`` plus real elapsed time times ``speed``, plus manual ``advance``."""

    def __init__(
        self, start: datetime, speed: float = 1.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        if start.tzinfo is None:
            raise InvalidInput("start", "must carry a time zone")
        if speed < 0:
            raise InvalidInput("--speed", "must be 0 or more")
        self._start = start.astimezone(UTC)
        self.speed = speed
        self._monotonic = monotonic
        self._real0 = monotonic()
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            elapsed = (self._monotonic() - self._real0) * self.speed
            return self._start + self._offset + timedelta(seconds=elapsed)

    def timestamp(self) -> float:
        return self.now().timestamp()

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._offset += delta
        return self.now()

    def set(self, instant: datetime) -> datetime:
        """Jump to ``instant`` (forward or back)."""
        return self.advance(instant.astimezone(UTC) - self.now())


@dataclass(frozen=True)
class TimerSpec:
    """An enabled timer trigger of a function, as its serverless.yml declares it."""

    function: str
    name: str
    cron: str
    argument: str = ""
    zone: str = "UTC"


def timers_from_serverless(root: str | Path, functions: Sequence[str] = FUNCTIONS) -> list[TimerSpec]:
    """The enabled timers of ``functions/*/serverless.yml`` under ``root`` (the checkout).

    The cron is read in the function's ``TZ`` (SCF leaves the zone of cron evaluation
    undocumented; the runtime clock follows ``TZ``), else UTC.
    """
    from ciqueue.deploy.scfyml import load_serverless

    deployment = load_serverless(root)
    found = []
    for fn in deployment.functions:
        if fn.key not in functions:
            continue
        zone = fn.env.get("TZ") or "UTC"
        for trigger in fn.triggers:
            if trigger.type == "timer" and trigger.enable is True and trigger.cron:
                name = trigger.name or f"timer-{fn.key}"
                found.append(TimerSpec(fn.key, name, trigger.cron, trigger.argument or "", zone))
    return found


class TimerRunner:
    """Fires every timer edge between the last check and the clock's now, in time order."""

    def __init__(
        self,
        timers: Sequence[TimerSpec],
        clock: Callable[[], datetime],
        fire: Callable[[TimerSpec, datetime], Any],
        on_skip: Callable[[TimerSpec, int], Any] | None = None,
    ) -> None:
        from ciqueue.schedule.cron import parse_cron

        self.timers = list(timers)
        self._crons = [parse_cron(t.cron, f"{t.function}.{t.name}.cronExpression") for t in self.timers]
        self._zones = [ZoneInfo(t.zone) for t in self.timers]
        self.clock = clock
        self.fire = fire
        self.on_skip = on_skip
        self.last = clock()

    def due(self, until: datetime) -> list[tuple[datetime, int]]:
        edges: list[tuple[datetime, int]] = []
        for index, (cron, zone) in enumerate(zip(self._crons, self._zones, strict=True)):
            mine: list[datetime] = []
            at = cron.next_after(self.last, zone)
            while at is not None and at <= until:
                mine.append(at)
                at = cron.next_after(at, zone)
            if len(mine) > MAX_CATCH_UP:
                if self.on_skip is not None:
                    self.on_skip(self.timers[index], len(mine) - 1)
                mine = mine[-1:]
            edges.extend((t, index) for t in mine)
        return sorted(edges)

    def run_due(self) -> list[tuple[TimerSpec, datetime]]:
        """Fire what is due up to now; returns (timer, fire time) in the order fired."""
        now = self.clock()
        fired = []
        for at, index in self.due(now):
            self.fire(self.timers[index], at)
            fired.append((self.timers[index], at))
        self.last = max(self.last, now)
        return fired

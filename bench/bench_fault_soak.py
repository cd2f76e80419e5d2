"""A fault soak: one reconcile tick over 1,000 queues with callbacks in 20 buckets while CI fails.

Run: .venv/bin/python bench/bench_fault_soak.py [--error-rate 0.3] [--latency-ms 5] [--seed 8]   (about 30 s)

The emulator runs in a child process (``python -m ciqueue emulator --port 0``), seeded through its
admin API with 20 buckets of 50 pic queues, each with a Url callback (an unknown NotifyConfig child
included) and an element ciqueue does not model. A window is open, so the tick must pause them
all. The faults (``POST /_emulator/faults``): ``error_rate`` 0.3 (an injected 500 InternalError,
which the client retries), ``latency_ms`` on every CI request, and dropped connections (the
socket closed without a byte of answer): ``drop_next`` is topped up every 50 ms while the tick
runs, so drops land all through it, hardest on the few requests in flight at the start (the
listings) and the end. The error RNG is seeded; the drops follow the clock, so the figures vary
a little from run to run.

Reported, per queue, from the tick's own report against what the emulator holds afterwards:
- succeeded: an operation that changed the queue, and the emulator holds it Paused;
- failed loudly: an error entry names the queue (stage ``apply``) or its bucket's listing
  (stage ``observe``), and the emulator agrees with what the entry says was written (nothing,
  or ``written: true, verified: false`` for an ``UnverifiedWrite``);
- unaccounted (goal 0): every other queue: in neither list, in both, reported paused but not
  Paused, or reported unwritten but changed;
- fields lost (goal 0): every queue's Name, NotifyConfig (all children) and extra elements are
  compared before and after (everything but State and UpdateTime);
- the tick's wall time against the deadline it ran under.
Then a clean rerun (faults cleared) must converge: every queue Paused, 0 fields lost, no error.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from _emulator import Emulator, always_paused, fleet_queue_id, seed_fleet
from ciqueue.app.reconcile import ReconcileReport, reconcile
from ciqueue.app.runtime import Runtime
from ciqueue.ci.credentials import Credentials
from ciqueue.ci.retry import Deadline
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.state.file import FileStateStore

REGION = "ap-guangzhou"
BUCKETS = 20
QUEUES_PER_BUCKET = 50
CONCURRENCY = 16
DEADLINE_S = 90.0  # well under the scheduler's 300 s SCF timeout; the soak must also end by it
DROP_EVERY_S = 0.05
DROPS_EACH_TIME = 1
# Fields the tick may change (State) or the service sets (UpdateTime); every other one must survive.
MAY_CHANGE = {"State", "UpdateTime"}


def bucket_name(index: int) -> str:
    return f"soak{index:02d}-1250000000"


queue_id = fleet_queue_id


def notify(bucket: int, number: int) -> dict[str, Any]:
    """A distinct callback per queue, with a child ciqueue does not model (it must survive)."""
    return {
        "State": "On",
        "Type": "Url",
        "Url": f"https://cb{bucket:02d}.example.com/ci/{number}?token=t{bucket}-{number}",
        "Event": "TaskFinish",
        "ResultFormat": "JSON",
        "KafkaConfig": {"Region": REGION, "InstanceId": f"ckafka-{bucket}", "Topic": f"t{number}"},
    }


def seed(emulator: Emulator) -> None:
    seed_fleet(
        emulator,
        BUCKETS,
        bucket_name,
        REGION,
        QUEUES_PER_BUCKET,
        lambda b, n: {
            "kind": "pic",
            "queue_id": queue_id(b, n),
            "name": f"soak-{b}-{n}",
            "notify_config": notify(b, n),
            "extra": {"SomeNewElement": f"v{n}", "Limits": {"Burst": str(n % 7)}},
        },
    )


def snapshot(emulator: Emulator) -> dict[str, dict[str, Any]]:
    """Every queue by ``bucket/region/pic/id``: its whole stored configuration (XML names)."""
    return {
        f"{bucket['bucket']}/{REGION}/pic/{queue['QueueId']}": dict(queue)
        for bucket in emulator.call("GET", "state")["buckets"]
        for queue in bucket["queues"]
    }


def fields_lost(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[str]:
    """``queue: field`` for every field (but State, UpdateTime) that differs or went missing."""
    lost: list[str] = []
    for key, old in before.items():
        new = after.get(key)
        if new is None:
            lost.append(f"{key}: the queue")
            continue
        for name in sorted(set(old) | set(new)):
            if name not in MAY_CHANGE and old.get(name) != new.get(name):
                lost.append(f"{key}: {name}")
    return lost


class Dropper:
    """Tops up ``drop_next`` while the tick runs, so dropped connections land all through it."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="soak-dropper", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(DROP_EVERY_S):
            self.emulator.call("POST", "faults", {"drop_next": DROPS_EACH_TIME})

    def __enter__(self) -> Dropper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def tick(emulator: Emulator, state_file: Path) -> tuple[ReconcileReport, float]:
    runtime = Runtime(
        config=always_paused([bucket_name(b) for b in range(BUCKETS)], REGION, CONCURRENCY),
        state=FileStateStore(state_file),
        endpoint=emulator.endpoint,
        credentials=Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY),
    )
    started = time.perf_counter()
    # The audit lines (one per change or failure) are produced as in production, then dropped.
    with contextlib.redirect_stdout(io.StringIO()):
        report = reconcile(runtime, now=datetime.now(timezone.utc), deadline=Deadline.after(DEADLINE_S))
    return report, time.perf_counter() - started


def account(report: ReconcileReport, after: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Each queue in exactly one bucket: succeeded, failed (nothing written), unverified, or
    unaccounted (with the reason)."""
    succeeded = {o["queue"] for o in report.operations if o["changed"]}
    failed: dict[str, dict[str, Any]] = {}
    for error in report.errors:
        if error.get("stage") == "apply":
            failed[error["queue"]] = error
        elif error.get("stage") == "observe":
            for key in after:
                if key.startswith(error["scope"] + "/"):
                    failed[key] = error
    outcome: dict[str, list[str]] = {"succeeded": [], "failed": [], "unverified": [], "unaccounted": []}
    for key, queue in after.items():
        paused = queue["State"] == "Paused"
        if key in succeeded and key in failed:
            outcome["unaccounted"].append(f"{key}: reported done and failed")
        elif key in succeeded:
            outcome["succeeded" if paused else "unaccounted"].append(key)
        elif key in failed:
            written = bool(failed[key].get("written"))
            if written:
                outcome["unverified"].append(key)  # written, not verified: Paused or not, it is said
            elif paused:
                outcome["unaccounted"].append(f"{key}: reported unwritten but Paused")
            else:
                outcome["failed"].append(key)
        else:
            outcome["unaccounted"].append(f"{key}: in no report list")
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--error-rate", type=float, default=0.3, help="injected error rate (default 0.3)")
    parser.add_argument("--latency-ms", type=int, default=5, help="latency per CI request (default 5)")
    parser.add_argument("--seed", type=int, default=8, help="the emulator's fault RNG seed (default 8)")
    args = parser.parse_args(argv)
    total = BUCKETS * QUEUES_PER_BUCKET
    # The tick logs each failed listing as a warning; the figures below count them all.
    logging.getLogger("ciqueue").setLevel(logging.ERROR)
    emulator = Emulator(timeout=30)
    try:
        seed(emulator)
        before = snapshot(emulator)
        emulator.call("DELETE", "requests")
        emulator.call(
            "POST",
            "faults",
            {"error_rate": args.error_rate, "latency_ms": args.latency_ms, "seed": args.seed},
        )
        with tempfile.TemporaryDirectory() as folder:
            state_file = Path(folder) / "state.json"
            with Dropper(emulator):
                report, wall = tick(emulator, state_file)
            emulator.call("DELETE", "faults")
            log = emulator.call("GET", "requests")
            after = snapshot(emulator)
            emulator.call("DELETE", "requests")
            clean, clean_wall = tick(emulator, state_file)
            final = snapshot(emulator)
            clean_log = emulator.call("GET", "requests")
    finally:
        emulator.stop()

    outcome = account(report, after)
    lost = fields_lost(before, after)
    statuses = Counter(
        "dropped" if e["code"] == "DroppedConnection" else f"{e['method']} {e['status']}" for e in log
    )
    stages = Counter(f"{e.get('stage')}:{e.get('code')}" for e in report.errors)
    print(
        f"fault soak: {total} queues with callbacks in {BUCKETS} buckets, one tick pausing them all, "
        f"concurrency {CONCURRENCY}, {os.cpu_count()} cores shared with the emulator process"
    )
    print(
        f"  faults: error_rate {args.error_rate} (500 InternalError), {args.latency_ms} ms latency, "
        f"{DROPS_EACH_TIME} dropped connection every {DROP_EVERY_S * 1000:.0f} ms, seed {args.seed}"
    )
    print(
        f"  CI requests: {len(log)} ("
        + ", ".join(f"{n} {what}" for what, n in sorted(statuses.items()))
        + ")"
    )
    print(
        f"  operations: {len(outcome['succeeded'])} succeeded, "
        f"{len(outcome['failed']) + len(outcome['unverified'])} failed loudly "
        f"({len(outcome['failed'])} nothing written, {len(outcome['unverified'])} written not verified), "
        f"{len(outcome['unaccounted'])} unaccounted (goal 0)"
    )
    print("  errors by stage:code: " + (", ".join(f"{n} {k}" for k, n in sorted(stages.items())) or "none"))
    print(f"  fields lost: {len(lost)} (goal 0; Name, NotifyConfig and extras of every queue compared)")
    verdict = "within" if wall <= DEADLINE_S else "PAST"
    print(f"  time: {wall:.2f} s against a {DEADLINE_S:.0f} s deadline ({verdict} it)")
    clean_lost = fields_lost(before, final)
    paused = sum(1 for q in final.values() if q["State"] == "Paused")
    clean_puts = sum(1 for e in clean_log if e["method"] == "PUT")
    print(
        f"  clean rerun (faults cleared): {paused}/{total} Paused, {len(clean_lost)} fields lost, "
        f"{len(clean.errors)} errors, {clean_puts} PUTs, {clean_wall:.2f} s"
    )
    for line in (outcome["unaccounted"] + lost + clean_lost)[:10]:
        print(f"  ! {line}")
    converged = paused == total and not clean_lost and clean.ok
    if outcome["unaccounted"] or lost or not converged or wall > DEADLINE_S:
        print("  soak goals NOT met")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

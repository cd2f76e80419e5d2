"""A reconcile tick over 1,000 queues in 20 buckets, each CI request 25 ms away.

Run: .venv/bin/python bench/bench_reconcile.py [--concurrency 8,16,32] [--sdk-sample 100]   (about 60 s)
Against older code, the tick alone (e.g. ``git archive ccda8c2 | tar -x -C /tmp/old``):
  PYTHONPATH=/tmp/old/shared .venv/bin/python bench/bench_reconcile.py --concurrency 8 \\
    --no-previous --sdk-sample 0

The emulator runs in a separate process (``python -m ciqueue emulator --port 0``), seeded through
its admin API, with ``latency_ms: 25`` on every CI request. A window is open, so every queue must
be paused: one listing per bucket page, then per batch of up to 10 queues one read (describe with
queueIds), the PUTs of the batch at once, and one verifying read.

Reported:
- requests per changed queue (goal: at most 1.3) and our wall time against the ideal,
  ``requests x 25 ms / concurrency``;
- the window between the read a PUT body was built from and that PUT, as the emulator saw it
  (``answered_at`` of the batch read and of the PUT, from ``GET /_emulator/requests``): median
  and p95, against one request's latency (the single-queue path's window);
- the most requests any bucket received in one second (``received_at``) against
  ``settings.rate_limit``;
- at concurrency 8, the same tick through the previous pipeline (per queue: read, PUT, verifying
  read; ``reconcile.carry_out`` on a pool of 8, no rate limit), and the figure recorded on main
  before the batching (goal: ours at most 0.5x of it);
- the same reads and writes as a plain sequential loop over the official SDK
  (``ci_get_media_pic_queue`` + ``ci_update_media_pic_queue`` per queue, no verification), timed
  on a sample of queues and extrapolated to all of them (said so in the output).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import ciqueue.app.reconcile as reconcile_module
from _emulator import Emulator, always_paused, fleet_queue_id, sdk_client, seed_fleet
from ciqueue.app.reconcile import reconcile
from ciqueue.app.runtime import Runtime
from ciqueue.ci.credentials import Credentials
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.state.file import FileStateStore

REGION = "ap-guangzhou"
BUCKETS = 20
QUEUES_PER_BUCKET = 50
LATENCY_MS = 25
# main before batching (ccda8c2), concurrency 8, on this 2-core machine shared with other work:
# 15.03, 14.50, 14.21 s at load ~4 (median 14.50 s); 17.90, 16.91, 20.01 s at load 12-15. The
# wall time swings with the load, so the goal is judged against the previous pipeline run in
# the same process, minutes apart; the recorded figure is printed beside it.
RECORDED_MAIN_WALL_S = 14.50
NOTIFY = {"State": "On", "Type": "Url", "Url": "https://cb.example.com/ci", "Event": "TaskFinish"}


def bucket_name(index: int) -> str:
    return f"bench{index:02d}-1250000000"


queue_id = fleet_queue_id


def seed(emulator: Emulator) -> None:
    seed_fleet(
        emulator,
        BUCKETS,
        bucket_name,
        REGION,
        QUEUES_PER_BUCKET,
        lambda b, n: {"kind": "pic", "queue_id": queue_id(b, n), "name": f"q{n}", "notify_config": NOTIFY},
    )


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of another process, from /proc (None elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def old_pipeline(
    runtime: Any, decisions: list[Any], deadline: Any, actor: str, on_outcome: Any = None
) -> list[tuple[Any, Any]]:
    """The pipeline before batching: one task per queue on a pool of ``concurrency``, each a
    read, a PUT and a verifying read (``reconcile.carry_out``); its outcomes are audited after
    all of them, as then (``on_outcome`` unused)."""

    def one(decision: Any) -> tuple[Any, Any]:
        try:
            return decision, reconcile_module.carry_out(runtime, decision, deadline, actor)
        except Exception as exc:
            return decision, exc

    with ThreadPoolExecutor(max_workers=runtime.concurrency) as pool:
        return list(pool.map(one, decisions))


def run_ours(emulator: Emulator, concurrency: int, *, old: bool = False) -> dict[str, Any]:
    """One reconcile that pauses everything: wall s, our CPU s, the request log, changed queues."""
    with tempfile.TemporaryDirectory() as folder:
        # The old pipeline had no rate limit: the highest setting stands in for none.
        config = always_paused(
            [bucket_name(b) for b in range(BUCKETS)], REGION, concurrency, rate_limit=1000 if old else None
        )
        runtime = Runtime(
            config=config,
            state=FileStateStore(Path(folder) / "state.json"),
            endpoint=emulator.endpoint,
            credentials=Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY),
        )
        emulator.call("DELETE", "requests")
        # Only the previous pipeline's run touches the batched path, so that the tick alone also
        # runs on older code (PYTHONPATH=<an older tree>/shared ... --no-previous --sdk-sample 0).
        batched = reconcile_module._carry_out_batched if old else None
        if old:
            reconcile_module._carry_out_batched = old_pipeline  # type: ignore[assignment]
        started, cpu = time.perf_counter(), time.process_time()
        try:
            # The audit lines (one per change) are produced as in production, then dropped.
            with contextlib.redirect_stdout(io.StringIO()):
                report = reconcile(runtime, now=datetime.now(timezone.utc))
        finally:
            if batched is not None:
                reconcile_module._carry_out_batched = batched  # type: ignore[assignment]
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    if not report.ok:
        raise SystemExit(f"reconcile failed: {report.errors[:3]}")
    changed = sum(1 for operation in report.operations if operation["changed"])
    return {
        "wall": wall,
        "cpu": cpu,
        "log": emulator.call("GET", "requests"),
        "changed": changed,
        "rate": getattr(config.settings, "rate_limit", None),  # None: code before the rate limit
    }


def windows_ms(log: list[dict[str, Any]]) -> list[float]:
    """Per PUT: ms between the emulator handling the last read that covered its queue and the PUT."""
    last_read: dict[str, float] = {}
    gaps: list[float] = []
    for entry in sorted(log, key=lambda e: e["answered_at"]):
        if entry["method"] == "GET" and entry["query"].get("queueIds"):
            for queue in entry["query"]["queueIds"].split(","):
                last_read[queue] = entry["answered_at"]
        elif entry["method"] == "PUT":
            queue = entry["path"].rsplit("/", 1)[-1]
            if queue in last_read:
                gaps.append((entry["answered_at"] - last_read[queue]) * 1000)
    return gaps


def busiest_second(log: list[dict[str, Any]]) -> int:
    """The most requests one bucket (host) received within any one second."""
    by_host: dict[str, list[float]] = {}
    for entry in log:
        by_host.setdefault(entry["host"], []).append(entry["received_at"])
    most = 0
    for times in by_host.values():
        times.sort()
        first = 0
        for last, at in enumerate(times):
            while at - times[first] >= 1.0:
                first += 1
            most = max(most, last - first + 1)
    return most


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def run_sdk(emulator: Emulator, sample: int) -> tuple[float, int]:
    """A sequential SDK loop over ``sample`` queues spread over every bucket: read, then PUT."""
    clients = {b: sdk_client(emulator, bucket_name(b), REGION) for b in range(BUCKETS)}
    picks = [(n % BUCKETS, n // BUCKETS) for n in range(sample)]
    emulator.call("DELETE", "requests")
    started = time.perf_counter()
    for b, n in picks:
        bucket, qid = bucket_name(b), queue_id(b, n)
        found = clients[b].ci_get_media_pic_queue(Bucket=bucket, QueueIds=qid)
        queue = found["QueueList"][0] if isinstance(found["QueueList"], list) else found["QueueList"]
        body = {"Name": queue["Name"], "State": "Active", "NotifyConfig": dict(queue["NotifyConfig"])}
        clients[b].ci_update_media_pic_queue(
            Bucket=bucket, QueueId=qid, Request=body, ContentType="application/xml"
        )
    wall = time.perf_counter() - started
    return wall, len(emulator.call("GET", "requests"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--concurrency",
        default="8,16,32",
        help="settings.concurrency values to run, comma separated (default 8,16,32; 8 is our default)",
    )
    parser.add_argument(
        "--sdk-sample", type=int, default=100, help="queues timed in the SDK loop (default 100; 0: none)"
    )
    parser.add_argument(
        "--no-previous",
        action="store_true",
        help="skip the previous pipeline's tick (e.g. when PYTHONPATH points at an older tree)",
    )
    args = parser.parse_args(argv)
    levels = [int(text) for text in args.concurrency.split(",") if text.strip()]
    total = BUCKETS * QUEUES_PER_BUCKET
    runs: list[tuple[int, dict[str, Any], float | None]] = []
    emulator = Emulator(timeout=30)

    def tick(concurrency: int, old: bool = False) -> tuple[dict[str, Any], float | None]:
        seed(emulator)
        emulator.call("POST", "faults", {"latency_ms": LATENCY_MS})
        before = process_cpu(emulator.process.pid)
        run = run_ours(emulator, concurrency, old=old)
        after = process_cpu(emulator.process.pid)
        states = {q["State"] for b in emulator.call("GET", "state")["buckets"] for q in b["queues"]}
        if states != {"Paused"}:
            raise SystemExit(f"not every queue was paused: {states}")
        return run, (after - before if after is not None and before is not None else None)

    try:
        for concurrency in levels:
            run, emu_cpu = tick(concurrency)
            runs.append((concurrency, run, emu_cpu))
        old_run = None if args.no_previous else tick(8, old=True)[0]
        sdk_wall, sdk_count = run_sdk(emulator, args.sdk_sample) if args.sdk_sample > 0 else (0.0, 0)
    finally:
        emulator.stop()

    sdk_total = sdk_wall * total / max(args.sdk_sample, 1)
    print(
        f"reconcile: {total} queues in {BUCKETS} buckets, every queue paused, "
        f"{LATENCY_MS} ms per CI request, {os.cpu_count()} cores shared with the emulator process"
    )
    print(
        "  concurrency   requests   per changed queue   ideal s   ours s   ours/ideal"
        "   our CPU ms/request   emulator CPU s"
    )
    for concurrency, run, emu_cpu in runs:
        count = len(run["log"])
        ideal = count * LATENCY_MS / 1000 / concurrency
        emulator_text = f"{emu_cpu:.2f}" if emu_cpu is not None else "?"
        per_queue = count / max(run["changed"], 1)
        verdict = "" if per_queue <= 1.3 else "  (goal 1.3 per changed queue NOT met)"
        print(
            f"  {concurrency:11d}   {count:8d}   {per_queue:17.2f}   {ideal:7.2f}   {run['wall']:6.2f}"
            f"   {run['wall'] / ideal:9.2f}x   {run['cpu'] / count * 1000:18.2f}"
            f"   {emulator_text:>14}{verdict}"
        )
    last = runs[-1][1]
    methods: dict[str, int] = {}
    for entry in last["log"]:
        methods[entry["method"]] = methods.get(entry["method"], 0) + 1
    print("  requests per tick: " + ", ".join(f"{n} {m}" for m, n in sorted(methods.items())))
    print(
        "  ideal = requests x latency / concurrency; where our CPU time exceeds it, the process is\n"
        "  CPU-bound (one GIL, 2 cores shared with the emulator) and more concurrency cannot help."
    )
    for concurrency, run, _ in runs:
        gaps = windows_ms(run["log"])
        rate_text = "none" if run["rate"] is None else f"{run['rate']:g}"
        print(
            f"  concurrency {concurrency}: read-to-PUT window (emulator's clock) median "
            f"{percentile(gaps, 0.5):.0f} ms, p95 {percentile(gaps, 0.95):.0f} ms, max {max(gaps):.0f} ms "
            f"over {len(gaps)} PUTs ({LATENCY_MS} ms = one request); busiest bucket second: "
            f"{busiest_second(run['log'])} requests (rate_limit {rate_text})"
        )
    if old_run is None:
        return 0
    old_gaps = windows_ms(old_run["log"])
    eight = next((run for concurrency, run, _ in runs if concurrency == 8), None)
    old_count = len(old_run["log"])
    print(
        f"  previous pipeline (read, PUT, verify per queue) at concurrency 8: {old_count} requests "
        f"({old_count / max(old_run['changed'], 1):.2f} per changed queue), {old_run['wall']:.2f} s; "
        f"window median {percentile(old_gaps, 0.5):.0f} ms, p95 {percentile(old_gaps, 0.95):.0f} ms"
    )
    if eight is not None:
        ratio = eight["wall"] / old_run["wall"]
        recorded = eight["wall"] / RECORDED_MAIN_WALL_S
        verdict = "met" if ratio <= 0.5 else "NOT met"
        print(
            f"  concurrency 8: ours / previous pipeline = {ratio:.2f}x (this run; goal 0.5x: {verdict}); "
            f"ours / main's recorded {RECORDED_MAIN_WALL_S:.2f} s (at another load) = {recorded:.2f}x"
        )
    best_wall = min(run["wall"] for _, run, _ in runs)
    if args.sdk_sample <= 0:
        return 0
    print(
        f"  official SDK, sequential read + PUT: {sdk_wall:.2f} s for a sample of {args.sdk_sample} queues "
        f"({sdk_count} requests), extrapolated to {total} queues: {sdk_total:6.2f} s"
    )
    print(
        f"  SDK loop (extrapolated) / ours (fastest run) = {sdk_total / best_wall:.1f}x  "
        f"(ours also verifies every write: {len(last['log']) / total:.2f} requests per queue, "
        "the SDK loop 2)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

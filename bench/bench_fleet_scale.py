"""A fleet tick through sharding: 10,000 queues in 200 buckets, scheduler -> worker invocations.

Run: .venv/bin/python bench/bench_fleet_scale.py [--instances 4] [--latency-ms 25] [--dispatch-ms 50]
     (2-5 minutes on a loaded 2-core box; --memory-only for the memory part alone; --phases: where
     each shard's time goes, timed inside the instances by bench/_phases.py)

The emulator runs in a separate process, seeded through its admin API in chunks of 20 buckets,
with ``latency_ms`` on every CI and COS request; the state object lives in the emulator's COS
(``CIQUEUE_STATE_BUCKET``), as on SCF, so the shards' state writes contend as they would there.
A window is open over every queue, so one tick must pause all 10,000.

The tick is ``reconcile`` in this process (the scheduler) with ``settings.shard_size`` 200: it
lists the 200 buckets, packs them into shards and hands each to the worker function through a
``dev.invoke.ProcessInvoker``. Why processes: SCF runs each worker invocation in an instance of
its own (its own CPU share, memory and GIL); threads of one process would share one GIL and
measure Python's lock instead of the fan-out. Each of the ``--instances`` spawned interpreters
loads the worker's handler module (``ciqueue.handlers.worker``) once (warm instances, started
before the clock runs; the cold start is printed apart) and runs ``main_handler`` with an
SCF-shaped event and context, one event at a time. Each dispatch waits ``--dispatch-ms`` before
it returns, the modelled answer time of SCF's Invoke API (``InvocationType=Event``; assumed, not
measured on SCF).

Ideal (the critical path if nothing but latency and the rate limit cost anything), with L the
latency, c ``settings.concurrency``, r ``settings.rate_limit`` per bucket (where the settings have
one), S shards, K instances:
    ceil(scheduler requests / c) x L            the scheduler's listings
  + dispatch                                    one Invoke answer before the first shard starts
  + ceil(S / K) x one shard                     waves of K shards
    one shard = max((worker requests / S) / c x L, (worker requests / buckets) / r)
The ideal keeps the whole listing phase on the critical path, as before; the scheduler now
dispatches each shard as soon as its buckets are listed, so most of that phase overlaps the first
wave (the first dispatch's instant is printed). The scheduler's requests are counted in this
process (the instances are processes of their own).
On SCF, K is the number of shards (every shard its own instance); locally K is bounded by the
cores, so the bench says when the box is CPU-bound rather than latency-bound (CPU seconds of ours
and of the emulator against cores x wall).

Memory: a fresh interpreter runs ONE worker invocation (``main_handler``, SCF event and context)
over a 1,000-queue shard, and one scheduler tick (an empty timer Message) over the same 1,000
queues inline; each prints its peak RSS (``ru_maxrss``), against SCF's small size, 128 MB, and
against a fresh interpreter running the official SDK's read + PUT loop.

Baseline: the official SDK (``cos-python-sdk-v5``) reading and PUTting one queue at a time,
timed on a sample and extrapolated to the 10,000 (said so in the output).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import _phases
from _emulator import SHARED, Emulator, always_paused_text, fleet_queue_id, sdk_client, seed_fleet
from bench_reconcile import process_cpu
from ciqueue.app.reconcile import reconcile
from ciqueue.app.runtime import Runtime
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.dev.invoke import ProcessInvoker
from ciqueue.limits import MAX_HISTORY_CHANGES

REGION = "ap-guangzhou"
BUCKETS = 200
QUEUES_PER_BUCKET = 50
SEED_CHUNK = 20  # buckets per admin seed call (one call of 10,000 queues is a 3 MB body)
MEMORY_BUCKETS = 20  # 20 x 50 = the 1,000 queues of the memory goal
STATE_BUCKET = "ciqueue-state-1250000000"
SMALL_MB = 128
NOTIFY = {"State": "On", "Type": "Url", "Url": "https://cb.example.com/ci", "Event": "TaskFinish"}


def bucket_name(index: int) -> str:
    return f"fleet{index:03d}-1250000000"


queue_id = fleet_queue_id


def seed(emulator: Emulator, buckets: int) -> float:
    """Reset, then seed ``buckets`` x 50 queues; the seconds it took."""
    started = time.perf_counter()
    seed_fleet(
        emulator,
        buckets,
        bucket_name,
        REGION,
        QUEUES_PER_BUCKET,
        lambda b, n: {"kind": "pic", "queue_id": queue_id(b, n), "name": f"q{n}", "notify_config": NOTIFY},
        chunk=SEED_CHUNK,
    )
    return time.perf_counter() - started


def function_env(emulator: Emulator, config_path: Path) -> dict[str, str | None]:
    """What a deployed function's environment holds, pointed at the emulator."""
    return {
        "CIQUEUE_ENDPOINT": emulator.endpoint,
        "TENCENTCLOUD_SECRETID": DEMO_SECRET_ID,
        "TENCENTCLOUD_SECRETKEY": DEMO_SECRET_KEY,
        "TENCENTCLOUD_SESSIONTOKEN": None,
        "TENCENTCLOUD_REGION": REGION,
        "CIQUEUE_CONFIG": str(config_path),
        "CIQUEUE_STATE_BUCKET": STATE_BUCKET,
        "CIQUEUE_STATE_KEY": "ciqueue/state.json",
        "CIQUEUE_INVOKER": None,
        "CIQUEUE_NOW": None,
        "PYTHONPATH": SHARED,
    }


class TimedInvoker(ProcessInvoker):
    """A ProcessInvoker that notes when the first dispatch began (the scheduler dispatches shards
    while it still lists the other buckets)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.first_dispatch: float | None = None

    def invoke_async(self, function_name: str, payload: Any) -> str | None:
        with self._lock:
            if self.first_dispatch is None:
                self.first_dispatch = time.perf_counter()
        return super().invoke_async(function_name, payload)


@contextlib.contextmanager
def counting_requests() -> Any:
    """The CI requests THIS process (the scheduler) sends, counted per attempt; the worker
    instances are processes of their own, so theirs are not."""
    from ciqueue.ci.client import CIClient

    sent = [0]
    original = CIClient._send_once

    def send_once(self: Any, *args: Any, **kwargs: Any) -> Any:
        sent[0] += 1
        return original(self, *args, **kwargs)

    CIClient._send_once = send_once  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        CIClient._send_once = original  # type: ignore[method-assign]


def run_tick(emulator: Emulator, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """One tick over the whole fleet; every figure the report prints."""
    config_path = folder / "ciqueue.yml"
    config_path.write_text(
        always_paused_text(
            [bucket_name(b) for b in range(BUCKETS)], REGION, args.concurrency, args.shard_size
        )
    )
    env = function_env(emulator, config_path)
    phases = folder / "phases"
    if args.phases:  # each instance preloads the timing hooks (bench/_phases.py)
        phases.mkdir()
        env[_phases.ENV] = str(phases)
    cold = time.perf_counter()
    invoker = TimedInvoker(
        "worker",
        env,
        instances=args.instances,
        dispatch_s=args.dispatch_ms / 1000,
        time_limit_ms=600_000,
        stdout=os.devnull,
        preload=("_phases",) if args.phases else (),
    )
    try:
        pids = invoker.warm()
        cold = time.perf_counter() - cold
        runtime = Runtime.from_env(
            {k: v for k, v in env.items() if v is not None}, invoker=invoker, worker_function="worker"
        )
        emulator.call("POST", "faults", {"latency_ms": args.latency_ms})
        emulator.call("DELETE", "requests")
        emulator_cpu = process_cpu(emulator.process.pid)
        instance_cpu = sum(process_cpu(pid) or 0.0 for pid in pids)
        load = os.getloadavg()[0]
        started, cpu = time.perf_counter(), time.process_time()
        # The scheduler's own audit lines are dropped.
        with contextlib.redirect_stdout(io.StringIO()), counting_requests() as scheduler_requests:
            report = reconcile(runtime, now=datetime.now(timezone.utc))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        instance_cpu = sum(process_cpu(pid) or 0.0 for pid in pids) - instance_cpu
        after = process_cpu(emulator.process.pid)
        emu_cpu = after - emulator_cpu if after is not None and emulator_cpu is not None else 0.0
        counts = emulator.call("GET", "requests/counts")
        emulator.call("DELETE", "faults")
        doc, _ = runtime.state.load()
    finally:
        invoker.close()
    runs = list(invoker.runs.values())
    return {
        "report": report,
        "rate_limit": getattr(runtime.config.settings, "rate_limit", None) if runtime.config else None,
        "load": (load, os.getloadavg()[0]),
        "wall": wall,
        "scheduler_cpu": cpu,
        "instance_cpu": instance_cpu,
        "emulator_cpu": emu_cpu,
        "cold": cold,
        "counts": counts,
        "scheduler_requests": scheduler_requests[0],
        "first_dispatch_at": (invoker.first_dispatch or started) - started,
        "shards": len(report.shards),
        "max_rss_kib": max((r.max_rss_kib for r in runs), default=0),
        "shard_walls": sorted(r.wall_s for r in runs),
        "state_bytes": len(doc.to_json()),
        "state_records": len(doc.last_applied),
        "state_history": len(doc.changes),
        "phases": _phases.read(phases) if args.phases else [],
        "report_bytes": len(json.dumps(report.to_dict(decisions=False), default=str)),
    }


def check_end_state(emulator: Emulator, total: int) -> tuple[int, int]:
    """(paused, callbacks intact) over every queue the emulator holds; exits unless all are."""
    queues = [q for b in emulator.call("GET", "state")["buckets"] for q in b["queues"]]
    paused = sum(q["State"] == "Paused" for q in queues)
    intact = sum(
        all(q.get("NotifyConfig", {}).get(name) == value for name, value in NOTIFY.items()) for q in queues
    )
    if len(queues) != total or paused != total or intact != total:
        raise SystemExit(f"end state wrong: {len(queues)} queues, {paused} paused, {intact} callbacks intact")
    return paused, intact


def run_sdk(emulator: Emulator, sample: int) -> float:
    """A sequential SDK loop over ``sample`` queues spread over every bucket: read, then PUT."""
    clients: dict[int, Any] = {}
    picks = [(n % BUCKETS, n // BUCKETS) for n in range(sample)]
    started = time.perf_counter()
    for b, n in picks:
        if b not in clients:
            clients[b] = sdk_client(emulator, bucket_name(b), REGION)
        bucket, qid = bucket_name(b), queue_id(b, n)
        found = clients[b].ci_get_media_pic_queue(Bucket=bucket, QueueIds=qid)
        queue = found["QueueList"][0] if isinstance(found["QueueList"], list) else found["QueueList"]
        body = {"Name": queue["Name"], "State": "Active", "NotifyConfig": dict(queue["NotifyConfig"])}
        clients[b].ci_update_media_pic_queue(
            Bucket=bucket, QueueId=qid, Request=body, ContentType="application/xml"
        )
    return time.perf_counter() - started


# --- memory: one invocation in a fresh interpreter ------------------------------------------------


def child_main(kind: str, endpoint: str, port: int, folder: str) -> int:
    """In a fresh interpreter: one invocation, then its peak RSS as JSON on stdout."""
    import resource

    if kind == "sdk":
        emulator = Emulator.__new__(Emulator)
        emulator.endpoint, emulator.port = endpoint, port
        for n in range(100):
            b = n % MEMORY_BUCKETS
            client = sdk_client(emulator, bucket_name(b), REGION)
            qid = queue_id(b, n // MEMORY_BUCKETS)
            found = client.ci_get_media_pic_queue(Bucket=bucket_name(b), QueueIds=qid)
            queue = found["QueueList"][0] if isinstance(found["QueueList"], list) else found["QueueList"]
            body = {"Name": queue["Name"], "State": "Paused", "NotifyConfig": dict(queue["NotifyConfig"])}
            client.ci_update_media_pic_queue(
                Bucket=bucket_name(b), QueueId=qid, Request=body, ContentType="application/xml"
            )
        result: dict[str, Any] = {"ok": True, "observed": 100}
    else:
        from ciqueue.dev.events import scf_context, timer_event
        from ciqueue.dev.invoke import load_handler

        handler = load_handler(kind)
        context = scf_context(kind, 300, SMALL_MB)
        if kind == "worker":
            event: dict[str, Any] = {
                "shard": [[bucket_name(b), REGION] for b in range(MEMORY_BUCKETS)],
                "now": datetime.now(timezone.utc).isoformat(),
                "dry_run": False,
            }
        else:
            event = timer_event("reconcile", datetime.now(timezone.utc))
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):  # audit lines: SCF's log
            answer = handler(event, context)
        report = answer.get("report") or {} if kind == "scheduler" else answer
        result = {"ok": answer.get("ok"), "observed": report.get("observed"), "counts": report.get("counts")}
    result["max_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result))
    return 0


def run_child(kind: str, emulator: Emulator, env: dict[str, str | None], folder: Path) -> dict[str, Any]:
    child_env = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    child_env["TRIGGER_SRC"] = "timer" if kind == "scheduler" else ""
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, emulator.endpoint, str(emulator.port), str(folder)],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{kind} child failed ({done.returncode}): {done.stderr[-2000:]}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def measure_memory(emulator: Emulator, args: argparse.Namespace, folder: Path) -> dict[str, dict[str, Any]]:
    """Peak RSS of one worker invocation and one scheduler tick over 1,000 queues, and of the SDK loop."""
    config_path = folder / "memory.yml"
    config_path.write_text(
        always_paused_text([bucket_name(b) for b in range(MEMORY_BUCKETS)], REGION, args.concurrency, 10_000)
    )
    env = function_env(emulator, config_path)
    results: dict[str, dict[str, Any]] = {}
    for kind in ("worker", "scheduler", "sdk"):
        seed(emulator, MEMORY_BUCKETS)
        emulator.call("POST", "faults", {"latency_ms": args.memory_latency_ms})
        results[kind] = run_child(kind, emulator, env, folder)
        emulator.call("DELETE", "faults")
        if kind != "sdk" and (results[kind]["ok"] is not True or results[kind]["observed"] != 1000):
            raise SystemExit(f"{kind} invocation did not reconcile 1,000 queues: {results[kind]}")
        if kind != "sdk":
            check_end_state(emulator, MEMORY_BUCKETS * QUEUES_PER_BUCKET)
    return results


def print_memory(results: dict[str, dict[str, Any]]) -> None:
    sdk_mb = results["sdk"]["max_rss_kib"] / 1024
    print(f"memory: peak RSS (ru_maxrss) of one invocation in a fresh interpreter, goal <= {SMALL_MB} MB")
    for kind, label in (
        ("worker", "worker, a 1,000-queue shard"),
        ("scheduler", "scheduler tick, 1,000 inline"),
    ):
        mb = results[kind]["max_rss_kib"] / 1024
        verdict = "met" if mb <= SMALL_MB else "NOT met"
        print(f"  {label:32s} {mb:7.1f} MB   ({mb / sdk_mb:.2f}x the SDK script's)   goal {verdict}")
    print(
        f"  {'official SDK, read + PUT loop':32s} {sdk_mb:7.1f} MB   (100 queues; its memory does not grow)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--instances", type=int, default=4, help="worker instances at once (default 4)")
    parser.add_argument("--concurrency", type=int, default=8, help="settings.concurrency (default 8)")
    parser.add_argument("--shard-size", type=int, default=200, help="settings.shard_size (default 200)")
    parser.add_argument("--latency-ms", type=int, default=25, help="per CI/COS request (default 25)")
    parser.add_argument("--dispatch-ms", type=int, default=50, help="each Invoke's answer (default 50)")
    parser.add_argument("--memory-latency-ms", type=int, default=5, help="for the memory runs (default 5)")
    parser.add_argument("--sdk-sample", type=int, default=100, help="queues timed in the SDK loop")
    parser.add_argument("--memory-only", action="store_true", help="only the memory measurements")
    parser.add_argument("--skip-memory", action="store_true", help="only the fleet tick")
    parser.add_argument(
        "--phases", action="store_true", help="time each shard's phases in the instances (bench/_phases.py)"
    )
    args = parser.parse_args(argv)
    total = BUCKETS * QUEUES_PER_BUCKET
    emulator = Emulator(timeout=120)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            memory = None if args.skip_memory else measure_memory(emulator, args, folder)
            tick = None
            if not args.memory_only:
                seeded = seed(emulator, BUCKETS)
                print(f"seeded {total} queues in {BUCKETS} buckets in {seeded:.1f} s")
                tick = run_tick(emulator, args, folder)
                paused, intact = check_end_state(emulator, total)
                emulator.call("POST", "faults", {"latency_ms": args.latency_ms})
                sdk_wall = run_sdk(emulator, args.sdk_sample)
                emulator.call("DELETE", "faults")
    finally:
        emulator.stop()
    if tick is not None:
        print_tick(tick, args, total, paused, intact, sdk_wall)
    if memory is not None:
        print_memory(memory)
    return 0


def print_tick(
    tick: dict[str, Any], args: argparse.Namespace, total: int, paused: int, intact: int, sdk_wall: float
) -> None:
    report = tick["report"]
    latency, c, k = args.latency_ms / 1000, args.concurrency, args.instances
    shards, requests = tick["shards"], tick["counts"]["total"]
    sched = tick["scheduler_requests"]
    workers = requests - sched
    per_shard = workers / shards if shards else 0.0
    ideal_list = math.ceil(sched / c) * latency
    # A shard is done no sooner than its requests at ``concurrency`` in flight, nor sooner than its
    # busiest bucket's requests at the per-bucket rate limit (settings.rate_limit, where there is one).
    rate = tick["rate_limit"]
    by_latency = per_shard / c * latency
    by_rate = workers / BUCKETS / rate if rate else 0.0
    one_shard = max(by_latency, by_rate)
    ideal_work = math.ceil(shards / k) * one_shard
    ideal = ideal_list + args.dispatch_ms / 1000 + ideal_work
    wall = tick["wall"]
    cpu = tick["scheduler_cpu"] + tick["instance_cpu"] + tick["emulator_cpu"]
    cores = os.cpu_count() or 1
    errors = len(report.errors)
    print(
        f"fleet tick: {total} queues in {BUCKETS} buckets, shard_size {args.shard_size}, {shards} shards, "
        f"{k} worker instances (processes), concurrency {c}, {args.latency_ms} ms per request, "
        f"{args.dispatch_ms} ms per dispatch, {cores} cores shared with the emulator "
        f"(load average {tick['load'][0]:.1f} before, {tick['load'][1]:.1f} after)"
    )
    kinds: dict[str, int] = {}
    for error in report.errors:
        name = f"{error.get('stage')}:{error.get('code')}"
        kinds[name] = kinds.get(name, 0) + 1
    told = " (" + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ")" if kinds else ""
    print(
        f"  end state: {paused}/{total} Paused, {intact}/{total} callbacks intact, "
        f"{errors} errors in the report{told}"
    )
    methods = ", ".join(f"{n} {m}" for m, n in tick["counts"]["methods"].items())
    print(
        f"  requests: {requests} ({methods}); scheduler {sched}, workers {workers} "
        f"({workers / total:.2f} per queue)"
    )
    print(
        f"  ideal: listings {ideal_list:.2f} s + dispatch {args.dispatch_ms / 1000:.2f} s + "
        f"{math.ceil(shards / k)} waves x {one_shard:.2f} s = {ideal:.2f} s (a shard: "
        f"{by_latency:.2f} s of requests at concurrency {c}"
        + (f", {by_rate:.2f} s of its buckets' requests at {rate:g}/s per bucket)" if rate else ")")
    )
    verdict = "met" if wall <= 1.5 * ideal else "NOT met"
    print(
        f"  ours: {wall:.2f} s = {wall / ideal:.2f}x the ideal (goal 1.5x: {verdict}); "
        f"the first shard was dispatched at {tick['first_dispatch_at']:.2f} s"
    )
    scf_ideal = ideal_list + args.dispatch_ms / 1000 + one_shard
    print(
        f"  on SCF every shard is an instance of its own: ideal {scf_ideal:.2f} s "
        f"(listings + dispatch + one shard)"
    )
    walls = tick["shard_walls"]
    if walls:
        fanning = wall - tick["first_dispatch_at"]
        busy_instances = sum(walls) / (k * fanning) if fanning > 0 else 0.0
        print(
            f"  shard wall s: min {walls[0]:.2f}, median {walls[len(walls) // 2]:.2f}, max {walls[-1]:.2f}; "
            f"instances busy {busy_instances:.0%} of the {fanning:.1f} s after the first dispatch "
            f"(the fan-out's own overhead: the rest)"
        )
        print(
            f"  worker instance peak RSS {tick['max_rss_kib'] / 1024:.1f} MB (a warm instance after "
            f"{shards / k:.0f} shards); cold start of {k} instances {tick['cold']:.1f} s (not in the wall)"
        )
    busy = cpu / (cores * wall)
    print(
        f"  CPU s: scheduler {tick['scheduler_cpu']:.1f}, instances {tick['instance_cpu']:.1f}, "
        f"emulator {tick['emulator_cpu']:.1f} = {busy:.0%} of {cores} cores over the wall"
        + ("  (CPU-bound: the box, not the latency, sets the pace)" if busy > 0.8 else "")
    )
    print(
        f"  state object: {tick['state_bytes'] / 1e6:.2f} MB, {tick['state_records']} last-applied records "
        f"(one per queue: every shard reads and rewrites it all), history {tick['state_history']} entries "
        f"(bounded: limits.MAX_HISTORY_CHANGES {MAX_HISTORY_CHANGES}); the tick's merged report "
        f"{tick['report_bytes'] / 1e6:.2f} MB (a local fan-out only: on SCF the scheduler keeps its "
        "shard entries)"
    )
    if tick["phases"]:
        print_phases(tick["phases"])
    sdk_total = sdk_wall * total / args.sdk_sample
    print(
        f"  official SDK, sequential read + PUT: {sdk_wall:.2f} s for {args.sdk_sample} queues, extrapolated "
        f"to {total}: {sdk_total:.0f} s = {sdk_total / wall:.1f}x ours; "
        f"per queue {sdk_wall / args.sdk_sample * 1000:.1f} ms vs ours {wall / total * 1000:.2f} ms"
    )


def print_phases(shards: list[dict[str, Any]]) -> None:
    """Per phase, the median over the shards of its calls, wall and thread CPU seconds."""

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2] if values else 0.0

    wall, cpu = median([s["wall"] for s in shards]), median([s["cpu"] for s in shards])
    print(
        f"  where a shard's time goes (medians of {len(shards)} shards; wall summed over threads): "
        f"shard {wall:.2f} s wall, {cpu:.2f} s CPU"
    )
    names = [name for name, _ in _phases.PHASES]
    names += sorted({n for s in shards for n in s["stats"] if n.startswith("request.")})
    labels = dict(_phases.PHASES)
    for name in names:
        found = [s["stats"].get(name, [0, 0.0, 0.0]) for s in shards]
        calls, wall, cpu = (median([f[i] for f in found]) for i in range(3))
        print(
            f"    {name:16s} {calls:6.0f} calls ({sum(f[0] for f in found):6.0f} in all) {wall:7.3f} s wall "
            f"{cpu:6.3f} s CPU   {labels.get(name, 'requests (retries inside)')}"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        raise SystemExit(child_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]))
    raise SystemExit(main())

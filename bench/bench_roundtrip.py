"""What safety costs: our pause/resume (read, write, re-read, verify) vs the SDK's blind PUT.

Run: .venv/bin/python bench/bench_roundtrip.py   (about 5-10 s, bounded at 30 s)

The emulator runs in a separate process (``python -m ciqueue emulator --port 0``), so only
client-side CPU is measured (time.process_time in this process). Rounds alternate: a batch of
our operations (``pause_queue``/``resume_queue``, 3 requests each), then a batch of the official
SDK's ``ci_update_media_pic_queue`` writing the same body blindly (1 request each). Reported:
wall ms per operation, requests per operation (counted by the emulator), and client CPU per
HTTP request; medians over rounds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from _emulator import Emulator, sdk_client
from ciqueue.ci.client import CIClient
from ciqueue.ci.credentials import Credentials
from ciqueue.ci.operations import pause_queue, resume_queue
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY

BUCKET = "bench-1250000000"
REGION = "ap-guangzhou"
QUEUE_ID = "p" + "b" * 31 + "1"
NOTIFY = {
    "State": "On",
    "Type": "Url",
    "Url": "https://cb.example.com/ci",
    "Event": "TaskFinish",
    "ResultFormat": "JSON",
}
ROUNDS = 7
OPS_PER_ROUND = 20
BUDGET_S = 30.0


def measure(op: Callable[[int], object], emulator: Emulator) -> tuple[float, float, int]:
    """(wall s, client CPU s, requests) for one batch of OPS_PER_ROUND operations."""
    emulator.call("DELETE", "requests")
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(OPS_PER_ROUND):
        op(i)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, len(emulator.call("GET", "requests"))


def main() -> int:
    started = time.monotonic()
    emulator = Emulator()
    try:
        emulator.call(
            "POST",
            "seed",
            {
                "buckets": [
                    {
                        "bucket": BUCKET,
                        "region": REGION,
                        "kinds": ["pic"],
                        "queues": [
                            {
                                "kind": "pic",
                                "queue_id": QUEUE_ID,
                                "name": "bench",
                                "notify_config": NOTIFY,
                                "extra": {"SomeNewElement": "v"},
                            }
                        ],
                    }
                ]
            },
        )
        ours = CIClient(
            BUCKET, REGION, Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY), endpoint=emulator.endpoint
        )
        sdk = sdk_client(emulator, BUCKET, REGION)

        def ours_op(i: int) -> object:
            return (pause_queue if i % 2 == 0 else resume_queue)(ours, "pic", QUEUE_ID)

        def sdk_op(i: int) -> object:
            body = {
                "Name": "bench",
                "State": "Paused" if i % 2 == 0 else "Active",
                "NotifyConfig": dict(NOTIFY),
            }
            return sdk.ci_update_media_pic_queue(
                Bucket=BUCKET, QueueId=QUEUE_ID, Request=body, ContentType="application/xml"
            )

        # Warm both connection pools and code paths once.
        measure(ours_op, emulator)
        measure(sdk_op, emulator)
        samples: dict[str, list[tuple[float, float, int]]] = {"ours": [], "sdk": []}
        for _ in range(ROUNDS):
            if time.monotonic() - started > BUDGET_S * 0.8:
                break
            samples["ours"].append(measure(ours_op, emulator))
            samples["sdk"].append(measure(sdk_op, emulator))
    finally:
        emulator.stop()

    rows: dict[str, tuple[float, float, float]] = {}
    for name, runs in samples.items():
        wall_ms = statistics.median(w / OPS_PER_ROUND for w, _, _ in runs) * 1000
        reqs = statistics.median(n / OPS_PER_ROUND for _, _, n in runs)
        cpu_ms = statistics.median(c / n for _, c, n in runs) * 1000
        rows[name] = (wall_ms, reqs, cpu_ms)
    print(
        f"pause/resume round trips, {len(samples['ours'])} interleaved rounds of {OPS_PER_ROUND} operations"
    )
    print(f"  {'':<34} {'wall ms/op':>10} {'requests/op':>12} {'client CPU ms/request':>22}")
    labels = {"ours": "ours: read, PUT, re-read + verify", "sdk": "SDK: blind PUT"}
    for name, (wall_ms, reqs, cpu_ms) in rows.items():
        print(f"  {labels[name]:<34} {wall_ms:>10.2f} {reqs:>12.1f} {cpu_ms:>22.3f}")
    (ow, orq, oc), (sw, srq, sc) = rows["ours"], rows["sdk"]
    print(
        f"  ratios ours/sdk: wall per op {ow / sw:.2f}x, requests per op {orq / srq:.1f}x, "
        f"CPU per request {oc / sc:.2f}x"
    )
    print(f"  (total {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

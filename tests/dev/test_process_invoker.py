"""dev.invoke.ProcessInvoker: a fan-out whose shards run the worker's main_handler in spawned
processes (simulated SCF instances), waited for by the tick, with each instance's peak RSS."""

from __future__ import annotations

import json
import pickle
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ciqueue.app.reconcile import reconcile
from ciqueue.app.runtime import Runtime
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.dev.invoke import InvocationFailed, ProcessInvoker
from ciqueue.errors import describe
from conftest import DEMO_REGION, EmuAdmin

BUCKETS = ["proc-a-1250000000", "proc-b-1250000000"]


def always_paused(path: Path) -> Path:
    targets = "\n".join(
        f'  t{i}: {{bucket: {b}, region: {DEMO_REGION}, name_pattern: "*"}}' for i, b in enumerate(BUCKETS)
    )
    path.write_text(
        f"""version: 1
timezone: Asia/Shanghai
targets:
{targets}
windows:
  - name: always
    targets: [t0, t1]
    periods: [{{start: "00:00", end: "24:00"}}]
settings: {{concurrency: 4, shard_size: 2}}
""",
        encoding="utf-8",
    )
    return path


def test_shards_run_in_instances_of_their_own_and_the_tick_waits_for_them(
    emulator: Any, emu_admin: EmuAdmin, tmp_path: Path
) -> None:
    emu_admin.seed(
        [
            {
                "bucket": bucket,
                "region": DEMO_REGION,
                "kinds": ["pic"],
                "queues": [
                    {"kind": "pic", "queue_id": f"p{i + 10:x}{n:031x}", "name": f"q{n}"} for n in range(2)
                ],
            }
            for i, bucket in enumerate(BUCKETS)
        ]
    )
    env = {
        "CIQUEUE_ENDPOINT": emulator.endpoint,
        "TENCENTCLOUD_SECRETID": DEMO_SECRET_ID,
        "TENCENTCLOUD_SECRETKEY": DEMO_SECRET_KEY,
        "CIQUEUE_CONFIG": str(always_paused(tmp_path / "ciqueue.yml")),
        "CIQUEUE_STATE_FILE": str(tmp_path / "state.json"),
    }
    invoker = ProcessInvoker("worker", env, instances=2, dispatch_s=0.01, stdout=str(tmp_path / "log"))
    try:
        runtime = Runtime.from_env(env, invoker=invoker, worker_function="ciqueue-worker")
        report = reconcile(runtime, now=datetime.now(timezone.utc))
    finally:
        invoker.close()

    assert report.ok and report.errors == []
    assert [(s["shard"], s["result"]["counts"]) for s in report.shards] == [
        ([[BUCKETS[0], DEMO_REGION]], {"pause": 2}),
        ([[BUCKETS[1], DEMO_REGION]], {"pause": 2}),
    ]
    states = {q["State"] for b in emu_admin.state()["buckets"] for q in b["queues"]}
    assert states == {"Paused"}
    # The instances' audit lines went to their log, one per change, named as SCF names the worker.
    lines = [json.loads(line) for line in (tmp_path / "log").read_text().splitlines()]
    assert [(line["event"], line["actor"]) for line in lines] == [("queue.paused", "scf:ciqueue-worker")] * 4
    assert sorted(invoker.runs) == sorted(s["invocation"] for s in report.shards)
    assert all(run.max_rss_kib > 10_000 and run.pid > 0 for run in invoker.runs.values())


def test_a_failure_in_an_instance_crosses_back_with_its_verdict() -> None:
    failed = pickle.loads(pickle.dumps(InvocationFailed("worker", "TransientFailure", "SlowDown", True)))
    assert (failed.kind, failed.message, failed.transient) == ("TransientFailure", "SlowDown", True)
    verdict = describe(failed)
    assert (verdict.code, verdict.transient, verdict.message) == (
        "InvocationFailed",
        True,
        "worker raised TransientFailure: SlowDown",
    )


def test_an_instance_starts_the_preloaded_modules_in_its_environment_before_the_handler(
    tmp_path: Path, monkeypatch: Any
) -> None:
    (tmp_path / "preloaded_marker.py").write_text(
        "import os, pathlib, sys\n"
        "def instance_started():\n"
        "    loaded = [m for m in sys.modules if m.startswith('ciqueue_local_worker')]\n"
        "    pathlib.Path(os.environ['MARKER_DIR'], str(os.getpid())).write_text(str(len(loaded)))\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # an instance starts with the caller's sys.path
    env = {"MARKER_DIR": str(tmp_path), "CIQUEUE_CONFIG": None}
    invoker = ProcessInvoker("worker", env, instances=1, preload=("preloaded_marker",))
    try:
        answer = invoker.finish(str(invoker.invoke_async("worker", {"shard": []})), 60)
    finally:
        invoker.close()

    assert (answer["ok"], answer["status"], answer["error"]["field"]) == (False, 400, "shard")
    [run] = invoker.runs.values()
    # Started in the instance's environment (MARKER_DIR), before the handler's module was loaded.
    assert (tmp_path / str(run.pid)).read_text() == "0"

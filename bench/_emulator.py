"""What the benchmarks share: the emulator in a child process, the official SDK pointed at it, a
seeded pic fleet and a schedule that pauses it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY

SHARED = str(Path(__file__).resolve().parents[1] / "shared")


class Emulator:
    """``python -m ciqueue emulator --port 0`` in a child process; its endpoint from the banner."""

    def __init__(self, timeout: float = 10) -> None:
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": SHARED + (os.pathsep + path if path else "")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ciqueue", "emulator", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        banner = self.process.stdout.readline()
        found = re.search(r"(http://[0-9.]+:(\d+))", banner)
        if found is None:
            self.stop()
            raise SystemExit(f"emulator did not start: {banner!r}")
        self.endpoint, self.port = found.group(1), int(found.group(2))
        self.admin = requests.Session()
        self.timeout = timeout

    def call(self, method: str, name: str, body: Any = None) -> Any:
        """The admin API: ``/_emulator/<name>``, its JSON answer (an HTTP error raises)."""
        response = self.admin.request(
            method, f"{self.endpoint}/_emulator/{name}", json=body, timeout=self.timeout
        )
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def sdk_client(emulator: Emulator, bucket: str, region: str) -> Any:
    """The official SDK with the demo key, connecting to the emulator and sending the real CI Host.

    ``retry=0``: the SDK's own retries sleep 1-3 s each.
    """
    from qcloud_cos import CosConfig, CosS3Client

    config = CosConfig(
        Region=region,
        SecretId=DEMO_SECRET_ID,
        SecretKey=DEMO_SECRET_KEY,
        Scheme="http",
        IP="127.0.0.1",
        Port=emulator.port,
        Domain=f"{bucket}.ci.{region}.myqcloud.com",
    )
    return CosS3Client(config, retry=0)


def fleet_queue_id(bucket: int, number: int) -> str:
    """The ``number``-th queue id of the ``bucket``-th bucket of a bench fleet (p + 32 hex)."""
    return f"p{bucket:04x}{number:028x}"


def seed_fleet(
    emulator: Emulator,
    buckets: int,
    bucket_name: Callable[[int], str],
    region: str,
    queues_per_bucket: int,
    queue: Callable[[int, int], dict[str, Any]],
    chunk: int | None = None,
) -> None:
    """Reset the emulator, then seed ``buckets`` pic buckets of ``queues_per_bucket`` queues each
    (``queue(b, n)``: the queue's seed entry), ``chunk`` buckets per admin call (all in one when
    None; one call of 10,000 queues is a 3 MB body)."""
    emulator.call("POST", "reset")
    step = chunk or buckets
    for first in range(0, buckets, step):
        emulator.call(
            "POST",
            "seed",
            {
                "buckets": [
                    {
                        "bucket": bucket_name(b),
                        "region": region,
                        "kinds": ["pic"],
                        "queues": [queue(b, n) for n in range(queues_per_bucket)],
                    }
                    for b in range(first, min(first + step, buckets))
                ]
            },
        )


def always_paused(
    buckets: list[str],
    region: str,
    concurrency: int,
    shard_size: int = 10_000,
    rate_limit: float | None = None,
) -> Any:
    """A schedule whose window is always open over every queue of ``buckets`` (one target each):
    one tick pauses the whole fleet. Shared by the reconcile bench, the fault soak and the fleet
    bench (``shard_size`` below the fleet's size makes the tick fan out). ``rate_limit``:
    ``settings.rate_limit`` (requests per second per bucket), else its default."""
    from datetime import datetime, timezone

    from ciqueue.schedule.load import load_config

    return load_config(
        always_paused_text(buckets, region, concurrency, shard_size, rate_limit),
        now=datetime.now(timezone.utc),
    )


def always_paused_text(
    buckets: list[str],
    region: str,
    concurrency: int,
    shard_size: int = 10_000,
    rate_limit: float | None = None,
) -> str:
    """The YAML of ``always_paused`` (a worker process reads it from a file, as SCF's would)."""
    targets = "\n".join(
        f'  b{i:03d}: {{bucket: {bucket}, region: {region}, name_pattern: "*"}}'
        for i, bucket in enumerate(buckets)
    )
    names = ", ".join(f"b{i:03d}" for i in range(len(buckets)))
    return f"""
version: 1
timezone: Asia/Shanghai
targets:
{targets}
windows:
  - name: always
    targets: [{names}]
    periods: [{{start: "00:00", end: "24:00"}}]
settings:
  concurrency: {concurrency}
  shard_size: {shard_size}
""" + (f"  rate_limit: {rate_limit}\n" if rate_limit is not None else "")

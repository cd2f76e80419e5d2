"""Shared fixtures: one emulator per test session (state reset before each test that uses it), an
admin helper, a seeded demo bucket, and the official Python SDK pointed at the emulator.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest
import requests
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.emulator.server import EmulatorServer
from hypothesis import settings

# CI (CI=true) replays the same property-test examples on every run, so a red build is a real
# regression and never a roll of the dice; locally each run explores new examples.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

if TYPE_CHECKING:
    from ciqueue.app.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
# Where tests write what a person should look at (the console's screenshots); not committed.
ARTIFACTS = Path(os.environ.get("CIQUEUE_ARTIFACTS") or ROOT / "tmp" / "artifacts")
_SESSION_START = time.time()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Name the artifacts this run wrote (the workers write them; the controller reports them)."""
    if not ARTIFACTS.is_dir():
        return
    for folder in sorted(p for p in ARTIFACTS.iterdir() if p.is_dir()):
        new = [p for p in folder.iterdir() if p.stat().st_mtime >= _SESSION_START]
        if new:
            terminalreporter.write_line(f"artifacts: {len(new)} files in {folder}")


DEMO_BUCKET = "demo-1250000000"
DEMO_REGION = "ap-guangzhou"
# The instant config validation judges windows at (schedule.config takes `now`; tests fix it).
CONFIG_NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
DEMO_HOST = f"{DEMO_BUCKET}.ci.{DEMO_REGION}.myqcloud.com"

# The demo bucket's queues (known ids, so tests can name them).
PIC_DEFAULT_ID = "p0000000000000000000000000000d001"
PIC_CALLBACK_ID = "p0000000000000000000000000000d002"
PIC_PAUSED_ID = "p0000000000000000000000000000d003"
MEDIA_ID = "p0000000000000000000000000000e001"
MEDIA_SPEED_ID = "p0000000000000000000000000000e002"
DEMO_NOTIFY = {
    "State": "On",
    "Type": "Url",
    "Url": "https://cb.example.com/ci",
    "Event": "TaskFinish",
    "ResultFormat": "JSON",
}


class EmuAdmin:
    """Calls the emulator's admin API (``/_emulator/``) over HTTP; each method returns the JSON."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.session = requests.Session()

    def call(self, method: str, name: str, body: Any = None, expect: int = 200) -> Any:
        response = self.session.request(method, f"{self.endpoint}/_emulator/{name}", json=body, timeout=10)
        assert response.status_code == expect, f"{method} /_emulator/{name}: {response.text}"
        return response.json()

    def reset(self) -> Any:
        return self.call("POST", "reset")

    def seed(
        self, buckets: list[dict[str, Any]] | None = None, keys: list[dict[str, Any]] | None = None
    ) -> Any:
        return self.call("POST", "seed", {"buckets": buckets or [], "keys": keys or []})

    def state(self) -> Any:
        return self.call("GET", "state")

    def queue(self, queue_id: str) -> dict[str, Any]:
        """One queue from the state (XML-named dict plus ``kind``)."""
        for bucket in self.state()["buckets"]:
            for queue in bucket["queues"]:
                if queue["QueueId"] == queue_id:
                    return dict(queue)
        raise AssertionError(f"queue {queue_id} is not in the emulator")

    def faults(self, **settings: Any) -> Any:
        return self.call("POST", "faults", settings)

    def clear_faults(self) -> Any:
        return self.call("DELETE", "faults")

    def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", "requests")
        return result

    def put_paths(self) -> list[str]:
        """The paths of the PUT requests logged, in order."""
        return [r["path"] for r in self.requests() if r["method"] == "PUT"]

    def clear_requests(self) -> Any:
        return self.call("DELETE", "requests")

    def patch(self, bucket: str, kind: str, queue_id: str, changes: dict[str, Any]) -> Any:
        return self.call("PATCH", f"queues/{bucket}/{kind}/{queue_id}", changes)

    def config(self, **options: Any) -> Any:
        """Emulator options, e.g. ``config(non_exist_pids="nested")``."""
        return self.call("POST", "config", options)


def cli_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``ciqueue ARGV`` in this process: its exit status, stdout and stderr."""
    from ciqueue.cli import main as cli

    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def load_function(name: str) -> ModuleType:
    """A fresh copy of the ``name`` function's handler module, ``ciqueue.handlers.<name>`` (what
    ``functions/<name>/index.py`` re-exports), its per-container cache empty."""
    from ciqueue.dev.invoke import load_handler_module

    return load_handler_module(name)


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[EmulatorServer]:
    """The session's emulator; use ``emulator`` in tests (it resets the state first)."""
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def emu_admin(emulator_session: EmulatorServer) -> EmuAdmin:
    return EmuAdmin(emulator_session.endpoint)


@pytest.fixture
def emulator(emulator_session: EmulatorServer, emu_admin: EmuAdmin) -> EmulatorServer:
    """The session-wide emulator, emptied (buckets, queues, faults, request log) for this test."""
    emu_admin.reset()
    return emulator_session


@pytest.fixture
def emulator_runtime(emulator: EmulatorServer, tmp_path: Path) -> Callable[..., Runtime]:
    """``emulator_runtime(**kwargs)``: a Runtime against the emulator with the demo key pair and
    its state in ``tmp_path / "state.json"``; ``kwargs`` (config, clock, ...) go to Runtime."""
    from ciqueue.app.runtime import Runtime
    from ciqueue.ci.credentials import Credentials
    from ciqueue.state.file import FileStateStore

    def make(**kwargs: Any) -> Runtime:
        return Runtime(
            state=FileStateStore(tmp_path / "state.json"),
            endpoint=emulator.endpoint,
            credentials=Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY),
            **kwargs,
        )

    return make


@dataclass
class DemoBucket:
    bucket: str = DEMO_BUCKET
    region: str = DEMO_REGION
    host: str = DEMO_HOST
    pic_ids: list[str] = field(default_factory=lambda: [PIC_DEFAULT_ID, PIC_CALLBACK_ID, PIC_PAUSED_ID])
    media_ids: list[str] = field(default_factory=lambda: [MEDIA_ID, MEDIA_SPEED_ID])
    notify: dict[str, str] = field(default_factory=lambda: dict(DEMO_NOTIFY))


def demo_seed() -> list[dict[str, Any]]:
    """``demo-1250000000`` in ap-guangzhou: pic and media activated, three pic and two media queues."""
    return [
        {
            "bucket": DEMO_BUCKET,
            "region": DEMO_REGION,
            "kinds": ["pic", "media"],
            "queues": [
                {"kind": "pic", "queue_id": PIC_DEFAULT_ID, "name": "queue-pic-process-1"},
                {
                    "kind": "pic",
                    "queue_id": PIC_CALLBACK_ID,
                    "name": "pic-callback",
                    "notify_config": dict(DEMO_NOTIFY),
                    "extra": {"SomeNewElement": "v"},
                },
                {"kind": "pic", "queue_id": PIC_PAUSED_ID, "name": "pic-paused", "state": "Paused"},
                {
                    "kind": "media",
                    "queue_id": MEDIA_ID,
                    "name": "media-1",
                    "notify_config": dict(DEMO_NOTIFY),
                },
                {
                    "kind": "media",
                    "queue_id": MEDIA_SPEED_ID,
                    "name": "media-speed",
                    "category": "SpeedTranscoding",
                },
            ],
        }
    ]


OTHER_BUCKET = "other-1250000000"


def queue_id(n: int) -> str:
    """The ``n``-th made-up pic queue id (``p`` and 32 hex digits)."""
    return f"p{n:032x}"


def seed_queues(emu_admin: EmuAdmin, queues: list[dict[str, Any]]) -> None:
    """Seed ``OTHER_BUCKET`` (pic activated) with ``queues`` and empty the request log."""
    emu_admin.seed([{"bucket": OTHER_BUCKET, "region": DEMO_REGION, "kinds": ["pic"], "queues": queues}])
    emu_admin.clear_requests()


@pytest.fixture
def demo_bucket(emulator: EmulatorServer, emu_admin: EmuAdmin) -> DemoBucket:
    emu_admin.seed(demo_seed())
    return DemoBucket()


def sdk_client_for(
    emulator: EmulatorServer,
    bucket: str = DEMO_BUCKET,
    region: str = DEMO_REGION,
    secret_id: str = DEMO_SECRET_ID,
    secret_key: str = DEMO_SECRET_KEY,
    token: str | None = None,
) -> Any:
    """The unchanged official SDK, connecting to the emulator but sending the real CI Host.

    With ``IP``/``Port`` set the SDK connects there; with ``Domain`` set it sends that as ``Host``
    (and signs it) for every call, including ``ci_open_pic_bucket``, which passes no bucket.
    ``retry=0``: the SDK's own retries sleep 1-3 s each, and tests want each answer as it is.
    """
    from qcloud_cos import CosConfig, CosS3Client

    config = CosConfig(
        Region=region,
        SecretId=secret_id,
        SecretKey=secret_key,
        Token=token,
        Scheme="http",
        IP="127.0.0.1",
        Port=emulator.port,
        Domain=f"{bucket}.ci.{region}.myqcloud.com",
    )
    return CosS3Client(config, retry=0)


@pytest.fixture
def make_sdk_client(emulator: EmulatorServer) -> Callable[..., Any]:
    """``make_sdk_client(bucket=..., region=..., secret_id=..., secret_key=..., token=...)``."""

    def make(**kwargs: Any) -> Any:
        return sdk_client_for(emulator, **kwargs)

    return make


@pytest.fixture
def sdk_client(emulator: EmulatorServer) -> Any:
    """A ``qcloud_cos.CosS3Client`` for the demo bucket with the demo key, via the emulator."""
    return sdk_client_for(emulator)


# --- CIClient fixtures (make_client) -------------------------------------------------------------
# Reserved for the client engineer: `make_client(bucket=..., region=...)` building our own CIClient
# pointed at `emulator.endpoint` goes here.


@pytest.fixture
def make_client(emulator: EmulatorServer) -> Callable[..., Any]:
    """``make_client(bucket="demo-1250000000", region="ap-guangzhou", **kw) -> CIClient``.

    Connects to the emulator (sending the real CI Host) with the demo key pair unless ``credentials``
    is given; other keywords go to ``CIClient`` (``retry``, ``sleep``, ``rand``, ``timeout``...).
    """
    from ciqueue.ci.client import CIClient
    from ciqueue.ci.credentials import Credentials

    def make(bucket: str = DEMO_BUCKET, region: str = DEMO_REGION, **kwargs: Any) -> CIClient:
        kwargs.setdefault("credentials", Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY))
        kwargs.setdefault("endpoint", emulator.endpoint)
        return CIClient(bucket, region, **kwargs)

    return make


def reads_fail_after_put(emu_admin: EmuAdmin, count: int = 10) -> requests.Session:
    """A CIClient session whose every successful PUT is followed by ``count`` 503 SlowDown answers
    from the emulator: the write lands, then the reads that would verify it fail (``session=``)."""
    from ciqueue.ci.client import pooled_session

    def after(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.request.method == "PUT" and response.ok:
            emu_admin.faults(next={"count": count, "status": 503, "code": "SlowDown"})

    session = pooled_session(emu_admin.endpoint)
    session.hooks["response"].append(after)
    return session


# --- the night schedule: a runtime on the demo bucket at a chosen instant ------------------------

PICS_TARGET = {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "queue_ids": [PIC_DEFAULT_ID, PIC_CALLBACK_ID]}
# A one-off window 02:00-04:00 (UTC: no timezone given) on 2026-03-01 over PICS_TARGET.
NIGHT_SCHEDULE = {
    "version": 1,
    "targets": {"pics": PICS_TARGET},
    "windows": [
        {
            "name": "night",
            "targets": ["pics"],
            "dates": [{"start": "2026-03-01T02:00", "end": "2026-03-01T04:00"}],
        }
    ],
}
NOON_UTC = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)  # hours after the night window closed
SECRET_CALLBACK_URL = "https://hooks.example.com/ci?token=s3cr3t-value"


def pic_ref(queue_id: str) -> dict[str, str]:
    """A command's reference to a pic queue of the demo bucket."""
    return {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kind": "pic", "queue_id": queue_id}


@pytest.fixture
def night_runtime(
    demo_bucket: DemoBucket, emulator_runtime: Callable[..., Runtime]
) -> Callable[[datetime], Runtime]:
    """``night_runtime(now)``: a Runtime on the demo bucket with NIGHT_SCHEDULE, an in-process
    invoker and its clock stopped at ``now``."""
    from ciqueue.dev.invoke import fan_out_in_process
    from ciqueue.schedule.load import parse_config

    schedule = parse_config(NIGHT_SCHEDULE, now=CONFIG_NOW)

    def make(now: datetime) -> Runtime:
        runtime = emulator_runtime(config=schedule, clock=lambda: now)
        fan_out_in_process(runtime)
        return runtime

    return make

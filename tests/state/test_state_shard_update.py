"""A worker tick's state update against a big state: it touches only its shard's records, a
writer racing it keeps its override (conflict -> reload -> the shard's changes applied again), and
a tick that changes nothing writes nothing. With the local file store and the emulator's COS store."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from ciqueue.app.reconcile import handle_shard
from ciqueue.app.runtime import Runtime
from ciqueue.ci.credentials import Credentials
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.emulator.server import EmulatorServer
from ciqueue.schedule.load import load_config
from ciqueue.state.cos import CosStateStore
from ciqueue.state.document import (
    LastAppliedRecord,
    StateDocument,
    VersionedStateStore,
    add_override,
    new_override,
)
from ciqueue.state.file import FileStateStore
from conftest import CONFIG_NOW, DEMO_BUCKET, DEMO_REGION, EmuAdmin

STATE_BUCKET = "ops-1250000000"
STATE_HOST = f"{STATE_BUCKET}.cos.{DEMO_REGION}.myqcloud.com"
OTHERS = 1_000  # records of queues in other buckets: the rest of the fleet
NOW = datetime(2026, 3, 1, 2, 30, tzinfo=timezone.utc)  # inside the window below
DEMO = Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY)


def config() -> Any:
    data = {
        "version": 1,
        "timezone": "UTC",
        "targets": {"pics": {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "name_pattern": "*"}},
        "windows": [
            {
                "name": "nightly",
                "targets": ["pics"],
                "dates": [{"start": "2026-03-01T02:00", "end": "2026-03-01T04:00"}],
            }
        ],
        "settings": {"concurrency": 4},
    }
    return load_config(json.dumps(data), now=CONFIG_NOW)


def fleet_state() -> StateDocument:
    at = NOW - timedelta(days=1)
    return StateDocument(
        last_applied={
            f"fleet{n // 50:03d}-1250000000/{DEMO_REGION}/pic/p{n:032x}": LastAppliedRecord(
                desired_state="Paused", edge_at=at, source="window:nightly", decided_at=at
            )
            for n in range(OTHERS)
        }
    )


def racing_override() -> Any:
    return new_override(
        bucket="fleet000-1250000000",
        region=DEMO_REGION,
        kind="pic",
        queue_id=f"p{0:032x}",
        state="Active",
        now=NOW,
        reason="on-call keeps it running",
        actor="token:oncall",
        override_id="ovr-race",
    )


@pytest.fixture(params=["file", "cos"])
def stores(
    request: pytest.FixtureRequest, emulator: EmulatorServer, tmp_path: Path
) -> Callable[[], VersionedStateStore]:
    """A maker of independent stores on one state location (each its own process, as it were)."""
    if request.param == "file":
        return lambda: FileStateStore(tmp_path / "state.json", sleep=lambda s: None)
    return lambda: CosStateStore(
        STATE_BUCKET, DEMO_REGION, credentials=DEMO, endpoint=emulator.endpoint, sleep=lambda s: None
    )


def stored(make_store: Callable[[], VersionedStateStore]) -> dict[str, Any]:
    """The stored document as JSON, read by a store that has read nothing before."""
    doc, _ = make_store().load()
    return json.loads(doc.to_json())  # type: ignore[no-any-return]


def test_a_shard_touches_only_its_records_and_a_racing_override_survives(
    demo_bucket: Any,
    emulator: EmulatorServer,
    emu_admin: EmuAdmin,
    stores: Callable[[], VersionedStateStore],
) -> None:
    stores().save(fleet_state(), None)
    before = stored(stores)
    worker, other = stores(), stores()
    writes: list[str] = []
    write = worker._write

    def raced_write(doc: StateDocument, expected: str | None) -> str:
        if not writes:  # another writer lands between the worker's read and its write
            if isinstance(other, FileStateStore):  # the worker holds the lock: write past it
                current, _ = other.load()
                other.path.write_bytes(add_override(current, racing_override()).to_json())
            else:
                other.update(lambda d: add_override(d, racing_override()))
        writes.append("write")
        return write(doc, expected)

    worker._write = raced_write  # type: ignore[method-assign]
    runtime = Runtime(
        config=config(), state=worker, endpoint=emulator.endpoint, credentials=DEMO, clock=lambda: NOW
    )
    emu_admin.clear_requests()

    answer = handle_shard({"shard": [[DEMO_BUCKET, DEMO_REGION]], "now": NOW.isoformat()}, runtime)

    assert answer["ok"] and answer["state_written"] and answer["counts"] == {"pause": 2, "none": 1}
    assert len(writes) == 2  # the first refused as stale, the second after the reload
    after = stored(stores)
    # The racing writer's override is kept, and the tick's history is there.
    assert [o["id"] for o in after["overrides"]] == ["ovr-race"]
    assert sorted(c["event"] for c in after["changes"]) == ["queue.paused", "queue.paused"]
    # Only the shard's queues' records changed; the other 1,000 are byte for byte as they were.
    changed = {k for k in after["last_applied"] if after["last_applied"][k] != before["last_applied"].get(k)}
    assert changed and all(k.startswith(f"{DEMO_BUCKET}/{DEMO_REGION}/") for k in changed)
    assert {k: after["last_applied"][k] for k in before["last_applied"]} == before["last_applied"]
    assert len(after["last_applied"]) == OTHERS + len(changed)
    if isinstance(worker, CosStateStore):
        state_calls = [(r["method"], r["status"]) for r in emu_admin.requests() if r["host"] == STATE_HOST]
        # The worker's read for its decisions (the whole object), its reload in update (304:
        # unchanged, not downloaded again); the racing writer's read and write; the worker's stale
        # write (412), its reload (the racing writer's version) and its write.
        assert state_calls == [
            ("GET", 200),
            ("GET", 304),
            ("GET", 200),
            ("PUT", 200),
            ("PUT", 412),
            ("GET", 200),
            ("PUT", 200),
            ("GET", 200),  # the check above, by a store that had read nothing
        ]

    # The next tick changes nothing: no write at all.
    emu_admin.clear_requests()
    again = handle_shard({"shard": [[DEMO_BUCKET, DEMO_REGION]], "now": NOW.isoformat()}, runtime)
    assert again["ok"] and again["state_written"] is False and again["counts"] == {"none": 3}
    assert len(writes) == 2 and stored(stores) == after

"""The state document, its helpers and the local-file store (threads and processes racing)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from ciqueue.errors import InvalidInput, StateConflict, StateCorrupt
from ciqueue.schedule import engine
from ciqueue.state.document import (
    LastAppliedRecord,
    OverrideRecord,
    StateDocument,
    add_override,
    cancel_override,
    expired_overrides,
    new_override,
    prune_expired,
    record_all_applied,
    record_applied,
)
from ciqueue.state.file import FileStateStore
from ciqueue.state.location import open_store

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
QID = "p" + "0" * 31 + "1"


def override(n: int = 1, *, expires: datetime | None = None, state: str = "Paused") -> OverrideRecord:
    return new_override(
        bucket="demo-1250000000",
        region="ap-guangzhou",
        kind="pic",
        queue_id=QID,
        state=state,
        now=T0,
        reason=f"maintenance {n}",
        actor="token:ops",
        expires_at=expires,
        override_id=f"ovr-{n}",
    )


def store_at(path: Path) -> FileStateStore:
    return FileStateStore(path, clock=lambda: T0.timestamp() + 60, sleep=lambda s: None)


# --- the document -------------------------------------------------------------------------------


def test_document_json_is_stable_and_round_trips() -> None:
    doc = StateDocument(
        overrides=[override(1, expires=T0 + timedelta(hours=2))],
        last_applied={
            "z-1250000000/ap-guangzhou/pic/p2": LastAppliedRecord(desired_state="Active"),
            "a-1250000000/ap-guangzhou/pic/p1": LastAppliedRecord(
                desired_state="Paused", edge_at=T0, source="nightly", callback_index=1, decided_at=T0
            ),
        },
        updated_at=T0,
    )
    data = json.loads(doc.to_json())
    assert list(data) == ["version", "overrides", "last_applied", "updated_at", "changes"]
    assert list(data["last_applied"]) == [
        "a-1250000000/ap-guangzhou/pic/p1",
        "z-1250000000/ap-guangzhou/pic/p2",
    ]
    assert data["overrides"][0] == {
        "id": "ovr-1",
        "bucket": "demo-1250000000",
        "region": "ap-guangzhou",
        "kind": "pic",
        "queue_id": QID,
        "state": "Paused",
        "reason": "maintenance 1",
        "actor": "token:ops",
        "created_at": "2025-03-01T08:00:00Z",
        "expires_at": "2025-03-01T10:00:00Z",
    }
    assert data["last_applied"]["a-1250000000/ap-guangzhou/pic/p1"]["edge_at"] == "2025-03-01T08:00:00Z"
    assert StateDocument.from_json(doc.to_json(), "test") == doc
    assert doc.to_json() == StateDocument.from_json(doc.to_json(), "test").to_json()


def test_times_in_other_zones_are_stored_in_utc() -> None:
    shanghai = timezone(timedelta(hours=8))
    record = override(1, expires=datetime(2025, 3, 1, 20, 0, tzinfo=shanghai))
    assert record.expires_at == datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
    assert json.loads(StateDocument(overrides=[record]).to_json())["overrides"][0]["expires_at"] == (
        "2025-03-01T12:00:00Z"
    )


def test_engine_shapes_convert_both_ways() -> None:
    record = override(3, expires=T0 + timedelta(hours=1))
    pin = record.to_engine()
    assert isinstance(pin, engine.Override)
    assert pin.key.text == f"demo-1250000000/ap-guangzhou/pic/{QID}" == record.key
    assert (pin.state, pin.created_at, pin.expires_at) == ("Paused", T0, T0 + timedelta(hours=1))
    assert OverrideRecord.from_engine(pin) == record
    applied = engine.LastApplied(desired_state="Paused", edge_at=T0, source="w", callback_index=2)
    stored = LastAppliedRecord.from_engine(applied, decided_at=T0)
    assert stored.to_engine() == applied
    doc = record_applied(StateDocument(overrides=[record]), record.key, stored)
    assert doc.engine_last_applied() == {record.key: applied}
    assert doc.engine_overrides() == [pin]


def test_a_ticks_records_are_set_together_and_the_others_kept() -> None:
    kept = LastAppliedRecord(desired_state="Active", decided_at=T0)
    base = StateDocument(last_applied={"b/r/pic/a": kept, "b/r/pic/b": kept})
    paused = LastAppliedRecord(desired_state="Paused", decided_at=T0 + timedelta(hours=1))
    doc = record_all_applied(base, {"b/r/pic/b": paused, "b/r/pic/c": paused})
    assert doc.last_applied == {"b/r/pic/a": kept, "b/r/pic/b": paused, "b/r/pic/c": paused}
    assert base.last_applied == {"b/r/pic/a": kept, "b/r/pic/b": kept}  # a new document
    assert record_all_applied(base, {}) is base
    assert StateDocument.from_json(doc.to_json(), "test").last_applied == doc.last_applied


def test_new_override_names_every_broken_field_and_changes_nothing() -> None:
    with pytest.raises(InvalidInput) as caught:
        new_override(
            bucket="Bad_Bucket",
            region="guangzhou",
            kind="video",
            queue_id="p 1",
            state="Stopped",
            now=T0,
            reason="x" * 257,
            expires_at=T0 - timedelta(seconds=1),
        )
    fields = {p.field: p.rule for p in caught.value.problems}
    assert list(fields) == ["bucket", "region", "kind", "queue_id", "state", "reason", "expires_at"]
    assert fields["state"] == "must be Active or Paused (got 'Stopped')"
    assert fields["reason"] == "must be at most 256 characters (got 257)"
    assert fields["expires_at"] == "must be in the future"
    with pytest.raises(InvalidInput, match="reason: must not contain control characters"):
        new_override(
            bucket="demo-1250000000", region="ap-guangzhou", kind="pic", queue_id=QID, state="Paused",
            now=T0, reason="line1\nline2",
        )  # fmt: skip
    with pytest.raises(InvalidInput, match="expires_at: must include a timezone"):
        new_override(
            bucket="demo-1250000000", region="ap-guangzhou", kind="pic", queue_id=QID, state="Paused",
            now=T0, expires_at=datetime(2030, 1, 1),
        )  # fmt: skip


def test_new_override_generates_an_id() -> None:
    record = new_override(
        bucket="demo-1250000000", region="ap-guangzhou", kind="media", queue_id=QID, state="Active", now=T0
    )
    assert record.id.startswith("ovr-") and len(record.id) == 16
    assert record.kind == "media" and record.expires_at is None


def test_helpers_add_cancel_and_prune() -> None:
    doc = StateDocument()
    doc = add_override(doc, override(1, expires=T0 + timedelta(minutes=30)))
    doc = add_override(doc, override(2))
    # The same id again (a retried request) replaces instead of duplicating.
    doc = add_override(doc, override(2, state="Active"))
    assert [(o.id, o.state) for o in doc.overrides] == [("ovr-1", "Paused"), ("ovr-2", "Active")]
    later = T0 + timedelta(minutes=30)
    assert [o.id for o in expired_overrides(doc, later)] == ["ovr-1"]
    assert [o.id for o in prune_expired(doc, later).overrides] == ["ovr-2"]
    assert [o.id for o in prune_expired(doc, later - timedelta(seconds=1)).overrides] == ["ovr-1", "ovr-2"]
    assert [o.id for o in cancel_override(doc, "ovr-1").overrides] == ["ovr-2"]
    assert len(doc.overrides) == 2  # helpers never change their input
    with pytest.raises(InvalidInput) as caught:
        cancel_override(doc, "ovr-9")
    assert str(caught.value) == "override_id: no override has id 'ovr-9'"


def test_corrupt_or_newer_documents_are_refused_naming_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(StateCorrupt, match=f"state file {path} is not JSON"):
        FileStateStore(path).load()
    path.write_text(json.dumps({"version": 1, "overrides": [{"id": "ovr-1", "state": "Stopped"}]}))
    with pytest.raises(StateCorrupt) as caught:
        FileStateStore(path).load()
    assert str(caught.value).startswith(f"state file {path}: overrides.0.bucket: is required")
    path.write_text(json.dumps({"version": 2}))
    with pytest.raises(StateCorrupt, match="schema version 2, written by a newer ciqueue"):
        FileStateStore(path).load()


# --- the file store ------------------------------------------------------------------------------


def test_missing_file_reads_as_empty(tmp_path: Path) -> None:
    doc, version = FileStateStore(tmp_path / "none" / "state.json").load()
    assert doc == StateDocument() and version is None


def test_save_then_load_round_trip_with_content_version(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.json"
    store = store_at(path)
    doc = add_override(StateDocument(), override(1))
    version = store.save(doc, None)
    assert path.read_bytes() == doc.to_json()
    assert version == hashlib.sha256(path.read_bytes()).hexdigest()
    loaded, loaded_version = store.load()
    assert loaded == doc and loaded_version == version
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json", "state.json.lock"]  # no temp left


def test_stale_version_is_a_conflict_and_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    a, b = store_at(path), store_at(path)
    store_at(path).save(StateDocument(), None)
    doc_a, version_a = a.load()
    doc_b, version_b = b.load()
    b.save(add_override(doc_b, override(2)), version_b)
    written_by_b = path.read_bytes()
    with pytest.raises(StateConflict, match="was changed by another writer since it was read"):
        a.save(add_override(doc_a, override(1)), version_a)
    assert path.read_bytes() == written_by_b
    # Creating (expected None) over an existing file is a conflict too.
    with pytest.raises(StateConflict):
        a.save(StateDocument(), None)


def test_update_reloads_and_reapplies_after_a_concurrent_write(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = store_at(path)
    calls: list[list[str]] = []

    def add_one(doc: StateDocument) -> StateDocument:
        calls.append([o.id for o in doc.overrides])
        if len(calls) == 1:
            # Another writer (not using our lock) replaces the file between our load and save.
            path.write_bytes(add_override(StateDocument(), override(2)).to_json())
        return add_override(doc, override(1))

    saved = store.update(add_one)
    assert calls == [[], ["ovr-2"]]
    assert [o.id for o in saved.overrides] == ["ovr-2", "ovr-1"]
    assert saved.updated_at == T0 + timedelta(seconds=60)
    assert store.load()[0] == saved


def test_update_gives_up_after_the_attempts_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    sleeps: list[float] = []
    store = FileStateStore(path, sleep=sleeps.append, rand=lambda: 0.5)
    counter = iter(range(100))

    def always_raced(doc: StateDocument) -> StateDocument:
        path.write_bytes(add_override(StateDocument(), override(100 + next(counter))).to_json())
        return add_override(doc, override(1))

    with pytest.raises(StateConflict, match="changed under us 3 times in a row; nothing was written"):
        store.update(always_raced, attempts=3)
    assert [o.id for o in store.load()[0].overrides] == ["ovr-102"]
    assert sleeps == [0.025, 0.05]  # full jitter with rand 0.5: half of 0.05 * 2**n
    with pytest.raises(InvalidInput, match="attempts: must be an integer of 1 or more"):
        store.update(always_raced, attempts=0)


def test_update_without_a_change_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = store_at(path)
    version = store.save(add_override(StateDocument(), override(1)), None)
    before = path.read_bytes()
    result = store.update(lambda doc: add_override(doc, override(1)))  # already there
    assert path.read_bytes() == before and store.load()[1] == version
    assert result.updated_at is None


def test_update_keeps_fields_written_by_a_newer_version(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 1, "future": {"x": 1}, "overrides": []}))
    store_at(path).update(lambda doc: add_override(doc, override(1)))
    data = json.loads(path.read_text())
    assert data["future"] == {"x": 1} and [o["id"] for o in data["overrides"]] == ["ovr-1"]


def test_update_errors_from_the_mutator_write_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = store_at(path)
    store.save(StateDocument(), None)
    before = path.read_bytes()
    with pytest.raises(InvalidInput, match="override_id"):
        store.update(lambda doc: cancel_override(doc, "ovr-missing"))
    assert path.read_bytes() == before


def test_two_threads_racing_lose_no_override(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(prefix: str) -> None:
        store = FileStateStore(path)
        barrier.wait()
        try:
            for n in range(20):
                record = override(n).model_copy(update={"id": f"{prefix}-{n}"})
                store.update(lambda doc, r=record: add_override(doc, r))  # type: ignore[misc]
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ids = {o.id for o in FileStateStore(path).load()[0].overrides}
    assert ids == {f"{p}-{n}" for p in ("a", "b") for n in range(20)}


_PROCESS_WRITER = """
import sys
from datetime import datetime, timezone
from ciqueue.state.document import add_override, new_override
from ciqueue.state.file import FileStateStore

path, prefix = sys.argv[1], sys.argv[2]
store = FileStateStore(path)
now = datetime(2025, 3, 1, tzinfo=timezone.utc)
sys.stdin.readline()  # start together
for n in range(20):
    record = new_override(bucket="demo-1250000000", region="ap-guangzhou", kind="pic",
        queue_id="p" + "1" * 32, state="Paused", now=now, override_id=f"{prefix}-{n}")
    store.update(lambda doc: add_override(doc, record))
"""


def test_two_processes_racing_lose_no_override(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PROCESS_WRITER, str(path), prefix],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for prefix in ("p", "q")
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    ids = {o.id for o in FileStateStore(path).load()[0].overrides}
    assert ids == {f"{p}-{n}" for p in ("p", "q") for n in range(20)}


def test_open_store_by_location(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/s.json")
    assert isinstance(store, FileStateStore) and store.path == tmp_path / "s.json"
    assert isinstance(open_store(str(tmp_path / "t.json")), FileStateStore)
    with pytest.raises(InvalidInput, match="state: must be file:///path or cos://<bucket-appid>/<key>"):
        open_store("s3://bucket/key")
    with pytest.raises(InvalidInput, match="region: is required for a cos:// location"):
        open_store("cos://ops-1250000000/ciqueue/state.json", environ={})

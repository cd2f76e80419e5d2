"""The recent changes in the state document: bounded by count and age, repeats folded, read back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from ciqueue.errors import InvalidInput
from ciqueue.limits import MAX_HISTORY_AGE, MAX_HISTORY_CHANGES
from ciqueue.state.document import StateDocument, recent_changes, record_changes
from ciqueue.state.file import FileStateStore

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)
Q1 = "demo-1250000000/ap-guangzhou/pic/p1"
Q2 = "demo-1250000000/ap-guangzhou/pic/p2"


def entry(n: int, *, queue: str = Q1, at: datetime = T0, **fields: Any) -> dict[str, Any]:
    return {
        "at": at.isoformat(),
        "event": "queue.paused",
        "actor": "scheduler",
        "queue": queue,
        "action": "pause",
        "reason": f"change {n}",
        "result": {"status": "ok"},
        **fields,
    }


def failure(code: str, at: datetime, queue: str = Q1) -> dict[str, Any]:
    return entry(0, queue=queue, at=at, event="queue.failed", result={"status": "error", "code": code})


def test_the_history_keeps_the_newest_n_changes() -> None:
    doc = StateDocument()
    for n in range(MAX_HISTORY_CHANGES):
        doc = record_changes(doc, [entry(n, at=T0 + timedelta(seconds=n))], T0 + timedelta(seconds=n))
    assert len(doc.changes) == MAX_HISTORY_CHANGES

    doc = record_changes(doc, [entry(MAX_HISTORY_CHANGES)], T0 + timedelta(hours=1))

    assert len(doc.changes) == MAX_HISTORY_CHANGES  # the N+1st pushed the oldest out
    assert doc.changes[0].reason == "change 1" and doc.changes[-1].reason == f"change {MAX_HISTORY_CHANGES}"
    newest_first = recent_changes(doc, limit=3)
    assert [c.reason for c in newest_first] == [f"change {MAX_HISTORY_CHANGES - i}" for i in range(3)]


def test_the_history_forgets_changes_older_than_d_days() -> None:
    now = T0 + MAX_HISTORY_AGE
    doc = record_changes(StateDocument(), [entry(1), entry(2, at=T0 + timedelta(seconds=1))], T0)
    doc = record_changes(doc, [entry(3, at=now)], now)
    # The first is exactly D old (kept), until later.
    assert [c.reason for c in doc.changes] == ["change 1", "change 2", "change 3"]
    doc = record_changes(doc, [], now + timedelta(milliseconds=500))
    assert [c.reason for c in doc.changes] == ["change 2", "change 3"]


def test_a_repeated_failure_updates_its_entry_instead_of_adding_one() -> None:
    doc = StateDocument()
    for minutes in (0, 5, 10):
        at = T0 + timedelta(minutes=minutes)
        doc = record_changes(doc, [failure("SlowDown", at)], at)
    [folded] = doc.changes
    assert folded.at == T0 + timedelta(minutes=10)
    assert folded.model_extra == {"repeats": 3, "first_at": T0.isoformat()}

    # Another queue's failure, another code, or a success each get an entry of their own.
    later = T0 + timedelta(minutes=15)
    doc = record_changes(doc, [failure("SlowDown", later, Q2), failure("AccessDenied", later)], later)
    doc = record_changes(doc, [entry(1, at=later), entry(2, at=later)], later)
    assert [(c.queue, c.event, c.result.get("code")) for c in doc.changes] == [
        (Q1, "queue.failed", "SlowDown"),
        (Q2, "queue.failed", "SlowDown"),
        (Q1, "queue.failed", "AccessDenied"),
        (Q1, "queue.paused", None),
        (Q1, "queue.paused", None),
    ]


def test_recent_changes_filters_by_queue_and_judges_the_limit() -> None:
    doc = record_changes(StateDocument(), [entry(1), entry(2, queue=Q2), entry(3)], T0)
    assert [c.reason for c in recent_changes(doc, queue=Q1)] == ["change 3", "change 1"]
    assert recent_changes(doc, queue="demo-1250000000/ap-guangzhou/pic/nope") == []
    for bad in (0, MAX_HISTORY_CHANGES + 1, True, "5"):
        with pytest.raises(InvalidInput) as caught:
            recent_changes(doc, limit=bad)  # type: ignore[arg-type]
        assert caught.value.field == "limit"
        assert f"must be a whole number from 1 to {MAX_HISTORY_CHANGES}" in caught.value.rule


def test_the_history_is_stored_and_an_older_document_without_one_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"version": 1, "overrides": [], "last_applied": {}}')
    store = FileStateStore(path, clock=lambda: T0.timestamp())
    assert store.load()[0].changes == []

    store.update(lambda doc: record_changes(doc, [entry(1, override_id="o-1")], T0))

    [change] = store.load()[0].changes
    assert (change.at, change.event, change.reason) == (T0, "queue.paused", "change 1")
    assert change.model_extra == {"override_id": "o-1"}  # other audit fields are kept as given

"""The state document's stored format, as tables: what it writes (byte for byte what the pydantic
model wrote before the records became plain classes, so stored files do not churn and an older
ciqueue reads them), what it reads, and what it refuses with the field and the rule.

The expected bytes and verdicts below were checked against the pydantic module (a differential
run over 20,000 random documents when it was replaced); the rows marked "refused on purpose" are
values pydantic coerced and the plain reader refuses (the module docstring says why)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from ciqueue.errors import StateCorrupt
from ciqueue.state.document import (
    ChangeRecord,
    FrozenRecord,
    LastAppliedRecord,
    OverrideRecord,
    RecordInvalid,
    StateDocument,
    record_changes,
)

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc)
# Every writer rule at once: fields in declared order then extras, last_applied sorted, instants
# to UTC with Z (microseconds when not zero), updated_at in its own offset, pydantic's floats
# (1e-7, 0.000015, 1e+16, not finite as null), UTF-8 unescaped, control characters escaped.
STORED = (
    '{"z":[1e-7,1.5e-05,1e16,0.1,NaN,-Infinity,-0.0,123456789012345678901234567890],'
    '"last_applied":{"b/ap-gz/pic/p2":{"desired_state":"Paused","edge_at":"2026-03-01T10:00:00+08:00",'
    '"note":"\\u00e9\\u0001\\n"},"a/ap-gz/pic/p1":{"decided_at":"2026-03-01 02:00:00.5z",'
    '"callback_index":2}},'
    '"overrides":[{"id":"ovr-1","bucket":"b","region":"r","kind":"pic","queue_id":"q","state":"Active",'
    '"created_at":"2026-03-01T02:00:00.123456789Z","expires_at":"2026-03-01T02:00:00,25-05:30","x":{"k":[true,null]}}],'
    '"updated_at":"2026-03-01T10:00:00+0800",'
    '"changes":[{"at":"2026-03-01T02:00Z","event":"queue.paused","before":{"when":"x","n":5e-05},"repeats":2}],'
    '"version":1}'
)
WRITTEN = (
    '{"version":1,"overrides":[{"id":"ovr-1","bucket":"b","region":"r","kind":"pic","queue_id":"q",'
    '"state":"Active","reason":null,"actor":null,"created_at":"2026-03-01T02:00:00.123456Z",'
    '"expires_at":"2026-03-01T07:30:00.250000Z","x":{"k":[true,null]}}],"last_applied":{"a/ap-gz/pic/p1":'
    '{"desired_state":null,"edge_at":null,"source":null,"callback_index":2,"callback_edge_at":null,'
    '"callback_source":null,"decided_at":"2026-03-01T02:00:00.500000Z"},"b/ap-gz/pic/p2":{"desired_state":'
    '"Paused","edge_at":"2026-03-01T02:00:00Z","source":null,"callback_index":null,"callback_edge_at":null,'
    '"callback_source":null,"decided_at":null,"note":"é\\u0001\\n"}},"updated_at":"2026-03-01T10:00:00+08:00",'
    '"changes":[{"at":"2026-03-01T02:00:00Z","event":"queue.paused","actor":null,"queue":null,"action":null,'
    '"reason":null,"changed":null,"before":{"when":"x","n":0.00005},"after":null,"result":{"status":"ok"},'
    '"repeats":2}],"z":[1e-7,0.000015,1e+16,0.1,null,null,-0.0,123456789012345678901234567890]}\n'
)


def test_writes_what_the_pydantic_model_wrote() -> None:
    doc = StateDocument.from_json(STORED, "t")
    assert doc.to_json() == WRITTEN.encode()
    assert StateDocument.from_json(doc.to_json(), "t").to_json() == WRITTEN.encode()  # a fixed point
    assert doc.overrides[0].model_extra == {"x": {"k": [True, None]}}
    assert doc.changes[0].model_extra == {"repeats": 2}


def test_an_empty_document_and_the_default_form() -> None:
    expected = b'{"version":1,"overrides":[],"last_applied":{},"updated_at":null,"changes":[]}\n'
    assert StateDocument().to_json() == StateDocument.from_json(b" \n", "t").to_json() == expected


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("2026-03-01T02:00:00Z", "2026-03-01T02:00:00Z"),
        ("2026-03-01t02:00:00z", "2026-03-01T02:00:00Z"),
        ("2026-03-01 02:00:00Z", "2026-03-01T02:00:00Z"),
        ("2026-03-01_02:00:00Z", "2026-03-01T02:00:00Z"),
        ("2026-03-01T02:00Z", "2026-03-01T02:00:00Z"),
        ("2026-03-01T10:00:00+08:00", "2026-03-01T02:00:00Z"),
        ("2026-03-01T10:00:00+0800", "2026-03-01T02:00:00Z"),
        ("2026-03-01T02:00:00-00:00", "2026-03-01T02:00:00Z"),
        ("2026-02-28T20:30:00-05:30", "2026-03-01T02:00:00Z"),
        ("2026-03-01T02:00:00.5Z", "2026-03-01T02:00:00.500000Z"),
        ("2026-03-01T02:00:00,25Z", "2026-03-01T02:00:00.250000Z"),
        ("2026-03-01T02:00:00.123456789Z", "2026-03-01T02:00:00.123456Z"),  # past microseconds: dropped
        ("2026-03-01T02:00:00.000000Z", "2026-03-01T02:00:00Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
    ],
)
def test_instants_read_in_every_form_pydantic_read_and_are_kept_in_utc(text: str, stored: str) -> None:
    doc = StateDocument.from_json(json.dumps({"last_applied": {"k": {"edge_at": text}}}), "t")
    edge = doc.last_applied["k"].edge_at
    assert edge is not None and edge.utcoffset() == timedelta(0)
    assert json.loads(doc.to_json())["last_applied"]["k"]["edge_at"] == stored


INSTANT = "must be an ISO 8601 time with a timezone, like 2026-03-01T02:00:00Z"


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ({"overrides": [{"id": "ovr-1", "state": "Stopped"}]}, "overrides.0.bucket: is required"),
        ({"overrides": {}}, "overrides: must be a list"),
        ({"overrides": [[]]}, "overrides.0: must be an object"),
        ({"overrides": [{"id": "bad id"}]}, "overrides.0.id: must be 1-64 letters, digits"),
        ({"overrides": [{"id": "ovr-1\n"}]}, "overrides.0.id: must be 1-64 letters, digits"),
        ({"overrides": [{"id": "a" * 65}]}, "overrides.0.id: must be 1-64 letters, digits"),
        (
            {
                "overrides": [
                    dict.fromkeys(("id", "bucket", "region", "kind", "queue_id"), "x") | {"state": "paused"}
                ]
            },
            "overrides.0.state: must be Active or Paused",
        ),
        (
            {
                "overrides": [
                    dict.fromkeys(("id", "bucket", "region", "kind", "queue_id"), "x")
                    | {"state": "Paused", "created_at": "2026-03-01T02:00:00"}
                ]
            },
            f"overrides.0.created_at: {INSTANT}",
        ),
        ({"last_applied": []}, "last_applied: must be an object"),
        ({"last_applied": {"b/r/pic/q": {"source": 1}}}, "last_applied.b/r/pic/q.source: must be text"),
        (
            {"last_applied": {"k": {"desired_state": "Active", "edge_at": "2026-02-30T02:00:00Z"}}},
            "last_applied.k.edge_at: ",
        ),
        ({"last_applied": {"k": {"edge_at": "2026-03-01T24:00:00Z"}}}, "last_applied.k.edge_at: "),
        ({"last_applied": {"k": {"edge_at": "2026-03-01T02:00:00+24:00"}}}, "last_applied.k.edge_at: "),
        (
            {"last_applied": {"k": {"edge_at": "2026-03-01T02:00:00+08"}}},
            f"last_applied.k.edge_at: {INSTANT}",
        ),
        ({"last_applied": {"k": {"edge_at": "20260301T020000Z"}}}, f"last_applied.k.edge_at: {INSTANT}"),
        ({"last_applied": {"k": {"edge_at": "2026-03-01T02:00:00Z "}}}, f"last_applied.k.edge_at: {INSTANT}"),
        (
            {"last_applied": {"k": {"callback_index": 1.5}}},
            "last_applied.k.callback_index: must be a whole number",
        ),
        ({"updated_at": "2026-03-01"}, f"updated_at: {INSTANT}"),
        ({"changes": [{"at": "2026-03-01T02:00:00Z"}]}, "changes.0.event: is required"),
        (
            {"changes": [{"at": "2026-03-01T02:00:00Z", "event": "e", "result": None}]},
            "changes.0.result: must be an object",
        ),
        ({"version": "abc"}, "version: must be a whole number"),
        # The first broken field in declared order is the one named (as pydantic's first error).
        ({"changes": [{}], "version": None}, "version: must be a whole number"),
        # Refused on purpose (pydantic coerced these):
        ({"last_applied": {"k": {"edge_at": 1700000000}}}, f"last_applied.k.edge_at: {INSTANT}"),
        ({"last_applied": {"k": {"edge_at": "1700000000"}}}, f"last_applied.k.edge_at: {INSTANT}"),
        (
            {"last_applied": {"k": {"callback_index": "1"}}},
            "last_applied.k.callback_index: must be a whole number",
        ),
        (
            {"last_applied": {"k": {"callback_index": True}}},
            "last_applied.k.callback_index: must be a whole number",
        ),
        (
            {"changes": [{"at": "2026-03-01T02:00:00Z", "event": "e", "changed": 1}]},
            "changes.0.changed: must be true",
        ),
        ({"version": "2"}, "version: must be a whole number"),  # pydantic read it, then wrote version 2
        ({"version": 1.0}, "version: must be a whole number"),
        # pydantic raised OverflowError (a traceback) converting these to UTC:
        ({"last_applied": {"k": {"edge_at": "9999-12-31T23:59:59-01:00"}}}, "last_applied.k.edge_at: "),
        ({"last_applied": {"k": {"edge_at": "0001-01-01T00:00:00+01:00"}}}, "last_applied.k.edge_at: "),
    ],
)
def test_a_broken_stored_value_is_refused_naming_the_field_and_rule(
    stored: dict[str, object], problem: str
) -> None:
    with pytest.raises(StateCorrupt) as caught:
        StateDocument.from_json(json.dumps(stored), "file s.json")
    assert str(caught.value).startswith(f"state file s.json: {problem}")


def test_a_newer_schema_is_refused_before_any_field() -> None:
    with pytest.raises(StateCorrupt, match="schema version 2, written by a newer ciqueue"):
        StateDocument.from_json(json.dumps({"version": 2, "overrides": "broken"}), "t")


def test_records_are_frozen_and_copied_with_changes() -> None:
    record = LastAppliedRecord(desired_state="Paused", edge_at=T0, note=1)
    with pytest.raises(FrozenRecord):
        record.desired_state = "Active"  # type: ignore[misc]
    changed = record.model_copy(update={"desired_state": "Active", "repeats": 2})
    assert (changed.desired_state, changed.model_extra, record.model_extra) == (
        "Active",
        {"note": 1, "repeats": 2},
        {"note": 1},
    )
    assert record == LastAppliedRecord(desired_state="Paused", edge_at=T0, note=1) != changed
    assert record != LastAppliedRecord(desired_state="Paused", edge_at=T0)  # the extras count
    assert hash(record) == hash(LastAppliedRecord(desired_state="Paused", edge_at=T0, note=1))
    assert record.model_dump(mode="json") == {
        "desired_state": "Paused",
        "edge_at": "2026-03-01T02:00:00Z",
        "source": None,
        "callback_index": None,
        "callback_edge_at": None,
        "callback_source": None,
        "decided_at": None,
        "note": 1,
    }


def test_keyword_construction_validates_like_the_reader() -> None:
    shanghai = timezone(timedelta(hours=8))
    record = OverrideRecord(
        id="ovr-1", bucket="b", region="r", kind="pic", queue_id="q", state="Paused",
        created_at=datetime(2026, 3, 1, 10, tzinfo=shanghai),
    )  # fmt: skip
    assert record.created_at == T0 and record.created_at.tzinfo is timezone.utc
    with pytest.raises(
        RecordInvalid, match=r"OverrideRecord\.created_at: must be an ISO 8601 time with a timezone"
    ):
        OverrideRecord(
            id="o",
            bucket="b",
            region="r",
            kind="pic",
            queue_id="q",
            state="Paused",
            created_at=datetime(2026, 3, 1),
        )
    with pytest.raises(RecordInvalid, match=r"OverrideRecord\.state: must be Active or Paused"):
        OverrideRecord(
            id="o", bucket="b", region="r", kind="pic", queue_id="q", state="Stopped", created_at=T0
        )
    with pytest.raises(RecordInvalid, match=r"ChangeRecord\.event: is required"):
        ChangeRecord.model_validate({"at": T0})
    with pytest.raises(RecordInvalid, match=r"StateDocument\.overrides\.0\.id: is required"):
        StateDocument(overrides=[{}])
    # An audit entry arrives as a dict: validated into a record, its other fields kept.
    doc = record_changes(
        StateDocument(), [{"at": "2026-03-01T10:00:00+08:00", "event": "queue.paused", "n": 1}], T0
    )
    assert doc.changes[0].at == T0 and doc.changes[0].model_extra == {"n": 1}

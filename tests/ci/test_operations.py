"""Safe operations over real HTTP against the emulator: only the asked field changes, no PUT when
already so, dry runs write nothing, concurrent changes are reported, request ids are collected."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from ciqueue.ci import models
from ciqueue.ci.client import CIClient, pooled_session
from ciqueue.ci.credentials import Credentials
from ciqueue.ci.operations import (
    BatchChange,
    Change,
    FieldChange,
    OperationResult,
    apply_change,
    change_queue,
    change_queues,
    pause_queue,
    resume_queue,
    set_callback,
)
from ciqueue.ci.ratelimit import RateLimit
from ciqueue.ci.retry import Deadline, RetryPolicy
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.emulator.server import EmulatorServer
from ciqueue.errors import (
    ConflictError,
    DeadlineExceeded,
    InvalidInput,
    QueueNotFound,
    UnverifiedWrite,
    describe,
)
from conftest import (
    DEMO_BUCKET,
    DEMO_NOTIFY,
    DEMO_REGION,
    OTHER_BUCKET,
    PIC_CALLBACK_ID,
    PIC_PAUSED_ID,
    EmuAdmin,
    queue_id,
    reads_fail_after_put,
    seed_queues,
)

LEGACY_ID = "p00000000000000000000000000001e9a"
DOC_ID = "p000000000000000000000000000d0c01"
LEGACY_NOTIFY = {
    "State": "On",
    "Type": "Url",
    "Url": "https://legacy.example.com/hook",
    "Event": "TransCodingFinish",
    "ResultFormat": "XML",
    "KafkaConfig": {"Region": "ap-guangzhou", "InstanceId": "ckafka-1", "Topic": "ci"},
}
LEGACY_EXTRA = {"SomeNewElement": "v", "Limits": {"Burst": "5", "Window": "60"}}


@pytest.fixture
def client(emulator: EmulatorServer) -> CIClient:
    return CIClient(
        DEMO_BUCKET, DEMO_REGION, Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY), endpoint=emulator.endpoint
    )


@pytest.fixture
def legacy(emulator: EmulatorServer, emu_admin: EmuAdmin) -> dict[str, Any]:
    """A pic queue with a full Url callback (legacy Event, a NotifyConfig extra) and queue extras."""
    emu_admin.seed(
        [
            {
                "bucket": DEMO_BUCKET,
                "region": DEMO_REGION,
                "kinds": ["pic", "doc"],
                "queues": [
                    {
                        "kind": "pic",
                        "queue_id": LEGACY_ID,
                        "name": "legacy",
                        "notify_config": LEGACY_NOTIFY,
                        "extra": LEGACY_EXTRA,
                    },
                    {"kind": "doc", "queue_id": DOC_ID, "name": "doc-1"},
                ],
            }
        ]
    )
    emu_admin.clear_requests()
    return emu_admin.queue(LEGACY_ID)


def methods(emu_admin: EmuAdmin) -> list[str]:
    return [entry["method"] for entry in emu_admin.requests()]


def without_update_time(queue: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in queue.items() if k != "UpdateTime"}


def test_pause_changes_only_state(client: CIClient, emu_admin: EmuAdmin, legacy: dict[str, Any]) -> None:
    result = pause_queue(client, "pic", LEGACY_ID)

    stored = emu_admin.queue(LEGACY_ID)
    assert stored["State"] == "Paused"
    assert stored["NotifyConfig"] == LEGACY_NOTIFY
    assert stored["SomeNewElement"] == "v" and stored["Limits"] == LEGACY_EXTRA["Limits"]
    assert without_update_time(stored) == {**without_update_time(legacy), "State": "Paused"}
    assert result.changed is True and result.dry_run is False
    assert result.diff == [FieldChange("State", "Active", "Paused")]
    assert result.before.state == "Active" and result.after.state == "Paused"
    assert result.after.notify_config is not None and result.after.notify_config.event == "TransCodingFinish"


def test_request_ids_cover_read_put_and_verify(
    client: CIClient, emu_admin: EmuAdmin, legacy: dict[str, Any]
) -> None:
    result = pause_queue(client, "pic", LEGACY_ID)

    log = emu_admin.requests()
    assert [e["method"] for e in log] == ["GET", "PUT", "GET"]
    assert result.request_ids == [e["request_id"] for e in log]
    assert all(result.request_ids) and len(set(result.request_ids)) == 3


def test_resume_changes_only_state(client: CIClient, emu_admin: EmuAdmin, demo_bucket: Any) -> None:
    before = emu_admin.queue(PIC_PAUSED_ID)
    result = resume_queue(client, "pic", PIC_PAUSED_ID)

    assert result.diff == [FieldChange("State", "Paused", "Active")]
    assert without_update_time(emu_admin.queue(PIC_PAUSED_ID)) == {
        **without_update_time(before),
        "State": "Active",
    }


def test_second_pause_sends_no_put(client: CIClient, emu_admin: EmuAdmin, legacy: dict[str, Any]) -> None:
    pause_queue(client, "pic", LEGACY_ID)
    emu_admin.clear_requests()
    stored = emu_admin.queue(LEGACY_ID)

    again = pause_queue(client, "pic", LEGACY_ID)

    assert methods(emu_admin) == ["GET"]
    assert again.changed is False and again.diff == []
    assert again.reason == "already Paused; nothing written"
    assert len(again.request_ids) == 1 and again.request_ids[0]
    assert emu_admin.queue(LEGACY_ID) == stored  # UpdateTime included: nothing was written


def test_dry_run_writes_nothing_and_shows_the_diff(
    client: CIClient, emu_admin: EmuAdmin, legacy: dict[str, Any]
) -> None:
    result = pause_queue(client, "pic", LEGACY_ID, dry_run=True)

    assert methods(emu_admin) == ["GET"]
    assert emu_admin.queue(LEGACY_ID) == legacy
    assert result.dry_run is True and result.changed is False
    assert result.diff == [FieldChange("State", "Active", "Paused")]
    assert result.reason == "dry run: would set State Active → Paused"
    assert result.after.state == "Paused" and result.before.state == "Active"


def test_set_callback_changes_only_notify_config(
    client: CIClient, emu_admin: EmuAdmin, demo_bucket: Any
) -> None:
    emu_admin.patch(DEMO_BUCKET, "pic", PIC_CALLBACK_ID, {"State": "Paused"})
    before = emu_admin.queue(PIC_CALLBACK_ID)
    notify = models.requested_notify_config(
        url="https://standby.example.com/ci-callback", event="TaskFinish", result_format="JSON"
    )

    result = set_callback(client, "pic", PIC_CALLBACK_ID, notify)

    stored = emu_admin.queue(PIC_CALLBACK_ID)
    assert result.diff == [
        FieldChange("NotifyConfig.Url", DEMO_NOTIFY["Url"], "https://standby.example.com/ci-callback")
    ]
    assert stored["State"] == "Paused"  # a callback change never touches State
    assert stored["NotifyConfig"] == {**DEMO_NOTIFY, "Url": "https://standby.example.com/ci-callback"}
    assert stored["SomeNewElement"] == "v"
    assert without_update_time(stored) == {
        **without_update_time(before),
        "NotifyConfig": stored["NotifyConfig"],
    }


def test_set_callback_keeps_unknown_notify_children(
    client: CIClient, emu_admin: EmuAdmin, legacy: dict[str, Any]
) -> None:
    notify = models.requested_notify_config(url="https://new.example.com/hook", result_format="JSON")

    result = set_callback(client, "pic", LEGACY_ID, notify)

    stored = emu_admin.queue(LEGACY_ID)
    assert stored["NotifyConfig"]["KafkaConfig"] == LEGACY_NOTIFY["KafkaConfig"]
    assert stored["State"] == "Active"
    assert {c.field for c in result.diff} == {
        "NotifyConfig.Url",
        "NotifyConfig.Event",
        "NotifyConfig.ResultFormat",
    }


def test_set_callback_to_tdmq(client: CIClient, emu_admin: EmuAdmin, demo_bucket: Any) -> None:
    notify = models.requested_notify_config(mq_mode="Topic", mq_region="gz", mq_name="ci-events")

    result = set_callback(client, "pic", PIC_CALLBACK_ID, notify)

    stored = emu_admin.queue(PIC_CALLBACK_ID)["NotifyConfig"]
    assert stored["Type"] == "TDMQ" and stored["MqMode"] == "Topic" and stored["MqName"] == "ci-events"
    assert "Url" not in stored
    assert {c.field: c.after for c in result.diff} == {
        "NotifyConfig.Type": "TDMQ",
        "NotifyConfig.Url": None,
        "NotifyConfig.ResultFormat": None,
        "NotifyConfig.MqMode": "Topic",
        "NotifyConfig.MqRegion": "gz",
        "NotifyConfig.MqName": "ci-events",
    }


def test_callback_off_keeps_settings(client: CIClient, emu_admin: EmuAdmin, demo_bucket: Any) -> None:
    result = set_callback(client, "pic", PIC_CALLBACK_ID, models.notify_config_off())

    stored = emu_admin.queue(PIC_CALLBACK_ID)
    assert stored["NotifyConfig"] == {**DEMO_NOTIFY, "State": "Off"}
    assert stored["State"] == "Active" and stored["SomeNewElement"] == "v"
    assert result.diff == [FieldChange("NotifyConfig.State", "On", "Off")]

    emu_admin.clear_requests()
    again = set_callback(client, "pic", PIC_CALLBACK_ID, models.requested_notify_config(state="Off"))
    assert again.changed is False and again.reason == "already callback off; nothing written"
    assert methods(emu_admin) == ["GET"]


def test_callback_without_state_is_already_off(
    make_client: Callable[..., CIClient], emu_admin: EmuAdmin
) -> None:
    # CI's NotifyConfig.State defaults to Off: turning such a callback off must write nothing.
    notify = {"Url": "https://cb.example.com/ci", "Type": "Url", "Event": "TaskFinish"}
    seed_queues(emu_admin, [{"kind": "pic", "queue_id": queue_id(7), "name": "q", "notify_config": notify}])
    result = set_callback(make_client(bucket=OTHER_BUCKET), "pic", queue_id(7), models.notify_config_off())
    assert (result.changed, result.diff, result.reason) == (
        False,
        [],
        "already callback off; nothing written",
    )
    assert [e["method"] for e in emu_admin.requests()] == ["GET"]
    assert emu_admin.queue(queue_id(7))["NotifyConfig"] == notify


def test_callback_off_refuses_legacy_settings_before_writing(
    client: CIClient, emu_admin: EmuAdmin, legacy: dict[str, Any]
) -> None:
    # Off keeps the stored settings, and CI judges a changed NotifyConfig whole.
    with pytest.raises(InvalidInput) as caught:
        set_callback(client, "pic", LEGACY_ID, models.notify_config_off())

    assert caught.value.field == "NotifyConfig.Event"
    assert "TransCodingFinish" in caught.value.rule
    assert methods(emu_admin) == ["GET"]
    assert emu_admin.queue(LEGACY_ID) == legacy


def test_concurrent_change_is_reported(client: CIClient, emu_admin: EmuAdmin, legacy: dict[str, Any]) -> None:
    emu_admin.faults(mutate_after_put={"queue_id": LEGACY_ID, "set": {"Name": "changed-by-someone"}})

    with pytest.raises(ConflictError) as caught:
        pause_queue(client, "pic", LEGACY_ID)

    assert "Name is 'changed-by-someone', we wrote 'legacy'" in str(caught.value)
    assert "State" not in caught.value.detail
    log = emu_admin.requests()
    assert [e["method"] for e in log] == ["GET", "PUT", "GET"]
    assert caught.value.request_id == log[-1]["request_id"]


def test_concurrent_state_flip_names_state(
    client: CIClient, emu_admin: EmuAdmin, legacy: dict[str, Any]
) -> None:
    emu_admin.faults(mutate_after_put={"queue_id": LEGACY_ID, "set": {"State": "Active"}})

    with pytest.raises(ConflictError, match=r"State is 'Active', we wrote 'Paused'"):
        pause_queue(client, "pic", LEGACY_ID)


def test_a_write_whose_verifying_read_fails_is_written_not_verified(
    emulator: EmulatorServer, emu_admin: EmuAdmin, legacy: dict[str, Any]
) -> None:
    # The PUT lands; then CI answers 503 to every read, so the change cannot be verified.
    client = CIClient(
        DEMO_BUCKET,
        DEMO_REGION,
        Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY),
        endpoint=emulator.endpoint,
        session=reads_fail_after_put(emu_admin),
        retry=RetryPolicy(max_attempts=2, base_delay=0),
    )

    with pytest.raises(UnverifiedWrite) as caught:
        pause_queue(client, "pic", LEGACY_ID)

    log = emu_admin.requests()
    assert [(e["method"], e["status"]) for e in log] == [
        ("GET", 200),
        ("PUT", 200),
        ("GET", 503),
        ("GET", 503),
    ]
    emu_admin.clear_faults()
    assert emu_admin.queue(LEGACY_ID)["State"] == "Paused"  # it was written
    error = caught.value
    assert (error.written, error.queue_id, error.action) == (True, LEGACY_ID, "pause")
    assert error.diff == [{"field": "State", "before": "Active", "after": "Paused"}]
    assert error.request_ids == [log[0]["request_id"], log[1]["request_id"]]
    report = describe(error)
    assert (report.status, report.code, report.transient, report.written) == (
        502,
        "UnverifiedWrite",
        True,
        True,
    )
    assert report.fields["written"] is True and report.fields["verified"] is False
    assert report.fields["cause"]["code"] == "SlowDown"
    assert report.fields["request_id"] == log[1]["request_id"]  # the PUT that landed
    assert report.message.startswith(
        f"queue {LEGACY_ID}: pause written (State Active → Paused) but not verified: "
    )
    assert "SlowDown (HTTP 503)" in report.message


def test_a_write_whose_verifying_read_runs_out_of_time_is_504_written_not_verified(
    client: CIClient, emu_admin: EmuAdmin, legacy: dict[str, Any]
) -> None:
    class Clock:
        """Monotonic time that jumps past the deadline once the PUT has been answered."""

        now = 0.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    original = client.update_queue

    def update_then_time_out(*args: Any, **kwargs: Any) -> Any:
        written = original(*args, **kwargs)
        clock.now = 100.0
        return written

    client.update_queue = update_then_time_out  # type: ignore[method-assign]

    with pytest.raises(UnverifiedWrite) as caught:
        pause_queue(client, "pic", LEGACY_ID, deadline=Deadline(10.0, clock))

    assert methods(emu_admin) == ["GET", "PUT"]
    assert emu_admin.queue(LEGACY_ID)["State"] == "Paused"
    report = describe(caught.value)
    assert (report.status, report.code, report.transient) == (504, "UnverifiedWrite", True)
    assert report.fields["cause"]["code"] == "DeadlineExceeded"


def test_unknown_queue(client: CIClient, emu_admin: EmuAdmin, demo_bucket: Any) -> None:
    missing = "p" + "f" * 32
    emu_admin.clear_requests()

    with pytest.raises(QueueNotFound) as caught:
        pause_queue(client, "pic", missing)

    assert caught.value.queue_id == missing and caught.value.request_id
    assert methods(emu_admin) == ["GET"]


def test_invalid_change_is_refused_before_any_write(
    client: CIClient, emu_admin: EmuAdmin, legacy: dict[str, Any]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        apply_change(client, "pic", LEGACY_ID, lambda u: u.model_copy(update={"name": "bad name!"}), "rename")

    assert caught.value.field == "Name"
    assert "may contain only" in caught.value.rule
    assert methods(emu_admin) == ["GET"]
    assert emu_admin.queue(LEGACY_ID) == legacy


def test_doc_queue_sends_its_id(client: CIClient, emu_admin: EmuAdmin, legacy: dict[str, Any]) -> None:
    result = pause_queue(client, "doc", DOC_ID)

    assert result.changed and emu_admin.queue(DOC_ID)["State"] == "Paused"
    assert "QueueID" not in emu_admin.queue(DOC_ID)  # sent in the body, not stored as an extra


def test_doc_queue_refuses_a_tdmq_callback_before_any_write(
    client: CIClient, emu_admin: EmuAdmin, legacy: dict[str, Any]
) -> None:
    before = emu_admin.queue(DOC_ID)
    tdmq = models.requested_notify_config(mq_mode="Queue", mq_region="gz", mq_name="t")  # no kind yet

    with pytest.raises(InvalidInput) as caught:
        set_callback(client, "doc", DOC_ID, tdmq)

    assert (caught.value.field, caught.value.rule) == (
        "NotifyConfig.Type",
        "doc queues take only Url (got 'TDMQ')",
    )
    assert methods(emu_admin) == ["GET"]
    assert emu_admin.queue(DOC_ID) == before


def test_doc_queue_takes_a_url_callback_without_result_format(
    client: CIClient, emu_admin: EmuAdmin, legacy: dict[str, Any]
) -> None:
    notify = models.requested_notify_config(url="https://hooks.example.com/doc", kind="doc")

    set_callback(client, "doc", DOC_ID, notify)

    assert emu_admin.queue(DOC_ID)["NotifyConfig"] == {
        "Url": "https://hooks.example.com/doc",
        "Event": "TaskFinish",
        "Type": "Url",
        "State": "On",
    }


def test_expired_deadline_sends_nothing(
    client: CIClient, emu_admin: EmuAdmin, legacy: dict[str, Any]
) -> None:
    with pytest.raises(DeadlineExceeded):
        pause_queue(client, "pic", LEGACY_ID, deadline=Deadline(0.0))
    assert methods(emu_admin) == []


def test_result_to_dict_is_json_ready(client: CIClient, emu_admin: EmuAdmin, legacy: dict[str, Any]) -> None:
    data = json.loads(json.dumps(pause_queue(client, "pic", LEGACY_ID, actor="ops").to_dict()))

    assert data["kind"] == "pic" and data["queue_id"] == LEGACY_ID and data["action"] == "pause"
    assert data["changed"] is True and data["dry_run"] is False and data["actor"] == "ops"
    assert data["diff"] == [{"field": "State", "before": "Active", "after": "Paused"}]
    assert data["before"]["State"] == "Active" and data["after"]["State"] == "Paused"
    assert data["after"]["NotifyConfig"]["KafkaConfig"] == LEGACY_NOTIFY["KafkaConfig"]
    assert data["after"]["Limits"] == LEGACY_EXTRA["Limits"]
    assert len(data["request_ids"]) == 3


# --- change_queue: the one action -> operation dispatch ------------------------------------------


def test_change_queue_carries_out_each_action_as_its_operation(
    client: CIClient, emu_admin: EmuAdmin, demo_bucket: Any
) -> None:
    from conftest import PIC_DEFAULT_ID

    paused = change_queue(client, "pic", PIC_DEFAULT_ID, "pause", actor="t")
    assert (paused.action, paused.changed, emu_admin.queue(PIC_DEFAULT_ID)["State"]) == (
        "pause",
        True,
        "Paused",
    )
    resumed = change_queue(client, "pic", PIC_DEFAULT_ID, "resume", actor="t")
    assert (resumed.action, emu_admin.queue(PIC_DEFAULT_ID)["State"]) == ("resume", "Active")
    off = models.requested_notify_config(state="Off")
    called = change_queue(client, "pic", PIC_CALLBACK_ID, "set_callback", notify=off, actor="t")
    assert (
        called.action == "set_callback"  # the command schema's name, in results, audit lines and JSON
        and emu_admin.queue(PIC_CALLBACK_ID)["NotifyConfig"]["State"] == "Off"
    )
    assert len(emu_admin.put_paths()) == 3


def test_change_queue_starts_nothing_once_the_deadline_ran_out(
    client: CIClient, emu_admin: EmuAdmin, demo_bucket: Any
) -> None:
    emu_admin.clear_requests()
    with pytest.raises(DeadlineExceeded, match=f"no time left to pause queue {PIC_PAUSED_ID}"):
        change_queue(client, "pic", PIC_PAUSED_ID, "pause", deadline=Deadline.after(0))
    assert emu_admin.requests() == []


@pytest.mark.parametrize(("action", "notify"), [("reconcile", None), ("set_callback", None)])
def test_change_queue_refuses_an_action_it_cannot_carry_out(
    client: CIClient, action: str, notify: None
) -> None:
    with pytest.raises(ValueError):
        change_queue(client, "pic", PIC_PAUSED_ID, action, notify=notify)


# --- a batch: one read, the PUTs at once, one verifying read --------------------------------------


def batch_seed(count: int) -> list[dict[str, Any]]:
    """``count`` pic queues in OTHER_BUCKET, each with a callback, a child and an element ciqueue
    does not model (they must all survive); every third one already Paused."""
    return [
        {
            "kind": "pic",
            "queue_id": queue_id(n),
            "name": f"batch-{n}",
            "state": "Paused" if n % 3 == 0 else "Active",
            "notify_config": {**LEGACY_NOTIFY, "Url": f"https://cb.example.com/{n}"},
            "extra": {"SomeNewElement": f"v{n}"},
        }
        for n in range(count)
    ]


def test_a_batch_reads_once_writes_only_what_changes_and_verifies_once(
    emulator: EmulatorServer, emu_admin: EmuAdmin, make_client: Callable[..., CIClient]
) -> None:
    seed_queues(emu_admin, batch_seed(10))
    before = {q["QueueId"]: q for q in emu_admin.state()["buckets"][0]["queues"]}
    changes = [Change(queue_id(n), "pause") for n in range(10)]

    outcomes = change_queues(make_client(bucket=OTHER_BUCKET), "pic", changes, actor="t")

    log = emu_admin.requests()
    ids = ",".join(queue_id(n) for n in range(10))
    to_pause = [queue_id(n) for n in range(10) if n % 3]
    # One read of all ten, a PUT for each queue not yet Paused, one read verifying those seven.
    assert [(e["method"], e["query"].get("queueIds")) for e in log if e["method"] == "GET"] == [
        ("GET", ids),
        ("GET", ",".join(to_pause)),
    ]
    assert sorted(e["path"] for e in log if e["method"] == "PUT") == [f"/picqueue/{q}" for q in to_pause]
    for n in range(10):
        result = outcomes[queue_id(n)]
        assert isinstance(result, OperationResult)
        assert result.changed == bool(n % 3)
        assert result.reason == ("set State Active → Paused" if n % 3 else "already Paused; nothing written")
        assert len(result.request_ids) == (3 if n % 3 else 1)
    after = {q["QueueId"]: q for q in emu_admin.state()["buckets"][0]["queues"]}
    for queue, old in before.items():
        # Everything but the state is as it was: NotifyConfig (KafkaConfig too) and extras carried back.
        assert {k: v for k, v in after[queue].items() if k not in ("State", "UpdateTime")} == {
            k: v for k, v in old.items() if k not in ("State", "UpdateTime")
        }
        assert after[queue]["State"] == "Paused"


def test_a_batch_names_each_action_as_a_single_change_does(
    emulator: EmulatorServer, emu_admin: EmuAdmin, make_client: Callable[..., CIClient]
) -> None:
    seed_queues(emu_admin, batch_seed(3))
    standby = models.requested_notify_config(
        type="Url", url="https://standby.example.com/cb", event="TaskFinish", result_format="JSON", kind="pic"
    )
    changes = [Change(queue_id(1), "pause"), Change(queue_id(2), "set_callback", notify=standby)]

    outcomes = change_queues(make_client(bucket=OTHER_BUCKET), "pic", changes, actor="t")

    # The command schema's names (set_callback, not the CLI subcommand's set-callback): the audit
    # event of a tick's batch is then queue.callback_changed, as for one queue.
    assert {q: getattr(r, "action", r) for q, r in outcomes.items()} == {
        queue_id(1): "pause",
        queue_id(2): "set_callback",
    }
    assert emu_admin.queue(queue_id(2))["NotifyConfig"]["Url"] == "https://standby.example.com/cb"


def test_a_queue_missing_from_the_batch_read_is_not_written_and_the_others_are(
    emulator: EmulatorServer, emu_admin: EmuAdmin, make_client: Callable[..., CIClient]
) -> None:
    seed_queues(emu_admin, batch_seed(3))
    ghost = queue_id(999)
    changes = [Change(queue_id(1), "pause"), Change(ghost, "pause"), Change(queue_id(2), "pause")]

    outcomes = change_queues(make_client(bucket=OTHER_BUCKET), "pic", changes)

    assert isinstance(outcomes[ghost], QueueNotFound) and outcomes[ghost].queue_id == ghost
    assert sorted(emu_admin.put_paths()) == [f"/picqueue/{queue_id(1)}", f"/picqueue/{queue_id(2)}"]
    assert all(isinstance(outcomes[queue_id(n)], OperationResult) for n in (1, 2))


def test_a_change_made_between_the_batch_write_and_its_verify_is_a_conflict_naming_the_field(
    emulator: EmulatorServer, emu_admin: EmuAdmin, make_client: Callable[..., CIClient]
) -> None:
    seed_queues(emu_admin, batch_seed(3))
    emu_admin.faults(mutate_after_put={"queue_id": queue_id(2), "set": {"State": "Active"}})

    outcomes = change_queues(
        make_client(bucket=OTHER_BUCKET), "pic", [Change(queue_id(n), "pause") for n in (1, 2)]
    )

    conflict = outcomes[queue_id(2)]
    assert isinstance(conflict, ConflictError)
    assert "State is 'Active', we wrote 'Paused'" in conflict.detail
    assert isinstance(outcomes[queue_id(1)], OperationResult) and outcomes[queue_id(1)].changed


def test_a_batch_whose_verifying_read_fails_reports_every_landed_write_unverified(
    emulator: EmulatorServer, emu_admin: EmuAdmin, make_client: Callable[..., CIClient]
) -> None:
    seed_queues(emu_admin, batch_seed(3))
    session = pooled_session(emu_admin.endpoint)
    landed: list[str] = []

    def after_both_puts(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # The PUTs go at once: only once both have landed do the reads start failing.
        if response.request.method == "PUT" and response.ok:
            landed.append(str(response.request.url))
            if len(landed) == 2:
                emu_admin.faults(next={"count": 10, "status": 503, "code": "SlowDown"})

    session.hooks["response"].append(after_both_puts)
    client = make_client(
        bucket=OTHER_BUCKET, session=session, retry=RetryPolicy(max_attempts=2, base_delay=0)
    )

    outcomes = change_queues(client, "pic", [Change(queue_id(n), "pause") for n in (1, 2)])

    emu_admin.clear_faults()
    for n in (1, 2):
        error = outcomes[queue_id(n)]
        assert isinstance(error, UnverifiedWrite) and error.written
        assert len(error.request_ids) == 2  # the batch read's and this queue's PUT
        assert emu_admin.queue(queue_id(n))["State"] == "Paused"


def test_a_batch_reserves_its_read_puts_and_verify_together_and_gives_back_what_it_skips(
    emulator: EmulatorServer, emu_admin: EmuAdmin, make_client: Callable[..., CIClient]
) -> None:
    seed_queues(emu_admin, batch_seed(10))
    slept: list[float] = []
    now = [100.0]  # a fake clock: it moves only when the limiter sleeps

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    rate = RateLimit(12, monotonic=lambda: now[0], sleep=sleep)
    batch = BatchChange(
        make_client(bucket=OTHER_BUCKET, rate=rate), "pic", [Change(queue_id(n), "pause") for n in range(10)]
    )
    assert batch.cost == 12  # the read, ten PUTs, the verify

    to_write = batch.read()
    # The four slots of the queues already Paused went back to the bucket at once, and no more:
    # someone else on the bucket takes them while the PUTs are out.
    assert len(to_write) == 6
    assert rate.try_reserve(4) == (4, 0.0) and rate.try_reserve(1)[0] == 0
    for queue in to_write:
        batch.write(queue)
    batch.verify()

    # The six PUTs and the verify went on the batch's own slots: nothing waited for the rate.
    assert slept == []
    assert [e["method"] for e in emu_admin.requests()] == ["GET"] + ["PUT"] * 6 + ["GET"]
    assert all(isinstance(batch.outcomes[queue_id(n)], OperationResult) for n in range(10))
    assert all(emu_admin.queue(queue_id(n))["State"] == "Paused" for n in range(10))


def test_a_batch_that_cannot_be_read_writes_nothing(
    emulator: EmulatorServer, emu_admin: EmuAdmin, make_client: Callable[..., CIClient]
) -> None:
    seed_queues(emu_admin, batch_seed(3))
    emu_admin.faults(next={"count": 1, "status": 403, "code": "AccessDenied"})

    outcomes = change_queues(
        make_client(bucket=OTHER_BUCKET), "pic", [Change(queue_id(n), "pause") for n in (1, 2)]
    )

    assert [describe(outcomes[queue_id(n)]).code for n in (1, 2)] == ["AccessDenied", "AccessDenied"]
    assert emu_admin.put_paths() == []


def test_a_batch_is_one_to_ten_distinct_queues(make_client: Callable[..., CIClient]) -> None:
    client = make_client()
    for changes in (
        [],
        [Change(queue_id(n), "pause") for n in range(11)],
        [Change(queue_id(1), "pause")] * 2,
    ):
        with pytest.raises(ValueError, match="a batch is 1 to 10 distinct queues"):
            BatchChange(client, "pic", changes)

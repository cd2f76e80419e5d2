"""executor.execute over real HTTP to the emulator: overrides, callbacks, targets, idempotent
deliveries, and the status of every kind of failure (nothing changes after a validation failure).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ciqueue.app.commands import parse_command
from ciqueue.app.executor import execute
from ciqueue.app.runtime import Runtime
from ciqueue.ci.retry import Deadline, RetryPolicy
from ciqueue.dev.invoke import fan_out_in_process
from ciqueue.schedule.config import Config
from ciqueue.schedule.load import load_config
from conftest import (
    CONFIG_NOW,
    DEMO_BUCKET,
    DEMO_REGION,
    NOON_UTC,
    PIC_CALLBACK_ID,
    PIC_DEFAULT_ID,
    PIC_PAUSED_ID,
    EmuAdmin,
    reads_fail_after_put,
)

CST = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=CST)  # the window (02:00-04:00) is closed
MISSING_ID = "p" + "f" * 32


def ref(queue_id: str, kind: str = "pic") -> dict[str, str]:
    return {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kind": kind, "queue_id": queue_id}


def key(queue_id: str) -> str:
    return f"{DEMO_BUCKET}/{DEMO_REGION}/pic/{queue_id}"


CONFIG = load_config(
    json.dumps(
        {
            "version": 1,
            "timezone": "Asia/Shanghai",
            "targets": {
                "pics": {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "name_pattern": "pic-*"},
                "one": {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "queue_ids": [PIC_DEFAULT_ID]},
            },
            "windows": [
                {
                    "name": "nightly",
                    "targets": ["pics", "one"],
                    "dates": [{"start": "2026-03-01T02:00", "end": "2026-03-01T04:00"}],
                }
            ],
        }
    ),
    now=CONFIG_NOW,
)


@pytest.fixture
def make_runtime(emulator_runtime: Callable[..., Runtime]) -> Callable[..., Runtime]:
    def make(config: Config | None = CONFIG, **kwargs: Any) -> Runtime:
        runtime = emulator_runtime(config=config, clock=lambda: NOW, **kwargs)
        fan_out_in_process(runtime)
        return runtime

    return make


@pytest.fixture
def runtime(demo_bucket: Any, make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime()


def state(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "state.json").read_text())  # type: ignore[no-any-return]


def test_pause_for_a_while_stores_an_override_and_applies_it(
    runtime: Runtime, emu_admin: EmuAdmin, tmp_path: Path
) -> None:
    command = parse_command(
        {"action": "pause", "queues": [ref(PIC_DEFAULT_ID)], "for": "2h", "reason": "deploy"}
    )
    outcome = execute(command, runtime, actor="alice", now=NOW)

    assert (outcome.ok, outcome.status, outcome.error) == (True, 200, None)
    assert outcome.results[0]["queue"] == key(PIC_DEFAULT_ID)
    assert outcome.results[0]["changed"] is True
    assert outcome.results[0]["diff"] == [{"field": "State", "before": "Active", "after": "Paused"}]
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"
    [stored] = state(tmp_path)["overrides"]
    assert outcome.override is not None and stored["id"] == outcome.override["id"]
    assert (stored["state"], stored["actor"], stored["reason"]) == ("Paused", "alice", "deploy")
    assert datetime.fromisoformat(stored["expires_at"].replace("Z", "+00:00")) == NOW + timedelta(hours=2)
    # The pin counts as carried out, so the window takes over again when it ends.
    applied = state(tmp_path)["last_applied"][key(PIC_DEFAULT_ID)]
    assert (applied["desired_state"], applied["source"]) == ("Paused", stored["id"])


def test_a_redelivered_command_stores_its_override_once(runtime: Runtime, tmp_path: Path) -> None:
    command = parse_command({"action": "pause", "queues": [ref(PIC_DEFAULT_ID)], "for": "30m"})
    first = execute(
        command, runtime, actor="timer", now=NOW, idempotency_key="timer:pause:2026-03-01T04:00:00Z"
    )
    again = execute(
        command, runtime, actor="timer", now=NOW, idempotency_key="timer:pause:2026-03-01T04:00:00Z"
    )

    assert first.override is not None and again.override is not None
    assert first.override["id"] == again.override["id"]
    assert [o["id"] for o in state(tmp_path)["overrides"]] == [first.override["id"]]
    assert again.results[0]["changed"] is False


def test_a_late_redelivery_neither_extends_nor_renews_its_override(
    night_runtime: Callable[[datetime], Runtime], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A redelivered event keeps its override: the redelivery neither extends it nor creates it
    # again (this failed before the fix).
    command = parse_command({"action": "pause", "queues": [ref(PIC_DEFAULT_ID)], "for": "30m"})
    key = "cmq:msg-0001"
    first = execute(command, night_runtime(NOON_UTC), actor="event:cmq", idempotency_key=key)
    stored = (tmp_path / "state.json").read_bytes()
    capsys.readouterr()

    # SCF delivers the same event again a minute later (and up to hours later for system errors).
    again = execute(
        command, night_runtime(NOON_UTC + timedelta(minutes=1)), actor="event:cmq", idempotency_key=key
    )

    assert first.ok and again.ok
    assert (tmp_path / "state.json").read_bytes() == stored  # nothing written the second time
    assert again.override is not None and first.override is not None
    assert again.override["expires_at"] == first.override["expires_at"] == "2026-03-01T12:30:00+00:00"
    events = [json.loads(line)["event"] for line in capsys.readouterr().out.splitlines()]
    assert "override.created" not in events


def test_an_override_id_used_again_after_it_ended_starts_a_new_override(
    night_runtime: Callable[[datetime], Runtime], tmp_path: Path
) -> None:
    # The other side of the redelivery fix: an id reused after its override ended is no redelivery.
    command = parse_command(
        {"action": "pause", "queues": [ref(PIC_DEFAULT_ID)], "for": "30m", "id": "nightly"}
    )
    execute(command, night_runtime(NOON_UTC), actor="event:cmq")
    later = NOON_UTC + timedelta(days=1)

    outcome = execute(command, night_runtime(later), actor="event:cmq")

    assert outcome.override is not None
    assert outcome.override["expires_at"] == (later + timedelta(minutes=30)).isoformat()
    [override] = state(tmp_path)["overrides"]
    assert override["expires_at"] == "2026-03-02T12:30:00Z"


def test_a_one_off_pause_creates_no_override(runtime: Runtime, emu_admin: EmuAdmin, tmp_path: Path) -> None:
    outcome = execute(
        parse_command({"action": "pause", "queues": [ref(PIC_DEFAULT_ID)]}), runtime, actor="bob"
    )
    assert outcome.ok and outcome.override is None
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"
    stored = state(tmp_path)
    assert (stored["overrides"], stored["last_applied"]) == ([], {})  # only the history knows of it
    assert [(c["event"], c["actor"]) for c in stored["changes"]] == [("queue.paused", "bob")]


def test_a_pause_until_cancelled_pins_the_queue_with_no_end_until_it_is_cancelled(
    runtime: Runtime, emu_admin: EmuAdmin, tmp_path: Path
) -> None:
    command = parse_command(
        {"action": "pause", "queues": [ref(PIC_DEFAULT_ID)], "until": "cancelled", "reason": "incident"}
    )
    outcome = execute(command, runtime, actor="carol", now=NOW)

    assert outcome.ok and outcome.override is not None and outcome.override["expires_at"] is None
    [stored] = state(tmp_path)["overrides"]
    assert (stored["state"], stored["expires_at"], stored["reason"]) == ("Paused", None, "incident")
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"

    cancel = parse_command({"action": "cancel_override", "override_id": stored["id"]})
    assert execute(cancel, runtime, actor="carol", now=NOW).ok
    assert state(tmp_path)["overrides"] == []


def test_set_callback_changes_notify_config_only(runtime: Runtime, emu_admin: EmuAdmin) -> None:
    before = emu_admin.queue(PIC_PAUSED_ID)
    command = parse_command(
        {
            "action": "set_callback",
            "queues": [ref(PIC_PAUSED_ID)],
            "callback": {
                "type": "Url",
                "url": "https://hooks.example.com/ci",
                "event": "TaskFinish",
                "format": "JSON",
            },
        }
    )
    outcome = execute(command, runtime, actor="carol")

    assert outcome.ok, outcome.error
    after = emu_admin.queue(PIC_PAUSED_ID)
    assert after["State"] == before["State"] == "Paused"
    assert after["NotifyConfig"] == {
        "State": "On",
        "Type": "Url",
        "Url": "https://hooks.example.com/ci",
        "Event": "TaskFinish",
        "ResultFormat": "JSON",
    }
    assert {c["field"].split(".")[0] for c in outcome.results[0]["diff"]} == {"NotifyConfig"}


def test_a_target_group_expands_to_its_queues(runtime: Runtime, emu_admin: EmuAdmin) -> None:
    outcome = execute(parse_command({"action": "pause", "target": "pics"}), runtime, actor="dave")
    assert outcome.ok
    assert sorted(r["queue"] for r in outcome.results) == sorted([key(PIC_CALLBACK_ID), key(PIC_PAUSED_ID)])
    assert sorted(emu_admin.put_paths()) == [f"/picqueue/{PIC_CALLBACK_ID}"]  # the other was already Paused


def test_dry_run_writes_nothing(runtime: Runtime, emu_admin: EmuAdmin, tmp_path: Path) -> None:
    command = parse_command({"action": "pause", "queues": [ref(PIC_DEFAULT_ID)], "for": "1h"})
    outcome = execute(command, runtime, actor="erin", dry_run=True)

    assert outcome.ok and outcome.dry_run
    assert outcome.override is not None and outcome.override["dry_run"] is True
    assert outcome.results[0]["diff"] == [{"field": "State", "before": "Active", "after": "Paused"}]
    assert emu_admin.put_paths() == [] and not (tmp_path / "state.json").exists()


def test_cancel_override_removes_it_and_reconciles_the_queue(
    runtime: Runtime, emu_admin: EmuAdmin, tmp_path: Path
) -> None:
    created = execute(
        parse_command({"action": "pause", "queues": [ref(PIC_DEFAULT_ID)], "for": "2h"}), runtime, actor="f"
    )
    assert created.override is not None and emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"

    outcome = execute(
        parse_command({"action": "cancel_override", "override_id": created.override["id"]}),
        runtime,
        actor="f",
    )

    assert outcome.ok and outcome.status == 200, outcome.error
    assert outcome.override is not None and outcome.override["cancelled"] is True
    assert [(r["queue"], r["action"], r["changed"]) for r in outcome.results] == [
        (key(PIC_DEFAULT_ID), "resume", True)
    ]
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Active"
    assert state(tmp_path)["overrides"] == []


def test_cancelling_an_unknown_override_is_404(runtime: Runtime) -> None:
    outcome = execute(
        parse_command({"action": "cancel_override", "override_id": "o-000000000000"}), runtime, actor="g"
    )
    assert (outcome.ok, outcome.status) == (False, 404)
    assert outcome.error is not None
    assert (outcome.error["code"], outcome.error["field"]) == ("OverrideNotFound", "override_id")


def test_reconcile_command_runs_the_tick(runtime: Runtime, emu_admin: EmuAdmin) -> None:
    emu_admin.patch(DEMO_BUCKET, "pic", PIC_CALLBACK_ID, {"State": "Paused"})
    outcome = execute(
        parse_command({"action": "reconcile", "queues": [ref(PIC_CALLBACK_ID)]}), runtime, actor="h"
    )

    assert outcome.ok and outcome.report is not None
    assert outcome.report["observed"] == 1
    assert [(r["queue"], r["action"]) for r in outcome.results] == [(key(PIC_CALLBACK_ID), "resume")]


# --- failures: status, error body, and nothing changed ---------------------------------------------


def assert_untouched(emu_admin: EmuAdmin, tmp_path: Path) -> None:
    assert emu_admin.put_paths() == []
    assert not (tmp_path / "state.json").exists()


def test_until_in_the_past_is_400_naming_until(runtime: Runtime, emu_admin: EmuAdmin, tmp_path: Path) -> None:
    command = parse_command(
        {"action": "pause", "queues": [ref(PIC_DEFAULT_ID)], "until": "2026-03-01T03:00:00Z"}
    )
    outcome = execute(command, runtime, actor="i", now=NOW)

    assert (outcome.ok, outcome.status) == (False, 400)
    rule = "must be in the future (got 2026-03-01T03:00:00+00:00)"
    assert outcome.error == {
        "code": "InvalidInput",
        "message": f"until: {rule}",
        "field": "until",
        "problems": [{"field": "until", "rule": rule}],
    }
    assert emu_admin.requests() == []
    assert not (tmp_path / "state.json").exists()


def test_a_private_callback_is_400_naming_callback_url(
    runtime: Runtime, emu_admin: EmuAdmin, tmp_path: Path
) -> None:
    # Parsed in local mode (private hosts allowed) but executed by a runtime that refuses them.
    command = parse_command(
        {
            "action": "set_callback",
            "queues": [ref(PIC_DEFAULT_ID)],
            "callback": {"type": "Url", "url": "http://10.1.2.3/cb", "event": "TaskFinish"},
        },
        allow_private=True,
    )
    outcome = execute(command, runtime, actor="j")

    assert (outcome.ok, outcome.status) == (False, 400)
    assert outcome.error is not None and outcome.error["field"] == "callback.url"
    assert "private" in outcome.error["message"]
    assert emu_admin.requests() == []
    assert_untouched(emu_admin, tmp_path)


def test_an_unknown_queue_is_404_and_the_others_stay_as_they_were(
    runtime: Runtime, emu_admin: EmuAdmin, tmp_path: Path
) -> None:
    command = parse_command(
        {"action": "pause", "queues": [ref(PIC_DEFAULT_ID), ref(MISSING_ID)], "for": "1h"}
    )
    outcome = execute(command, runtime, actor="k")

    assert (outcome.ok, outcome.status) == (False, 404)
    assert outcome.error is not None
    assert (outcome.error["code"], outcome.error["queue_id"]) == ("QueueNotFound", MISSING_ID)
    assert outcome.error["request_id"]
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Active"
    assert_untouched(emu_admin, tmp_path)


def test_an_unknown_target_is_400_listing_the_defined_ones(runtime: Runtime, emu_admin: EmuAdmin) -> None:
    outcome = execute(parse_command({"action": "pause", "target": "nope"}), runtime, actor="l")
    assert outcome.status == 400 and outcome.error is not None
    assert outcome.error["message"] == "target: unknown target 'nope' (defined: pics, one)"
    assert emu_admin.requests() == []


def test_a_concurrent_change_is_409(runtime: Runtime, emu_admin: EmuAdmin) -> None:
    emu_admin.faults(mutate_after_put={"queue_id": PIC_DEFAULT_ID, "set": {"Name": "changed-by-someone"}})
    outcome = execute(parse_command({"action": "pause", "queues": [ref(PIC_DEFAULT_ID)]}), runtime, actor="m")

    assert (outcome.ok, outcome.status) == (False, 409)
    assert outcome.error is not None and outcome.error["code"] == "Conflict"
    assert "Name is 'changed-by-someone'" in outcome.error["message"]
    assert outcome.results == [{"queue": key(PIC_DEFAULT_ID), "error": outcome.error}]


def test_a_write_that_cannot_be_verified_says_written_not_verified(
    demo_bucket: Any,
    make_runtime: Callable[..., Runtime],
    emu_admin: EmuAdmin,
    capsys: pytest.CaptureFixture[str],
) -> None:
    runtime = make_runtime(
        client_options={
            "session": reads_fail_after_put(emu_admin),
            "retry": RetryPolicy(max_attempts=2, base_delay=0),
        }
    )
    capsys.readouterr()
    outcome = execute(parse_command({"action": "pause", "queues": [ref(PIC_DEFAULT_ID)]}), runtime, actor="w")

    emu_admin.clear_faults()
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"
    assert (outcome.ok, outcome.status, outcome.retryable) == (False, 502, True)
    assert outcome.error is not None
    assert (outcome.error["code"], outcome.error["written"], outcome.error["verified"]) == (
        "UnverifiedWrite",
        True,
        False,
    )
    [result] = outcome.results
    assert result["queue"] == key(PIC_DEFAULT_ID)
    assert (result["changed"], result["written"], result["verified"]) == (True, True, False)
    assert result["diff"] == [{"field": "State", "before": "Active", "after": "Paused"}]
    assert result["error"]["cause"]["code"] == "SlowDown"
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert line["event"] == "queue.unverified"
    assert (line["changed"], line["written"], line["verified"]) == (True, True, False)
    assert (line["before"], line["after"]) == ({"State": "Active"}, {"State": "Paused"})
    assert line["result"]["status"] == "error" and line["result"]["code"] == "UnverifiedWrite"
    assert len(line["request_ids"]) == 2  # the read and the PUT that landed


def test_a_ci_error_is_502_with_its_code_and_request_id(
    runtime: Runtime, emu_admin: EmuAdmin, tmp_path: Path
) -> None:
    emu_admin.faults(next={"count": 1, "status": 403, "code": "AccessDenied"})
    command = parse_command({"action": "pause", "queues": [ref(PIC_DEFAULT_ID)], "for": "1h"})
    outcome = execute(command, runtime, actor="n")

    assert (outcome.ok, outcome.status, outcome.retryable) == (False, 502, False)
    assert outcome.error is not None
    assert (outcome.error["code"], outcome.error["http_status"]) == ("AccessDenied", 403)
    assert outcome.error["request_id"]
    assert outcome.error["message"].startswith("AccessDenied (HTTP 403): ")
    assert_untouched(emu_admin, tmp_path)


def test_throttling_that_outlasts_the_retries_is_502_and_retryable(
    demo_bucket: Any, make_runtime: Callable[..., Runtime], emu_admin: EmuAdmin
) -> None:
    runtime = make_runtime(client_options={"retry": RetryPolicy(max_attempts=1)})
    emu_admin.faults(next={"count": 1, "status": 503, "code": "SlowDown"})
    outcome = execute(parse_command({"action": "pause", "queues": [ref(PIC_DEFAULT_ID)]}), runtime, actor="o")
    assert (outcome.status, outcome.retryable) == (502, True)
    assert outcome.error is not None and outcome.error["code"] == "SlowDown"


def test_an_exhausted_deadline_is_504(runtime: Runtime, emu_admin: EmuAdmin, tmp_path: Path) -> None:
    command = parse_command({"action": "pause", "queues": [ref(PIC_DEFAULT_ID)]})
    outcome = execute(command, runtime, actor="p", deadline=Deadline.after(0))

    assert (outcome.ok, outcome.status, outcome.retryable) == (False, 504, True)
    assert outcome.error is not None and outcome.error["code"] == "DeadlineExceeded"
    assert_untouched(emu_admin, tmp_path)


# --- the recent changes in the state document -----------------------------------------------------


def count_writes(runtime: Runtime) -> list[int]:
    """Counts the state store's conditional writes (one per landed update)."""
    writes = [0]
    original = runtime.state._write  # type: ignore[attr-defined]

    def counting(doc: Any, version: Any) -> Any:
        writes[0] += 1
        return original(doc, version)

    runtime.state._write = counting  # type: ignore[attr-defined]
    return writes


def test_a_pause_through_the_executor_is_in_the_state_s_recent_changes(
    runtime: Runtime, tmp_path: Path
) -> None:
    writes = count_writes(runtime)
    command = parse_command(
        {"action": "pause", "target": "pics", "for": "2h", "reason": "disk swap"}  # pic-callback, pic-paused
    )
    outcome = execute(command, runtime, actor="token:alice", now=NOW)

    assert outcome.ok, outcome.error
    changes = state(tmp_path)["changes"]
    created = [c for c in changes if c["event"] == "override.created"]
    paused = [c for c in changes if c["event"] == "queue.paused"]
    assert outcome.override is not None
    assert sorted(c["override_id"] for c in created) == sorted(outcome.override["ids"])
    # The already-Paused queue is unchanged: the history keeps only what changed.
    assert [c["queue"] for c in paused] == [key(PIC_CALLBACK_ID)]
    first = paused[0]
    assert (first["actor"], first["action"], first["reason"], first["result"]) == (
        "token:alice",
        "pause",
        "disk swap",
        {"status": "ok"},
    )
    assert (first["before"], first["after"]) == ({"State": "Active"}, {"State": "Paused"})
    assert datetime.fromisoformat(first["at"].replace("Z", "+00:00")) == NOW
    assert "ts" not in first and "function_request_id" not in first
    # One write for the overrides (with their entries), one for the queues' results.
    assert writes[0] == 2


def test_a_one_off_command_adds_its_history_in_one_write_and_a_dry_run_none(
    runtime: Runtime, tmp_path: Path
) -> None:
    writes = count_writes(runtime)
    refs = [ref(PIC_DEFAULT_ID), ref(PIC_CALLBACK_ID)]
    execute(parse_command({"action": "pause", "queues": refs}), runtime, actor="bob", dry_run=True)
    assert writes[0] == 0 and not (tmp_path / "state.json").exists()

    execute(parse_command({"action": "pause", "queues": refs}), runtime, actor="bob")

    assert writes[0] == 1  # not one per queue
    assert [c["event"] for c in state(tmp_path)["changes"]] == ["queue.paused", "queue.paused"]


def test_the_history_shows_a_callback_without_its_query_string(
    runtime: Runtime, emu_admin: EmuAdmin, tmp_path: Path
) -> None:
    url = "https://hooks.example.com/ci?token=s3cr3t-value"
    command = parse_command(
        {"action": "set_callback", "queues": [ref(PIC_PAUSED_ID)], "callback": {"type": "Url", "url": url}}
    )
    assert execute(command, runtime, actor="carol").ok
    assert emu_admin.queue(PIC_PAUSED_ID)["NotifyConfig"]["Url"] == url  # CI got the real one

    raw = (tmp_path / "state.json").read_text()
    assert "s3cr3t" not in raw
    [change] = state(tmp_path)["changes"]
    assert change["event"] == "queue.callback_changed"
    assert change["after"]["NotifyConfig.Url"] == "https://hooks.example.com/ci?token=***"


def test_cancelling_an_override_is_in_the_history(runtime: Runtime, tmp_path: Path) -> None:
    made = execute(
        parse_command({"action": "resume", "queues": [ref(PIC_PAUSED_ID)], "for": "1h"}), runtime, actor="dan"
    )
    assert made.override is not None
    cancel = parse_command(
        {"action": "cancel_override", "override_id": made.override["id"], "reason": "done"}
    )
    assert execute(cancel, runtime, actor="erin", now=NOW).ok

    stored = state(tmp_path)
    assert stored["overrides"] == []
    cancelled = [c for c in stored["changes"] if c["event"] == "override.cancelled"]
    assert [(c["actor"], c["reason"], c["override_id"], c["queue"]) for c in cancelled] == [
        ("erin", "done", made.override["id"], key(PIC_PAUSED_ID))
    ]


def test_a_tdmq_callback_for_a_target_of_doc_queues_is_400_before_any_write(
    demo_bucket: Any, make_runtime: Callable[..., Runtime], emu_admin: EmuAdmin
) -> None:
    doc_id = "p" + "d0c" * 10 + "00"
    emu_admin.seed(
        [
            {
                "bucket": DEMO_BUCKET,
                "region": DEMO_REGION,
                "kinds": ["doc"],
                "queues": [{"kind": "doc", "queue_id": doc_id, "name": "doc-1"}],
            }
        ]
    )
    docs = {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kind": "doc", "queue_ids": [doc_id]}
    config = load_config(json.dumps({"version": 1, "targets": {"docs": docs}}), now=CONFIG_NOW)
    runtime = make_runtime(config)
    before = emu_admin.queue(doc_id)
    emu_admin.clear_requests()
    # The command names only the target: the kind is known once the executor resolves it.
    command = parse_command(
        {
            "action": "set_callback",
            "target": "docs",
            "callback": {"type": "TDMQ", "mq_region": "gz", "mq_name": "t"},
        }
    )

    outcome = execute(command, runtime, actor="kinds")

    assert outcome.status == 400 and outcome.error is not None
    assert outcome.error["message"] == "callback.type: doc queues take only Url (got 'TDMQ')"
    assert emu_admin.requests() == []  # judged before anything was sent
    assert emu_admin.queue(doc_id) == before

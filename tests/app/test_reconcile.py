"""The reconciling tick over real HTTP to the emulator: windows, manual changes, enforced windows,
overrides, rotations, retried ticks, failures, sharded fan-out; and the schedule CLI commands.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ciqueue.app.audit import audit_logger
from ciqueue.app.commands import parse_command
from ciqueue.app.executor import execute
from ciqueue.app.reconcile import ShardPacker, handle_shard, pack_shards, parse_shard_event, reconcile
from ciqueue.app.runtime import Runtime
from ciqueue.ci.retry import Deadline, RetryPolicy
from ciqueue.cli import main as cli
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.dev.invoke import fan_out_in_process
from ciqueue.errors import InvalidInput
from ciqueue.schedule.config import Config
from ciqueue.schedule.load import load_config
from ciqueue.state.file import FileStateStore
from conftest import (
    CONFIG_NOW,
    DEMO_BUCKET,
    DEMO_REGION,
    OTHER_BUCKET,
    PIC_CALLBACK_ID,
    PIC_DEFAULT_ID,
    PIC_PAUSED_ID,
    EmuAdmin,
    reads_fail_after_put,
    seed_queues,
)
from conftest import queue_id as made_up_id

CST = ZoneInfo("Asia/Shanghai")
OPEN = datetime(2026, 3, 1, 3, 0, tzinfo=CST)  # the window is 02:00-04:00 that night
LATER = datetime(2026, 3, 1, 3, 20, tzinfo=CST)
CLOSED = datetime(2026, 3, 1, 5, 0, tzinfo=CST)
NIGHT_OPEN = datetime(2026, 3, 1, 2, 30, tzinfo=timezone.utc)  # inside conftest's night window
NIGHT_CLOSED = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)  # after it
DAY_URL = "https://day.example.com/ci/callback"
NIGHT_URL = "https://night.example.com/ci/callback"


def schedule(
    *,
    enforced: bool = False,
    targets: dict[str, Any] | None = None,
    rotation: bool = False,
    window: bool = True,
    shard_size: int = 200,
    settings: dict[str, Any] | None = None,
) -> Config:
    targets = targets or {"pics": {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "name_pattern": "*"}}
    data: dict[str, Any] = {
        "version": 1,
        "timezone": "Asia/Shanghai",
        "targets": targets,
        "settings": {"concurrency": 4, "shard_size": shard_size, **(settings or {})},
    }
    if window:
        data["windows"] = [
            {
                "name": "nightly",
                "targets": list(targets),
                "dates": [{"start": "2026-03-01T02:00", "end": "2026-03-01T04:00"}],
                "enforced": enforced,
            }
        ]
    if rotation:
        data["rotations"] = [
            {
                "name": "on-call",
                "targets": list(targets),
                "callbacks": [
                    {"type": "Url", "url": DAY_URL, "format": "JSON"},
                    {"type": "Url", "url": NIGHT_URL, "format": "JSON", "event": "TaskFinish,WorkflowFinish"},
                ],
                "at": [{"time": "08:00", "callback": 0}, {"time": "20:00", "callback": 1}],
            }
        ]
    return load_config(json.dumps(data), now=CONFIG_NOW)


@pytest.fixture
def make_runtime(emulator_runtime: Callable[..., Runtime]) -> Callable[..., Runtime]:
    def make(config: Config, **kwargs: Any) -> Runtime:
        runtime = emulator_runtime(config=config, clock=lambda: OPEN, **kwargs)
        if "invoker" not in kwargs:
            fan_out_in_process(runtime)
        return runtime

    return make


def state_doc(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "state.json").read_text())  # type: ignore[no-any-return]


def actions(report: Any) -> dict[str, str]:
    return {d.key.queue_id: d.action for d in report.decisions if d.aspect == "state"}


def without(queue: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in queue.items() if k not in names}


def test_open_window_pauses_and_leaves_everything_else(
    demo_bucket: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    before = {q: emu_admin.queue(q) for q in demo_bucket.pic_ids}
    report = reconcile(make_runtime(schedule()), now=OPEN)

    assert report.ok, report.errors
    assert actions(report) == {PIC_DEFAULT_ID: "pause", PIC_CALLBACK_ID: "pause", PIC_PAUSED_ID: "none"}
    assert sorted(emu_admin.put_paths()) == [f"/picqueue/{PIC_DEFAULT_ID}", f"/picqueue/{PIC_CALLBACK_ID}"]
    for queue_id in demo_bucket.pic_ids:
        after = emu_admin.queue(queue_id)
        assert after["State"] == "Paused"
        # NotifyConfig, Name and unknown elements are exactly as they were.
        assert without(after, "State", "UpdateTime") == without(before[queue_id], "State", "UpdateTime")
    assert emu_admin.queue(PIC_CALLBACK_ID)["NotifyConfig"] == demo_bucket.notify
    stored = state_doc(tmp_path)["last_applied"]
    assert sorted(stored) == sorted(f"{DEMO_BUCKET}/{DEMO_REGION}/pic/{q}" for q in demo_bucket.pic_ids)
    assert {v["desired_state"] for v in stored.values()} == {"Paused"}
    assert {v["source"] for v in stored.values()} == {"nightly"}


def test_closed_window_resumes_every_queue_it_paused(
    demo_bucket: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime]
) -> None:
    runtime = make_runtime(schedule())
    reconcile(runtime, now=OPEN)
    report = reconcile(runtime, now=CLOSED)

    assert actions(report) == {q: "resume" for q in demo_bucket.pic_ids}
    assert {emu_admin.queue(q)["State"] for q in demo_bucket.pic_ids} == {"Active"}
    assert "window 'nightly' closed at" in report.decisions[0].reason


def test_a_retried_tick_writes_nothing(
    demo_bucket: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    runtime = make_runtime(schedule())
    reconcile(runtime, now=OPEN)
    stored = (tmp_path / "state.json").read_bytes()
    emu_admin.clear_requests()

    again = reconcile(runtime, now=OPEN)

    assert again.ok and again.operations == [] and not again.state_written
    assert set(actions(again).values()) == {"none"}
    assert emu_admin.put_paths() == []
    assert [r["method"] for r in emu_admin.requests()] == ["GET"]  # one listing, nothing else
    assert (tmp_path / "state.json").read_bytes() == stored


def test_manual_resume_is_respected_until_the_next_edge(
    demo_bucket: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime]
) -> None:
    runtime = make_runtime(schedule())
    reconcile(runtime, now=OPEN)
    emu_admin.patch(DEMO_BUCKET, "pic", PIC_DEFAULT_ID, {"State": "Active"})  # an operator resumes it
    emu_admin.clear_requests()

    report = reconcile(runtime, now=LATER)

    skip = next(d for d in report.decisions if d.key.queue_id == PIC_DEFAULT_ID)
    assert skip.action == "skip"
    assert skip.reason.startswith("manual change respected: queue was resumed by hand after window 'nightly'")
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Active"
    assert emu_admin.put_paths() == []
    # The window's close is the next edge: from then on the schedule rules again.
    closed = reconcile(runtime, now=CLOSED)
    assert actions(closed)[PIC_DEFAULT_ID] == "none"
    assert actions(closed)[PIC_CALLBACK_ID] == "resume"


def test_an_enforced_window_pauses_a_manually_resumed_queue_again(
    demo_bucket: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime]
) -> None:
    runtime = make_runtime(schedule(enforced=True))
    reconcile(runtime, now=OPEN)
    emu_admin.patch(DEMO_BUCKET, "pic", PIC_DEFAULT_ID, {"State": "Active"})

    report = reconcile(runtime, now=LATER)

    decision = next(d for d in report.decisions if d.key.queue_id == PIC_DEFAULT_ID)
    assert decision.action == "pause"
    assert "is enforced: queue was resumed by hand" in decision.reason
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"


def test_an_override_wins_over_the_window_until_it_expires(
    demo_bucket: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    runtime = make_runtime(schedule())
    reconcile(runtime, now=OPEN)
    ref = {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kind": "pic", "queue_id": PIC_DEFAULT_ID}
    command = parse_command({"action": "resume", "queues": [ref], "for": "30m", "reason": "hotfix"})

    outcome = execute(command, runtime, actor="alice", now=OPEN)

    assert outcome.ok and outcome.status == 200, outcome.error
    assert outcome.override is not None
    override_id = outcome.override["id"]
    assert re.fullmatch(r"o-[0-9a-f]{12}", override_id)
    assert datetime.fromisoformat(outcome.override["expires_at"].replace("Z", "+00:00")) == OPEN + timedelta(
        minutes=30
    )
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Active"

    during = reconcile(runtime, now=OPEN + timedelta(minutes=10))
    kept = next(d for d in during.decisions if d.key.queue_id == PIC_DEFAULT_ID)
    assert (kept.action, kept.source, kept.source_type) == ("none", override_id, "override")
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Active"

    after = reconcile(runtime, now=OPEN + timedelta(minutes=31))
    assert actions(after)[PIC_DEFAULT_ID] == "pause"
    assert after.expired_overrides == [override_id]
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"
    assert state_doc(tmp_path)["overrides"] == []


def test_a_rotation_changes_the_callback_and_never_the_state(
    demo_bucket: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime]
) -> None:
    targets = {"rotated": {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "name_pattern": "pic-*"}}
    runtime = make_runtime(schedule(targets=targets, rotation=True, window=False))
    before = {q: emu_admin.queue(q) for q in (PIC_CALLBACK_ID, PIC_PAUSED_ID)}

    morning = reconcile(runtime, now=datetime(2026, 3, 1, 9, 0, tzinfo=CST))

    assert morning.ok, morning.errors
    assert {(d.key.queue_id, d.action) for d in morning.decisions} == {
        (PIC_CALLBACK_ID, "set_callback"),
        (PIC_PAUSED_ID, "set_callback"),
    }
    for queue_id, old in before.items():
        now = emu_admin.queue(queue_id)
        assert now["State"] == old["State"]
        assert now["NotifyConfig"] == {
            "State": "On",
            "Type": "Url",
            "Url": DAY_URL,
            "Event": "TaskFinish",
            "ResultFormat": "JSON",
        }
    assert emu_admin.queue(PIC_CALLBACK_ID)["SomeNewElement"] == "v"

    evening = reconcile(runtime, now=datetime(2026, 3, 1, 21, 0, tzinfo=CST))
    assert {d.action for d in evening.decisions} == {"set_callback"}
    assert emu_admin.queue(PIC_PAUSED_ID)["State"] == "Paused"
    assert emu_admin.queue(PIC_CALLBACK_ID)["State"] == "Active"
    assert emu_admin.queue(PIC_CALLBACK_ID)["NotifyConfig"]["Url"] == NIGHT_URL
    assert emu_admin.queue(PIC_CALLBACK_ID)["NotifyConfig"]["Event"] == "TaskFinish,WorkflowFinish"


def test_a_failed_change_is_not_remembered_and_the_next_tick_retries(
    demo_bucket: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    targets = {"one": {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "queue_ids": [PIC_DEFAULT_ID]}}
    runtime = make_runtime(schedule(targets=targets))
    # Right after our PUT someone resumes the queue: the verifying read sees it and we stop.
    emu_admin.faults(mutate_after_put={"queue_id": PIC_DEFAULT_ID, "set": {"State": "Active"}})

    failed = reconcile(runtime, now=OPEN)

    assert not failed.ok
    assert [(e["stage"], e["code"], e["queue"]) for e in failed.errors] == [
        ("apply", "Conflict", f"{DEMO_BUCKET}/{DEMO_REGION}/pic/{PIC_DEFAULT_ID}")
    ]
    # Not remembered as carried out (so the next tick retries); only the failure joins the history.
    stored = json.loads((tmp_path / "state.json").read_text())
    assert stored["last_applied"] == {}
    assert [(c["event"], c["action"], c["result"]["code"]) for c in stored["changes"]] == [
        ("queue.failed", "pause", "Conflict")
    ]
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Active"

    retried = reconcile(runtime, now=OPEN + timedelta(minutes=5))
    assert retried.ok and actions(retried) == {PIC_DEFAULT_ID: "pause"}
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"


def test_a_write_that_cannot_be_verified_is_reported_written_not_verified(
    demo_bucket: Any,
    emu_admin: EmuAdmin,
    make_runtime: Callable[..., Runtime],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    targets = {"one": {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "queue_ids": [PIC_DEFAULT_ID]}}
    options = {"session": reads_fail_after_put(emu_admin), "retry": RetryPolicy(max_attempts=2, base_delay=0)}
    runtime = make_runtime(schedule(targets=targets), client_options=options)
    capsys.readouterr()

    report = reconcile(runtime, now=OPEN)

    emu_admin.clear_faults()
    where = f"{DEMO_BUCKET}/{DEMO_REGION}/pic/{PIC_DEFAULT_ID}"
    assert [
        (e["stage"], e["code"], e["queue"], e["written"], e["verified"], e["transient"])
        for e in report.errors
    ] == [("apply", "UnverifiedWrite", where, True, False, True)]
    assert report.operations == []
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"
    stored = json.loads((tmp_path / "state.json").read_text())
    assert stored["last_applied"] == {}  # not verified: not remembered as carried out
    [change] = stored["changes"]  # but the history says it was written, not verified
    assert (change["event"], change["written"], change["verified"]) == ("queue.unverified", True, False)
    assert change["result"]["code"] == "UnverifiedWrite" and "cause" not in change
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert (line["event"], line["queue"], line["changed"], line["written"], line["verified"]) == (
        "queue.unverified",
        where,
        True,
        True,
        False,
    )
    assert (line["before"], line["after"]) == ({"State": "Active"}, {"State": "Paused"})

    # The next tick reads the queue, finds it Paused and writes nothing more.
    emu_admin.clear_requests()
    again = reconcile(make_runtime(schedule(targets=targets)), now=OPEN + timedelta(minutes=5))
    assert again.ok and emu_admin.put_paths() == []


def test_one_bucket_failing_to_list_does_not_stop_the_others(
    demo_bucket: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime]
) -> None:
    targets = {
        "pics": {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "name_pattern": "*"},
        "docs": {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kind": "doc", "name_pattern": "*"},
    }
    report = reconcile(make_runtime(schedule(targets=targets)), now=OPEN)

    assert [(e["stage"], e["scope"], e["code"], e["transient"]) for e in report.errors] == [
        ("observe", f"{DEMO_BUCKET}/{DEMO_REGION}/doc", "DocBucketUnBinded", False)
    ]
    assert {emu_admin.queue(q)["State"] for q in demo_bucket.pic_ids} == {"Paused"}


def test_without_a_fan_out_the_tick_reconciles_every_shard_itself(
    emulator: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    """The production default (issue 7): no invoker, no dispatch; the whole fleet is done inline."""
    sizes = {"shard-a-1250000000": 2, "shard-b-1250000000": 1, "shard-c-1250000000": 1}
    emu_admin.seed(
        [
            {
                "bucket": bucket,
                "region": DEMO_REGION,
                "kinds": ["pic"],
                "queues": [
                    {"kind": "pic", "queue_id": f"p{index:x}{n:031x}", "name": f"q{n}"} for n in range(count)
                ],
            }
            for index, (bucket, count) in enumerate(sizes.items(), start=10)
        ]
    )
    targets = {b.split("-")[1]: {"bucket": b, "region": DEMO_REGION, "name_pattern": "*"} for b in sizes}
    runtime = make_runtime(schedule(targets=targets, shard_size=2), invoker=None)
    emu_admin.clear_requests()

    report = reconcile(runtime, now=OPEN)

    assert report.ok and report.shards == [] and report.counts() == {"pause": 4}
    assert report.warnings == [
        "4 queues exceed shard_size 2 but no fan-out is configured "
        "(CIQUEUE_INVOKER=scf and CIQUEUE_WORKER_FUNCTION); reconciling them all here"
    ]
    assert len(emu_admin.put_paths()) == 4
    states = [q["State"] for b in emu_admin.state()["buckets"] for q in b["queues"]]
    assert states == ["Paused"] * 4
    assert len(state_doc(tmp_path)["last_applied"]) == 4


def test_too_many_queues_fan_out_to_workers_in_whole_buckets(
    emulator: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    sizes = {"shard-a-1250000000": 2, "shard-b-1250000000": 1, "shard-c-1250000000": 1}
    emu_admin.seed(
        [
            {
                "bucket": bucket,
                "region": DEMO_REGION,
                "kinds": ["pic"],
                "queues": [
                    {"kind": "pic", "queue_id": f"p{index:x}{n:031x}", "name": f"q{n}"} for n in range(count)
                ],
            }
            for index, (bucket, count) in enumerate(sizes.items(), start=10)
        ]
    )
    targets = {b.split("-")[1]: {"bucket": b, "region": DEMO_REGION, "name_pattern": "*"} for b in sizes}
    runtime = make_runtime(schedule(targets=targets, shard_size=2))
    invoker = fan_out_in_process(runtime)

    report = reconcile(runtime, now=OPEN)
    results = invoker.wait(timeout=30)

    assert report.observed == 4 and report.decisions == [] and report.ok
    done = {"ok": True, "observed": 2, "counts": {"pause": 2}, "state_written": True}
    # The shards are dispatched concurrently: ids follow the answers, the report the packing.
    sent = {i.request_id: i.payload["shard"] for i in invoker.invocations}
    assert report.shards == [
        {
            "function": "ciqueue-worker",
            "shard": [["shard-a-1250000000", DEMO_REGION]],
            "queues": 2,
            "invocation": report.shards[0]["invocation"],
            "result": done,
        },
        {
            "function": "ciqueue-worker",
            "shard": [["shard-b-1250000000", DEMO_REGION], ["shard-c-1250000000", DEMO_REGION]],
            "queues": 2,
            "invocation": report.shards[1]["invocation"],
            "result": done,
        },
    ]
    assert {s["invocation"]: s["shard"] for s in report.shards} == sent
    assert [i.payload["now"] for i in invoker.invocations] == [OPEN.isoformat()] * 2
    assert sorted((r["ok"], r["counts"], r["shard"]) for r in results) == [
        (True, {"pause": 2}, [["shard-a-1250000000", DEMO_REGION]]),
        (True, {"pause": 2}, [["shard-b-1250000000", DEMO_REGION], ["shard-c-1250000000", DEMO_REGION]]),
    ]
    states = [q["State"] for b in emu_admin.state()["buckets"] for q in b["queues"]]
    assert states == ["Paused"] * 4
    assert len(state_doc(tmp_path)["last_applied"]) == 4  # both workers' records, none lost


def seed_shards(emu_admin: EmuAdmin, sizes: dict[str, int]) -> dict[str, Any]:
    """Buckets of ``sizes[bucket]`` pic queues each; the targets covering them all."""
    emu_admin.seed(
        [
            {
                "bucket": bucket,
                "region": DEMO_REGION,
                "kinds": ["pic"],
                "queues": [
                    {"kind": "pic", "queue_id": f"p{index:x}{n:031x}", "name": f"q{n}"} for n in range(count)
                ],
            }
            for index, (bucket, count) in enumerate(sizes.items(), start=10)
        ]
    )
    return {b.split("-")[1]: {"bucket": b, "region": DEMO_REGION, "name_pattern": "*"} for b in sizes}


def test_a_local_fan_out_finishes_its_shards_before_the_tick_returns(
    emulator: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    # The tick used to report every shard dispatched and return while the shards still ran:
    # none, one or both buckets were paused when it returned, depending on the run.
    targets = seed_shards(emu_admin, {"shard-a-1250000000": 2, "shard-b-1250000000": 2})
    emu_admin.faults(latency_ms=40)  # every shard takes a while: no race can hide the bug
    runtime = make_runtime(schedule(targets=targets, shard_size=2))

    report = reconcile(runtime, now=OPEN)

    states = [q["State"] for b in emu_admin.state()["buckets"] for q in b["queues"]]
    assert states == ["Paused"] * 4
    assert len(state_doc(tmp_path)["last_applied"]) == 4
    assert report.ok and report.errors == []
    assert [(s["shard"], s["result"]["ok"], s["result"]["counts"]) for s in report.shards] == [
        ([["shard-a-1250000000", DEMO_REGION]], True, {"pause": 2}),
        ([["shard-b-1250000000", DEMO_REGION]], True, {"pause": 2}),
    ]
    assert (
        sorted(o["queue"].split("/")[0] for o in report.operations)
        == ["shard-a-1250000000"] * 2 + ["shard-b-1250000000"] * 2
    )


def test_a_local_shard_that_fails_is_reported_failed_by_the_tick(
    emulator: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    targets = seed_shards(emu_admin, {"shard-a-1250000000": 2, "shard-b-1250000000": 2})
    runtime = make_runtime(schedule(targets=targets, shard_size=2))
    invoker = fan_out_in_process(runtime)
    run_shard = invoker.handler

    def run_or_break(event: dict[str, Any], context: dict[str, Any]) -> Any:
        if event["shard"] == [["shard-b-1250000000", DEMO_REGION]]:
            raise InvalidInput("shard", "cannot be reconciled here")
        return run_shard(event, context)

    invoker.handler = run_or_break

    report = reconcile(runtime, now=OPEN)

    assert not report.ok
    assert [(e["stage"], e["code"], e["shard"]) for e in report.errors] == [
        ("shard", "InvalidInput", [["shard-b-1250000000", DEMO_REGION]])
    ]
    assert [s.get("error") for s in report.shards] == [None, "InvalidInput"]
    paused = {b["bucket"]: {q["State"] for q in b["queues"]} for b in emu_admin.state()["buckets"]}
    assert paused == {"shard-a-1250000000": {"Paused"}, "shard-b-1250000000": {"Active"}}


def test_a_local_shard_still_running_at_the_deadline_is_reported_failed(
    emulator: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime]
) -> None:
    targets = seed_shards(emu_admin, {"shard-a-1250000000": 2, "shard-b-1250000000": 2})
    runtime = make_runtime(schedule(targets=targets, shard_size=2))
    invoker = fan_out_in_process(runtime)
    release = threading.Event()
    invoker.handler = lambda event, context: release.wait(30)

    started = time.monotonic()
    try:
        report = reconcile(runtime, now=OPEN, deadline=Deadline.after(0.5))
    finally:
        release.set()

    assert time.monotonic() - started < 5
    assert [(e["stage"], e["code"], e["transient"]) for e in report.errors] == [
        ("shard", "DeadlineExceeded", True),
        ("shard", "DeadlineExceeded", True),
    ]
    assert "did not finish by the tick's deadline" in report.errors[0]["message"]


def test_shards_are_dispatched_concurrently_and_reported_in_packing_order(
    emulator: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime]
) -> None:
    # Each Invoke waits for SCF's answer; sent one by one, the 50th of 50 shards started 50
    # answers late. Four dispatches must be in flight at once (concurrency 4) or the barrier breaks.
    buckets = [f"shard-{c}-1250000000" for c in "abcd"]
    targets = seed_shards(emu_admin, dict.fromkeys(buckets, 1))
    runtime = make_runtime(schedule(targets=targets, shard_size=1))
    barrier = threading.Barrier(4, timeout=10)

    class Answering:
        def invoke_async(self, function_name: str, payload: Any) -> str | None:
            barrier.wait()
            return "req-" + payload["shard"][0][0].split("-")[1]

    runtime.invoker = Answering()

    report = reconcile(runtime, now=OPEN)

    assert report.ok and report.errors == []
    assert [(s["shard"], s["invocation"]) for s in report.shards] == [
        ([[bucket, DEMO_REGION]], "req-" + bucket.split("-")[1]) for bucket in sorted(buckets)
    ]


def test_shards_go_out_while_the_scheduler_still_lists_the_other_buckets(
    emulator: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime]
) -> None:
    # Six buckets of two queues, shards of two, listings one at a time 30 ms apart: the first shard
    # is dispatched as soon as the listings show the tick must fan out (the second bucket), not
    # after the sixth listing.
    buckets = [f"shard-{c}-1250000000" for c in "abcdef"]
    targets = seed_shards(emu_admin, dict.fromkeys(buckets, 2))
    runtime = make_runtime(schedule(targets=targets, shard_size=2, settings={"concurrency": 1}))
    sent: list[tuple[float, str]] = []

    class Recording:
        def invoke_async(self, function_name: str, payload: Any) -> str | None:
            sent.append((time.time(), payload["shard"][0][0]))
            return "req-" + payload["shard"][0][0].split("-")[1]

    runtime.invoker = Recording()
    emu_admin.faults(latency_ms=30)

    report = reconcile(runtime, now=OPEN)

    assert report.ok and report.observed == 12 and report.decisions == []
    assert [s["shard"] for s in report.shards] == [[[b, DEMO_REGION]] for b in buckets]
    listed = sorted(e["received_at"] for e in emu_admin.requests())
    assert len(listed) == 6  # the scheduler lists; it changes nothing itself
    assert min(at for at, _ in sent) < listed[-1] - 0.05  # before the last listing was sent
    assert emu_admin.state()["buckets"][0]["queues"][0]["State"] == "Active"  # the workers' job


def test_a_shard_packer_closes_a_shard_no_group_seen_would_fit() -> None:
    a, b, c, d = (("a-1250000000", "r"), ("b-1250000000", "r"), ("c-1250000000", "r"), ("d-1250000000", "r"))
    packer = ShardPacker(5, eager=False)  # closes full shards only
    assert packer.add(a, 3) == []
    assert packer.add(b, 4) == []  # does not fit a's shard: a shard of its own
    assert packer.add(c, 2) == [[a, c]]  # full
    assert packer.add(d, 7) == [[d]]  # larger than a shard
    assert packer.rest() == [[b]]
    eager = ShardPacker(5)  # also closes a shard whose room no group seen so far would fit
    assert eager.add(a, 2) == []  # room 3
    assert eager.add(b, 2) == [[a, b]]  # room 1, and the smallest group seen is 2
    assert eager.add(c, 4) == [[c]]  # room 1 again
    assert eager.add(d, 1) == []  # a group of 1 would fit room 4
    assert eager.rest() == [[d]]


def test_pack_shards_keeps_buckets_whole_and_fills_first_fit() -> None:
    a, b, c, d = (("a-1250000000", "r"), ("b-1250000000", "r"), ("c-1250000000", "r"), ("d-1250000000", "r"))
    assert pack_shards({d: 1, b: 3, a: 5, c: 2}, 5) == [[a], [b, c], [d]]
    assert pack_shards({a: 7, b: 1}, 5) == [[a], [b]]


def test_a_worker_payload_is_judged_by_field() -> None:
    pairs, now, dry = parse_shard_event(
        {"shard": [["a-1250000000", "ap-guangzhou"]], "now": "2026-02-28T19:00Z"}
    )
    assert pairs == [("a-1250000000", "ap-guangzhou")] and now == OPEN and dry is None
    with pytest.raises(InvalidInput, match=r"shard\[1\]: must be a \[bucket, region\] pair of strings"):
        parse_shard_event({"shard": [["a-1250000000", "ap-guangzhou"], ["x"]]})
    with pytest.raises(InvalidInput, match=r"now: must be an ISO time with a UTC offset"):
        parse_shard_event({"shard": [["a-1250000000", "ap-guangzhou"]], "now": "2026-03-01T03:00"})


def test_a_worker_delivered_late_decides_at_its_own_clock(
    night_runtime: Callable[[datetime], Runtime], emu_admin: EmuAdmin
) -> None:
    # A late delivery used to act on a past instant.
    # The scheduler dispatched this shard while the window was open; SCF retried it after it closed.
    event = {"shard": [[DEMO_BUCKET, DEMO_REGION]], "now": NIGHT_OPEN.isoformat()}

    result = handle_shard(event, night_runtime(NIGHT_CLOSED))

    assert result["now"] == NIGHT_CLOSED.isoformat()
    assert result["counts"] == {"none": 2}
    assert emu_admin.put_paths() == []
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Active"


def test_a_worker_on_time_still_decides_at_the_schedulers_instant(
    night_runtime: Callable[[datetime], Runtime], emu_admin: EmuAdmin
) -> None:
    # The other side of the late-delivery fix: a worker on time keeps the scheduler's instant.
    event = {"shard": [[DEMO_BUCKET, DEMO_REGION]], "now": NIGHT_OPEN.isoformat()}

    result = handle_shard(event, night_runtime(NIGHT_OPEN - timedelta(seconds=5)))

    assert (result["now"], result["counts"]) == (NIGHT_OPEN.isoformat(), {"pause": 2})


# --- CLI -----------------------------------------------------------------------------------------


GOOD = f"""
version: 1
timezone: Asia/Shanghai
targets:
  pics: {{bucket: {DEMO_BUCKET}, region: {DEMO_REGION}, name_pattern: "*"}}
windows:
  - name: nightly
    targets: [pics]
    start: "0 0 2 * * * *"
    duration: 2h
"""


def test_cli_config_check_accepts_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    assert cli.main(["config", "check", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: OK (1 targets, 1 windows, 0 rotations)\n"


def test_cli_config_check_names_each_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace("duration: 2h", 'periods: [{start: "22:00", end: "25:00"}]'))
    assert cli.main(["config", "check", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"{path}: windows[0].periods[0].end: must be HH:MM (got '25:00')"]
    assert captured.out == ""
    assert cli.main(["config", "check", str(tmp_path / "missing.yaml")]) == 2
    assert capsys.readouterr().err == f"{tmp_path / 'missing.yaml'}: config: file not found\n"


def test_cli_config_schema_prints_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"targets", "windows", "rotations", "settings"} <= set(schema["properties"])


def test_cli_plan_shows_two_days(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    assert cli.main(["plan", "--config", str(path), "--from", "2026-03-01T00:00", "--days", "2"]) == 0
    lines = [re.sub(r"\s+", " ", line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == "WHEN (Asia/Shanghai) TARGET CHANGE SOURCE REASON"
    assert [line.split(" nightly ")[0] for line in lines[1:]] == [
        "2026-03-01 Sun 02:00 CST pics pause",
        "2026-03-01 Sun 04:00 CST pics resume",
        "2026-03-02 Mon 02:00 CST pics pause",
        "2026-03-02 Mon 04:00 CST pics resume",
    ]


def test_cli_reconcile_dry_run_changes_nothing(
    demo_bucket: Any,
    emulator: Any,
    emu_admin: EmuAdmin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    always = GOOD.replace(
        'start: "0 0 2 * * * *"\n    duration: 2h', 'periods: [{start: "00:00", end: "24:00"}]'
    )
    path = tmp_path / "always.yaml"
    path.write_text(always)
    for name, value in {
        "CIQUEUE_ENDPOINT": emulator.endpoint,
        "TENCENTCLOUD_SECRETID": DEMO_SECRET_ID,
        "TENCENTCLOUD_SECRETKEY": DEMO_SECRET_KEY,
        "CIQUEUE_STATE_FILE": str(tmp_path / "state.json"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CIQUEUE_STATE_BUCKET", raising=False)
    monkeypatch.delenv("CIQUEUE_INVOKER", raising=False)

    assert cli.main(["reconcile", "--config", str(path), "--dry-run"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert sorted(line.split()[0:2] for line in out[:-1]) == [
        ["pause", f"{DEMO_BUCKET}/{DEMO_REGION}/pic/{q}"] for q in (PIC_DEFAULT_ID, PIC_CALLBACK_ID)
    ]
    assert out[-1].startswith("3 queues observed at ")
    assert out[-1].endswith(": 1 none, 2 pause (dry run: nothing changed)")
    assert emu_admin.put_paths() == []
    assert not (tmp_path / "state.json").exists()


def test_cli_plan_per_queue_reads_the_queues_the_targets_cover(
    demo_bucket: Any,
    emulator: Any,
    emu_admin: EmuAdmin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    monkeypatch.setenv("CIQUEUE_ENDPOINT", emulator.endpoint)
    monkeypatch.setenv("TENCENTCLOUD_SECRETID", DEMO_SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRETKEY", DEMO_SECRET_KEY)
    args = ["plan", "--config", str(path), "--from", "2026-03-01T00:00", "--days", "1", "--queues"]
    assert cli.main(args) == 0
    lines = [re.sub(r"\s+", " ", line) for line in capsys.readouterr().out.splitlines()]
    pause = [line.split(" nightly ")[0] for line in lines[1:] if " pause " in line]
    # One line per pic queue of the bucket (the target's name_pattern is "*"), not per group.
    assert pause == [
        f"2026-03-01 Sun 02:00 CST {DEMO_BUCKET}/{DEMO_REGION}/pic/{q} pause"
        for q in sorted((PIC_DEFAULT_ID, PIC_CALLBACK_ID, PIC_PAUSED_ID))
    ]
    # Reading is all it does.
    assert emu_admin.put_paths() == []


def test_a_tick_adds_its_changes_to_the_history_in_its_one_state_write(
    demo_bucket: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    runtime = make_runtime(schedule())
    ref = {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kind": "pic", "queue_id": PIC_DEFAULT_ID}
    made = execute(
        parse_command({"action": "pause", "queues": [ref], "for": "10m", "reason": "swap"}),
        runtime,
        actor="alice",
        now=OPEN - timedelta(hours=2),  # 01:00, before the window
    )
    assert made.override is not None
    writes = [0]
    original = runtime.state._write  # type: ignore[attr-defined]

    def counting(doc: Any, version: Any) -> Any:
        writes[0] += 1
        return original(doc, version)

    runtime.state._write = counting  # type: ignore[attr-defined]

    report = reconcile(runtime, now=OPEN)

    assert report.ok and writes[0] == 1  # last applied, the expiry and the history: one write
    mine = [c for c in state_doc(tmp_path)["changes"] if c["actor"] == "scheduler"]
    # The override's queue and the already-Paused one were as the window wants: no entry for them.
    assert sorted((c["event"], c["queue"]) for c in mine) == [
        ("override.expired", f"{DEMO_BUCKET}/{DEMO_REGION}/pic/{PIC_DEFAULT_ID}"),
        ("queue.paused", f"{DEMO_BUCKET}/{DEMO_REGION}/pic/{PIC_CALLBACK_ID}"),
    ]
    expired = next(c for c in mine if c["event"] == "override.expired")
    assert (expired["override_id"], expired["reason"]) == (made.override["id"], "swap")
    assert all(c["at"] == "2026-02-28T19:00:00Z" for c in mine)  # the tick's now (03:00 CST)

    again = reconcile(runtime, now=OPEN + timedelta(minutes=5))
    assert again.ok and writes[0] == 1  # nothing changed: no write, no entry


# --- batches and the bucket's rate ----------------------------------------------------------------


def fleet(emu_admin: EmuAdmin, count: int, paused_every: int = 0) -> list[str]:
    """``count`` pic queues with callbacks in OTHER_BUCKET (every ``paused_every``-th already Paused)."""
    ids = [made_up_id(n) for n in range(count)]
    seed_queues(
        emu_admin,
        [
            {
                "kind": "pic",
                "queue_id": ids[n],
                "name": f"fleet-{n}",
                "state": "Paused" if paused_every and n % paused_every == 0 else "Active",
                "notify_config": {"State": "On", "Type": "Url", "Url": f"https://cb.example.com/{n}"},
                "extra": {"SomeNewElement": f"v{n}"},
            }
            for n in range(count)
        ],
    )
    return ids


OTHER_TARGETS = {"other": {"bucket": OTHER_BUCKET, "region": DEMO_REGION, "name_pattern": "*"}}


def test_a_tick_reads_and_verifies_ten_queues_a_request_and_skips_what_is_already_wanted(
    emulator: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime]
) -> None:
    ids = fleet(emu_admin, 25, paused_every=5)
    report = reconcile(make_runtime(schedule(targets=OTHER_TARGETS)), now=OPEN)

    assert report.ok and len(report.operations) == 20
    log = emu_admin.requests()
    listings = [e for e in log if e["method"] == "GET" and "queueIds" not in e["query"]]
    described = [e["query"]["queueIds"].split(",") for e in log if e["query"].get("queueIds")]
    puts = sorted(e["path"].rsplit("/", 1)[1] for e in log if e["method"] == "PUT")
    changing = [q for n, q in enumerate(ids) if n % 5]
    # One listing, per batch of ten one read and one verifying read, a PUT per changing queue:
    # 25 requests for 20 changed queues (1.25 each); the five already Paused cost nothing more.
    assert (len(listings), len(described), len(log)) == (1, 4, 25)
    assert [len(ids_) for ids_ in described] == [10, 10, 10, 10]
    assert puts == sorted(changing)
    for n, queue in enumerate(ids):
        stored = emu_admin.queue(queue)
        assert stored["State"] == "Paused"
        assert stored["NotifyConfig"]["Url"] == f"https://cb.example.com/{n}"
        assert stored["SomeNewElement"] == f"v{n}"


def most_in_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max(sum(1 for t in ordered if start <= t < start + window) for start in ordered)


def test_a_tick_keeps_to_the_bucket_rate_and_slows_down_on_slowdown_instead_of_failing(
    emulator: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime]
) -> None:
    ids = fleet(emu_admin, 20)
    emu_admin.faults(latency_ms=5, next={"count": 6, "status": 503, "code": "SlowDown"})
    config = schedule(targets=OTHER_TARGETS, settings={"rate_limit": 10})
    runtime = make_runtime(config)

    report = reconcile(runtime, now=OPEN, deadline=Deadline.after(60))

    # Every queue ends as wanted, no queue failed: the SlowDowns slowed the tick, nothing more.
    assert report.ok, report.errors
    assert all(emu_admin.queue(q)["State"] == "Paused" for q in ids)
    log = emu_admin.requests()
    assert sum(1 for e in log if e["code"] == "SlowDown") == 6
    assert runtime.client_for(OTHER_BUCKET, DEMO_REGION).rate.throttles == 6  # type: ignore[union-attr]
    # At most 10 sends in any second (the limiter's rule, at send time); the emulator's arrival
    # times carry a few ms of jitter, so they are judged over 0.9 s windows.
    assert most_in_window([e["received_at"] for e in log], 0.9) <= 10
    # Batches of at most eight (the rate minus the read and the verify; fewer while the SlowDowns
    # hold the rate lower): a batch's requests fit the rate.
    assert max(len(e["query"]["queueIds"].split(",")) for e in log if e["query"].get("queueIds")) <= 8


def test_a_bucket_at_its_rate_follows_a_whole_batch_with_a_smaller_one_in_the_same_second(
    emulator: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime]
) -> None:
    ids = fleet(emu_admin, 32)
    runtime = make_runtime(schedule(targets=OTHER_TARGETS, settings={"rate_limit": 20}))

    report = reconcile(runtime, now=OPEN, deadline=Deadline.after(60))

    assert report.ok, report.errors
    assert all(emu_admin.queue(q)["State"] == "Paused" for q in ids)
    log = emu_admin.requests()
    reads = [e for e in log if e["query"].get("queueIds")]
    batches = [len(e["query"]["queueIds"].split(",")) for e in reads if e["method"] == "GET"][::2]
    # 20 requests a second: a whole batch costs 12 (read, ten PUTs, verify), so a second one of
    # 10 never fits beside it, one of 6 (8 requests) does (once the listing's slot has left the
    # second): 10 + 6 | 10 + 6, two seconds of the rate, where batches of 10 alone
    # (10 | 10 | 10 | 2) take three.
    assert batches == [10, 6, 10, 6]
    assert most_in_window([e["received_at"] for e in log], 0.9) <= 20
    assert len(log) == 1 + 32 + 2 * 4
    span = max(e["received_at"] for e in log) - min(e["received_at"] for e in log)
    assert span < 2.8


def test_a_worker_reads_the_state_while_its_listings_are_in_flight(
    emulator: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    ids = fleet(emu_admin, 3)
    runtime = make_runtime(schedule(targets=OTHER_TARGETS))
    loads: list[float] = []

    class Timed(FileStateStore):
        def load(self) -> Any:
            loads.append(time.time())
            return super().load()

    runtime.state = Timed(tmp_path / "state.json")
    emu_admin.faults(latency_ms=100)

    report = handle_shard({"shard": [[OTHER_BUCKET, DEMO_REGION]], "now": OPEN.isoformat()}, runtime)

    assert report["ok"] and report["counts"] == {"pause": 3} and report["state_written"]
    assert all(emu_admin.queue(q)["State"] == "Paused" for q in ids)
    listing = next(e for e in emu_admin.requests() if "queueIds" not in e["query"])
    assert loads[0] < listing["answered_at"] - 0.05  # read before the listing was answered
    assert len(loads) == 2  # that read, and the update's (what the worker recorded: below)
    assert len(state_doc(tmp_path)["last_applied"]) == 3


def test_a_batch_is_audited_when_it_finishes_not_when_the_tick_does(
    emulator: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime]
) -> None:
    # 30 queues of one bucket at 10 requests a second: three batches a second or more apart. Each
    # change's audit line goes out when its batch is verified, while the later batches still run.
    targets = seed_shards(emu_admin, {"audit-a-1250000000": 30})
    runtime = make_runtime(schedule(targets=targets, settings={"rate_limit": 10}))
    emitted: list[tuple[float, str]] = []

    class Stamp(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            emitted.append((time.time(), json.loads(record.getMessage())["queue"]))

    logger = audit_logger()
    stamp = Stamp()
    logger.addHandler(stamp)
    emu_admin.clear_requests()
    try:
        report = reconcile(runtime, now=OPEN)
    finally:
        logger.removeHandler(stamp)

    assert report.ok and len(report.operations) == 30 and len(emitted) == 30
    last_put = max(r["received_at"] for r in emu_admin.requests() if r["method"] == "PUT")
    assert sorted(emitted)[0][0] < last_put - 0.5  # the first batch's lines long before the last PUT
    # The report still lists every change in decision order, each once.
    assert [op["queue"] for op in report.operations] == [d.key.text for d in report.decisions if d.changes]
    assert sorted(queue for _, queue in emitted) == sorted(op["queue"] for op in report.operations)


def test_a_scope_s_changes_start_while_the_next_scope_is_still_listed(
    emulator: Any, emu_admin: EmuAdmin, make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    # One request at a time per listing thread and per worker: bucket a's listing is answered,
    # decided, and its batch read goes out while bucket b's listing is still in flight.
    targets = seed_shards(emu_admin, {"stream-a-1250000000": 5, "stream-b-1250000000": 5})
    emu_admin.faults(latency_ms=60)
    # A tick that carries out its changes itself (no fan-out: a worker's, or no invoker set).
    settings = {"concurrency": 1, "rate_limit": 1000}  # no pacing between a bucket's requests
    runtime = make_runtime(schedule(targets=targets, settings=settings), invoker=None)
    emu_admin.clear_requests()

    report = reconcile(runtime, now=OPEN)

    emu_admin.clear_faults()
    assert report.ok and len(report.operations) == 10
    log = emu_admin.requests()
    listings = [r for r in log if r["method"] == "GET" and "queueIds" not in (r.get("query") or "")]
    b_listing = next(r for r in listings if r["host"].startswith("stream-b-"))
    a_work = [r for r in log if r["host"].startswith("stream-a-") and r not in listings]
    assert min(r["received_at"] for r in a_work) < b_listing["answered_at"]
    # Decided as a whole would: every queue Paused, the report in queue order, remembered.
    assert [op["queue"] for op in report.operations] == sorted(op["queue"] for op in report.operations)
    assert {
        q["State"]
        for b in emu_admin.state()["buckets"]
        for q in b["queues"]
        if b["bucket"].startswith("stream-")
    } == {"Paused"}
    stored = json.loads((tmp_path / "state.json").read_text())
    assert len([k for k in stored["last_applied"] if k.startswith("stream-")]) == 10

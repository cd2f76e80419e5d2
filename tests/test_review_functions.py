"""Defects found in review of the schedule and functions layer, each pinned by a test that failed
before its fix: redelivered overrides, late worker deliveries, phantom schedule edges, media
listings, secrets in logs and a too-dense window.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from ciqueue.api.auth import ApiToken, hash_token
from ciqueue.api.http import HttpRequest
from ciqueue.api.routes import HttpApi
from ciqueue.app.commands import parse_command
from ciqueue.app.executor import execute
from ciqueue.app.invoker import InProcessInvoker
from ciqueue.app.reconcile import handle_shard
from ciqueue.app.runtime import Runtime
from ciqueue.cli.main import main as cli_main
from ciqueue.errors import InvalidInput
from ciqueue.schedule.config import Config, parse_config
from ciqueue.schedule.engine import ObservedQueue, decide
from ciqueue.schedule.windows import rotation_state, windows_state
from conftest import (
    DEMO_BUCKET,
    DEMO_REGION,
    MEDIA_ID,
    MEDIA_SPEED_ID,
    PIC_CALLBACK_ID,
    PIC_DEFAULT_ID,
    EmuAdmin,
    load_function,
)

UTC = timezone.utc
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OPEN = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)  # inside the 02:00-04:00 one-off window
CLOSED = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # after it
TOKEN = "review-token-0123456789abcdef"
TARGET = {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "queue_ids": [PIC_DEFAULT_ID, PIC_CALLBACK_ID]}
SCHEDULE = parse_config(
    {
        "version": 1,
        "targets": {"pics": TARGET},
        "windows": [
            {
                "name": "night",
                "targets": ["pics"],
                "dates": [{"start": "2026-03-01T02:00", "end": "2026-03-01T04:00"}],
            }
        ],
    }
)


def ref(queue_id: str) -> dict[str, str]:
    return {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kind": "pic", "queue_id": queue_id}


def state_doc(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "state.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture
def make_runtime(demo_bucket: Any, emulator_runtime: Callable[..., Runtime]) -> Callable[[datetime], Runtime]:
    def make(now: datetime) -> Runtime:
        return emulator_runtime(config=SCHEDULE, invoker=InProcessInvoker(), clock=lambda: now)

    return make


# --- executor: a redelivered override changes nothing -----------------------------------------------


def test_a_late_redelivery_neither_extends_nor_renews_its_override(
    make_runtime: Callable[[datetime], Runtime], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = parse_command({"action": "pause", "queues": [ref(PIC_DEFAULT_ID)], "for": "30m"})
    key = "cmq:msg-0001"
    first = execute(command, make_runtime(NOW), actor="event:cmq", idempotency_key=key)
    stored = (tmp_path / "state.json").read_bytes()
    capsys.readouterr()

    # SCF delivers the same event again a minute later (and up to hours later for system errors).
    again = execute(command, make_runtime(NOW + timedelta(minutes=1)), actor="event:cmq", idempotency_key=key)

    assert first.ok and again.ok
    assert (tmp_path / "state.json").read_bytes() == stored  # nothing written the second time
    assert again.override is not None and first.override is not None
    assert again.override["expires_at"] == first.override["expires_at"] == "2026-03-01T12:30:00+00:00"
    events = [json.loads(line)["event"] for line in capsys.readouterr().out.splitlines()]
    assert "override.created" not in events


def test_an_override_id_used_again_after_it_ended_starts_a_new_override(
    make_runtime: Callable[[datetime], Runtime], tmp_path: Path
) -> None:
    command = parse_command(
        {"action": "pause", "queues": [ref(PIC_DEFAULT_ID)], "for": "30m", "id": "nightly"}
    )
    execute(command, make_runtime(NOW), actor="event:cmq")
    later = NOW + timedelta(days=1)

    outcome = execute(command, make_runtime(later), actor="event:cmq")

    assert outcome.override is not None
    assert outcome.override["expires_at"] == (later + timedelta(minutes=30)).isoformat()
    [override] = state_doc(tmp_path)["overrides"]
    assert override["expires_at"] == "2026-03-02T12:30:00Z"


# --- worker: a late delivery does not act on a past instant ------------------------------------------


def test_a_worker_delivered_late_decides_at_its_own_clock(
    make_runtime: Callable[[datetime], Runtime], emu_admin: EmuAdmin
) -> None:
    # The scheduler dispatched this shard while the window was open; SCF retried it after it closed.
    event = {"shard": [[DEMO_BUCKET, DEMO_REGION]], "now": OPEN.isoformat()}

    result = handle_shard(event, make_runtime(CLOSED))

    assert result["now"] == CLOSED.isoformat()
    assert result["counts"] == {"none": 2}
    assert emu_admin.put_paths() == []
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Active"


def test_a_worker_on_time_still_decides_at_the_schedulers_instant(
    make_runtime: Callable[[datetime], Runtime], emu_admin: EmuAdmin
) -> None:
    event = {"shard": [[DEMO_BUCKET, DEMO_REGION]], "now": OPEN.isoformat()}

    result = handle_shard(event, make_runtime(OPEN - timedelta(seconds=5)))

    assert (result["now"], result["counts"]) == (OPEN.isoformat(), {"pause": 2})


# --- schedule: no phantom edges ----------------------------------------------------------------------

ALWAYS = parse_config(
    {
        "version": 1,
        "targets": {"pics": TARGET},
        "windows": [{"name": "park", "targets": ["pics"], "periods": [{"start": "00:00", "end": "24:00"}]}],
    }
)


def test_a_window_open_beyond_the_horizon_reports_no_invented_edges() -> None:
    state = windows_state(ALWAYS.windows, NOW)

    assert state.active
    assert (state.opened_at, state.closes_at, state.next_open) == (None, None, None)
    assert state.reason == "window 'park' open for more than 800 days, not closing within 800 days"


def test_a_manual_resume_under_an_always_open_window_is_not_undone_a_day_later() -> None:
    queue = ObservedQueue(DEMO_BUCKET, DEMO_REGION, "pic", PIC_DEFAULT_ID, "q", "Active")
    [first] = decide(ALWAYS, NOW, [queue])
    assert first.action == "pause"
    assert first.reason == "window 'park' has been open for more than 800 days; pausing"
    stored = {first.key: first.last_applied}

    # Someone resumed it by hand; nothing in the schedule changes, so neither does the decision.
    for later in (NOW + timedelta(hours=1), NOW + timedelta(days=1), NOW + timedelta(days=30)):
        [decision] = decide(ALWAYS, later, [queue], (), stored)
        assert decision.action == "skip", (later, decision.reason)


def test_a_switch_that_loses_at_its_instant_is_no_edge() -> None:
    config = parse_config(
        {
            "version": 1,
            "targets": {"pics": TARGET},
            "rotations": [
                {
                    "name": "cb",
                    "targets": ["pics"],
                    "callbacks": [
                        {"type": "Url", "url": "https://a.example.com/ci"},
                        {"type": "Url", "url": "https://b.example.com/ci"},
                    ],
                    "at": [
                        {"time": "09:00", "callback": 1, "days": "mon-fri"},
                        {"time": "09:00", "callback": 0, "days": "fri"},  # Fridays stay on 0
                        {"time": "18:00", "callback": 0, "days": "mon-thu"},
                    ],
                }
            ],
        }
    )
    rotation = config.rotations[0]
    friday_10 = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)

    index, since, next_change = rotation_state(rotation, friday_10)

    assert index == 0
    assert since == datetime(2026, 3, 5, 18, 0, tzinfo=UTC)  # Thursday evening, the real switch
    assert next_change == datetime(2026, 3, 9, 9, 0, tzinfo=UTC)  # Monday morning


# --- HTTP API: every media queue is listed ----------------------------------------------------------


def test_listing_media_queues_includes_every_category(make_runtime: Callable[[datetime], Runtime]) -> None:
    api = HttpApi(make_runtime(NOW), [ApiToken("ops", hash_token(TOKEN), frozenset({"read"}))])
    request = HttpRequest(
        "GET",
        "/queues",
        query={"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kind": "media"},
        headers={"authorization": f"Bearer {TOKEN}"},
    )

    response = api.handle(request)

    assert response.status == 200, response.body
    assert sorted(q["queue_id"] for q in response.body["queues"]) == [MEDIA_ID, MEDIA_SPEED_ID]


# --- logs carry no callback query string -------------------------------------------------------------

SECRET_URL = "https://hooks.example.com/ci?token=s3cr3t-value"


def test_the_audit_line_of_a_callback_change_leaves_out_the_url_query(
    make_runtime: Callable[[datetime], Runtime], capsys: pytest.CaptureFixture[str]
) -> None:
    callback = {"type": "Url", "url": SECRET_URL, "event": "TaskFinish", "format": "JSON"}
    command = parse_command(
        {"action": "set_callback", "queues": [ref(PIC_CALLBACK_ID)], "callback": callback}
    )

    outcome = execute(command, make_runtime(NOW), actor="carol")

    assert outcome.ok, outcome.error
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [changed] = [line for line in lines if line["event"] == "queue.callback_changed"]
    assert changed["after"]["NotifyConfig.Url"] == "https://hooks.example.com/ci?…"
    assert "s3cr3t" not in json.dumps(lines)


def test_the_automation_log_line_leaves_out_the_url_query(
    make_runtime: Callable[[datetime], Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    automation = load_function("automation")
    automation._RUNTIME = make_runtime(NOW)
    callback = {"type": "Url", "url": SECRET_URL, "event": "TaskFinish"}
    body = json.dumps({"action": "set_callback", "queues": [ref(PIC_CALLBACK_ID)], "callback": callback})
    event = {"Records": [{"CMQ": {"msgId": "m-1", "msgBody": body}}]}

    with caplog.at_level("INFO", logger="ciqueue.automation"):
        summary = automation.main_handler(event, {"request_id": "r-1", "time_limit_in_ms": 30000})

    assert summary["ok"], summary
    logged = [r.getMessage() for r in caplog.records if r.name == "ciqueue.automation"]
    assert logged and "hooks.example.com/ci?…" in logged[0]
    assert "s3cr3t" not in "\n".join(logged)


# --- a window too dense to evaluate is bad config, not a crash -----------------------------------------


def test_a_window_too_dense_to_evaluate_is_reported_as_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = {
        "version": 1,
        "timezone": "UTC",
        "targets": {"pics": TARGET},
        "windows": [{"name": "busy", "targets": ["pics"], "start": "*/2 * * * * * *", "duration": "1s"}],
    }
    # Loading refuses it, naming the field...
    path = tmp_path / "busy.json"
    path.write_text(json.dumps(data))
    code = cli_main(["plan", "--config", str(path), "--from", "2026-03-01T00:00Z"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"{path}: windows[0].start: opens and closes more than 250 times in 8 days")
    assert "Traceback" not in err
    # ...and the evaluator's own bound stays as a backstop for a config built around the loader.
    config = Config.model_validate(data)
    with pytest.raises(InvalidInput) as caught:
        windows_state(config.windows, NOW)
    assert caught.value.field == "windows.busy.start"
    assert caught.value.rule.startswith("fires too often to evaluate (more than 50000 openings")

"""``GET /queues``' ``status`` (``app.status.queue_statuses``, the answer ``ciqueue status`` gives):
the http_toggle handler, Function URL-shaped events (``dev.events.function_url_event``), the
emulator over real HTTP, a file state store, a schedule file and the function's clock pinned by
``CIQUEUE_NOW`` inside the nightly window.

Two queues of one bucket, both Paused by the window: the on-call resumes one for 30 minutes (a
real ``POST .../resume`` through the same handler); the listing then says the other is held by
window 'nightly' until it closes, and the first is pinned Active by that override until it ends,
when the window takes it back.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ciqueue.api.auth import hash_token
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.dev.events import function_url_event
from ciqueue.emulator.server import EmulatorServer
from conftest import EmuAdmin, load_function

CST = ZoneInfo("Asia/Shanghai")
BUCKET, REGION = "status-1250000000", "ap-guangzhou"
HELD = "p" + "1" * 32  # paused by the window
PINNED = "p" + "2" * 32  # resumed by the on-call for 30 minutes
TOKEN = "oncall-token-0123456789abcdef"
# Inside the window (02:00 for 2h) on a day after the emulator seeded the queues (real time), so
# their Paused state reads as the window's doing, not a change by hand after the edge.
NOW = datetime(2030, 3, 5, 2, 30, tzinfo=CST)
SCHEDULE = f"""
version: 1
timezone: Asia/Shanghai
targets:
  night-batch: {{bucket: {BUCKET}, region: {REGION}, kind: pic, queue_ids: [{HELD}, {PINNED}]}}
windows:
  - {{name: nightly, targets: [night-batch], start: "0 0 2 * * * *", duration: 2h}}
"""


def utc(hour: int, minute: int) -> str:
    return datetime(2030, 3, 5, hour, minute, tzinfo=CST).astimezone(ZoneInfo("UTC")).isoformat()


@pytest.fixture
def call(
    emulator: EmulatorServer, emu_admin: EmuAdmin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Any:
    """``call(method, path, body=None, query=None) -> (status, json)`` through http_toggle."""
    emu_admin.seed(
        [
            {
                "bucket": BUCKET,
                "region": REGION,
                "kinds": ["pic"],
                "queues": [
                    {"kind": "pic", "queue_id": HELD, "name": "held", "state": "Paused"},
                    {"kind": "pic", "queue_id": PINNED, "name": "pinned", "state": "Paused"},
                ],
            }
        ]
    )
    config = tmp_path / "ciqueue.yml"
    config.write_text(SCHEDULE, encoding="utf-8")
    tokens = [{"name": "oncall", "sha256": hash_token(TOKEN), "scopes": ["read", "operate"]}]
    for name in (
        "CIQUEUE_STATE_BUCKET",
        "TENCENTCLOUD_SESSIONTOKEN",
        "TENCENTCLOUD_RUNENV",
        "CIQUEUE_INVOKER",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CIQUEUE_API_TOKENS", json.dumps(tokens))
    monkeypatch.setenv("CIQUEUE_ENDPOINT", emulator.endpoint)
    monkeypatch.setenv("TENCENTCLOUD_SECRETID", DEMO_SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRETKEY", DEMO_SECRET_KEY)
    monkeypatch.setenv("CIQUEUE_CONFIG", str(config))
    monkeypatch.setenv("CIQUEUE_STATE_FILE", str(tmp_path / "state.json"))
    monkeypatch.setenv("CIQUEUE_NOW", NOW.isoformat())
    module = load_function("http_toggle")

    def invoke(method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Any:
        event = function_url_event(
            method,
            path,
            query or {},
            {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"},
            b"" if body is None else json.dumps(body).encode(),
            "203.0.113.7",
            "scf-req-status",
        )
        response = module.main_handler(event, {"request_id": "scf-req-status", "time_limit_in_ms": 30000})
        return response["statusCode"], json.loads(response["body"])

    return invoke


def test_get_queues_says_why_each_queue_is_as_it_is(call: Any, emu_admin: EmuAdmin) -> None:
    status, answer = call(
        "POST", f"/queues/{BUCKET}/{REGION}/pic/{PINNED}/resume", {"for": "30m", "reason": "urgent batch"}
    )
    assert status == 200, answer
    assert emu_admin.queue(PINNED)["State"] == "Active"

    status, body = call("GET", "/queues", query={"bucket": BUCKET, "region": REGION, "kind": "pic"})

    assert status == 200, body
    views = {view["queue_id"]: view for view in body["queues"]}
    assert sorted(views) == sorted([HELD, PINNED])

    held = views[HELD]["status"]
    assert (held["state"], held["wanted"], held["reason"]) == ("Paused", "Paused", "window")
    assert held["why"] == "already Paused as window 'nightly' requires"
    assert (held["windows"], held["override"], held["until"]) == (["nightly"], None, utc(4, 0))
    assert held["next_change"] == {
        "at": utc(4, 0),
        "change": "resume",
        "kind": "window",
        "source": "nightly",
        "reason": held["next_change"]["reason"],
    }
    assert "nightly" in held["next_change"]["reason"]

    pinned = views[PINNED]["status"]
    pin = pinned["override"]
    assert (pinned["state"], pinned["wanted"], pinned["reason"]) == ("Active", "Active", "override")
    assert (pin["state"], pin["actor"], pin["reason"], pin["expires_at"]) == (
        "Active",
        "token:oncall",
        "urgent batch",
        utc(3, 0),
    )
    assert pinned["why"] == (
        f"override {pin['id']} by token:oncall ('urgent batch') pins it Active until 03:00 CST"
    )
    assert (pinned["windows"], pinned["until"]) == ([], utc(3, 0))
    coming = pinned["next_change"]
    assert (coming["at"], coming["change"], coming["kind"]) == (utc(3, 0), "pause", "override")

    # The view's status is the one ``GET /queues/{...}`` gives too, and nothing was written.
    status, one = call("GET", f"/queues/{BUCKET}/{REGION}/pic/{HELD}")
    assert (status, one["status"]) == (200, views[HELD]["status"])
    assert emu_admin.queue(HELD)["State"] == "Paused"

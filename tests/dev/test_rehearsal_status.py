"""``ciqueue status`` explains every queue of the demo correctly at each step of the rehearsal.

The rehearsal (``ciqueue demo``) runs step by step; at each step the real CLI (``cli.main``, the
argument parser, the state store of the functions, CI read over HTTP from the rehearsal's
emulator) answers ``status --json --now <the rehearsal's clock>``, and each queue's state, reason
kind, until and next change are checked against what the story says holds then. At the end a person
pauses a queue by hand: status says the manual change is respected until the window next opens.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ciqueue.cli import main as cli
from ciqueue.dev import rehearsal

CST = ZoneInfo(rehearsal.ZONE)
NAMES = tuple(rehearsal.QUEUES)


def at(day: int, hhmm: str) -> str:
    hour, minute = (int(p) for p in hhmm.split(":"))
    return datetime(2026, 3, day, hour, minute, tzinfo=CST).isoformat()


# (state, reason kind, until, next change (at, change, kind)) per queue; "*" = every queue.
PAUSED = ("Paused", "window", at(2, "04:00"), (at(2, "04:00"), "resume", "window"))
CLOSED = ("Active", "window", at(3, "02:00"))
EXPECTED: dict[str, dict[str, tuple[Any, ...]]] = {
    "window-opened": {"*": PAUSED},
    "override-made": {
        "thumbnails": ("Active", "override", at(2, "02:40"), (at(2, "02:40"), "pause", "override")),
        "watermarks": PAUSED,
        "previews": PAUSED,
    },
    "override-drained": {
        "thumbnails": ("Active", "override", at(2, "02:40"), (at(2, "02:40"), "pause", "override")),
        "watermarks": PAUSED,
        "previews": PAUSED,
    },
    "override-ended": {"*": PAUSED},
    "window-closed": {"*": (*CLOSED, (at(2, "04:30"), "set_callback", "rotation"))},
    "rotated": {"*": (*CLOSED, (at(2, "08:00"), "set_callback", "rotation"))},
    "end": {"*": (*CLOSED, (at(2, "08:00"), "set_callback", "rotation"))},
}


def status(capsys: pytest.CaptureFixture[str], run: rehearsal.Rehearsal, *extra: str) -> dict[str, Any]:
    now = run.clock.now().isoformat()
    argv = ["status", "--config", str(run.config_path), "--now", now, "--json", *extra]
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["errors"] == [] and report["timezone"] == rehearsal.ZONE
    return {q["name"]: q for q in report["queues"]}


def utc(text: str | None) -> str | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(CST).isoformat()


def test_status_explains_every_demo_queue_at_every_step(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seen: list[str] = []

    def check(run: rehearsal.Rehearsal, step: str) -> None:
        for name, value in run.env.items():  # the CLI in the shell the functions run in
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        queues = status(capsys, run)
        assert sorted(queues) == sorted(NAMES), step
        for name in NAMES:
            want = EXPECTED[step].get(name) or EXPECTED[step]["*"]
            state, kind, until, (next_at, change, next_kind) = want
            got = queues[name]
            coming = got["next_change"]
            assert (got["state"], got["reason"], utc(got["until"])) == (state, kind, until), (step, name, got)
            assert (utc(coming["at"]), coming["change"], coming["kind"]) == (next_at, change, next_kind), (
                step,
                name,
                coming,
            )
            assert got["state"] == run.states()[name]  # observed, as CI holds it
        thumbnails = queues["thumbnails"]
        if step == "override-made":
            pin = thumbnails["override"]
            assert (pin["state"], pin["reason"], pin["actor"]) == (
                "Active",
                "urgent thumbnails for launch",
                "token:oncall",
            )
            assert thumbnails["why"] == (
                f"override {pin['id']} by token:oncall ('urgent thumbnails for launch') pins it Active "
                "until 02:40 CST"
            )
        if step == "window-opened":
            assert thumbnails["why"] == "already Paused as window 'nightly' requires"
            assert thumbnails["windows"] == ["nightly"]
        if step in ("window-closed", "rotated"):
            assert thumbnails["callback_status"]["kind"] == "rotation"
        if step == "end":
            # A person pauses previews by hand: respected until the window next opens.
            previews_id = rehearsal.QUEUES["previews"]
            run.admin("PATCH", f"queues/{rehearsal.BUCKET}/pic/{previews_id}", {"State": "Paused"})
            only = status(capsys, run, previews_id)
            assert list(only) == ["previews"]  # a QUEUE argument picks that queue only
            previews = only["previews"]
            assert (previews["state"], previews["reason"], utc(previews["until"])) == (
                "Paused",
                "manual",
                at(3, "02:00"),
            )
            assert previews["why"].startswith("manual change respected: queue was paused by hand")
        seen.append(step)

    summary = rehearsal.run(io.StringIO(), picture_dir=tmp_path, on_step=check)

    assert summary.error is None, summary.error
    assert summary.failures == []
    assert seen == list(EXPECTED)

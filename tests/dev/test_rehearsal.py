"""The maintenance-night rehearsal (``ciqueue demo`` / ``make demo``)."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from ciqueue.cli import main as cli
from ciqueue.dev import rehearsal


def test_the_rehearsal_holds_every_expectation(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = io.StringIO()
    summary = rehearsal.run(out, picture_dir=tmp_path)

    assert summary.error is None, summary.error
    assert summary.failures == []
    assert summary.ok and len(summary.expectations) == 17
    # 6 before the window + 5 drained under the on-call override + 13 after the window: primary.
    # The 6 jobs after the 04:30 rotation: standby.
    assert (summary.primary_callbacks, summary.standby_callbacks) == (24, 6)
    assert summary.events == {
        "queue.paused": 4,  # three at 02:00, thumbnails again when its override expired
        "override.created": 1,
        "queue.resumed": 4,  # thumbnails by the on-call, three at 04:00
        "override.expired": 1,
        "queue.callback_changed": 3,
    }
    standby = rehearsal.STANDBY_URL
    assert summary.final == {
        "thumbnails": {
            "queue_id": rehearsal.QUEUES["thumbnails"],
            "state": "Active",
            "callback": standby,
            "jobs": {"Submitted": 0, "Running": 0, "Success": 12},
        },
        "watermarks": {
            "queue_id": rehearsal.QUEUES["watermarks"],
            "state": "Active",
            "callback": standby,
            "jobs": {"Submitted": 0, "Running": 0, "Success": 9},
        },
        "previews": {
            "queue_id": rehearsal.QUEUES["previews"],
            "state": "Active",
            "callback": standby,
            "jobs": {"Submitted": 0, "Running": 0, "Success": 9},
        },
    }
    text = out.getvalue()
    assert (
        "[02:00:00] scheduler    pause     thumbnails  window 'nightly' opened at 02:00 CST; pausing" in text
    )
    assert (
        "[02:10:00] token:oncall override  thumbnails  resume until 02:40: urgent thumbnails for launch"
        in text
    )
    # The override's end is why thumbnails pauses at 02:40, not the window that opened at 02:00.
    assert re.search(
        r"\[02:40:00\] scheduler    pause     thumbnails  override o-\w+ by token:oncall "
        r"\('urgent thumbnails for launch'\) ended at 02:40 CST; the schedule wants Paused "
        r"\(window 'nightly' opened at 02:00 CST\); pausing\n",
        text,
    )
    assert (
        "[04:33:00] ci           callback  previews  2 job results -> standby.example.com: delivered" in text
    )
    assert "callbacks received: primary 24, standby 6" in text
    assert "17/17 expectations held." in text
    # The week's picture: where it is, and what it shows.
    picture = tmp_path / "rehearsal-week.svg"
    assert summary.picture == str(picture)
    assert f"The week as the console draws it (at 02:10, the override on): {picture}" in text
    svg = "{http://www.w3.org/2000/svg}"
    root = ET.fromstring(picture.read_text(encoding="utf-8"))
    lanes = [g for g in root.iter(f"{svg}g") if g.get("class") == "lane"]
    assert [g.get("data-lane", "").rsplit("/", 1)[1] for g in lanes] == sorted(rehearsal.QUEUES.values())
    assert all(len([r for r in g.iter(f"{svg}rect") if r.get("class") == "paused"]) == 7 for g in lanes)
    now = root.find(f"{svg}text[@class='now-label']")
    assert now is not None and now.text == "now 02:10 CST"
    assert "Bearer" not in text and "Bearer" not in capsys.readouterr().err  # the on-call token never shows


def test_a_broken_expectation_fails_the_demo(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Queues that may run no job at all: nothing ever calls back.
    monkeypatch.setattr(rehearsal, "MAX_CONCURRENT", 0)
    summary = rehearsal.run(io.StringIO())
    assert not summary.ok
    assert summary.failures[0].what == "the day's jobs called back to primary"
    assert summary.failures[0].detail == "primary got 0"
    assert (
        "rehearsal FAILED at 02:00: the day's jobs called back to primary: primary got 0"
        in capsys.readouterr().err
    )
    assert rehearsal.main([]) == 1  # make demo exits non-zero


def test_ciqueue_demo_runs_the_rehearsal(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(rehearsal, "main", lambda argv=None: seen.append("rehearsal") or 0)
    monkeypatch.setattr("ciqueue.dev.tour.run", lambda out=None: seen.append("tour") or 0)
    assert cli.main(["demo"]) == 0
    assert cli.main(["demo", "--cli"]) == 0
    assert seen == ["rehearsal", "tour"]


def test_the_demo_prints_each_queues_status_at_three_steps(tmp_path: Path) -> None:
    out = io.StringIO()
    summary = rehearsal.run(out, picture_dir=tmp_path)

    assert summary.ok and len(summary.expectations) == 17
    assert list(summary.statuses) == list(rehearsal.STATUS_STEPS)
    lines = [line for line in out.getvalue().splitlines() if " status " in line]
    held = "[window] already Paused as window 'nightly' requires; until 04:00 CST; next 04:00 CST resume"
    opened = [f"[02:00:00] status       Paused    {name}  {held}" for name in rehearsal.QUEUES]
    pin = summary.statuses["override-made"]["thumbnails"]["override"]
    pinned = (
        f"[02:10:00] status       Active    thumbnails  [override] override {pin['id']} by token:oncall "
        "('urgent thumbnails for launch') pins it Active until 02:40 CST; next 02:40 CST pause"
    )
    others = [f"[02:10:00] status       Paused    {name}  {held}" for name in ("watermarks", "previews")]
    free = (
        "[window] already Active as no window is open; until 2026-03-03 02:00 CST; "
        "next 04:30 CST set_callback"
    )
    closed = [f"[04:00:00] status       Active    {name}  {free}" for name in rehearsal.QUEUES]
    assert lines == [*opened, pinned, *others, *closed]
    # The lines are app.status's answer, the one ciqueue status gives (tests/dev/test_rehearsal_status.py).
    reasons = {step: {n: s["reason"] for n, s in queues.items()} for step, queues in summary.statuses.items()}
    assert reasons == {
        "window-opened": dict.fromkeys(rehearsal.QUEUES, "window"),
        "override-made": {"thumbnails": "override", "watermarks": "window", "previews": "window"},
        "window-closed": dict.fromkeys(rehearsal.QUEUES, "window"),
    }

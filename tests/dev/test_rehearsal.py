"""The maintenance-night rehearsal (``ciqueue demo`` / ``make demo``)."""

from __future__ import annotations

import io

import pytest
from ciqueue.cli import main as cli
from ciqueue.dev import rehearsal


def test_the_rehearsal_holds_every_expectation(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    summary = rehearsal.run(out)

    assert summary.error is None, summary.error
    assert summary.failures == []
    assert summary.ok and len(summary.expectations) == 16
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
    assert (
        "[02:40:00] scheduler    pause     thumbnails  window 'nightly' opened at 02:00 CST; pausing" in text
    )
    assert (
        "[04:33:00] ci           callback  previews  2 job results -> standby.example.com: delivered" in text
    )
    assert "callbacks received: primary 24, standby 6" in text
    assert "16/16 expectations held." in text
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

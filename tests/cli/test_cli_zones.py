"""One zone per output: every instant the CLI prints as text is in the config's zone with its
abbreviation and weekday, to the minute (seconds only when not zero), never microseconds nor a raw
offset; ``--json`` keeps ISO 8601 with the offset. Against the emulator, in process."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from ciqueue.cli.render import ci_time
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.emulator.server import EmulatorServer
from ciqueue.timefmt import parse_instant
from conftest import EmuAdmin, cli_run

BUCKET, REGION = "zones-1250000000", "ap-guangzhou"
QUEUE = "p" + "b" * 32
SCHEDULE = f"""
version: 1
timezone: Asia/Shanghai
targets:
  all: {{bucket: {BUCKET}, region: {REGION}, kind: pic, queue_ids: [{QUEUE}]}}
windows:
  - {{name: nightly, targets: [all], start: "0 0 2 * * * *", duration: 2h}}
"""
# 02:30:00.123456 in Shanghai: inside the window, with microseconds the text must not show.
NOW = "2030-03-04T18:30:00.123456+00:00"
ISO_OR_OFFSET = re.compile(r"\d{4}-\d\d-\d\dT|[+-]\d\d:?\d\d\b|\.\d{3,}")


@pytest.fixture
def schedule(
    emulator: EmulatorServer,
    emu_admin: EmuAdmin,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Path:
    emu_admin.seed(
        [
            {
                "bucket": BUCKET,
                "region": REGION,
                "kinds": ["pic"],
                "queues": [{"kind": "pic", "queue_id": QUEUE, "name": "q"}],
            }
        ]
    )
    for name in ("CIQUEUE_CONFIG", "CIQUEUE_STATE_BUCKET", "CIQUEUE_NOW", "TENCENTCLOUD_SESSIONTOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TENCENTCLOUD_SECRETID", DEMO_SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRETKEY", DEMO_SECRET_KEY)
    monkeypatch.setenv("CIQUEUE_ENDPOINT", emulator.endpoint)
    monkeypatch.setenv("CIQUEUE_STATE_FILE", str(tmp_path / "state.json"))
    path = tmp_path / "schedule.yaml"
    path.write_text(SCHEDULE, encoding="utf-8")
    return path


run = cli_run


def test_reconcile_text_is_in_the_config_zone_and_json_keeps_iso(
    schedule: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "reconcile", "--config", str(schedule), "--now", NOW, "--dry-run")

    assert code == 0, err
    summary = out.splitlines()[-1]
    assert summary == "1 queues observed at 2030-03-05 Tue 02:30 CST: 1 pause (dry run: nothing changed)"
    assert not ISO_OR_OFFSET.search(out), out

    code, out, err = run(capsys, "reconcile", "--config", str(schedule), "--now", NOW, "--json", "--dry-run")
    assert code == 0, err
    assert parse_instant(json.loads(out)["now"]) == parse_instant(NOW)  # ISO 8601 with its offset


def test_plan_text_shows_every_instant_in_the_config_zone(
    schedule: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "plan", "--config", str(schedule), "--now", NOW, "--days", "2")

    assert code == 0, err
    rows = out.splitlines()[1:]
    assert rows[0].startswith("2030-03-05 Tue 04:00 CST")
    assert all(re.match(r"\d{4}-\d\d-\d\d [A-Z][a-z]{2} \d\d:\d\d CST ", row) for row in rows), out
    assert not ISO_OR_OFFSET.search(out), out

    code, out, err = run(capsys, "plan", "--config", str(schedule), "--now", NOW, "--days", "2", "--json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    assert all(parse_instant(t["at"]).utcoffset() is not None for t in data["transitions"])


def test_queues_list_shows_ci_times_in_one_zone_without_raw_iso(
    schedule: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "queues", "list", "--bucket", BUCKET, "--region", REGION)

    assert code == 0, err
    (row,) = [line for line in out.splitlines() if line.startswith(QUEUE)]
    assert re.search(r"\d{4}-\d\d-\d\d [A-Z][a-z]{2} \d\d:\d\d(:\d\d)? UTC\+08:00$", row), row
    assert not re.search(r"\dT\d", row)  # not CI's raw 2030-03-05T02:30:00+0800


def test_ci_time_keeps_what_it_cannot_read() -> None:
    assert ci_time("2022-08-09T16:23:11+0800") == "2022-08-09 Tue 16:23:11 UTC+08:00"
    assert ci_time("2022-08-09T16:23:00+0800") == "2022-08-09 Tue 16:23 UTC+08:00"
    assert ci_time("yesterday") == "yesterday"
    assert ci_time(None) == ""

"""``ciqueue emulator --seed-from-config FILE``: the config's target buckets and queues exist before
it answers, so the documented ``ciqueue invoke scheduler ... --config examples/schedule.yaml``
reconciles real queues (against an empty emulator every target answered ``<Kind>BucketUnBinded``).
Real processes, real HTTP; Ctrl-C stops the emulator with exit 0.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "schedule.yaml"
CIQUEUE = [sys.executable, "-m", "ciqueue"]
THUMBNAILS = ("p8366c460c67b4c65a9bf81b41eaa3c4b", "pb926e1dce3ed4e47a4f08692164f4869")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CIQUEUE_", "TENCENTCLOUD_"))}
    clean.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"))
    return clean


@pytest.fixture
def seeded(env: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    proc = subprocess.Popen(
        [*CIQUEUE, "emulator", "--port", "0", "--seed-from-config", str(EXAMPLE)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline(), proc.stdout.readline()]
    assert lines[1].startswith("ciqueue emulator on http://"), lines
    endpoint = lines[1].split()[3]
    try:
        yield endpoint, lines
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
        assert proc.returncode == 0


def test_the_documented_invoke_reconciles_the_seeded_queues(
    seeded: tuple[str, list[str]], env: dict[str, str]
) -> None:
    endpoint, lines = seeded
    assert lines[0].strip() == f"seeded 6 queues from {EXAMPLE}"
    state = requests.get(f"{endpoint}/_emulator/state", timeout=5).json()
    assert "images-1250000000" in json.dumps(state) and "media-1250000000" in json.dumps(state)

    # docs/local.md's command, as written (the demo key pair: an endpoint and no keys of our own).
    done = subprocess.run(
        [
            *CIQUEUE,
            "invoke",
            "scheduler",
            "--sample",
            "timer",
            "--endpoint",
            endpoint,
            "--config",
            str(EXAMPLE),
            "--now",
            "2026-03-02T02:00:00+08:00",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["ok"] is True and result["error"] is None and result["report"]["errors"] == []
    paused = {r["queue"].rsplit("/", 1)[1] for r in result["results"] if r["action"] == "pause"}
    assert set(THUMBNAILS) <= paused  # the nightly window opened at 02:00 CST
    assert all("BucketUnBinded" not in json.dumps(r) for r in result["results"])


def test_a_config_check_rejects_stops_the_emulator_naming_the_rule(
    tmp_path: Path, env: dict[str, str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace("timezone: Asia/Shanghai", "timezone: Mars/Base")
    )
    done = subprocess.run(
        [*CIQUEUE, "emulator", "--port", "0", "--seed-from-config", str(bad)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"ciqueue emulator: {bad}: timezone: ")
    assert "Ctrl-C stops" not in done.stdout


def test_a_cos_location_is_refused_where_the_emulator_starts_empty(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from ciqueue.dev.stack import local_main

    location = "cos://ops-1250000000/conf/schedule.yaml?region=ap-guangzhou"
    rule = f"must be a local file: the emulator started here holds no COS objects yet (got {location!r})"
    done = subprocess.run(
        [*CIQUEUE, "emulator", "--port", "0", "--seed-from-config", location],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"ciqueue emulator: --seed-from-config: {rule}")
    assert local_main(["--port", "0", "--http-port", "0", "--config", location]) == 2
    assert capsys.readouterr().err.startswith(f"error: --config: {rule}")

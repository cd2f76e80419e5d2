"""``--config`` on the CLI names a config as ``CIQUEUE_CONFIG`` does for the functions: a file path,
``file://…`` or ``cos://bucket-appid/key[?region=…]`` (``state.location.parse_location``, the one
rule), the COS object read from the emulator's COS objects over real signed HTTP. Before, a
``cos://`` location was "file not found".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ciqueue.ci.client import CIClient
from ciqueue.ci.credentials import Credentials
from ciqueue.cli import main as cli
from ciqueue.constants import (
    DEMO_SECRET_ID,
    DEMO_SECRET_KEY,
    ENV_CONFIG,
    ENV_ENDPOINT,
    ENV_REGION,
    ENV_SECRET_ID,
    ENV_SECRET_KEY,
    ENV_SESSION_TOKEN,
    ENV_STATE_REGION,
)
from ciqueue.emulator.server import EmulatorServer
from conftest import EmuAdmin

BUCKET, REGION, KEY = "ops-1250000000", "ap-guangzhou", "conf/schedule.yaml"
SCHEDULE = """
version: 1
timezone: Asia/Shanghai
targets:
  thumbs: {bucket: images-1250000000, region: ap-shanghai, kind: pic, name_pattern: "*"}
windows:
  - {name: nightly, targets: [thumbs], start: "0 0 2 * * * *", duration: 2h}
"""
LOCATION = f"cos://{BUCKET}/{KEY}?region={REGION}"


@pytest.fixture
def stored(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    for name in (ENV_SESSION_TOKEN, ENV_REGION, ENV_STATE_REGION, ENV_CONFIG):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENV_SECRET_ID, DEMO_SECRET_ID)
    monkeypatch.setenv(ENV_SECRET_KEY, DEMO_SECRET_KEY)
    monkeypatch.setenv(ENV_ENDPOINT, emulator.endpoint)
    cos = CIClient(
        BUCKET, REGION, Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY), emulator.endpoint, service="cos"
    )
    cos.request("PUT", "/" + KEY, body=SCHEDULE.encode(), headers={"content-type": "text/yaml"})
    return emulator


def test_config_check_and_plan_read_a_cos_object(
    stored: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["config", "check", LOCATION]) == 0
    assert capsys.readouterr().out == f"{LOCATION}: OK (1 targets, 1 windows, 0 rotations)\n"
    code = cli.main(["plan", "--config", LOCATION, "--now", "2026-03-02T01:00:00+08:00", "--days", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "nightly" in out


def test_the_environment_location_is_read_alike(
    stored: EmulatorServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_CONFIG, f"cos://{BUCKET}/{KEY}")
    monkeypatch.setenv(ENV_REGION, REGION)  # the region falls back as it does for the functions
    assert cli.main(["plan", "--now", "2026-03-02T01:00:00+08:00", "--days", "1"]) == 0
    assert "nightly" in capsys.readouterr().out


def test_a_file_url_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "schedule.yaml"
    path.write_text(SCHEDULE, encoding="utf-8")
    assert cli.main(["config", "check", f"file://{path}"]) == 0
    assert capsys.readouterr().out.endswith(": OK (1 targets, 1 windows, 0 rotations)\n")


@pytest.mark.parametrize(
    ("location", "line"),
    [
        (
            f"cos://{BUCKET}/{KEY}",
            "region: is required for a cos:// location (?region=, CIQUEUE_STATE_REGION or "
            "TENCENTCLOUD_REGION)",
        ),
        (f"cos://{BUCKET}/?region={REGION}", "config: must name an object: cos://<bucket-appid>/<key>"),
        (f"http://{BUCKET}/{KEY}", "config: must be file:///path or cos://"),
    ],
)
def test_a_location_breaking_the_rule_is_bad_input_naming_it(
    stored: EmulatorServer, emu_admin: EmuAdmin, location: str, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    emu_admin.clear_requests()
    assert cli.main(["config", "check", location]) == 2
    assert capsys.readouterr().err.startswith(f"{location}: {line}")
    assert emu_admin.requests() == []  # nothing was sent


def test_a_missing_object_is_cos_s_answer(stored: EmulatorServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", "check", f"cos://{BUCKET}/conf/none.yaml?region={REGION}"]) == 1
    assert "NoSuchKey" in capsys.readouterr().err


def test_invoke_passes_a_cos_location_to_the_function_as_written(
    stored: EmulatorServer, emu_admin: EmuAdmin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ciqueue.dev.invoke import invoke_main

    monkeypatch.setenv("CIQUEUE_STATE_FILE", str(tmp_path / "state.json"))
    emu_admin.seed(
        [
            {
                "bucket": "images-1250000000",
                "region": "ap-shanghai",
                "kinds": ["pic"],
                "queues": [{"kind": "pic", "queue_id": "p" + "c" * 32, "name": "t1"}],
            }
        ]
    )
    argv = ["scheduler", "--sample", "timer", "--config", LOCATION, "--now", "2026-03-02T02:00:00+08:00"]
    assert invoke_main(argv) == 0
    assert (
        emu_admin.queue("p" + "c" * 32)["State"] == "Paused"
    )  # the COS object's window, read by the function

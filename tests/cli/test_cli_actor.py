"""Every CLI door names its actor ``cli:<login name>`` (``cli.main.cli_actor``, one helper): a
plain pause, resume and set-callback (in the result), ``reconcile`` and an override (in their audit
lines on stderr and in the state's history). Against the emulator, in process."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest
from ciqueue.cli import main as cli
from ciqueue.constants import (
    DEMO_SECRET_ID,
    DEMO_SECRET_KEY,
    ENV_CONFIG,
    ENV_ENDPOINT,
    ENV_NOW,
    ENV_REGION,
    ENV_SECRET_ID,
    ENV_SECRET_KEY,
    ENV_SESSION_TOKEN,
    ENV_STATE_BUCKET,
    ENV_STATE_FILE,
)
from ciqueue.emulator.server import EmulatorServer
from conftest import EmuAdmin, cli_run

BUCKET, REGION = "actor-1250000000", "ap-guangzhou"
QUEUE = "p" + "c" * 32
WHERE = ["--bucket", BUCKET, "--region", REGION]
ALWAYS = f"""
version: 1
timezone: Asia/Shanghai
targets:
  all: {{bucket: {BUCKET}, region: {REGION}, kind: pic, queue_ids: [{QUEUE}]}}
windows:
  - name: always
    targets: [all]
    enforced: true
    dates: [{{start: "2020-01-01T00:00", end: "2099-01-01T00:00"}}]
"""


@pytest.fixture
def alice(
    emulator: EmulatorServer, emu_admin: EmuAdmin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Path:
    """One Active pic queue, the demo key pair, a state file, the login name ``alice``; returns a
    schedule file that wants the queue Paused."""
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
    for name in (ENV_SESSION_TOKEN, ENV_CONFIG, ENV_STATE_BUCKET, ENV_REGION, ENV_NOW, "CIQUEUE_INVOKER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENV_SECRET_ID, DEMO_SECRET_ID)
    monkeypatch.setenv(ENV_SECRET_KEY, DEMO_SECRET_KEY)
    monkeypatch.setenv(ENV_ENDPOINT, emulator.endpoint)
    monkeypatch.setenv(ENV_STATE_FILE, str(tmp_path / "state.json"))
    monkeypatch.setenv("LOGNAME", "alice")  # getpass.getuser() reads it first
    path = tmp_path / "schedule.yaml"
    path.write_text(ALWAYS, encoding="utf-8")
    return path


run = cli_run


def audit_actors(err: str) -> set[str]:
    return {json.loads(line)["actor"] for line in err.splitlines() if line.startswith("{")}


def test_every_cli_door_names_cli_and_the_login_name(
    alice: Path, emu_admin: EmuAdmin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "queues", "pause", QUEUE, *WHERE, "--json")
    assert (code, json.loads(out)["actor"]) == (0, "cli:alice"), err
    code, out, err = run(capsys, "queues", "resume", QUEUE, *WHERE, "--json")
    assert (code, json.loads(out)["actor"]) == (0, "cli:alice"), err
    url = "https://standby.example.com/ci-callback"
    code, out, err = run(capsys, "queues", "set-callback", QUEUE, *WHERE, "--url", url, "--json")
    assert (code, json.loads(out)["actor"]) == (0, "cli:alice"), err
    assert emu_admin.queue(QUEUE)["State"] == "Active"

    code, out, err = run(capsys, "reconcile", "--config", str(alice), "--json")
    assert code == 0, err
    assert [o["action"] for o in json.loads(out)["operations"]] == ["pause"]
    assert audit_actors(err) == {"cli:alice"}  # the tick's audit lines, on stderr
    assert emu_admin.queue(QUEUE)["State"] == "Paused"

    code, out, err = run(capsys, "queues", "resume", QUEUE, *WHERE, "--for", "1h", "--reason", "late")
    assert code == 0, err
    assert audit_actors(err) == {"cli:alice"}
    history = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))["changes"]
    assert {c["actor"] for c in history} == {"cli:alice"}  # reconcile's pause and the override's


def test_without_a_login_name_the_actor_is_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    def nobody() -> str:
        raise KeyError("getpwuid(): uid not found")

    monkeypatch.setattr(getpass, "getuser", nobody)
    assert cli.cli_actor() == "cli"
    monkeypatch.setattr(getpass, "getuser", lambda: "bob")
    assert cli.cli_actor() == "cli:bob"

"""The operator's tool as a new user meets it (issue 10): every documented command runs as
written, and its output neither breaks scripts nor misleads. Against the emulator, in process."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from ciqueue.cli import main as cli
from ciqueue.constants import (
    ENV_CONFIG,
    ENV_ENDPOINT,
    ENV_REGION,
    ENV_SECRET_ID,
    ENV_SECRET_KEY,
    ENV_SESSION_TOKEN,
    ENV_STATE_BUCKET,
    ENV_STATE_FILE,
)
from ciqueue.emulator.server import EmulatorServer
from conftest import EmuAdmin, cli_run

BUCKET, REGION = "night-1250000000", "ap-guangzhou"
QUEUE = "p" + "a" * 32
# After the emulator seeded the queue (real time), so no manual change seems to follow the edge.
NIGHT_OPENS = "2030-03-05T02:00:00+08:00"
SCHEDULE = f"""
version: 1
timezone: Asia/Shanghai
targets:
  all: {{bucket: {BUCKET}, region: {REGION}, kind: pic, queue_ids: [{QUEUE}]}}
windows:
  - {{name: nightly, targets: [all], start: "0 0 2 * * * *", duration: 2h}}
"""


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No credentials, endpoint, config or state settings: a new user's shell. Returns a temp dir."""
    for name in (
        ENV_SECRET_ID,
        ENV_SECRET_KEY,
        ENV_SESSION_TOKEN,
        ENV_ENDPOINT,
        ENV_CONFIG,
        ENV_STATE_BUCKET,
        ENV_STATE_FILE,
        ENV_REGION,
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


@pytest.fixture
def night(emulator: EmulatorServer, emu_admin: EmuAdmin, clean_env: Path) -> Path:
    """One pic queue in the emulator and a schedule file naming it; returns the file."""
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
    path = clean_env / "schedule.yaml"
    path.write_text(SCHEDULE, encoding="utf-8")
    return path


run = cli_run


# -- commands that fail as written -----------------------------------------------------------------


def test_invoke_against_an_endpoint_uses_the_demo_key_pair_when_none_is_set(
    night: Path, emulator: EmulatorServer, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        "invoke",
        "scheduler",
        "--sample",
        "timer",
        "--endpoint",
        emulator.endpoint,
        "--config",
        str(night),
        "--now",
        NIGHT_OPENS,
    )

    assert code == 0, err
    assert json.loads(out)["ok"] is True, out
    assert "CredentialsMissing" not in out + err
    assert emu_admin.queue(QUEUE)["State"] == "Paused"
    assert ENV_SECRET_ID not in os.environ  # the demo pair was scoped to the invocation


def test_invoke_without_an_endpoint_still_needs_real_credentials(
    night: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "invoke", "scheduler", "--sample", "timer", "--config", str(night))

    assert code == 0
    assert json.loads(out)["error"]["code"] == "CredentialsMissing"


# -- state where the user can see it, temp files cleaned up ----------------------------------------


def test_local_tools_keep_state_per_user_and_scf_in_tmp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ciqueue.app.runtime import Runtime
    from ciqueue.state.location import location_from_env

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    xdg = {"XDG_STATE_HOME": str(tmp_path / "xdg")}

    assert location_from_env(xdg).path == str(tmp_path / "xdg" / "ciqueue" / "state.json")
    assert location_from_env({}).path == str(tmp_path / "home" / ".local/state/ciqueue/state.json")
    assert location_from_env({"XDG_STATE_HOME": "relative/dir"}).path == str(
        tmp_path / "home" / ".local/state/ciqueue/state.json"
    )  # the XDG spec ignores a relative value
    assert location_from_env({**xdg, "TENCENTCLOUD_RUNENV": "SCF"}).path == "/tmp/ciqueue-state.json"
    runtime = Runtime.from_env(xdg, config=None)
    assert str(getattr(runtime.state, "path", "")) == str(tmp_path / "xdg" / "ciqueue" / "state.json")


def test_ciqueue_local_removes_the_token_and_state_files_it_made(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tempfile

    from ciqueue.dev.stack import LocalStack

    scratch = clean_env / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    steps: list[int] = []

    def step_then_stop(self: LocalStack) -> list[Any]:
        steps.append(1)
        assert sorted(p.name.split("-")[2] for p in scratch.iterdir()) == ["token"]  # made, in use
        raise KeyboardInterrupt

    monkeypatch.setattr(LocalStack, "step", step_then_stop)

    code, out, err = run(capsys, "local", "--port", "0", "--http-port", "0")

    assert (code, err, steps) == (0, "", [1])
    assert "bearer token for it" in out
    assert list(scratch.iterdir()) == []  # the token file and the temporary state file are gone


@pytest.mark.parametrize("command", ["emulator", "local"])
@pytest.mark.parametrize("port", ["99999", "-1", "x"])
def test_a_port_out_of_range_is_one_usage_error(
    command: str, port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--port", port])
    err = capsys.readouterr().err

    assert exit_.value.code == 2
    assert "Traceback" not in err
    assert f"argument --port: must be a port from 0 (any free one) to 65535 (got '{port}')" in err


def test_local_names_the_port_another_process_holds(
    emulator: EmulatorServer, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "local", "--port", str(emulator.port), "--http-port", "0")

    assert code == 2
    assert err == (
        f"error: --port: 127.0.0.1:{emulator.port} is in use (another ciqueue emulator or local?): "
        "stop it, or pass --port N (0 = any free port)\n"
    )


# -- output that breaks scripts or misleads ---------------------------------------------------------

WIDE_OPEN = f"""
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
def demo_keys(emulator: EmulatorServer, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY

    monkeypatch.setenv(ENV_SECRET_ID, DEMO_SECRET_ID)
    monkeypatch.setenv(ENV_SECRET_KEY, DEMO_SECRET_KEY)
    monkeypatch.setenv(ENV_ENDPOINT, emulator.endpoint)
    return emulator


def test_reconcile_json_is_one_document_when_it_changes_something(
    night: Path, demo_keys: EmulatorServer, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    night.write_text(WIDE_OPEN, encoding="utf-8")

    code, out, err = run(capsys, "reconcile", "--config", str(night), "--json")

    assert code == 0, err
    report = json.loads(out)  # the whole of stdout is the report
    assert [o["action"] for o in report["operations"]] == ["pause"]
    assert emu_admin.queue(QUEUE)["State"] == "Paused"
    audit = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert "queue.paused" in [a["event"] for a in audit]  # the audit trail went to stderr


def test_plan_queues_that_reads_no_queue_fails_and_says_so_once(
    demo_keys: EmulatorServer, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = clean_env / "schedule.yaml"
    config.write_text(SCHEDULE, encoding="utf-8")  # its bucket does not exist in the emulator

    code, out, err = run(capsys, "plan", "--config", str(config), "--queues")

    assert code == 1
    assert out == ""  # no "(no transitions)": there is no plan without the queues
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: could not read {BUCKET}/{REGION}/pic: ")


def test_a_dry_run_says_it_would_change_what_it_would_change(
    night: Path, demo_keys: EmulatorServer, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["--bucket", BUCKET, "--region", REGION, "--json"]
    code, out, _ = run(capsys, "queues", "pause", QUEUE, *where, "--dry-run")
    preview = json.loads(out)
    assert (code, preview["changed"], preview["would_change"]) == (0, False, True)
    assert emu_admin.queue(QUEUE)["State"] == "Active"

    code, out, _ = run(capsys, "queues", "pause", QUEUE, *where)
    assert (json.loads(out)["changed"], json.loads(out)["would_change"]) == (True, True)
    code, out, _ = run(capsys, "queues", "pause", QUEUE, *where, "--dry-run")
    assert (json.loads(out)["changed"], json.loads(out)["would_change"]) == (False, False)


def test_a_failed_connection_names_the_endpoint_it_went_to_and_the_host(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY

    monkeypatch.setenv(ENV_SECRET_ID, DEMO_SECRET_ID)
    monkeypatch.setenv(ENV_SECRET_KEY, DEMO_SECRET_KEY)
    with socket.socket() as spare:  # a port nothing listens on
        spare.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{spare.getsockname()[1]}"
    code, _, err = run(capsys, "--endpoint", closed, "queues", "list", "--bucket", BUCKET, "--region", REGION)

    assert code == 1
    assert f"to {BUCKET}.ci.{REGION}.myqcloud.com via {closed} failed" in err


def test_package_refuses_a_config_that_config_check_rejects(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = clean_env / "bad.yaml"
    bad.write_text(SCHEDULE.replace("duration: 2h", "duration: 2 hours"), encoding="utf-8")
    out_dir = clean_env / "dist"

    check = run(capsys, "config", "check", str(bad))
    code, out, err = run(capsys, "package", "--skip-layer", "--config", str(bad), "--out", str(out_dir))

    assert check[0] == 2
    assert (code, out, err) == (2, "", check[2])  # the same lines as config check
    assert not out_dir.exists()  # nothing a deploy could pick up


# -- --now: rehearsals at a chosen instant ---------------------------------------------------------


def test_reconcile_now_decides_at_that_instant(
    night: Path, demo_keys: EmulatorServer, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "reconcile", "--config", str(night), "--now", "2030-03-05T02:30:00+08:00", "--json"
    )

    assert code == 0, err
    report = json.loads(out)
    assert report["now"] == "2030-03-04T18:30:00+00:00"
    assert [o["action"] for o in report["operations"]] == ["pause"]  # inside the nightly window
    assert emu_admin.queue(QUEUE)["State"] == "Paused"


def test_plan_now_starts_the_plan_there(night: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "plan", "--config", str(night), "--now", "2030-03-05T01:00Z", "--days", "1", "--json"
    )

    assert code == 0, err
    plan = json.loads(out)
    assert plan["from"] == "2030-03-05T01:00:00+00:00"
    assert [(t["at"], t["change"]) for t in plan["transitions"]] == [
        ("2030-03-05T18:00:00+00:00", "pause"),
        ("2030-03-05T20:00:00+00:00", "resume"),
    ]


def test_plan_shows_a_stored_override_until_it_ends_then_the_schedule(
    night: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import datetime, timezone

    from ciqueue.state.document import StateDocument, add_override, new_override

    made = datetime(2030, 3, 5, 1, 0, tzinfo=timezone.utc)  # 09:00 CST, the window closed
    pin = new_override(
        bucket=BUCKET,
        region=REGION,
        kind="pic",
        queue_id=QUEUE,
        state="Paused",
        now=made,
        reason="disk swap",
        actor="token:oncall",
        expires_at=datetime(2030, 3, 5, 3, 0, tzinfo=timezone.utc),
        override_id="o-disk",
    )
    state = clean_env / "state.json"
    state.write_bytes(add_override(StateDocument(), pin).to_json())
    monkeypatch.setenv(ENV_STATE_FILE, str(state))
    key = f"{BUCKET}/{REGION}/pic/{QUEUE}"

    code, out, err = run(capsys, "plan", "--config", str(night), "--now", "2030-03-05T01:00Z", "--days", "1")

    assert code == 0, err
    lines = out.splitlines()
    assert "o-disk" in lines[1] and key in lines[1]
    assert lines[1].startswith("2030-03-05 Tue 11:00 CST")
    assert lines[1].endswith(
        "override o-disk by token:oncall ('disk swap') ends; the schedule takes it back: no window is "
        "open (next: window 'nightly' opens 2030-03-06 02:00 CST)"
    )
    code, out, err = run(
        capsys, "plan", "--config", str(night), "--now", "2030-03-05T01:00Z", "--days", "1", "--json"
    )
    assert code == 0, err
    assert [(t["at"], t["target"], t["change"], t["source"]) for t in json.loads(out)["transitions"]] == [
        ("2030-03-05T03:00:00+00:00", key, "resume", "o-disk"),
        ("2030-03-05T18:00:00+00:00", "all", "pause", "nightly"),
        ("2030-03-05T18:00:00+00:00", key, "pause", "nightly"),
        ("2030-03-05T20:00:00+00:00", "all", "resume", "nightly"),
        ("2030-03-05T20:00:00+00:00", key, "resume", "nightly"),
    ]


@pytest.mark.parametrize("command", ["plan", "reconcile"])
@pytest.mark.parametrize("value", ["tomorrow", "2030-03-05T02:30"])
def test_a_bad_now_is_one_usage_error_naming_it_and_sends_nothing(
    night: Path,
    demo_keys: EmulatorServer,
    emu_admin: EmuAdmin,
    capsys: pytest.CaptureFixture[str],
    command: str,
    value: str,
) -> None:
    emu_admin.clear_requests()

    code, out, err = run(capsys, command, "--config", str(night), "--now", value)

    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"{night}: --now: must be an ISO time with a UTC offset, e.g. 2026-03-01T02:00:00Z (got {value!r})"
    ]
    assert emu_admin.requests() == []
    assert emu_admin.queue(QUEUE)["State"] == "Active"


def test_reconcile_without_now_still_follows_ciqueue_now(
    night: Path,
    demo_keys: EmulatorServer,
    emu_admin: EmuAdmin,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CIQUEUE_NOW", "2030-03-05T02:30:00+08:00")

    code, out, err = run(capsys, "reconcile", "--config", str(night), "--json")

    assert code == 0, err
    assert json.loads(out)["now"] == "2030-03-04T18:30:00+00:00"
    assert emu_admin.queue(QUEUE)["State"] == "Paused"


# -- status ------------------------------------------------------------------------------------------


def test_status_says_state_why_until_and_next_for_each_queue(
    night: Path, demo_keys: EmulatorServer, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    emu_admin.clear_requests()
    code, out, err = run(capsys, "status", "--config", str(night), "--now", "2030-03-05T09:00:00+08:00")

    assert (code, err) == (0, "")
    assert (
        out.splitlines()[:5]
        == [
            f"q  {BUCKET}/{REGION}/pic/{QUEUE}",
            "  state     Active (the schedule wants Active)",
            "  why       [window] window 'nightly' closed at 04:00 CST; resuming (at the next tick)",
            "  until     2030-03-06 Wed 02:00 CST",
            "  next      at the next tick resume: window 'nightly' closed at 04:00 CST; resuming",
        ]
        or out
    )
    assert all(r["method"] == "GET" for r in emu_admin.requests())  # status changes nothing


def test_status_json_is_one_document_and_names_queues_by_id_or_key(
    night: Path, demo_keys: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    key = f"{BUCKET}/{REGION}/pic/{QUEUE}"
    for chosen in (QUEUE, key):
        code, out, err = run(
            capsys, "status", "--config", str(night), chosen, "--json", "--now", "2030-03-05T02:30:00+08:00"
        )
        assert code == 0, err
        report = json.loads(out)
        [queue] = report["queues"]
        assert (queue["queue"], queue["state"], queue["wanted"]) == (key, "Active", "Paused")
        assert queue["next_change"]["at"] is None and queue["next_change"]["change"] == "pause"
        assert queue["until"] == "2030-03-04T20:00:00+00:00"


def test_status_bad_input_is_exit_2_and_an_unknown_queue_exit_1(
    night: Path, demo_keys: EmulatorServer, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    emu_admin.clear_requests()
    code, out, err = run(capsys, "status", "--config", str(night), "no such id!")
    assert (code, out) == (2, "") and err.startswith("error: QUEUE: ")
    assert emu_admin.requests() == []
    other = "p" + "b" * 32
    code, out, err = run(capsys, "status", "--config", str(night), other, "--json")
    assert code == 1
    assert json.loads(out)["errors"] == [
        {
            "queue": other,
            "scope": None,
            "code": "QueueNotFound",
            "message": "no queue the config covers has this id",
        }
    ]


def test_status_reports_a_scope_that_cannot_be_read_and_exits_1(
    night: Path, demo_keys: EmulatorServer, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    emu_admin.faults(next={"count": 10, "status": 403, "code": "AccessDenied"})
    code, out, _ = run(capsys, "status", "--config", str(night), "--json")
    emu_admin.clear_faults()
    assert code == 1
    report = json.loads(out)
    assert report["queues"] == []
    assert [(e["scope"], e["code"]) for e in report["errors"]] == [(f"{BUCKET}/{REGION}/pic", "AccessDenied")]

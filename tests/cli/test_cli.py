"""The ``ciqueue`` command against the emulator: exit codes, one-line errors, tables and JSON."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ciqueue.cli import main as cli
from ciqueue.constants import (
    DEMO_SECRET_ID,
    DEMO_SECRET_KEY,
    ENV_ENDPOINT,
    ENV_REGION,
    ENV_SECRET_ID,
    ENV_SECRET_KEY,
    ENV_SESSION_TOKEN,
)
from ciqueue.emulator.server import EmulatorServer
from conftest import (
    DEMO_BUCKET,
    DEMO_NOTIFY,
    DEMO_REGION,
    PIC_CALLBACK_ID,
    PIC_DEFAULT_ID,
    PIC_PAUSED_ID,
    EmuAdmin,
    cli_run,
    demo_seed,
)

WHERE = ["--bucket", DEMO_BUCKET, "--region", DEMO_REGION]
MISSING_ID = "p" + "f" * 32
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    monkeypatch.setenv(ENV_SECRET_ID, DEMO_SECRET_ID)
    monkeypatch.setenv(ENV_SECRET_KEY, DEMO_SECRET_KEY)
    monkeypatch.delenv(ENV_SESSION_TOKEN, raising=False)
    monkeypatch.setenv(ENV_ENDPOINT, emulator.endpoint)
    monkeypatch.delenv(ENV_REGION, raising=False)
    return emulator


run = cli_run


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# -- list and show ---------------------------------------------------------------------------------


def test_list_prints_an_aligned_table(env: Any, demo_bucket: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "queues", "list", *WHERE)

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert re.match(r"^QUEUE ID +NAME +STATE +CALLBACK +UPDATED$", lines[0])
    assert len(lines) == 4
    columns = [lines[0].index(h) for h in ("NAME", "STATE", "CALLBACK", "UPDATED")]
    rows = {line.split()[0]: line for line in lines[1:]}
    callback = rows[PIC_CALLBACK_ID]
    assert [callback[c - 2 : c] for c in columns] == ["  "] * 4  # every row aligned under the headers
    assert callback[columns[0] :].startswith("pic-callback ")
    assert callback[columns[1] :].startswith("Active ")
    assert callback[columns[2] :].startswith(f"Url {DEMO_NOTIFY['Url']} (TaskFinish, JSON) ")
    assert rows[PIC_DEFAULT_ID][columns[2] :].startswith("off ")
    assert rows[PIC_PAUSED_ID][columns[1] :].startswith("Paused ")


def test_list_filters_by_state_as_json(
    env: Any, demo_bucket: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "queues", "list", *WHERE, "--state", "Paused", "--json")

    data = json.loads(out)
    assert code == 0
    assert data["kind"] == "pic"
    assert [q["QueueId"] for q in data["queues"]] == [PIC_PAUSED_ID]
    assert data["queues"][0]["State"] == "Paused"
    assert len(data["request_ids"]) == 1 and data["request_ids"][0]


def test_list_of_another_kind(env: Any, demo_bucket: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "queues", "list", *WHERE, "--kind", "media", "--json")

    assert code == 0
    # CI lists media queues of category Transcoding unless asked otherwise: media-speed is not shown.
    assert [q["Name"] for q in json.loads(out)["queues"]] == ["media-1"]


def test_show_json_keeps_extras(env: Any, demo_bucket: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "queues", "show", PIC_CALLBACK_ID, *WHERE, "--json")

    queue = json.loads(out)["queue"]
    assert code == 0
    assert queue["QueueId"] == PIC_CALLBACK_ID and queue["SomeNewElement"] == "v"
    assert queue["NotifyConfig"]["Url"] == DEMO_NOTIFY["Url"]
    assert queue["MaxSize"] == 10000


def test_show_text(env: Any, demo_bucket: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "queues", "show", PIC_CALLBACK_ID, *WHERE)

    assert code == 0
    assert re.search(r"^Name +pic-callback$", out, re.M)
    assert re.search(rf"^Callback +Url {re.escape(DEMO_NOTIFY['Url'])} \(TaskFinish, JSON\)$", out, re.M)
    assert re.search(r"^SomeNewElement +v$", out, re.M)


# -- pause, resume, set-callback -------------------------------------------------------------------


def test_pause_then_pause_again(
    env: Any, demo_bucket: Any, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "queues", "pause", PIC_CALLBACK_ID, *WHERE)

    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"pause pic queue {PIC_CALLBACK_ID}: written and verified"
    assert out.splitlines()[1] == "  State  Active → Paused"
    assert emu_admin.queue(PIC_CALLBACK_ID)["State"] == "Paused"

    emu_admin.clear_requests()
    code, out, _ = run(capsys, "queues", "pause", PIC_CALLBACK_ID, *WHERE)
    assert code == 0
    assert out.splitlines()[0] == f"pause pic queue {PIC_CALLBACK_ID}: already Paused; nothing written"
    assert [e["method"] for e in emu_admin.requests()] == ["GET"]


def test_resume_json(
    env: Any, demo_bucket: Any, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "queues", "resume", PIC_PAUSED_ID, *WHERE, "--json")

    data = json.loads(out)
    assert code == 0
    assert data["action"] == "resume" and data["changed"] is True and data["dry_run"] is False
    assert data["diff"] == [{"field": "State", "before": "Paused", "after": "Active"}]
    assert data["actor"] == cli.cli_actor() and len(data["request_ids"]) == 3
    assert emu_admin.queue(PIC_PAUSED_ID)["State"] == "Active"


def test_dry_run_writes_nothing(
    env: Any, demo_bucket: Any, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    before = emu_admin.queue(PIC_CALLBACK_ID)
    code, out, _ = run(capsys, "queues", "pause", PIC_CALLBACK_ID, *WHERE, "--dry-run")

    assert code == 0
    assert out.splitlines()[:2] == [
        f"pause pic queue {PIC_CALLBACK_ID}: dry run, nothing written; a real run would change",
        "  State  Active → Paused",
    ]
    assert emu_admin.queue(PIC_CALLBACK_ID) == before
    assert "PUT" not in [e["method"] for e in emu_admin.requests()]


def test_set_callback_url(
    env: Any, demo_bucket: Any, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "https://standby.example.com/ci-callback"
    code, out, _ = run(
        capsys, "queues", "set-callback", PIC_PAUSED_ID, *WHERE, "--url", url, "--format", "XML"
    )

    assert code == 0
    stored = emu_admin.queue(PIC_PAUSED_ID)
    assert stored["State"] == "Paused"
    assert stored["NotifyConfig"] == {
        "State": "On",
        "Type": "Url",
        "Url": url,
        "Event": "TaskFinish",
        "ResultFormat": "XML",
    }
    assert f"  NotifyConfig.Url           (none) → {url}" in out.splitlines()


def test_set_callback_on_a_doc_queue_sends_no_result_format_and_refuses_one(
    env: Any, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    doc_id = "p" + "d0c" * 10 + "00"
    emu_admin.seed(
        [
            {
                "bucket": DEMO_BUCKET,
                "region": DEMO_REGION,
                "kinds": ["doc"],
                "queues": [{"kind": "doc", "queue_id": doc_id}],
            }
        ]
    )
    url = "https://hooks.example.com/doc"
    doc = [*WHERE, "--kind", "doc", "--url", url]
    emu_admin.clear_requests()

    code, _, err = run(capsys, "queues", "set-callback", doc_id, *doc, "--format", "JSON")
    assert (code, one_error_line(err)) == (
        2,
        "error: NotifyConfig.ResultFormat: doc queues take no ResultFormat",
    )
    assert emu_admin.requests() == []

    code, _, _ = run(capsys, "queues", "set-callback", doc_id, *doc)  # --format's JSON default is pic's
    assert code == 0
    assert emu_admin.queue(doc_id)["NotifyConfig"] == {
        "Url": url,
        "Event": "TaskFinish",
        "Type": "Url",
        "State": "On",
    }


def test_set_callback_tdmq_and_off(
    env: Any, demo_bucket: Any, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--tdmq-mode", "Topic", "--tdmq-region", "gz", "--tdmq-name", "ci-events", "--json"]
    code, out, _ = run(capsys, "queues", "set-callback", PIC_CALLBACK_ID, *WHERE, *args)
    assert code == 0
    assert json.loads(out)["after"]["NotifyConfig"]["MqName"] == "ci-events"

    code, out, _ = run(capsys, "queues", "set-callback", PIC_CALLBACK_ID, *WHERE, "--off", "--json")
    assert code == 0
    assert json.loads(out)["diff"] == [{"field": "NotifyConfig.State", "before": "On", "after": "Off"}]
    assert json.loads(out)["action"] == "set_callback"  # the HTTP API's and the command schema's name
    stored = emu_admin.queue(PIC_CALLBACK_ID)["NotifyConfig"]
    assert stored["State"] == "Off" and stored["MqName"] == "ci-events"  # kept for turning it on again

    code, out, _ = run(capsys, "queues", "list", *WHERE)
    assert re.search(rf"^{PIC_CALLBACK_ID} +pic-callback +Active +off ", out, re.M)


# -- errors ----------------------------------------------------------------------------------------


def test_unknown_queue_is_one_line_with_request_id(
    env: Any, demo_bucket: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "queues", "pause", MISSING_ID, *WHERE)

    assert (code, out) == (1, "")
    assert re.fullmatch(
        rf"error: QueueNotFound: queue {MISSING_ID} does not exist \[RequestId: [A-Za-z0-9=]+\]",
        one_error_line(err),
    )


@pytest.mark.parametrize("action", ["show", "pause", "resume"])
def test_a_malformed_queue_id_is_bad_input_and_nothing_is_sent(
    action: str, env: Any, demo_bucket: Any, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    emu_admin.clear_requests()
    code, out, err = run(capsys, "queues", action, "p123", *WHERE)

    assert (code, out) == (2, "")
    assert one_error_line(err) == (
        "error: queue_id: must be a queue id: a lowercase letter and 32 lowercase hex digits, "
        "e.g. p8366c460c67b4c65a9bf81b41eaa3c4b (got 'p123')"
    )
    assert emu_admin.requests() == []


def test_service_error_names_code_and_request_id(
    env: Any, demo_bucket: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "queues", "list", *WHERE, "--kind", "doc")

    assert code == 1
    assert re.fullmatch(
        r"error: DocBucketUnBinded \(HTTP 400\): .+ \[RequestId: [A-Za-z0-9=]+\]", one_error_line(err)
    )


def test_concurrent_change_is_one_line_naming_the_field(
    env: Any, demo_bucket: Any, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    emu_admin.faults(mutate_after_put={"queue_id": PIC_CALLBACK_ID, "set": {"Name": "changed-by-someone"}})
    code, out, err = run(capsys, "queues", "pause", PIC_CALLBACK_ID, *WHERE)

    verify_id = emu_admin.requests()[-1]["request_id"]
    assert (code, out) == (1, "")
    assert one_error_line(err) == (
        f"error: Conflict: queue {PIC_CALLBACK_ID} changed concurrently: "
        f"Name is 'changed-by-someone', we wrote 'pic-callback' [RequestId: {verify_id}]"
    )


def test_unreachable_endpoint_is_one_line(
    env: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_ENDPOINT, "http://127.0.0.1:9")  # discard port: connection refused
    code, _, err = run(capsys, "queues", "list", *WHERE)

    assert code == 1
    assert re.fullmatch(r"error: .*TransportError.*|error: .+ \[RequestId: -\]", one_error_line(err))


def test_cli_bad_endpoint_is_one_usage_line(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An endpoint that is no URL is bad input: exit 2 and one line naming the field.
    monkeypatch.setenv(ENV_SECRET_ID, DEMO_SECRET_ID)
    monkeypatch.setenv(ENV_SECRET_KEY, DEMO_SECRET_KEY)
    monkeypatch.delenv(ENV_SESSION_TOKEN, raising=False)
    monkeypatch.delenv(ENV_REGION, raising=False)
    monkeypatch.setenv(ENV_ENDPOINT, "http://[::1")
    code = cli.main(["queues", "list", "--bucket", DEMO_BUCKET, "--region", DEMO_REGION])
    assert (code, capsys.readouterr().err) == (
        2,
        "error: endpoint: must be an http(s) URL such as http://127.0.0.1:9000\n",
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["queues", "list", *WHERE, "--kind", "video"],
            "error: kind: must be one of pic, media, doc, asr, ai, file",
        ),
        (["queues", "list", *WHERE, "--state", "Stopped"], "error: --state: must be one of Active, Paused"),
        (
            ["queues", "set-callback", PIC_CALLBACK_ID, *WHERE, "--url", "http://10.0.0.8/cb"],
            "error: NotifyConfig.Url: must not be a private-network address",
        ),
        (
            ["queues", "set-callback", PIC_CALLBACK_ID, *WHERE, "--url", "https://a.example.com", "--off"],
            "error: argument --off: not allowed with argument --url",
        ),
        (
            ["queues", "set-callback", PIC_CALLBACK_ID, *WHERE, "--off", "--format", "XML"],
            "error: --format: only goes with --url",
        ),
        (
            ["queues", "set-callback", PIC_CALLBACK_ID, *WHERE, "--off", "--event", "TaskFinish"],
            "error: --event: only goes with --url or --tdmq-mode",
        ),
        (
            [
                "queues",
                "set-callback",
                PIC_CALLBACK_ID,
                *WHERE,
                "--url",
                "https://a.example.com",
                "--event",
                "Done",
            ],
            "error: NotifyConfig.Event: must list only TaskFinish and WorkflowFinish",
        ),
        (
            [
                "queues",
                "set-callback",
                PIC_CALLBACK_ID,
                *WHERE,
                "--tdmq-mode",
                "Fanout",
                "--tdmq-region",
                "gz",
            ],
            "error: NotifyConfig.MqName: is required when NotifyConfig.Type is TDMQ; "
            "NotifyConfig.MqMode: must be Queue or Topic (got 'Fanout')",
        ),
        (
            ["queues", "pause", PIC_CALLBACK_ID, "--bucket", "Bad_Bucket", "--region", DEMO_REGION],
            "error: bucket: must be <name>-<appid>",
        ),
        (
            # One DNS label of the host: the client used to send it on (ciqueue.ci.identifiers).
            ["queues", "pause", PIC_CALLBACK_ID, *WHERE[:3], "ap-" + "a" * 61],
            "error: region: must be a region such as ap-guangzhou",
        ),
        (
            ["queues", "pause", PIC_CALLBACK_ID, "--region", DEMO_REGION],
            "error: the following arguments are required: --bucket",
        ),
        (["queues", "pause", PIC_CALLBACK_ID, "--bucket", DEMO_BUCKET], "error: region: is required"),
        (["queues"], "error: command: choose one of"),
    ],
)
def test_bad_input_exits_2_naming_the_field_and_sends_nothing(
    env: Any,
    demo_bucket: Any,
    emu_admin: EmuAdmin,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    expected: str,
) -> None:
    emu_admin.clear_requests()
    before = emu_admin.state()

    code, out, err = run(capsys, *argv)

    assert (code, out) == (2, "")
    assert one_error_line(err).startswith(expected)
    assert emu_admin.requests() == []
    assert emu_admin.state() == before


def test_missing_credentials_exit_2(
    env: Any, demo_bucket: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(ENV_SECRET_KEY)
    code, _, err = run(capsys, "queues", "list", *WHERE)

    assert code == 2
    assert one_error_line(err).startswith(f"error: {ENV_SECRET_KEY}: must be set: credentials are read from")


def test_region_from_environment_and_endpoint_flag(
    env: EmulatorServer, demo_bucket: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_REGION, DEMO_REGION)
    monkeypatch.delenv(ENV_ENDPOINT)
    code, out, _ = run(
        capsys, "--endpoint", env.endpoint, "queues", "list", "--bucket", DEMO_BUCKET, "--json"
    )

    assert code == 0
    assert len(json.loads(out)["queues"]) == 3


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "queues", "set-callback", "--help")
    assert code == 0
    assert "--tdmq-mode" in out and "--off" in out


def test_python_dash_m_ciqueue(env: EmulatorServer, demo_bucket: Any) -> None:
    environment = {**os.environ, "PYTHONPATH": str(REPO / "shared")}
    done = subprocess.run(
        [sys.executable, "-m", "ciqueue", "queues", "list", *WHERE, "--state", "Paused"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert lines[0].startswith("QUEUE ID") and len(lines) == 2
    assert lines[1].startswith(f"{PIC_PAUSED_ID}  pic-paused")


def test_demo_runs_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    from ciqueue.dev import tour as demo

    environment = dict(os.environ)
    code = demo.run(cli.main)
    captured = capsys.readouterr()

    assert code == 0, captured.err
    assert captured.out.count("   ok: exit ") == 7
    assert "Demo complete: every step behaved as described." in captured.out
    assert "already Paused; nothing written" in captured.out
    assert captured.err.strip().startswith("error: NotifyConfig.Url: must not be a private-network address")
    assert dict(os.environ) == environment  # the demo key pair and endpoint were set only meanwhile


PLAN_SCHEDULE = f"""
version: 1
timezone: Asia/Shanghai
targets:
  pics: {{bucket: {DEMO_BUCKET}, region: {DEMO_REGION}, name_pattern: "*"}}
windows:
  - name: nightly
    targets: [pics]
    start: "0 0 2 * * * *"
    duration: 2h
"""
SVG = "{http://www.w3.org/2000/svg}"


def test_plan_svg_draws_the_table_s_horizon_into_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import xml.etree.ElementTree as ET

    path = tmp_path / "schedule.yaml"
    path.write_text(PLAN_SCHEDULE)
    picture = tmp_path / "week.svg"
    code, out, err = run(
        capsys,
        "plan",
        "--config",
        str(path),
        "--from",
        "2026-03-02T00:00",
        "--days",
        "7",
        "--svg",
        str(picture),
    )
    assert (code, err) == (0, f"wrote the timeline to {picture}\n")
    assert out.splitlines()[0].startswith("WHEN (Asia/Shanghai)")  # the table still prints
    text = picture.read_text(encoding="utf-8")
    assert "<!DOCTYPE" not in text
    root = ET.fromstring(text)
    assert [g.get("data-lane") for g in root.iter(f"{SVG}g") if g.get("class") == "lane"] == ["pics"]
    spans = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "paused"]
    assert len(spans) == 7 and spans[0].get("x") == "20.3"  # Mon 02:00 on a 7-day, 696-unit plot
    assert (root.findtext(f"{SVG}title") or "").endswith("CST (Asia/Shanghai)")


def test_plan_svg_per_queue_shows_the_stored_overrides(
    env: EmulatorServer,
    demo_bucket: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import xml.etree.ElementTree as ET
    from datetime import datetime, timedelta, timezone

    from ciqueue.state.document import StateDocument, add_override, new_override

    now = datetime.now(timezone.utc)
    pin = new_override(
        bucket=DEMO_BUCKET,
        region=DEMO_REGION,
        kind="pic",
        queue_id=PIC_DEFAULT_ID,
        state="Paused",
        now=now,
        reason="disk swap",
        actor="token:oncall",
        expires_at=now + timedelta(hours=2),
        override_id="o-cli",
    )
    state = tmp_path / "state.json"
    state.write_bytes(add_override(StateDocument(), pin).to_json())
    monkeypatch.setenv("CIQUEUE_STATE_FILE", str(state))
    path = tmp_path / "schedule.yaml"
    path.write_text(PLAN_SCHEDULE)
    picture = tmp_path / "week.svg"
    code, _, err = run(capsys, "plan", "--config", str(path), "--queues", "--svg", str(picture))
    assert (code, err) == (0, f"wrote the timeline to {picture}\n")
    root = ET.fromstring(picture.read_text(encoding="utf-8"))
    lanes = [g for g in root.iter(f"{SVG}g") if g.get("class") == "lane"]
    assert len(lanes) == 3  # the bucket's three pic queues
    pinned = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "override"]
    assert [(r.get("data-override"), r.get("data-state")) for r in pinned] == [("o-cli", "Paused")]
    owner = next(g for g in lanes if g.find(f"{SVG}rect[@class='override']") is not None)
    assert owner.get("data-lane") == f"{DEMO_BUCKET}/{DEMO_REGION}/pic/{PIC_DEFAULT_ID}"


def test_plan_svg_to_an_unwritable_place_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "schedule.yaml"
    path.write_text(PLAN_SCHEDULE)
    target = tmp_path / "missing-dir" / "week.svg"
    code, out, err = run(capsys, "plan", "--config", str(path), "--svg", str(target))
    assert (code, out) == (2, "")  # nothing half done: no table either
    assert err == f"{path}: --svg: cannot write {str(target)!r} (No such file or directory)\n"


def test_cli_tables_and_json_show_callback_queries_redacted(
    env: Any, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = demo_seed()
    for queue in seed[0]["queues"]:
        if "notify_config" in queue:
            queue["notify_config"]["Url"] = "https://cb.example.com/ci?token=s3cret-callback-token"
    emu_admin.seed(seed)
    shown = "https://cb.example.com/ci?token=***"
    outputs = [
        run(capsys, "queues", "list", *WHERE),
        run(capsys, "queues", "list", *WHERE, "--json"),
        run(capsys, "queues", "show", PIC_CALLBACK_ID, *WHERE),
        run(capsys, "queues", "show", PIC_CALLBACK_ID, *WHERE, "--json"),
        run(
            capsys,
            "queues",
            "set-callback",
            PIC_DEFAULT_ID,
            *WHERE,
            "--url",
            "https://cb.example.com/ci?token=s3cret-callback-token",
        ),
    ]
    for code, out, err in outputs:
        assert code == 0, err
        assert shown in out
        assert "s3cret-callback-token" not in out + err
    listed = json.loads(outputs[1][1])
    assert {(q["NotifyConfig"] or {}).get("Url") for q in listed["queues"]} - {None} == {shown}

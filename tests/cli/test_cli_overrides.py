"""Overrides from the command line (issue 10): ``queues pause|resume --for/--until/--reason``,
``overrides list`` and ``overrides cancel``, against the emulator over real HTTP, in process.

What is asserted: the override lands in the state file the functions and ``reconcile`` read,
``reconcile`` keeps the queue pinned through a window's edge, a cancel hands the queue back to the
schedule (at the next reconcile without a config, at once with one), the HTTP API's
``GET /overrides`` sees what the CLI made (one store), and bad input is one exact stderr line, exit
2, nothing sent and nothing stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ciqueue.api.auth import hash_token
from ciqueue.constants import (
    DEMO_SECRET_ID,
    DEMO_SECRET_KEY,
    ENV_CONFIG,
    ENV_ENDPOINT,
    ENV_NOW,
    ENV_SECRET_ID,
    ENV_SECRET_KEY,
    ENV_SESSION_TOKEN,
    ENV_STATE_BUCKET,
    ENV_STATE_FILE,
)
from ciqueue.emulator.server import EmulatorServer
from ciqueue.timefmt import DURATION_RULE
from conftest import EmuAdmin, cli_run, load_function

BUCKET, REGION = "night-1250000000", "ap-guangzhou"
QUEUE = "p" + "b" * 32
KEY = f"{BUCKET}/{REGION}/pic/{QUEUE}"
WHERE = ["--bucket", BUCKET, "--region", REGION]
TOKEN = "overrides-token-0123456789abcdef"
SCHEDULE = f"""
version: 1
timezone: Asia/Shanghai
targets:
  all: {{bucket: {BUCKET}, region: {REGION}, kind: pic, queue_ids: [{QUEUE}]}}
windows:
  - {{name: nightly, targets: [all], start: "0 0 2 * * * *", duration: 2h}}
"""
# Instants of one night in the schedule's zone (years ahead, after the emulator's real-time seed).
BEFORE = "2030-03-05T01:30:00+08:00"
OPENED = "2030-03-05T02:00:30+08:00"
LATER = "2030-03-05T02:05:00+08:00"


@pytest.fixture
def night(
    emulator: EmulatorServer, emu_admin: EmuAdmin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Path:
    """One Active pic queue, the demo key pair, a state file and a schedule file; returns the file
    (not set as CIQUEUE_CONFIG: each test says whether a command has a config)."""
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
    for name in (ENV_SESSION_TOKEN, ENV_CONFIG, ENV_STATE_BUCKET, "TENCENTCLOUD_RUNENV", "CIQUEUE_INVOKER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENV_SECRET_ID, DEMO_SECRET_ID)
    monkeypatch.setenv(ENV_SECRET_KEY, DEMO_SECRET_KEY)
    monkeypatch.setenv(ENV_ENDPOINT, emulator.endpoint)
    monkeypatch.setenv(ENV_STATE_FILE, str(tmp_path / "state.json"))
    monkeypatch.setenv(ENV_NOW, BEFORE)
    monkeypatch.setenv("LOGNAME", "alice")  # getpass.getuser() reads it first
    path = tmp_path / "schedule.yaml"
    path.write_text(SCHEDULE, encoding="utf-8")
    return path


run = cli_run


def stored(tmp_path: Path) -> dict[str, Any]:
    """The state document as the file holds it."""
    data: dict[str, Any] = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    return data


def overrides_of(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "state.json"
    return list(stored(tmp_path)["overrides"]) if path.exists() else []


# -- the override, the store, reconcile ------------------------------------------------------------


def test_a_cli_override_is_stored_pins_the_queue_through_a_window_edge_and_a_cancel_hands_it_back(
    night: Path,
    emu_admin: EmuAdmin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys,
        "queues",
        "resume",
        QUEUE,
        *WHERE,
        "--until",
        "2030-03-05T05:00:00+08:00",
        "--reason",
        "late batch",
    )

    assert code == 0, err
    [override] = overrides_of(tmp_path)
    assert {k: override[k] for k in ("bucket", "region", "kind", "queue_id", "state", "reason", "actor")} == {
        "bucket": BUCKET,
        "region": REGION,
        "kind": "pic",
        "queue_id": QUEUE,
        "state": "Active",
        "reason": "late batch",
        "actor": "cli:alice",
    }
    assert override["expires_at"] == "2030-03-04T21:00:00Z"
    assert out.splitlines()[0] == (
        f"override {override['id']} pins {KEY} Active until 2030-03-04 Mon 21:00 UTC (late batch)"
    )
    history = stored(tmp_path)["changes"]
    assert [(c["event"], c["actor"]) for c in history] == [("override.created", "cli:alice")]

    # The window opens at 02:00; the override wins, so reconcile leaves the queue Active.
    emu_admin.clear_requests()
    code, out, err = run(capsys, "reconcile", "--config", str(night), "--now", OPENED, "--json")

    assert code == 0, err
    report = json.loads(out)
    assert report["operations"] == []
    [decision] = [d for d in report["decisions"] if d["aspect"] == "state"]
    assert decision["action"] == "none"
    assert override["id"] in decision["reason"], decision
    assert emu_admin.queue(QUEUE)["State"] == "Active"
    assert emu_admin.put_paths() == []

    # Cancelled without a config: the override goes, the queue is left until the next reconcile.
    monkeypatch.setenv(ENV_NOW, OPENED)
    code, out, err = run(capsys, "overrides", "cancel", override["id"])

    assert code == 0, err
    assert out == (
        f"cancelled override {override['id']} (it pinned {KEY} Active)\n"
        "  no schedule config: the queue returns to the schedule at the next reconcile\n"
    )
    assert overrides_of(tmp_path) == []
    assert stored(tmp_path)["changes"][-1]["event"] == "override.cancelled"
    assert emu_admin.queue(QUEUE)["State"] == "Active"

    code, out, err = run(capsys, "reconcile", "--config", str(night), "--now", LATER)

    assert code == 0, err
    assert emu_admin.queue(QUEUE)["State"] == "Paused"  # back on the schedule: the window is open


def test_a_pause_for_a_while_holds_until_it_ends_then_the_schedule_takes_the_queue_back(
    night: Path, emu_admin: EmuAdmin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "queues", "pause", QUEUE, *WHERE, "--for", "2h", "--json")

    assert code == 0, err
    outcome = json.loads(out)  # stdout is one JSON document: the audit lines went to stderr
    assert outcome["ok"] is True and outcome["override"]["state"] == "Paused"
    assert outcome["override"]["expires_at"] == "2030-03-04T19:30:00+00:00"
    assert [r["changed"] for r in outcome["results"]] == [True]
    assert emu_admin.queue(QUEUE)["State"] == "Paused"

    # 01:45: the schedule wants Active (no window is open), the override keeps it Paused.
    code, out, err = run(capsys, "reconcile", "--config", str(night), "--now", "2030-03-05T01:45:00+08:00")
    assert code == 0, err
    assert emu_admin.queue(QUEUE)["State"] == "Paused"

    # 04:30: the override ended at 03:30 and the window closed at 04:00: resumed, override removed.
    code, out, err = run(capsys, "reconcile", "--config", str(night), "--now", "2030-03-05T04:30:00+08:00")
    assert code == 0, err
    assert emu_admin.queue(QUEUE)["State"] == "Active"
    assert overrides_of(tmp_path) == []


def test_cancel_with_a_config_reconciles_the_queue_at_once(
    night: Path, emu_admin: EmuAdmin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "queues", "pause", QUEUE, *WHERE, "--until", "cancelled", "--config", str(night)
    )
    assert code == 0, err
    [override] = overrides_of(tmp_path)
    assert override["expires_at"] is None
    assert emu_admin.queue(QUEUE)["State"] == "Paused"

    code, out, err = run(capsys, "overrides", "cancel", override["id"], "--config", str(night))

    assert code == 0, err
    assert out.splitlines()[0] == f"cancelled override {override['id']} (it pinned {KEY} Paused)"
    assert out.splitlines()[1].startswith("  reconciled now: resume (")
    assert emu_admin.queue(QUEUE)["State"] == "Active"  # 01:30: no window is open
    assert overrides_of(tmp_path) == []


def test_a_cancel_whose_reconcile_fails_says_both_and_exits_1(
    night: Path, emu_admin: EmuAdmin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "queues", "pause", QUEUE, *WHERE, "--for", "2h")
    assert code == 0, err
    [override] = overrides_of(tmp_path)
    emu_admin.faults(next={"count": 100, "status": 403, "code": "AccessDenied"})  # not retried

    code, out, err = run(capsys, "overrides", "cancel", override["id"], "--config", str(night))
    emu_admin.clear_faults()

    assert code == 1
    assert out == f"cancelled override {override['id']} (it pinned {KEY} Paused)\n"
    [line] = [line for line in err.splitlines() if not line.startswith("{")]  # audit lines are JSON
    assert line.startswith("error: ") and "AccessDenied" in line and "[RequestId: " in line, err
    assert overrides_of(tmp_path) == []  # the override is gone: the next reconcile resumes the queue
    assert emu_admin.queue(QUEUE)["State"] == "Paused"


def test_the_http_api_sees_the_cli_override_and_the_cli_lists_the_http_one(
    night: Path,
    emu_admin: EmuAdmin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tokens = [{"name": "oncall", "sha256": hash_token(TOKEN), "scopes": ["read", "operate"]}]
    monkeypatch.setenv("CIQUEUE_API_TOKENS", json.dumps(tokens))
    http = load_function("http_toggle")
    context = {"request_id": "ovr-1", "time_limit_in_ms": 30000, "function_name": "http"}

    def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        event = {
            "httpMethod": method,
            "path": path,
            "headers": {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
            "body": "" if body is None else json.dumps(body),
            "isBase64Encoded": False,
            "queryString": {},
        }
        response = http.main_handler(event, context)
        capsys.readouterr()  # the function's own audit lines (its stdout on SCF)
        return response["statusCode"], json.loads(response["body"])

    code, _, err = run(capsys, "queues", "pause", QUEUE, *WHERE, "--for", "1h", "--reason", "cli side")
    assert code == 0, err
    [mine] = overrides_of(tmp_path)

    status, reply = call("GET", "/overrides")
    assert status == 200, reply
    assert [(o["id"], o["actor"], o["reason"], o["key"]) for o in reply["overrides"]] == [
        (mine["id"], "cli:alice", "cli side", KEY)
    ]

    status, reply = call("POST", f"/queues/{KEY}/resume", {"for": "30m", "reason": "http side"})
    assert status == 200, reply
    theirs = reply["override"]["id"]

    code, out, err = run(capsys, "overrides", "list", "--config", str(night))

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "QUEUE", "PINS", "STATUS", "EXPIRES", "CREATED", "BY", "REASON"]
    rows = {line.split()[0]: line for line in lines[1:]}
    # One zone for the output, the config's, with its abbreviation.
    assert (
        "Paused  active  2030-03-05 Tue 02:30 CST  2030-03-05 Tue 01:30 CST  cli:alice     cli side"
        in rows[mine["id"]]
    )
    assert (
        "Active  active  2030-03-05 Tue 02:00 CST  2030-03-05 Tue 01:30 CST  token:oncall  http side"
        in rows[theirs]
    )

    # The CLI cancels what the HTTP API made (same store, same executor).
    code, _, err = run(capsys, "overrides", "cancel", theirs)
    assert code == 0, err
    status, reply = call("GET", "/overrides")
    assert [o["id"] for o in reply["overrides"]] == [mine["id"]]


def test_overrides_list_says_expired_and_filters_by_queue(
    night: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "queues", "pause", QUEUE, *WHERE, "--for", "30m")
    assert code == 0, err
    [override] = overrides_of(tmp_path)
    monkeypatch.setenv(ENV_NOW, "2030-03-05T02:30:00+08:00")

    code, out, err = run(capsys, "overrides", "list", "--json", "--queue", KEY)

    assert code == 0, err
    data = json.loads(out)
    assert [(o["id"], o["active"], o["expires_at"]) for o in data["overrides"]] == [
        (override["id"], False, "2030-03-04T18:00:00Z")
    ]
    assert data["timezone"] == "UTC"

    code, out, err = run(capsys, "overrides", "list", "--queue", "p" + "c" * 32)
    assert (code, err) == (0, "")
    assert out.splitlines()[1:] == ["(no overrides)"]


def test_a_plain_pause_stays_a_plain_change_and_stores_nothing(
    night: Path, emu_admin: EmuAdmin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "queues", "pause", QUEUE, *WHERE)

    assert code == 0, err
    assert out.startswith(f"pause pic queue {QUEUE}: written and verified")
    assert emu_admin.queue(QUEUE)["State"] == "Paused"
    assert not (tmp_path / "state.json").exists()


def test_a_reason_alone_is_a_one_off_change_recorded_as_the_http_api_records_it(
    night: Path, emu_admin: EmuAdmin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "queues", "pause", QUEUE, *WHERE, "--reason", "noisy neighbour")

    assert code == 0, err
    assert out.startswith(f"pause pic queue {QUEUE}: written and verified")
    assert emu_admin.queue(QUEUE)["State"] == "Paused"
    doc = stored(tmp_path)
    assert doc["overrides"] == []
    assert [(c["event"], c["actor"], c["reason"]) for c in doc["changes"]] == [
        ("queue.paused", "cli:alice", "noisy neighbour")
    ]


def test_the_same_id_names_the_same_override_so_a_retry_stores_it_once(
    night: Path,
    emu_admin: EmuAdmin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["queues", "pause", QUEUE, *WHERE, "--for", "2h", "--id", "maint-1", "--json"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    first = json.loads(out)["override"]
    emu_admin.clear_requests()
    monkeypatch.setenv(ENV_NOW, "2030-03-05T01:40:00+08:00")

    code, out, err = run(capsys, *argv)  # the retry of a command whose answer was lost

    assert code == 0, err
    again = json.loads(out)
    assert again["override"]["id"] == first["id"]
    assert again["override"]["expires_at"] == first["expires_at"]  # kept, not renewed
    assert [o["id"] for o in overrides_of(tmp_path)] == [first["id"]]
    assert [r["changed"] for r in again["results"]] == [False]
    assert emu_admin.put_paths() == []


# -- bad input: one exact line, exit 2, nothing sent, nothing stored -------------------------------

BAD = [
    pytest.param(["--for", "2 hours"], f"--for: {DURATION_RULE} (got '2 hours')", id="for-shape"),
    pytest.param(["--for", "0m"], "--for: must be longer than 0s (got '0m')", id="for-zero"),
    pytest.param(["--for", "8d"], "--for: must be at most 7d (got '8d')", id="for-too-long"),
    pytest.param(
        ["--until", "2030-03-05T06:00"],
        "--until: must carry a UTC offset, like +08:00 or Z (got '2030-03-05T06:00')",
        id="until-naive",
    ),
    pytest.param(
        ["--until", "2030-03-01T00:00:00Z"],
        "--until: must be in the future (got 2030-03-01T00:00:00+00:00)",
        id="until-past",
    ),
    pytest.param(["--until", "2030-03-20T00:00:00Z"], "--until: must be at most 7d ahead", id="until-far"),
    pytest.param(
        ["--for", "2h", "--until", "cancelled"],
        "--for: cannot be combined with until (give one of them)",
        id="for-and-until",
    ),
    pytest.param(
        ["--for", "2h", "--id", "two words"],
        "--id: must be 1-128 of letters, digits, _ . : - (got 'two words')",
        id="id-shape",
    ),
    pytest.param(
        ["--for", "2h", "--reason", "two\nlines"],
        "--reason: must not contain control characters (newlines, tabs)",
        id="reason-control",
    ),
]


@pytest.mark.parametrize(("options", "line"), BAD)
def test_bad_override_input_is_one_line_exit_2_and_changes_nothing(
    night: Path,
    emu_admin: EmuAdmin,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    line: str,
) -> None:
    emu_admin.clear_requests()

    code, out, err = run(capsys, "queues", "pause", QUEUE, *WHERE, *options)

    assert (code, out, err) == (2, "", f"error: {line}\n")
    assert emu_admin.requests() == []
    assert not (tmp_path / "state.json").exists()


@pytest.mark.parametrize(
    ("argv", "code", "line"),
    [
        pytest.param(
            ["overrides", "cancel", "bad id"],
            2,
            "error: override_id: must be 1-128 of letters, digits, _ . : - (got 'bad id')",
            id="cancel-malformed-id",
        ),
        pytest.param(
            ["overrides", "cancel", "o-000000000000"],
            1,
            "error: OverrideNotFound: override_id: no override has id 'o-000000000000' [RequestId: -]",
            id="cancel-unknown-id",
        ),
        pytest.param(
            ["overrides", "list", "--queue", "a/b"],
            2,
            "error: --queue: must be bucket/region/kind/queue_id or a queue id (got 'a/b')",
            id="list-queue-shape",
        ),
        pytest.param(
            ["overrides", "list", "--queue", f"{BUCKET}/{REGION}/video/{QUEUE}"],
            2,
            "error: --queue: kind: must be one of pic, media, doc, asr, ai, file (got 'video')",
            id="list-queue-kind",
        ),
        pytest.param(
            ["overrides"], 2, "error: command: choose one of overrides {list,cancel}", id="no-action"
        ),
    ],
)
def test_overrides_commands_refuse_bad_input_in_one_line(
    night: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, line: str
) -> None:
    assert run(capsys, *argv) == (code, "", line + "\n")


def test_an_override_without_credentials_is_bad_input_and_stores_nothing(
    night: Path,
    emu_admin: EmuAdmin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv(ENV_SECRET_ID)
    monkeypatch.delenv(ENV_SECRET_KEY)
    emu_admin.clear_requests()

    code, out, err = run(capsys, "queues", "pause", QUEUE, *WHERE, "--for", "2h")

    assert (code, out) == (2, "")
    assert err.startswith("error: ") and ENV_SECRET_ID in err and err.count("\n") == 1
    assert emu_admin.requests() == []
    assert not (tmp_path / "state.json").exists()


def test_an_unknown_queue_is_refused_before_any_override_is_stored(
    night: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = "p" + "e" * 32

    code, out, err = run(capsys, "queues", "pause", missing, *WHERE, "--for", "2h")

    assert (code, out) == (1, "")
    assert err.startswith(f"error: QueueNotFound: queue {missing} does not exist [RequestId: ")
    assert overrides_of(tmp_path) == []

"""A cold container pays only for what its path uses: each handler runs once in a fresh
interpreter (``PYTHONPATH`` as the layer gives it: ``shared/`` + the function's directory) with an
SCF-shaped event and context against the emulator, then reports which modules it loaded.

An explicit command needs no schedule, so neither the timer's pause nor the HTTP API's POST
pause may import ``ciqueue.schedule``, YAML, the reconcile tick or the console's Jinja2; and the
functions switch off pydantic's plugin scan (``PYDANTIC_DISABLE_PLUGINS``), which reads every
installed distribution's entry points on the first model, for the paths that still build one
(other event sources). A pause imports no pydantic at all: judging a command (its results are
dataclasses), the timer and Function URL envelopes, the state document and talking to CI (the
wire models are plain classes) are all hand-written. bench/bench_first_invocation.py measures
what this saves; this file keeps it from creeping back.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.dev.events import function_url_event
from ciqueue.emulator.server import EmulatorServer
from conftest import DEMO_BUCKET, DEMO_REGION, PIC_DEFAULT_ID, DemoBucket, EmuAdmin

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "lean-imports-token-" + "y" * 24
CONTEXT = {
    "request_id": "scf-req-lean",
    "time_limit_in_ms": 30000,
    "memory_limit_in_mb": 128,
    "function_name": "ciqueue-lean",
    "namespace": "default",
    "environ": "SCF_NAMESPACE=default",
}
# Loaded by none of the paths below: the schedule and its YAML, the tick, the console.
NEVER = ("ciqueue.schedule", "yaml", "ciqueue.app.reconcile", "ciqueue.api.ui", "jinja2")
# The envelope readers an HTTP request does not use (envelopes.detect imports each on its branch).
NOT_HTTP = tuple(f"ciqueue.envelopes.{name}" for name in ("timer", "cos", "cmq", "ckafka", "cls"))
# A pause (the timer's, the HTTP API's POST) imports no pydantic at all: the command is judged by
# hand (dataclasses), the timer and Function URL envelopes are read by hand, the wire models
# (ci.models, CI's replies) and the state document (its own stored JSON) are plain classes. The
# import alone was ~118 M instructions and the first model built ~90 M more (README, Benchmarks).
PYDANTIC = ("pydantic", "pydantic_core")
# What talks to CI (the wire models, the client, change_queue, the executor): no pydantic at all.
WIRE = ("ciqueue.ci.models", "ciqueue.ci.client", "ciqueue.ci.operations", "ciqueue.app.executor")
CHILD = """
import json, sys
given = json.loads(sys.stdin.read())
import index
result = index.main_handler(given["event"], given["context"])
import os
switch = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
print(json.dumps({"result": result, "modules": sorted(sys.modules), "plugins_switch": switch}))
"""


def run_cold(
    function: str, event: dict[str, Any], emulator: EmulatorServer, tmp_path: Path
) -> dict[str, Any]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CIQUEUE_", "TENCENTCLOUD_", "PYDANTIC_"))
    }
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(ROOT / "shared"), str(ROOT / "functions" / function)]),
            "TENCENTCLOUD_SECRETID": DEMO_SECRET_ID,
            "TENCENTCLOUD_SECRETKEY": DEMO_SECRET_KEY,
            "TENCENTCLOUD_REGION": DEMO_REGION,
            "CIQUEUE_ENDPOINT": emulator.endpoint,
            "CIQUEUE_STATE_FILE": str(tmp_path / "state.json"),
            "CIQUEUE_API_TOKENS": json.dumps(
                [
                    {
                        "name": "lean",
                        "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
                        "scopes": ["operate"],
                    }
                ]
            ),
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=json.dumps({"event": event, "context": CONTEXT}),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reply: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return reply


def loaded(reply: dict[str, Any], prefixes: tuple[str, ...]) -> list[str]:
    return [m for m in reply["modules"] if any(m == p or m.startswith(p + ".") for p in prefixes)]


def queue_ref() -> dict[str, str]:
    return {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kind": "pic", "queue_id": PIC_DEFAULT_ID}


@pytest.mark.usefixtures("demo_bucket")
def test_a_timer_pause_imports_no_schedule(
    emulator: EmulatorServer, emu_admin: EmuAdmin, tmp_path: Path
) -> None:
    message = json.dumps({"action": "pause", "queues": [queue_ref()], "reason": "lean"})
    event = {"Type": "Timer", "TriggerName": "pause-now", "Time": "2026-03-01T02:00:00Z", "Message": message}
    reply = run_cold("scheduler", event, emulator, tmp_path)
    assert reply["result"]["ok"] is True, reply["result"]
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"
    assert loaded(reply, NEVER) == []
    assert loaded(reply, PYDANTIC) == []
    assert reply["plugins_switch"] == "__all__"  # set by the handler for paths that do use pydantic


def test_a_posted_pause_imports_no_schedule(
    emulator: EmulatorServer, emu_admin: EmuAdmin, demo_bucket: DemoBucket, tmp_path: Path
) -> None:
    ref = queue_ref()
    event = function_url_event(
        "POST",
        f"/queues/{ref['bucket']}/{ref['region']}/pic/{ref['queue_id']}/pause",
        {},
        {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        json.dumps({"reason": "lean"}).encode(),
        "127.0.0.1",
        "scf-req-lean",
    )
    reply = run_cold("http_toggle", event, emulator, tmp_path)
    assert reply["result"]["statusCode"] == 200, reply["result"]
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"
    assert loaded(reply, NEVER + NOT_HTTP) == []
    assert loaded(reply, PYDANTIC) == []
    assert reply["plugins_switch"] == "__all__"  # set by the handler for paths that do use pydantic


def test_judging_a_command_builds_no_pydantic_model() -> None:
    """parse_command judges every rule itself; its results are dataclasses, so a door that only
    reads a command (a timer's Message, a POSTed body) pays no pydantic import or model build."""
    child = (
        "import sys\n"
        "from ciqueue.app.commands import parse_command\n"
        f"command = parse_command({json.dumps({'action': 'pause', 'queues': [queue_ref()], 'for': '2h'})})\n"
        "print(command.queues[0].key(), command.for_, 'pydantic' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "shared")}
    done = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    key = f"{DEMO_BUCKET}/{DEMO_REGION}/pic/{PIC_DEFAULT_ID}"
    assert done.stdout.split() == [key, "2:00:00", "False"]


def test_the_state_document_imports_no_pydantic() -> None:
    """Loading, changing and saving the state (what every door does) pays no pydantic import."""
    child = (
        "import sys\n"
        "from datetime import datetime, timezone\n"
        "from ciqueue.state.document import StateDocument, LastAppliedRecord, record_applied\n"
        "doc = StateDocument.from_json(b'{\"updated_at\":\"2026-03-01T02:00:00Z\"}', 'child')\n"
        "when = datetime(2026, 3, 1, 2, tzinfo=timezone.utc)\n"
        "doc = record_applied(doc, 'k', LastAppliedRecord(desired_state='Paused', decided_at=when))\n"
        "print(doc.to_json().decode().strip(), 'pydantic' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "shared")}
    done = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    text, imported = done.stdout.split()
    assert json.loads(text)["last_applied"]["k"]["decided_at"] == "2026-03-01T02:00:00Z"
    assert imported == "False"


def test_the_wire_path_imports_no_pydantic() -> None:
    """Reading CI's replies and building PUT bodies (ci.models) needs no pydantic: importing what
    talks to CI and parsing a reply must not load it (nor build a model of it)."""
    child = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in WIRE)
        + "from ciqueue.ci.models import parse_describe\n"
        "parse_describe(b'<Response><QueueList><Name>q</Name><MaxSize>1</MaxSize></QueueList></Response>')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "shared")}
    done = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["[]"]

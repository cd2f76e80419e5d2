"""A cold container pays only for what its path uses: each handler runs once in a fresh
interpreter (``PYTHONPATH`` as the layer gives it: ``shared/`` + the function's directory) with an
SCF-shaped event and context against the emulator, then reports which modules it loaded.

An explicit command needs no schedule, so neither the timer's pause nor the HTTP API's POST
pause may import ``ciqueue.schedule``, YAML, the reconcile tick or the console's Jinja2; and the
functions switch off pydantic's plugin scan (``PYDANTIC_DISABLE_PLUGINS``), which reads every
installed distribution's entry points on the first model. Judging a command imports no pydantic
at all (its results are dataclasses). bench/bench_first_invocation.py
measures what this saves; this file keeps it from creeping back.
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
# The only modules whose pydantic models a pause builds: the wire models and the trigger's
# envelope. The first model built pays ~90 M instructions of pydantic's own lazy imports, each
# further one ~3 M (README, Benchmarks): no new module may add models to this path. The state
# document is plain classes (its own stored JSON): it imports no pydantic at all.
BUILDS_MODELS = ("ciqueue.ci.models.", "ciqueue.envelopes.")
CHILD = """
import json, sys
given = json.loads(sys.stdin.read())
import index
result = index.main_handler(given["event"], given["context"])
from pydantic import BaseModel
from pydantic.plugin import _loader
def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)
built = {f"{m.__module__}.{m.__qualname__}" for m in subclasses(BaseModel) if m.__pydantic_complete__}
print(json.dumps({
    "result": result,
    "modules": sorted(sys.modules),
    "plugins_scanned": _loader._plugins is not None,
    "models_built": sorted(built),
}))
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
    assert reply["plugins_scanned"] is False
    assert [m for m in reply["models_built"] if not m.startswith(BUILDS_MODELS)] == []


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
    assert reply["plugins_scanned"] is False
    assert [m for m in reply["models_built"] if not m.startswith(BUILDS_MODELS)] == []


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

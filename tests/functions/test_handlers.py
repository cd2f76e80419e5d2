"""The scheduler and worker SCF handlers with SCF-shaped timer events and context dicts, over real
HTTP to the emulator; the runtime's environment, context and fan-out helpers.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ciqueue.app.invoker import ScfInvoker
from ciqueue.app.runtime import Runtime, actor_from_context, deadline_from_context
from ciqueue.ci.credentials import Credentials
from ciqueue.ci.retry import RetryPolicy
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.dev.invoke import fan_out_in_process
from ciqueue.errors import InvalidInput
from ciqueue.schedule.config import Config
from ciqueue.schedule.load import load_config
from conftest import (
    CONFIG_NOW,
    DEMO_BUCKET,
    DEMO_REGION,
    PIC_CALLBACK_ID,
    PIC_DEFAULT_ID,
    EmuAdmin,
    load_function,
)

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
CST = ZoneInfo("Asia/Shanghai")
OPEN = datetime(2026, 3, 1, 3, 0, tzinfo=CST)
COMMAND_QUEUE = "p8366c460c67b4c65a9bf81b41eaa3c4b"  # named by tests/events/timer_command.json
CONTEXT = {
    "request_id": "scf-req-0001",
    "time_limit_in_ms": 30000,
    "memory_limit_in_mb": 256,
    "function_name": "ciqueue-scheduler-dev",
    "function_version": "$LATEST",
    "namespace": "default",
    "tencentcloud_region": DEMO_REGION,
    "environ": "SCF_NAMESPACE=default;TZ=Asia/Shanghai",
}
SCHEDULE = f"""
version: 1
timezone: Asia/Shanghai
targets:
  pics: {{bucket: {DEMO_BUCKET}, region: {DEMO_REGION}, name_pattern: "*"}}
windows:
  - name: nightly
    targets: [pics]
    dates: [{{start: "2026-03-01T02:00", end: "2026-03-01T04:00"}}]
"""


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())  # type: ignore[no-any-return]


@pytest.fixture
def make_runtime(emulator_runtime: Callable[..., Runtime]) -> Callable[..., Runtime]:
    def make(config: Config | None = None, **kwargs: Any) -> Runtime:
        runtime = emulator_runtime(
            config=config or load_config(SCHEDULE, now=CONFIG_NOW), clock=lambda: OPEN, **kwargs
        )
        fan_out_in_process(runtime)
        return runtime

    return make


@pytest.fixture
def scheduler(demo_bucket: Any, make_runtime: Callable[..., Runtime]) -> ModuleType:
    module = load_function("scheduler")
    module._RUNTIME = make_runtime()
    return module


def test_a_reconcile_tick_pauses_the_window_queues(
    scheduler: ModuleType, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    result = scheduler.main_handler(event("timer_reconcile.json"), CONTEXT)

    assert (result["ok"], result["status"], result["action"]) == (True, 200, "reconcile")
    assert result["trigger"] == {"trigger_name": "reconcile-5m", "time": "2025-03-01T02:00:00Z"}
    assert result["report"]["counts"] == {"pause": 2, "none": 1}
    assert json.loads(json.dumps(result)) == result  # what SCF serialises
    assert emu_admin.queue(PIC_DEFAULT_ID)["State"] == "Paused"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    paused = [line for line in lines if line["event"] == "queue.paused"]
    assert len(paused) == 2
    assert {(p["actor"], p["function_request_id"]) for p in paused} == {
        ("scf:ciqueue-scheduler-dev", "scf-req-0001")
    }


def test_a_retried_timer_delivery_writes_nothing(scheduler: ModuleType, emu_admin: EmuAdmin) -> None:
    scheduler.main_handler(event("timer_reconcile.json"), CONTEXT)
    emu_admin.clear_requests()

    again = scheduler.main_handler(event("timer_reconcile.json"), CONTEXT)

    assert again["ok"] and again["results"] == []
    assert emu_admin.put_paths() == []


def test_a_timer_command_runs_once_however_often_it_is_delivered(
    scheduler: ModuleType, emu_admin: EmuAdmin, tmp_path: Path
) -> None:
    emu_admin.seed(
        [
            {
                "bucket": DEMO_BUCKET,
                "region": DEMO_REGION,
                "kinds": ["pic"],
                "queues": [{"kind": "pic", "queue_id": COMMAND_QUEUE, "name": "nightly-batch"}],
            }
        ]
    )
    first = scheduler.main_handler(event("timer_command.json"), CONTEXT)
    emu_admin.clear_requests()
    second = scheduler.main_handler(event("timer_command.json"), CONTEXT)

    assert (first["ok"], first["action"], first["results"][0]["changed"]) == (True, "pause", True)
    assert second["ok"] and second["results"][0]["changed"] is False
    assert first["override"]["id"] == second["override"]["id"]
    assert first["override"]["reason"] == "maintenance"
    stored = json.loads((tmp_path / "state.json").read_text())
    assert [o["id"] for o in stored["overrides"]] == [first["override"]["id"]]
    assert emu_admin.put_paths() == []
    assert emu_admin.queue(COMMAND_QUEUE)["State"] == "Paused"


def test_a_message_that_is_not_json_is_a_clear_error_not_a_retry(
    scheduler: ModuleType, emu_admin: EmuAdmin
) -> None:
    result = scheduler.main_handler(event("timer.json"), CONTEXT)

    assert (result["ok"], result["status"]) == (False, 400)
    assert result["error"]["field"] == "Message"
    assert result["error"]["message"] == "Message: must be a JSON object (invalid JSON at line 1 column 1)"
    assert emu_admin.requests() == []


def test_a_bad_command_in_the_message_names_the_field(scheduler: ModuleType, emu_admin: EmuAdmin) -> None:
    message = {"action": "pause", "queues": [{"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kind": "pix"}]}
    timer = {
        "Type": "Timer",
        "TriggerName": "t",
        "Time": "2026-03-01T00:00:00Z",
        "Message": json.dumps(message),
    }

    result = scheduler.main_handler(timer, CONTEXT)

    assert result["status"] == 400
    assert [p["field"] for p in result["error"]["problems"]] == [
        "Message.queues[0].queue_id",
        "Message.queues[0].kind",
    ]
    assert emu_admin.requests() == []


def test_a_timer_event_without_trigger_name_is_400(scheduler: ModuleType) -> None:
    result = scheduler.main_handler(event("timer_missing_trigger_name.json"), CONTEXT)
    assert (result["status"], result["error"]["field"]) == (400, "TriggerName")


def test_a_transient_failure_raises_so_scf_retries(
    demo_bucket: Any, make_runtime: Callable[..., Runtime], emu_admin: EmuAdmin
) -> None:
    module = load_function("scheduler")
    module._RUNTIME = make_runtime(client_options={"retry": RetryPolicy(max_attempts=1)})
    # A 500 (a SlowDown the tick would wait out at the bucket's slowed rate: ci.ratelimit).
    emu_admin.faults(next={"count": 1, "status": 500, "code": "InternalError"})

    with pytest.raises(
        module.TransientFailure, match=r"reconcile failed with InternalError \[RequestId: \S+\]"
    ):
        module.main_handler(event("timer_reconcile.json"), CONTEXT)


def test_the_handler_builds_its_runtime_from_the_environment(
    demo_bucket: Any, emulator: Any, emu_admin: EmuAdmin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Always open (every day 00:00-24:00), so the real clock is inside the window.
    config = tmp_path / "ciqueue.yml"
    config.write_text(
        SCHEDULE.replace(
            'dates: [{start: "2026-03-01T02:00", end: "2026-03-01T04:00"}]',
            'periods: [{start: "00:00", end: "24:00"}]',
        )
    )
    env = {
        "CIQUEUE_CONFIG": str(config),
        "CIQUEUE_ENDPOINT": emulator.endpoint,
        "TENCENTCLOUD_SECRETID": DEMO_SECRET_ID,
        "TENCENTCLOUD_SECRETKEY": DEMO_SECRET_KEY,
        "CIQUEUE_STATE_FILE": str(tmp_path / "state.json"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in (
        "CIQUEUE_STATE_BUCKET",
        "CIQUEUE_INVOKER",
        "TENCENTCLOUD_SESSIONTOKEN",
        "TENCENTCLOUD_RUNENV",
        "SCF_FUNCTIONNAME",
    ):
        monkeypatch.delenv(name, raising=False)
    module = load_function("scheduler")

    result = module.main_handler(event("timer_legacy_lowercase.json"), CONTEXT)

    assert result["ok"] and result["report"]["counts"] == {"pause": 2, "none": 1}
    assert {emu_admin.queue(q)["State"] for q in demo_bucket.pic_ids} == {"Paused"}
    assert json.loads((tmp_path / "state.json").read_text())["last_applied"]


def test_a_broken_config_is_reported_not_retried(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "ciqueue.yml"
    config.write_text(SCHEDULE.replace('end: "2026-03-01T04:00"', 'end: "2026-03-01T01:00"'))
    monkeypatch.setenv("CIQUEUE_CONFIG", str(config))
    monkeypatch.setenv("CIQUEUE_STATE_FILE", str(tmp_path / "state.json"))
    monkeypatch.delenv("CIQUEUE_INVOKER", raising=False)

    result = load_function("scheduler").main_handler(event("timer_reconcile.json"), CONTEXT)

    assert result["status"] == 400
    assert (
        result["error"]["message"] == "windows[0].dates[0].end: must be after start (got '2026-03-01T01:00')"
    )


def test_the_worker_reconciles_its_shard_at_the_given_instant(
    demo_bucket: Any, make_runtime: Callable[..., Runtime], emu_admin: EmuAdmin
) -> None:
    worker = load_function("worker")
    worker._RUNTIME = make_runtime()
    payload = {"shard": [[DEMO_BUCKET, DEMO_REGION]], "now": OPEN.isoformat()}

    result = worker.main_handler(payload, {**CONTEXT, "function_name": "ciqueue-worker-dev"})

    assert (result["ok"], result["counts"], result["now"]) == (
        True,
        {"pause": 2, "none": 1},
        OPEN.isoformat(),
    )
    assert emu_admin.queue(PIC_CALLBACK_ID)["State"] == "Paused"
    bad = worker.main_handler({"shard": "all"}, CONTEXT)
    assert (bad["status"], bad["error"]["field"]) == (400, "shard")


# --- runtime helpers ---------------------------------------------------------------------------------


def test_deadline_from_context_tolerates_missing_and_garbage() -> None:
    deadline = deadline_from_context(CONTEXT)
    assert deadline is not None and 29.0 < deadline.remaining() <= 29.5  # 0.5 s kept for the reply
    assert deadline_from_context(SimpleNamespace(time_limit_in_ms=2000)) is not None
    for context in (
        None,
        {},
        {"time_limit_in_ms": "abc"},
        {"time_limit_in_ms": True},
        {"time_limit_in_ms": -1},
    ):
        assert deadline_from_context(context) is None
    assert actor_from_context(CONTEXT) == "scf:ciqueue-scheduler-dev"
    assert actor_from_context({}, "worker") == "worker"


def test_the_invoker_follows_the_environment(tmp_path: Path) -> None:
    """No fan-out unless CIQUEUE_INVOKER=scf (issue 7: SCF no longer implies it, inprocess is gone)."""
    base = {"CIQUEUE_STATE_FILE": str(tmp_path / "s.json")}
    fan_out = Runtime.from_env({**base, "CIQUEUE_INVOKER": "scf", "CIQUEUE_WORKER_FUNCTION": "w-dev"})
    assert isinstance(fan_out.invoker, ScfInvoker) and fan_out.worker_function == "w-dev"
    on_scf = Runtime.from_env({**base, "TENCENTCLOUD_RUNENV": "SCF", "CIQUEUE_WORKER_FUNCTION": "w-dev"})
    assert on_scf.invoker is None
    local = Runtime.from_env(base)
    assert local.invoker is None and local.config is None and local.credentials is None
    for choice in ("lambda", "inprocess"):
        with pytest.raises(
            InvalidInput, match=rf"CIQUEUE_INVOKER: must be scf, or unset for no fan-out \(got '{choice}'\)"
        ):
            Runtime.from_env({**base, "CIQUEUE_INVOKER": choice})


def test_the_config_can_live_in_a_cos_object(emulator: Any) -> None:
    from ciqueue.ci.client import CIClient

    credentials = Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY)
    cos = CIClient(DEMO_BUCKET, DEMO_REGION, credentials, emulator.endpoint, service="cos")
    cos.request("PUT", "/conf/ciqueue.yml", body=SCHEDULE.encode(), headers={"content-type": "text/yaml"})
    env = {
        "CIQUEUE_CONFIG": f"cos://{DEMO_BUCKET}/conf/ciqueue.yml?region={DEMO_REGION}",
        "CIQUEUE_ENDPOINT": emulator.endpoint,
        "TENCENTCLOUD_SECRETID": DEMO_SECRET_ID,
        "TENCENTCLOUD_SECRETKEY": DEMO_SECRET_KEY,
        "CIQUEUE_STATE_BUCKET": DEMO_BUCKET,
        "TENCENTCLOUD_REGION": DEMO_REGION,
    }
    runtime = Runtime.from_env(env)
    assert runtime.config is not None and list(runtime.config.targets) == ["pics"]
    assert (
        repr(runtime.state)
        == f"CosStateStore(cos://{DEMO_BUCKET}/ciqueue/state.json, region='{DEMO_REGION}')"
    )
    # Without ?region= the region comes from the environment, as for a cos:// state location (it
    # was refused here while the state store took it: one location rule now).
    implicit = Runtime.from_env({**env, "CIQUEUE_CONFIG": f"cos://{DEMO_BUCKET}/conf/ciqueue.yml"})
    assert implicit.config is not None and list(implicit.config.targets) == ["pics"]
    with pytest.raises(InvalidInput, match=r"CIQUEUE_CONFIG: must name an object: cos://"):
        Runtime.from_env({**env, "CIQUEUE_CONFIG": f"cos://{DEMO_BUCKET}/"})


def test_ciqueue_now_sets_a_simulated_clock(tmp_path: Path) -> None:
    env = {"CIQUEUE_STATE_FILE": str(tmp_path / "s.json"), "CIQUEUE_NOW": "2026-03-01T02:00:00+08:00"}
    runtime = Runtime.from_env(env)
    assert runtime.clock() == OPEN.replace(hour=2)
    env["CIQUEUE_NOW"] = "2026-03-01T03:00:00Z"  # read at every call
    assert runtime.clock().isoformat() == "2026-03-01T03:00:00+00:00"
    with pytest.raises(InvalidInput, match=r"CIQUEUE_NOW: must be an ISO time with a UTC offset"):
        Runtime.from_env({**env, "CIQUEUE_NOW": "2026-03-01 03:00"})


def test_a_config_nested_too_deeply_is_reported_not_retried(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "ciqueue.json"
    config.write_text('{"version": 1, "x": ' + "[" * 50_000 + "]" * 50_000 + "}")
    monkeypatch.setenv("CIQUEUE_CONFIG", str(config))
    monkeypatch.setenv("CIQUEUE_STATE_FILE", str(tmp_path / "state.json"))
    monkeypatch.delenv("CIQUEUE_INVOKER", raising=False)

    result = load_function("scheduler").main_handler(event("timer_reconcile.json"), CONTEXT)

    assert (result["ok"], result["status"], result["error"]["field"]) == (False, 400, "config")
    assert result["error"]["message"] == "config: must nest at most 64 levels of objects and lists"


@pytest.mark.parametrize("name", ["scheduler", "http_toggle", "automation", "worker"])
def test_each_index_py_is_a_re_export_of_its_handler_module(name: str) -> None:
    # SCF loads functions/<name>/index.py as ``index``; the code it runs is the package's, so an
    # installed ciqueue (the layer, or `pip install`) carries every handler.
    index_path = ROOT / "functions" / name / "index.py"
    source = index_path.read_text(encoding="utf-8")
    code = [line for line in source.splitlines() if line and not line.startswith(('"""', "__all__"))]
    assert code == [line for line in code if line.startswith(f"from ciqueue.handlers.{name} import ")]
    spec = importlib.util.spec_from_file_location(f"index_{name}_reexport", index_path)
    assert spec is not None and spec.loader is not None
    index = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(index)
    assert index.main_handler is importlib.import_module(f"ciqueue.handlers.{name}").main_handler

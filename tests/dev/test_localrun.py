"""The local SCF runtime (ciqueue.dev: events, invoke, clock, servers, livelog, stack): contexts,
sample events, in-process invocation against the emulator, the Function URL server over real HTTP,
and timers on a simulated clock."""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from ciqueue.api.auth import token_entry
from ciqueue.app.runtime import deadline_from_context
from ciqueue.cli import main as cli
from ciqueue.dev.clock import SimClock, TimerRunner, TimerSpec, timers_from_serverless
from ciqueue.dev.events import (
    function_url_event,
    integration_response,
    sample_event,
    scf_context,
    timer_event,
)
from ciqueue.dev.invoke import invoke, scoped_env
from ciqueue.dev.livelog import LiveLog
from ciqueue.dev.servers import FunctionUrlServer
from ciqueue.dev.stack import LocalStack, local_env
from ciqueue.emulator.server import EmulatorServer
from ciqueue.envelopes.detect import detect_source, records_for
from conftest import EmuAdmin

REPO = Path(__file__).resolve().parents[2]
UTC = timezone.utc
BUCKET, REGION = "night-1250000000", "ap-guangzhou"
QUEUE = "p" + "a" * 32
TOKEN = "local-test-token-0123456789"
# 02:00 Beijing time, when the test window opens.
WINDOW_OPEN = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
SCHEDULE = f"""
version: 1
timezone: Asia/Shanghai
targets:
  all: {{bucket: {BUCKET}, region: {REGION}, kind: pic, name_pattern: "*"}}
windows:
  - {{name: nightly, targets: [all], start: "0 0 2 * * * *", duration: 2h}}
"""


@pytest.fixture
def seeded(emulator: EmulatorServer, emu_admin: EmuAdmin) -> EmuAdmin:
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
    return emu_admin


@pytest.fixture
def env(emulator: EmulatorServer, tmp_path: Path) -> dict[str, str | None]:
    config = tmp_path / "schedule.yaml"
    config.write_text(SCHEDULE, encoding="utf-8")
    return local_env(
        emulator.endpoint,
        config=str(config),
        state_file=str(tmp_path / "state.json"),
        api_tokens=json.dumps([token_entry("tester", TOKEN)]),
    )


def test_scf_context_has_the_fields_scf_passes() -> None:
    context = scf_context("ciqueue-scheduler-dev", 300, 256, request_id="req-1")
    assert context == {
        "memory_limit_in_mb": 256,
        "time_limit_in_ms": 300_000,
        "request_id": "req-1",
        "environment": '{"SCF_NAMESPACE": "default"}',
        "environ": "SCF_NAMESPACE=default",
        "function_version": "$LATEST",
        "function_name": "ciqueue-scheduler-dev",
        "namespace": "default",
        "tencentcloud_region": "ap-guangzhou",
        "tencentcloud_appid": "1250000000",
        "tencentcloud_uin": "100000000001",
    }
    deadline = deadline_from_context(context)
    assert deadline is not None and 299 < deadline.remaining() <= 300


@pytest.mark.parametrize(
    ("kind", "source"),
    [
        ("timer", "timer"),
        ("url", "function_url"),
        ("apigw", "apigw"),
        ("cos", "cos"),
        ("cmq", "cmq"),
        ("ckafka", "ckafka"),
        ("cls", "cls"),
    ],
)
def test_sample_events_are_read_as_their_trigger(kind: str, source: str) -> None:
    event = sample_event(kind, now=WINDOW_OPEN)
    assert detect_source(event) == source
    if source in ("function_url", "apigw"):
        assert (event["httpMethod"], event["path"]) == ("GET", "/health")
        return
    _, records = records_for(event)
    assert len(records) == 1 and records[0].error is None
    assert records[0].payload == {"action": "reconcile"}


def test_timer_sample_carries_the_time_as_scf_writes_it() -> None:
    assert sample_event("timer", now=WINDOW_OPEN) == {
        "Type": "Timer",
        "TriggerName": "reconcile",
        "Time": "2026-03-02T18:00:00Z",
        "Message": "",
    }


def test_unknown_sample_kind_is_refused_by_name() -> None:
    with pytest.raises(
        Exception, match=r"--sample: must be one of timer, url, apigw, cos, cmq, ckafka, cls \(got 'sqs'\)"
    ):
        sample_event("sqs")


def test_the_scheduler_pauses_at_the_simulated_window_opening(
    seeded: EmuAdmin, env: dict[str, str | None]
) -> None:
    before = dict(os.environ)
    result = invoke(
        "scheduler",
        sample_event("timer", now=WINDOW_OPEN),
        scf_context("scheduler", 300, 256),
        env,
        now=WINDOW_OPEN,
    )

    assert result["ok"] is True and result["action"] == "reconcile"
    assert seeded.queue(QUEUE)["State"] == "Paused"  # real time is not 02:00 Beijing: the clock was simulated
    assert dict(os.environ) == before


def test_the_scheduler_leaves_queues_alone_outside_the_window(
    seeded: EmuAdmin, env: dict[str, str | None]
) -> None:
    noon = WINDOW_OPEN + timedelta(hours=10)
    result = invoke("scheduler", sample_event("timer", now=noon), None, env, now=noon)
    assert result["ok"] is True
    assert seeded.queue(QUEUE)["State"] == "Active"


@pytest.mark.parametrize("kind", ["url", "apigw"])
def test_http_toggle_answers_health_with_the_simulated_time(
    seeded: EmuAdmin, env: dict[str, str | None], kind: str
) -> None:
    result = invoke(
        "http_toggle",
        sample_event(kind, token=TOKEN),
        scf_context("http_toggle", 30, 256),
        env,
        now=WINDOW_OPEN,
    )
    assert result["statusCode"] == 200
    body = json.loads(result["body"])
    assert (body["status"], body["caller"], body["time"]) == (
        "ok",
        "token:tester",
        "2026-03-02T18:00:00+00:00",
    )


@pytest.mark.parametrize("kind", ["cos", "cmq", "ckafka", "cls"])
def test_automation_runs_the_command_each_trigger_carries(
    seeded: EmuAdmin, env: dict[str, str | None], kind: str
) -> None:
    result = invoke(
        "automation",
        sample_event(kind, now=WINDOW_OPEN),
        scf_context("automation", 60, 128),
        env,
        now=WINDOW_OPEN,
    )
    assert (result["source"], result["ok"], result["records"], result["failed"]) == (kind, True, 1, 0)
    assert seeded.queue(QUEUE)["State"] == "Paused"  # the reconcile command ran at the simulated time


@pytest.mark.parametrize(
    ("function", "kind", "expected"),
    [
        ("scheduler", "url", "Type: is required"),
        ("http_toggle", "timer", "event: must be a Function URL or API Gateway event (got timer)"),
        ("automation", "apigw", "event: must be a timer, COS, CMQ, CKafka or CLS event (got apigw)"),
        ("worker", "timer", "shard: must be a non-empty list of [bucket, region] pairs"),
    ],
)
def test_a_function_given_another_triggers_event_answers_bad_input(
    seeded: EmuAdmin, env: dict[str, str | None], function: str, kind: str, expected: str
) -> None:
    result = invoke(function, sample_event(kind, now=WINDOW_OPEN), None, env, now=WINDOW_OPEN)
    assert expected in json.dumps(result)
    assert seeded.queue(QUEUE)["State"] == "Active"


def test_invoke_refuses_an_unknown_function() -> None:
    with pytest.raises(
        Exception, match=r"function: must be one of scheduler, http_toggle, automation, worker"
    ):
        invoke("mailer", {})


def test_ciqueue_invoke_prints_the_json_result(
    seeded: EmuAdmin, env: dict[str, str | None], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps(sample_event("timer", now=WINDOW_OPEN)))
    context = tmp_path / "context.json"
    context.write_text(json.dumps(scf_context("scheduler", 300, 256)))
    scoped = {k: v for k, v in env.items() if k not in ("CIQUEUE_ENDPOINT", "CIQUEUE_CONFIG")}
    with scoped_env(scoped):
        code = cli.main(
            [
                "invoke",
                "scheduler",
                "--event",
                str(event),
                "--context",
                str(context),
                "--endpoint",
                str(env["CIQUEUE_ENDPOINT"]),
                "--config",
                str(env["CIQUEUE_CONFIG"]),
                "--now",
                "2026-03-03T02:00:00+08:00",
            ]
        )
    out = capsys.readouterr().out
    assert code == 0
    assert json.loads(out)["ok"] is True
    assert seeded.queue(QUEUE)["State"] == "Paused"


def test_ciqueue_invoke_bad_input_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert cli.main(["invoke", "scheduler", "--event", str(bad)]) == 2
    assert capsys.readouterr().err.startswith("error: --event: must be JSON")
    assert cli.main(["invoke", "scheduler", "--sample", "timer", "--now", "tomorrow"]) == 2
    assert capsys.readouterr().err == (
        "error: --now: must be an ISO date-time such as 2026-03-01T01:55:00+08:00 (got 'tomorrow')\n"
    )


# --- the Function URL server ------------------------------------------------------------------------


@pytest.fixture
def echo_server() -> Iterator[tuple[FunctionUrlServer, list[dict[str, Any]]]]:
    events: list[dict[str, Any]] = []

    def call(event: dict[str, Any], request_id: str) -> Any:
        events.append(event)
        if event["path"] == "/boom":
            raise RuntimeError("handler failed")
        if event["path"] == "/plain":
            return {"hello": "world"}
        return {
            "isBase64Encoded": True,
            "statusCode": 201,
            "headers": {"Content-Type": "application/octet-stream", "X-Test": "yes"},
            "body": base64.b64encode(b"\x00\x01binary").decode(),
        }

    with FunctionUrlServer(call) as server:
        yield server, events


def test_a_real_request_becomes_a_function_url_event(
    echo_server: tuple[FunctionUrlServer, list[dict[str, Any]]],
) -> None:
    server, events = echo_server
    response = requests.post(
        server.url + "/queues/x/pause?a=1&b=2&b=3",
        data=b'{"for": "30m"}',
        headers={"Authorization": "Bearer t0k", "Content-Type": "application/json", "X-Custom": "V"},
        timeout=5,
    )
    [event] = events
    assert (event["httpMethod"], event["path"]) == ("POST", "/queues/x/pause")
    assert event["queryString"] == {"a": "1", "b": ["2", "3"]}
    assert (event["body"], event["isBase64Encoded"]) == ('{"for": "30m"}', False)
    headers = event["headers"]
    assert headers["authorization"] == "Bearer t0k" and headers["x-custom"] == "V"
    assert headers["content-type"] == "application/json" and headers["content-length"] == "14"
    assert headers["x-scf-remote-addr"] == "127.0.0.1" and event["requestContext"]["sourceIp"] == "127.0.0.1"
    assert headers["x-scf-request-id"] == event["requestContext"]["requestId"]
    assert all(k == k.lower() for k in headers)
    assert detect_source(event) == "function_url"
    # The integration response came back as real HTTP: status, headers and the base64-decoded body.
    assert response.status_code == 201
    assert response.headers["X-Test"] == "yes" and response.content == b"\x00\x01binary"


def test_a_binary_body_travels_base64(echo_server: tuple[FunctionUrlServer, list[dict[str, Any]]]) -> None:
    server, events = echo_server
    requests.put(server.url + "/bin", data=b"\xff\xfe\x00", timeout=5)
    [event] = events
    assert (event["body"], event["isBase64Encoded"], event["queryString"]) == ("//4A", True, {})


def test_a_plain_return_value_is_a_json_200(
    echo_server: tuple[FunctionUrlServer, list[dict[str, Any]]],
) -> None:
    server, _ = echo_server
    response = requests.get(server.url + "/plain", timeout=5)
    assert (response.status_code, response.headers["Content-Type"], response.json()) == (
        200,
        "application/json",
        {"hello": "world"},
    )


def test_a_failing_handler_gives_a_502_without_a_trace(
    echo_server: tuple[FunctionUrlServer, list[dict[str, Any]]],
) -> None:
    server, _ = echo_server
    response = requests.get(server.url + "/boom", timeout=5)
    assert response.status_code == 502
    assert response.json()["errorMessage"] == "function failed: RuntimeError"
    assert "Traceback" not in response.text


def test_integration_response_shapes() -> None:
    assert integration_response({"statusCode": 204, "headers": {}, "body": ""}).status == 204
    bad = integration_response({"statusCode": "200", "body": ""})
    assert bad.status == 502 and b"Invalid scf response" in bad.body
    event = function_url_event("get", "", {}, {"Host": "x"}, b"", "10.0.0.1", "r1")
    assert (event["httpMethod"], event["path"], event["headers"]["host"]) == ("GET", "/", "x")


def test_the_on_call_toggle_over_real_http(seeded: EmuAdmin, env: dict[str, str | None]) -> None:
    def call(event: dict[str, Any], request_id: str) -> Any:
        return invoke(
            "http_toggle", event, scf_context("http_toggle", 30, 256, request_id), env, now=WINDOW_OPEN
        )

    path = f"/queues/{BUCKET}/{REGION}/pic/{QUEUE}/pause"
    with FunctionUrlServer(call) as server:
        refused = requests.post(server.url + path, json={"for": "30m"}, timeout=10)
        done = requests.post(
            server.url + path,
            json={"for": "30m", "reason": "test"},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == 'Bearer realm="ciqueue"'
    assert done.status_code == 200, done.text
    assert done.json()["override"]["expires_at"].startswith("2026-03-02T18:30:00")
    assert seeded.queue(QUEUE)["State"] == "Paused"


def test_two_authorization_lines_over_real_http_are_refused(
    seeded: EmuAdmin, env: dict[str, str | None]
) -> None:
    def call(event: dict[str, Any], request_id: str) -> Any:
        return invoke(
            "http_toggle", event, scf_context("http_toggle", 30, 256, request_id), env, now=WINDOW_OPEN
        )

    path = f"/queues/{BUCKET}/{REGION}/pic/{QUEUE}/pause"
    with FunctionUrlServer(call) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.putrequest("POST", path)
        connection.putheader("Authorization", "Bearer someone-elses-token-000")
        connection.putheader("authorization", f"Bearer {TOKEN}")
        connection.putheader("Content-Type", "application/json")
        body = b'{"for": "30m", "reason": "test"}'
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        answer = json.loads(response.read())
        connection.close()
    assert (response.status, answer["error"]["code"]) == (401, "Unauthorized")
    assert answer["error"]["message"] == "several Authorization values: send exactly one"
    assert seeded.queue(QUEUE)["State"] == "Active"


def test_repeated_header_lines_reach_the_event_as_a_list(
    echo_server: tuple[FunctionUrlServer, list[dict[str, Any]]],
) -> None:
    server, events = echo_server
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.putrequest("GET", "/x")
    connection.putheader("X-Twice", "one")
    connection.putheader("x-twice", "two")
    connection.endheaders()
    connection.getresponse().read()
    connection.close()
    [event] = events
    assert event["headers"]["x-twice"] == ["one", "two"]


# --- simulated clock and timers -------------------------------------------------------------------


def test_the_simulated_clock_runs_speed_times_faster() -> None:
    real = [100.0]
    clock = SimClock(WINDOW_OPEN, speed=60, monotonic=lambda: real[0])
    real[0] += 10
    assert clock.now() == WINDOW_OPEN + timedelta(minutes=10)
    clock.advance(timedelta(hours=1))
    assert clock.now() == WINDOW_OPEN + timedelta(minutes=70)
    clock.set(WINDOW_OPEN)
    assert clock.now() == WINDOW_OPEN


def test_timers_fire_per_cron_as_the_clock_moves() -> None:
    clock = SimClock(WINDOW_OPEN - timedelta(minutes=2), speed=0)
    fired: list[tuple[str, dict[str, Any]]] = []
    every5 = TimerSpec("scheduler", "reconcile", "0 */5 * * * * *", "", "Asia/Shanghai")
    daily = TimerSpec("scheduler", "edge", "0 0 2 * * * *", '{"action": "pause"}', "Asia/Shanghai")
    runner = TimerRunner(
        [every5, daily],
        clock.now,
        lambda t, at: fired.append((t.name, timer_event(t.name, at, t.argument))),
    )

    assert runner.run_due() == [] and fired == []
    clock.advance(timedelta(minutes=13))  # 01:58 -> 02:11 Beijing
    runner.run_due()
    assert [(n, e["Time"], e["Message"]) for n, e in fired] == [
        ("reconcile", "2026-03-02T18:00:00Z", ""),  # same instant: in declaration order
        ("edge", "2026-03-02T18:00:00Z", '{"action": "pause"}'),
        ("reconcile", "2026-03-02T18:05:00Z", ""),
        ("reconcile", "2026-03-02T18:10:00Z", ""),
    ]
    fired.clear()
    runner.run_due()
    assert fired == []  # nothing fires twice


def test_a_timer_far_behind_fires_only_its_latest_edge() -> None:
    clock = SimClock(WINDOW_OPEN, speed=0)
    fired: list[datetime] = []
    skipped: list[int] = []
    runner = TimerRunner(
        [TimerSpec("scheduler", "r", "0 * * * * * *")],
        clock.now,
        lambda t, at: fired.append(at),
        lambda t, n: skipped.append(n),
    )
    clock.advance(timedelta(minutes=30))
    runner.run_due()
    assert fired == [WINDOW_OPEN + timedelta(minutes=30)] and skipped == [29]


def test_serverless_timers_are_the_enabled_ones() -> None:
    timers = timers_from_serverless(REPO)
    assert TimerSpec("scheduler", "reconcile", "0 */5 * * * * *", "", "Asia/Shanghai") in timers
    assert all(t.name not in ("edge-pause-0200", "edge-resume-0400") for t in timers)  # enable: false


def test_local_stack_fires_the_scheduler_timer_on_the_simulated_clock(
    seeded: EmuAdmin, tmp_path: Path
) -> None:
    config = tmp_path / "schedule.yaml"
    config.write_text(SCHEDULE, encoding="utf-8")
    clock = SimClock(WINDOW_OPEN - timedelta(minutes=1), speed=0)
    out = io.StringIO()
    stack = LocalStack(
        clock,
        out,
        config_path=str(config),
        port=0,
        http_port=0,
        state_file=str(tmp_path / "s.json"),
        root=REPO,
        tick_interval=3600,
    )
    stack.start()
    try:
        assert stack.emulator is not None
        stack.emulator.model.seed(
            {
                "buckets": [
                    {
                        "bucket": BUCKET,
                        "region": REGION,
                        "kinds": ["pic"],
                        "queues": [{"kind": "pic", "queue_id": QUEUE, "name": "q"}],
                    }
                ]
            }
        )
        assert stack.step() == []
        clock.advance(timedelta(minutes=1))
        [(timer, at)] = stack.step()
        assert (timer.name, at) == ("reconcile", WINDOW_OPEN)
        state = stack.emulator.model.queue(BUCKET, REGION, localrun_kind(), QUEUE)
        assert state is not None and state.state == "Paused"
    finally:
        stack.stop()
    lines = out.getvalue().splitlines()
    assert "[02:00:00] scheduler    timer     reconcile  cron '0 */5 * * * * *'" in lines
    assert any(
        line.startswith(
            "[02:00:00] scheduler    pause     night-1250000000/ap-guangzhou/pic/paaaaaaa…  "
            "window 'nightly' opened"
        )
        for line in lines
    )
    assert not any(line.startswith("{") for line in lines)  # the audit JSON is shown as readable lines only


def localrun_kind() -> Any:
    from ciqueue.ci.kinds import QueueKind

    return QueueKind.PIC


def test_live_log_line_format() -> None:
    out = io.StringIO()
    log = LiveLog(out, lambda: WINDOW_OPEN, "Asia/Shanghai")
    log.audit_line(
        {
            "event": "queue.paused",
            "actor": "scf:scheduler",
            "queue": f"demo-1250000000/ap-guangzhou/pic/{QUEUE}",
            "reason": "window 'nightly' opened",
        }
    )
    log.audit_line({"event": "queue.unchanged", "actor": "scheduler", "queue": "x"})
    assert (
        out.getvalue() == "[02:00:00] scheduler    pause     demo-1250000000/ap-guangzhou/pic/paaaaaaa…  "
        "window 'nightly' opened\n"
    )

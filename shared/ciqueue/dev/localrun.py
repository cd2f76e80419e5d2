"""The SCF runtime on one machine: context dicts, sample events, in-process invocation, a Function
URL server, timers fired per their cron on a simulated clock, and ``ciqueue invoke`` / ``ciqueue local``.

What SCF does and what we do here (reference scf.md §1-4):
- a handler is ``functions/<name>/index.py:main_handler(event, context)``, context a dict with
  ``request_id``, ``time_limit_in_ms``, ``memory_limit_in_mb``, ``function_name`` and friends;
- a timer sends ``{"Type": "Timer", "TriggerName", "Time" (UTC, Z), "Message" (the argument)}``;
- a Function URL sends the API-Gateway-like event built from the HTTP request (lower-case headers,
  ``queryString``, ``body`` as text or base64 with ``isBase64Encoded``) and turns an integration
  response ``{"statusCode", "headers", "body"}`` back into HTTP; any other JSON value is a 200
  ``application/json`` body.

Simulated time: every invocation runs with ``CIQUEUE_NOW`` set to the simulated instant, which
the runtime the handler builds reads as its clock. Invocations are serialised: the environment
is process-wide.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib.util
import json
import logging
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO, TypeVar
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from ciqueue.constants import (
    DEMO_APPID,
    DEMO_SECRET_ID,
    DEMO_SECRET_KEY,
    ENV_API_TOKENS,
    ENV_CONFIG,
    ENV_ENDPOINT,
    ENV_INVOKER,
    ENV_NOW,
    ENV_SECRET_ID,
    ENV_SECRET_KEY,
    ENV_SESSION_TOKEN,
    ENV_STATE_BUCKET,
    ENV_STATE_FILE,
)
from ciqueue.errors import InvalidInput
from ciqueue.limits import SCF_MAX_SYNC_REQUEST_BYTES
from ciqueue.timefmt import iso_z, parse_instant

UTC = timezone.utc
FUNCTIONS = ("scheduler", "http_toggle", "automation", "worker")
SAMPLE_KINDS = ("timer", "url", "apigw", "cos", "cmq", "ckafka", "cls")
DEFAULT_TIMEOUT_S = 60
DEFAULT_MEMORY_MB = 128
LOCAL_REGION = "ap-guangzhou"
LOCAL_UIN = "100000000001"
# A timer that fell this far behind (a suspended laptop, a huge --speed) fires only its latest edge.
MAX_CATCH_UP = 10

_invoke_lock = threading.RLock()


# --- context and events ---------------------------------------------------------------------------


def scf_context(
    function_name: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
    request_id: str | None = None,
    *,
    namespace: str = "default",
    region: str = LOCAL_REGION,
) -> dict[str, Any]:
    """A context dict shaped like the one SCF passes a Python handler (scf.md §3)."""
    return {
        "memory_limit_in_mb": int(memory_mb),
        "time_limit_in_ms": int(timeout_s * 1000),
        "request_id": request_id or str(uuid.uuid4()),
        "environment": json.dumps({"SCF_NAMESPACE": namespace}),
        "environ": f"SCF_NAMESPACE={namespace}",
        "function_version": "$LATEST",
        "function_name": function_name,
        "namespace": namespace,
        "tencentcloud_region": region,
        "tencentcloud_appid": DEMO_APPID,
        "tencentcloud_uin": LOCAL_UIN,
    }


def timer_event(trigger_name: str, at: datetime, message: str = "") -> dict[str, Any]:
    return {"Type": "Timer", "TriggerName": trigger_name, "Time": iso_z(at), "Message": message}


def sample_event(
    kind: str,
    *,
    now: datetime | None = None,
    token: str | None = None,
    command: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A realistic event of trigger ``kind`` (timer, url, apigw, cos, cmq, ckafka, cls).

    Timer: a reconcile tick at ``now``. url/apigw: ``GET /health`` (with ``Authorization: Bearer
    <token>`` when a token is given). The message triggers (cos, cmq, ckafka, cls) carry
    ``command`` (default ``{"action": "reconcile"}``).
    """
    now = now or datetime.now(UTC)
    body = json.dumps(dict(command) if command is not None else {"action": "reconcile"})
    request_id = str(uuid.uuid4())
    if kind == "timer":
        return timer_event("reconcile", now)
    if kind in ("url", "apigw"):
        headers = {
            "accept": "application/json",
            "user-agent": "ciqueue-local",
            "x-scf-request-id": request_id,
        }
        if token:
            headers["authorization"] = f"Bearer {token}"
        if kind == "url":
            return function_url_event("GET", "/health", {}, headers, b"", "127.0.0.1", request_id)
        return {
            "requestContext": {
                "serviceId": "service-local0001",
                "path": "/health",
                "httpMethod": "GET",
                "requestId": request_id,
                "identity": {},
                "sourceIp": "127.0.0.1",
                "stage": "release",
            },
            "headers": headers,
            "body": "",
            "pathParameters": {},
            "queryStringParameters": {},
            "headerParameters": {},
            "stageVariables": {"stage": "release"},
            "path": "/health",
            "queryString": {},
            "httpMethod": "GET",
        }
    stamp = int(now.timestamp())
    if kind == "cos":
        object_key = f"ciqueue/commands/local-{stamp}.json"
        key = f"/{DEMO_APPID}/ops/{object_key}"
        host = f"ops-{DEMO_APPID}.cos.{LOCAL_REGION}.myqcloud.com"
        return {
            "Records": [
                {
                    "cos": {
                        "cosSchemaVersion": "1.0",
                        "cosObject": {
                            "url": f"http://{host}/{object_key}",
                            "meta": {
                                "x-cos-request-id": request_id,
                                "Content-Type": "application/json",
                                "x-cos-meta-ciqueue-command": body,
                            },
                            "vid": "",
                            "key": key,
                            "size": len(body),
                        },
                        "cosBucket": {"region": "gz", "name": "ops", "appid": DEMO_APPID},
                        "cosNotificationId": "unkown",
                    },
                    "event": {
                        "eventName": "cos:ObjectCreated:Put",
                        "eventVersion": "1.0",
                        "eventTime": stamp,
                        "eventSource": "qcs::cos",
                        "requestParameters": {"requestSourceIP": "127.0.0.1", "requestHeaders": {}},
                        "eventQueue": f"qcs:0:lambda:gz:appid/{DEMO_APPID}:default.automation.$LATEST",
                        "reservedInfo": "",
                        "reqid": stamp,
                    },
                }
            ]
        }
    if kind == "cmq":
        message = {
            "type": "topic",
            "topicOwner": int(LOCAL_UIN),
            "topicName": "ciqueue-ops",
            "subscriptionName": "local",
            "publishTime": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "msgId": f"msg-{stamp}",
            "requestId": request_id,
            "msgBody": body,
            "msgTag": "ops",
        }
        return {"Records": [{"CMQ": message}]}
    if kind == "ckafka":
        message = {"topic": "ciqueue-ops", "partition": 0, "offset": stamp, "msgKey": "None", "msgBody": body}
        return {"Records": [{"Ckafka": message}]}
    if kind == "cls":
        import gzip

        logs = {
            "topic_id": "00000000-0000-4000-8000-000000000001",
            "topic_name": "ciqueue-ops",
            "records": [{"timestamp": str(stamp * 1_000_000), "content": body}],
        }
        data = base64.b64encode(gzip.compress(json.dumps(logs).encode())).decode()
        return {"clslogs": {"data": data}}
    raise InvalidInput("--sample", f"must be one of {', '.join(SAMPLE_KINDS)} (got {kind!r})")


def function_url_event(
    method: str,
    path: str,
    query: Mapping[str, Any],
    headers: Mapping[str, str],
    body: bytes,
    source_ip: str,
    request_id: str,
) -> dict[str, Any]:
    """The event a Function URL sends an event function for one HTTP request (scf.md §2).

    Headers keep their values with lower-case names, plus ``x-scf-request-id`` and
    ``x-scf-remote-addr``; a body that is not UTF-8 text travels base64 with ``isBase64Encoded``.
    """
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    lowered.setdefault("x-scf-request-id", request_id)
    lowered["x-scf-remote-addr"] = source_ip
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    return {
        "body": text,
        "headers": lowered,
        "httpMethod": method.upper(),
        "path": path or "/",
        "queryString": dict(query),
        "isBase64Encoded": encoded,
        "headerParameters": {},
        "pathParameters": {},
        "queryStringParameters": {},
        "requestContext": {"sourceIp": source_ip, "requestId": request_id},
    }


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


def integration_response(result: Any) -> HttpAnswer:
    """The HTTP answer for a handler's return value, as a Function URL makes it."""
    if isinstance(result, Mapping) and "statusCode" in result:
        status = result.get("statusCode")
        headers = result.get("headers") or {}
        body = result.get("body", "")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            return _invalid_response()
        if not isinstance(headers, Mapping) or not isinstance(body, str):
            return _invalid_response()
        if result.get("isBase64Encoded"):
            try:
                data = base64.b64decode(body, validate=True)
            except ValueError:
                return _invalid_response()
        else:
            data = body.encode("utf-8")
        return HttpAnswer(status, {str(k): str(v) for k, v in headers.items()}, data)
    try:
        data = json.dumps(result, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError):
        return _invalid_response()
    return HttpAnswer(200, {"Content-Type": "application/json"}, data)


def _invalid_response() -> HttpAnswer:
    body = {"errno": 403, "error": "Invalid scf response format. expected scf response valid JSON."}
    return HttpAnswer(502, {"Content-Type": "application/json"}, json.dumps(body).encode())


# --- invoking a handler ---------------------------------------------------------------------------


def find_functions_dir(explicit: str | Path | None = None) -> Path:
    """``functions/`` of the checkout: the given folder, ``./functions`` or the one beside ``shared/``."""
    candidates = (
        [Path(explicit)]
        if explicit
        else [Path.cwd() / "functions", Path(__file__).resolve().parents[2] / "functions"]
    )
    for candidate in candidates:
        if (candidate / "scheduler" / "index.py").is_file():
            return candidate
    raise InvalidInput(
        "functions", f"no functions/<name>/index.py found (looked in {', '.join(map(str, candidates))})"
    )


def load_handler(function: str, functions_dir: str | Path | None = None) -> Callable[[Any, Any], Any]:
    """A fresh import of ``functions/<function>/index.py`` and its ``main_handler``."""
    if function not in FUNCTIONS:
        raise InvalidInput("function", f"must be one of {', '.join(FUNCTIONS)} (got {function!r})")
    path = find_functions_dir(functions_dir) / function / "index.py"
    # A new module per call, as a new SCF instance would load it: module-level caches start empty.
    spec = importlib.util.spec_from_file_location(f"ciqueue_local_{function}_{uuid.uuid4().hex[:8]}", path)
    if spec is None or spec.loader is None:
        raise InvalidInput("function", f"cannot load {path}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler = getattr(module, "main_handler", None)
    if not callable(handler):
        raise InvalidInput("function", f"{path} has no main_handler(event, context)")
    return handler  # type: ignore[no-any-return]


@contextlib.contextmanager
def scoped_env(env: Mapping[str, str | None]) -> Iterator[None]:
    """``os.environ`` with ``env`` applied (None unsets), restored afterwards."""
    saved = {name: os.environ.get(name) for name in env}
    try:
        _set_env(env)
        yield
    finally:
        _set_env(saved)


def _set_env(env: Mapping[str, str | None]) -> None:
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def invoke(
    function: str,
    event: Any,
    context: Mapping[str, Any] | None = None,
    env: Mapping[str, str | None] | None = None,
    *,
    now: datetime | None = None,
    functions_dir: str | Path | None = None,
) -> Any:
    """Call ``functions/<function>/index.py:main_handler(event, context)`` in this process.

    ``env`` is applied for the call and restored afterwards; ``now`` (simulated time) becomes
    ``CIQUEUE_NOW`` and the runtime's clock. Timer events also get ``TRIGGER_SRC=timer`` as on
    SCF. The handler's exceptions propagate, as SCF would record a failed invocation.
    """
    handler = load_handler(function, functions_dir)
    ctx = dict(context) if context is not None else scf_context(function, *_limits(function, functions_dir))
    scoped: dict[str, str | None] = dict(env or {})
    if now is not None:
        scoped[ENV_NOW] = iso_z(now)
    is_timer = isinstance(event, Mapping) and str(event.get("Type", "")).lower() == "timer"
    scoped.setdefault("TRIGGER_SRC", "timer" if is_timer else None)
    # Runtime.from_env() reads CIQUEUE_NOW at every clock call, so the handler follows it.
    with _invoke_lock, scoped_env(scoped):
        return handler(event, ctx)


def _limits(function: str, functions_dir: str | Path | None) -> tuple[float, int]:
    """(timeout s, memory MB) from the function's serverless.yml, else the defaults."""
    try:
        import yaml

        path = find_functions_dir(functions_dir) / function / "serverless.yml"
        inputs = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("inputs") or {}
        return float(inputs.get("timeout") or DEFAULT_TIMEOUT_S), int(
            inputs.get("memorySize") or DEFAULT_MEMORY_MB
        )
    except Exception:  # the limits are a nicety; a missing or odd file must not stop a local run
        return DEFAULT_TIMEOUT_S, DEFAULT_MEMORY_MB


# --- simulated clock and timers -------------------------------------------------------------------


class SimClock:
    """Simulated time: ``start`` plus real elapsed time times ``speed``, plus manual ``advance``."""

    def __init__(
        self, start: datetime, speed: float = 1.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        if start.tzinfo is None:
            raise InvalidInput("start", "must carry a time zone")
        if speed < 0:
            raise InvalidInput("--speed", "must be 0 or more")
        self._start = start.astimezone(UTC)
        self.speed = speed
        self._monotonic = monotonic
        self._real0 = monotonic()
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            elapsed = (self._monotonic() - self._real0) * self.speed
            return self._start + self._offset + timedelta(seconds=elapsed)

    def timestamp(self) -> float:
        return self.now().timestamp()

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._offset += delta
        return self.now()

    def set(self, instant: datetime) -> datetime:
        """Jump to ``instant`` (forward or back)."""
        return self.advance(instant.astimezone(UTC) - self.now())


@dataclass(frozen=True)
class TimerSpec:
    """An enabled timer trigger of a function, as its serverless.yml declares it."""

    function: str
    name: str
    cron: str
    argument: str = ""
    zone: str = "UTC"


def timers_from_serverless(root: str | Path, functions: Sequence[str] = FUNCTIONS) -> list[TimerSpec]:
    """The enabled timers of ``functions/*/serverless.yml`` under ``root`` (the checkout).

    The cron is read in the function's ``TZ`` (SCF leaves the zone of cron evaluation
    undocumented; the runtime clock follows ``TZ``), else UTC.
    """
    from ciqueue.deploy.scfyml import load_serverless

    deployment = load_serverless(root)
    found = []
    for fn in deployment.functions:
        if fn.key not in functions:
            continue
        zone = fn.env.get("TZ") or "UTC"
        for trigger in fn.triggers:
            if trigger.type == "timer" and trigger.enable is True and trigger.cron:
                name = trigger.name or f"timer-{fn.key}"
                found.append(TimerSpec(fn.key, name, trigger.cron, trigger.argument or "", zone))
    return found


class TimerRunner:
    """Fires every timer edge between the last check and the clock's now, in time order."""

    def __init__(
        self,
        timers: Sequence[TimerSpec],
        clock: Callable[[], datetime],
        fire: Callable[[TimerSpec, datetime], Any],
        on_skip: Callable[[TimerSpec, int], Any] | None = None,
    ) -> None:
        from ciqueue.schedule.cron import parse_cron

        self.timers = list(timers)
        self._crons = [parse_cron(t.cron, f"{t.function}.{t.name}.cronExpression") for t in self.timers]
        self._zones = [ZoneInfo(t.zone) for t in self.timers]
        self.clock = clock
        self.fire = fire
        self.on_skip = on_skip
        self.last = clock()

    def due(self, until: datetime) -> list[tuple[datetime, int]]:
        edges: list[tuple[datetime, int]] = []
        for index, (cron, zone) in enumerate(zip(self._crons, self._zones, strict=True)):
            mine: list[datetime] = []
            at = cron.next_after(self.last, zone)
            while at is not None and at <= until:
                mine.append(at)
                at = cron.next_after(at, zone)
            if len(mine) > MAX_CATCH_UP:
                if self.on_skip is not None:
                    self.on_skip(self.timers[index], len(mine) - 1)
                mine = mine[-1:]
            edges.extend((t, index) for t in mine)
        return sorted(edges)

    def run_due(self) -> list[tuple[TimerSpec, datetime]]:
        """Fire what is due up to now; returns (timer, fire time) in the order fired."""
        now = self.clock()
        fired = []
        for at, index in self.due(now):
            self.fire(self.timers[index], at)
            fired.append((self.timers[index], at))
        self.last = max(self.last, now)
        return fired


# --- the Function URL server ----------------------------------------------------------------------


class _UrlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _UrlServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        raw_path, _, query = self.path.partition("?")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > SCF_MAX_SYNC_REQUEST_BYTES:
            self._write(HttpAnswer(413, {"Content-Type": "application/json"}, b'{"error": "body too large"}'))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        pairs = parse_qsl(query, keep_blank_values=True)
        params: dict[str, Any] = {}
        for key, value in pairs:
            # A repeated key keeps every value (as a list); a single one stays a string.
            params[key] = (
                [*params[key], value]
                if isinstance(params.get(key), list)
                else ([params[key], value] if key in params else value)
            )
        request_id = str(uuid.uuid4())
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        event = function_url_event(
            self.command, raw_path or "/", params, headers, body, self.client_address[0], request_id
        )
        answer = self.server.answer(event, request_id)
        self._write(answer)

    def _write(self, answer: HttpAnswer) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


_Served = TypeVar("_Served", bound="BackgroundServer")


class BackgroundServer:
    """An HTTP server answering on a daemon thread: ``start``/``stop``, or a ``with`` block."""

    thread_name: str | None = None

    def __init__(self, httpd: ThreadingHTTPServer) -> None:
        self._httpd = httpd
        self.port: int = httpd.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self: _Served) -> _Served:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=self.thread_name,
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self: _Served) -> _Served:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _UrlServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    answer: Callable[[dict[str, Any], str], HttpAnswer]


class FunctionUrlServer(BackgroundServer):
    """A Function URL on ``http://host:port``: each request -> event -> ``call(event, request_id)``
    -> integration response -> HTTP. A handler exception becomes a 502 naming its type."""

    thread_name = "function-url"

    def __init__(
        self, call: Callable[[dict[str, Any], str], Any], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.call = call
        httpd = _UrlServer((host, port), _UrlHandler)
        httpd.answer = self._answer
        super().__init__(httpd)
        self.host = host

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _answer(self, event: dict[str, Any], request_id: str) -> HttpAnswer:
        try:
            result = self.call(event, request_id)
        except Exception as exc:  # SCF answers a failed sync invocation with an error body, not a trace
            body = {
                "errorCode": -1,
                "errorMessage": f"function failed: {type(exc).__name__}",
                "requestId": request_id,
            }
            return HttpAnswer(502, {"Content-Type": "application/json"}, json.dumps(body).encode())
        return integration_response(result)


# --- the live log ---------------------------------------------------------------------------------

_EVENT_ACTIONS = {
    "queue.paused": "pause",
    "queue.resumed": "resume",
    "queue.callback_changed": "callback",
    "queue.skipped": "skip",
    "override.created": "override",
    "override.cancelled": "cancel",
    "override.expired": "expired",
}


def short_queue(key: str) -> str:
    """``bucket/region/kind/p1234567…`` (the id shortened to 8 characters)."""
    head, _, queue_id = key.rpartition("/")
    return f"{head}/{queue_id[:8]}…" if head and len(queue_id) > 9 else key


class LiveLog:
    """One readable line per decision, action and callback: ``[02:00:00] actor  action  queue  reason``.

    Reads the audit trail (the ``ciqueue.app.audit`` logger) while ``attach()``-ed; the audit JSON lines
    themselves are held back then, so the terminal shows the readable form only.
    """

    def __init__(
        self,
        out: TextIO,
        clock: Callable[[], datetime],
        zone: str = "UTC",
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.out = out
        self.labels = dict(labels or {})  # queue id -> a name to show instead of the queue key
        self.clock = clock
        self.zone = ZoneInfo(zone)
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._handler: logging.Handler | None = None
        self._muted: list[tuple[logging.Handler, logging.Filter]] = []
        # While a function runs (invocations are serialised), its audit lines carry its instant.
        self.invocation_time: datetime | None = None

    def line(
        self, actor: str, action: str, subject: str = "", reason: str = "", at: datetime | None = None
    ) -> str:
        when = (at or self.clock()).astimezone(self.zone).strftime("%H:%M:%S")
        text = f"[{when}] {actor:<12} {action:<9} {subject}"
        if reason:
            text += f"  {reason}"
        with self._lock:
            self.lines.append(text.rstrip())
            print(text.rstrip(), file=self.out, flush=True)
        return text

    def audit_line(self, record: Mapping[str, Any]) -> None:
        event = str(record.get("event") or "")
        if event in ("queue.unchanged",):
            return  # a reconcile that found everything in place says nothing
        actor = str(record.get("actor") or "-").removeprefix("scf:").removeprefix("ciqueue-")
        action = _EVENT_ACTIONS.get(event, event)
        result = record.get("result") or {}
        reason = str(record.get("reason") or "")
        if isinstance(result, Mapping) and result.get("status") == "error":
            reason = f"FAILED {result.get('code')}" + (f" ({reason})" if reason else "")
        subject = self.queue_label(str(record.get("queue") or ""))
        if event.startswith("override."):
            expires = _parse_instant(record.get("expires_at"))
            if expires is not None:
                until = expires.astimezone(self.zone).strftime("%H:%M")
                reason = f"{record.get('action')} until {until}" + (f": {reason}" if reason else "")
            if not subject:
                subject = f"override {record.get('override_id') or '-'}"
        self.line(actor, action, subject, reason, at=self.invocation_time)

    def queue_label(self, key: str) -> str:
        """The label of the queue a key names, else the shortened key."""
        queue_id = key.rpartition("/")[2]
        return self.labels.get(queue_id) or short_queue(key)

    def attach(self) -> None:
        from ciqueue.app.audit import audit_logger

        logger = audit_logger()
        live = self

        class _Reader(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                try:
                    data = json.loads(record.getMessage())
                except ValueError:
                    return
                if isinstance(data, Mapping):
                    live.audit_line(data)

        class _Mute(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                return False

        for handler in logger.handlers:
            mute = _Mute()
            handler.addFilter(mute)
            self._muted.append((handler, mute))
        self._handler = _Reader()
        logger.addHandler(self._handler)

    def detach(self) -> None:
        from ciqueue.app.audit import LOGGER_NAME

        logger = logging.getLogger(LOGGER_NAME)
        if self._handler is not None:
            logger.removeHandler(self._handler)
            self._handler = None
        for handler, mute in self._muted:
            handler.removeFilter(mute)
        self._muted.clear()

    def delivery(self, delivery: Any) -> None:
        """A jobs listener: one line per callback."""
        where = delivery.delivered_to or ""
        outcome = delivery.status + (f" HTTP {delivery.http_status}" if delivery.http_status else "")
        if delivery.error and delivery.status != "delivered":
            outcome += f" ({delivery.error})"
        target = delivery.target + (f" -> {where}" if where else "")
        self.line(
            "ci",
            "callback",
            self.queue_label(f"{delivery.bucket}/{delivery.region}/{delivery.kind}/{delivery.queue_id}"),
            f"job {delivery.job_id[:9]}… {target}: {outcome}",
        )


def _parse_instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = parse_instant(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# --- the whole system on one machine --------------------------------------------------------------


def local_env(
    endpoint: str,
    *,
    config: str | None,
    state_file: str,
    api_tokens: str | None,
) -> dict[str, str | None]:
    """The environment the functions run with locally: the emulator, the demo key pair, in-process
    fan-out, a local state file and the given config and token digests."""
    return {
        ENV_ENDPOINT: endpoint,
        ENV_SECRET_ID: DEMO_SECRET_ID,
        ENV_SECRET_KEY: DEMO_SECRET_KEY,
        ENV_SESSION_TOKEN: None,
        ENV_INVOKER: "inprocess",
        ENV_STATE_BUCKET: None,
        ENV_STATE_FILE: state_file,
        ENV_CONFIG: config,
        ENV_API_TOKENS: api_tokens,
    }


@dataclass
class LocalStack:
    """The emulator, the Function URL server (http_toggle), the timers and the jobs ticker."""

    clock: SimClock
    out: TextIO
    config_path: str | None = None
    port: int = 9000
    http_port: int = 9080
    allow_private_callbacks: bool = True
    api_tokens: str | None = None
    state_file: str | None = None
    root: Path | None = None
    tick_interval: float = 1.0
    log: LiveLog = field(init=False)
    emulator: Any = field(init=False, default=None)
    url_server: FunctionUrlServer | None = field(init=False, default=None)
    timers: TimerRunner | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        zone = "UTC"
        if self.config_path:
            from ciqueue.schedule.config import load_config

            zone = load_config(self.config_path).timezone
        self.log = LiveLog(self.out, self.clock.now, zone)
        if self.state_file is None:
            handle, self.state_file = tempfile.mkstemp(prefix="ciqueue-local-state-", suffix=".json")
            os.close(handle)
            os.unlink(self.state_file)  # the store creates it on first write

    def env(self) -> dict[str, str | None]:
        assert self.emulator is not None and self.state_file is not None
        config = str(Path(self.config_path).resolve()) if self.config_path else None
        return local_env(
            self.emulator.endpoint, config=config, state_file=self.state_file, api_tokens=self.api_tokens
        )

    def call(
        self, function: str, event: Any, at: datetime | None = None, request_id: str | None = None
    ) -> Any:
        """Invoke a function as SCF would, at simulated time ``at`` (default: now)."""
        context = scf_context(function, *_limits(function, self._functions_dir()), request_id=request_id)
        now = at or self.clock.now()
        with _invoke_lock:
            self.log.invocation_time = now
            try:
                return invoke(
                    function, event, context, self.env(), now=now, functions_dir=self._functions_dir()
                )
            finally:
                self.log.invocation_time = None

    def _functions_dir(self) -> Path:
        return find_functions_dir(self.root / "functions" if self.root else None)

    def start(self) -> LocalStack:
        from ciqueue.emulator.server import EmulatorServer

        self.emulator = EmulatorServer(
            port=self.port, allow_private_callbacks=self.allow_private_callbacks
        ).start()
        self.emulator.jobs.clock = self.clock.timestamp
        self.emulator.jobs.subscribe(self.log.delivery)
        self.log.attach()
        self.url_server = FunctionUrlServer(self._url_call, port=self.http_port).start()
        root = self.root or self._functions_dir().parent
        timers = timers_from_serverless(root, ("scheduler",))
        self.timers = TimerRunner(timers, self.clock.now, self._fire, self._skipped)
        self.emulator.jobs.start_ticker(self.tick_interval)
        return self

    def _url_call(self, event: dict[str, Any], request_id: str) -> Any:
        at = self.clock.now()
        result = self.call("http_toggle", event, at=at, request_id=request_id)
        status = result.get("statusCode") if isinstance(result, Mapping) else 200
        self.log.line("url", f"{event['httpMethod']}", event["path"], f"-> {status}", at=at)
        return result

    def _fire(self, timer: TimerSpec, at: datetime) -> None:
        self.log.line(timer.function, "timer", timer.name, f"cron '{timer.cron}'", at=at)
        try:
            self.call(timer.function, timer_event(timer.name, at, timer.argument), at=at)
        except Exception as exc:  # SCF would retry; locally we say so and carry on
            self.log.line(timer.function, "error", timer.name, f"{type(exc).__name__}: {exc}", at=at)

    def _skipped(self, timer: TimerSpec, count: int) -> None:
        self.log.line(
            timer.function, "skip", timer.name, f"{count} missed edges (fell behind); firing the latest"
        )

    def restart_clock(self, start: datetime) -> None:
        """Set the simulated clock to ``start`` (after a slow start-up) and fire timers from there."""
        self.clock.set(start)
        if self.timers is not None:
            self.timers.last = self.clock.now()

    def step(self) -> list[tuple[TimerSpec, datetime]]:
        """Fire the timers that are due now."""
        assert self.timers is not None
        return self.timers.run_due()

    def stop(self) -> None:
        self.log.detach()
        if self.url_server is not None:
            self.url_server.stop()
        if self.emulator is not None:
            self.emulator.stop()


def seed_from_config(
    admin: Callable[[str, str, Any], Any], config_path: str, jobs: int
) -> list[dict[str, str]]:
    """Create the config's target buckets and queues in the emulator (ids as listed, two queues per
    name pattern) and submit ``jobs`` jobs to each; returns the queues made."""
    from ciqueue.schedule.config import load_config

    config = load_config(config_path)
    buckets: dict[tuple[str, str], dict[str, Any]] = {}
    made: list[dict[str, str]] = []
    for group, target in config.targets.items():
        entry = buckets.setdefault(
            (target.bucket, target.region),
            {"bucket": target.bucket, "region": target.region, "kinds": [], "queues": []},
        )
        if target.kind not in entry["kinds"]:
            entry["kinds"].append(target.kind)
        if target.queue_ids:
            specs = [(qid, f"{group}-{n + 1}") for n, qid in enumerate(target.queue_ids) if _is_queue_id(qid)]
        else:
            pattern = target.name_pattern or "*"
            specs = [
                ("p" + uuid.uuid4().hex, pattern.replace("*", str(n + 1)).replace("?", "x")) for n in range(2)
            ]
        for queue_id, name in specs:
            entry["queues"].append({"kind": target.kind, "queue_id": queue_id, "name": name})
            made.append(
                {"bucket": target.bucket, "region": target.region, "kind": target.kind, "queue_id": queue_id}
            )
    admin("POST", "seed", {"buckets": list(buckets.values())})
    if jobs > 0:
        for queue in made:
            admin("POST", "jobs", {**queue, "count": jobs})
    return made


def _is_queue_id(text: str) -> bool:
    return len(text) == 33 and text[0] == "p" and all(c in "0123456789abcdef" for c in text[1:])


def _parse_start(text: str | None, field_name: str = "--start") -> datetime:
    if not text:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        value = parse_instant(text)
    except ValueError:
        raise InvalidInput(
            field_name, f"must be an ISO date-time such as 2026-03-01T01:55:00+08:00 (got {text!r})"
        ) from None
    if value.tzinfo is None:
        raise InvalidInput(field_name, "must carry a UTC offset or Z")
    return value


def local_main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """``ciqueue local``: the emulator, the functions, their timers and the jobs, until Ctrl-C."""
    out = out or sys.stdout
    parser = argparse.ArgumentParser(
        prog="ciqueue local", description="Run the whole system on this machine."
    )
    parser.add_argument("--port", type=int, default=9000, help="emulator port (default 9000)")
    parser.add_argument(
        "--http-port", type=int, default=9080, help="Function URL (http_toggle) port (default 9080)"
    )
    parser.add_argument("--config", help="schedule config file (CIQUEUE_CONFIG of the functions)")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated time runs N times faster (default 1)"
    )
    parser.add_argument("--start", help="simulated start time, ISO with offset (default: now)")
    parser.add_argument("--jobs", type=int, default=3, help="jobs submitted to each seeded queue (default 3)")
    parser.add_argument(
        "--tick", type=float, default=1.0, help="seconds between job processing steps (default 1)"
    )
    parser.add_argument("--state", help="state file (default: a new temporary file)")
    parser.add_argument(
        "--allow-private-callbacks",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="deliver callbacks to loopback/private addresses (default on in local mode)",
    )
    parser.add_argument(
        "--callback-redirect",
        action="append",
        default=[],
        metavar="HOST=URL",
        help="deliver callbacks for HOST to URL, e.g. day.example.com=http://127.0.0.1:8081",
    )
    args = parser.parse_args(argv)
    try:
        return _run_local(args, out)
    except InvalidInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot start: {exc.strerror or exc}", file=sys.stderr)
        return 2


def _run_local(args: argparse.Namespace, out: TextIO) -> int:
    from ciqueue.api.auth import generate_token, token_entry

    if args.speed <= 0:
        raise InvalidInput("--speed", "must be more than 0")
    redirects = {}
    for item in args.callback_redirect:
        host, sep, url = item.partition("=")
        if not sep:
            raise InvalidInput("--callback-redirect", f"must be HOST=URL (got {item!r})")
        redirects[host] = url
    tokens = os.environ.get(ENV_API_TOKENS, "").strip() or None
    token_file = None
    if tokens is None:
        # The token goes to a private file, never to the terminal or a log line.
        token = generate_token()
        tokens = json.dumps([token_entry("local", token)])
        handle, token_file = tempfile.mkstemp(prefix="ciqueue-local-token-")
        with os.fdopen(handle, "w") as file:
            file.write(token + "\n")
    start = _parse_start(args.start)
    clock = SimClock(start, args.speed)
    stack = LocalStack(
        clock,
        out,
        config_path=args.config,
        port=args.port,
        http_port=args.http_port,
        allow_private_callbacks=args.allow_private_callbacks,
        api_tokens=tokens,
        state_file=args.state,
        tick_interval=args.tick,
    )
    stack.start()
    try:
        assert stack.emulator is not None and stack.url_server is not None and stack.timers is not None
        stack.emulator.jobs.set_redirects(redirects)
        print(f"ciqueue local: CI emulator on {stack.emulator.endpoint} (demo key pair)", file=out)
        if args.allow_private_callbacks:
            print(
                "  notice: allow_private_callbacks is ON: callbacks may go to loopback/private addresses "
                "(CI itself refuses them; --no-allow-private-callbacks to refuse here too)",
                file=out,
            )
        print(f"  http_toggle Function URL on {stack.url_server.url}", file=out)
        if token_file:
            print(f"  bearer token for it (scopes read, operate) is in {token_file}", file=out)
        if args.config:
            import requests

            session = requests.Session()

            def admin(method: str, name: str, body: Any) -> Any:
                response = session.request(
                    method, f"{stack.emulator.endpoint}/_emulator/{name}", json=body, timeout=5
                )
                response.raise_for_status()
                return response.json()

            made = seed_from_config(admin, args.config, args.jobs)
            print(f"  seeded {len(made)} queues from {args.config}, {args.jobs} jobs each", file=out)
        else:
            print("  no --config: the scheduler has no schedule to follow", file=out)
        for timer in stack.timers.timers:
            print(f"  timer {timer.function}/{timer.name}: cron '{timer.cron}' ({timer.zone})", file=out)
        stack.restart_clock(start)
        print(
            f"  simulated clock starts {iso_z(start)}, speed x{args.speed:g}; Ctrl-C stops",
            file=out,
            flush=True,
        )
        while True:
            stack.step()
            time.sleep(0.1)
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


# --- ciqueue invoke -------------------------------------------------------------------------------


def invoke_main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """``ciqueue invoke FUNCTION (--event FILE | --sample KIND)``: print the handler's JSON result."""
    out = out or sys.stdout
    parser = argparse.ArgumentParser(
        prog="ciqueue invoke", description="Invoke a function's handler in-process."
    )
    parser.add_argument("function", help=f"one of {', '.join(FUNCTIONS)}")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--event", metavar="FILE", help="the event as a JSON file ('-' = stdin)")
    source.add_argument("--sample", help=f"a sample event: {', '.join(SAMPLE_KINDS)}")
    parser.add_argument("--context", metavar="FILE", help="the context dict as a JSON file")
    parser.add_argument("--endpoint", help=f"CI endpoint, e.g. the emulator (env {ENV_ENDPOINT})")
    parser.add_argument("--config", help=f"schedule config file (env {ENV_CONFIG})")
    parser.add_argument("--now", help="simulated current time, ISO with offset (default: real time)")
    args = parser.parse_args(argv)
    try:
        now = _parse_start(args.now, "--now") if args.now else None
        event = _read_json(args.event, "--event") if args.event else sample_event(args.sample, now=now)
        context = _read_json(args.context, "--context") if args.context else None
        if context is not None and not isinstance(context, dict):
            raise InvalidInput("--context", "must hold a JSON object")
        env: dict[str, str | None] = {}
        if args.endpoint:
            env[ENV_ENDPOINT] = args.endpoint
        if args.config:
            env[ENV_CONFIG] = str(Path(args.config).resolve())
        # The function's own output (audit lines, logs) goes to stderr; stdout carries the result.
        with contextlib.redirect_stdout(sys.stderr):
            result = invoke(args.function, event, context, env, now=now)
    except InvalidInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the handler failed: SCF records the error type and message
        print(f"error: the handler raised {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, ensure_ascii=False, indent=2, default=str), file=out)
    return 0


def _read_json(path: str, field_name: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(field_name, f"cannot read {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidInput(field_name, f"must be JSON ({exc})") from None


__all__ = [
    "FUNCTIONS",
    "SAMPLE_KINDS",
    "FunctionUrlServer",
    "LiveLog",
    "LocalStack",
    "SimClock",
    "TimerRunner",
    "TimerSpec",
    "function_url_event",
    "integration_response",
    "invoke",
    "invoke_main",
    "local_main",
    "sample_event",
    "scf_context",
    "timer_event",
    "timers_from_serverless",
]

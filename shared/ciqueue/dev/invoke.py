"""Invoking a function in this process, as SCF would: ``ciqueue invoke`` and the stack use it.

Rules:
- a handler is ``main_handler(event, context)`` of ``ciqueue.handlers.<name>`` (what
  ``functions/<name>/index.py`` re-exports on SCF), loaded afresh per invocation (a new SCF
  instance: module-level caches start empty), from wherever ciqueue is imported: a checkout or an
  installed package;
- the environment of an invocation is applied for the call and restored afterwards; it is
  process-wide, so invocations are serialised (``invoke_lock``);
- simulated time: ``now`` becomes ``CIQUEUE_NOW``, which the runtime the handler builds reads as
  its clock; timer events also get ``TRIGGER_SRC=timer``;
- the handler's exceptions propagate, as SCF records a failed invocation;
- ``ciqueue invoke`` pointed at an endpoint (``--endpoint`` or ``CIQUEUE_ENDPOINT``, e.g. the
  emulator) with no credentials in the environment runs with the public demo key pair, as the
  other local tools do; your own credentials, when set, are used as they are (a real endpoint);
- fan-out in-process is built explicitly (``fan_out_in_process``): the scheduler's shards run the
  worker's logic on threads of this process behind the ``LocalInvoker`` interface, and the tick
  waits for them before it returns (their results and failures are in its report); production
  never chooses it (``ciqueue.app.invoker``);
- ``ProcessInvoker`` is the closer model of SCF's fan-out: each simulated instance is its own
  spawned interpreter (its own GIL, memory and module state, as a separate SCF instance has),
  loads the handler module once (a warm instance keeps it), handles one event at
  a time, and reports its peak RSS; ``dispatch_s`` is the wait the caller of SCF's Invoke API
  (``InvocationType=Event``) pays before the event is queued, modelled, not measured;
  ``preload`` names modules each instance imports before the handler, calling their
  ``instance_started()`` (a benchmark's measurement hooks: ``bench/_phases.py``), found on the
  caller's ``sys.path``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import multiprocessing
import os
import resource
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO

from ciqueue.constants import (
    DEMO_SECRET_ID,
    DEMO_SECRET_KEY,
    ENV_CONFIG,
    ENV_ENDPOINT,
    ENV_NOW,
    ENV_PYDANTIC_DISABLE_PLUGINS,
    ENV_SECRET_ID,
    ENV_SECRET_KEY,
    ENV_SESSION_TOKEN,
)
from ciqueue.dev.events import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, SAMPLE_KINDS, sample_event, scf_context
from ciqueue.errors import CiQueueError, InvalidInput
from ciqueue.records import dataclass, field
from ciqueue.timefmt import iso_z, parse_instant

if TYPE_CHECKING:
    from ciqueue.app.invoker import Handler
    from ciqueue.app.runtime import Runtime

log = logging.getLogger("ciqueue.invoker")

FUNCTIONS = ("scheduler", "http_toggle", "automation", "worker")
UTC = timezone.utc

invoke_lock = threading.RLock()


def find_functions_dir(explicit: str | Path | None = None) -> Path:
    """``functions/`` of the deployment (each ``<name>/serverless.yml``: timers, timeout, memory):
    the given folder, else the project's (``ciqueue.deploy.project.find_project``: a checkout, or
    the copy an installed package carries), so the tools run anywhere."""
    if explicit:
        folder = Path(explicit)
        if not (folder / "scheduler" / "serverless.yml").is_file():
            raise InvalidInput("functions", f"no scheduler/serverless.yml in {folder}")
        return folder
    from ciqueue.deploy.project import find_project

    return find_project().functions_dir


def load_handler_module(function: str) -> ModuleType:
    """A fresh copy of ``ciqueue.handlers.<function>``, the code ``functions/<function>/index.py``
    re-exports: a new module per call, as a new SCF instance loads it, so its caches start empty.
    Found through the import system, so a checkout and an installed package load it alike."""
    if function not in FUNCTIONS:
        raise InvalidInput("function", f"must be one of {', '.join(FUNCTIONS)} (got {function!r})")
    found = importlib.util.find_spec(f"ciqueue.handlers.{function}")
    origin = found.origin if found is not None else None
    spec = (
        importlib.util.spec_from_file_location(f"ciqueue_local_{function}_{uuid.uuid4().hex[:8]}", origin)
        if origin
        else None
    )
    if spec is None or spec.loader is None:
        raise InvalidInput("function", f"cannot load ciqueue.handlers.{function} (found {origin})")
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_handler(function: str) -> Callable[[Any, Any], Any]:
    """``main_handler`` of a fresh copy of the function's handler module (``load_handler_module``)."""
    module = load_handler_module(function)
    handler = getattr(module, "main_handler", None)
    if not callable(handler):
        raise InvalidInput("function", f"ciqueue.handlers.{function} has no main_handler(event, context)")
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
    """Call the function's ``main_handler(event, context)`` (``ciqueue.handlers``) in this process.

    ``env`` is applied for the call and restored afterwards; ``now`` (simulated time) becomes
    ``CIQUEUE_NOW`` and the runtime's clock. Timer events also get ``TRIGGER_SRC=timer`` as on
    SCF. The handler's exceptions propagate, as SCF would record a failed invocation.
    """
    ctx = (
        dict(context)
        if context is not None
        else scf_context(function, *function_limits(function, functions_dir))
    )
    scoped: dict[str, str | None] = dict(env or {})
    if now is not None:
        scoped[ENV_NOW] = iso_z(now)
    is_timer = isinstance(event, Mapping) and str(event.get("Type", "")).lower() == "timer"
    scoped.setdefault("TRIGGER_SRC", "timer" if is_timer else None)
    # What the handler module sets for its process when it is imported (the pydantic switch) is
    # put back afterwards too: this process is not the function's.
    scoped.setdefault(ENV_PYDANTIC_DISABLE_PLUGINS, os.environ.get(ENV_PYDANTIC_DISABLE_PLUGINS))
    # Runtime.from_env() reads CIQUEUE_NOW at every clock call, so the handler follows it. The
    # module is imported in the function's environment, as SCF imports it in the instance's.
    with invoke_lock, scoped_env(scoped):
        return load_handler(function)(event, ctx)


def function_limits(function: str, functions_dir: str | Path | None) -> tuple[float, int]:
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


# --- fan-out in this process ----------------------------------------------------------------------


@dataclass
class Invocation:
    """One in-process invocation: what was sent and the future of the handler's result."""

    function_name: str
    payload: dict[str, Any]
    future: Future[Any] = field(repr=False)
    request_id: str = ""


class InProcessInvoker:
    """A ``LocalInvoker`` that runs ``handler(payload, context)`` on a thread pool: the tick that
    starts an invocation collects it with ``finish``; ``wait()`` collects every one so far."""

    def __init__(self, handler: Handler, max_workers: int = 4, *, dispatch_s: float = 0.0) -> None:
        self.handler = handler
        self.dispatch_s = dispatch_s
        self.invocations: list[Invocation] = []
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ciqueue-worker")
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"InProcessInvoker(invocations={len(self.invocations)})"

    def invoke_async(self, function_name: str, payload: Mapping[str, Any]) -> str | None:
        if self.dispatch_s > 0:
            time.sleep(self.dispatch_s)  # the Invoke API's answer, which the caller waits for
        with self._lock:
            number = len(self.invocations) + 1
            request_id = f"inprocess-{number}"
            context = {"request_id": request_id, "function_name": function_name, "time_limit_in_ms": 60_000}
            event = dict(payload)
            future = self._pool.submit(self.handler, event, context)
            self.invocations.append(Invocation(function_name, event, future, request_id))
        return request_id

    def finish(self, invocation_id: str, timeout: float | None) -> Any:
        """The result of the invocation ``invocation_id`` (``app.invoker.LocalInvoker``): waits up
        to ``timeout`` seconds, raises the handler's exception, TimeoutError when still running."""
        with self._lock:
            found = [i for i in self.invocations if i.request_id == invocation_id]
        if not found:
            raise KeyError(f"no in-process invocation {invocation_id!r}")
        try:
            return found[0].future.result(timeout=timeout)
        except FutureTimeout:
            raise TimeoutError(f"invocation {invocation_id} still runs after {timeout} s") from None

    def wait(self, timeout: float | None = None) -> list[Any]:
        """Every invocation's result so far, in order (an exception is returned, not raised)."""
        with self._lock:
            pending = list(self.invocations)
        results: list[Any] = []
        for invocation in pending:
            try:
                results.append(invocation.future.result(timeout=timeout))
            except Exception as exc:  # a failed shard is reported, the others still count
                log.warning("in-process invocation of %s failed: %s", invocation.function_name, exc)
                results.append(exc)
        return results


class InvocationFailed(CiQueueError):
    """A handler run in a ``ProcessInvoker`` instance raised: its exception's type and message,
    carried across the process boundary (the exception itself may not unpickle in the caller).
    ``transient`` is the handler's own signal: its ``TransientFailure`` means SCF would retry."""

    http_status = 502

    def __init__(self, function: str, kind: str, message: str, transient: bool) -> None:
        super().__init__(f"{function} raised {kind}: {message[:300]}")
        self.function, self.kind, self.message, self.transient = function, kind, message, transient

    def __reduce__(self) -> tuple[Any, ...]:
        return (InvocationFailed, (self.function, self.kind, self.message, self.transient))


@dataclass(frozen=True)
class InstanceRun:
    """What one event cost its instance: the instance's pid, its peak RSS so far (KiB, from
    ``ru_maxrss``: a warm instance keeps what it grew to), and the run's CPU and wall seconds."""

    pid: int
    max_rss_kib: int
    cpu_s: float
    wall_s: float


_INSTANCE: dict[str, Any] = {}


def _start_instance(
    function: str, env: Mapping[str, str | None], stdout: str | None, preload: Sequence[str] = ()
) -> None:
    """A new simulated SCF instance: its environment, the ``preload`` modules, then the function's
    module, loaded once."""
    if stdout is not None:
        sys.stdout = open(stdout, "a", encoding="utf-8")  # noqa: SIM115 (the instance's whole life)
    _set_env(env)
    for name in preload:
        module = importlib.import_module(name)
        # Called, not left to import-time code: a module the caller's main script imports is
        # imported again in a spawned instance before this environment is set.
        started = getattr(module, "instance_started", None)
        if callable(started):
            started()
    _INSTANCE["function"] = function
    _INSTANCE["handler"] = load_handler(function)


def _run_in_instance(
    event: dict[str, Any], context: dict[str, Any], start_s: float
) -> tuple[Any, InstanceRun]:
    if start_s > 0:
        time.sleep(start_s)  # the async queue's delivery to the instance
    started, cpu = time.perf_counter(), time.process_time()
    function = str(_INSTANCE["function"])
    try:
        result = _INSTANCE["handler"](event, context)
    except Exception as exc:
        transient = type(exc).__name__ == "TransientFailure"
        raise InvocationFailed(function, type(exc).__name__, str(exc), transient) from None
    run = InstanceRun(
        os.getpid(),
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        time.process_time() - cpu,
        time.perf_counter() - started,
    )
    return json.loads(json.dumps(result, default=str)), run


def _ready(_: int) -> int:
    time.sleep(0.2)  # long enough that each of the pool's instances takes one
    return os.getpid()


class ProcessInvoker:
    """A ``LocalInvoker`` whose invocations run the function's ``main_handler`` (``ciqueue.handlers``) in
    ``instances`` spawned processes, each a simulated SCF instance (one event at a time).

    ``env``: the instances' environment (endpoint, credentials, config, state), set once at
    their start. ``dispatch_s``: what ``invoke_async`` waits, as the caller of the Invoke API waits
    for its answer; ``start_s``: the async queue's delivery delay before an instance starts the
    event (the caller does not wait for it). ``stdout``: a file the instances' output (audit
    lines, as SCF would log them) goes to, instead of this process's stdout. ``preload``: modules
    each instance imports at its start, before the handler (calling its ``instance_started()``
    when it has one). ``runs`` holds each finished event's
    ``InstanceRun``.
    """

    def __init__(
        self,
        function: str,
        env: Mapping[str, str | None],
        *,
        instances: int = 4,
        dispatch_s: float = 0.0,
        start_s: float = 0.0,
        time_limit_ms: int = 60_000,
        memory_mb: int = DEFAULT_MEMORY_MB,
        stdout: str | None = None,
        preload: Sequence[str] = (),
    ) -> None:
        if function not in FUNCTIONS:
            raise InvalidInput("function", f"must be one of {', '.join(FUNCTIONS)} (got {function!r})")
        self.function = function
        self.instances = instances
        self.dispatch_s, self.start_s = dispatch_s, start_s
        self.time_limit_ms, self.memory_mb = time_limit_ms, memory_mb
        self.invocations: list[Invocation] = []
        self.runs: dict[str, InstanceRun] = {}
        self._pool = ProcessPoolExecutor(
            max_workers=instances,
            mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded parent
            initializer=_start_instance,
            initargs=(function, dict(env), stdout, tuple(preload)),
        )
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ProcessInvoker({self.function!r}, instances={self.instances})"

    def warm(self) -> list[int]:
        """Start every instance (interpreter and module loaded) before the first event; their pids."""
        return sorted(set(self._pool.map(_ready, range(self.instances))))

    def invoke_async(self, function_name: str, payload: Mapping[str, Any]) -> str | None:
        if self.dispatch_s > 0:
            time.sleep(self.dispatch_s)
        with self._lock:
            request_id = f"process-{len(self.invocations) + 1}"
            context = scf_context(function_name, self.time_limit_ms / 1000, self.memory_mb, request_id)
            event = json.loads(json.dumps(dict(payload)))  # what SCF delivers: the JSON, not the objects
            future = self._pool.submit(_run_in_instance, event, context, self.start_s)
            self.invocations.append(Invocation(function_name, event, future, request_id))
        return request_id

    def finish(self, invocation_id: str, timeout: float | None) -> Any:
        """The invocation's result (``app.invoker.LocalInvoker``); its failure raised as
        ``InvocationFailed``; TimeoutError when it still runs after ``timeout`` seconds."""
        with self._lock:
            found = [i for i in self.invocations if i.request_id == invocation_id]
        if not found:
            raise KeyError(f"no invocation {invocation_id!r}")
        try:
            result, run = found[0].future.result(timeout=timeout)
        except FutureTimeout:
            raise TimeoutError(f"invocation {invocation_id} still runs after {timeout} s") from None
        self.runs[invocation_id] = run
        return result

    def close(self) -> None:
        """Stop the instances (waits for the events they hold)."""
        self._pool.shutdown(wait=True)


def fan_out_in_process(runtime: Runtime, max_workers: int = 4) -> InProcessInvoker:
    """Make ``runtime`` fan out in this process and return the invoker (``wait()`` for results).

    Each shard runs ``handle_shard`` (the worker function's logic) on ``runtime`` itself, so it
    sees the same endpoint, credentials, state store and clock as the tick that sent it.
    """
    from ciqueue.app.reconcile import handle_shard

    def run_shard(event: dict[str, Any], context: dict[str, Any]) -> Any:
        return handle_shard(event, runtime, context=context)

    invoker = InProcessInvoker(run_shard, max_workers=max_workers)
    runtime.invoker = invoker
    return invoker


def parse_start(text: str | None, field_name: str = "--start") -> datetime:
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
        now = parse_start(args.now, "--now") if args.now else None
        event = _read_json(args.event, "--event") if args.event else sample_event(args.sample, now=now)
        context = _read_json(args.context, "--context") if args.context else None
        if context is not None and not isinstance(context, dict):
            raise InvalidInput("--context", "must hold a JSON object")
        env: dict[str, str | None] = {}
        if args.endpoint:
            env[ENV_ENDPOINT] = args.endpoint
        if args.config:
            # Any location CIQUEUE_CONFIG takes (state.location's rule); a plain path made absolute.
            from ciqueue.state.location import parse_location

            where = parse_location(args.config, field_name="--config", default_key="")
            plain = where.scheme == "file" and not args.config.startswith("file:")
            env[ENV_CONFIG] = str(Path(args.config).resolve()) if plain else args.config
        env.update(demo_credentials(args.endpoint or os.environ.get(ENV_ENDPOINT, ""), os.environ))
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


def demo_credentials(endpoint: str, environ: Mapping[str, str]) -> dict[str, str | None]:
    """The demo key pair for an invocation sent to ``endpoint`` (an emulator) when ``environ``
    holds no credentials of its own; nothing otherwise (real CI needs real keys)."""
    from ciqueue.ci.credentials import credentials_in_env

    if not endpoint.strip() or credentials_in_env(environ):
        return {}
    return {ENV_SECRET_ID: DEMO_SECRET_ID, ENV_SECRET_KEY: DEMO_SECRET_KEY, ENV_SESSION_TOKEN: None}


def _read_json(path: str, field_name: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(field_name, f"cannot read {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidInput(field_name, f"must be JSON ({exc})") from None

"""The whole system on one machine: ``ciqueue local``.

Rules:
- the stack is the CI emulator, the Function URL server (http_toggle), the functions' timers on
  a simulated clock, and the emulator's jobs ticker; functions are invoked in-process, one at a
  time, with the environment ``local_env`` gives (the emulator, the demo key pair, a local state
  file, the config and token digests);
- the bearer token it makes goes to a private file, never to the terminal or a log line;
- the ops console is on at ``/ui`` of the Function URL: the session key is taken from
  ``CIQUEUE_SESSION_KEY`` or made at random for this run (kept in memory only), and the sign-in
  URL is printed (the token stays in its file);
- what it creates for a run (that token file, the temporary state file when ``--state`` names
  none) is removed when it stops; a port another process holds is named with what to do;
- seeding makes the config's target queues in the emulator (ids as listed, two queues per name
  pattern) and submits jobs to each.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from ciqueue.constants import (
    CONSOLE_PATH,
    DEMO_SECRET_ID,
    DEMO_SECRET_KEY,
    ENV_API_TOKENS,
    ENV_CONFIG,
    ENV_ENDPOINT,
    ENV_INVOKER,
    ENV_SECRET_ID,
    ENV_SECRET_KEY,
    ENV_SESSION_KEY,
    ENV_SESSION_TOKEN,
    ENV_STATE_BUCKET,
    ENV_STATE_FILE,
)
from ciqueue.dev.clock import SimClock, TimerRunner, TimerSpec, timers_from_serverless
from ciqueue.dev.events import scf_context, timer_event
from ciqueue.dev.invoke import find_functions_dir, function_limits, invoke, invoke_lock, parse_start
from ciqueue.dev.livelog import LiveLog
from ciqueue.dev.servers import FunctionUrlServer
from ciqueue.errors import InvalidInput
from ciqueue.records import dataclass, field
from ciqueue.timefmt import iso_z


def local_env(
    endpoint: str,
    *,
    config: str | None,
    state_file: str,
    api_tokens: str | None,
    session_key: str | None = None,
) -> dict[str, str | None]:
    """The environment the functions run with locally: the emulator, the demo key pair, no fan-out
    (as a deployment without ``CIQUEUE_INVOKER``), a local state file, the config, token digests
    and the console's session key (None: the console is off)."""
    return {
        ENV_ENDPOINT: endpoint,
        ENV_SECRET_ID: DEMO_SECRET_ID,
        ENV_SECRET_KEY: DEMO_SECRET_KEY,
        ENV_SESSION_TOKEN: None,
        ENV_INVOKER: None,  # no fan-out: a fleet past shard_size is reconciled inline in the tick
        ENV_STATE_BUCKET: None,
        ENV_STATE_FILE: state_file,
        ENV_CONFIG: config,
        ENV_API_TOKENS: api_tokens,
        ENV_SESSION_KEY: session_key,
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
    session_key: str | None = None
    root: Path | None = None
    tick_interval: float = 1.0
    log: LiveLog = field(init=False)
    emulator: Any = field(init=False, default=None)
    url_server: FunctionUrlServer | None = field(init=False, default=None)
    timers: TimerRunner | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        zone = "UTC"
        if self.config_path:
            from ciqueue.schedule.load import load_config

            zone = load_config(self.config_path, now=self.clock.now()).timezone
        self.log = LiveLog(self.out, self.clock.now, zone)
        if self.state_file is None:
            handle, self.state_file = tempfile.mkstemp(prefix="ciqueue-local-state-", suffix=".json")
            os.close(handle)
            os.unlink(self.state_file)  # the store creates it on first write

    def env(self) -> dict[str, str | None]:
        assert self.emulator is not None and self.state_file is not None
        config = str(Path(self.config_path).resolve()) if self.config_path else None
        return local_env(
            self.emulator.endpoint,
            config=config,
            state_file=self.state_file,
            api_tokens=self.api_tokens,
            session_key=self.session_key,
        )

    @property
    def console_url(self) -> str:
        """The ops console's sign-in page on the Function URL."""
        assert self.url_server is not None
        return f"{self.url_server.url}{CONSOLE_PATH}/signin"

    def call(
        self, function: str, event: Any, at: datetime | None = None, request_id: str | None = None
    ) -> Any:
        """Invoke a function as SCF would, at simulated time ``at`` (default: now)."""
        context = scf_context(
            function, *function_limits(function, self._functions_dir()), request_id=request_id
        )
        now = at or self.clock.now()
        with invoke_lock:
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

        with _listening(self.port, "--port"):
            self.emulator = EmulatorServer(
                port=self.port, allow_private_callbacks=self.allow_private_callbacks
            )
        self.emulator.start()
        self.emulator.jobs.clock = self.clock.timestamp
        self.emulator.jobs.subscribe(self.log.delivery)
        self.log.attach()
        try:
            with _listening(self.http_port, "--http-port"):
                self.url_server = FunctionUrlServer(self._url_call, port=self.http_port)
        except InvalidInput:
            self.stop()
            raise
        self.url_server.start()
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


@contextlib.contextmanager
def _listening(port: int, option: str) -> Iterator[None]:
    """Binding ``port`` inside: a port another process holds is InvalidInput naming ``option``."""
    from ciqueue.emulator.server import port_in_use

    try:
        yield
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise InvalidInput(option, port_in_use("127.0.0.1", port, option)) from None


def seed_from_config(
    admin: Callable[[str, str, Any], Any], config_path: str, jobs: int
) -> list[dict[str, str]]:
    """Create the config's target buckets and queues in the emulator (ids as listed, two queues per
    name pattern) and submit ``jobs`` jobs to each; returns the queues made."""
    from ciqueue.schedule.load import load_config

    config = load_config(config_path, now=datetime.now(timezone.utc))
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


def local_config_file(location: str, option: str) -> None:
    """Refuse a config location the local emulator cannot hold (``state.location``'s rule reads
    it): a ``cos://`` object would be read from the emulator being started, which holds none yet."""
    from ciqueue.state.location import parse_location

    if parse_location(location, field_name=option, default_key="").scheme == "cos":
        raise InvalidInput(
            option,
            f"must be a local file: the emulator started here holds no COS objects yet (got {location!r}); "
            "copy the object to a file and pass that",
        )


def emulator_admin(endpoint: str) -> Callable[[str, str, Any], Any]:
    """A caller of the emulator's admin API at ``endpoint`` (``/_emulator/<name>``, JSON both ways)."""
    import requests

    session = requests.Session()

    def admin(method: str, name: str, body: Any) -> Any:
        response = session.request(method, f"{endpoint}/_emulator/{name}", json=body, timeout=5)
        response.raise_for_status()
        return response.json()

    return admin


def emulator_main(argv: Sequence[str] | None = None) -> int:
    """``ciqueue emulator [...] [--seed-from-config FILE]``: the emulator's own options, plus the
    buckets and queues a schedule config targets made before it answers (``seed_from_config``,
    the rule ``ciqueue local --config`` uses, without jobs), so ``ciqueue invoke ... --config
    FILE`` against it finds its queues. A config that ``config check`` rejects stops it (exit 2)."""
    from ciqueue.emulator.server import EmulatorServer, build_parser, serve

    parser = build_parser()
    parser.add_argument(
        "--seed-from-config",
        metavar="FILE",
        help="create the buckets and queues this schedule config targets (as `ciqueue local --config`)",
    )
    args = parser.parse_args(argv)
    config = args.seed_from_config
    if not config:
        return serve(args)
    try:
        local_config_file(config, "--seed-from-config")
    except InvalidInput as exc:
        print(f"ciqueue emulator: {exc}", file=sys.stderr)
        return 2

    def seed(server: EmulatorServer) -> str:
        try:
            made = seed_from_config(emulator_admin(server.endpoint), config, 0)
        except InvalidInput as exc:
            raise ValueError("; ".join(f"{config}: {problem}" for problem in exc.problems)) from None
        return f"  seeded {len(made)} queues from {config}"

    return serve(args, on_start=seed)


def _token_hint(token_file: str | None) -> str:
    return f"the token in {token_file}" if token_file else f"a token of {ENV_API_TOKENS}"


def _is_queue_id(text: str) -> bool:
    return len(text) == 33 and text[0] == "p" and all(c in "0123456789abcdef" for c in text[1:])


def local_main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """``ciqueue local``: the emulator, the functions, their timers and the jobs, until Ctrl-C."""
    from ciqueue.emulator.server import port_argument

    out = out or sys.stdout
    parser = argparse.ArgumentParser(
        prog="ciqueue local", description="Run the whole system on this machine."
    )
    parser.add_argument(
        "--port", type=port_argument, default=9000, help="emulator port (default 9000; 0 = any)"
    )
    parser.add_argument(
        "--http-port",
        type=port_argument,
        default=9080,
        help="Function URL (http_toggle) port (default 9080; 0 = any)",
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
    if args.config:
        local_config_file(args.config, "--config")
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
    # The console's session key lives only in this process unless the caller set one.
    session_key = os.environ.get(ENV_SESSION_KEY, "").strip() or secrets.token_urlsafe(32)
    start = parse_start(args.start)
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
        session_key=session_key,
        tick_interval=args.tick,
    )
    try:
        stack.start()
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
        print(f"  ops console: open {stack.console_url} and sign in with {_token_hint(token_file)}", file=out)
        if args.config:
            made = seed_from_config(emulator_admin(stack.emulator.endpoint), args.config, args.jobs)
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
        # What this run made for itself goes with it; a --state file of yours stays.
        leftovers: list[str] = [token_file] if token_file else []
        if args.state is None and stack.state_file:
            leftovers += [stack.state_file, stack.state_file + ".lock"]
        for path in leftovers:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

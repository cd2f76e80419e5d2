"""The emulator's HTTP server: a ThreadingHTTPServer, the ``EmulatorServer`` context manager for
tests and the demo, and ``main()`` for ``ciqueue emulator [--host H] [--port P] [--data FILE]``
(``serve`` runs it with a start-up hook: ``ciqueue.dev.stack.emulator_main`` seeds from a config).

Requests in the absolute form a client sends to an HTTP proxy (``GET http://host/path``) are served
as requests to that host: an unchanged SDK with the emulator as its ``http`` proxy keeps the real
CI hosts, the bucket host and ``ci.<Region>.myqcloud.com`` alike, and signs them as it would.
"""

from __future__ import annotations

import argparse
import errno
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.emulator.cos_objects import CosObjects, is_cos_request
from ciqueue.emulator.faults import Faults, RequestLog
from ciqueue.emulator.jobs import JobsEngine, is_jobs_path
from ciqueue.emulator.models import Clock, EmulatorModel, MemoryStore, SqliteStore, Store
from ciqueue.emulator.responses import AdminResponses, CIResponses, Reply, Request
from ciqueue.emulator.routing import is_admin_path
from ciqueue.limits import MAX_EMULATOR_BODY_BYTES, MAX_PORT


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the CI endpoints and the clients' pools expect
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: _HTTPServer

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def _serve(self) -> None:
        target = self.path
        headers = {k.lower(): v for k, v in self.headers.items()}
        if target.startswith(("http://", "https://")):
            # The absolute form a client sends to an HTTP proxy (RFC 9112 3.2.2): the emulator can
            # be set as the proxy of an unchanged SDK, which then keeps the real CI hosts. The
            # URI's authority is the host (and the Host header must agree; requests sends both).
            parts = urlsplit(target)
            headers["host"] = parts.netloc
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        raw_path, _, query = target.partition("?")
        try:
            length = int(headers.get("content-length", "0") or "0")
        except ValueError:
            length = -1
        if length < 0 or length > MAX_EMULATOR_BODY_BYTES:
            self._write(Reply.json(413 if length > 0 else 400, {"error": "bad Content-Length"}))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command.upper(),
            path=unquote(raw_path, errors="replace") if raw_path else "/",
            params=dict(parse_qsl(query, keep_blank_values=True)),
            headers=headers,
            body=body,
        )
        app = self.server.app
        reply: Reply | None
        if is_jobs_path(request.path) and app.jobs is not None:
            reply = app.jobs.handle(request)  # simulated jobs and callbacks (emulator/jobs.py)
        elif is_admin_path(request.path):
            reply = app.admin.handle(request)
            if (request.method, request.path.rstrip("/")) == ("POST", "/_emulator/reset"):
                app.cos.reset()
                if app.jobs is not None:
                    app.jobs.reset()
        elif is_cos_request(request.host, request.path):
            reply = app.cos.handle(request)  # COS objects (the state store's bucket)
        else:
            reply = app.ci.handle(request)
        if reply is None:
            # An injected dropped connection: close the socket without a byte of answer.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._write(reply)

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def version_string(self) -> str:
        return "tencent-ci"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are in the emulator's request log; stderr noise helps nobody


class _App:
    def __init__(
        self, ci: CIResponses, admin: AdminResponses, cos: CosObjects, jobs: JobsEngine | None = None
    ) -> None:
        self.ci = ci
        self.admin = admin
        self.cos = cos
        self.jobs = jobs


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops the SYNs of a burst of new connections (a pool
    # of 32 opening at once); each dropped one costs the client a 1 s SYN retransmit.
    request_queue_size = socket.SOMAXCONN
    app: _App


class EmulatorServer:
    """A CI emulator serving on ``host:port`` (0 = a free port) in a daemon thread.

    ``with EmulatorServer() as emu: emu.endpoint`` -> ``http://127.0.0.1:<port>``. ``data`` names a
    SQLite file that keeps the state across restarts; without it the state lives in memory.
    ``clock`` is the time the emulator judges signatures by and stamps UpdateTime with.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        data: str | Path | None = None,
        clock: Clock = time.time,
        allow_private_callbacks: bool = False,
    ) -> None:
        self.host = host
        store: Store = SqliteStore(data) if data is not None else MemoryStore()
        self.model = EmulatorModel(store=store, clock=clock)
        self.faults = Faults()
        self.requests = RequestLog()
        self.allow_private_callbacks = allow_private_callbacks
        ci = CIResponses(self.model, self.faults, self.requests, allow_private_callbacks)
        admin = AdminResponses(self.model, self.faults, self.requests)
        self._httpd = _HTTPServer((host, port), _Handler)
        self.cos = CosObjects(self.model, self.requests)
        self.jobs = JobsEngine(self.model, allow_private_callbacks=allow_private_callbacks)
        self._httpd.app = _App(ci, admin, self.cos, self.jobs)
        self.port: int = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> EmulatorServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"ci-emulator-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop()`` (or KeyboardInterrupt)."""
        self._httpd.serve_forever()

    def stop(self) -> None:
        self.jobs.stop_ticker()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()
        self.model.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def port_argument(text: str) -> int:
    """A ``--port`` value: 0 (any free port) to MAX_PORT, refused by argparse naming the rule."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"must be a port from 0 (any free one) to {MAX_PORT} (got {text!r})")
    return port


def port_in_use(host: str, port: int, option: str = "--port") -> str:
    """The rule for a port another process holds: which, and what to do."""
    return (
        f"{host}:{port} is in use (another ciqueue emulator or local?): stop it, "
        f"or pass {option} N (0 = any free port)"
    )


def build_parser() -> argparse.ArgumentParser:
    """``ciqueue emulator``'s options (``ciqueue.dev.stack.emulator_main`` adds the seeding one)."""
    parser = argparse.ArgumentParser(
        prog="ciqueue emulator",
        description="Run a local CI queue API emulator (admin API under /_emulator/).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=port_argument, default=9000, help="port to listen on (default 9000; 0 = any)"
    )
    parser.add_argument("--data", metavar="FILE", help="SQLite file that keeps the state across restarts")
    parser.add_argument(
        "--allow-private-callbacks",
        action="store_true",
        help="accept callback URLs on private networks (local experiments only)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """``ciqueue emulator``: serve until Ctrl-C, then exit 0."""
    return serve(build_parser().parse_args(argv))


def serve(args: argparse.Namespace, on_start: Callable[[EmulatorServer], str | None] | None = None) -> int:
    """Listen as ``args`` say, run ``on_start`` (a line to print, or None; a ``ValueError`` it raises
    stops the server with exit 2 and its message), then serve until Ctrl-C and exit 0."""
    try:
        server = EmulatorServer(
            args.host, args.port, data=args.data, allow_private_callbacks=args.allow_private_callbacks
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"ciqueue emulator: --port: {port_in_use(args.host, args.port)}", file=sys.stderr)
        else:
            print(
                f"ciqueue emulator: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr
            )
        return 2
    try:
        if on_start is not None:
            server.start()
            note = on_start(server)
            if note:
                print(note, flush=True)
    except ValueError as exc:
        print(f"ciqueue emulator: {exc}", file=sys.stderr)
        server.stop()
        return 2
    # The demo key pair is public and documented; keys from the environment are never printed.
    print(
        f"ciqueue emulator on {server.endpoint} (demo SecretId {DEMO_SECRET_ID}, "
        f"SecretKey {DEMO_SECRET_KEY}); Ctrl-C stops",
        flush=True,
    )
    try:
        if on_start is None:
            server.serve_forever()
        else:
            threading.Event().wait()  # already serving on its thread
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""HTTP servers of the local stack: a background server base and the Function URL server.

Rules:
- each request becomes the Function URL event (``ciqueue.dev.events``), the call's result the
  integration response; a handler exception is a 502 naming only its type, never a trace;
- bodies over SCF's sync request limit are refused with 413 before the handler runs;
- servers answer on daemon threads: ``start``/``stop`` or a ``with`` block.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from ciqueue.dev.events import HttpAnswer, function_url_event, integration_response
from ciqueue.limits import SCF_MAX_SYNC_REQUEST_BYTES


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
        # A header sent on several lines keeps every value (a list), so the handler can tell.
        headers: dict[str, str | list[str]] = {}
        for name in dict.fromkeys(k.lower() for k in self.headers):
            if name not in ("connection", "keep-alive"):
                values = self.headers.get_all(name) or []
                headers[name] = values[0] if len(values) == 1 else values

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

"""A hostile CI on loopback: a socket server on 127.0.0.1 that answers with what a broken or
malicious service (or something in between) could send.

Each reply is a function ``(sock, request) -> None`` writing raw bytes, so framing can be wrong on
purpose. ``HostileServer.script(reply, ...)`` queues replies for the next requests; once the queue
is empty the ``default`` reply answers. Every request is recorded (method, path, headers, body),
so a test can count the PUTs and read what they carried.

The replies: ``describe`` (a good DescribeQueues body, optionally missing an element), ``updated``
(a good PUT answer), ``huge`` (50 MB, announced or not), ``gzip_bomb`` (a small gzip body that
inflates to 300 MB), ``endless_chunked``, ``trickle`` (the body, or the headers, a byte at a
time), ``malformed`` (not XML), ``truncated`` (Content-Length promises more than comes),
``truncated_chunked`` (no last chunk), ``bad_gzip``, ``silent`` (reads, never answers).
"""

from __future__ import annotations

import gzip
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

Reply = Callable[[socket.socket, "Request"], None]

QUEUE_ID = "p0000000000000000000000000000b001"
NOTIFY_XML = (
    "<NotifyConfig><Url>https://cb.example.com/ci?token=t</Url><Event>TaskFinish</Event>"
    "<Type>Url</Type><State>On</State><ResultFormat>JSON</ResultFormat></NotifyConfig>"
)
# One 64 KiB block reused for every big body, so the server itself allocates almost nothing.
_BLOCK = b"<x>" + b"a" * (64 * 1024 - 7) + b"</x>"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def queue_xml(*, name: bool = True, state: bool = True, notify: bool = True, extra: str = "") -> str:
    parts = [f"<QueueId>{QUEUE_ID}</QueueId>"]
    if name:
        parts.append("<Name>hostile-q</Name>")
    if state:
        parts.append("<State>Active</State>")
    if notify:
        parts.append(NOTIFY_XML)
    parts.append(extra)
    return "".join(parts)


def _send_head(sock: socket.socket, status: int, headers: dict[str, str]) -> None:
    lines = [f"HTTP/1.1 {status} {'OK' if status < 400 else 'Error'}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())


def _whole(status: int, body: bytes, **headers: str) -> Reply:
    def reply(sock: socket.socket, request: Request) -> None:
        _send_head(
            sock,
            status,
            {"Content-Type": "application/xml", "Content-Length": str(len(body)), **headers},
        )
        sock.sendall(body)

    return reply


def describe(**missing: bool) -> Reply:
    """A good DescribeQueues answer with one queue; ``notify=False`` / ``name=False`` drop one."""
    body = (
        "<Response><RequestId>rid-read</RequestId><TotalCount>1</TotalCount><PageNumber>1</PageNumber>"
        f"<PageSize>10</PageSize><QueueList>{queue_xml(**missing)}</QueueList></Response>"
    ).encode()
    return _whole(200, body, **{"x-ci-request-id": "rid-read"})


def updated() -> Reply:
    body = f"<Response><RequestId>rid-put</RequestId><Queue>{queue_xml()}</Queue></Response>".encode()
    return _whole(200, body, **{"x-ci-request-id": "rid-put"})


def malformed() -> Reply:
    return _whole(200, b"<Response><QueueList><QueueId>p1</Queue", **{"x-ci-request-id": "rid-bad"})


def huge(total: int = 50 * 1024 * 1024, announce: bool = False) -> Reply:
    """``total`` bytes as fast as the client takes them; Content-Length only when ``announce``."""

    def reply(sock: socket.socket, request: Request) -> None:
        headers = {"Content-Type": "application/xml"}
        headers["Content-Length" if announce else "Connection"] = str(total) if announce else "close"
        _send_head(sock, 200, headers)
        sent = 0
        while sent < total:
            sock.sendall(_BLOCK)
            sent += len(_BLOCK)

    return reply


@lru_cache(maxsize=1)
def bomb_bytes(inflated: int = 300 * 1024 * 1024) -> bytes:
    """A gzip body of about 300 KB that inflates to ``inflated`` bytes of one repeated byte."""
    out = io.BytesIO()
    zeros = b"\0" * (1024 * 1024)
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as stream:
        for _ in range(inflated // len(zeros)):
            stream.write(zeros)
    return out.getvalue()


def gzip_bomb() -> Reply:
    return _whole(200, bomb_bytes(), **{"Content-Encoding": "gzip"})


def bad_gzip() -> Reply:
    return _whole(200, b"\x1f\x8b\x08\x00not gzip at all" * 4, **{"Content-Encoding": "gzip"})


def endless_chunked() -> Reply:
    def reply(sock: socket.socket, request: Request) -> None:
        _send_head(sock, 200, {"Content-Type": "application/xml", "Transfer-Encoding": "chunked"})
        frame = b"%x\r\n" % len(_BLOCK) + _BLOCK + b"\r\n"
        while True:
            sock.sendall(frame)

    return reply


def trickle(interval: float = 0.2, headers_too: bool = False) -> Reply:
    """A good describe answer, a byte every ``interval`` seconds (the headers too if asked)."""
    body = (
        "<Response><RequestId>rid-slow</RequestId><TotalCount>1</TotalCount>"
        f"<QueueList>{queue_xml()}</QueueList></Response>"
    ).encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {len(body)}\r\n\r\n"

    def reply(sock: socket.socket, request: Request) -> None:
        if not headers_too:
            sock.sendall(head.encode())
        for byte in (head.encode() if headers_too else b"") + body:
            sock.sendall(bytes([byte]))
            time.sleep(interval)

    return reply


def truncated() -> Reply:
    def reply(sock: socket.socket, request: Request) -> None:
        _send_head(sock, 200, {"Content-Type": "application/xml", "Content-Length": "4096"})
        sock.sendall(b"<Response><QueueList><QueueId>p1</QueueId>")
        sock.shutdown(socket.SHUT_WR)  # and hang up

    return reply


def truncated_chunked() -> Reply:
    def reply(sock: socket.socket, request: Request) -> None:
        _send_head(sock, 200, {"Content-Type": "application/xml", "Transfer-Encoding": "chunked"})
        sock.sendall(b"10\r\n<Response><Queue\r\n")  # and no 0-size last chunk
        sock.shutdown(socket.SHUT_WR)

    return reply


def silent() -> Reply:
    def reply(sock: socket.socket, request: Request) -> None:
        time.sleep(3600)

    return reply


def _read_request(sock: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    first, *lines = head.decode("latin-1").split("\r\n")
    method, target, _ = first.split(" ", 2)
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return Request(method, target, headers, rest[:length])


@dataclass
class HostileServer:
    """The server: ``endpoint`` to aim a CIClient at, ``requests`` it received."""

    default: Reply = field(default_factory=describe)
    requests: list[Request] = field(default_factory=list)
    _queue: list[Reply] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sockets: list[socket.socket] = field(default_factory=list)

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._stopped = True
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies`` in order, then with ``default``."""
        with self._lock:
            self._queue.extend(replies)

    def puts(self) -> list[Request]:
        return [r for r in self.requests if r.method == "PUT"]

    def _accept(self) -> None:
        while not self._stopped:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            with sock:
                while True:
                    request = _read_request(sock)
                    if request is None:
                        return
                    with self._lock:
                        self.requests.append(request)
                        reply = self._queue.pop(0) if self._queue else self.default
                    reply(sock, request)
        except OSError:
            return  # the client hung up (as it should on a hostile reply)


@contextmanager
def hostile_server(default: Reply | None = None) -> Iterator[HostileServer]:
    server = HostileServer(default=default or describe())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def inflate_ratio() -> float:
    """How much the bomb inflates (for the report)."""
    return 300 * 1024 * 1024 / len(bomb_bytes())

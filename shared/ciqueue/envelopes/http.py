"""The HTTP request an HTTP trigger carries (Function URL or API Gateway), in one shape.

Rules:
- Header names are lower-cased; a repeated query or header key (a list) keeps its last value. A
  header given more than once (two keys differing only in case, or a list of several values) is
  also named in ``repeated_headers``: collapsing it is a guess, and a door that must not guess
  (credentials: ``ciqueue.api.auth``) refuses it instead.
- The body is bytes, base64-decoded when the event says ``isBase64Encoded`` (bad base64 is
  InvalidInput naming ``body``), and at most ``MAX_API_BODY_BYTES``: a larger body is
  ``PayloadTooLarge`` (413), refused before anything reads it (a base64 body by the size it
  decodes to, judged before decoding), whichever trigger carried it.
- A body is decoded as JSON by the one rule for a user's JSON text (``jsontext``).
- Header values that may hold credentials are never shown in a repr or a log line.
The HTTP API (``ciqueue.api``) reads this shape; it lives here, below the API, because the
envelopes build it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from ciqueue.errors import InvalidInput, PayloadTooLarge
from ciqueue.jsontext import load_json_object
from ciqueue.limits import MAX_API_BODY_BYTES
from ciqueue.records import dataclass, field, replace

# Header values that may hold credentials: never shown in a repr or a log line.
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP call, whichever trigger carried it. Header names are lower-case."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    source_ip: str | None = None
    request_id: str | None = None
    source: str = "function_url"
    # A CAM caller identity the platform put in the event (Function URL only; see auth.py).
    cam_identity: str | None = None
    # Lower-case names of headers the event gave more than once (``headers`` keeps the last).
    repeated_headers: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        shown = {k: ("***" if k in SENSITIVE_HEADERS else v) for k, v in self.headers.items()}
        return (
            f"HttpRequest(method={self.method!r}, path={self.path!r}, query={self.query!r}, "
            f"headers={shown!r}, body=<{len(self.body)} bytes>, source_ip={self.source_ip!r}, "
            f"request_id={self.request_id!r}, source={self.source!r}, cam_identity={self.cam_identity!r}, "
            f"repeated_headers={sorted(self.repeated_headers)!r})"
        )

    __str__ = __repr__

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json_body(self, field: str = "body") -> Any:
        """The body as JSON (an empty body is ``{}``), decoded by the one rule for a user's JSON
        text (``jsontext.load_json_object``), or InvalidInput naming ``field``."""
        if not self.body.strip():
            return {}
        return load_json_object(self.body, field)


# Parsing events -----------------------------------------------------------------------------


def build_request(
    *,
    source: str,
    method: str,
    path: str,
    query: Mapping[str, Any] | None,
    headers: Mapping[str, Any] | None,
    body: str | None,
    is_base64: bool,
    source_ip: str | None,
    request_id: str | None,
    cam_identity: str | None = None,
) -> HttpRequest:
    """Normalise the parts of an HTTP event: upper-case method, lower-case headers, bytes body."""
    norm_headers: dict[str, str] = {}
    repeated: set[str] = set()
    for key, value in (headers or {}).items():
        name = str(key).lower()
        if name in norm_headers or (isinstance(value, list) and len(value) > 1):
            repeated.add(name)
        norm_headers[name] = _text(value)
    raw = body or ""
    # The size is judged before the body is decoded or copied: base64 by the size it decodes to
    # (exact for valid base64; invalid text that long is too large first), text by its length
    # (each character is at least one byte), then by its UTF-8 bytes.
    size = _decoded_size(raw) if is_base64 else len(raw)
    if size > MAX_API_BODY_BYTES:
        raise PayloadTooLarge("body", MAX_API_BODY_BYTES, size)
    if is_base64:
        try:
            data = base64.b64decode(raw, validate=True)
        except ValueError:
            raise InvalidInput("body", "must be base64 (isBase64Encoded is true)") from None
    else:
        data = raw.encode("utf-8")
    if len(data) > MAX_API_BODY_BYTES:
        raise PayloadTooLarge("body", MAX_API_BODY_BYTES, len(data))
    return HttpRequest(
        method=method.upper(),
        path=path or "/",
        query={str(k): _text(v) for k, v in (query or {}).items()},
        headers=norm_headers,
        body=data,
        source_ip=source_ip or norm_headers.get("x-scf-remote-addr"),
        request_id=request_id or norm_headers.get("x-scf-request-id"),
        source=source,
        cam_identity=cam_identity,
        repeated_headers=frozenset(repeated),
    )


def _decoded_size(text: str) -> int:
    """The bytes base64 ``text`` decodes to, counted without decoding it."""
    return len(text) * 3 // 4 - (2 if text.endswith("==") else 1 if text.endswith("=") else 0)


def _text(value: Any) -> str:
    """A query/header value as text; a repeated key (a list) keeps its last value."""
    if isinstance(value, list):
        value = value[-1] if value else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def with_request_id(request: HttpRequest, request_id: str) -> HttpRequest:
    """``request`` with the invocation's request id (when the event carried none)."""
    return replace(request, request_id=request_id)

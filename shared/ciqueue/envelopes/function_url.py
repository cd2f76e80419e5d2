"""Function URL (函数 URL) trigger: an API-Gateway-compatible event without the gateway parts.

Documented keys: ``httpMethod``, ``path``, ``headers``, ``queryString``, ``body``. Real events
were also seen with ``isBase64Encoded``, empty ``*Parameters`` and ``requestContext.sourceIp``;
all are read when present. The query is ``queryString``, else ``rawQueryString`` if a future
event carries one, else ``queryStringParameters``.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import parse_qsl

from ciqueue.ci.credentials import mask
from ciqueue.envelopes.base import Key, http_request, read_keys
from ciqueue.envelopes.http import HttpRequest
from ciqueue.records import dataclass

SOURCE = "function_url"
# requestContext.identity keys that name a CAM caller, in order of preference. The reference does
# not document what a CAM-authenticated Function URL event carries; see auth.py for the rule.
CAM_IDENTITY_KEYS = ("uin", "principalId", "secretId")


@dataclass(frozen=True)
class FunctionUrlEvent:
    """The keys a Function URL event carries (others are ignored), read by ``read_keys``."""

    httpMethod: str
    path: str
    headers: dict[str, Any] | None = None
    queryString: dict[str, Any] | None = None
    rawQueryString: str | None = None
    queryStringParameters: dict[str, Any] | None = None
    body: str | None = None
    isBase64Encoded: bool = False
    requestContext: dict[str, Any] | None = None

    KEYS: ClassVar[tuple[Key, ...]] = (
        Key("httpMethod", "str", required=True),
        Key("path", "str", required=True),
        Key("headers", "dict", nullable=True),
        Key("queryString", "dict", nullable=True),
        Key("rawQueryString", "str", nullable=True),
        Key("queryStringParameters", "dict", nullable=True),
        Key("body", "str", nullable=True),
        Key("isBase64Encoded", "bool", default=False),
        Key("requestContext", "dict", nullable=True),
    )

    @classmethod
    def read(cls, event: object) -> FunctionUrlEvent:
        """The event's keys, or InvalidInput naming each one missing or of the wrong type."""
        return cls(**read_keys(event, cls.KEYS))


def parse_request(event: object) -> HttpRequest:
    """The HttpRequest of a Function URL event, or InvalidInput naming the malformed key."""
    parsed = FunctionUrlEvent.read(event)
    context = parsed.requestContext or {}
    query: dict[str, Any] | None = parsed.queryString
    if not query and parsed.rawQueryString:
        query = dict(parse_qsl(parsed.rawQueryString, keep_blank_values=True))
    if not query:
        query = parsed.queryStringParameters
    source_ip = context.get("sourceIp")
    request_id = context.get("requestId")
    return http_request(
        SOURCE,
        parsed,
        query,
        source_ip if isinstance(source_ip, str) else None,
        request_id if isinstance(request_id, str) else None,
        cam_identity(context),
    )


def cam_identity(context: dict[str, Any]) -> str | None:
    """``uin:<uin>`` / ``principalId:<id>`` / ``secretId:<masked>`` from requestContext.identity."""
    identity = context.get("identity")
    if not isinstance(identity, dict):
        return None
    for key in CAM_IDENTITY_KEYS:
        value = identity.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            text = str(value).strip()
            return f"{key}:{mask(text) if key == 'secretId' else text}"
    return None

"""Legacy API Gateway trigger (集成请求; the service is being retired, see the reference).

The real path is ``path``; the full query is ``queryString`` (``queryStringParameters`` holds only
the parameters configured in the gateway and is used only when ``queryString`` is absent);
``requestContext`` carries ``serviceId``, ``requestId``, ``sourceIp`` and ``identity``. With
Base64 passthrough on, ``isBase64Encoded`` is true and ``body`` is base64.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ciqueue.envelopes.base import http_request, validate_http
from ciqueue.envelopes.http import HttpRequest

SOURCE = "apigw"


class ApigwRequestContext(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    serviceId: str
    path: str | None = None
    httpMethod: str | None = None
    requestId: str | None = None
    sourceIp: str | None = None
    stage: str | None = None
    identity: dict[str, Any] | None = None


class ApigwEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    httpMethod: str
    path: str
    requestContext: ApigwRequestContext
    headers: dict[str, Any] | None = None
    queryString: dict[str, Any] | None = None
    queryStringParameters: dict[str, Any] | None = None
    pathParameters: dict[str, Any] | None = None
    body: str | None = None
    isBase64Encoded: bool = False


def parse_request(event: object) -> HttpRequest:
    """The HttpRequest of an API Gateway event, or InvalidInput naming the malformed key."""
    parsed = validate_http(ApigwEvent, event)
    context = parsed.requestContext
    query = parsed.queryString if parsed.queryString is not None else parsed.queryStringParameters
    # API Gateway's own key-pair identity is not a CAM caller: never trusted as one.
    return http_request(SOURCE, parsed, query, context.sourceIp, context.requestId, cam_identity=None)

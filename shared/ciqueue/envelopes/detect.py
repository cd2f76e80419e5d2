"""Which SCF trigger sent this event, and its records or HTTP request (rules in docs/events.md).

The source is decided by distinctive keys only:

- ``Type`` equal to "Timer" (any case; old docs show "timer")  -> timer
- ``clslogs`` is an object                                      -> cls
- ``Records`` is a list whose first item has ``cos`` / ``CMQ`` / ``Ckafka`` -> cos / cmq / ckafka
- ``httpMethod`` and ``path``, and ``requestContext.serviceId`` -> apigw (legacy API Gateway)
- ``httpMethod`` and ``path`` without a ``serviceId``          -> function_url
- anything else                                                  -> unknown
A Function URL event is "compatible with apigw minus requestContext" and real ones may carry a
``requestContext`` with only ``sourceIp``; the API Gateway service id is what tells them apart.

Each source's reader module (its pydantic models) is imported only when an event of that source
arrives: a function serves one trigger kind, so a Function URL request never builds the COS,
CMQ, CKafka or CLS models (bench/bench_first_invocation.py measures the cold path).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from ciqueue.envelopes.base import Record
from ciqueue.envelopes.http import HttpRequest, with_request_id
from ciqueue.errors import InvalidInput

Source = Literal["timer", "function_url", "apigw", "cos", "cmq", "ckafka", "cls", "unknown"]
SOURCES: tuple[Source, ...] = ("timer", "function_url", "apigw", "cos", "cmq", "ckafka", "cls", "unknown")

_RECORD_KEYS: tuple[tuple[str, Source], ...] = (("cos", "cos"), ("CMQ", "cmq"), ("Ckafka", "ckafka"))


def detect_source(event: object) -> Source:
    """Name the trigger source of ``event`` (never raises)."""
    if not isinstance(event, Mapping):
        return "unknown"
    type_ = event.get("Type")
    if isinstance(type_, str) and type_.lower() == "timer":
        return "timer"
    if isinstance(event.get("clslogs"), Mapping):
        return "cls"
    records = event.get("Records")
    if isinstance(records, list):
        first = records[0] if records else None
        if isinstance(first, Mapping):
            for key, source in _RECORD_KEYS:
                if key in first:
                    return source
        return "unknown"
    if isinstance(event.get("httpMethod"), str) and isinstance(event.get("path"), str):
        context = event.get("requestContext")
        if isinstance(context, Mapping) and context.get("serviceId"):
            return "apigw"
        return "function_url"
    return "unknown"


def records_for(event: object) -> tuple[str, list[Record]]:
    """Detect the source of ``event`` and return (source, records) for a command-carrying source.

    Raises InvalidInput for HTTP and unknown events (HTTP goes through ``http_request_for``).
    """
    source = detect_source(event)
    reader = _reader(source)
    if reader is None:
        raise InvalidInput("event", f"must be a timer, COS, CMQ, CKafka or CLS event (got {source})")
    return source, reader(event)


def _reader(source: Source) -> Callable[[object], list[Record]] | None:
    """The records reader of a command-carrying source, its module imported now; None otherwise."""
    if source == "timer":
        from ciqueue.envelopes import timer

        return timer.records
    if source == "cos":
        from ciqueue.envelopes import cos

        return cos.records
    if source == "cmq":
        from ciqueue.envelopes import cmq

        return cmq.records
    if source == "ckafka":
        from ciqueue.envelopes import ckafka

        return ckafka.records
    if source == "cls":
        from ciqueue.envelopes import cls

        return cls.records
    return None


def http_request_for(event: object, context: Mapping[str, Any] | None = None) -> HttpRequest:
    """Read a Function URL or API Gateway event into an HttpRequest, or raise InvalidInput."""
    source = detect_source(event)
    if source == "apigw":
        from ciqueue.envelopes import apigw

        request = apigw.parse_request(event)
    elif source == "function_url":
        from ciqueue.envelopes import function_url

        request = function_url.parse_request(event)
    else:
        raise InvalidInput("event", f"must be a Function URL or API Gateway event (got {source})")
    if request.request_id is None and context is not None and isinstance(context.get("request_id"), str):
        request = with_request_id(request, context["request_id"])
    return request

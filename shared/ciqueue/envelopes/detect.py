"""Which SCF trigger sent this event? Decided by distinctive keys only (rules in docs/events.md).

- ``Type`` equal to "Timer" (any case; old docs show "timer")  -> timer
- ``clslogs`` is an object                                      -> cls
- ``Records`` is a list whose first item has ``cos`` / ``CMQ`` / ``Ckafka`` -> cos / cmq / ckafka
- ``httpMethod`` and ``path``, and ``requestContext.serviceId`` -> apigw (legacy API Gateway)
- ``httpMethod`` and ``path`` without a ``serviceId``          -> function_url
- anything else                                                  -> unknown
A Function URL event is "compatible with apigw minus requestContext" and real ones may carry a
``requestContext`` with only ``sourceIp``; the API Gateway service id is what tells them apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

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

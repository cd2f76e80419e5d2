"""SCF handler of the HTTP API (Function URL, or a legacy API Gateway trigger).

Thin on purpose: the event becomes an ``HttpRequest`` (``ciqueue.api.http``), ``ciqueue.api.routes.HttpApi``
authenticates and routes it, and the answer goes back in the integration-response shape both
triggers accept. Paths under ``/ui`` go to the ops console (``ciqueue.api.ui.console``), imported
only then, so the JSON routes never load its templates. The API object (tokens, runtime) and the
console are built once per container, on first use.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ciqueue.constants import CONSOLE_PATH, ENV_LOG_LEVEL, ENV_PYDANTIC_DISABLE_PLUGINS, PYDANTIC_PLUGINS_OFF

if TYPE_CHECKING:
    from ciqueue.api.routes import HttpApi
    from ciqueue.api.ui.console import Console

# No pydantic plugin scan in this process (constants.ENV_PYDANTIC_DISABLE_PLUGINS says why); a value
# already set (e.g. "" to allow plugins again) is kept.
os.environ.setdefault(ENV_PYDANTIC_DISABLE_PLUGINS, PYDANTIC_PLUGINS_OFF)
_LEVEL = logging.getLevelName(os.environ.get(ENV_LOG_LEVEL, "INFO").strip().upper())
# An unknown level name falls back to INFO: a typo in a setting must not stop the function.
logging.basicConfig(level=_LEVEL if isinstance(_LEVEL, int) else logging.INFO)
log = logging.getLogger("ciqueue.http_toggle")

_API: HttpApi | None = None  # built on first use, kept for the container's life
_CONSOLE: Console | None = None  # the pages under /ui, built (and Jinja2 imported) on the first one


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    from ciqueue.api.routes import error_response
    from ciqueue.app.runtime import deadline_from_context, request_id_from_context
    from ciqueue.envelopes.detect import http_request_for
    from ciqueue.envelopes.http import HttpRequest

    ctx = context if isinstance(context, Mapping) else None
    fallback = HttpRequest(method="?", path="?", request_id=request_id_from_context(context))
    try:
        request = http_request_for(event, ctx)
    except Exception as exc:
        return error_response(exc, fallback).to_integration_response()
    try:
        api = _api()
        if request.path == CONSOLE_PATH or request.path.startswith(CONSOLE_PATH + "/"):
            response = _console(api).handle(request, deadline=deadline_from_context(context))
        else:
            response = api.handle(request, deadline=deadline_from_context(context))
    except Exception as exc:  # building the API failed (bad token list): never a trace in the answer
        response = error_response(exc, request)
    # Method, path, status only: headers and bodies may carry tokens.
    log.info(
        "http %s %s status=%d request_id=%s",
        request.method,
        request.path,
        response.status,
        request.request_id or "-",
    )
    return response.to_integration_response()


def _api() -> HttpApi:
    global _API
    if _API is None:
        from ciqueue.api.routes import api_from_env

        _API = api_from_env()
    return _API


def _console(api: HttpApi) -> Console:
    global _CONSOLE
    if _CONSOLE is None:
        from ciqueue.api.ui.console import Console

        _CONSOLE = Console(api, os.environ)
    return _CONSOLE

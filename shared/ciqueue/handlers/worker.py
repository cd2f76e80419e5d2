"""ciqueue worker: reconciles one shard of a fan-out, invoked asynchronously by the scheduler.

Event: ``{"shard": [["bucket-appid", "region"], ...], "now": "<ISO time>", "dry_run": false}``;
the worker observes and decides only those (bucket, region) pairs, at the scheduler's instant
(or at its own clock when it runs later, as a retried delivery does).

Same failure policy as the scheduler: a malformed payload or config is returned as an error
result (a retry cannot fix it); transient failures raise so that SCF retries the invocation.
Which is which is ``ciqueue.errors.describe``'s verdict (each report entry's ``transient``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ciqueue.constants import ENV_PYDANTIC_DISABLE_PLUGINS, PYDANTIC_PLUGINS_OFF

# No pydantic plugin scan in this process (constants.ENV_PYDANTIC_DISABLE_PLUGINS says why); a value
# already set (e.g. "" to allow plugins again) is kept.
os.environ.setdefault(ENV_PYDANTIC_DISABLE_PLUGINS, PYDANTIC_PLUGINS_OFF)
log = logging.getLogger("ciqueue.worker")
_RUNTIME: Any = None


class TransientFailure(RuntimeError):
    """Raised so that SCF retries the invocation; the message carries codes and request ids only."""


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    from ciqueue.app.reconcile import handle_shard
    from ciqueue.errors import describe

    try:
        result = handle_shard(event, get_runtime(), context=context)
    except Exception as exc:
        report = describe(exc)
        if report.transient:
            raise TransientFailure(
                f"shard failed with {report.code} [RequestId: {report.fields.get('request_id') or '-'}]; "
                "SCF will retry"
            ) from exc
        if not report.expected:
            log.error("unhandled %s", type(exc).__name__, exc_info=exc)
        return {"ok": False, "status": report.status, "error": report.to_dict()}
    transient = [e for e in result.get("errors", []) if e.get("transient")]
    if transient:
        first = transient[0]
        raise TransientFailure(
            f"shard failed with {first.get('code')} [RequestId: {first.get('request_id') or '-'}]; "
            "SCF will retry"
        )
    return result


def get_runtime() -> Any:
    """The Runtime built from the environment, once per instance."""
    global _RUNTIME
    if _RUNTIME is None:
        from ciqueue.app.runtime import Runtime

        _RUNTIME = Runtime.from_env()
    return _RUNTIME

"""ciqueue scheduler: timer ticks reconcile the schedule; a timer Message runs one command.

- Empty ``Message``: the reconcile tick (level mode): observe, decide, converge, fan out.
- JSON ``Message``: an explicit command (edge mode), e.g. ``{"action": "pause", ...}``.

Failure policy. SCF retries an async invocation (timers included) when the handler raises, so:
bad input (a Message that is no valid command, a broken config) is RETURNED as an error result
and never raised, or SCF would retry an input that can never succeed; transient failures
(throttling, 5xx, network, deadline, a state write race) RAISE so that SCF's retry helps.
Which is which is ``ciqueue.errors.describe``'s verdict, never this file's. The
work is idempotent (reconcile converges; a retried command reuses its override id), so a retry
after a partial success is safe.

Imports happen inside the handler: every tick needs the whole library (~0.3 s to import,
pydantic and requests included) so nothing is gained by importing at the top, and importing
this file stays instant. The Runtime (config, clients and their pooled connections) is kept
between warm invocations.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ciqueue.constants import ENV_PYDANTIC_DISABLE_PLUGINS, PYDANTIC_PLUGINS_OFF

# No pydantic plugin scan in this process (constants.ENV_PYDANTIC_DISABLE_PLUGINS says why); a value
# already set (e.g. "" to allow plugins again) is kept.
os.environ.setdefault(ENV_PYDANTIC_DISABLE_PLUGINS, PYDANTIC_PLUGINS_OFF)
log = logging.getLogger("ciqueue.scheduler")
_RUNTIME: Any = None


class TransientFailure(RuntimeError):
    """Raised so that SCF retries the invocation; the message carries codes and request ids only."""


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    from ciqueue.app.commands import parse_command
    from ciqueue.app.executor import execute
    from ciqueue.app.runtime import actor_from_context, deadline_from_context
    from ciqueue.envelopes import timer

    try:
        record = timer.records(event)[0]
        if record.error is not None:
            raise record.error
        command = parse_command(record.payload or {}, field_prefix=record.field)
        runtime = get_runtime()
    except Exception as exc:
        return failed(exc)
    outcome = execute(
        command,
        runtime,
        actor=actor_from_context(context, "scheduler"),
        deadline=deadline_from_context(context),
        idempotency_key=record.record_id,
        context=context,
    )
    result = outcome.to_dict()
    result["trigger"] = record.meta
    if outcome.retryable:
        error = outcome.error or {}
        raise TransientFailure(
            f"{command.action} failed with {error.get('code')} "
            f"[RequestId: {error.get('request_id') or '-'}]; SCF will retry"
        )
    return result


def get_runtime() -> Any:
    """The Runtime built from the environment, once per instance."""
    global _RUNTIME
    if _RUNTIME is None:
        from ciqueue.app.runtime import Runtime

        _RUNTIME = Runtime.from_env()
    return _RUNTIME


def failed(exc: BaseException) -> dict[str, Any]:
    """An error result for a failure before the command ran; raises when it is transient."""
    from ciqueue.errors import describe

    report = describe(exc)
    if report.transient:
        raise TransientFailure(
            f"{report.code} [RequestId: {report.fields.get('request_id') or '-'}]; SCF will retry"
        ) from exc
    if not report.expected:
        log.error("unhandled %s", type(exc).__name__, exc_info=exc)
    return {"ok": False, "status": report.status, "error": report.to_dict()}

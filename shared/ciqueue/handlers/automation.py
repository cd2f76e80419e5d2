"""SCF handler of event automation (COS objects, CMQ/TDMQ, CKafka, CLS, timer commands).

Thin on purpose: ``ciqueue.app.automation.process_event`` carries out each record's command. Bad input
is final and the handler returns normally; when a record failed transiently the handler raises
so that SCF delivers the event again (records already carried out do nothing the second time).
Which failure is which is ``ciqueue.errors.describe``'s verdict.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any

from ciqueue.constants import ENV_LOG_LEVEL, ENV_PYDANTIC_DISABLE_PLUGINS, PYDANTIC_PLUGINS_OFF

if TYPE_CHECKING:
    from ciqueue.app.runtime import Runtime

# No pydantic plugin scan in this process (constants.ENV_PYDANTIC_DISABLE_PLUGINS says why); a value
# already set (e.g. "" to allow plugins again) is kept.
os.environ.setdefault(ENV_PYDANTIC_DISABLE_PLUGINS, PYDANTIC_PLUGINS_OFF)
_LEVEL = logging.getLevelName(os.environ.get(ENV_LOG_LEVEL, "INFO").strip().upper())
# An unknown level name falls back to INFO: a typo in a setting must not stop the function.
logging.basicConfig(level=_LEVEL if isinstance(_LEVEL, int) else logging.INFO)
log = logging.getLogger("ciqueue.automation")

_RUNTIME: Runtime | None = None  # built on first use, kept for the container's life


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    from ciqueue.app.audit import redact
    from ciqueue.app.automation import RetryDelivery, process_event
    from ciqueue.errors import describe

    try:
        runtime = _runtime()
    except Exception as exc:  # broken settings are final; a passing failure (COS config) retries
        failure = describe(exc)
        if failure.transient:
            raise
        log.error("the runtime cannot be built: %s %s", failure.code, failure.message)
        return {"ok": False, "status": failure.status, "error": failure.to_dict()}
    report = process_event(event, runtime, context=context)
    summary = report.to_dict()
    # The log line goes through the audit redaction: callback URLs may carry a token in their query.
    line = json.dumps(redact(summary), ensure_ascii=False, separators=(",", ":"), default=str)
    log.info("automation %s", line)
    if report.retry:
        raise RetryDelivery(report)
    return summary


def _runtime() -> Runtime:
    global _RUNTIME
    if _RUNTIME is None:
        from ciqueue.app.runtime import Runtime

        _RUNTIME = Runtime.from_env()
    return _RUNTIME

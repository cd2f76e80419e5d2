"""Fan-out: hand a payload to another function asynchronously.

``ScfInvoker`` calls SCF's Invoke API with ``InvocationType=Event`` (returns at once; SCF retries
failed runs). ``InProcessInvoker`` runs the worker handler on a thread pool behind the same
interface, for local runs and tests. ``Runtime.from_env`` picks one (``CIQUEUE_INVOKER``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ciqueue.errors import CiQueueError

if TYPE_CHECKING:
    from ciqueue.app.runtime import Runtime

log = logging.getLogger("ciqueue.invoker")

Handler = Callable[[dict[str, Any], dict[str, Any]], Any]

SCF_PACKAGES = "tencentserverless tencentcloud-sdk-python-scf tencentcloud-sdk-python-common"


class InvokerUnavailable(CiQueueError):
    """The fan-out cannot be made here (e.g. the SCF SDK is not installed)."""


class Invoker(Protocol):
    """Starts ``function_name`` with ``payload`` as its event and returns without waiting."""

    def invoke_async(self, function_name: str, payload: Mapping[str, Any]) -> str | None:
        """Start the invocation; an id for the report when the backend gives one."""
        ...


class ScfInvoker:
    """SCF's Invoke API (``InvocationType=Event``) through the ``tencentserverless`` SDK.

    The SCF Python runtime ships that SDK; elsewhere install it with
    ``pip install --no-deps tencentserverless tencentcloud-sdk-python-scf tencentcloud-sdk-python-common``.
    Credentials and region come from the function's environment (its execution role).
    """

    def __init__(self, namespace: str = "default", qualifier: str = "$DEFAULT", region: str | None = None):
        self.namespace = namespace
        self.qualifier = qualifier
        self.region = region

    def __repr__(self) -> str:
        return f"ScfInvoker(namespace={self.namespace!r}, qualifier={self.qualifier!r})"

    def invoke_async(self, function_name: str, payload: Mapping[str, Any]) -> str | None:
        try:
            from tencentserverless import scf  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise InvokerUnavailable(
                "fan-out needs the SCF SDK (package tencentserverless), which is not installed: "
                f"pip install --no-deps {SCF_PACKAGES} (or set CIQUEUE_INVOKER=inprocess)"
            ) from None
        # The SDK JSON-encodes ``data`` into ClientContext itself, so it gets the dict: a
        # pre-encoded string would reach the worker as a JSON string instead of an object.
        result = scf.invoke(
            function_name,
            region=self.region,
            namespace=self.namespace,
            qualifier=self.qualifier,
            invocation_type="Event",
            data=dict(payload),
        )
        return str(result) if result else None


@dataclass
class Invocation:
    """One in-process invocation: what was sent and the future of the handler's result."""

    function_name: str
    payload: dict[str, Any]
    future: Future[Any] = field(repr=False)


class InProcessInvoker:
    """Runs ``handler(payload, context)`` on a thread pool; ``wait()`` collects the results.

    Without an explicit handler, the runtime that holds this invoker binds the worker's own
    logic (``ciqueue.app.reconcile.handle_shard``), so a shard runs exactly as the worker would.
    """

    def __init__(self, handler: Handler | None = None, max_workers: int = 4) -> None:
        self.handler = handler
        self.invocations: list[Invocation] = []
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ciqueue-worker")
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"InProcessInvoker(invocations={len(self.invocations)})"

    def bind_runtime(self, runtime: Runtime) -> None:
        """Use the worker logic on ``runtime`` unless a handler was given."""
        if self.handler is not None:
            return

        def run_shard(event: dict[str, Any], context: dict[str, Any]) -> Any:
            from ciqueue.app.reconcile import handle_shard

            return handle_shard(event, runtime, context=context)

        self.handler = run_shard

    def invoke_async(self, function_name: str, payload: Mapping[str, Any]) -> str | None:
        if self.handler is None:
            raise InvokerUnavailable("InProcessInvoker has no handler (pass one or bind a runtime)")
        with self._lock:
            number = len(self.invocations) + 1
            request_id = f"inprocess-{number}"
            context = {"request_id": request_id, "function_name": function_name, "time_limit_in_ms": 60_000}
            event = dict(payload)
            future = self._pool.submit(self.handler, event, context)
            self.invocations.append(Invocation(function_name, event, future))
        return request_id

    def wait(self, timeout: float | None = None) -> list[Any]:
        """Every invocation's result so far, in order (an exception is returned, not raised)."""
        with self._lock:
            pending = list(self.invocations)
        results: list[Any] = []
        for invocation in pending:
            try:
                results.append(invocation.future.result(timeout=timeout))
            except Exception as exc:  # a failed shard is reported, the others still count
                log.warning("in-process invocation of %s failed: %s", invocation.function_name, exc)
                results.append(exc)
        return results

"""Fan-out: hand a payload to another function asynchronously.

Rules:
- no fan-out is the default: a runtime without an invoker reconciles every shard inline, in the
  tick that found them;
- ``CIQUEUE_INVOKER=scf`` selects ``ScfInvoker``, SCF's Invoke API with ``InvocationType=Event``
  (returns at once; SCF retries failed runs); nothing else is chosen from the environment;
- an invoker knows nothing of what the invoked function does: local runs and tests build an
  in-process one explicitly (``ciqueue.dev.invoke.fan_out_in_process``);
- a ``LocalInvoker`` runs its invocations in this process, so the tick that started them waits
  for each (``finish``) and reports its result or failure before it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from ciqueue.errors import CiQueueError

Handler = Callable[[dict[str, Any], dict[str, Any]], Any]

SCF_PACKAGES = "tencentserverless tencentcloud-sdk-python-scf tencentcloud-sdk-python-common"


class InvokerUnavailable(CiQueueError):
    """The fan-out cannot be made here (e.g. the SCF SDK is not installed)."""


class Invoker(Protocol):
    """Starts ``function_name`` with ``payload`` as its event and returns without waiting."""

    def invoke_async(self, function_name: str, payload: Mapping[str, Any]) -> str | None:
        """Start the invocation; an id for the report when the backend gives one."""
        ...


@runtime_checkable
class LocalInvoker(Invoker, Protocol):
    """An invoker whose invocations run in this process (``dev.invoke.InProcessInvoker``).

    A tick that fans out through one waits for every shard it started (``finish``) before it
    returns: nothing else would collect that work or see it fail once the tick is done.
    """

    def finish(self, invocation_id: str, timeout: float | None) -> Any:
        """The invocation's result; its exception raised; TimeoutError when still running."""
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
                f"pip install --no-deps {SCF_PACKAGES} (or unset CIQUEUE_INVOKER: no fan-out)"
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

"""Fan-out: hand a payload to another function asynchronously.

Rules:
- no fan-out is the default: a runtime without an invoker reconciles every shard inline, in the
  tick that found them;
- ``CIQUEUE_INVOKER=scf`` selects ``ScfInvoker``: SCF's Invoke API with ``InvocationType=Event``
  through Tencent's maintained SDK (``tencentcloud-sdk-python-scf``, the ``ciqueue[scf]`` extra);
  nothing else is chosen from the environment (``runtime.invoker_from_env``);
- the SDK is imported at the first dispatch, never before: a scheduler without fan-out (and one
  whose fleet fits one shard) starts exactly as fast as without the extra;
- success is judged by the documented answer (CN api 583/17243): no ``Response.Error`` and a
  ``Result.FunctionRequestId``. An Event call returns once the event is queued; its Log, RetMsg,
  ErrMsg, MemUsage and Duration are documented empty. ``Result.InvokeResult`` is documented as no
  longer maintained and is never read (the old ``tencentserverless`` client failed every answer
  without it);
- every failure becomes an exception of the error model (``errors.describe`` gives the verdict):
  an API error is a ``CloudApiError`` (transient for throttling and InternalError, not for auth
  or parameter errors), no answer a ``TransportError``, an unreadable one ``MalformedResponse``;
- requests are signed (TC3-HMAC-SHA256, by the SDK) with the role credentials SCF puts in the
  environment, read at each dispatch so refreshed role keys are used, session token included
  (``X-TC-Token``); no secret reaches a message or a log line, the SDK's debug log (which prints
  request headers) included;
- an invoker knows nothing of what the invoked function does: local runs and tests build an
  in-process one explicitly (``ciqueue.dev.invoke.fan_out_in_process``);
- a ``LocalInvoker`` runs its invocations in this process, so the tick that started them waits
  for each (``finish``) and reports its result or failure before it returns.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any, Protocol, runtime_checkable

from ciqueue import limits
from ciqueue.ci.credentials import Credentials, mask
from ciqueue.constants import (
    DEFAULT_SCF_NAMESPACE,
    DEFAULT_WORKER_QUALIFIER,
    ENV_REGION,
    ENV_SCF_ENDPOINT,
    SCF_API_ENDPOINT,
)
from ciqueue.errors import (
    CiQueueError,
    CloudApiError,
    InvalidInput,
    MalformedResponse,
    PayloadTooLarge,
    TransportError,
)

Handler = Callable[[dict[str, Any], dict[str, Any]], Any]

SCF_PACKAGES = "tencentcloud-sdk-python-scf tencentcloud-sdk-python-common"
SCF_EXTRA = "ciqueue[scf]"
SCF_SERVICE = "scf"
# The SDK logs each request, headers included (Authorization, X-TC-Token), at DEBUG.
SDK_LOGGER = "tencentcloud_sdk_common"
# What the SDK's Invoke wraps a failure to decode the answer in: the Python exception's name.
_DECODE_FAILURES = frozenset(
    {"JSONDecodeError", "KeyError", "TypeError", "AttributeError", "ValueError", "UnicodeDecodeError"}
)
# No HTTP answer, or one whose status is not 200 (the API answers errors with 200 and a body).
_NO_ANSWER = frozenset({"ClientNetworkError", "ServerNetworkError"})
_ENDPOINT_RE = re.compile(r"^(?:(?P<scheme>https?)://)?(?P<host>[A-Za-z0-9.-]+(?::\d{1,5})?)/?$")


class InvokerUnavailable(CiQueueError):
    """The fan-out cannot be made here (the SCF SDK is not installed, no region is set)."""


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


def parse_endpoint(text: str) -> tuple[str, str]:
    """``(scheme, host[:port])`` of ``CIQUEUE_SCF_ENDPOINT``: a host (https) or http(s)://host[:port]."""
    match = _ENDPOINT_RE.match(text.strip())
    if match is None:
        raise InvalidInput(
            ENV_SCF_ENDPOINT, f"must be a host or http(s)://host[:port], with no path (got {text[:64]!r})"
        )
    return match.group("scheme") or "https", match.group("host")


class ScfInvoker:
    """SCF's Invoke API (``InvocationType=Event``) through ``tencentcloud-sdk-python-scf``.

    ``endpoint``: a host or ``http(s)://host[:port]`` (``runtime.invoker_from_env`` picks the
    internal endpoint inside SCF). ``region``: None reads ``TENCENTCLOUD_REGION`` at each call.
    ``environ``: where the role credentials are read (the live ``os.environ`` by default).
    """

    def __init__(
        self,
        namespace: str = DEFAULT_SCF_NAMESPACE,
        qualifier: str = DEFAULT_WORKER_QUALIFIER,
        region: str | None = None,
        *,
        endpoint: str = SCF_API_ENDPOINT,
        environ: Mapping[str, str] | None = None,
        timeout_s: float = limits.SCF_INVOKE_TIMEOUT_S,
    ) -> None:
        self.namespace = namespace
        self.qualifier = qualifier
        self.region = region
        self.scheme, self.endpoint = parse_endpoint(endpoint)
        self.timeout_s = timeout_s
        self._environ = environ
        self._lock = threading.Lock()
        self._client: Any = None
        self._client_key: tuple[str, str, str | None, str] | None = None

    def __repr__(self) -> str:
        return (
            f"ScfInvoker(endpoint={self.scheme}://{self.endpoint}, namespace={self.namespace!r}, "
            f"qualifier={self.qualifier!r})"
        )

    def invoke_async(self, function_name: str, payload: Mapping[str, Any]) -> str | None:
        """Queue one async invocation; returns its ``FunctionRequestId``."""
        environ = os.environ if self._environ is None else self._environ
        event = json.dumps(dict(payload), separators=(",", ":"), ensure_ascii=False)
        size = len(event.encode("utf-8"))
        if size > limits.SCF_MAX_ASYNC_EVENT_BYTES:
            raise PayloadTooLarge("fan-out event (ClientContext)", limits.SCF_MAX_ASYNC_EVENT_BYTES, size)
        sdk = load_sdk()
        credentials = Credentials.from_env(environ)
        region = self.region or environ.get(ENV_REGION, "").strip()
        if not region:
            raise InvokerUnavailable(f"fan-out needs the region: {ENV_REGION} must be set (SCF sets it)")
        request = sdk.models.InvokeRequest()
        request.FunctionName = function_name
        request.InvocationType = "Event"
        request.Namespace = self.namespace
        request.Qualifier = self.qualifier
        request.ClientContext = event  # the worker's event is this JSON object
        client = self._client_for(sdk, credentials, region)
        try:
            response = client.Invoke(request)
        except sdk.TencentCloudSDKException as exc:
            raise from_sdk_error(exc, credentials, self.endpoint) from None
        return dispatched(response)

    def _client_for(self, sdk: Any, credentials: Credentials, region: str) -> Any:
        """One SDK client (one pooled connection) while the role keys and the region stay the same."""
        key = (credentials.secret_id, credentials.secret_key, credentials.token, region)
        with self._lock:
            if self._client is None or self._client_key != key:
                http = sdk.HttpProfile(
                    protocol=self.scheme, endpoint=self.endpoint, reqTimeout=self.timeout_s, keepAlive=True
                )
                cred = sdk.credential.Credential(
                    credentials.secret_id, credentials.secret_key, credentials.token
                )
                self._client = sdk.scf_client.ScfClient(cred, region, sdk.ClientProfile(httpProfile=http))
                self._client_key = key
            return self._client


def load_sdk() -> SimpleNamespace:
    """Import the SCF SDK (the ``ciqueue[scf]`` extra), or say what to install."""
    try:
        from tencentcloud.common import credential
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.scf.v20180416 import models, scf_client
    except ImportError:
        raise InvokerUnavailable(
            f"fan-out needs the SCF SDK, which is not installed: pip install '{SCF_EXTRA}' "
            f"(the packages {SCF_PACKAGES}), or unset CIQUEUE_INVOKER for no fan-out"
        ) from None
    sdk_log = logging.getLogger(SDK_LOGGER)
    if sdk_log.getEffectiveLevel() < logging.INFO:
        sdk_log.setLevel(logging.INFO)  # its DEBUG lines carry the signature and the session token
    return SimpleNamespace(
        credential=credential,
        TencentCloudSDKException=TencentCloudSDKException,
        ClientProfile=ClientProfile,
        HttpProfile=HttpProfile,
        models=models,
        scf_client=scf_client,
    )


def dispatched(response: Any) -> str:
    """The ``FunctionRequestId`` of an Event invoke's answer, judged by the documented fields."""
    request_id = _text(getattr(response, "RequestId", None))
    result = getattr(response, "Result", None)
    function_request_id = _text(getattr(result, "FunctionRequestId", None))
    if not function_request_id:
        raise MalformedResponse(
            "SCF Invoke answered without Result.FunctionRequestId", status=200, request_id=request_id
        )
    failure = _text(getattr(result, "ErrMsg", None))
    if failure:
        # Documented empty for an Event call: the function has not run yet.
        raise MalformedResponse(
            f"SCF Invoke (Event) answered with Result.ErrMsg {failure[:100]!r}",
            status=200,
            request_id=request_id,
        )
    return function_request_id


def from_sdk_error(exc: Any, credentials: Credentials, endpoint: str) -> Exception:
    """A ``TencentCloudSDKException`` as the error model's exception (``errors.describe`` judges it)."""
    code = _text(getattr(exc, "code", None))
    if code in _NO_ANSWER:
        detail = "no answer" if code == "ClientNetworkError" else "an HTTP status other than 200"
        return TransportError(f"SCF Invoke API at {endpoint}: {detail} ({code})")
    if code in _DECODE_FAILURES:
        return MalformedResponse(f"SCF Invoke answer could not be read ({code})")
    if not code or code.startswith("Client") or code == "InvalidCredential":
        # The SDK refused our own call before sending it: a bug here, reported as one.
        return exc if isinstance(exc, Exception) else RuntimeError(code)
    message = redact(_text(getattr(exc, "message", None)), credentials)
    return CloudApiError(SCF_SERVICE, code, message, _text(getattr(exc, "requestId", None)) or None)


def redact(text: str, credentials: Credentials) -> str:
    """``text`` without the secret key, the session token or the whole SecretId."""
    for secret in (credentials.secret_key, credentials.token):
        if secret:
            text = text.replace(secret, "***")
    return text.replace(credentials.secret_id, mask(credentials.secret_id))


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""

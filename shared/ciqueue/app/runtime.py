"""The environment a function (or the CLI) runs in: config, state store, clients, fan-out, clock.

``Runtime.from_env`` reads the settings SCF (or a shell) provides; tests build a ``Runtime``
directly around the emulator. Nothing here talks to CI until a client is used.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ciqueue.app.invoker import Invoker, ScfInvoker
from ciqueue.ci.credentials import Credentials
from ciqueue.ci.retry import Deadline
from ciqueue.constants import (
    DEFAULT_SCF_NAMESPACE,
    DEFAULT_WORKER_FUNCTION,
    ENV_CONFIG,
    ENV_ENDPOINT,
    ENV_INVOKER,
    ENV_NOW,
    ENV_REGION,
    ENV_SCF_ENDPOINT,
    ENV_SCF_FUNCTION_NAME,
    ENV_SCF_NAMESPACE,
    ENV_SCF_RUNENV,
    ENV_WORKER_FUNCTION,
    SCF_API_ENDPOINT,
    SCF_INTERNAL_API_ENDPOINT,
)
from ciqueue.errors import CredentialsMissing, InvalidInput
from ciqueue.limits import DEFAULT_BUCKET_RATE, DEFAULT_CONCURRENCY
from ciqueue.records import dataclass, field
from ciqueue.timefmt import parse_instant

if TYPE_CHECKING:
    from ciqueue.ci.client import CIClient
    from ciqueue.schedule.config import Config
    from ciqueue.state.document import StateStore

log = logging.getLogger("ciqueue.runtime")

# Pooled connections per client: at least the client's own default, and enough for the
# configured concurrency so parallel operations on one bucket never open throwaway connections.
MIN_POOL_SIZE = 16


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def on_scf(environ: Mapping[str, str]) -> bool:
    """True inside an SCF function (``TENCENTCLOUD_RUNENV=SCF`` or ``SCF_FUNCTIONNAME`` set)."""
    return environ.get(ENV_SCF_RUNENV, "").upper() == "SCF" or bool(environ.get(ENV_SCF_FUNCTION_NAME))


@dataclass
class Runtime:
    """What a reconcile or a command needs; ``client_for`` hands out one cached client per bucket."""

    config: Config | None
    state: StateStore
    endpoint: str | None = None
    credentials: Credentials | None = None
    invoker: Invoker | None = None  # None: no fan-out, a tick reconciles every shard itself
    clock: Callable[[], datetime] = utc_now
    worker_function: str | None = DEFAULT_WORKER_FUNCTION
    client_options: dict[str, Any] = field(default_factory=dict)
    allow_private: bool = False  # local mode: callbacks may point at private hosts
    _clients: dict[tuple[str, str], CIClient] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def concurrency(self) -> int:
        return self.config.settings.concurrency if self.config is not None else DEFAULT_CONCURRENCY

    @property
    def rate_limit(self) -> float:
        """CI requests per second per bucket: ``settings.rate_limit``, else limits.DEFAULT_BUCKET_RATE."""
        return self.config.settings.rate_limit if self.config is not None else DEFAULT_BUCKET_RATE

    def client_for(self, bucket: str, region: str) -> CIClient:
        """The client of ``bucket`` in ``region`` (created once; safe to call from many threads)."""
        key = (bucket, region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                from ciqueue.ci.client import CIClient

                options = dict(self.client_options)
                options.setdefault("pool_size", max(MIN_POOL_SIZE, self.concurrency))
                if "rate" not in options:
                    from ciqueue.ci.ratelimit import RateLimit

                    options["rate"] = RateLimit(self.rate_limit)
                client = CIClient(bucket, region, self.credentials, self.endpoint, **options)
                self._clients[key] = client
            return client

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Runtime:
        """Build from the environment; keyword arguments replace any part (e.g. ``config=...``).

        ``CIQUEUE_CONFIG``: a file path or ``cos://bucket-appid/key?region=...`` (unset: no config).
        State: as ``ciqueue.state.location`` chooses (``CIQUEUE_STATE_BUCKET``, else
        ``CIQUEUE_STATE_FILE``, else the config's ``settings.state``, else /tmp on SCF and the
        user's ``$XDG_STATE_HOME/ciqueue/state.json`` elsewhere).
        ``CIQUEUE_INVOKER``: ``scf`` (fan out to ``CIQUEUE_WORKER_FUNCTION``), unset: no fan-out.
        ``CIQUEUE_NOW`` (local mode only): a simulated clock.
        """
        env = os.environ if environ is None else environ
        endpoint = overrides.pop("endpoint", None) or env.get(ENV_ENDPOINT, "").strip() or None
        if "credentials" in overrides:
            credentials = overrides.pop("credentials")
        else:
            try:
                credentials = Credentials.from_env(env)
            except CredentialsMissing:
                credentials = None  # the first client to need them raises, naming the variables
        if "clock" not in overrides:
            overrides["clock"] = clock_from_env(env)
        if "config" in overrides:
            config = overrides.pop("config")
        else:
            location = env.get(ENV_CONFIG, "").strip()
            config = load_config_location(
                location, credentials, endpoint, now=overrides["clock"](), environ=env
            )
        state = overrides.pop("state", None) or state_from_env(env, config, credentials, endpoint)
        invoker = overrides.pop("invoker") if "invoker" in overrides else invoker_from_env(env)
        worker = overrides.pop("worker_function", None) or env.get(ENV_WORKER_FUNCTION, "").strip() or None
        return cls(
            config=config,
            state=state,
            endpoint=endpoint,
            credentials=credentials,
            invoker=invoker,
            worker_function=worker,
            **overrides,
        )


def clock_from_env(environ: Mapping[str, str]) -> Callable[[], datetime]:
    """The real clock, or the simulated instant in ``CIQUEUE_NOW`` (local mode and rehearsals).

    The variable is read at every call, so a runtime kept between invocations follows it.
    """
    if environ.get(ENV_NOW, "").strip():
        parse_now(environ[ENV_NOW])  # a bad value is refused up front, naming the variable

    def now() -> datetime:
        text = environ.get(ENV_NOW, "").strip()
        return parse_now(text) if text else utc_now()

    return now


def parse_now(text: str, field: str = ENV_NOW) -> datetime:
    """A simulated "now": an ISO instant with a UTC offset (``CIQUEUE_NOW``, the CLI's ``--now``),
    refused naming ``field`` otherwise (a naive time would be a guess at the zone)."""
    try:
        value = parse_instant(text.strip())
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise InvalidInput(
            field, f"must be an ISO time with a UTC offset, e.g. 2026-03-01T02:00:00Z (got {text[:40]!r})"
        )
    return value.astimezone(timezone.utc)


def invoker_from_env(environ: Mapping[str, str]) -> Invoker | None:
    """``CIQUEUE_INVOKER=scf``: SCF's Invoke API; unset or empty: None (no fan-out).

    The endpoint is ``CIQUEUE_SCF_ENDPOINT`` if set, else the internal one inside SCF (no public
    network needed) and the public one elsewhere; the namespace is the caller's (``SCF_NAMESPACE``),
    where the worker is deployed beside it; region and role keys are read at each dispatch.
    Nothing is imported here: the SDK loads at the first dispatch.
    """
    choice = environ.get(ENV_INVOKER, "").strip().lower()
    if not choice:
        return None
    if choice == "scf":
        endpoint = environ.get(ENV_SCF_ENDPOINT, "").strip()
        if not endpoint:
            endpoint = SCF_INTERNAL_API_ENDPOINT if on_scf(environ) else SCF_API_ENDPOINT
        return ScfInvoker(
            namespace=environ.get(ENV_SCF_NAMESPACE, "").strip() or DEFAULT_SCF_NAMESPACE,
            region=environ.get(ENV_REGION, "").strip() or None,
            endpoint=endpoint,
            environ=environ,
        )
    raise InvalidInput(ENV_INVOKER, f"must be scf, or unset for no fan-out (got {choice[:32]!r})")


def state_from_env(
    environ: Mapping[str, str], config: Config | None, credentials: Credentials | None, endpoint: str | None
) -> StateStore:
    """The state store the environment (then the config's ``settings.state``) chooses."""
    from ciqueue.state.location import store_from_env

    setting = config.settings.state if config is not None else None
    return store_from_env(environ, setting, credentials=credentials, endpoint=endpoint)


def load_config_location(
    location: str,
    credentials: Credentials | None = None,
    endpoint: str | None = None,
    *,
    now: datetime | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config | None:
    """The config at a file path, ``file://…`` or ``cos://bucket-appid/key[?region=…]``; None when
    empty. The location is read by the one location rule (``state.location.parse_location``): a
    ``cos://`` region falls back to ``CIQUEUE_STATE_REGION``, then ``TENCENTCLOUD_REGION``."""
    if not location:
        return None
    from ciqueue.schedule.load import load_config
    from ciqueue.state.location import parse_location

    where = parse_location(location, environ=environ, field_name=ENV_CONFIG, default_key="")
    if where.scheme == "file":
        if not os.path.exists(where.path):
            raise InvalidInput(ENV_CONFIG, f"file not found: {where.path}")
        with open(where.path, encoding="utf-8") as handle:
            return load_config(handle.read(), now=now or utc_now())
    from ciqueue.ci.client import CIClient

    client = CIClient(where.bucket, where.region, credentials, endpoint, service="cos")
    response = client.request("GET", "/" + where.key)
    return load_config(response.content.decode("utf-8", "replace"), now=now or utc_now())


def deadline_from_context(context: Mapping[str, Any] | Any | None) -> Deadline | None:
    """The function's deadline from an SCF context's ``time_limit_in_ms``; None when absent or bad."""
    if context is None:
        return None
    raw = context_field(context, "time_limit_in_ms")
    if isinstance(raw, bool):
        return None
    try:
        ms = float(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None
    if ms is None or not ms > 0 or ms != ms or ms == float("inf"):
        return None
    return Deadline.from_remaining_ms(ms)


def actor_from_context(context: Mapping[str, Any] | Any | None, default: str = "scheduler") -> str:
    """``scf:<function_name>`` when the context names the function, else ``default``."""
    if context is None:
        return default
    name = context_field(context, "function_name")
    if isinstance(name, str) and name.strip():
        return f"scf:{name.strip()[:64]}"
    return default


def request_id_from_context(context: Mapping[str, Any] | Any | None) -> str | None:
    if context is None:
        return None
    value = context_field(context, "request_id")
    return str(value)[:128] if value else None


def context_field(context: Mapping[str, Any] | Any | None, name: str) -> Any:
    """A field of the SCF context (a dict on SCF; an object in some local runners)."""
    if context is None:
        return None
    if isinstance(context, Mapping):
        return context.get(name)
    return getattr(context, name, None)

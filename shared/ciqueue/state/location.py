"""Choosing the state store: the one place that turns a location or the environment into a store.

Rules:
- A location is a file path, ``file:///path/state.json`` or
  ``cos://<bucket-appid>/<key>[?region=<region>]`` (no key: ``ciqueue/state.json``).
- A ``cos://`` region comes from the location's ``?region=``, else the ``region`` argument, else
  ``CIQUEUE_STATE_REGION``, else ``TENCENTCLOUD_REGION`` (SCF sets it in every function).
- From the environment the order is: ``CIQUEUE_STATE_BUCKET`` (+ ``CIQUEUE_STATE_KEY``), else
  ``CIQUEUE_STATE_FILE``, else the config's ``settings.state`` location, else the default file
  (``default_state_file``): ``/tmp/ciqueue-state.json`` on SCF (``TENCENTCLOUD_RUNENV`` set; /tmp
  is the only writable place there), elsewhere per user, ``$XDG_STATE_HOME/ciqueue/state.json``
  (``~/.local/state/ciqueue/state.json`` when unset), so checkouts and users of one machine never
  share a file by accident. The bucket setting and a ``cos://`` location build the same store.
- Parsing is pure and imports no backend; a backend module is imported only when its store is
  built, so opening a local file never imports ``requests``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from ciqueue.constants import (
    DEFAULT_STATE_FILE,
    DEFAULT_STATE_KEY,
    ENV_REGION,
    ENV_SCF_RUNENV,
    ENV_STATE_BUCKET,
    ENV_STATE_FILE,
    ENV_STATE_KEY,
    ENV_STATE_REGION,
    ENV_XDG_STATE_HOME,
    LOCAL_STATE_HOME,
    LOCAL_STATE_PATH,
)
from ciqueue.errors import InvalidInput
from ciqueue.records import dataclass

if TYPE_CHECKING:
    from ciqueue.ci.credentials import Credentials
    from ciqueue.state.document import StateStore

LOCATION_FORMS = "file:///path or cos://<bucket-appid>/<key>[?region=<region>] (or a plain file path)"


@dataclass(frozen=True)
class StateLocation:
    """Where the state lives: a local ``path``, or ``bucket``/``key`` in ``region`` on COS."""

    scheme: Literal["file", "cos"]
    path: str = ""
    bucket: str = ""
    key: str = ""
    region: str = ""

    def __str__(self) -> str:
        if self.scheme == "file":
            return f"file://{self.path}"
        return f"cos://{self.bucket}/{self.key}?region={self.region}"


def parse_location(
    location: str,
    *,
    region: str | None = None,
    environ: Mapping[str, str] | None = None,
    field_name: str = "state",
    default_key: str = DEFAULT_STATE_KEY,
) -> StateLocation:
    """The location ``location`` names; InvalidInput naming ``field_name`` when it names none.

    The one reading of a ``cos://`` location, for the state store and the config file alike
    (``default_key`` empty: the location must name its key)."""
    env = os.environ if environ is None else environ
    text = location.strip() if isinstance(location, str) else ""
    parts = urlsplit(text)
    if parts.scheme == "" or parts.scheme == "file":
        path = unquote(parts.path) if parts.scheme == "file" else text
        if not path:
            raise InvalidInput(field_name, "must name a file, e.g. file:///tmp/ciqueue-state.json")
        return StateLocation("file", path=path)
    if parts.scheme != "cos":
        raise InvalidInput(field_name, f"must be {LOCATION_FORMS}")
    if not parts.netloc:
        raise InvalidInput(field_name, "must name a bucket: cos://<bucket-appid>/<key>")
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"region"})
    if unknown:
        raise InvalidInput(field_name, f"a cos:// location takes only ?region= (got {unknown[0]!r})")
    chosen = (
        (query.get("region") or [""])[0].strip()
        or (region or "").strip()
        or env.get(ENV_STATE_REGION, "").strip()
        or env.get(ENV_REGION, "").strip()
    )
    if not chosen:
        raise InvalidInput(
            "region",
            f"is required for a cos:// location (?region=, {ENV_STATE_REGION} or {ENV_REGION})",
        )
    key = unquote(parts.path).lstrip("/") or default_key
    if not key:
        raise InvalidInput(field_name, "must name an object: cos://<bucket-appid>/<key>")
    return StateLocation("cos", bucket=parts.netloc, key=key, region=chosen)


def location_from_env(environ: Mapping[str, str], setting: str | None = None) -> StateLocation:
    """The location the environment chooses; ``setting`` is the config's ``settings.state``."""
    bucket = environ.get(ENV_STATE_BUCKET, "").strip()
    if bucket:
        region = environ.get(ENV_STATE_REGION, "").strip() or environ.get(ENV_REGION, "").strip()
        if not region:
            raise InvalidInput(ENV_STATE_REGION, f"is required with {ENV_STATE_BUCKET} (or set {ENV_REGION})")
        key = environ.get(ENV_STATE_KEY, "").strip() or DEFAULT_STATE_KEY
        return StateLocation("cos", bucket=bucket, key=key, region=region)
    path = environ.get(ENV_STATE_FILE, "").strip()
    if path:
        return StateLocation("file", path=path)
    if setting:
        return parse_location(setting, environ=environ, field_name="settings.state")
    return StateLocation("file", path=default_state_file(environ))


def default_state_file(environ: Mapping[str, str]) -> str:
    """The state file when nothing names one: /tmp on SCF, else the user's XDG state home."""
    if environ.get(ENV_SCF_RUNENV, "").strip():
        return DEFAULT_STATE_FILE
    home = environ.get(ENV_XDG_STATE_HOME, "").strip()
    if not home or not os.path.isabs(home):  # the XDG spec ignores a relative value
        home = os.path.expanduser(LOCAL_STATE_HOME)
    return os.path.join(home, LOCAL_STATE_PATH)


def build_store(
    location: StateLocation, *, credentials: Credentials | None = None, endpoint: str | None = None
) -> StateStore:
    """The store at ``location`` (``endpoint``: send COS requests there, e.g. the emulator)."""
    if location.scheme == "file":
        from ciqueue.state.file import FileStateStore

        return FileStateStore(location.path)
    from ciqueue.state.cos import CosStateStore

    return CosStateStore(
        location.bucket, location.region, location.key, credentials=credentials, endpoint=endpoint
    )


def open_store(
    location: str,
    *,
    region: str | None = None,
    credentials: Credentials | None = None,
    endpoint: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> StateStore:
    """The store a location string names (see the module rules for the forms and the region)."""
    parsed = parse_location(location, region=region, environ=environ)
    return build_store(parsed, credentials=credentials, endpoint=endpoint)


def store_from_env(
    environ: Mapping[str, str],
    setting: str | None = None,
    *,
    credentials: Credentials | None = None,
    endpoint: str | None = None,
) -> StateStore:
    """The store the environment (and the config's ``settings.state``) chooses."""
    return build_store(location_from_env(environ, setting), credentials=credentials, endpoint=endpoint)

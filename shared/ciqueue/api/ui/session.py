"""Console sessions: the signed cookie, its CSRF token and the Origin rule (standard library only).

Rules:
- A session is one cookie, ``__Host-ciqueue`` (``Path=/``, ``HttpOnly``, ``Secure``,
  ``SameSite=Strict``; the ``__Host-`` prefix makes the browser refuse it from another host or path).
  Its value is ``base64url(JSON).base64url(HMAC-SHA256)``: the token's *name* and *scopes*, a random
  session id and an expiry. Never the token, its digest or anything read from CI.
- The HMAC key comes from ``CIQUEUE_SESSION_KEY`` (at least ``MIN_SESSION_KEY_LENGTH`` characters);
  two keys are derived from it, one to seal cookies, one for CSRF tokens, so neither can stand in
  for the other. Changing the key ends every session.
- ``open`` gives None for anything that is not a session this key sealed and that has not expired:
  forged, altered, truncated, expired, too long, or of another shape. It never raises.
- A session signs in for ``CONSOLE_SESSION_TTL``; before signing in, the sign-in form gets an
  anonymous session (no name, no scopes, ``CONSOLE_SIGNIN_TTL``) so that its POST carries a CSRF
  token too.
- The CSRF token of a session is ``HMAC(csrf key, session id)``: every POST form carries it and it is
  compared in constant time.
- ``origin_problem``: a POST must carry an ``Origin`` equal to the console's own origin: one of
  ``CIQUEUE_CONSOLE_ORIGIN`` when set, else ``https://<Host>`` (``http://`` only for a loopback host,
  as local mode serves). A missing or ``null`` Origin is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from urllib.parse import urlsplit

from ciqueue.constants import ENV_CONSOLE_ORIGIN, ENV_SESSION_KEY
from ciqueue.errors import InvalidInput
from ciqueue.limits import (
    CONSOLE_SESSION_TTL,
    CONSOLE_SIGNIN_TTL,
    MAX_SESSION_COOKIE_LENGTH,
    MIN_SESSION_KEY_LENGTH,
)
from ciqueue.records import dataclass

COOKIE_NAME = "__Host-ciqueue"
_FORMAT = 1
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Session:
    """Who is signed in (``name`` None: nobody yet, a sign-in form's session) and until when."""

    sid: str
    expires_at: int  # unix seconds
    name: str | None = None
    scopes: frozenset[str] = frozenset()

    @property
    def signed_in(self) -> bool:
        return self.name is not None

    def may(self, scope: str) -> bool:
        return self.signed_in and scope in self.scopes


class SessionKey:
    """The console's HMAC key; its text never appears in a repr, a message or a page."""

    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_SESSION_KEY_LENGTH:
            raise InvalidInput(
                ENV_SESSION_KEY, f"must be at least {MIN_SESSION_KEY_LENGTH} characters (a random secret)"
            )
        raw = secret.encode("utf-8")
        self._seal_key = hmac.new(raw, b"ciqueue-console-session-v1", hashlib.sha256).digest()
        self._csrf_key = hmac.new(raw, b"ciqueue-console-csrf-v1", hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "SessionKey(***)"

    __str__ = __repr__

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SessionKey | None:
        """The key from ``CIQUEUE_SESSION_KEY``; None when unset; InvalidInput when too short."""
        text = env.get(ENV_SESSION_KEY, "").strip()
        return cls(text) if text else None

    # -- sessions ---------------------------------------------------------------------------------

    def new_session(self, now: datetime, name: str | None = None, scopes: Iterable[str] = ()) -> Session:
        """A fresh session id: signed in as ``name`` with ``scopes``, or anonymous (a sign-in form's)."""
        ttl = CONSOLE_SESSION_TTL if name is not None else CONSOLE_SIGNIN_TTL
        return Session(
            sid=secrets.token_urlsafe(18),
            expires_at=int((now + ttl).timestamp()),
            name=name,
            scopes=frozenset(scopes) if name is not None else frozenset(),
        )

    def seal(self, session: Session) -> str:
        """The cookie value of ``session``."""
        data: dict[str, object] = {"v": _FORMAT, "sid": session.sid, "exp": session.expires_at}
        if session.name is not None:
            data["n"] = session.name
            data["s"] = sorted(session.scopes)
        payload = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        return f"{payload}.{_b64(self._mac(payload))}"

    def open(self, value: str | None, now: datetime) -> Session | None:
        """The session a cookie value holds, or None (forged, altered, expired, malformed)."""
        if not value or len(value) > MAX_SESSION_COOKIE_LENGTH or value.count(".") != 1:
            return None
        payload, _, mac = value.partition(".")
        try:
            presented = _unb64(mac)
            data = json.loads(_unb64(payload))
        except (ValueError, binascii.Error, RecursionError):
            return None
        if not hmac.compare_digest(presented, self._mac(payload)):
            return None
        return _session_of(data, now)

    def csrf_token(self, session: Session) -> str:
        """The token every POST form of ``session`` carries."""
        return _b64(hmac.new(self._csrf_key, session.sid.encode("utf-8"), hashlib.sha256).digest())

    def csrf_ok(self, session: Session, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(
            self.csrf_token(session).encode("ascii"), (presented or "").encode("utf-8", "replace")
        )

    def _mac(self, payload: str) -> bytes:
        return hmac.new(self._seal_key, payload.encode("ascii"), hashlib.sha256).digest()


def _session_of(data: object, now: datetime) -> Session | None:
    if not isinstance(data, dict) or data.get("v") != _FORMAT:
        return None
    sid, expires, name, scopes = data.get("sid"), data.get("exp"), data.get("n"), data.get("s", [])
    if not isinstance(sid, str) or not sid or isinstance(expires, bool) or not isinstance(expires, int):
        return None
    if name is not None and not isinstance(name, str):
        return None
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        return None
    ttl = CONSOLE_SESSION_TTL if name is not None else CONSOLE_SIGNIN_TTL
    moment = int(now.timestamp())
    # Expired, or claiming a longer life than any session is given (a clock or key mix-up).
    if expires <= moment or expires > moment + int(ttl.total_seconds()) + 60:
        return None
    return Session(sid, expires, name, frozenset(scopes) if name is not None else frozenset())


# --- cookies ------------------------------------------------------------------------------------


def set_cookie(value: str, expires_at: int, now: datetime) -> str:
    """The ``Set-Cookie`` header value carrying a session until ``expires_at``."""
    max_age = max(0, expires_at - int(now.timestamp()))
    return f"{COOKIE_NAME}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict"


def clear_cookie() -> str:
    """The ``Set-Cookie`` header value that ends a session in the browser (sign out)."""
    return f"{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict"


def cookie_value(headers: Mapping[str, str]) -> str | None:
    """The session cookie's value from a ``Cookie`` header (lower-case header names)."""
    for part in headers.get("cookie", "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == COOKIE_NAME:
            return value.strip()
    return None


# --- Origin -------------------------------------------------------------------------------------


def configured_origins(env: Mapping[str, str]) -> tuple[str, ...]:
    """``CIQUEUE_CONSOLE_ORIGIN`` as a tuple of ``scheme://host[:port]`` (InvalidInput when not one)."""
    text = env.get(ENV_CONSOLE_ORIGIN, "").strip()
    if not text:
        return ()
    origins = []
    for item in (part.strip() for part in text.split(",")):
        parts = urlsplit(item)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.path or parts.query:
            raise InvalidInput(
                ENV_CONSOLE_ORIGIN, "must be origins like https://example.com, separated by commas"
            )
        origins.append(f"{parts.scheme}://{parts.netloc}".lower())
    return tuple(origins)


def origin_problem(headers: Mapping[str, str], configured: Sequence[str] = ()) -> str | None:
    """Why a POST's ``Origin`` is not the console's own (None: it is). Header names lower-case."""
    origin = headers.get("origin", "").strip().lower()
    if not origin or origin == "null":
        return "the request carries no Origin header (a browser sends one with every form it posts)"
    allowed = set(configured) if configured else _host_origins(headers.get("host", ""))
    if not allowed:
        return f"no Host header to compare the Origin with: set {ENV_CONSOLE_ORIGIN} to the console's origin"
    if origin not in allowed:
        return "the request comes from another site (its Origin is not this console's)"
    return None


def _host_origins(host: str) -> set[str]:
    host = host.strip().lower()
    if not host:
        return set()
    found = {f"https://{host}"}
    if (urlsplit(f"//{host}").hostname or "") in _LOOPBACK_HOSTS:
        found.add(f"http://{host}")
    return found


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not _B64URL.match(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

"""Bearer-token authentication of the HTTP API.

Tokens are configured only as SHA-256 hex digests, each with a name and scopes (``read``,
``operate``); several may be valid at once so a token can be rotated without downtime. A
presented token is hashed and compared with every configured digest (no early exit), and
no token or digest ever appears in a message, repr or log line.

CAM trust (``trust_cam=True``): a Function URL with authType CAM is signed and checked by the
platform before the function runs. The reference does not document what such an event
carries, so the rule is conservative: only a caller identity the platform itself puts in
``requestContext.identity`` (``HttpRequest.cam_identity``) is accepted, never a header the
caller could forge, and never on an API Gateway event. Set ``trust_cam`` only for a Function URL
whose authType is CAM.

Exactly one credential: several ``Authorization`` values (two header lines, keys differing only
in case, a list, or one value joined with commas as a proxy joins two lines) are refused with 401
``invalid_request``, never resolved by picking one: "last one wins" would let whoever adds a
header choose which token counts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Literal

from ciqueue.api.http import Forbidden, Unauthorized
from ciqueue.constants import ENV_API_TOKENS
from ciqueue.envelopes.http import HttpRequest
from ciqueue.errors import InvalidInput, Problem
from ciqueue.limits import MAX_TOKEN_LENGTH
from ciqueue.records import dataclass

SCOPES = ("read", "operate")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DIGEST_RE = re.compile(r"^[0-9a-fA-F]{64}$")
# RFC 6750 b64token.
_TOKEN_RE = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
_INVALID_TOKEN = 'Bearer realm="ciqueue", error="invalid_token"'
_INVALID_REQUEST = 'Bearer realm="ciqueue", error="invalid_request"'


@dataclass(frozen=True, repr=False)
class ApiToken:
    """A configured token: its name, the SHA-256 hex digest of the token, and its scopes."""

    name: str
    sha256: str
    scopes: frozenset[str]

    def __repr__(self) -> str:
        return f"ApiToken(name={self.name!r}, sha256='***', scopes={sorted(self.scopes)!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class Principal:
    """Who called: a token's name (via="token") or a CAM identity (via="cam")."""

    name: str
    scopes: frozenset[str]
    via: Literal["token", "cam"] = "token"


def hash_token(token: str) -> str:
    """The SHA-256 hex digest stored in configuration for ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_token() -> str:
    """A new random token (256 bits, URL-safe, a valid bearer token)."""
    return secrets.token_urlsafe(32)


def token_entry(name: str, token: str, scopes: Iterable[str] = SCOPES) -> dict[str, Any]:
    """The ``CIQUEUE_API_TOKENS`` entry for a token (what ``ciqueue token hash`` prints).

    Raises InvalidInput for a bad name, scope or token shape; the token is never echoed.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH or not _TOKEN_RE.match(token):
        raise InvalidInput("token", f"must be 1-{MAX_TOKEN_LENGTH} characters of A-Z a-z 0-9 - . _ ~ + / =")
    entry = {"name": name, "sha256": hash_token(token), "scopes": list(scopes)}
    try:
        parsed = parse_tokens([entry], field="entry")[0]
    except InvalidInput as exc:
        raise InvalidInput(
            [Problem(p.field.removeprefix("entry[0]."), p.rule) for p in exc.problems]
        ) from None
    return {"name": parsed.name, "sha256": parsed.sha256, "scopes": sorted(parsed.scopes)}


def load_tokens(env: Mapping[str, str] | None = None) -> list[ApiToken]:
    """Tokens from ``CIQUEUE_API_TOKENS`` (a JSON list); none configured means every call is 401."""
    env = os.environ if env is None else env
    text = env.get(ENV_API_TOKENS, "").strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        # The value is not echoed: someone may have pasted a raw token by mistake.
        raise InvalidInput(
            ENV_API_TOKENS, 'must be a JSON list like [{"name", "sha256", "scopes"}]'
        ) from None
    return parse_tokens(data, field=ENV_API_TOKENS)


def parse_tokens(data: object, field: str = "tokens") -> list[ApiToken]:
    """Judge a list of ``{"name", "sha256", "scopes"}`` (from the env var or a config file)."""
    if not isinstance(data, list):
        raise InvalidInput(field, 'must be a JSON list like [{"name", "sha256", "scopes"}]')
    problems: list[Problem] = []
    tokens: list[ApiToken] = []
    names: set[str] = set()
    for i, item in enumerate(data):
        path = f"{field}[{i}]"
        if not isinstance(item, Mapping):
            problems.append(Problem(path, "must be an object with name, sha256 and scopes"))
            continue
        before = len(problems)
        for key in item:
            if key not in ("name", "sha256", "scopes"):
                problems.append(
                    Problem(f"{path}.{key}", "is not a known field (known: name, sha256, scopes)")
                )
        name, digest, scopes = item.get("name"), item.get("sha256"), item.get("scopes")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            problems.append(Problem(f"{path}.name", "must be 1-64 of letters, digits, _ . -"))
        elif name in names:
            problems.append(Problem(f"{path}.name", f"duplicates another token named {name!r}"))
        if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
            # Never echo the value: it may be a raw token pasted in the wrong place.
            problems.append(Problem(f"{path}.sha256", "must be 64 hex characters (see `ciqueue token hash`)"))
        if (
            not isinstance(scopes, list)
            or not scopes
            or not all(isinstance(s, str) and s in SCOPES for s in scopes)
        ):
            problems.append(Problem(f"{path}.scopes", f"must be a non-empty list of {', '.join(SCOPES)}"))
        if len(problems) > before:
            continue
        assert isinstance(name, str) and isinstance(digest, str) and isinstance(scopes, list)
        names.add(name)
        tokens.append(ApiToken(name, digest.lower(), frozenset(scopes)))
    if problems:
        raise InvalidInput(problems)
    return tokens


def authenticate(
    headers: Mapping[str, str],
    tokens: Sequence[ApiToken],
    required_scope: str,
    *,
    cam_identity: str | None = None,
    trust_cam: bool = False,
    cam_scopes: Iterable[str] = SCOPES,
    repeated_headers: Collection[str] = (),
) -> Principal:
    """The caller of a request, or Unauthorized (401) / Forbidden (403).

    ``headers`` must have lower-case names (as HttpRequest holds them); ``repeated_headers`` names
    those the request gave more than once. With ``trust_cam`` and a ``cam_identity`` from the
    platform, the caller is a CAM principal with ``cam_scopes``.
    """
    if required_scope not in SCOPES:
        raise ValueError(f"required_scope must be one of {SCOPES}")
    if trust_cam and cam_identity:
        principal = Principal(f"cam:{cam_identity}", frozenset(cam_scopes), via="cam")
    else:
        principal = _token_principal(headers, tokens, "authorization" in repeated_headers)
    if required_scope not in principal.scopes:
        raise Forbidden(
            f"{principal.name!r} lacks the scope {required_scope!r}",
            field="scope",
            headers={
                "WWW-Authenticate": f'Bearer realm="ciqueue", error="insufficient_scope", '
                f'scope="{required_scope}"'
            },
        )
    return principal


def authenticate_request(
    request: HttpRequest,
    tokens: Sequence[ApiToken],
    required_scope: str,
    *,
    trust_cam: bool = False,
) -> Principal:
    """``authenticate`` for an HttpRequest; CAM identity only from a Function URL event."""
    cam = request.cam_identity if request.source == "function_url" else None
    return authenticate(
        request.headers,
        tokens,
        required_scope,
        cam_identity=cam,
        trust_cam=trust_cam,
        repeated_headers=request.repeated_headers,
    )


def _token_principal(headers: Mapping[str, str], tokens: Sequence[ApiToken], repeated: bool) -> Principal:
    value = headers.get("authorization")
    # A bearer token holds no comma, so a comma means values joined from several header lines.
    if repeated or (value is not None and "," in value):
        raise Unauthorized("several Authorization values: send exactly one", challenge=_INVALID_REQUEST)
    if value is None or not value.strip():
        raise Unauthorized("missing Authorization header (use: Authorization: Bearer <token>)")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized("Authorization must use the Bearer scheme", challenge=_INVALID_TOKEN)
    token = token.strip()
    if not token:
        raise Unauthorized("the bearer token is empty", challenge=_INVALID_TOKEN)
    if len(token) > MAX_TOKEN_LENGTH or not _TOKEN_RE.match(token):
        raise Unauthorized("the bearer token is malformed", challenge=_INVALID_TOKEN)
    found = _find(hash_token(token), tokens)
    if found is None:
        raise Unauthorized("unknown or revoked token", challenge=_INVALID_TOKEN)
    return Principal(found.name, found.scopes, via="token")


def _find(digest: str, tokens: Sequence[ApiToken]) -> ApiToken | None:
    """Compare ``digest`` with every configured digest, so timing does not reveal the position."""
    found: ApiToken | None = None
    for candidate in tokens:
        if hmac.compare_digest(digest, candidate.sha256) and found is None:
            found = candidate
    return found

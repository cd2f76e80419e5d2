"""Bearer-token authentication: every failure kind, rotation, CAM trust, constant-time compare."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import ciqueue.api.auth as auth
import pytest
from ciqueue.api.auth import (
    ApiToken,
    Principal,
    authenticate,
    authenticate_request,
    generate_token,
    hash_token,
    load_tokens,
    parse_tokens,
    token_entry,
)
from ciqueue.api.http import Forbidden, HttpError, Unauthorized
from ciqueue.constants import ENV_API_TOKENS
from ciqueue.envelopes.http import HttpRequest, build_request
from ciqueue.errors import InvalidInput

ONCALL = "oncall-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abcdef"
OLD = "old-token-rotated-out-soon-000"
TOKENS = [
    ApiToken("oncall", hash_token(ONCALL), frozenset({"read", "operate"})),
    ApiToken("viewer", hash_token(VIEWER), frozenset({"read"})),
    ApiToken("oncall-previous", hash_token(OLD), frozenset({"read", "operate"})),
]


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def fail(headers: dict[str, str], scope: str = "read", **kwargs: Any) -> HttpError:
    with pytest.raises(HttpError) as info:
        authenticate(headers, TOKENS, scope, **kwargs)
    return info.value


def test_hash_token_is_sha256_hex() -> None:
    assert hash_token("abc") == hashlib.sha256(b"abc").hexdigest()
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_valid_tokens() -> None:
    assert authenticate(bearer(ONCALL), TOKENS, "operate") == Principal(
        "oncall", frozenset({"read", "operate"}), "token"
    )
    assert authenticate(bearer(VIEWER), TOKENS, "read").name == "viewer"
    assert authenticate({"authorization": f"bearer   {VIEWER}  "}, TOKENS, "read").name == "viewer"


def test_rotation_both_tokens_valid() -> None:
    assert authenticate(bearer(ONCALL), TOKENS, "operate").name == "oncall"
    assert authenticate(bearer(OLD), TOKENS, "operate").name == "oncall-previous"


@pytest.mark.parametrize(
    ("headers", "message", "challenge"),
    [
        ({}, "missing Authorization header (use: Authorization: Bearer <token>)", 'Bearer realm="ciqueue"'),
        (
            {"authorization": "  "},
            "missing Authorization header (use: Authorization: Bearer <token>)",
            'Bearer realm="ciqueue"',
        ),
        (
            {"authorization": f"Basic {ONCALL}"},
            "Authorization must use the Bearer scheme",
            'Bearer realm="ciqueue", error="invalid_token"',
        ),
        (
            {"authorization": "Bearer"},
            "the bearer token is empty",
            'Bearer realm="ciqueue", error="invalid_token"',
        ),
        (
            {"authorization": "Bearer    "},
            "the bearer token is empty",
            'Bearer realm="ciqueue", error="invalid_token"',
        ),
        (
            {"authorization": "Bearer a b"},
            "the bearer token is malformed",
            'Bearer realm="ciqueue", error="invalid_token"',
        ),
        (
            {"authorization": "Bearer " + "a" * 513},
            "the bearer token is malformed",
            'Bearer realm="ciqueue", error="invalid_token"',
        ),
        (
            bearer("not-a-configured-token"),
            "unknown or revoked token",
            'Bearer realm="ciqueue", error="invalid_token"',
        ),
        (bearer(ONCALL.upper()), "unknown or revoked token", 'Bearer realm="ciqueue", error="invalid_token"'),
    ],
)
def test_unauthorized(headers: dict[str, str], message: str, challenge: str) -> None:
    error = fail(headers)
    assert isinstance(error, Unauthorized)
    assert (error.status, error.message) == (401, message)
    response = error.to_response()
    assert response.status == 401
    assert response.headers == {"WWW-Authenticate": challenge}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_right_token_wrong_scope_is_403_naming_the_scope() -> None:
    error = fail(bearer(VIEWER), "operate")
    assert isinstance(error, Forbidden)
    assert (error.status, error.message, error.field) == (403, "'viewer' lacks the scope 'operate'", "scope")
    assert error.headers["WWW-Authenticate"] == (
        'Bearer realm="ciqueue", error="insufficient_scope", scope="operate"'
    )


def test_no_tokens_configured_refuses_everyone() -> None:
    with pytest.raises(Unauthorized):
        authenticate(bearer(ONCALL), [], "read")


def test_unknown_scope_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        authenticate(bearer(ONCALL), TOKENS, "admin")


def test_no_token_ever_appears_in_errors_or_reprs() -> None:
    for headers in (bearer(ONCALL), bearer("wrong-" + ONCALL), {"authorization": f"Basic {ONCALL}"}):
        try:
            authenticate(headers, TOKENS, "operate" if headers == bearer(ONCALL) else "read")
        except HttpError as exc:
            text = str(exc) + json.dumps(exc.to_response().to_integration_response())
            assert ONCALL not in text
    assert hash_token(ONCALL) not in repr(TOKENS) and ONCALL not in repr(TOKENS)


# --- constant time: structurally, every digest is compared ------------------------------------


class CountingCompare:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, a: str, b: str) -> bool:
        self.seen.append(b)
        return a == b


@pytest.mark.parametrize("token", [ONCALL, VIEWER, OLD, "unknown-token-value"])
def test_every_configured_digest_is_compared(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    counter = CountingCompare()
    monkeypatch.setattr(auth.hmac, "compare_digest", counter)
    try:
        authenticate(bearer(token), TOKENS, "read")
    except Unauthorized:
        pass
    assert counter.seen == [t.sha256 for t in TOKENS]  # all, in order, even after the first match


def test_first_match_wins_when_digests_repeat() -> None:
    twice = [*TOKENS, ApiToken("dup", hash_token(ONCALL), frozenset({"read"}))]
    assert authenticate(bearer(ONCALL), twice, "read").name == "oncall"


# --- CAM trust ------------------------------------------------------------------------------


def cam_request(source: str = "function_url", identity: str | None = "uin:100000000001") -> HttpRequest:
    return HttpRequest("GET", "/queues", source=source, cam_identity=identity)


def test_cam_trusted_function_url() -> None:
    principal = authenticate_request(cam_request(), TOKENS, "operate", trust_cam=True)
    assert principal == Principal("cam:uin:100000000001", frozenset({"read", "operate"}), "cam")


def test_cam_not_trusted_by_default() -> None:
    with pytest.raises(Unauthorized) as info:
        authenticate_request(cam_request(), TOKENS, "read")
    assert info.value.message.startswith("missing Authorization header")


def test_cam_needs_an_identity_and_a_function_url() -> None:
    with pytest.raises(Unauthorized):
        authenticate_request(cam_request(identity=None), TOKENS, "read", trust_cam=True)
    with pytest.raises(Unauthorized):
        authenticate_request(cam_request(source="apigw"), TOKENS, "read", trust_cam=True)


def test_cam_trusted_but_bearer_still_works_without_identity() -> None:
    req = HttpRequest("GET", "/", headers=bearer(VIEWER), source="function_url")
    assert authenticate_request(req, TOKENS, "read", trust_cam=True).via == "token"


def test_cam_scopes_can_be_narrowed() -> None:
    with pytest.raises(Forbidden) as info:
        authenticate({}, TOKENS, "operate", cam_identity="uin:1", trust_cam=True, cam_scopes=("read",))
    assert info.value.message == "'cam:uin:1' lacks the scope 'operate'"


# --- configuration --------------------------------------------------------------------------


def test_load_tokens_from_env() -> None:
    value = json.dumps(
        [
            {"name": "oncall", "sha256": hash_token(ONCALL).upper(), "scopes": ["read", "operate"]},
            {"name": "viewer", "sha256": hash_token(VIEWER), "scopes": ["read"]},
        ]
    )
    tokens = load_tokens({ENV_API_TOKENS: value})
    assert tokens == TOKENS[:2]
    assert load_tokens({}) == [] and load_tokens({ENV_API_TOKENS: "  "}) == []


def test_load_tokens_rules_never_echo_values() -> None:
    with pytest.raises(InvalidInput) as info:
        load_tokens({ENV_API_TOKENS: ONCALL})
    assert str(info.value) == 'CIQUEUE_API_TOKENS: must be a JSON list like [{"name", "sha256", "scopes"}]'
    bad = [
        {"name": "ok", "sha256": ONCALL, "scopes": ["read"]},
        {"name": "ok", "sha256": hash_token(VIEWER), "scopes": ["admin"]},
        {"name": "bad name", "sha256": hash_token(OLD), "scopes": ["read"], "extra": 1},
        "x",
    ]
    with pytest.raises(InvalidInput) as info:
        load_tokens({ENV_API_TOKENS: json.dumps(bad)})
    assert [str(p) for p in info.value.problems] == [
        "CIQUEUE_API_TOKENS[0].sha256: must be 64 hex characters (see `ciqueue token hash`)",
        "CIQUEUE_API_TOKENS[1].scopes: must be a non-empty list of read, operate",
        "CIQUEUE_API_TOKENS[2].extra: is not a known field (known: name, sha256, scopes)",
        "CIQUEUE_API_TOKENS[2].name: must be 1-64 of letters, digits, _ . -",
        "CIQUEUE_API_TOKENS[3]: must be an object with name, sha256 and scopes",
    ]
    assert ONCALL not in str(info.value)
    dup = [{"name": "a", "sha256": hash_token(ONCALL), "scopes": ["read"]}] * 2
    with pytest.raises(InvalidInput) as info:
        parse_tokens(dup)
    assert str(info.value) == "tokens[1].name: duplicates another token named 'a'"


def test_token_entry_for_the_cli() -> None:
    token = generate_token()
    assert len(token) >= 43 and authenticate(
        bearer(token), parse_tokens([token_entry("ci", token)]), "operate"
    )
    assert token_entry("oncall", ONCALL, ["operate", "read"]) == {
        "name": "oncall",
        "sha256": hash_token(ONCALL),
        "scopes": ["operate", "read"],
    }
    with pytest.raises(InvalidInput) as info:
        token_entry("oncall", "has space")
    assert "has space" not in str(info.value) and info.value.field == "token"
    with pytest.raises(InvalidInput) as info:
        token_entry("oncall", ONCALL, ["root"])
    assert str(info.value) == "scopes: must be a non-empty list of read, operate"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {VIEWER}", "authorization": f"Bearer {ONCALL}"},
        {"authorization": [f"Bearer {VIEWER}", f"Bearer {ONCALL}"]},
    ],
    ids=["case-variants", "list"],
)
def test_several_authorization_values_are_ambiguous(headers: dict[str, Any]) -> None:
    request = build_request(
        source="function_url",
        method="GET",
        path="/",
        query=None,
        headers=headers,
        body=None,
        is_base64=False,
        source_ip=None,
        request_id=None,
    )
    assert request.repeated_headers == frozenset({"authorization"})
    with pytest.raises(Unauthorized) as info:
        authenticate_request(request, TOKENS, "read")
    assert info.value.message == "several Authorization values: send exactly one"
    assert info.value.headers["WWW-Authenticate"] == 'Bearer realm="ciqueue", error="invalid_request"'
    # The platform's CAM identity does not need the header, so an odd header does not matter there.
    cam = authenticate_request(
        HttpRequest(
            "GET",
            "/",
            source="function_url",
            cam_identity="uin:1",
            repeated_headers=frozenset({"authorization"}),
        ),
        TOKENS,
        "read",
        trust_cam=True,
    )
    assert cam.via == "cam"


def test_authorization_values_joined_with_a_comma_are_ambiguous() -> None:
    error = fail({"authorization": f"Bearer {VIEWER}, Bearer {ONCALL}"})
    assert (error.http_status, error.message) == (401, "several Authorization values: send exactly one")

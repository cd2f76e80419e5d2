"""The console's session cookie, CSRF token and Origin rule, on their own (no HTTP, no emulator)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from ciqueue.api.ui.session import (
    COOKIE_NAME,
    SessionKey,
    clear_cookie,
    configured_origins,
    cookie_value,
    origin_problem,
    set_cookie,
)
from ciqueue.errors import InvalidInput

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)
KEY = SessionKey("s" * 40)


def test_a_sealed_session_opens_with_its_name_scopes_and_expiry() -> None:
    session = KEY.new_session(NOW, "oncall", ["read", "operate"])

    opened = KEY.open(KEY.seal(session), NOW + timedelta(hours=7))

    assert opened == session
    assert opened.signed_in and opened.may("operate")
    assert session.expires_at == int((NOW + timedelta(hours=8)).timestamp())


def test_the_cookie_carries_only_the_name_scopes_a_session_id_and_the_expiry() -> None:
    value = KEY.seal(KEY.new_session(NOW, "oncall", ["read"]))
    payload = value.split(".")[0]

    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

    assert sorted(data) == ["exp", "n", "s", "sid", "v"]
    assert (data["n"], data["s"]) == ("oncall", ["read"])


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v[:-2] + ("AA" if not v.endswith("AA") else "BB"),  # another signature
        lambda v: v.split(".")[0] + "." + v.split(".")[0],  # payload as signature
        lambda v: v.split(".")[0],  # no signature
        lambda v: "",
        lambda v: v + "." + v,
        lambda v: "x" * 5000,
        lambda v: "!!!." + v.split(".")[1],
    ],
    ids=["bad-mac", "swapped", "unsigned", "empty", "doubled", "huge", "not-base64"],
)
def test_a_forged_or_altered_cookie_opens_to_nothing(tamper: object) -> None:
    value = KEY.seal(KEY.new_session(NOW, "viewer", ["read"]))

    assert KEY.open(tamper(value), NOW) is None  # type: ignore[operator]


def test_scopes_raised_in_the_payload_break_the_signature() -> None:
    value = KEY.seal(KEY.new_session(NOW, "viewer", ["read"]))
    payload, mac = value.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["s"] = ["operate", "read"]
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode() + "." + mac

    assert KEY.open(forged, NOW) is None


def test_another_key_and_an_expired_session_open_to_nothing() -> None:
    value = KEY.seal(KEY.new_session(NOW, "oncall", ["read"]))

    assert SessionKey("t" * 40).open(value, NOW) is None
    assert KEY.open(value, NOW + timedelta(hours=8)) is None
    anonymous = KEY.seal(KEY.new_session(NOW))
    assert KEY.open(anonymous, NOW + timedelta(minutes=9)) is not None
    assert KEY.open(anonymous, NOW + timedelta(minutes=10)) is None


def test_csrf_tokens_belong_to_one_session_and_key() -> None:
    one, two = KEY.new_session(NOW, "oncall", ["read"]), KEY.new_session(NOW, "oncall", ["read"])
    token = KEY.csrf_token(one)

    assert KEY.csrf_ok(one, token)
    assert not KEY.csrf_ok(two, token)
    assert not KEY.csrf_ok(one, None) and not KEY.csrf_ok(one, "")
    assert not SessionKey("t" * 40).csrf_ok(one, token)


def test_a_short_key_is_refused_naming_the_setting_and_never_shown() -> None:
    with pytest.raises(InvalidInput) as caught:
        SessionKey("short-secret")
    assert caught.value.field == "CIQUEUE_SESSION_KEY"
    assert "short-secret" not in str(caught.value)
    assert "s" * 40 not in repr(KEY)
    assert SessionKey.from_env({}) is None


def test_cookie_headers_are_host_only_httponly_secure_strict() -> None:
    header = set_cookie("abc", int((NOW + timedelta(hours=8)).timestamp()), NOW)

    assert header == f"{COOKIE_NAME}=abc; Path=/; Max-Age=28800; HttpOnly; Secure; SameSite=Strict"
    assert clear_cookie().startswith(f"{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; Secure")
    assert cookie_value({"cookie": f"other=1; {COOKIE_NAME}=abc.def; x=2"}) == "abc.def"
    assert cookie_value({}) is None


@pytest.mark.parametrize(
    ("headers", "configured", "allowed"),
    [
        ({"origin": "https://fn.example.com", "host": "fn.example.com"}, (), True),
        ({"origin": "http://fn.example.com", "host": "fn.example.com"}, (), False),
        ({"origin": "http://127.0.0.1:9080", "host": "127.0.0.1:9080"}, (), True),
        ({"origin": "https://evil.example", "host": "fn.example.com"}, (), False),
        ({"origin": "null", "host": "fn.example.com"}, (), False),
        ({"host": "fn.example.com"}, (), False),
        ({"origin": "https://fn.example.com"}, (), False),
        ({"origin": "https://fn.example.com"}, ("https://fn.example.com",), True),
        ({"origin": "https://gw.example.com", "host": "fn.example.com"}, ("https://gw.example.com",), True),
    ],
)
def test_a_post_must_come_from_the_console_s_own_origin(
    headers: dict[str, str], configured: tuple[str, ...], allowed: bool
) -> None:
    assert (origin_problem(headers, configured) is None) is allowed


def test_configured_origins_are_judged() -> None:
    assert configured_origins({"CIQUEUE_CONSOLE_ORIGIN": "https://A.example.com, http://127.0.0.1:9"}) == (
        "https://a.example.com",
        "http://127.0.0.1:9",
    )
    with pytest.raises(InvalidInput) as caught:
        configured_origins({"CIQUEUE_CONSOLE_ORIGIN": "https://a.example.com/ui"})
    assert caught.value.field == "CIQUEUE_CONSOLE_ORIGIN"

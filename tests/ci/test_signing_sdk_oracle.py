"""Property test: our Authorization equals the one the official Python SDK (CosS3Auth) computes."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock
from urllib.parse import quote

from ciqueue.ci.credentials import Credentials
from ciqueue.ci.signing import authorize, parse_authorization, sign
from hypothesis import given, settings
from hypothesis import strategies as st
from qcloud_cos import CosConfig, cos_auth
from requests.structures import CaseInsensitiveDict

RESERVED = " !\"#$%&'()*+,/:;<=>?@[\\]^`{|}~-_."
ODD_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(RESERVED + "AbZz09\t"),
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.sampled_from("腾讯云éÄßİ€😀"),
    ),
    max_size=20,
)
KEY_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x41, max_codepoint=0x5A),  # upper case, to check lower-casing
        st.characters(min_codepoint=0x61, max_codepoint=0x7A),
        st.sampled_from("-_.~/=&;% 0123456789腾éÄ"),
    ),
    min_size=1,
    max_size=12,
)
METHODS = st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD", "get", "Put"])
PATHS = st.builds(lambda rest: "/" + rest, ODD_TEXT)
SECRETS = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=40
)
TIMES = st.integers(min_value=60, max_value=4_000_000_000)
LIFETIMES = st.integers(min_value=1, max_value=100_000)


def _sdk_key(name: str) -> str:
    return quote(name, safe="-_.~").lower()


PARAMS = st.lists(
    st.tuples(KEY_TEXT, ODD_TEXT | st.just("")), unique_by=lambda kv: _sdk_key(kv[0]), max_size=6
).map(dict)


def _random_case(name: str, flips: list[bool]) -> str:
    padded = flips + [False] * len(name)
    return "".join(c.upper() if flip else c for c, flip in zip(name, padded[: len(name)], strict=True))


# Header names both sides sign, names only the SDK signs, and names nobody signs.
OUR_NAMES = ["host", "content-type", "content-length", "content-md5", "if-match", "range"]
SDK_ONLY_NAMES = ["cache-control", "content-disposition", "expires", "origin", "pic-operations"]
UNSIGNED_NAMES = ["date", "user-agent", "accept", "authorization-hint"]
PREFIXED = st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from(["x-ci-", "x-cos-", "X-Ci-", "X-COS-"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~!*'", min_size=1, max_size=12),
)


def _headers(names: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, str]]:
    name = st.builds(_random_case, names, st.lists(st.booleans(), max_size=20))
    return st.lists(st.tuples(name, ODD_TEXT), unique_by=lambda kv: kv[0].lower(), max_size=8).map(dict)


OUR_HEADERS = _headers(st.sampled_from(OUR_NAMES + UNSIGNED_NAMES) | PREFIXED)
ANY_HEADERS = _headers(st.sampled_from(OUR_NAMES + SDK_ONLY_NAMES + UNSIGNED_NAMES) | PREFIXED)


def _sdk_authorization(
    secret_id: str,
    secret_key: str,
    method: str,
    path: str,
    params: dict[str, str],
    headers: dict[str, str],
    now: int,
    expire: int,
) -> str:
    conf = CosConfig(Region="ap-beijing", SecretId=secret_id, SecretKey=secret_key)
    auth = cos_auth.CosS3Auth(conf, key=path, params=params, expire=expire, sign_host=False)
    request = SimpleNamespace(
        method=method,
        url="https://bucket-1250000000.ci.ap-beijing.myqcloud.com/",
        headers=CaseInsensitiveDict(headers),
    )
    with mock.patch.object(cos_auth, "time", SimpleNamespace(time=lambda: now)):
        auth(request)
    value: str = request.headers["Authorization"]
    return value


@settings(max_examples=200, deadline=None)
@given(METHODS, PATHS, PARAMS, ANY_HEADERS, SECRETS, SECRETS, TIMES, LIFETIMES)
def test_sign_matches_the_sdk_on_the_headers_it_signs(
    method: str,
    path: str,
    params: dict[str, str],
    headers: dict[str, str],
    secret_id: str,
    secret_key: str,
    now: int,
    expire: int,
) -> None:
    expected = _sdk_authorization(secret_id, secret_key, method, path, params, headers, now, expire)
    key_time = parse_authorization(expected).key_time
    assert key_time == f"{now - 60};{now + expire}"
    subset = cos_auth.filter_headers(headers)
    assert sign(method, path, params, subset, secret_id, secret_key, key_time).authorization == expected


@settings(max_examples=200, deadline=None)
@given(METHODS, PATHS, PARAMS, OUR_HEADERS, SECRETS, SECRETS, TIMES, LIFETIMES, st.floats(0, 0.999))
def test_authorize_matches_the_sdk(
    method: str,
    path: str,
    params: dict[str, str],
    headers: dict[str, str],
    secret_id: str,
    secret_key: str,
    now: int,
    lifetime: int,
    fraction: float,
) -> None:
    expected = _sdk_authorization(secret_id, secret_key, method, path, params, headers, now, lifetime)
    creds = Credentials(secret_id, secret_key)
    assert authorize(creds, method, path, params, headers, now=now + fraction, lifetime=lifetime) == expected

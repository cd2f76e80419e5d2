"""The sha1 request signature: official COS vectors, derived CI vectors, parsing and verifying."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from ciqueue.ci.credentials import Credentials
from ciqueue.ci.signing import (
    ParsedAuthorization,
    SignatureParts,
    authorize,
    canonical,
    ci_quote,
    headers_to_sign,
    parse_authorization,
    security_headers,
    sign,
    verify,
)

SECRET_ID = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
SECRET_KEY = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
PATH = "/exampleobject(腾讯云)"
CI_HOST = "examplebucket-1250000000.ci.ap-beijing.myqcloud.com"
QUEUE_ID = "p8366c460c67b4c65a9bf81b41eaa3c4b"

UPLOAD_HEADERS = {
    "Date": "Thu, 16 May 2019 06:45:51 GMT",
    "Host": "examplebucket-1250000000.cos.ap-beijing.myqcloud.com",
    "Content-Type": "text/plain",
    "Content-Length": "13",
    "Content-MD5": "mQ/fVh815F3k6TAUm8m0eg==",
    "x-cos-acl": "private",
    "x-cos-grant-read": 'uin="100000000011"',
}


def test_official_upload_example_every_intermediate_value() -> None:
    parts = sign("PUT", PATH, {}, UPLOAD_HEADERS, SECRET_ID, SECRET_KEY, "1557989151;1557996351")

    http_headers = (
        "content-length=13&content-md5=mQ%2FfVh815F3k6TAUm8m0eg%3D%3D&content-type=text%2Fplain"
        "&date=Thu%2C%2016%20May%202019%2006%3A45%3A51%20GMT"
        "&host=examplebucket-1250000000.cos.ap-beijing.myqcloud.com"
        "&x-cos-acl=private&x-cos-grant-read=uin%3D%22100000000011%22"
    )
    http_string = f"put\n/exampleobject(腾讯云)\n\n{http_headers}\n"
    assert parts.key_time == "1557989151;1557996351"
    assert parts.sign_key == "eb2519b498b02ac213cb1f3d1a3d27a3b3c9bc5f"
    assert parts.url_param_list == ""
    assert parts.http_parameters == ""
    assert parts.header_list == "content-length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read"
    assert parts.http_headers == http_headers
    assert parts.http_string == http_string
    assert hashlib.sha1(http_string.encode()).hexdigest() == "8b2751e77f43a0995d6e9eb9477f4b685cca4172"
    assert parts.string_to_sign == "sha1\n1557989151;1557996351\n8b2751e77f43a0995d6e9eb9477f4b685cca4172\n"
    assert parts.signature == "3b8851a11a569213c17ba8fa7dcf2abec6935172"
    assert parts.authorization == (
        "q-sign-algorithm=sha1&q-ak=AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
        "&q-sign-time=1557989151;1557996351&q-key-time=1557989151;1557996351"
        "&q-header-list=content-length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read"
        "&q-url-param-list=&q-signature=3b8851a11a569213c17ba8fa7dcf2abec6935172"
    )


def test_official_download_example_every_intermediate_value() -> None:
    params = {"response-content-type": "application/octet-stream", "response-cache-control": "max-age=600"}
    headers = {
        "Date": "Thu, 16 May 2019 06:55:53 GMT",
        "Host": "examplebucket-1250000000.cos.ap-beijing.myqcloud.com",
    }
    parts = sign("GET", PATH, params, headers, SECRET_ID, SECRET_KEY, "1557989753;1557996953")

    http_parameters = "response-cache-control=max-age%3D600&response-content-type=application%2Foctet-stream"
    http_headers = (
        "date=Thu%2C%2016%20May%202019%2006%3A55%3A53%20GMT"
        "&host=examplebucket-1250000000.cos.ap-beijing.myqcloud.com"
    )
    assert parts.key_time == "1557989753;1557996953"
    assert parts.sign_key == "937914bf490e9e8c189836aad2052e4feeb35eaf"
    assert parts.url_param_list == "response-cache-control;response-content-type"
    assert parts.http_parameters == http_parameters
    assert parts.header_list == "date;host"
    assert parts.http_headers == http_headers
    assert parts.http_string == f"get\n/exampleobject(腾讯云)\n{http_parameters}\n{http_headers}\n"
    assert hashlib.sha1(parts.http_string.encode()).hexdigest() == "54ecfe22f59d3514fdc764b87a32d8133ea611e6"
    assert parts.string_to_sign == "sha1\n1557989753;1557996953\n54ecfe22f59d3514fdc764b87a32d8133ea611e6\n"
    assert parts.signature == "01681b8c9d798a678e43b685a9f1bba0f6c0e012"
    assert parts.authorization == (
        "q-sign-algorithm=sha1&q-ak=AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
        "&q-sign-time=1557989753;1557996953&q-key-time=1557989753;1557996953"
        "&q-header-list=date;host&q-url-param-list=response-cache-control;response-content-type"
        "&q-signature=01681b8c9d798a678e43b685a9f1bba0f6c0e012"
    )


def test_sign_key_for_the_documented_key_time() -> None:
    parts = sign("GET", "/", {}, {}, SECRET_ID, SECRET_KEY, "1557902800;1557910000")
    assert parts.sign_key == "1101994244449a067e7659a123ba5bba59cc1a78"
    assert parts.http_string == "get\n/\n\n\n"


def test_derived_ci_describe_vector() -> None:
    params = {"queueIds": QUEUE_ID, "state": "Active", "pageNumber": "1", "pageSize": "10"}
    parts = sign(
        "GET", "/picqueue", params, {"host": CI_HOST}, SECRET_ID, SECRET_KEY, "1557989151;1557996351"
    )
    assert parts.http_string == (
        f"get\n/picqueue\npagenumber=1&pagesize=10&queueids={QUEUE_ID}&state=Active\nhost={CI_HOST}\n"
    )
    assert parts.string_to_sign == "sha1\n1557989151;1557996351\n81fa03b4be4527361b67f087449524a6bd8b93a6\n"
    assert parts.url_param_list == "pagenumber;pagesize;queueids;state"
    assert parts.header_list == "host"
    assert parts.signature == "c49429227b2907e6a50fef027c41d129bf0ecca2"


def test_derived_ci_update_vector() -> None:
    body = (
        b"<Request><Name>My-Queue-Pic</Name><State>Active</State>"
        b"<NotifyConfig><State>Off</State></NotifyConfig></Request>"
    )
    assert len(body) == 112
    headers = {"Content-Length": str(len(body)), "Content-Type": "application/xml", "Host": CI_HOST}
    parts = sign("PUT", f"/picqueue/{QUEUE_ID}", {}, headers, SECRET_ID, SECRET_KEY, "1557989151;1557996351")
    assert parts.header_list == "content-length;content-type;host"
    assert parts.http_headers == f"content-length=112&content-type=application%2Fxml&host={CI_HOST}"
    assert parts.string_to_sign == "sha1\n1557989151;1557996351\n9b721b4a0053a035f5ba58f8725d94830f5f8c19\n"
    assert parts.signature == "bc80cef4064e3f11c4f84095abb1164e24117c34"


# -- ci_quote -------------------------------------------------------------------------------------

QUOTE_TABLE = {
    " ": "%20",
    "!": "%21",
    '"': "%22",
    "#": "%23",
    "$": "%24",
    "%": "%25",
    "&": "%26",
    "'": "%27",
    "(": "%28",
    ")": "%29",
    "*": "%2A",
    "+": "%2B",
    ",": "%2C",
    "/": "%2F",
    ":": "%3A",
    ";": "%3B",
    "<": "%3C",
    "=": "%3D",
    ">": "%3E",
    "?": "%3F",
    "@": "%40",
    "[": "%5B",
    "\\": "%5C",
    "]": "%5D",
    "^": "%5E",
    "`": "%60",
    "{": "%7B",
    "|": "%7C",
    "}": "%7D",
}


@pytest.mark.parametrize(("char", "encoded"), QUOTE_TABLE.items())
def test_ci_quote_encodes_every_listed_character(char: str, encoded: str) -> None:
    assert ci_quote(char) == encoded
    assert ci_quote(f"a{char}b") == f"a{encoded}b"


def test_ci_quote_keeps_unreserved_and_encodes_utf8_upper_hex() -> None:
    unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
    assert ci_quote(unreserved) == unreserved
    assert ci_quote("~") == "~"
    assert ci_quote("a b") == "a%20b"
    assert ci_quote("腾讯云") == "%E8%85%BE%E8%AE%AF%E4%BA%91"
    assert ci_quote("é/x") == "%C3%A9%2Fx"
    assert ci_quote("\n\x00\x7f") == "%0A%00%7F"
    assert ci_quote("") == ""


def test_canonical_lowercases_keys_sorts_and_keeps_empty_values() -> None:
    assert canonical({"b": "2", "A": "x y", "acl": ""}) == ("a;acl;b", "a=x%20y&acl=&b=2")
    assert canonical({}) == ("", "")
    # Keys are encoded first and then lower-cased, hex digits included.
    assert canonical({"X-Cos-Meta-A/B": "v"}) == ("x-cos-meta-a%2fb", "x-cos-meta-a%2fb=v")


def test_canonical_refuses_keys_that_differ_only_in_case() -> None:
    with pytest.raises(
        ValueError, match=r"^two keys differ only in case; the signature cannot tell them apart$"
    ):
        canonical({"Host": "a", "host": "b"})


def test_sign_refuses_a_relative_path() -> None:
    with pytest.raises(ValueError, match=r"^path must start with '/'$"):
        sign("GET", "picqueue", {}, {}, SECRET_ID, SECRET_KEY, "1;2")


def test_signature_parts_repr_hides_the_sign_key() -> None:
    parts = sign("PUT", PATH, {}, UPLOAD_HEADERS, SECRET_ID, SECRET_KEY, "1557989151;1557996351")
    assert isinstance(parts, SignatureParts)
    assert parts.sign_key not in repr(parts)
    assert parts.signature not in repr(parts)


# -- headers_to_sign, security token, authorize ---------------------------------------------------


def test_headers_to_sign_picks_the_documented_headers_case_insensitively() -> None:
    headers = {
        "Host": "h",
        "Content-Type": "application/xml",
        "CONTENT-LENGTH": "3",
        "content-md5": "m",
        "If-Match": "e",
        "If-None-Match": "e2",
        "Range": "bytes=0-1",
        "X-CI-Security-Token": "t",
        "x-cos-acl": "private",
        "Date": "d",
        "User-Agent": "ua",
        "Authorization": "a",
        "Accept-Encoding": "gzip",
        "x-other": "o",
    }
    assert headers_to_sign(headers) == {
        "Host": "h",
        "Content-Type": "application/xml",
        "CONTENT-LENGTH": "3",
        "content-md5": "m",
        "If-Match": "e",
        "If-None-Match": "e2",
        "Range": "bytes=0-1",
        "X-CI-Security-Token": "t",
        "x-cos-acl": "private",
    }


def test_security_headers() -> None:
    assert security_headers(Credentials(SECRET_ID, SECRET_KEY)) == {}
    assert security_headers(Credentials(SECRET_ID, SECRET_KEY, "tok")) == {"x-ci-security-token": "tok"}


def test_authorize_uses_the_key_time_window_and_the_signed_header_subset() -> None:
    creds = Credentials(SECRET_ID, SECRET_KEY)
    headers = {"Host": CI_HOST, "User-Agent": "ciqueue/0.1.0", "Date": "x"}
    params = {"queueIds": QUEUE_ID, "state": "Active", "pageNumber": "1", "pageSize": "10"}
    value = authorize(creds, "GET", "/picqueue", params, headers, now=1557989211.9, lifetime=7140)
    # 1557989211 - 60 = 1557989151 and + 7140 = 1557996351: the derived CI vector again.
    assert value == (
        f"q-sign-algorithm=sha1&q-ak={SECRET_ID}&q-sign-time=1557989151;1557996351"
        "&q-key-time=1557989151;1557996351&q-header-list=host"
        "&q-url-param-list=pagenumber;pagesize;queueids;state"
        "&q-signature=c49429227b2907e6a50fef027c41d129bf0ecca2"
    )
    default = parse_authorization(authorize(creds, "GET", "/picqueue", {}, headers, now=1000.5))
    assert (default.start, default.end, default.key_time) == (940, 1600, "940;1600")


def test_authorize_signs_the_session_token() -> None:
    creds = Credentials(SECRET_ID, SECRET_KEY, "session-token+/=")
    headers = {"Host": CI_HOST, **security_headers(creds)}
    value = authorize(creds, "PUT", f"/picqueue/{QUEUE_ID}", {}, headers, now=1557989211)
    parsed = parse_authorization(value)
    assert parsed.header_list == ["host", "x-ci-security-token"]
    expected = sign(
        "PUT", f"/picqueue/{QUEUE_ID}", {}, headers, SECRET_ID, SECRET_KEY, "1557989151;1557989811"
    )
    assert value == expected.authorization
    assert expected.http_headers == f"host={CI_HOST}&x-ci-security-token=session-token%2B%2F%3D"
    assert verify(parsed, SECRET_KEY, "PUT", f"/picqueue/{QUEUE_ID}", {}, headers)
    assert not verify(
        parsed, SECRET_KEY, "PUT", f"/picqueue/{QUEUE_ID}", {}, {**headers, "x-ci-security-token": "other"}
    )


def test_authorize_refuses_temporary_credentials_without_their_token_header() -> None:
    creds = Credentials(SECRET_ID, SECRET_KEY, "the-session-token")
    for headers in ({"Host": CI_HOST}, {"Host": CI_HOST, "x-ci-security-token": "stale"}):
        with pytest.raises(ValueError) as caught:
            authorize(creds, "GET", "/picqueue", {}, headers, now=1557989211)
        text = str(caught.value)
        assert text == (
            "headers must carry the credentials' session token as x-ci-security-token "
            "(merge in security_headers(credentials))"
        )
        assert "the-session-token" not in text and SECRET_KEY not in text


# -- parse_authorization ----------------------------------------------------------------------------

GOOD = (
    "q-sign-algorithm=sha1&q-ak=AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
    "&q-sign-time=1557989753;1557996953&q-key-time=1557989753;1557996953"
    "&q-header-list=date;host&q-url-param-list=response-cache-control;response-content-type"
    "&q-signature=01681b8c9d798a678e43b685a9f1bba0f6c0e012"
)
SIGNATURE = "01681b8c9d798a678e43b685a9f1bba0f6c0e012"


def test_parse_authorization_reads_every_part() -> None:
    assert parse_authorization(GOOD) == ParsedAuthorization(
        secret_id=SECRET_ID,
        sign_time="1557989753;1557996953",
        key_time="1557989753;1557996953",
        header_list=["date", "host"],
        url_param_list=["response-cache-control", "response-content-type"],
        signature=SIGNATURE,
        start=1557989753,
        end=1557996953,
    )
    empty_lists = parse_authorization(GOOD.replace("date;host", "").replace("response-cache-control;", ""))
    assert empty_lists.header_list == []
    assert empty_lists.url_param_list == ["response-content-type"]
    assert SIGNATURE not in repr(parse_authorization(GOOD))


def _without(part: str) -> str:
    return "&".join(p for p in GOOD.split("&") if not p.startswith(part + "="))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Authorization is empty"),
        ("   ", "Authorization is empty"),
        (_without("q-ak"), "q-ak is missing"),
        (GOOD.replace(f"q-ak={SECRET_ID}", "q-ak="), "q-ak is missing"),
        (_without("q-sign-algorithm"), "q-sign-algorithm is missing"),
        (GOOD.replace("=sha1&", "=sha256&"), "q-sign-algorithm must be sha1"),
        (_without("q-sign-time"), "q-sign-time is missing"),
        (_without("q-key-time"), "q-key-time is missing"),
        (_without("q-header-list"), "q-header-list is missing"),
        (_without("q-url-param-list"), "q-url-param-list is missing"),
        (_without("q-signature"), "q-signature is missing"),
        (GOOD.replace("q-key-time=1557989753;1557996953", "q-key-time=1557989753"), ""),
        (GOOD.replace("q-key-time=1557989753;", "q-key-time=x;"), ""),
        (GOOD.replace("q-key-time=1557989753;1557996953", "q-key-time=-1;5"), ""),
        (
            GOOD.replace("q-key-time=1557989753;1557996953", "q-key-time=9;5"),
            "q-key-time must not start after it ends",
        ),
        (
            GOOD.replace("q-sign-time=1557989753;", "q-sign-time=;"),
            "q-sign-time must be 'start;end' unix seconds",
        ),
        (GOOD.replace(SIGNATURE, SIGNATURE[:-1]), "q-signature must be 40 hex digits"),
        (GOOD.replace(SIGNATURE, SIGNATURE[:-1] + "g"), "q-signature must be 40 hex digits"),
        (GOOD.replace("date;host", "date;;host"), "q-header-list must not hold an empty name"),
        (GOOD + "&q-ak=AKIDother", "q-ak appears more than once"),
        (GOOD + "&" + SIGNATURE, "Authorization part 8 is not name=value"),
        (GOOD + "&x=1&x=2", "a part repeats"),
    ],
)
def test_parse_authorization_names_the_bad_part(value: str, message: str) -> None:
    message = message or "q-key-time must be 'start;end' unix seconds"
    with pytest.raises(ValueError) as caught:
        parse_authorization(value)
    assert str(caught.value) == message
    assert SIGNATURE not in str(caught.value) and SECRET_KEY not in str(caught.value)


def test_parse_authorization_accepts_upper_case_hex() -> None:
    assert parse_authorization(GOOD.replace(SIGNATURE, SIGNATURE.upper())).signature == SIGNATURE


# -- verify -------------------------------------------------------------------------------------------

DOWNLOAD_PARAMS = {
    "response-content-type": "application/octet-stream",
    "response-cache-control": "max-age=600",
}
DOWNLOAD_HEADERS = {
    "Date": "Thu, 16 May 2019 06:55:53 GMT",
    "Host": "examplebucket-1250000000.cos.ap-beijing.myqcloud.com",
    "User-Agent": "not signed",
}


def test_verify_accepts_the_official_download_request() -> None:
    parsed = parse_authorization(GOOD)
    assert verify(parsed, SECRET_KEY, "GET", PATH, DOWNLOAD_PARAMS, DOWNLOAD_HEADERS)
    # Names match case-insensitively; unlisted params and headers are not judged.
    lowered = {k.lower(): v for k, v in DOWNLOAD_HEADERS.items()}
    assert verify(parsed, SECRET_KEY, "get", PATH, {**DOWNLOAD_PARAMS, "extra": "1"}, lowered)


@pytest.mark.parametrize(
    ("change", "kwargs"),
    [
        ("tampered header", {"headers": {**DOWNLOAD_HEADERS, "Host": "evil.example.com"}}),
        ("missing listed header", {"headers": {"Host": DOWNLOAD_HEADERS["Host"]}}),
        ("tampered param", {"params": {**DOWNLOAD_PARAMS, "response-cache-control": "max-age=601"}}),
        ("missing listed param", {"params": {"response-content-type": "application/octet-stream"}}),
        ("wrong key", {"secret_key": SECRET_KEY[:-1] + "Y"}),
        ("other method", {"method": "PUT"}),
        ("other path", {"path": "/exampleobject"}),
        ("relative path", {"path": "exampleobject(腾讯云)"}),
    ],
)
def test_verify_rejects(change: str, kwargs: dict[str, object]) -> None:
    call: dict[str, object] = {
        "secret_key": SECRET_KEY,
        "method": "GET",
        "path": PATH,
        "params": DOWNLOAD_PARAMS,
        "headers": DOWNLOAD_HEADERS,
    }
    call.update(kwargs)
    assert verify(parse_authorization(GOOD), **call) is False, change  # type: ignore[arg-type]


def test_verify_rejects_a_tampered_time_window() -> None:
    later = GOOD.replace("1557996953", "1557999999")
    assert not verify(parse_authorization(later), SECRET_KEY, "GET", PATH, DOWNLOAD_PARAMS, DOWNLOAD_HEADERS)


def test_no_secret_in_exception_texts() -> None:
    bad_key = "BQYIM75p8x0iWVFS\udcffIgqEKwFprpRSVHlz"
    with pytest.raises(ValueError) as caught:
        sign("GET", "/", {}, {}, SECRET_ID, bad_key, "1;2")
    assert str(caught.value) == "secret key is not valid UTF-8 text"
    assert caught.value.__suppress_context__
    with pytest.raises(ValueError) as caught:
        authorize(Credentials(SECRET_ID, bad_key), "GET", "/", {}, {}, now=100)
    assert str(caught.value) == "secret key is not valid UTF-8 text"
    for text in (repr(Credentials(SECRET_ID, SECRET_KEY, "tok")), repr(parse_authorization(GOOD))):
        assert SECRET_KEY not in text and SIGNATURE not in text


def test_long_secret_keys_are_hashed_first_as_hmac_requires() -> None:
    long_key = "K" * 100
    parts = sign("GET", "/", {}, {}, SECRET_ID, long_key, "1;2")
    assert parts.sign_key == hmac.new(long_key.encode(), b"1;2", "sha1").hexdigest()
    expected = hmac.new(parts.sign_key.encode(), parts.string_to_sign.encode(), "sha1").hexdigest()
    assert parts.signature == expected


def test_authorize_equals_sign_over_the_picked_headers() -> None:
    creds = Credentials(SECRET_ID, SECRET_KEY, "tok")
    headers = {
        "Host": CI_HOST,
        "X-Ci-Security-Token": "tok",
        "x-cos-meta-note": "腾讯云 a/b",
        "Content-Type": "application/xml",
        "Date": "not signed",
    }
    params = {"Acl": "", "queueIds": "a,b"}
    value = authorize(creds, "PUT", PATH, params, headers, now=1000)
    parts = sign("PUT", PATH, params, headers_to_sign(headers), SECRET_ID, SECRET_KEY, "940;1600")
    assert value == parts.authorization
    assert parts.url_param_list == "acl;queueids"
    assert parts.http_parameters == "acl=&queueids=a%2Cb"
    assert parts.header_list == "content-type;host;x-ci-security-token;x-cos-meta-note"
    with pytest.raises(ValueError) as caught:
        authorize(creds, "PUT", PATH, params, {**headers, "host": "other"}, now=1000)
    assert str(caught.value) == "two keys differ only in case; the signature cannot tell them apart"

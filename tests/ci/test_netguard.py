"""netguard: every literal spelling of a private address is refused, public hosts pass."""

from __future__ import annotations

import pytest
from ciqueue.ci.netguard import check_callback_url, is_private_host, private_reason, redact_url
from ciqueue.errors import InvalidInput

FIELD = "NotifyConfig.Url"


def refusal(url: str, **kwargs: object) -> tuple[str, str]:
    with pytest.raises(InvalidInput) as info:
        check_callback_url(url, **kwargs)  # type: ignore[arg-type]
    assert len(info.value.problems) == 1
    return info.value.field, info.value.rule


RFC1918_10 = "in the RFC 1918 private range 10.0.0.0/8"
METADATA = "Tencent Cloud's instance metadata service"
WILDCARD = "a wildcard DNS service that answers with the address the name spells"
LOOPBACK_DNS = "a DNS name that answers 127.0.0.1 for itself and every subdomain"

PRIVATE = [
    # plain literals
    ("http://127.0.0.1/", "127.0.0.1 is loopback"),
    ("http://127.255.255.254:8080/cb", "127.255.255.254 is loopback"),
    ("http://10.0.0.1/", f"10.0.0.1 is {RFC1918_10}"),
    ("http://172.16.5.4/", "172.16.5.4 is in the RFC 1918 private range 172.16.0.0/12"),
    ("http://172.31.255.255/", "172.31.255.255 is in the RFC 1918 private range 172.16.0.0/12"),
    ("https://192.168.1.10/x", "192.168.1.10 is in the RFC 1918 private range 192.168.0.0/16"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is link-local"),
    ("http://100.64.0.1/", "100.64.0.1 is in the shared (CGNAT) range 100.64.0.0/10"),
    ("http://100.127.255.254/", "100.127.255.254 is in the shared (CGNAT) range 100.64.0.0/10"),
    ("http://0.0.0.0/", "0.0.0.0 is unspecified"),
    ("http://0.1.2.3/", "0.1.2.3 is in the 'this network' range 0.0.0.0/8"),
    ("http://224.0.0.1/", "224.0.0.1 is multicast"),
    ("http://239.255.255.250/", "239.255.255.250 is multicast"),
    ("http://240.0.0.1/", "240.0.0.1 is reserved"),
    ("http://255.255.255.255/", "255.255.255.255 is the broadcast address"),
    ("http://192.0.2.1/", "192.0.2.1 is a reserved, non-public address"),
    # numeric-host tricks inet_aton accepts
    ("http://2130706433/", "2130706433 means 127.0.0.1, which is loopback"),
    ("http://0x7f000001/", "0x7f000001 means 127.0.0.1, which is loopback"),
    ("http://0X7F000001/", "0x7f000001 means 127.0.0.1, which is loopback"),
    ("http://0x7f.0.0.1/", "0x7f.0.0.1 means 127.0.0.1, which is loopback"),
    ("http://0x7f.1/", "0x7f.1 means 127.0.0.1, which is loopback"),
    ("http://0177.0.0.1/", "0177.0.0.1 means 127.0.0.1, which is loopback"),
    ("http://017700000001/", "017700000001 means 127.0.0.1, which is loopback"),
    ("http://127.1/", "127.1 means 127.0.0.1, which is loopback"),
    ("http://127.0.1/", "127.0.1 means 127.0.0.1, which is loopback"),
    ("http://10.1/", f"10.1 means 10.0.0.1, which is {RFC1918_10}"),
    ("http://167772161/", f"167772161 means 10.0.0.1, which is {RFC1918_10}"),
    ("http://0/", "0 means 0.0.0.0, which is unspecified"),
    ("http://127.0.0.1./", "127.0.0.1 is loopback"),
    ("http://１２７。０。０。１/", "１２７。０。０。１ means 127.0.0.1, which is loopback"),
    # IPv6
    ("http://[::1]/", "::1 is loopback"),
    ("http://[0:0:0:0:0:0:0:1]:8080/", "0:0:0:0:0:0:0:1 means ::1, which is loopback"),
    ("http://[::]/", ":: is unspecified"),
    ("http://[fe80::1]/", "fe80::1 is link-local"),
    ("http://[fe80::1%25eth0]/", "fe80::1%25eth0 is link-local"),
    ("http://[fec0::1]/", "fec0::1 is site-local"),
    ("http://[fd12:3456::1]/", "fd12:3456::1 is in the unique local range fc00::/7"),
    ("http://[fc00::1]/", "fc00::1 is in the unique local range fc00::/7"),
    ("http://[ff02::1]/", "ff02::1 is multicast"),
    ("http://[::ffff:10.0.0.1]/", f"::ffff:10.0.0.1 embeds 10.0.0.1, which is {RFC1918_10}"),
    ("http://[::ffff:7f00:1]/", "::ffff:7f00:1 embeds 127.0.0.1, which is loopback"),
    ("http://[::127.0.0.1]/", "::127.0.0.1 embeds 127.0.0.1, which is loopback"),
    ("http://[64:ff9b::10.0.0.1]/", f"64:ff9b::10.0.0.1 embeds 10.0.0.1, which is {RFC1918_10}"),
    ("http://[64:ff9b:1::1]/", "64:ff9b:1::1 is in the local-use NAT64 range 64:ff9b:1::/48"),
    (
        "http://[2002:c0a8:0101::1]/",
        "2002:c0a8:0101::1 embeds 192.168.1.1, which is in the RFC 1918 private range 192.168.0.0/16",
    ),
    ("http://[::8.8.8.8]/", "::8.8.8.8 means ::808:808, which is a deprecated IPv4-compatible address"),
    # names
    ("http://localhost/", "localhost is a loopback name"),
    ("http://LOCALHOST:9000/", "localhost is a loopback name"),
    ("http://localhost./", "localhost is a loopback name"),
    ("http://api.localhost/", "api.localhost is a loopback name"),
    ("http://ip6-localhost/", "ip6-localhost is a loopback name"),
    ("http://printer.local/", "printer.local is under .local, which is for local networks only"),
    ("http://db.internal/", "db.internal is under .internal, which is for local networks only"),
    ("http://nas.home.arpa/", "nas.home.arpa is under .home.arpa, which is for local networks only"),
    ("http://intranet/", "intranet is a single-label name, resolved only inside a local network"),
    # names whose meaning, not spelling, is private
    ("http://metadata.tencentyun.com/latest/meta-data/", f"metadata.tencentyun.com is {METADATA}"),
    ("http://METADATA.tencentyun.com./latest", f"metadata.tencentyun.com is {METADATA}"),
    ("http://127.0.0.1.nip.io/cb", f"127.0.0.1.nip.io is under nip.io, {WILDCARD}"),
    ("http://app.10-0-0-1.nip.io/cb", f"app.10-0-0-1.nip.io is under nip.io, {WILDCARD}"),
    ("http://7f000001.nip.io/", f"7f000001.nip.io is under nip.io, {WILDCARD}"),
    ("https://192.168.1.1.sslip.io/", f"192.168.1.1.sslip.io is under sslip.io, {WILDCARD}"),
    ("https://fe80--1.sslip.io/", f"fe80--1.sslip.io is under sslip.io, {WILDCARD}"),
    (
        "http://x.metadata.tencentyun.com/",
        f"x.metadata.tencentyun.com is under metadata.tencentyun.com, {METADATA}",
    ),
    ("http://10.0.0.1.xip.io/", f"10.0.0.1.xip.io is under xip.io, {WILDCARD}"),
    ("http://localtest.me/", f"localtest.me is {LOOPBACK_DNS}"),
    ("http://api.localtest.me:8080/", f"api.localtest.me is under localtest.me, {LOOPBACK_DNS}"),
    ("http://lvh.me/", f"lvh.me is {LOOPBACK_DNS}"),
    ("http://app.lvh.me/", f"app.lvh.me is under lvh.me, {LOOPBACK_DNS}"),
]


@pytest.mark.parametrize(("url", "reason"), PRIVATE)
def test_private_hosts_refused(url: str, reason: str) -> None:
    assert refusal(url) == (FIELD, f"must not be a private-network address ({reason})")


@pytest.mark.parametrize(("url", "_reason"), PRIVATE)
def test_allow_private_skips_only_the_private_check(url: str, _reason: str) -> None:
    check_callback_url(url, allow_private=True)


PUBLIC = [
    "http://callback.demo.com",
    "https://cb.example.com/notify?x=1&y=2#frag",
    "https://CB.Example.COM:8443/path",
    "http://example.com./",
    "http://8.8.8.8/",
    "http://1.1.1.1:8080/cb",
    "http://100.63.255.255/",
    "http://172.32.0.1/",
    "http://11.0.0.1/",
    "https://[2606:4700:4700::1111]/",
    "https://[2001:4860:4860::8888]:443/",
    "http://[::ffff:8.8.8.8]/",
    "http://[64:ff9b::8.8.8.8]/",
    "https://bücher.example/",
    "https://回调.示例.中国/notify",
    "https://my_host.example.com/",
    "http://localhost.example.com/",
    "https://a.b.c.d.e.example.com/",
    "https://tencentyun.com/",
    "https://notmetadata.tencentyun.com/",
    "https://nip.io.example.com/",
    "https://mynip.io/",
    "https://localtest.me.example.com/",
]


@pytest.mark.parametrize("url", PUBLIC)
def test_public_urls_accepted(url: str) -> None:
    check_callback_url(url)


URL_RULES = [
    ("", "must not be empty"),
    ("callback.demo.com", "must be an absolute URL starting with http:// or https://"),
    ("//callback.demo.com/", "must be an absolute URL starting with http:// or https://"),
    ("ftp://callback.demo.com/", "must start with http:// or https:// (got ftp://)"),
    ("javascript://x.com/%0aalert(1)", "must start with http:// or https:// (got javascript://)"),
    ("http:///path", "must name a host"),
    ("http://:8080/", "must name a host"),
    ("http:// callback.demo.com/", "must not contain whitespace or control characters"),
    ("http://callback.demo.com/a b", "must not contain whitespace or control characters"),
    ("http://callback.demo.com/\n", "must not contain whitespace or control characters"),
    ("http://callback.demo.com/\x00", "must not contain whitespace or control characters"),
    ("http://callback.demo.com/\u3000", "must not contain whitespace or control characters"),
    ("http://good.com\\@127.0.0.1/", "must not contain a backslash"),
    ("http://good.com@127.0.0.1/", "must not contain user info (user@ before the host)"),
    ("http://user:pass@callback.demo.com/", "must not contain user info (user@ before the host)"),
    ("http://callback.demo.com:99999/", "must have a port between 1 and 65535 (got '99999')"),
    ("http://callback.demo.com:0/", "must have a port between 1 and 65535 (got '0')"),
    ("http://callback.demo.com:8o/", "must have a port between 1 and 65535 (got '8o')"),
    ("http://[::1/", "must close the [ ] around an IPv6 host"),
    ("http://[::1]x/", "must have only a port after the ] of an IPv6 host"),
    ("http://[127.0.0.1]/", "must hold a valid IPv6 address inside [ ] (got '127.0.0.1')"),
    ("http://999.1.1.1/", "must be a valid IPv4 address (got '999.1.1.1')"),
    ("http://1.2.3.4.5/", "must be a valid IPv4 address (got '1.2.3.4.5')"),
    ("http://089.1.1.1/", "must be a valid IPv4 address (got '089.1.1.1')"),
    ("http://example.123/", "must be a valid IPv4 address (got 'example.123')"),
    ("http://%31%32%37.0.0.1/", "must be a valid IPv4 address (got '%31%32%37.0.0.1')"),
    ("http://%6c%6f%63%61%6c%68%6f%73%74/", "must be a valid host name (got '%6c%6f%63%61%6c%68%6f%73%74')"),
    ("http://a..b.com/", "must be a valid host name (got 'a..b.com')"),
    ("http://-bad.example.com/", "must be a valid host name (got '-bad.example.com')"),
]


@pytest.mark.parametrize(("url", "rule"), URL_RULES)
def test_url_rules(url: str, rule: str) -> None:
    assert refusal(url) == (FIELD, rule)
    # Syntax rules hold in local mode too.
    assert refusal(url, allow_private=True) == (FIELD, rule)


def test_length_limit_boundary() -> None:
    base = "https://cb.example.com/"
    check_callback_url(base + "a" * (1024 - len(base)))
    assert refusal(base + "a" * (1025 - len(base))) == (FIELD, "must be at most 1024 characters (got 1025)")


def test_field_name_is_the_callers() -> None:
    assert refusal("http://127.0.0.1/", field="url") == (
        "url",
        "must not be a private-network address (127.0.0.1 is loopback)",
    )


def test_secret_query_never_echoed() -> None:
    _, rule = refusal("http://127.0.0.1/cb?token=s3cr3t-value")
    assert "s3cr3t" not in rule


@pytest.mark.parametrize(
    ("host", "private"),
    [
        ("127.0.0.1", True),
        ("[::1]", True),
        ("::1", True),
        ("localhost.", True),
        ("2130706433", True),
        ("10.1", True),
        ("example.com", False),
        ("8.8.8.8", False),
        ("[2606:4700:4700::1111]", False),
    ],
)
def test_is_private_host(host: str, private: bool) -> None:
    assert is_private_host(host) is private


@pytest.mark.parametrize("host", ["[::ffff:0:7f00:1]", "[::ffff:0:a00:1]", "[::7f00:1:0:0]"])
def test_reserved_ipv6_forms_are_private(host: str) -> None:
    # ::ffff:0:a.b.c.d (SIIT "IPv4-translated") passed as public because is_global was True.
    assert is_private_host(host)
    with pytest.raises(InvalidInput) as caught:
        check_callback_url(f"http://{host}/cb")
    assert caught.value.rule.startswith("must not be a private-network address (")


@pytest.mark.parametrize("host", ["[2400:cb00::1]", "[2001:4860:4860::8888]", "[::ffff:8.8.8.8]"])
def test_public_ipv6_still_passes(host: str) -> None:
    # The other side of the reserved-forms fix: public IPv6, IPv4-mapped included, is not refused.
    assert not is_private_host(host)


def test_private_reason() -> None:
    assert private_reason("0x7f.1") == "0x7f.1 means 127.0.0.1, which is loopback"
    assert private_reason("cb.example.com") is None


@pytest.mark.parametrize("host", ["", "a b", "[nope]", "999.0.0.1"])
def test_is_private_host_refuses_non_hosts(host: str) -> None:
    with pytest.raises(ValueError):
        is_private_host(host)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example.com/ci", "https://hooks.example.com/ci"),
        ("https://hooks.example.com/ci?token=s3cret", "https://hooks.example.com/ci?token=***"),
        ("https://h.example.com/a/b?token=s3cret&v=2&", "https://h.example.com/a/b?token=***&v=***&"),
        ("https://h.example.com/?s3cret", "https://h.example.com/?***"),
        ("https://h.example.com/?to%20ken=s3cret", "https://h.example.com/?***"),
        ("https://h.example.com/cb?", "https://h.example.com/cb?"),
        ("https://h.example.com/cb#access_token=s3cret", "https://h.example.com/cb#***"),
        ("https://h.example.com/cb?k=s3cret#s3cret", "https://h.example.com/cb?k=***#***"),
        ("https://user:s3cret@h.example.com/cb", "https://***@h.example.com/cb"),
        ("HTTP://H.example.com:8080/cb?sig=s3cret", "HTTP://H.example.com:8080/cb?sig=***"),
    ],
)
def test_redact_url_keeps_scheme_host_and_path_and_masks_query_values(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "s3cret" not in redact_url(url)

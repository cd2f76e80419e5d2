"""The private-network guard for callback URLs ("the callback address cannot be a private network
address", CI's NotifyConfig.Url rule).

Hosts are judged as written, never resolved through DNS: SCF tests have no network, and CI itself
judges the literal the user sends. So a public name that happens to resolve to 10.0.0.1 passes
here; every *literal* spelling of a private address (decimal, hex, octal, short, IPv6-embedded,
bracketed) and every name reserved for local use does not.

Some public names are private by what they are, not how they are spelt: the cloud's metadata
service, and wildcard-DNS services that answer with whatever address the name spells
(``10.0.0.1.nip.io``) or with loopback for every name (``*.localtest.me``). Those are listed by
name in ``PRIVATE_NAMES``, each with its reason, and refused with every subdomain. The list is
what no callback can legitimately use; it cannot name every such service (judging as written
cannot see where a public name resolves), so it holds the well-known ones.

How a callback URL is shown is ruled here too (``redact_url``): its query string often carries a
token, so everywhere a person or a caller sees one (HTTP answers, CLI tables and ``--json``,
audit lines, plans) it keeps scheme, host, port and path and shows each query value, the
fragment and any user info as ``***``. What is written to CI is never redacted.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TypeAlias

from ciqueue.errors import InvalidInput, Problem
from ciqueue.limits import MAX_CALLBACK_URL_LENGTH
from ciqueue.records import dataclass

IPAddress: TypeAlias = "ipaddress.IPv4Address | ipaddress.IPv6Address"

ALLOWED_SCHEMES = ("http", "https")

# Names that by definition resolve only on the local machine or network, with their subdomains
# (localhost and *.localhost are handled apart as loopback, RFC 6761): RFC 6762 .local, RFC 8375
# home.arpa, ICANN's reserved .internal, and the common .localdomain.
LOCAL_SUFFIXES = ("localdomain", "local", "internal", "home.arpa")
LOCAL_NAMES = frozenset({"ip6-localhost", "ip6-loopback"})

_WILDCARD = "a wildcard DNS service that answers with the address the name spells"
_LOOPBACK_DNS = "a DNS name that answers 127.0.0.1 for itself and every subdomain"
# Public names that reach private addresses, refused with their subdomains; each with what it is.
PRIVATE_NAMES: tuple[tuple[str, str], ...] = (
    # CVM "Querying Instance Metadata": http://metadata.tencentyun.com/latest/meta-data/, served
    # inside Tencent Cloud from a link-local address; a callback there would read the instance's
    # metadata (credentials included) from CI's side.
    ("metadata.tencentyun.com", "Tencent Cloud's instance metadata service"),
    # 10.0.0.1.nip.io, 10-0-0-1.nip.io, 0a000001.nip.io ... all answer 10.0.0.1.
    ("nip.io", _WILDCARD),
    ("sslip.io", _WILDCARD),
    ("xip.io", _WILDCARD),  # the original of the two above (offline since 2021, names still cached)
    ("localtest.me", _LOOPBACK_DNS),
    ("lvh.me", _LOOPBACK_DNS),
)

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
# First match wins; the catch-all after this table is "not globally routable".
_V4_RANGES: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/32"), "unspecified"),
    (_V4("0.0.0.0/8"), "in the 'this network' range 0.0.0.0/8"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("10.0.0.0/8"), "in the RFC 1918 private range 10.0.0.0/8"),
    (_V4("172.16.0.0/12"), "in the RFC 1918 private range 172.16.0.0/12"),
    (_V4("192.168.0.0/16"), "in the RFC 1918 private range 192.168.0.0/16"),
    (_V4("100.64.0.0/10"), "in the shared (CGNAT) range 100.64.0.0/10"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("255.255.255.255/32"), "the broadcast address"),
    (_V4("240.0.0.0/4"), "reserved"),
)
_V6_RANGES: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local"),
    (_V6("fc00::/7"), "in the unique local range fc00::/7"),
    (_V6("ff00::/8"), "multicast"),
    (_V6("64:ff9b:1::/48"), "in the local-use NAT64 range 64:ff9b:1::/48"),
)
_RESERVED = "a reserved, non-public address"
_NAT64 = _V6("64:ff9b::/96")
_V4_COMPATIBLE = _V6("::/96")

_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_HEX_NUMBER = re.compile(r"^0x[0-9a-f]*$")
_OCTAL_DIGITS = re.compile(r"^[0-7]*$")
_BAD_URL_CHAR = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class _Host:
    shown: str  # as the user wrote it (lower case, no brackets, no trailing dot)
    address: IPAddress | None  # the address a numeric host means
    name: str | None  # the ASCII (IDNA) host name otherwise


def _ipv4_number(part: str) -> int:
    """One inet_aton part: 0x-hex, 0-octal or decimal (WHATWG "IPv4 number")."""
    if _HEX_NUMBER.match(part):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        if not _OCTAL_DIGITS.match(part):
            raise ValueError(part)
        return int(part, 8)
    if not part.isascii() or not part.isdigit():
        raise ValueError(part)
    return int(part)


def _ends_in_number(host: str) -> bool:
    last = host.split(".")[-1]
    return bool(last) and ((last.isascii() and last.isdigit()) or bool(_HEX_NUMBER.match(last)))


def _parse_ipv4_like(host: str) -> ipaddress.IPv4Address:
    """Every form inet_aton accepts: ``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``."""
    parts = host.split(".")
    if len(parts) > 4:
        raise ValueError(host)
    numbers = [_ipv4_number(p) for p in parts]
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise ValueError(host)
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _read_host(host: str) -> _Host:
    """Normalise a URL host; ValueError(rule) when it is no valid host at all."""
    shown = host.strip().lower()
    if shown.startswith("[") and shown.endswith("]"):
        inner = shown[1:-1]
        try:
            return _Host(inner, ipaddress.IPv6Address(inner), None)
        except ValueError:
            raise ValueError(f"must hold a valid IPv6 address inside [ ] (got {inner!r})") from None
    if ":" in shown:
        try:
            return _Host(shown, ipaddress.IPv6Address(shown), None)
        except ValueError:
            raise ValueError(f"must be a valid host name (got {shown!r})") from None
    if shown.endswith("."):
        shown = shown[:-1]
    if not shown:
        raise ValueError("must name a host")
    ascii_host = shown
    if not shown.isascii():
        # IDNA maps full-width digits and ideographic dots too, so '１２７。0。0。1' is caught below.
        try:
            ascii_host = shown.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise ValueError(f"must be a valid host name (got {shown!r})") from None
    if _ends_in_number(ascii_host):
        try:
            return _Host(shown, _parse_ipv4_like(ascii_host), None)
        except ValueError:
            raise ValueError(f"must be a valid IPv4 address (got {shown!r})") from None
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"must be a valid host name (got {shown!r})")
    return _Host(shown, None, ascii_host)


def _address_label(address: IPAddress) -> str | None:
    """Why ``address`` is not public (e.g. 'loopback'), or None."""
    if isinstance(address, ipaddress.IPv4Address):
        for network, label in _V4_RANGES:
            if address in network:
                return label
        return None if address.is_global else _RESERVED
    for net6, label in _V6_RANGES:
        if address in net6:
            return label
    embedded, translated = _embedded_ipv4(address)
    if embedded is not None:
        inner = _address_label(embedded)
        if inner is not None:
            return f"embeds {embedded}, which is {inner}"
        # Mapped, 6to4 and NAT64 addresses reach the embedded (public) IPv4 address.
        return None if translated else "a deprecated IPv4-compatible address"
    # is_global alone lets IETF-reserved space through (e.g. ::ffff:0:7f00:1, the SIIT
    # "IPv4-translated" form of 127.0.0.1); public unicast lives in 2000::/3, outside it.
    return None if address.is_global and not address.is_reserved else _RESERVED


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, bool]:
    """(IPv4 address carried by a mapped, 6to4, NAT64 or deprecated compatible form, translated?)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, True
    if address.sixtofour is not None:
        return address.sixtofour, True
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), True
    if address in _V4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), False
    return None, False


def _host_reason(host: _Host) -> str | None:
    if host.address is not None:
        label = _address_label(host.address)
        if label is None:
            return None
        canonical = str(host.address)
        if label.startswith("embeds "):
            return f"{host.shown} {label}"
        if canonical != host.shown:
            return f"{host.shown} means {canonical}, which is {label}"
        return f"{host.shown} is {label}"
    name = host.name or ""
    if name in LOCAL_NAMES or name == "localhost" or name.endswith(".localhost"):
        return f"{host.shown} is a loopback name"
    for known, why in PRIVATE_NAMES:
        if name == known or name.endswith("." + known):
            return f"{host.shown} is {why}" if name == known else f"{host.shown} is under {known}, {why}"
    for suffix in LOCAL_SUFFIXES:
        if name == suffix or name.endswith("." + suffix):
            return f"{host.shown} is under .{suffix}, which is for local networks only"
    if "." not in name:
        return f"{host.shown} is a single-label name, resolved only inside a local network"
    return None


def private_reason(host: str) -> str | None:
    """Why ``host`` (as written in a URL) is a private-network host, or None when it is public.

    Raises ValueError when ``host`` is no valid host at all.
    """
    return _host_reason(_read_host(host))


def is_private_host(host: str) -> bool:
    """True when ``host`` names a private, local or reserved address; ValueError if it is no host."""
    return private_reason(host) is not None


REDACTED = "***"
# A query key shown as it is; any other (a bare value, an odd key) is masked whole.
_SHOWN_QUERY_KEY = re.compile(r"[A-Za-z0-9_.\-\[\]]{1,32}")


def redact_url(url: str) -> str:
    """``url`` as it may be shown: scheme, host, port and path kept; every query value, the
    fragment and user info as ``***`` (``https://h/cb?token=***&v=***``). Text without a
    query, fragment or user info comes back unchanged."""
    base, hash_sign, fragment = url.partition("#")
    base, question, query = base.partition("?")
    scheme, sep, rest = base.partition("://")
    if sep:
        authority, slash, path = rest.partition("/")
        if "@" in authority:
            authority = REDACTED + "@" + authority.rpartition("@")[2]
        base = f"{scheme}{sep}{authority}{slash}{path}"
    parts = []
    for part in query.split("&") if query else []:
        key, equals, _ = part.partition("=")
        if not part:
            parts.append("")
        elif equals and _SHOWN_QUERY_KEY.fullmatch(key):
            parts.append(f"{key}={REDACTED}")
        else:
            parts.append(REDACTED)
    shown_fragment = (hash_sign + REDACTED) if fragment else hash_sign
    return f"{base}{question}{'&'.join(parts)}{shown_fragment}"


def _split_authority(authority: str) -> tuple[str, str | None]:
    """(host, port text or None) from ``host[:port]`` or ``[v6][:port]``; ValueError(rule)."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise ValueError("must close the [ ] around an IPv6 host")
        host, rest = authority[: end + 1], authority[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError("must have only a port after the ] of an IPv6 host")
        return host, (rest[1:] if rest else None)
    host, colon, port = authority.rpartition(":")
    if not colon:
        return authority, None
    return host, port


def check_callback_url(url: str, field: str = "NotifyConfig.Url", allow_private: bool = False) -> None:
    """Raise InvalidInput(Problem(field, rule)) unless ``url`` is a usable public http(s) URL.

    Rules: at most MAX_CALLBACK_URL_LENGTH characters; no whitespace, control characters or
    backslashes; scheme http or https; a host and no user info; a valid port; and, unless
    ``allow_private`` (local mode), a host that is not a private-network address.
    """

    def refuse(rule: str) -> InvalidInput:
        return InvalidInput(Problem(field, rule))

    if not isinstance(url, str) or not url:
        raise refuse("must not be empty")
    if len(url) > MAX_CALLBACK_URL_LENGTH:
        raise refuse(f"must be at most {MAX_CALLBACK_URL_LENGTH} characters (got {len(url)})")
    if _BAD_URL_CHAR.search(url):
        raise refuse("must not contain whitespace or control characters")
    if "\\" in url:
        # Browsers and some HTTP stacks read '\' as '/', which changes where the host ends.
        raise refuse("must not contain a backslash")
    scheme, sep, rest = url.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        raise refuse("must be an absolute URL starting with http:// or https://")
    if scheme.lower() not in ALLOWED_SCHEMES:
        raise refuse(f"must start with http:// or https:// (got {scheme}://)")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        # 'http://good.com@127.0.0.1/' goes to 127.0.0.1; credentials in a URL would also be logged.
        raise refuse("must not contain user info (user@ before the host)")
    if not authority:
        raise refuse("must name a host")
    try:
        host_text, port = _split_authority(authority)
        if port and (not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536):
            raise ValueError(f"must have a port between 1 and 65535 (got {port!r})")
        host = _read_host(host_text)
    except ValueError as exc:
        raise refuse(str(exc)) from None
    if allow_private:
        return
    reason = _host_reason(host)
    if reason is not None:
        raise refuse(f"must not be a private-network address ({reason})")

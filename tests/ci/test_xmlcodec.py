"""xmlcodec: exact rendering, order kept, and every XML attack refused before any expansion."""

from __future__ import annotations

import pytest
import xmltodict
from ciqueue.ci.xmlcodec import parse_root, parse_xml, render_xml
from ciqueue.errors import InvalidInput, MalformedResponse
from ciqueue.limits import MAX_XML_BYTES, MAX_XML_DEPTH
from hypothesis import given, settings
from hypothesis import strategies as st

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Response><RequestId>&lol9;</RequestId></Response>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Request [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Request><Name>&xxe;</Name></Request>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Request [<!ENTITY % remote SYSTEM "http://169.254.169.254/latest"> %remote;]>
<Request/>"""

PLAIN_DOCTYPE = b'<?xml version="1.0"?><!DOCTYPE Response SYSTEM "http://example.com/r.dtd"><Response/>'

DOCTYPE_RULE = "must not contain a DOCTYPE declaration (DTDs and entities are refused)"


def test_render_exact_bytes_with_header_utf8_empty_and_repeated_elements() -> None:
    body = {
        "Name": "队列-1",
        "State": "Active",
        "NotifyConfig": {"Url": None, "State": "Off"},
        "Tag": ["a", "b"],
    }
    assert render_xml("Request", body) == (
        b'<?xml version="1.0" encoding="utf-8"?>\n'
        b"<Request><Name>\xe9\x98\x9f\xe5\x88\x97-1</Name><State>Active</State>"
        b"<NotifyConfig><Url/><State>Off</State></NotifyConfig><Tag>a</Tag><Tag>b</Tag></Request>"
    )


def test_render_escapes_markup_in_text() -> None:
    assert render_xml("R", {"Url": "https://a.example.com/?x=1&y=<2>"}).endswith(
        b"<R><Url>https://a.example.com/?x=1&amp;y=&lt;2&gt;</Url></R>"
    )


def test_render_refuses_characters_xml_cannot_carry() -> None:
    with pytest.raises(ValueError, match=r"<R> holds a character XML cannot carry \(U\+0001\)"):
        render_xml("R", {"Name": "a\x01b"})


def test_render_none_body_is_an_empty_root() -> None:
    assert render_xml("Request", None) == b'<?xml version="1.0" encoding="utf-8"?>\n<Request/>'


def test_parse_keeps_element_order_and_shapes() -> None:
    doc = parse_xml(b"<R><Z>1</Z><A/><M a='x'>t</M><Z>2</Z></R>", "test body")
    assert list(doc["R"]) == ["Z", "A", "M"]
    assert doc == {"R": {"Z": ["1", "2"], "A": None, "M": {"@a": "x", "#text": "t"}}}


def test_parse_round_trips_render() -> None:
    body = {"Name": "队列_1*", "NotifyConfig": {"Event": "TaskFinish", "MqMode": None}, "X": ["1", "2"]}
    assert parse_xml(render_xml("Request", body), "Request") == {"Request": body}


def test_parse_str_ignores_a_declared_foreign_encoding() -> None:
    # A str is already decoded text; the declaration must not make expat re-decode it.
    assert parse_xml('<?xml version="1.0" encoding="gbk"?><a>中文</a>', "x") == {"a": "中文"}


def test_bytes_in_an_unreadable_encoding_refused() -> None:
    with pytest.raises(MalformedResponse) as info:
        parse_xml('<?xml version="1.0" encoding="gbk"?><a>中文</a>'.encode(), "resp")
    assert str(info.value) == (
        "malformed response: resp: must be readable XML in UTF-8 (multi-byte encodings are not supported)"
    )


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, PARAMETER_ENTITY, PLAIN_DOCTYPE])
def test_doctype_and_entities_refused_in_responses(body: bytes) -> None:
    with pytest.raises(MalformedResponse) as info:
        parse_xml(body, "DescribeQueues response", status=200, request_id="rid-1")
    assert str(info.value) == (
        f"malformed response: DescribeQueues response: {DOCTYPE_RULE} (HTTP 200, RequestId: rid-1)"
    )
    assert info.value.status == 200
    assert info.value.request_id == "rid-1"


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, PARAMETER_ENTITY, PLAIN_DOCTYPE])
def test_doctype_and_entities_refused_in_requests(body: bytes) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_xml(body, "Request", source="request")
    assert [(p.field, p.rule) for p in info.value.problems] == [("Request", DOCTYPE_RULE)]


def test_undeclared_entity_reference_is_not_well_formed() -> None:
    with pytest.raises(MalformedResponse) as info:
        parse_xml(b"<a>&xxe;</a>", "resp")
    assert (
        str(info.value)
        == "malformed response: resp: must be well-formed XML (undefined entity: line 1, column 3)"
    )


def test_not_well_formed_response() -> None:
    with pytest.raises(MalformedResponse) as info:
        parse_xml(b"<a><b></a>", "UpdateQueue response")
    assert str(info.value) == (
        "malformed response: UpdateQueue response: must be well-formed XML (mismatched tag: line 1, column 8)"
    )


def test_not_well_formed_request() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_xml("<Request><Name>x</Request>", "Request", source="request")
    assert str(info.value) == "Request: must be well-formed XML (mismatched tag: line 1, column 18)"


@pytest.mark.parametrize("body", [b"", b"  \n", ""])
def test_empty_body(body: bytes | str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_xml(body, "Request", source="request")
    assert str(info.value) == "Request: is empty (an XML body was expected)"


def test_oversize_refused_before_parsing() -> None:
    body = b"<a>" + b"x" * (MAX_XML_BYTES - 6) + b"</a>"
    assert len(body) == MAX_XML_BYTES + 1
    with pytest.raises(MalformedResponse) as info:
        parse_xml(body, "resp")
    assert (
        str(info.value)
        == f"malformed response: resp: must be at most 1048576 bytes (got {MAX_XML_BYTES + 1})"
    )
    with pytest.raises(InvalidInput, match=r"^Request: must be at most 1048576 bytes"):
        parse_xml(body, "Request", source="request")


def test_exactly_the_limit_is_accepted() -> None:
    body = b"<a>" + b"x" * (MAX_XML_BYTES - 7) + b"</a>"
    assert len(body) == MAX_XML_BYTES
    assert len(parse_xml(body, "resp")["a"]) == MAX_XML_BYTES - 7


def test_deep_nesting_refused() -> None:
    depth = MAX_XML_DEPTH + 2
    body = "<a>" * depth + "x" + "</a>" * depth
    with pytest.raises(MalformedResponse) as info:
        parse_xml(body, "resp")
    assert str(info.value) == "malformed response: resp: must not nest elements deeper than 64 levels"


def test_parse_root_returns_children() -> None:
    assert parse_root(b"<Response><RequestId>r</RequestId></Response>", "Response", "resp") == {
        "RequestId": "r"
    }
    assert parse_root(b"<Response/>", "Response", "resp") == {}


def test_parse_root_wrong_root() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_root(b"<Foo><Name>x</Name></Foo>", "Request", "Request", source="request")
    assert str(info.value) == "Request: must have the root element <Request> (got <Foo>)"
    with pytest.raises(MalformedResponse) as info2:
        parse_root(b"<html><body>502</body></html>", "Response", "DescribeQueues response", status=502)
    assert str(info2.value) == (
        "malformed response: DescribeQueues response: must have the root element <Response> (got <html>)"
        " (HTTP 502, RequestId: -)"
    )


def test_parse_root_text_root() -> None:
    with pytest.raises(MalformedResponse) as info:
        parse_root(b"<Response>oops</Response>", "Response", "resp")
    assert str(info.value) == "malformed response: resp: <Response> must hold child elements, not text"


# --- the builder gives xmltodict.parse's shapes (its defaults), body for body ----------------------

_NAMES = st.sampled_from(["Queue", "Name", "State", "NotifyConfig", "Url", "a", "b", "QueueID", "x-y"])
# Text as XML already escapes it: plain characters, whitespace, entity and character references.
_TEXT = st.lists(
    st.sampled_from(["a", "b", " ", "\u4e2d", "\t", "\n", "&amp;", "&lt;", "&gt;", "&quot;", "&#x41;", "'"]),
    max_size=6,
).map("".join)


@st.composite
def _elements(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(_NAMES)
    attrs = "".join(
        f' {key}="{draw(_TEXT)}"'
        for key in draw(st.lists(st.sampled_from(["id", "k", "xmlns", "xmlns:q"]), max_size=2, unique=True))
    )
    parts = []
    for _ in range(draw(st.integers(0, 3 if depth < 3 else 0))):
        if draw(st.booleans()):
            parts.append(draw(_TEXT))
        else:
            parts.append(draw(_elements(depth + 1)))
    if draw(st.booleans()):
        parts.append(f"<![CDATA[{draw(st.sampled_from(['', ' ', 'c&d', '<x>']))}]]>")
    if not parts and draw(st.booleans()):
        return f"<{name}{attrs}/>"
    return f"<{name}{attrs}>{''.join(parts)}</{name}>"


@settings(max_examples=400, deadline=None)
@given(_elements(), st.booleans(), st.booleans())
def test_parse_builds_what_xmltodict_builds(body: str, as_bytes: bool, declared: bool) -> None:
    text = ('<?xml version="1.0" encoding="utf-8"?>\n' if declared else "") + body
    data: bytes | str = text.encode("utf-8") if as_bytes else text
    assert parse_xml(data, "body") == xmltodict.parse(data)


@pytest.mark.parametrize(
    "body",
    [
        b"""<?xml version="1.0" encoding="utf-8"?>
<Response><RequestId>NjA1</RequestId><TotalCount>2</TotalCount><PageNumber>1</PageNumber>
  <QueueList><QueueId>p1</QueueId><Name>q</Name><State>Active</State>
    <NotifyConfig><Url>https://cb.example.com/ci?a=1&amp;b=2</Url><Event>TaskFinish</Event>
      <Type>Url</Type><State>On</State></NotifyConfig><MaxSize>10000</MaxSize></QueueList>
  <QueueList><QueueId>p2</QueueId><Name/><State>Paused</State><NotifyConfig/></QueueList>
  <NonExistPIDs>p3</NonExistPIDs><NonExistPIDs><QueueID>p4</QueueID></NonExistPIDs>
</Response>""",
        b"<a>  <b> x </b><b/><b>y</b> tail <c k='1'>t</c><c k='2'/></a>",
        b"<a><!-- comment --><b>1</b><?pi data?><b>2</b></a>",
        "<a>\u4e2d\u6587 <b>\U0001f600</b></a>".encode(),
        b"<a xmlns='urn:x' xmlns:q='urn:q'><q:b q:attr='v'>1</q:b></a>",
    ],
)
def test_parse_matches_xmltodict_on_known_shapes(body: bytes) -> None:
    assert parse_xml(body, "body") == xmltodict.parse(body)

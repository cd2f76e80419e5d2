"""Safe XML both ways: parse bodies with xmltodict, refusing DTDs, entities and oversize input.

A bad body is reported in one of two flavours, chosen by ``source``:

- ``"response"`` (the client reading CI): :class:`~ciqueue.errors.MalformedResponse`;
- ``"request"`` (the emulator reading a PUT): :class:`~ciqueue.errors.InvalidInput` whose field is
  ``what`` (pass the expected root element name, e.g. ``"Request"``).

Element order is kept (xmltodict builds ordered dicts); an element that repeats becomes a list;
an empty element (``<Url/>``) becomes ``None``; attributes appear as ``@name`` keys.
"""

from __future__ import annotations

import re
from typing import Any, Literal, NoReturn
from xml.parsers import expat

import xmltodict

from ciqueue.errors import InvalidInput, MalformedResponse, Problem
from ciqueue.limits import MAX_XML_BYTES, MAX_XML_DEPTH

Source = Literal["response", "request"]

XML_HEADER = b'<?xml version="1.0" encoding="utf-8"?>'


# Characters XML 1.0 cannot carry (not even escaped): rendering them would produce a body no
# parser reads back.
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class _Refused(Exception):
    """Raised from inside expat callbacks to stop parsing at the first forbidden construct."""


def _refuse_doctype(*_args: object) -> NoReturn:
    raise _Refused("must not contain a DOCTYPE declaration (DTDs and entities are refused)")


def _refuse_entity(*_args: object) -> NoReturn:
    raise _Refused("must not declare or reference entities")


class _GuardedExpat:
    """Stands in for the ``expat`` module xmltodict uses (its ``ParserCreate``), so every parser
    it makes is guarded.

    Stopping at the DOCTYPE start means no entity (billion laughs, external/XXE) is ever declared,
    expanded or fetched.
    """

    @staticmethod
    def ParserCreate(encoding: str | None = None, namespace_separator: str | None = None) -> Any:
        parser = expat.ParserCreate(encoding, namespace_separator)
        parser.StartDoctypeDeclHandler = _refuse_doctype
        parser.EntityDeclHandler = _refuse_entity
        parser.UnparsedEntityDeclHandler = _refuse_entity
        parser.ExternalEntityRefHandler = _refuse_entity
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        return parser


def _fail(
    source: Source, what: str, rule: str, status: int | None = None, request_id: str | None = None
) -> NoReturn:
    if source == "request":
        raise InvalidInput(Problem(what, rule))
    raise MalformedResponse(f"{what}: {rule}", status=status, request_id=request_id)


def _too_deep(doc: Any) -> bool:
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_XML_DEPTH:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            # A repeated element is one level, not two.
            stack.extend((child, depth) for child in node)
    return False


def parse_xml(
    data: bytes | str,
    what: str,
    *,
    source: Source = "response",
    status: int | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Parse ``data`` into ``{root: body}``; ``what`` names the body in errors (see module doc)."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_XML_BYTES:
        _fail(source, what, f"must be at most {MAX_XML_BYTES} bytes (got {len(raw)})", status, request_id)
    if not raw.strip():
        _fail(source, what, "is empty (an XML body was expected)", status, request_id)
    try:
        # A str goes in as text: xmltodict then tells expat it is UTF-8, whatever the declaration says.
        doc = xmltodict.parse(
            data if isinstance(data, str) else raw, expat=_GuardedExpat, disable_entities=True
        )
    except _Refused as exc:
        _fail(source, what, str(exc), status, request_id)
    except expat.ExpatError as exc:
        _fail(source, what, f"must be well-formed XML ({exc})", status, request_id)
    except (ValueError, LookupError) as exc:
        # An encoding expat cannot read (e.g. a declared GBK), or xmltodict's own entity guard.
        _fail(source, what, f"must be readable XML in UTF-8 ({exc})", status, request_id)
    if not isinstance(doc, dict) or len(doc) != 1:
        _fail(source, what, "must have exactly one root element", status, request_id)
    if _too_deep(doc):
        _fail(source, what, f"must not nest elements deeper than {MAX_XML_DEPTH} levels", status, request_id)
    return doc


def parse_root(
    data: bytes | str,
    root: str,
    what: str,
    *,
    source: Source = "response",
    status: int | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Parse ``data``, require the root element ``root`` and return its children (``{}`` if empty)."""
    doc = parse_xml(data, what, source=source, status=status, request_id=request_id)
    (name, body), *_ = doc.items()
    if name != root:
        _fail(source, what, f"must have the root element <{root}> (got <{name}>)", status, request_id)
    if body is None:
        return {}
    if not isinstance(body, dict) or "#text" in body:
        _fail(source, what, f"<{root}> must hold child elements, not text", status, request_id)
    return body


def render_xml(root: str, body: dict[str, Any] | None) -> bytes:
    """Render ``{root: body}`` as UTF-8 bytes with an XML declaration; ``None`` values give ``<X/>``.

    Raises ValueError for text XML cannot carry (control characters), which rules upstream refuse.
    """
    text: str = xmltodict.unparse(
        {root: body}, encoding="utf-8", short_empty_elements=True, full_document=False
    )
    bad = _NOT_XML_CHAR.search(text)
    if bad is not None:
        raise ValueError(f"<{root}> holds a character XML cannot carry (U+{ord(bad.group()):04X})")
    return XML_HEADER + b"\n" + text.encode("utf-8")

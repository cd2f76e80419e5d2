"""Safe XML both ways: parse bodies into xmltodict's shapes, refusing DTDs, entities and oversize input.

A bad body is reported in one of two flavours, chosen by ``source``:

- ``"response"`` (the client reading CI): :class:`~ciqueue.errors.MalformedResponse`;
- ``"request"`` (the emulator reading a PUT): :class:`~ciqueue.errors.InvalidInput` whose field is
  ``what`` (pass the expected root element name, e.g. ``"Request"``).

Element order is kept; an element that repeats becomes a list; an empty element (``<Url/>``)
becomes ``None``; attributes appear as ``@name`` keys, text beside attributes or children as
``#text``; text is stripped of surrounding whitespace (whitespace alone is no text). These are
``xmltodict.parse``'s shapes with its defaults, built here by ``_Builder`` from expat's callbacks
directly: xmltodict's general handler (namespaces, streaming, post-processors, forced lists) cost
a fleet tick about a fifth of its CPU, parsing a reply per batch, and ``tests/ci/test_xmlcodec.py``
holds the two to the same result on every body it tries. Rendering stays ``xmltodict.unparse``.
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


def _guarded_parser(encoding: str | None) -> Any:
    """An expat parser that stops at a DOCTYPE or any entity declaration or reference.

    Stopping at the DOCTYPE start means no entity (billion laughs, external/XXE) is ever declared,
    expanded or fetched.
    """
    parser = expat.ParserCreate(encoding, None)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_entity
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.ordered_attributes = True
    parser.buffer_text = True
    return parser


class _Builder:
    """expat's callbacks building xmltodict's shapes (see the module docstring); ``deepest`` is the
    deepest element nesting seen, so the depth rule walks the result only when it could apply."""

    def __init__(self) -> None:
        self.stack: list[tuple[Any, list[str]]] = []
        self.item: Any = None
        self.data: list[str] = []
        self.deepest = 0

    def start(self, name: str, attrs: list[str]) -> None:
        self.stack.append((self.item, self.data))
        if len(self.stack) > self.deepest:
            self.deepest = len(self.stack)
        self.item = {"@" + attrs[i]: attrs[i + 1] for i in range(0, len(attrs), 2)} if attrs else None
        self.data = []

    def end(self, name: str) -> None:
        text = ("".join(self.data).strip() or None) if self.data else None
        item = self.item
        self.item, self.data = self.stack.pop()
        if item is not None:
            if text:
                _push(item, "#text", text)
            self.item = _push(self.item, name, item)
        else:
            self.item = _push(self.item, name, text)

    def characters(self, text: str) -> None:
        self.data.append(text)


def _push(item: dict[str, Any] | None, key: str, value: Any) -> dict[str, Any]:
    """``item`` (a new dict for None) with ``value`` under ``key``; a repeated key becomes a list."""
    if item is None:
        return {key: value}
    if key in item:
        known = item[key]
        if isinstance(known, list):
            known.append(value)
        else:
            item[key] = [known, value]
    else:
        item[key] = value
    return item


def _parse(data: bytes | str) -> tuple[Any, int]:
    """``xmltodict.parse(data)`` with its defaults, on a guarded parser (see ``_Builder``), and the
    deepest nesting. A str goes in as text: expat is told it is UTF-8, whatever the declaration says.
    """
    parser = _guarded_parser("utf-8" if isinstance(data, str) else None)
    builder = _Builder()
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.characters
    parser.Parse(data.encode("utf-8") if isinstance(data, str) else data, True)
    return builder.item, builder.deepest


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
        doc, deepest = _parse(data if isinstance(data, str) else raw)
    except _Refused as exc:
        _fail(source, what, str(exc), status, request_id)
    except expat.ExpatError as exc:
        _fail(source, what, f"must be well-formed XML ({exc})", status, request_id)
    except (ValueError, LookupError) as exc:
        # An encoding expat cannot read (e.g. a declared GBK).
        _fail(source, what, f"must be readable XML in UTF-8 ({exc})", status, request_id)
    if not isinstance(doc, dict) or len(doc) != 1:
        _fail(source, what, "must have exactly one root element", status, request_id)
    # Each element adds a level and its attributes or text at most one more: a document nested
    # less than the limit cannot break it, so only a deep one is walked.
    if deepest + 1 > MAX_XML_DEPTH and _too_deep(doc):
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

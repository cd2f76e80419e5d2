"""JSON text from users, decoded safely: bounded in size and depth, UTF-8, never a RecursionError.

Every door that reads a command as JSON (timer Message, event records, COS objects, HTTP bodies)
decodes it here, so the same text gets the same verdict: at most ``MAX_COMMAND_BYTES``, UTF-8,
nested at most ``MAX_NESTING_DEPTH`` levels, valid JSON. Errors are InvalidInput naming the field.

Depth is measured on the text before it is decoded (``json_depth``: one linear pass that skips
strings), so the decoder never recurses deeper than the named bound; the schedule loader uses the
same measure for JSON files. ``json_type_name`` names a value's JSON type for such messages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ciqueue.errors import InvalidInput
from ciqueue.limits import MAX_COMMAND_BYTES, MAX_NESTING_DEPTH

# The rule, worded once for every JSON door.
JSON_DEPTH_RULE = f"must nest at most {MAX_NESTING_DEPTH} levels of objects and lists"

# A string (closing quote optional, so an unterminated one ends the scan in one step: linear) or a
# bracket; everything between them is skipped.
_DEPTH_TOKEN_RE = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


def json_depth(text: str) -> int:
    """The deepest nesting of objects and lists in JSON text, counted without decoding it."""
    depth = deepest = 0
    for match in _DEPTH_TOKEN_RE.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("]", "}"):
            depth -= 1
    return deepest


def load_json_object(data: str | bytes, field: str) -> Any:
    """Decode JSON text (at most MAX_COMMAND_BYTES), or raise InvalidInput naming ``field``."""
    size = len(data.encode("utf-8") if isinstance(data, str) else data)
    if size > MAX_COMMAND_BYTES:
        raise InvalidInput(field, f"must be at most {MAX_COMMAND_BYTES} bytes (got {size})")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise InvalidInput(field, "must be UTF-8 text") from None
    if json_depth(text) > MAX_NESTING_DEPTH:
        raise InvalidInput(field, JSON_DEPTH_RULE)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            field, f"must be a JSON object (invalid JSON at line {exc.lineno} column {exc.colno})"
        ) from None


def json_type_name(value: Any) -> str:
    """The JSON name of a value's type, for messages (``object``, ``list``, ``number``...)."""
    names = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    if value is None:
        return "null"
    for type_, name in names.items():
        if type(value) is type_:
            return name
    return "object" if isinstance(value, Mapping) else type(value).__name__

"""JSON text from users, decoded safely: bounded in size, UTF-8, no deep-nesting crash.

Every door that reads a command as JSON (timer Message, event records, COS objects, HTTP bodies)
decodes it here, so the same text gets the same verdict: at most ``MAX_COMMAND_BYTES``, UTF-8,
valid JSON, and never a RecursionError (refused as "nested too deeply"). Errors are InvalidInput
naming the field. ``json_type_name`` names a value's JSON type for such messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ciqueue.errors import InvalidInput
from ciqueue.limits import MAX_COMMAND_BYTES


def load_json_object(data: str | bytes, field: str) -> Any:
    """Decode JSON text (at most MAX_COMMAND_BYTES), or raise InvalidInput naming ``field``."""
    size = len(data.encode("utf-8") if isinstance(data, str) else data)
    if size > MAX_COMMAND_BYTES:
        raise InvalidInput(field, f"must be at most {MAX_COMMAND_BYTES} bytes (got {size})")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise InvalidInput(field, "must be UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            field, f"must be a JSON object (invalid JSON at line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise InvalidInput(field, "must be a JSON object (nested too deeply)") from None


def json_type_name(value: Any) -> str:
    """The JSON name of a value's type, for messages (``object``, ``list``, ``number``...)."""
    names = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    if value is None:
        return "null"
    for type_, name in names.items():
        if type(value) is type_:
            return name
    return "object" if isinstance(value, Mapping) else type(value).__name__

"""Placeholder handler (ciqueue-placeholder): the functions engineer replaces this file."""

from __future__ import annotations

from typing import Any

import ciqueue


def main_handler(event: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    assert ciqueue.__name__ == "ciqueue"
    return {"ok": True, "function": "http_toggle"}

"""ISO 8601 instants as text: read with a trailing ``Z``, written with one."""

from __future__ import annotations

from datetime import datetime, timezone


def parse_instant(text: str) -> datetime:
    """``datetime.fromisoformat`` that also reads a trailing ``Z``/``z`` (UTC); ValueError if not ISO.

    Python 3.10 (the SCF runtime) reads no ``Z`` at all. The result is naive when ``text`` carries
    no offset: what that means is the caller's rule.
    """
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def iso_z(instant: datetime) -> str:
    """``2026-03-01T02:00:00Z``: the instant in UTC to the second, as SCF writes a timer's Time."""
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_utc(instant: datetime) -> datetime:
    """``instant`` in UTC; ValueError for a naive datetime (its zone would be a guess)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("an aware datetime is required (got a naive one)")
    return instant.astimezone(timezone.utc)

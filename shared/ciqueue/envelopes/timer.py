"""Timer trigger: ``{"Type": "Timer", "TriggerName", "Time", "Message"}``.

An empty Message means "reconcile" (the plain schedule tick); a Message holding a JSON object
is an explicit command (edge mode, e.g. pause at a fixed time); anything else is bad input
naming ``Message``.
"""

from __future__ import annotations

from typing import ClassVar

from ciqueue.envelopes.base import Key, Record, error_record, read_keys, text_record
from ciqueue.errors import InvalidInput
from ciqueue.limits import MAX_TIMER_MESSAGE_BYTES
from ciqueue.records import dataclass

SOURCE = "timer"


@dataclass(frozen=True)
class TimerEvent:
    """The keys a timer event carries (others are ignored); strings, Message "" when absent."""

    Type: str
    TriggerName: str
    Time: str
    Message: str = ""

    KEYS: ClassVar[tuple[Key, ...]] = (
        Key("Type", "str", required=True),
        Key("TriggerName", "str", required=True),
        Key("Time", "str", required=True),
        Key("Message", "str", default=""),
    )

    @classmethod
    def read(cls, event: object) -> TimerEvent:
        """The event's keys, or InvalidInput naming each one missing or not a string."""
        return cls(**read_keys(event, cls.KEYS))


def records(event: object) -> list[Record]:
    """One Record: the reconcile tick or the command the Message holds."""
    parsed = TimerEvent.read(event)
    if parsed.Type.lower() != "timer":
        raise InvalidInput("Type", f"must be Timer (got {parsed.Type[:32]!r})")
    record_id = f"timer:{parsed.TriggerName}:{parsed.Time}"
    meta = {"trigger_name": parsed.TriggerName, "time": parsed.Time}
    message = parsed.Message.strip()
    if not message:
        return [Record(SOURCE, record_id, "Message", payload={"action": "reconcile"}, meta=meta)]
    size = len(message.encode("utf-8"))
    if size > MAX_TIMER_MESSAGE_BYTES:
        problem = f"must be at most {MAX_TIMER_MESSAGE_BYTES} bytes (got {size})"
        return [error_record(SOURCE, record_id, "Message", InvalidInput("Message", problem))]
    return [text_record(SOURCE, record_id, "Message", message, meta)]

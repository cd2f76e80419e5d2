"""CMQ / TDMQ-CMQ topic trigger: ``Records[].CMQ.msgBody`` holds the command as JSON text.

``msgTag`` is a list in some docs and a comma string in others; both are read.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ciqueue.envelopes.base import Record, each_record, text_record

SOURCE = "cmq"


class CmqMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    msgBody: str
    msgId: str | int | None = None
    topicName: str | None = None
    subscriptionName: str | None = None
    publishTime: str | None = None
    requestId: str | int | None = None
    msgTag: list[str] | str | None = None
    type: str | None = None


class CmqRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    CMQ: CmqMessage


def records(event: object) -> list[Record]:
    """One Record per message; a malformed message becomes an error Record."""
    return each_record(event, SOURCE, CmqRecord, _record)


def _record(rec: CmqRecord, prefix: str, index: int) -> Record:
    msg = rec.CMQ
    record_id = f"cmq:{msg.msgId}" if msg.msgId is not None else f"cmq:#{index}"
    return text_record(SOURCE, record_id, f"{prefix}.CMQ.msgBody", msg.msgBody, _meta(msg))


def _meta(msg: CmqMessage) -> dict[str, Any]:
    tags = msg.msgTag
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    return {
        "topic": msg.topicName,
        "subscription": msg.subscriptionName,
        "msg_id": None if msg.msgId is None else str(msg.msgId),
        "publish_time": msg.publishTime,
        "tags": tags or [],
    }

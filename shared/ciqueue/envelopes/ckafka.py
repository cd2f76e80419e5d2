"""CKafka trigger: ``Records[].Ckafka.msgBody`` holds the command; topic/partition/offset name it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ciqueue.envelopes.base import Record, each_record, text_record

SOURCE = "ckafka"


class CkafkaMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    topic: str
    partition: int
    offset: int
    msgBody: str
    msgKey: str | None = None


class CkafkaRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    Ckafka: CkafkaMessage


def records(event: object) -> list[Record]:
    """One Record per message, ``record_id`` = ``ckafka:<topic>/<partition>/<offset>``."""
    return each_record(event, SOURCE, CkafkaRecord, _record)


def _record(rec: CkafkaRecord, prefix: str, index: int) -> Record:
    msg = rec.Ckafka
    record_id = f"ckafka:{msg.topic}/{msg.partition}/{msg.offset}"
    meta = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset, "key": msg.msgKey}
    return text_record(SOURCE, record_id, f"{prefix}.Ckafka.msgBody", msg.msgBody, meta)

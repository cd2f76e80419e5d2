"""CKafka trigger: ``Records[].Ckafka.msgBody`` holds the command; topic/partition/offset name it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ciqueue.envelopes import Record, error_record, record_list, text_record, validate
from ciqueue.errors import InvalidInput

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
    out = []
    for i, item in enumerate(record_list(event)):
        prefix = f"Records[{i}]"
        try:
            msg = validate(CkafkaRecord, item, prefix).Ckafka
        except InvalidInput as exc:
            out.append(error_record(SOURCE, f"ckafka:#{i}", prefix, exc))
            continue
        record_id = f"ckafka:{msg.topic}/{msg.partition}/{msg.offset}"
        meta = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset, "key": msg.msgKey}
        out.append(text_record(SOURCE, record_id, f"{prefix}.Ckafka.msgBody", msg.msgBody, meta))
    return out

"""CLS trigger: ``{"clslogs": {"data": base64(gzip(JSON))}}``.

The decoded JSON is ``{"topic_id", "topic_name", "records": [{"timestamp", "content"}]}``; each
log record's ``content`` holds one command as JSON text. Decoding is bounded so that a small
event cannot inflate into a huge one.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from ciqueue.envelopes.base import Record, error_record, text_record, validate
from ciqueue.errors import InvalidInput
from ciqueue.jsontext import json_type_name
from ciqueue.limits import MAX_CLS_DATA_CHARS, MAX_CLS_DECOMPRESSED_BYTES, MAX_EVENT_RECORDS

SOURCE = "cls"
DATA_FIELD = "clslogs.data"


class ClsLogs(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    topic_id: str
    topic_name: str | None = None
    logset_id: str | None = None
    records: list[Any]


class ClsLogRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    content: str
    timestamp: str | int | None = None


def records(event: object) -> list[Record]:
    """One Record per log record; the outer data must decode or InvalidInput names it."""
    logs: ClsLogs = validate(ClsLogs, decode_data(event), DATA_FIELD)
    if len(logs.records) > MAX_EVENT_RECORDS:
        raise InvalidInput(f"{DATA_FIELD}.records", f"must hold at most {MAX_EVENT_RECORDS} records")
    out = []
    for i, item in enumerate(logs.records):
        prefix = f"{DATA_FIELD}.records[{i}]"
        try:
            rec: ClsLogRecord = validate(ClsLogRecord, item, prefix)
        except InvalidInput as exc:
            out.append(error_record(SOURCE, f"cls:{logs.topic_id}#{i}", prefix, exc))
            continue
        record_id = f"cls:{logs.topic_id}/{rec.timestamp}#{i}"
        meta = {"topic_id": logs.topic_id, "topic_name": logs.topic_name, "timestamp": rec.timestamp}
        out.append(text_record(SOURCE, record_id, f"{prefix}.content", rec.content, meta))
    return out


def decode_data(event: object) -> Any:
    """base64 -> gzip -> JSON of ``clslogs.data``, each step bounded, errors naming the field."""
    if not isinstance(event, Mapping):
        raise InvalidInput("event", f"must be a JSON object (got {json_type_name(event)})")
    logs = event.get("clslogs")
    if not isinstance(logs, Mapping):
        raise InvalidInput("clslogs", "is required" if logs is None else "must be an object")
    data = logs.get("data")
    if not isinstance(data, str):
        raise InvalidInput(DATA_FIELD, "is required" if data is None else "must be a string")
    if len(data) > MAX_CLS_DATA_CHARS:
        raise InvalidInput(DATA_FIELD, f"must be at most {MAX_CLS_DATA_CHARS} characters (got {len(data)})")
    try:
        packed = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(DATA_FIELD, "must be base64 text") from None
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip framing only
    try:
        raw = inflater.decompress(packed, MAX_CLS_DECOMPRESSED_BYTES)
    except zlib.error:
        raise InvalidInput(DATA_FIELD, "must be base64 of gzip data") from None
    if inflater.unconsumed_tail:
        raise InvalidInput(DATA_FIELD, f"must decompress to at most {MAX_CLS_DECOMPRESSED_BYTES} bytes")
    if not inflater.eof:
        raise InvalidInput(DATA_FIELD, "must be base64 of complete gzip data (it is truncated)")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InvalidInput(DATA_FIELD, "must decode to a JSON object") from None

"""COS trigger: a command is an object the operator uploads.

Conventions (see docs/events.md):
- the object metadata ``x-cos-meta-ciqueue-command`` holds the command as JSON text: the Record
  carries it directly (if COS passes user metadata in the event; the reference sample shows
  only system metadata, so the object body is the dependable carrier);
- otherwise the object key must be ``ciqueue/commands/<anything>.json``: the Record has
  ``needs_fetch=True`` and ``meta`` names bucket, region, key and version to GET the body from.
  The key must also be a safe object key (``ci.identifiers.object_key_problem``: no empty, ``.``
  or ``..`` part, encoded or not), so a key cannot climb out of the prefix it was checked by.
Only ``cos:ObjectCreated:*`` events carry commands.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ciqueue.ci.identifiers import object_key_problem
from ciqueue.envelopes.base import Record, each_record, error_record, text_record
from ciqueue.errors import InvalidInput
from ciqueue.limits import MAX_COMMAND_BYTES

SOURCE = "cos"
COMMAND_PREFIX = "ciqueue/commands/"
COMMAND_SUFFIX = ".json"
COMMAND_META = "x-cos-meta-ciqueue-command"
_HOST_RE = re.compile(r"^https?://([^/]+)\.cos\.([a-z0-9-]+)\.myqcloud\.com(?:/|$)")


class CosObject(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    key: str
    url: str | None = None
    meta: dict[str, str] = Field(default_factory=dict)
    size: int | None = None
    vid: str | None = None


class CosBucket(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    name: str
    appid: str | int
    region: str


class CosBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    cosObject: CosObject
    cosBucket: CosBucket


class CosEventInfo(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    eventName: str
    eventTime: int | str | None = None
    reqid: int | str | None = None


class CosRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    cos: CosBody
    event: CosEventInfo


def records(event: object) -> list[Record]:
    """One Record per object event: inline metadata command, fetch order, or error."""
    return each_record(event, SOURCE, CosRecord, _record)


def _record(rec: CosRecord, prefix: str, index: int) -> Record:
    obj = rec.cos.cosObject
    meta = _meta(rec)
    ident = obj.meta.get("x-cos-request-id") or (str(rec.event.reqid) if rec.event.reqid else f"#{index}")
    record_id = f"cos:{meta['bucket']}/{meta['key']}#{ident}"
    if not rec.event.eventName.startswith("cos:ObjectCreated:"):
        rule = f"must be a cos:ObjectCreated:* event (got {rec.event.eventName[:64]!r})"
        return error_record(SOURCE, record_id, prefix, InvalidInput(f"{prefix}.event.eventName", rule))
    inline = obj.meta.get(COMMAND_META)
    if inline is not None:
        field = f"{prefix}.cos.cosObject.meta.{COMMAND_META}"
        return text_record(SOURCE, record_id, field, inline, meta)
    key = meta["key"]
    if not (key.startswith(COMMAND_PREFIX) and key.endswith(COMMAND_SUFFIX)):
        rule = f"must be {COMMAND_PREFIX}<name>{COMMAND_SUFFIX} (got {key[:128]!r})"
        return error_record(SOURCE, record_id, prefix, InvalidInput(f"{prefix}.cos.cosObject.key", rule))
    problem = object_key_problem(key, f"{prefix}.cos.cosObject.key")
    if problem is not None:
        return error_record(SOURCE, record_id, prefix, InvalidInput(problem))
    if obj.size is not None and obj.size > MAX_COMMAND_BYTES:
        rule = f"must be at most {MAX_COMMAND_BYTES} bytes (got {obj.size})"
        return error_record(SOURCE, record_id, prefix, InvalidInput(f"{prefix}.cos.cosObject.size", rule))
    return Record(SOURCE, record_id, f"{prefix}.cos.cosObject", meta=meta, needs_fetch=True)


def _meta(rec: CosRecord) -> dict[str, Any]:
    obj, bucket = rec.cos.cosObject, rec.cos.cosBucket
    full_name = f"{bucket.name}-{bucket.appid}"
    region = bucket.region
    match = _HOST_RE.match(obj.url or "")
    if match and match.group(1) == full_name:
        region = match.group(2)  # the event's cosBucket.region is a short code such as "cd"
    # The event key is "/<appid>/<bucket name>/<object key>".
    key = obj.key
    for lead in (f"/{bucket.appid}/{bucket.name}/", f"/{full_name}/"):
        if key.startswith(lead):
            key = key[len(lead) :]
            break
    return {
        "bucket": full_name,
        "region": region,
        "region_short": bucket.region,
        "key": key,
        "size": obj.size,
        "version_id": obj.vid or None,
        "event_name": rec.event.eventName,
        "event_time": rec.event.eventTime,
        "request_id": obj.meta.get("x-cos-request-id"),
    }

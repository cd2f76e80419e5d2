"""Text output for the ``ciqueue`` command: aligned tables (queues, activated buckets, overrides),
queue details, before→after diffs, queue statuses.

Times are shown in one zone per output, the schedule config's (UTC without one), with the zone's
abbreviation (``local_time``, i.e. ``timefmt.local_text``: no microseconds); ``--json`` keeps ISO
8601 with the offset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ciqueue.app.status import QueueStatus
    from ciqueue.ci.kinds import QueueKind
    from ciqueue.ci.models import ActivatedBucket, Queue
    from ciqueue.ci.operations import OperationResult
    from ciqueue.state.document import OverrideRecord

QUEUE_COLUMNS = ("QUEUE ID", "NAME", "STATE", "CALLBACK", "UPDATED")
BUCKET_COLUMNS = ("KIND", "BUCKET", "REGION", "ACTIVATED")
OVERRIDE_COLUMNS = ("ID", "QUEUE", "PINS", "STATUS", "EXPIRES", "CREATED", "BY", "REASON")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart; the last column is not padded."""
    widths = [len(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))

    def line(cells: Sequence[str]) -> str:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1])]
        return "  ".join([*padded, cells[-1]]).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def queue_row(queue: Queue) -> list[str]:
    from ciqueue.ci.operations import describe_callback

    return [
        queue.queue_id or "",
        queue.name or "",
        str(queue.state or ""),
        describe_callback(queue.notify_config),
        ci_time(queue.update_time),
    ]


def queues_table(queues: Sequence[Queue]) -> str:
    if not queues:
        return table(QUEUE_COLUMNS, []) + "\n(no queues)"
    return table(QUEUE_COLUMNS, [queue_row(q) for q in queues])


def buckets_table(rows: Sequence[tuple[QueueKind, ActivatedBucket]]) -> str:
    """One line per (kind, bucket) a service is activated for."""
    lines = [
        [kind.value, bucket.bucket_id or bucket.name or "", bucket.region or "", ci_time(bucket.create_time)]
        for kind, bucket in rows
    ]
    if not lines:
        return table(BUCKET_COLUMNS, []) + "\n(no buckets)"
    return table(BUCKET_COLUMNS, lines)


def queue_details(queue: Queue) -> str:
    """Every field of one queue, one per line, XML names (extras included)."""
    from ciqueue.ci.operations import queue_to_dict

    lines: list[str] = []
    for name, value in queue_to_dict(queue).items():
        if name == "NotifyConfig":
            from ciqueue.ci.operations import describe_callback

            lines.append(f"{'Callback':<14} {describe_callback(queue.notify_config)}")
            for sub, sub_value in (value or {}).items():
                if sub_value not in (None, ""):
                    lines.append(f"{'  ' + sub:<14} {_cell(sub_value)}")
            continue
        if value not in (None, ""):
            lines.append(f"{name:<14} {_cell(value)}")
    return "\n".join(lines)


def operation_summary(result: OperationResult) -> str:
    """What happened, the before→after diff, and the request ids."""
    return result_summary(result.to_dict())


def result_summary(result: Mapping[str, Any]) -> str:
    """``operation_summary`` of a result in its JSON form (``OperationResult.to_dict``, as the
    executor's outcome carries it; the diff already redacted)."""
    diff: list[Mapping[str, Any]] = list(result.get("diff") or [])
    if result.get("changed"):
        outcome = "written and verified"
    elif result.get("dry_run") and diff:
        outcome = "dry run, nothing written; a real run would change"
    else:
        outcome = str(result.get("reason") or "")
    lines = [f"{result.get('action')} {result.get('kind')} queue {result.get('queue_id')}: {outcome}"]
    if diff:
        width = max(len(str(change["field"])) for change in diff)
        for change in diff:
            field = str(change["field"])
            lines.append(f"  {field:<{width}}  {_cell(change.get('before'))} → {_cell(change.get('after'))}")
    request_ids = result.get("request_ids") or []
    if request_ids:
        lines.append(f"  request ids: {', '.join(rid or '-' for rid in request_ids)}")
    return "\n".join(lines)


def ci_time(text: str | None) -> str:
    """A time CI wrote (``2022-08-09T16:23:11+0800``) shown as every other instant is, in the zone
    it came in (CI answers China time; queue and bucket commands have no config to name another):
    ``2022-08-09 Tue 16:23:11 UTC+08:00``. Text that is not such a time is shown as CI sent it."""
    if not text:
        return ""
    from ciqueue.timefmt import local_text

    try:
        instant = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return text
    assert instant.tzinfo is not None  # %z read an offset
    return local_text(instant, instant.tzinfo)


def local_time(instant: datetime | None, tz: str = "UTC", *, none: str = "(none)") -> str:
    """``2026-03-05 Thu 04:00 CST``: ``instant`` in the zone ``tz`` (``timefmt.local_text``)."""
    if instant is None:
        return none
    from ciqueue.schedule.config import zone
    from ciqueue.timefmt import local_text

    return local_text(instant, zone(tz))


def overrides_table(overrides: Sequence[OverrideRecord], now: datetime, tz: str = "UTC") -> str:
    """One line per stored override: id, queue key, the State it pins, active or expired (an
    expired one stays stored until the next reconcile removes it), when it ends and was made
    (in ``tz``), who made it and why."""
    rows = [
        [
            o.id,
            o.key,
            o.state,
            "active" if o.active_at(now) else "expired",
            local_time(o.expires_at, tz, none="until cancelled"),
            local_time(o.created_at, tz),
            o.actor or "-",
            o.reason or "-",
        ]
        for o in overrides
    ]
    if not rows:
        return table(OVERRIDE_COLUMNS, []) + "\n(no overrides)"
    return table(OVERRIDE_COLUMNS, rows)


def _cell(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return str(value)


def status_text(statuses: Sequence[QueueStatus], zone_name: str, now: datetime) -> str:
    """One block per queue: state (and what the schedule wants), why, until, next, callback."""
    if not statuses:
        return "(no queues)"
    blocks = []
    for status in statuses:
        wanted = f" (the schedule wants {status.wanted})" if status.wanted else ""
        if status.override is not None and status.until is None:
            until = "cancelled (the override has no end)"
        elif status.until is not None:
            until = local_time(status.until, zone_name)
        else:
            until = "no change planned" if status.groups else "-"
        coming = status.next_change
        if coming is None:
            following = "nothing planned"
        else:
            when = local_time(coming.at, zone_name) if coming.at else "at the next tick"
            following = f"{when} {coming.change}: {coming.reason}"
        lines = [
            f"{status.queue.name or status.queue.queue_id}  {status.key}",
            f"  state     {status.queue.state or '?'}{wanted}",
            f"  why       [{status.reason}] {status.why}",
            f"  until     {until}",
            f"  next      {following}",
            f"  callback  {status.callback}",
        ]
        if status.callback_status is not None:
            lines.append(f"            [{status.callback_status.kind}] {status.callback_status.why}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)

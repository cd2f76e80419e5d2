"""Text output for the ``ciqueue`` command: aligned tables (queues, activated buckets), queue
details, before→after diffs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ciqueue.ci.kinds import QueueKind
    from ciqueue.ci.models import ActivatedBucket, Queue
    from ciqueue.ci.operations import OperationResult

QUEUE_COLUMNS = ("QUEUE ID", "NAME", "STATE", "CALLBACK", "UPDATED")
BUCKET_COLUMNS = ("KIND", "BUCKET", "REGION", "ACTIVATED")


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
        queue.update_time or "",
    ]


def queues_table(queues: Sequence[Queue]) -> str:
    if not queues:
        return table(QUEUE_COLUMNS, []) + "\n(no queues)"
    return table(QUEUE_COLUMNS, [queue_row(q) for q in queues])


def buckets_table(rows: Sequence[tuple[QueueKind, ActivatedBucket]]) -> str:
    """One line per (kind, bucket) a service is activated for."""
    lines = [
        [kind.value, bucket.bucket_id or bucket.name or "", bucket.region or "", bucket.create_time or ""]
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
    if result.changed:
        outcome = "written and verified"
    elif result.dry_run and result.diff:
        outcome = "dry run, nothing written; a real run would change"
    else:
        outcome = result.reason
    lines = [f"{result.action} {result.kind.value} queue {result.queue_id}: {outcome}"]
    if result.diff:
        width = max(len(change.field) for change in result.diff)
        for change in result.diff:
            shown = change.to_dict()  # a callback URL redacted, as every view shows it
            lines.append(f"  {change.field:<{width}}  {_cell(shown['before'])} → {_cell(shown['after'])}")
    if result.request_ids:
        lines.append(f"  request ids: {', '.join(rid or '-' for rid in result.request_ids)}")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return str(value)

"""What the console's pages show: plain dicts built from the HTTP API's own views, for the templates.

Rules:
- Nothing here decides a state or picks a reason: why, until when and the next change are the
  view's ``status`` (``routes.queue_view`` from ``app.status.queue_statuses``, the one answer
  ``ciqueue status`` and ``GET /queues`` give). This module only formats it for a page.
- Every time is shown in the config's zone with the zone's abbreviation (``Mon 02 Mar 04:30 CST``)
  and carried as ISO 8601 for ``<time datetime>``; no config: UTC.
- Recent changes are the state document's history (``GET /changes``), already redacted by the audit
  trail; a row says who, what (the event and the fields before -> after), why and when.
- A callback target is shown through the one rule for showing a URL (``netguard.redact_url``: query
  values, fragment and user info as ``***``); diff values through the audit trail's redaction,
  which applies that rule to any URL in text: the console never shows more than the log does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from ciqueue.app.audit import redact
from ciqueue.ci.netguard import redact_url
from ciqueue.timefmt import parse_instant

UTC = timezone.utc


class Times:
    """Formats instants in one zone: ``text`` for people, ``iso`` for ``<time datetime>``."""

    def __init__(self, zone: str | None) -> None:
        self.zone_name = zone or "UTC"
        self.zone = ZoneInfo(self.zone_name)

    def local(self, value: datetime | str | None) -> datetime | None:
        if value is None or value == "":
            return None
        moment = parse_instant(value) if isinstance(value, str) else value
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(self.zone)

    def text(self, value: datetime | str | None) -> str:
        moment = self.local(value)
        return "" if moment is None else moment.strftime("%a %d %b %H:%M %Z")

    def iso(self, value: datetime | str | None) -> str:
        moment = self.local(value)
        return "" if moment is None else moment.isoformat()

    def stamp(self, value: datetime | str | None) -> dict[str, str] | None:
        """``{"text", "iso"}`` for a template's ``<time>``; None when there is no instant."""
        moment = self.local(value)
        return None if moment is None else {"text": self.text(moment), "iso": moment.isoformat()}

    def describe_zone(self, now: datetime) -> str:
        """``Asia/Shanghai (CST, UTC+08:00)``."""
        local = now.astimezone(self.zone)
        offset = local.strftime("%z")
        return f"{self.zone_name} ({local.strftime('%Z')}, UTC{offset[:3]}:{offset[3:]})"


def callback_text(notify: Mapping[str, Any] | None) -> str:
    """The callback a queue reports to, redacted as the audit trail shows it."""
    if not notify or notify.get("State") != "On":
        return "off"
    if notify.get("Type") == "TDMQ":
        mode, region, name = notify.get("MqMode"), notify.get("MqRegion"), notify.get("MqName")
        return f"TDMQ {mode or '?'} {name or '?'} ({region or '?'})"
    url = notify.get("Url")
    return redact_url(str(url)) if url else "on (no URL)"


def override_row(override: Mapping[str, Any], times: Times) -> dict[str, Any]:
    return {
        "id": override["id"],
        "key": override.get("key"),
        "state": override["state"],
        "reason": override.get("reason") or "",
        "actor": override.get("actor") or "",
        "created": times.stamp(override.get("created_at")),
        "expires": times.stamp(override.get("expires_at")),
    }


def queue_row(view: Mapping[str, Any], times: Times) -> dict[str, Any]:
    """One queue as the overview and the queue page show it: why, until and next are the view's
    ``status`` (``app.status``, the answer ``ciqueue status`` and ``GET /queues`` give)."""
    queue = view["queue"]
    schedule = view["schedule"]
    status = view["status"]
    overrides = [override_row(o, times) for o in view["overrides"]]
    groups = list(status.get("groups") or [])
    until = times.stamp(status.get("until"))
    if status.get("override") is not None and until is None:
        until_text = "cancelled (the override has no end)"
    elif until is not None:
        until_text = until["text"]
    else:
        until_text = "no change planned" if groups else ""
    coming = status.get("next_change")
    next_row = None
    if coming is not None:
        at = times.stamp(coming["at"]) if coming["at"] else None
        what = f"{coming['change']}: {coming['reason']}"
        next_row = {"at": at, "what": what if at else f"at the next tick, {what}"}
    return {
        "key": view["key"],
        "bucket": view["bucket"],
        "region": view["region"],
        "kind": view["kind"],
        "queue_id": view["queue_id"],
        "name": queue.get("Name") or view["queue_id"],
        "state": queue.get("State") or "?",
        "wanted": status.get("wanted"),
        "groups": groups,
        "windows": list(schedule.get("windows") or []),
        "rotations": list(schedule.get("rotations") or []),
        "why": status["why"],
        "until": until,
        "until_text": until_text,
        "next": next_row,
        "callback": callback_text(queue.get("NotifyConfig")),
        "overrides": overrides,
        "path": "queues/{bucket}/{region}/{kind}/{queue_id}".format(**view),
    }


def grouped(rows: Iterable[dict[str, Any]], order: Sequence[str]) -> list[dict[str, Any]]:
    """Rows under their first target group, groups in the config's order, ungrouped last."""
    groups: dict[str, list[dict[str, Any]]] = {name: [] for name in order}
    loose: list[dict[str, Any]] = []
    for row in rows:
        (groups[row["groups"][0]] if row["groups"] and row["groups"][0] in groups else loose).append(row)
    out: list[dict[str, Any]] = [{"name": name, "rows": found} for name, found in groups.items() if found]
    if loose:
        out.append({"name": None, "rows": loose})
    return out


def transition_rows(transitions: Sequence[Mapping[str, Any]], times: Times) -> list[dict[str, Any]]:
    return [
        {"at": times.stamp(t["at"]), "target": t["target"], "change": t["change"], "reason": t["reason"]}
        for t in transitions
    ]


def diff_rows(outcome: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The fields a (dry-run) command would change, per queue, redacted as the audit trail is."""
    rows = []
    for result in outcome.get("results") or []:
        for change in result.get("diff") or []:
            rows.append(
                {
                    "queue": result.get("queue"),
                    "field": change.get("field"),
                    "before": redact(change.get("before")),
                    "after": redact(change.get("after")),
                }
            )
    return rows


_EVENT_WORDS = {
    "queue.paused": "paused",
    "queue.resumed": "resumed",
    "queue.callback_changed": "callback changed",
    "queue.failed": "failed",
    "queue.unverified": "written, not verified",
    "override.created": "override created",
    "override.cancelled": "override cancelled",
    "override.expired": "override ended",
}


def change_row(change: Mapping[str, Any], times: Times) -> dict[str, Any]:
    """One history entry (``GET /changes``) as the pages list it: who, what, why, when."""
    what = _EVENT_WORDS.get(str(change.get("event")), str(change.get("event")))
    before, after = change.get("before") or {}, change.get("after") or {}
    fields = [f"{name} {before.get(name)} → {after.get(name)}" for name in after if name in before]
    if fields:
        what += ": " + ", ".join(str(redact(f)) for f in fields)
    result = change.get("result") or {}
    if result.get("status") == "error":
        what += f" ({result.get('code') or 'error'})"
    if change.get("override_id"):
        what += f" · {change['override_id']}"
    return {
        "at": times.stamp(change.get("at")),
        "what": what,
        "queue": change.get("queue"),
        "who": change.get("actor"),
        "why": change.get("reason"),
        "failed": result.get("status") == "error",
    }

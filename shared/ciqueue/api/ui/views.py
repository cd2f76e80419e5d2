"""What the console's pages show: plain dicts built from the HTTP API's own views, for the templates.

Rules:
- Nothing here decides a state: the queue, its overrides and what the schedule wants come from
  ``routes.queue_view`` (the engine's ``desired_state_at`` and ``decide``), the coming changes from
  ``schedule.plan``. This module only picks the sentence a person reads and formats it.
- *Why* a queue is as it is, in this order: an override pins it (the engine says it wins); the next
  tick would leave it alone (a manual change respected, or already as wanted: the engine's reason);
  the next tick would change it (its reason, "at the next tick"); no group of the schedule names it.
- *Until when*: the override's end, else the edge where the wanted state next changes.
- *Next change*: the earliest of the override's end and the plan's next transition of its groups
  (a pause or resume the override's pin holds off does not count).
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


def why(view: Mapping[str, Any]) -> str:
    """The sentence that says why the queue is in its state (see the module rules)."""
    schedule = view["schedule"]
    if view["overrides"] and schedule.get("desired_state"):
        return str(schedule["desired_state"]["because"])
    if not schedule.get("targets"):
        return "No target group of the schedule names this queue: ciqueue leaves it as it is."
    tick = next((d for d in schedule.get("next_tick", []) if d["aspect"] == "state"), None)
    if tick is not None and tick["action"] in ("pause", "resume"):
        return f"{tick['reason']} (at the next tick)"
    if tick is not None:
        return str(tick["reason"])
    desired = schedule.get("desired_state")
    return str(desired["because"]) if desired else "No window covers this queue now."


def queue_row(
    view: Mapping[str, Any], transitions: Sequence[Mapping[str, Any]], times: Times
) -> dict[str, Any]:
    """One queue as the overview and the queue page show it."""
    queue = view["queue"]
    schedule = view["schedule"]
    desired = schedule.get("desired_state")
    overrides = [override_row(o, times) for o in view["overrides"]]
    groups = list(schedule.get("targets") or [])
    until = None
    if overrides:
        ends = [o["expires"] for o in overrides]
        until = None if None in ends else min(ends, key=lambda e: e["iso"] if e else "")
        until_text = "cancelled (the override has no end)" if until is None else until["text"]
    elif desired and desired.get("next_edge_at"):
        until = times.stamp(desired["next_edge_at"])
        until_text = until["text"] if until else ""
    else:
        until_text = "no change planned" if groups else ""
    return {
        "key": view["key"],
        "bucket": view["bucket"],
        "region": view["region"],
        "kind": view["kind"],
        "queue_id": view["queue_id"],
        "name": queue.get("Name") or view["queue_id"],
        "state": queue.get("State") or "?",
        "wanted": desired["state"] if desired else None,
        "groups": groups,
        "windows": list(schedule.get("windows") or []),
        "rotations": list(schedule.get("rotations") or []),
        "why": why(view),
        "until": until,
        "until_text": until_text,
        "next": next_change(overrides, groups, transitions, times),
        "callback": callback_text(queue.get("NotifyConfig")),
        "overrides": overrides,
        "path": "queues/{bucket}/{region}/{kind}/{queue_id}".format(**view),
    }


def next_change(
    overrides: Sequence[Mapping[str, Any]],
    groups: Sequence[str],
    transitions: Sequence[Mapping[str, Any]],
    times: Times,
) -> dict[str, Any] | None:
    """``{"at": stamp, "what": text}`` of the next thing that happens to the queue, or None."""
    coming = [t for t in transitions if t["target"] in groups]
    if overrides:
        # While an override pins the State, the schedule's pauses and resumes do not reach it.
        ends = [o for o in overrides if o["expires"] is not None]
        pinned_until = (
            max(parse_instant(o["expires"]["iso"]) for o in ends) if len(ends) == len(overrides) else None
        )
        coming = [
            t
            for t in coming
            if t["change"] not in ("pause", "resume")
            or (pinned_until is not None and parse_instant(t["at"]) >= pinned_until)
        ]
        first = min(coming, key=lambda t: t["at"]) if coming else None
        if ends:
            end = min(ends, key=lambda o: o["expires"]["iso"])
            end_at = parse_instant(end["expires"]["iso"])
            if first is None or end_at <= parse_instant(first["at"]):
                return {"at": end["expires"], "what": f"override {end['id']} ends; the schedule takes over"}
    first = min(coming, key=lambda t: t["at"]) if coming else None
    if first is None:
        return None
    return {"at": times.stamp(first["at"]), "what": f"{first['change']}: {first['reason']}"}


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

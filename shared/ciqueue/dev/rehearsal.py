"""``ciqueue demo`` (``make demo``): a rehearsal of a maintenance night, on one machine, in seconds.

Everything real but the cloud: the embedded CI emulator (local mode: private callback targets
allowed), the four SCF handlers invoked in-process as SCF would, the scheduler's timer from its
serverless.yml, a Function URL server on loopback for the on-call toggle (a real HTTP request with a
bearer token), simulated jobs, and two callback sinks (primary and standby) that count what arrives.
The clock is simulated and stepped one minute at a time: timers fire per their cron, jobs advance
one step per minute; nothing waits for real time.

The night: a bucket with three pic queues; the ``nightly`` window opens at 02:00 and pauses them
while jobs pile up; at 02:10 the on-call resumes one queue for 30 minutes and its backlog drains; at
02:40 the override expires and the window pauses it again; at 04:00 the window closes, everything
resumes and drains; at 04:30 the ``on-call`` rotation moves callbacks to the standby endpoint, and
the next callbacks arrive there. Each expectation is checked; any miss makes the exit code 1.

When the window has opened, right after the on-call's resume and when the window has closed
(``STATUS_STEPS``), each queue's status is printed in one line (state, why, until, next change)
from ``app.status.queue_statuses``, the answer ``ciqueue status`` and the console give, over the
emulator's queues and the functions' state file; ``RehearsalSummary.statuses`` keeps them.

Right after the on-call's resume, the week is drawn as the console draws it
(``schedule.timeline.week_svg``: one lane per queue, the nightly window shaded, the override on
thumbnails, the rotation's switches, the now line) into ``rehearsal-week.svg`` under the system's
temp directory (``ciqueue-demo/``, outside the checkout; ``run(picture_dir=...)`` to choose), and
the summary says where.

The callback hosts in the schedule are public names (``primary.example.com``); the emulator
redirects them to the local sinks, as a resolver override would: the library still refuses private
callback URLs, exactly as in production.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from zoneinfo import ZoneInfo

import requests

from ciqueue.constants import DEMO_APPID
from ciqueue.dev.clock import SimClock, TimerRunner, TimerSpec, timers_from_serverless
from ciqueue.dev.events import scf_context, timer_event
from ciqueue.dev.invoke import find_functions_dir, invoke
from ciqueue.dev.livelog import LiveLog
from ciqueue.dev.servers import BackgroundServer, FunctionUrlServer
from ciqueue.dev.stack import local_env
from ciqueue.errors import CiQueueError
from ciqueue.records import dataclass, field

if TYPE_CHECKING:
    from ciqueue.app.status import QueueStatus
    from ciqueue.schedule.engine import ObservedQueue
    from ciqueue.state.document import StateDocument


class _SinkHandler(BaseHTTPRequestHandler):
    server: _SinkServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        self.server.sink.record(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _SinkServer(ThreadingHTTPServer):
    daemon_threads = True
    sink: CallbackSink


class CallbackSink(BackgroundServer):
    """A callback endpoint on loopback that keeps what arrives: ``received`` (path, headers, body)."""

    def __init__(self, name: str = "sink", host: str = "127.0.0.1") -> None:
        self.name = name
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        httpd = _SinkServer((host, 0), _SinkHandler)
        httpd.sink = self
        super().__init__(httpd)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        with self._lock:
            self.received.append((path, headers, body))

    def job_ids(self) -> list[str]:
        """JobIds of the JSON callbacks received, in arrival order."""
        with self._lock:
            bodies = [b for _, h, b in self.received if h.get("content-type") == "application/json"]
        return [str(json.loads(b)["JobsDetail"]["JobId"]) for b in bodies]


# --- the rehearsal ------------------------------------------------------------------------------

BUCKET = f"demo-{DEMO_APPID}"
REGION = "ap-guangzhou"
ZONE = "Asia/Shanghai"
PRIMARY_URL = "https://primary.example.com/ci/callback"
STANDBY_URL = "https://standby.example.com/ci/callback"
# Three pic queues, processing two jobs at a time so a backlog takes a few minutes to drain.
QUEUES = {
    "thumbnails": "p00000000000000000000000000000101",
    "watermarks": "p00000000000000000000000000000102",
    "previews": "p00000000000000000000000000000103",
}
MAX_CONCURRENT = 2
START = datetime(2026, 3, 2, 1, 55, tzinfo=ZoneInfo(ZONE))  # a Monday, five minutes before the window
RECONCILE_TIMER = TimerSpec("scheduler", "reconcile", "0 */5 * * * * *", "", ZONE)

SCHEDULE = f"""\
version: 1
timezone: {ZONE}
targets:
  night-batch:
    bucket: {BUCKET}
    region: {REGION}
    kind: pic
    name_pattern: "*"
windows:
  - name: nightly
    targets: [night-batch]
    start: "0 0 2 * * * *"
    duration: 2h
rotations:
  - name: on-call
    targets: [night-batch]
    callbacks:
      - {{type: Url, url: "{PRIMARY_URL}", format: JSON}}
      - {{type: Url, url: "{STANDBY_URL}", format: JSON}}
    at:
      - {{time: "08:00", callback: 0}}
      - {{time: "04:30", callback: 1}}
"""


class RehearsalFailed(Exception):
    """The rehearsal could not go on (a step broke, not just an expectation)."""


@dataclass(frozen=True)
class Expectation:
    at: str  # simulated local time, HH:MM
    what: str
    ok: bool
    detail: str


@dataclass
class RehearsalSummary:
    """What happened: the checks, the callbacks each sink received, the audit events, the end state."""

    expectations: list[Expectation] = field(default_factory=list)
    primary_callbacks: int = 0
    standby_callbacks: int = 0
    events: dict[str, int] = field(default_factory=dict)  # audit event -> count
    final: dict[str, dict[str, Any]] = field(default_factory=dict)  # queue name -> state, callback, jobs
    timeline: list[str] = field(default_factory=list)
    picture: str | None = None  # where the week's SVG picture was written
    # step -> queue name -> its status there (``app.status.QueueStatus.to_dict()``), STATUS_STEPS only
    statuses: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(e.ok for e in self.expectations)

    @property
    def failures(self) -> list[Expectation]:
        return [e for e in self.expectations if not e.ok]


class Rehearsal:
    """The parts of the night and the moves of the story; ``run()`` tells it."""

    def __init__(
        self,
        stack: ExitStack,
        out: TextIO,
        root: Path | None = None,
        picture_dir: Path | None = None,
        on_step: Callable[[Rehearsal, str], None] | None = None,
    ) -> None:
        from ciqueue.api.auth import generate_token, token_entry
        from ciqueue.emulator.server import EmulatorServer

        self.out = out
        self.on_step = on_step
        self.summary = RehearsalSummary()
        self.clock = SimClock(START, speed=0)
        self.log = LiveLog(out, self.clock.now, ZONE, labels={qid: name for name, qid in QUEUES.items()})
        self.log.attach()
        stack.callback(self.log.detach)
        self._audit_events: Counter[str] = Counter()
        self.log_hook(stack)
        self.emulator = stack.enter_context(EmulatorServer(allow_private_callbacks=True))
        self.emulator.jobs.clock = self.clock.timestamp
        self.primary = stack.enter_context(CallbackSink("primary"))
        self.standby = stack.enter_context(CallbackSink("standby"))
        self.emulator.jobs.set_redirects(
            {"primary.example.com": self.primary.base_url, "standby.example.com": self.standby.base_url}
        )
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ciqueue-rehearsal-")))
        self.config_path = config_path = workdir / "schedule.yaml"
        config_path.write_text(SCHEDULE, encoding="utf-8")
        self.state_path = workdir / "state.json"
        self.picture_dir = picture_dir or default_picture_dir()
        # The on-call's bearer token lives only in this process; the functions get its digest.
        self._token = generate_token()
        tokens = json.dumps([token_entry("oncall", self._token, ["read", "operate"])])
        self.env = local_env(
            self.emulator.endpoint,
            config=str(config_path),
            state_file=str(self.state_path),
            api_tokens=tokens,
        )
        self.functions_dir = _functions_dir(root)
        self.url = stack.enter_context(FunctionUrlServer(self._url_call))
        timers = _scheduler_timers(root)
        self.timers = TimerRunner(timers, self.clock.now, self._fire)
        self.session = requests.Session()
        stack.callback(self.session.close)

    # -- plumbing ----------------------------------------------------------------------------------

    def log_hook(self, stack: ExitStack) -> None:
        """Count audit events (besides printing them) and quiet the handlers' own INFO logging."""
        original = self.log.audit_line

        def counting(record: Any) -> None:
            self._audit_events[str(record.get("event"))] += 1
            original(record)

        self.log.audit_line = counting  # type: ignore[method-assign]
        library = logging.getLogger("ciqueue")
        level = library.level
        library.setLevel(logging.WARNING)
        stack.callback(library.setLevel, level)

    def call(self, function: str, event: Any, request_id: str | None = None) -> Any:
        context = scf_context(function, 60, 256, request_id=request_id)
        return invoke(
            function, event, context, self.env, now=self.clock.now(), functions_dir=self.functions_dir
        )

    def _url_call(self, event: dict[str, Any], request_id: str) -> Any:
        return self.call("http_toggle", event, request_id)

    def _fire(self, timer: TimerSpec, at: datetime) -> None:
        result = self.call(timer.function, timer_event(timer.name, at, timer.argument))
        if not isinstance(result, dict) or result.get("ok") is not True:
            raise RehearsalFailed(
                f"the {timer.function} timer at {self.hhmm()} failed: {json.dumps(result)[:300]}"
            )

    def admin(self, method: str, name: str, body: Any = None) -> Any:
        response = self.session.request(
            method, f"{self.emulator.endpoint}/_emulator/{name}", json=body, timeout=5
        )
        if response.status_code != 200:
            raise RehearsalFailed(
                f"emulator admin {method} {name}: HTTP {response.status_code} {response.text}"
            )
        return response.json()

    def step(self, name: str) -> None:
        """A step of the story is done (``name``: what happened): at ``STATUS_STEPS`` each queue's
        status line is printed; then ``on_step`` may look around (``tests/dev`` runs
        ``ciqueue status`` here)."""
        if name in STATUS_STEPS:
            self.summary.statuses[name] = {
                _name_of(s.queue.queue_id): s.to_dict() for s in self.show_status()
            }
        if self.on_step is not None:
            self.on_step(self, name)

    def show_status(self) -> list[QueueStatus]:
        """One line per queue: its state, why, until when and its next change, as ``ciqueue status``
        answers (``app.status.queue_statuses``, the one home of that answer) over the emulator's
        queues and the functions' state file (their overrides and last-applied records)."""
        from ciqueue.app.status import queue_statuses
        from ciqueue.schedule.load import load_config

        now = self.clock.now()
        doc = self.state_document()
        statuses = queue_statuses(
            load_config(SCHEDULE, now=now),
            self.observed(),
            doc.engine_overrides(),
            doc.engine_last_applied(),
            now,
        )
        for status in statuses:
            name = _name_of(status.queue.queue_id)
            self.log.line("status", status.queue.state or "?", name, status_line(status, ZONE, now))
        return statuses

    def hhmm(self) -> str:
        return self.clock.now().astimezone(ZoneInfo(ZONE)).strftime("%H:%M")

    def say(self, action: str, subject: str, reason: str = "") -> None:
        self.log.line("rehearsal", action, subject, reason)

    def expect(self, what: str, ok: bool, detail: str = "") -> None:
        self.summary.expectations.append(Expectation(self.hhmm(), what, ok, detail))
        mark = "ok  " if ok else "FAIL"
        self.log.line("check", mark, what, "" if ok else detail)

    # -- the world ---------------------------------------------------------------------------------

    def run_until(self, hhmm: str) -> None:
        """Step the clock a minute at a time to ``hhmm`` (local): timers fire, jobs advance."""
        hour, minute = (int(p) for p in hhmm.split(":"))
        local = self.clock.now().astimezone(ZoneInfo(ZONE))
        target = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if target < local:
            target += timedelta(days=1)
        while self.clock.now() < target:
            self.clock.advance(timedelta(minutes=1))
            self.timers.run_due()
            self._narrate(self.emulator.jobs.tick())

    def _narrate(self, report: Any) -> None:
        groups: Counter[tuple[str, str, str]] = Counter()
        for delivery in report.deliveries:
            groups[(delivery.queue_id, delivery.target.split("/")[2], delivery.status)] += 1
        for (queue_id, host, status), count in sorted(groups.items()):
            name = _name_of(queue_id)
            self.log.line(
                "ci", "callback", name, f"{count} job result{'s' if count > 1 else ''} -> {host}: {status}"
            )

    def submit(self, count: int, names: Sequence[str] = tuple(QUEUES)) -> None:
        for name in names:
            body = {
                "bucket": BUCKET,
                "region": REGION,
                "kind": "pic",
                "queue_id": QUEUES[name],
                "count": count,
            }
            self.admin("POST", "jobs", body)
        self.say("submit", ", ".join(names), f"{count} new job{'s' if count > 1 else ''} each")

    def queues(self) -> dict[str, dict[str, Any]]:
        found = {}
        for bucket in self.admin("GET", "state")["buckets"]:
            for queue in bucket["queues"]:
                found[_name_of(queue["QueueId"])] = queue
        return found

    def counts(self) -> dict[str, dict[str, int]]:
        counts = self.admin("GET", "jobs")["counts"]
        empty = {"Submitted": 0, "Running": 0, "Success": 0}
        return {name: counts.get(queue_id, dict(empty)) for name, queue_id in QUEUES.items()}

    def backlog_line(self) -> str:
        return ", ".join(
            f"{n} {c['Submitted']} waiting/{c['Success']} done" for n, c in self.counts().items()
        )

    def states(self) -> dict[str, str]:
        return {name: str(q["State"]) for name, q in self.queues().items()}

    def toggle(self, name: str, action: str, body: dict[str, Any]) -> tuple[int, Any]:
        """The on-call's real HTTP request to the http_toggle Function URL."""
        path = f"/queues/{BUCKET}/{REGION}/pic/{QUEUES[name]}/{action}"
        self.say("http", f"POST {path}", json.dumps(body))
        response = self.session.post(
            self.url.url + path, json=body, headers={"Authorization": f"Bearer {self._token}"}, timeout=30
        )
        try:
            answer = response.json()
        except ValueError:
            answer = response.text
        return response.status_code, answer

    def observed(self) -> list[ObservedQueue]:
        """The queues as CI holds them (the emulator's state), for the engine."""
        from ciqueue.schedule.engine import ObservedQueue

        return [
            ObservedQueue(
                BUCKET, REGION, "pic", str(q["QueueId"]), q.get("Name"), q.get("State"), q.get("NotifyConfig")
            )
            for q in self.queues().values()
        ]

    def state_document(self) -> StateDocument:
        """The functions' state file (an empty document before their first write)."""
        from ciqueue.state.document import StateDocument

        if not self.state_path.exists():
            return StateDocument()
        return StateDocument.from_json(self.state_path.read_bytes(), str(self.state_path))

    def draw_week(self) -> Path:
        """The week as the console draws it, per queue, with the stored overrides; its path."""
        from ciqueue.schedule.load import load_config
        from ciqueue.schedule.timeline import week_svg

        now = self.clock.now()
        live = [o for o in self.state_document().engine_overrides() if o.active_at(now)]
        svg = week_svg(load_config(SCHEDULE, now=now), now, observed=self.observed(), overrides=live)
        self.picture_dir.mkdir(parents=True, exist_ok=True)
        path = self.picture_dir / PICTURE_NAME
        path.write_text(svg, encoding="utf-8")
        self.summary.picture = str(path)
        return path

    # -- the story ---------------------------------------------------------------------------------

    def run(self) -> None:
        seed = [
            {
                "kind": "pic",
                "queue_id": qid,
                "name": name,
                "max_concurrent": MAX_CONCURRENT,
                "notify_config": {
                    "State": "On",
                    "Type": "Url",
                    "Url": PRIMARY_URL,
                    "Event": "TaskFinish",
                    "ResultFormat": "JSON",
                },
            }
            for name, qid in QUEUES.items()
        ]
        self.admin(
            "POST",
            "seed",
            {"buckets": [{"bucket": BUCKET, "region": REGION, "kinds": ["pic"], "queues": seed}]},
        )
        self.say(
            "setup",
            BUCKET,
            f"3 pic queues (MaxConcurrent {MAX_CONCURRENT}), callbacks -> primary.example.com",
        )
        self.say("setup", "schedule", "window 'nightly' 02:00 for 2h; rotation 'on-call' -> standby at 04:30")

        self.submit(2)
        self.run_until("02:00")
        states = self.states()
        self.expect(
            "the window opened: all three queues Paused", set(states.values()) == {"Paused"}, str(states)
        )
        self.expect(
            "the day's jobs called back to primary",
            self.primary.count == 6,
            f"primary got {self.primary.count}",
        )
        self.step("window-opened")

        self.run_until("02:01")
        self.submit(5)
        self.run_until("02:10")
        counts = self.counts()
        self.say("backlog", "while paused", self.backlog_line())
        self.expect(
            "jobs pile up while paused (5 waiting per queue)",
            all(c["Submitted"] == 5 for c in counts.values()),
            str(counts),
        )
        self.expect("no callbacks while paused", self.primary.count == 6, f"primary got {self.primary.count}")

        status, answer = self.toggle(
            "thumbnails", "resume", {"for": "30m", "reason": "urgent thumbnails for launch"}
        )
        self.expect(
            "the on-call's resume for 30m is accepted (HTTP 200)", status == 200, f"HTTP {status}: {answer}"
        )
        self.expect("thumbnails resumed at once", self.states()["thumbnails"] == "Active", str(self.states()))
        picture = self.draw_week()
        pinned = _pinned_lanes(picture.read_text(encoding="utf-8"))
        thumbnails = f"{BUCKET}/{REGION}/pic/{QUEUES['thumbnails']}"
        self.expect(
            "the week's picture shows the override on thumbnails only",
            pinned == {thumbnails: ["Active"]},
            str(pinned),
        )
        self.step("override-made")
        self.run_until("02:20")
        counts = self.counts()
        self.say("backlog", "after the override", self.backlog_line())
        self.expect(
            "the thumbnails backlog drained",
            counts["thumbnails"]["Submitted"] == 0 and counts["thumbnails"]["Success"] == 7,
            str(counts),
        )
        self.expect(
            "the other queues still hold theirs",
            counts["watermarks"]["Submitted"] == 5 and counts["previews"]["Submitted"] == 5,
            str(counts),
        )
        self.expect(
            "their results called back to primary",
            self.primary.count == 11,
            f"primary got {self.primary.count}",
        )
        self.step("override-drained")

        self.run_until("02:40")
        self.expect(
            "the override expired: thumbnails Paused again (window still open)",
            self.states()["thumbnails"] == "Paused",
            str(self.states()),
        )
        self.step("override-ended")
        self.run_until("02:41")
        self.submit(3, ["thumbnails"])
        self.run_until("03:00")
        self.expect(
            "new thumbnails jobs wait", self.counts()["thumbnails"]["Submitted"] == 3, str(self.counts())
        )

        self.run_until("04:00")
        states = self.states()
        self.expect(
            "the window closed: all three queues Active", set(states.values()) == {"Active"}, str(states)
        )
        self.step("window-closed")
        self.run_until("04:10")
        counts = self.counts()
        self.say("backlog", "after the window", self.backlog_line())
        self.expect(
            "every backlog drained",
            all(c["Submitted"] == 0 and c["Running"] == 0 for c in counts.values()),
            str(counts),
        )
        self.expect(
            "all 24 results so far went to primary",
            self.primary.count == 24 and self.standby.count == 0,
            f"primary {self.primary.count}, standby {self.standby.count}",
        )

        self.run_until("04:30")
        urls = {name: q["NotifyConfig"].get("Url") for name, q in self.queues().items()}
        self.expect(
            "the rotation moved every callback to standby", set(urls.values()) == {STANDBY_URL}, str(urls)
        )
        self.step("rotated")
        self.run_until("04:31")
        self.submit(2)
        self.run_until("04:40")
        self.expect(
            "the next callbacks arrive at standby",
            self.standby.count == 6 and self.primary.count == 24,
            f"primary {self.primary.count}, standby {self.standby.count}",
        )
        self.step("end")

    def finish(self) -> None:
        summary = self.summary
        summary.primary_callbacks = self.primary.count
        summary.standby_callbacks = self.standby.count
        summary.events = dict(self._audit_events)
        summary.timeline = list(self.log.lines)
        counts = self.counts()
        for name, queue in self.queues().items():
            summary.final[name] = {
                "queue_id": queue["QueueId"],
                "state": queue["State"],
                "callback": queue["NotifyConfig"].get("Url"),
                "jobs": counts.get(name, {}),
            }


PICTURE_NAME = "rehearsal-week.svg"
# The steps at which the demo prints each queue's status line: held by the window, one queue
# pinned by the on-call's override, handed back when the window closes (the rotation next).
STATUS_STEPS = ("window-opened", "override-made", "window-closed")


def status_line(status: QueueStatus, zone_name: str, now: datetime) -> str:
    """``[reason] why; until T; next T change``: a queue's status in one line (an override's why
    names its end, so no second until), times as every explanation gives them
    (``schedule.windows.format_instant``, the config's zone)."""
    from ciqueue.schedule.windows import format_instant

    tz = ZoneInfo(zone_name)
    if status.until is not None:
        until = format_instant(status.until, tz, now)
    else:
        until = "cancelled" if status.override is not None else "-"
    coming = status.next_change
    if coming is None:
        following = "nothing planned"
    else:
        when = format_instant(coming.at, tz, now) if coming.at is not None else "at the next tick"
        following = f"{when} {coming.change}"
    # An override's why already says until when it pins the queue.
    held = "" if status.reason == "override" else f"; until {until}"
    return f"[{status.reason}] {status.why}{held}; next {following}"


def default_picture_dir() -> Path:
    """Where ``make demo`` leaves the week's picture: ``ciqueue-demo/`` in the system temp dir."""
    return Path(tempfile.gettempdir()) / "ciqueue-demo"


def _pinned_lanes(svg: str) -> dict[str, list[str]]:
    """Lane (queue key) -> the states its drawn overrides pin (our own SVG, no DTD to expand)."""
    import xml.etree.ElementTree as ET

    ns = "{http://www.w3.org/2000/svg}"
    lanes: dict[str, list[str]] = {}
    for lane in ET.fromstring(svg).iter(f"{ns}g"):
        pins = [r.get("data-state") or "" for r in lane.iter(f"{ns}rect") if r.get("class") == "override"]
        if lane.get("class") == "lane" and pins:
            lanes[lane.get("data-lane") or ""] = pins
    return lanes


def _name_of(queue_id: str) -> str:
    return next((name for name, qid in QUEUES.items() if qid == queue_id), queue_id)


def _functions_dir(root: Path | None) -> Path:
    return find_functions_dir(root / "functions" if root else None)


def _scheduler_timers(root: Path | None) -> list[TimerSpec]:
    """The scheduler's enabled timers from its serverless.yml (a checkout's, or the copy an
    installed package carries), in the demo's zone."""
    return timers_from_serverless(_functions_dir(root).parent, ("scheduler",)) or [RECONCILE_TIMER]


def final_table(summary: RehearsalSummary) -> str:
    rows = [("QUEUE", "STATE", "CALLBACK", "WAITING", "RUNNING", "DONE")]
    for name, info in summary.final.items():
        jobs = info["jobs"]
        host = str(info["callback"] or "-").split("/")[2] if info["callback"] else "-"
        rows.append(
            (
                name,
                info["state"],
                host,
                str(jobs.get("Submitted", 0)),
                str(jobs.get("Running", 0)),
                str(jobs.get("Success", 0)),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.append("")
    lines.append(
        f"callbacks received: primary {summary.primary_callbacks}, standby {summary.standby_callbacks}"
    )
    return "\n".join(lines)


def run(
    out: TextIO | None = None,
    root: Path | None = None,
    picture_dir: Path | None = None,
    on_step: Callable[[Rehearsal, str], None] | None = None,
) -> RehearsalSummary:
    """Run the rehearsal, printing the timeline and the final state; returns what happened.
    The week's picture goes to ``picture_dir`` (default: ``default_picture_dir()``)."""
    out = out or sys.stdout
    with ExitStack() as stack:
        rehearsal = None
        try:
            rehearsal = Rehearsal(stack, out, root, picture_dir, on_step)
            print(
                "ciqueue rehearsal: one maintenance night on the local emulator (simulated clock, "
                "Asia/Shanghai time)",
                file=out,
            )
            print("  local mode: allow_private_callbacks is on, so callbacks reach the local sinks", file=out)
            rehearsal.run()
            rehearsal.finish()
            summary = rehearsal.summary
        except (RehearsalFailed, CiQueueError, requests.RequestException, OSError) as exc:
            summary = rehearsal.summary if rehearsal is not None else RehearsalSummary()
            summary.error = f"{type(exc).__name__}: {exc}"
    print("", file=out)
    if summary.final:
        print(final_table(summary), file=out)
    passed = sum(e.ok for e in summary.expectations)
    print(f"\n{passed}/{len(summary.expectations)} expectations held.", file=out)
    if summary.picture:
        print(f"The week as the console draws it (at 02:10, the override on): {summary.picture}", file=out)
    if summary.error:
        print(f"rehearsal FAILED: {summary.error}", file=sys.stderr)
    for failure in summary.failures:
        print(f"rehearsal FAILED at {failure.at}: {failure.what}: {failure.detail}", file=sys.stderr)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """``ciqueue demo``: 0 when every expectation held, 1 otherwise."""
    return 0 if run().ok else 1

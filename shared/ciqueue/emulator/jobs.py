"""Simulated processing jobs and the callbacks CI sends when they finish.

A job goes Submitted -> Running -> Success. ``tick()`` is one deterministic step: every Running job
finishes (pausing a queue does not abort work already started, as in CI), then each Active queue
starts up to MaxConcurrent of its Submitted jobs. A Paused queue holds its Submitted jobs.

For each finished job the callback the queue's NotifyConfig names *at that moment* is sent (State
On, Event containing TaskFinish): Type Url -> an HTTP POST of a small job result document (JSON or
XML per ResultFormat) with a short timeout; Type TDMQ -> a line in the in-emulator TDMQ log.

Where a callback may go (CI refuses private addresses, and an emulator should not reach the
internet behind a test's back):
- ``redirects`` map a callback host to a local base URL (like ``curl --resolve``), so a schedule
  can name public-looking hosts while the callbacks land on local sinks;
- the final target is judged by ``ciqueue.ci.netguard``: a private or loopback target is refused
  unless the emulator runs with ``allow_private_callbacks`` (local mode);
- a public target is only contacted when ``external`` delivery is on (off by default).
Every attempt, refusal and skip is recorded (``GET /_emulator/callbacks``).

Admin API (JSON): ``POST /_emulator/jobs`` enqueue, ``GET /_emulator/jobs`` list,
``POST /_emulator/jobs/tick`` one step, ``GET /_emulator/callbacks``,
``POST /_emulator/callbacks/config`` ``{"redirects": {host: base_url}, "external": bool}``,
``GET /_emulator/tdmq``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from ciqueue.ci.kinds import parse_kind
from ciqueue.ci.netguard import check_callback_url, is_private_host, redact_url
from ciqueue.ci.xmlcodec import render_xml
from ciqueue.emulator.models import ApiError, Clock, EmulatorModel, time_text
from ciqueue.emulator.responses import Reply, Request
from ciqueue.emulator.routing import ADMIN_PREFIX
from ciqueue.errors import InvalidInput, Problem
from ciqueue.records import asdict, dataclass, field

SUBMITTED, RUNNING, SUCCESS = "Submitted", "Running", "Success"
JOB_STATES = (SUBMITTED, RUNNING, SUCCESS)
MAX_JOBS_PER_REQUEST = 1000
DELIVERY_TIMEOUT_S = 2.0
# Admin names (under /_emulator/) this module answers.
ADMIN_NAMES = ("jobs", "jobs/tick", "callbacks", "callbacks/config", "tdmq")

# Delivery outcomes as recorded.
DELIVERED = "delivered"  # the endpoint answered 2xx
FAILED = "failed"  # connection error, timeout or non-2xx
REFUSED = "refused"  # private target without allow_private_callbacks (CI refuses these too)
SKIPPED = "skipped"  # public target while external delivery is off


def is_jobs_path(path: str) -> bool:
    """True for the admin paths this module serves."""
    if not path.startswith(ADMIN_PREFIX):
        return False
    return path[len(ADMIN_PREFIX) :].strip("/") in ADMIN_NAMES


@dataclass
class Job:
    job_id: str
    bucket: str
    region: str
    kind: str
    queue_id: str
    object: str
    state: str = SUBMITTED
    creation_time: str = ""
    start_time: str = ""
    end_time: str = ""

    def detail(self) -> dict[str, Any]:
        """The JobsDetail element of a callback, XML element names."""
        return {
            "Code": "Success",
            "Message": "",
            "JobId": self.job_id,
            "State": self.state,
            "QueueId": self.queue_id,
            "CreationTime": self.creation_time,
            "StartTime": self.start_time,
            "EndTime": self.end_time,
            "Input": {"BucketId": self.bucket, "Region": self.region, "Object": self.object},
        }


@dataclass
class Delivery:
    """One callback of one finished job: where it was meant to go and what became of it."""

    time: str
    job_id: str
    bucket: str
    region: str
    kind: str
    queue_id: str
    type: str  # Url or TDMQ
    target: str  # the URL without its query (it may carry a token), or mode/region/name
    status: str  # delivered, failed, refused, skipped
    format: str | None = None
    delivered_to: str | None = None  # the redirected base URL, when a redirect applied
    http_status: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TickReport:
    started: int = 0
    finished: int = 0
    deliveries: list[Delivery] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "finished": self.finished,
            "deliveries": [d.to_dict() for d in self.deliveries],
        }


class JobsEngine:
    """Jobs, their processing step and callback delivery, beside an ``EmulatorModel``."""

    def __init__(
        self,
        model: EmulatorModel,
        *,
        allow_private_callbacks: bool = False,
        external: bool = False,
        timeout: float = DELIVERY_TIMEOUT_S,
        clock: Clock | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.model = model
        self.allow_private_callbacks = allow_private_callbacks
        self.external = external
        self.timeout = timeout
        # Job times; local mode and the rehearsal set a simulated clock here.
        self.clock: Clock = clock or model.clock
        self.redirects: dict[str, str] = {}
        self._session = session or requests.Session()
        self._lock = threading.Lock()  # jobs, logs
        self._tick_lock = threading.Lock()  # one step at a time (admin tick vs. background ticker)
        self._jobs: list[Job] = []
        self._deliveries: list[Delivery] = []
        self._tdmq: list[dict[str, Any]] = []
        self._listeners: list[Callable[[Delivery], None]] = []
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    # -- jobs --------------------------------------------------------------------------------------

    def enqueue(
        self, bucket: str, region: str, kind: str, queue_id: str, count: int, name_prefix: str | None = None
    ) -> list[Job]:
        """Submit ``count`` jobs to an existing queue (InvalidInput names the bad field)."""
        problems: list[Problem] = []
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_JOBS_PER_REQUEST:
            problems.append(Problem("count", f"must be an integer from 1 to {MAX_JOBS_PER_REQUEST}"))
        if name_prefix is not None and (not isinstance(name_prefix, str) or len(name_prefix) > 200):
            problems.append(Problem("name_prefix", "must be a string of at most 200 characters"))
        for name, value in (("bucket", bucket), ("region", region), ("queue_id", queue_id)):
            if not isinstance(value, str) or not value:
                problems.append(Problem(name, "must be a non-empty string"))
        if problems:
            raise InvalidInput(problems)
        queue_kind = parse_kind(kind, "kind")
        try:
            found = self.model.queue(bucket, region, queue_kind, queue_id)
        except ApiError as exc:
            raise InvalidInput("kind", f"{exc.code}: {exc.message}") from None
        if found is None:
            raise InvalidInput("queue_id", f"no {queue_kind.value} queue {queue_id} in {bucket} ({region})")
        now = time_text(self.clock())
        prefix = name_prefix or "input/job-"
        with self._lock:
            start = sum(1 for j in self._jobs if j.queue_id == queue_id)
            jobs = [
                Job(
                    job_id="j" + os.urandom(16).hex(),
                    bucket=bucket,
                    region=region,
                    kind=queue_kind.value,
                    queue_id=queue_id,
                    object=f"{prefix}{start + i + 1:04d}",
                    creation_time=now,
                )
                for i in range(count)
            ]
            self._jobs.extend(jobs)
        return jobs

    def jobs(self, queue_id: str | None = None, state: str | None = None) -> list[Job]:
        with self._lock:
            return [
                Job(**asdict(j))
                for j in self._jobs
                if (queue_id is None or j.queue_id == queue_id) and (state is None or j.state == state)
            ]

    def counts(self) -> dict[str, dict[str, int]]:
        """Per queue id: how many jobs are in each state."""
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for job in self._jobs:
                out.setdefault(job.queue_id, dict.fromkeys(JOB_STATES, 0))[job.state] += 1
        return out

    def tick(self) -> TickReport:
        """One processing step: Running jobs finish (and call back), Active queues start new jobs."""
        with self._tick_lock:
            report = TickReport()
            now = time_text(self.clock())
            with self._lock:
                finished = [j for j in self._jobs if j.state == RUNNING]
                for job in finished:
                    job.state, job.end_time = SUCCESS, now
                by_queue: dict[tuple[str, str, str, str], list[Job]] = {}
                for job in self._jobs:
                    if job.state == SUBMITTED:
                        by_queue.setdefault((job.bucket, job.region, job.kind, job.queue_id), []).append(job)
            report.finished = len(finished)
            for job in finished:
                report.deliveries.extend(self._notify(job))
            for (bucket, region, kind, queue_id), waiting in by_queue.items():
                queue = self._queue(bucket, region, kind, queue_id)
                if queue is None or queue.state != "Active":
                    continue  # a Paused (or vanished) queue holds its jobs
                with self._lock:
                    for job in waiting[: max(queue.max_concurrent, 0)]:
                        if job.state == SUBMITTED:
                            job.state, job.start_time = RUNNING, now
                            report.started += 1
            return report

    def _queue(self, bucket: str, region: str, kind: str, queue_id: str) -> Any:
        try:
            return self.model.queue(bucket, region, parse_kind(kind), queue_id)
        except (ApiError, InvalidInput):
            return None

    # -- callbacks ---------------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[Delivery], None]) -> None:
        """Call ``listener`` with every delivery record (local mode's live log)."""
        with self._lock:
            self._listeners.append(listener)

    def set_redirects(self, redirects: Mapping[str, str]) -> None:
        """Deliver callbacks for host H to ``redirects[H]`` (a base URL such as http://127.0.0.1:8081)."""
        checked: dict[str, str] = {}
        for host, base in redirects.items():
            if not isinstance(host, str) or not host or "/" in host:
                raise InvalidInput(f"redirects.{host}", "must be a host name")
            parts = urlsplit(base) if isinstance(base, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
                raise InvalidInput(f"redirects.{host}", "must be a base URL such as http://127.0.0.1:8081")
            checked[host.lower()] = base.rstrip("/")
        with self._lock:
            self.redirects.update(checked)

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def tdmq(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self._tdmq]

    def _notify(self, job: Job) -> list[Delivery]:
        queue = self._queue(job.bucket, job.region, job.kind, job.queue_id)
        if queue is None:
            return []
        notify: Mapping[str, Any] = queue.notify
        events = [e.strip() for e in str(notify.get("Event") or "").split(",")]
        if notify.get("State") != "On" or "TaskFinish" not in events:
            return []
        body: dict[str, Any] = {"EventName": "TaskFinish", "JobsDetail": job.detail()}
        common: dict[str, Any] = {
            "time": time_text(self.clock()),
            "job_id": job.job_id,
            "bucket": job.bucket,
            "region": job.region,
            "kind": job.kind,
            "queue_id": job.queue_id,
        }
        if notify.get("Type") == "TDMQ":
            target = f"{notify.get('MqMode') or 'Queue'}/{notify.get('MqRegion')}/{notify.get('MqName')}"
            with self._lock:
                self._tdmq.append(
                    {
                        "time": common["time"],
                        "mq_mode": notify.get("MqMode"),
                        "mq_region": notify.get("MqRegion"),
                        "mq_name": notify.get("MqName"),
                        "message": body,
                    }
                )
            delivery = Delivery(**common, type="TDMQ", target=target, status=DELIVERED)
        else:
            delivery = self._post(
                common, str(notify.get("Url") or ""), str(notify.get("ResultFormat") or ""), body
            )
        self._record(delivery)
        return [delivery]

    def _post(self, common: dict[str, Any], url: str, result_format: str, body: dict[str, Any]) -> Delivery:
        fmt = "XML" if result_format.upper() == "XML" else "JSON"
        shown = redact_url(url)  # the query may carry a token: recorded redacted
        record = Delivery(**common, type="Url", target=shown, status=FAILED, format=fmt)
        parts = urlsplit(url)
        target = url
        base = self.redirects.get((parts.hostname or "").lower())
        if base is not None:
            target = base + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            record.delivered_to = base
        try:
            check_callback_url(target, "NotifyConfig.Url", allow_private=self.allow_private_callbacks)
        except InvalidInput as exc:
            record.status, record.error = REFUSED, str(exc)
            return record
        if base is None and not self.external and not _is_private(target):
            record.status = SKIPPED
            record.error = 'external delivery is off (POST /_emulator/callbacks/config {"external": true})'
            return record
        if fmt == "XML":
            data, content_type = render_xml("Response", body), "application/xml"
        else:
            data, content_type = json.dumps(body).encode(), "application/json"
        try:
            response = self._session.post(
                target,
                data=data,
                headers={"Content-Type": content_type, "User-Agent": "ci-emulator-callback"},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            record.error = type(exc).__name__
            return record
        record.http_status = response.status_code
        if 200 <= response.status_code < 300:
            record.status = DELIVERED
        else:
            record.error = f"HTTP {response.status_code}"
        return record

    def _record(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(delivery)
            except Exception:
                pass  # a broken log line must not stop job processing

    # -- lifecycle ---------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget jobs, deliveries and the TDMQ log (redirects and settings stay)."""
        with self._tick_lock, self._lock:
            self._jobs.clear()
            self._deliveries.clear()
            self._tdmq.clear()

    def start_ticker(self, interval: float) -> None:
        """Tick every ``interval`` seconds in a daemon thread until ``stop_ticker()``."""
        if self._ticker is not None:
            return
        self._stop.clear()

        def run() -> None:
            while not self._stop.wait(interval):
                self.tick()

        self._ticker = threading.Thread(target=run, name="ci-emulator-jobs", daemon=True)
        self._ticker.start()

    def stop_ticker(self) -> None:
        if self._ticker is not None:
            self._stop.set()
            self._ticker.join(timeout=5)
            self._ticker = None

    # -- admin API ---------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        name = request.path[len(ADMIN_PREFIX) :].strip("/")
        try:
            return self._dispatch(request.method, name, request)
        except InvalidInput as exc:
            return Reply.json(400, {"error": str(exc)})

    def _dispatch(self, method: str, name: str, request: Request) -> Reply:
        if (method, name) == ("POST", "jobs"):
            data = _object(request.body)
            unknown = sorted(set(data) - {"bucket", "region", "kind", "queue_id", "count", "name_prefix"})
            if unknown:
                raise InvalidInput(
                    unknown[0],
                    "is not a job field (known: bucket, region, kind, queue_id, count, name_prefix)",
                )
            jobs = self.enqueue(
                data.get("bucket", ""),
                data.get("region", ""),
                data.get("kind", ""),
                data.get("queue_id", ""),
                data.get("count", 1),
                data.get("name_prefix"),
            )
            return Reply.json(200, {"job_ids": [j.job_id for j in jobs]})
        if (method, name) == ("GET", "jobs"):
            queue_id = request.params.get("queue_id") or None
            state = request.params.get("state") or None
            if state is not None and state not in JOB_STATES:
                raise InvalidInput("state", f"must be one of {', '.join(JOB_STATES)}")
            listed = [asdict(j) for j in self.jobs(queue_id, state)]
            return Reply.json(200, {"jobs": listed, "counts": self.counts()})
        if (method, name) == ("POST", "jobs/tick"):
            return Reply.json(200, self.tick().to_dict())
        if (method, name) == ("GET", "callbacks"):
            return Reply.json(200, [d.to_dict() for d in self.deliveries()])
        if (method, name) == ("POST", "callbacks/config"):
            data = _object(request.body)
            unknown = sorted(set(data) - {"redirects", "external"})
            if unknown:
                raise InvalidInput(unknown[0], "is not a callbacks option (known: redirects, external)")
            if "external" in data:
                if not isinstance(data["external"], bool):
                    raise InvalidInput("external", "must be true or false")
                self.external = data["external"]
            redirects = data.get("redirects", {})
            if not isinstance(redirects, Mapping):
                raise InvalidInput("redirects", "must be an object {host: base_url}")
            self.set_redirects(redirects)
            return Reply.json(200, {"redirects": dict(self.redirects), "external": self.external})
        if (method, name) == ("GET", "tdmq"):
            return Reply.json(200, self.tdmq())
        return Reply.json(405, {"error": f"{method} is not allowed on {ADMIN_PREFIX}{name}"})


def _is_private(url: str) -> bool:
    try:
        return is_private_host(urlsplit(url).hostname or "")
    except ValueError:
        return False


def _object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidInput("body", "must be JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("body", "must be a JSON object")
    return data

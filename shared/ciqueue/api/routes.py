"""The authenticated HTTP API (Function URL or API Gateway): routes over the executor and the engine.

Every route needs a bearer token (or a trusted CAM identity): GETs need the ``read`` scope,
changes need ``operate``. The caller is authenticated before anything else is looked at, so an
unauthenticated call learns nothing (not even whether a route exists) and changes nothing. Bodies
are judged by ``commands.parse_command``, so HTTP, timers and events share one set of rules and
messages. Every failure is answered by ``error_response`` from ``errors.describe`` (status, code,
message, fields): a route decides no status of its own. The reference is docs/http-api.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ciqueue.api import http
from ciqueue.api.auth import ApiToken, Principal, authenticate_request
from ciqueue.api.http import (
    BadRequest,
    Forbidden,
    HttpError,
    HttpResponse,
    InternalServerError,
    NotFound,
    Router,
)
from ciqueue.app.commands import (
    Command,
    QueueRef,
    parse_command,
)
from ciqueue.ci.kinds import QueueKind, parse_kind
from ciqueue.constants import ENV_API_TOKENS, ENV_TRUST_CAM
from ciqueue.envelopes.http import HttpRequest
from ciqueue.errors import InvalidInput, PayloadTooLarge, Problem, describe, key_path
from ciqueue.jsontext import json_type_name
from ciqueue.limits import MAX_API_BODY_BYTES, MAX_HISTORY_AGE, MAX_HISTORY_CHANGES, MAX_PLAN_DAYS_HTTP
from ciqueue.records import dataclass
from ciqueue.timefmt import parse_instant

if TYPE_CHECKING:
    from ciqueue.app.runtime import Runtime
    from ciqueue.ci.models import Queue
    from ciqueue.ci.retry import Deadline
    from ciqueue.schedule.config import Config
    from ciqueue.state.document import OverrideRecord, StateDocument

log = logging.getLogger("ciqueue.api")

DEFAULT_PLAN_DAYS = 7
READ, OPERATE = "read", "operate"

QUEUE_PATH = "/queues/{bucket}/{region}/{kind}/{queue_id}"
_PATH_PARAMS = ("bucket", "region", "kind", "queue_id")
_TOGGLE_FIELDS = ("reason", "until", "for", "dry_run", "id")


class InvalidRequest(BadRequest):
    """400 for bad input, with the code ``InvalidInput`` (the library's name for it)."""

    code = InvalidInput.code


class Misconfigured(InternalServerError):
    """500: the function's own settings are broken (token list, config file, state location)."""

    code = "Misconfigured"


@dataclass(frozen=True)
class Call:
    """One authenticated call as a route handler sees it."""

    request: HttpRequest
    principal: Principal
    deadline: Deadline | None

    @property
    def actor(self) -> str:
        """The audit name of the caller: ``token:<name>`` or ``cam:<identity>``."""
        return f"token:{self.principal.name}" if self.principal.via == "token" else self.principal.name


RuntimeSource = Callable[[], "Runtime"]


class HttpApi:
    """The route table bound to a runtime. ``handle(request)`` never raises."""

    def __init__(
        self,
        runtime: Runtime | RuntimeSource,
        tokens: Sequence[ApiToken],
        *,
        trust_cam: bool = False,
    ) -> None:
        # A factory keeps a call that fails authentication from building clients or reading state.
        self._runtime_source = runtime if callable(runtime) else (lambda: runtime)
        self._runtime: Runtime | None = None
        self.tokens = list(tokens)
        self.trust_cam = trust_cam
        self.router = Router()
        self.scopes: dict[tuple[str, str], str] = {}
        self._add("GET", "/health", READ, self.health)
        self._add("GET", "/queues", READ, self.list_queues)
        self._add("GET", QUEUE_PATH, READ, self.show_queue)
        self._add("POST", QUEUE_PATH + "/pause", OPERATE, self.pause)
        self._add("POST", QUEUE_PATH + "/resume", OPERATE, self.resume)
        self._add("POST", QUEUE_PATH + "/callback", OPERATE, self.set_callback)
        self._add("GET", "/overrides", READ, self.list_overrides)
        self._add("DELETE", "/overrides/{override_id}", OPERATE, self.cancel_override)
        self._add("GET", "/plan", READ, self.plan)
        self._add("GET", "/changes", READ, self.list_changes)

    def _add(self, method: str, pattern: str, scope: str, handler: Callable[..., Any]) -> None:
        self.router.add(method, pattern, handler)
        self.scopes[(method, pattern)] = scope

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            try:
                self._runtime = self._runtime_source()
            except InvalidInput as exc:
                # The deployment's settings are wrong, not the caller's input.
                log.error("runtime settings are invalid: %s", exc)
                raise Misconfigured(f"the function is misconfigured: {exc}") from None
        return self._runtime

    # -- dispatch -------------------------------------------------------------------------------

    def handle(self, request: HttpRequest, *, deadline: Deadline | None = None) -> HttpResponse:
        """Authenticate, route, run; every failure becomes an error response (no stack trace)."""
        try:
            return self._handle(request, deadline)
        except Exception as exc:
            return error_response(exc, request)

    def _handle(self, request: HttpRequest, deadline: Deadline | None) -> HttpResponse:
        try:
            route, params = self.router.match(request.method, request.path)
        except HttpError as routing_error:
            # Who is asking comes first: an unknown caller gets 401, not a map of the routes.
            self._identify(request)
            raise routing_error from None
        scope = self.scopes[(route.method, route.pattern)]
        principal = authenticate_request(request, self.tokens, scope, trust_cam=self.trust_cam)
        result = route.handler(Call(request, principal, deadline), **params)
        return result if isinstance(result, HttpResponse) else HttpResponse(200, result)

    def _identify(self, request: HttpRequest) -> Principal:
        """The caller whatever its scopes (401 when unknown)."""
        try:
            return authenticate_request(request, self.tokens, READ, trust_cam=self.trust_cam)
        except Forbidden:
            return authenticate_request(request, self.tokens, OPERATE, trust_cam=self.trust_cam)

    # -- routes ---------------------------------------------------------------------------------

    def health(self, call: Call) -> dict[str, Any]:
        _no_query(call.request)
        runtime = self.runtime
        return {
            "status": "ok",
            "caller": call.actor,
            "scopes": sorted(call.principal.scopes),
            "configured": runtime.config is not None,
            "time": runtime.clock().isoformat(),
        }

    def list_queues(self, call: Call) -> dict[str, Any]:
        query = _query(call.request, ("bucket", "region", "kind"))
        runtime = self.runtime
        scopes = self._listing_scopes(query, runtime.config)
        doc = _load_state(runtime)
        now = runtime.clock()
        found: list[tuple[QueueRef, Queue]] = []
        for bucket, region, kind in scopes:
            # Media queues come in categories; CI lists only Transcoding unless asked for all.
            category = "CateAll" if kind == "media" else None
            listing = runtime.client_for(bucket, region).list_queues(
                kind, deadline=call.deadline, category=category
            )
            for queue in listing.queues:
                ref = QueueRef(bucket, region, QueueKind(kind), queue.queue_id or "")
                found.append((ref, queue))
        # One status call for the whole listing: queues sharing target groups share the plan.
        statuses = queue_status_dicts(found, runtime.config, doc, now)
        queues = [
            queue_view(ref, queue, runtime.config, doc, now, status)
            for (ref, queue), status in zip(found, statuses, strict=True)
        ]
        return {"queues": queues, "count": len(queues), "time": now.isoformat()}

    def show_queue(self, call: Call, bucket: str, region: str, kind: str, queue_id: str) -> dict[str, Any]:
        _no_query(call.request)
        ref = queue_ref(bucket, region, kind, queue_id)
        runtime = self.runtime
        queue, _ = runtime.client_for(ref.bucket, ref.region).get_queue(
            ref.kind, ref.queue_id, deadline=call.deadline
        )
        return queue_view(ref, queue, runtime.config, _load_state(runtime), runtime.clock())

    def pause(self, call: Call, bucket: str, region: str, kind: str, queue_id: str) -> HttpResponse:
        return self._toggle(call, "pause", queue_ref(bucket, region, kind, queue_id))

    def resume(self, call: Call, bucket: str, region: str, kind: str, queue_id: str) -> HttpResponse:
        return self._toggle(call, "resume", queue_ref(bucket, region, kind, queue_id))

    def _toggle(self, call: Call, action: str, ref: QueueRef) -> HttpResponse:
        _no_query(call.request)
        body = json_object(call.request)
        problems = [
            Problem(key_path("", key), f"is not a known field (known: {', '.join(_TOGGLE_FIELDS)})")
            for key in body
            if key not in _TOGGLE_FIELDS
        ]
        dry_run = body.pop("dry_run", False)
        if not isinstance(dry_run, bool):
            problems.append(Problem("dry_run", f"must be true or false (got {json_type_name(dry_run)})"))
        if problems:
            raise InvalidRequest(problems[0].field, problems[0].rule, problems)
        fields = {k: v for k, v in body.items() if k in _TOGGLE_FIELDS}
        command = _parse({"action": action, "queues": [ref.to_dict()], **fields})
        return self._execute(call, command, dry_run=dry_run)

    def set_callback(self, call: Call, bucket: str, region: str, kind: str, queue_id: str) -> HttpResponse:
        query = _query(call.request, ("dry_run",))
        dry_run = _bool_param(query, "dry_run")
        ref = queue_ref(bucket, region, kind, queue_id)
        body = json_object(call.request)
        if not body:
            raise InvalidRequest("body", 'is required: a callback object such as {"state": "Off"}')
        command = _parse(
            {"action": "set_callback", "queues": [ref.to_dict()], "callback": body},
            strip="callback.",
            allow_private=self.runtime.allow_private,
        )
        return self._execute(call, command, dry_run=dry_run)

    def list_overrides(self, call: Call) -> dict[str, Any]:
        _no_query(call.request)
        runtime = self.runtime
        now = runtime.clock()
        active = [o for o in _load_state(runtime).overrides if o.active_at(now)]
        return {"overrides": [override_dict(o) for o in active], "time": now.isoformat()}

    def cancel_override(self, call: Call, override_id: str) -> HttpResponse:
        _no_query(call.request)
        if call.request.body.strip():
            raise InvalidRequest("body", "must be empty for DELETE")
        command = _parse({"action": "cancel_override", "override_id": override_id})
        return self._execute(call, command, dry_run=False)

    def list_changes(self, call: Call) -> dict[str, Any]:
        """The recent changes the state document keeps, newest first (``?queue=KEY&limit=N``)."""
        from ciqueue.state.document import recent_changes

        query = _query(call.request, ("queue", "limit"))
        queue = _queue_key_param(query["queue"]) if "queue" in query else None
        limit = _limit_param(query)
        runtime = self.runtime
        now = runtime.clock()
        found = recent_changes(_load_state(runtime), queue=queue, limit=limit)
        return {
            "changes": [change.model_dump(mode="json") for change in found],
            "kept": {"changes": MAX_HISTORY_CHANGES, "days": MAX_HISTORY_AGE.days},
            "time": now.isoformat(),
        }

    def plan(self, call: Call) -> dict[str, Any]:
        from ciqueue.schedule.plan import plan as plan_transitions

        query = _query(call.request, ("days", "from"))
        days = _days_param(query)
        runtime = self.runtime
        start = _time_param(query, "from") or runtime.clock()
        if runtime.config is None:
            raise NotFound(
                "no schedule config is deployed (set CIQUEUE_CONFIG)", field="config", code="NoConfig"
            )
        overrides = _load_state(runtime).engine_overrides()
        transitions = plan_transitions(runtime.config, start, days, overrides=overrides)
        return {
            "from": start.isoformat(),
            "until": (start + timedelta(days=days)).isoformat(),
            "days": days,
            "transitions": [t.to_dict() for t in transitions],
        }

    # -- helpers --------------------------------------------------------------------------------

    def _execute(self, call: Call, command: Command, *, dry_run: bool) -> HttpResponse:
        from ciqueue.app import executor

        outcome = executor.execute(
            command, self.runtime, actor=call.actor, deadline=call.deadline, dry_run=dry_run
        )
        body = outcome.to_dict()
        if not outcome.ok and isinstance(body.get("error"), dict):
            # As in every error answer: request_id names this call, CI's id is ci_request_id.
            body["error"] = http.error_body_of(body["error"], call.request.request_id)["error"]
        return HttpResponse(outcome.status, body)

    def _listing_scopes(self, query: Mapping[str, str], config: Config | None) -> list[tuple[str, str, str]]:
        """(bucket, region, kind) to list: the query's, else every target group's of the config."""
        bucket, region, kind = query.get("bucket"), query.get("region"), query.get("kind")
        if bucket is not None or region is not None:
            if bucket is None or region is None:
                missing = "bucket" if bucket is None else "region"
                raise InvalidRequest(missing, "is required together with bucket and region")
            # Any valid id will do: only the bucket, region and kind rules are judged here.
            ref = queue_ref(bucket, region, kind or "pic", "p" + "0" * 32)
            return [(ref.bucket, ref.region, ref.kind.value)]
        if config is None or not config.targets:
            raise InvalidRequest("bucket", "is required (no schedule config names target groups to list)")
        wanted = _kind_param(kind) if kind is not None else None
        found: list[tuple[str, str, str]] = []
        for target in config.targets.values():
            triple = (target.bucket, target.region, target.kind)
            if triple not in found and (wanted is None or target.kind == wanted):
                found.append(triple)
        return found


def api_from_env(environ: Mapping[str, str] | None = None) -> HttpApi:
    """The API as a deployed function runs it: tokens and CAM trust from the environment,
    the Runtime built from it on first use. Misconfigured (500) when a setting is invalid."""
    from ciqueue.api.auth import load_tokens
    from ciqueue.app.runtime import Runtime

    env = os.environ if environ is None else environ
    try:
        tokens = load_tokens(env)
        trust_cam = env_flag(env, ENV_TRUST_CAM)
    except InvalidInput as exc:
        log.error("API settings are invalid: %s", exc)
        raise Misconfigured(f"the function is misconfigured: {exc}") from None
    if not tokens and not trust_cam:
        log.warning("%s holds no token: every call will be refused (401)", ENV_API_TOKENS)
    return HttpApi(lambda: Runtime.from_env(env), tokens, trust_cam=trust_cam)


def env_flag(env: Mapping[str, str], name: str) -> bool:
    """A yes/no setting: true/1/yes or false/0/no/empty (any case); InvalidInput otherwise."""
    value = env.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise InvalidInput(name, "must be true or false")


# --- views ---------------------------------------------------------------------------------------


def queue_status_dicts(
    queues: Sequence[tuple[QueueRef, Queue]], config: Config | None, doc: StateDocument, now: datetime
) -> list[dict[str, Any]]:
    """``app.status.queue_statuses`` of the queues read, as JSON-ready dicts (the view's ``status``)."""
    from ciqueue.app.status import queue_statuses
    from ciqueue.schedule.engine import ObservedQueue

    observed = [
        ObservedQueue(r.bucket, r.region, r.kind.value, r.queue_id, q.name, q.state, q.notify_config)
        for r, q in queues
    ]
    statuses = queue_statuses(config, observed, doc.engine_overrides(), doc.engine_last_applied(), now)
    return [s.to_dict() for s in statuses]


def queue_view(
    ref: QueueRef,
    queue: Queue,
    config: Config | None,
    doc: StateDocument,
    now: datetime,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A queue as CI holds it, the active overrides on it, what the schedule wants of it and its
    ``status`` (state, why, until, next change: ``app.status``, as ``ciqueue status`` shows it)."""
    from ciqueue.ci.operations import queue_to_dict

    key = ref.key()
    mine = [o for o in doc.overrides if o.key == key and o.active_at(now)]
    if status is None:
        (status,) = queue_status_dicts([(ref, queue)], config, doc, now)
    return {
        "key": key,
        "bucket": ref.bucket,
        "region": ref.region,
        "kind": ref.kind.value,
        "queue_id": ref.queue_id,
        "queue": queue_to_dict(queue),
        "overrides": [override_dict(o) for o in mine],
        "schedule": schedule_view(ref, queue, config, doc, mine, now),
        "status": status,
    }


def schedule_view(
    ref: QueueRef,
    queue: Queue,
    config: Config | None,
    doc: StateDocument,
    overrides: Sequence[OverrideRecord],
    now: datetime,
) -> dict[str, Any]:
    """Which groups, windows and rotation cover the queue, the state wanted now and the next edge."""
    from ciqueue.schedule import engine
    from ciqueue.schedule.config import match_targets
    from ciqueue.schedule.load import parse_config

    schedule = config if config is not None else parse_config({"version": 1}, now=now)
    groups = match_targets(schedule, ref.bucket, ref.region, ref.kind.value, ref.queue_id, queue.name)
    pins = [o.to_engine() for o in overrides]
    desired = engine.desired_state_at(schedule, groups, now, pins)
    rotations = schedule.rotations_for(groups)
    callback = None
    if len(rotations) == 1:
        chosen = engine.desired_callback_at(rotations[0], now)
        callback = {
            "rotation": rotations[0].name,
            "index": chosen.index,
            "notify_config": _shown_notify(chosen.fields),
            "because": chosen.because,
            "next_edge_at": _iso(chosen.next_edge_at),
        }
    observed = engine.ObservedQueue(
        ref.bucket, ref.region, ref.kind.value, ref.queue_id, queue.name, queue.state, queue.notify_config
    )
    # Only this queue's record: converting every record for each queue of a listing made it
    # quadratic in the fleet.
    last_applied = doc.engine_last_applied([ref.key()]) if groups else {}
    decisions = engine.decide(schedule, now, [observed], pins, last_applied) if groups else []
    return {
        "configured": config is not None,
        "targets": groups,
        "windows": [w.name for w in schedule.windows_for(groups)],
        "rotations": [r.name for r in rotations],
        "desired_state": None
        if desired is None
        else {
            "state": desired.state,
            "source": desired.source,
            "source_type": desired.source_type,
            "because": desired.because,
            "enforced": desired.enforced,
            "edge_at": _iso(desired.edge_at),
            "next_edge_at": _iso(desired.next_edge_at),
        },
        "callback": callback,
        "next_tick": [d.to_dict() for d in decisions],
    }


def _shown_notify(fields: dict[str, str] | None) -> dict[str, str] | None:
    """NotifyConfig fields as callers see them: the callback URL redacted (netguard's rule)."""
    from ciqueue.ci.netguard import redact_url

    if fields is None or "Url" not in fields:
        return fields
    return {**fields, "Url": redact_url(fields["Url"])}


def override_dict(override: OverrideRecord) -> dict[str, Any]:
    data = override.model_dump(mode="json")
    data["key"] = override.key
    return data


def error_response(exc: BaseException, request: HttpRequest) -> HttpResponse:
    """The error answer for ``exc`` (``errors.describe``); an unexpected one is logged with its
    trace and answered as a bare 500 (its text may quote data, so it stays out of the answer)."""
    if not describe(exc).expected:
        log.error(
            "unhandled %s on %s %s request_id=%s",
            type(exc).__name__,
            request.method,
            request.path,
            request.request_id or "-",
            exc_info=exc,
        )
    return http.error_response(exc, request.request_id)


# --- input ---------------------------------------------------------------------------------------


def queue_ref(bucket: str, region: str, kind: str, queue_id: str) -> QueueRef:
    """A queue from the path parameters; 400 naming the parameter when one breaks its rule."""
    fields = dict(zip(_PATH_PARAMS, (bucket, region, kind, queue_id), strict=True))
    try:
        command = parse_command({"action": "reconcile", "queues": [fields]})
    except InvalidInput as exc:
        problems = [Problem(p.field.removeprefix("queues[0]."), p.rule) for p in exc.problems]
        raise InvalidRequest(problems[0].field, problems[0].rule, problems) from None
    return command.queues[0]


def json_object(request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object (empty body: ``{}``); 413 when too big, 400 when not an object."""
    size = len(request.body)
    if size > MAX_API_BODY_BYTES:
        raise PayloadTooLarge("body", MAX_API_BODY_BYTES, size)
    value = request.json_body("body")
    if not isinstance(value, dict):
        raise InvalidRequest("body", f"must be a JSON object (got {json_type_name(value)})")
    return value


def _parse(data: Mapping[str, Any], strip: str = "", *, allow_private: bool = False) -> Command:
    try:
        return parse_command(data, allow_private=allow_private)
    except InvalidInput as exc:
        problems = [Problem(p.field.removeprefix(strip) if strip else p.field, p.rule) for p in exc.problems]
        raise InvalidRequest(problems[0].field, problems[0].rule, problems) from None


def _query(request: HttpRequest, known: Sequence[str]) -> dict[str, str]:
    unknown = [k for k in request.query if k not in known]
    if unknown:
        allowed = ", ".join(known) if known else "none"
        raise InvalidRequest(f"query.{unknown[0]}", f"is not a known parameter (known: {allowed})")
    return dict(request.query)


def _no_query(request: HttpRequest) -> None:
    _query(request, ())


def _bool_param(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name)
    if value is None or value.lower() in ("false", "0", ""):
        return False
    if value.lower() in ("true", "1"):
        return True
    raise InvalidRequest(f"query.{name}", f"must be true or false (got {value[:16]!r})")


def _kind_param(text: str) -> str:
    try:
        return parse_kind(text, "query.kind").value
    except InvalidInput as exc:
        raise InvalidRequest(exc.field, exc.rule, exc.problems) from None


def _queue_key_param(text: str) -> str:
    """A queue key ``bucket/region/kind/queue_id`` from the query; 400 naming the broken part."""
    parts = text.split("/")
    if len(parts) != 4:
        raise InvalidRequest("query.queue", f"must be bucket/region/kind/queue_id (got {text[:80]!r})")
    try:
        return queue_ref(*parts).key()
    except InvalidRequest as exc:
        first = exc.problems[0]
        raise InvalidRequest("query.queue", f"{first.field}: {first.rule}") from None


def _limit_param(query: Mapping[str, str]) -> int:
    text = query.get("limit")
    if text is None:
        return MAX_HISTORY_CHANGES
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_HISTORY_CHANGES):
        raise InvalidRequest(
            "query.limit", f"must be a whole number from 1 to {MAX_HISTORY_CHANGES} (got {text[:16]!r})"
        )
    return int(text)


def _days_param(query: Mapping[str, str]) -> float:
    text = query.get("days")
    if text is None:
        return DEFAULT_PLAN_DAYS
    rule = f"must be a number of days greater than 0 and at most {MAX_PLAN_DAYS_HTTP}"
    try:
        days = float(text)
    except ValueError:
        raise InvalidRequest("query.days", f"{rule} (got {text[:16]!r})") from None
    if not 0 < days <= MAX_PLAN_DAYS_HTTP:  # also refuses nan
        raise InvalidRequest("query.days", f"{rule} (got {text[:16]!r})")
    return days


def _time_param(query: Mapping[str, str], name: str) -> datetime | None:
    text = query.get(name)
    if text is None:
        return None
    rule = "must be an ISO 8601 time with an offset, like 2025-06-01T08:00:00+08:00"
    try:
        moment = parse_instant(text)
    except ValueError:
        raise InvalidRequest(f"query.{name}", f"{rule} (got {text[:40]!r})") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidRequest(f"query.{name}", f"{rule} (got {text[:40]!r})")
    return moment


def _load_state(runtime: Runtime) -> StateDocument:
    doc, _ = runtime.state.load()
    return doc


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None

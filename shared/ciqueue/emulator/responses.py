"""Request in, reply out: ``CIResponses`` has one method per CI action, ``AdminResponses`` serves
``/_emulator/``. Bodies are rendered with ``ciqueue.ci.models``; every CI reply carries
``x-ci-request-id`` (equal to ``<RequestId>``), ``Server: tencent-ci`` and ``application/xml``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from ciqueue.ci import models
from ciqueue.ci.identifiers import bucket_problem, region_problem
from ciqueue.ci.kinds import KIND_SPECS, QueueKind, parse_kind
from ciqueue.ci.xmlcodec import parse_root, render_xml
from ciqueue.constants import HEADER_REQUEST_ID, HEADER_TRACE_ID
from ciqueue.emulator.faults import Faults, RequestLog
from ciqueue.emulator.models import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    ApiError,
    EmulatorModel,
    QueueRecord,
    time_text,
)
from ciqueue.emulator.routing import (
    ADMIN_PREFIX,
    BucketHost,
    NoRoute,
    Route,
    parse_host,
    parse_service_host,
    route,
    route_service,
)
from ciqueue.errors import InvalidInput
from ciqueue.limits import MAX_QUEUE_IDS_PER_REQUEST
from ciqueue.records import dataclass, field

XML = "application/xml"
# Accepted `state` filter values: CI's two, plus what the Python SDK sends by default.
STATE_FILTERS = {"": None, "All": None, "Active": "Active", "Paused": "Paused"}
# Media's `category` filter: all, or one of the categories its queues carry (the kinds table).
MEDIA_CATEGORIES = ("CateAll", *KIND_SPECS[QueueKind.MEDIA].categories)


@dataclass
class Request:
    """One HTTP request: decoded path and query parameters, lower-case header names."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""

    @property
    def host(self) -> str:
        return self.headers.get("host", "")


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def xml(cls, status: int, body: bytes, request_id: str, trace_id: str | None = None) -> Reply:
        headers = {"Content-Type": XML, HEADER_REQUEST_ID: request_id}
        if trace_id is not None:
            headers[HEADER_TRACE_ID] = trace_id
        return cls(status, body, headers)

    @classmethod
    def json(cls, status: int, data: Any) -> Reply:
        body = json.dumps(data, ensure_ascii=False, indent=1).encode()
        return cls(status, body, {"Content-Type": "application/json"})


@dataclass
class Call:
    """A CI request being answered: where it goes and the id it is answered under."""

    request: Request
    request_id: str
    target: BucketHost | None = None
    service_region: str | None = None  # set instead of ``target`` on ci.<Region>.myqcloud.com
    route: Route | None = None


class CIResponses:
    """The CI side: faults, Host, signature, route, then one method per action."""

    def __init__(
        self,
        model: EmulatorModel,
        faults: Faults,
        log: RequestLog,
        allow_private_callbacks: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = model
        self.faults = faults
        self.log = log
        self.allow_private_callbacks = allow_private_callbacks
        self.sleep = sleep

    def handle(self, request: Request) -> Reply | None:
        """The reply, or None to drop the connection without one (an injected fault)."""
        received_at = time.time()
        call = Call(request, self.model.new_request_id())
        logged_params = dict(request.params)
        decision = self.faults.decide()
        if decision.latency_ms:
            self.sleep(decision.latency_ms / 1000)
        if decision.drop:
            self.log.add(
                request.method,
                request.path,
                logged_params,
                request.host,
                None,
                "DroppedConnection",
                received_at=received_at,
            )
            return None
        try:
            if decision.status is not None:
                raise ApiError(decision.status, decision.code or "InternalError", "injected fault")
            reply = self._answer(call)
            code = None
        except ApiError as exc:
            reply = self._error(call, exc)
            code = exc.code
        except Exception as exc:  # an emulator bug: answer like CI would rather than drop the line
            reply = self._error(
                call, ApiError(500, "InternalError", f"emulator failure ({type(exc).__name__})")
            )
            code = "InternalError"
        self.log.add(
            request.method,
            request.path,
            logged_params,
            request.host,
            reply.status,
            code,
            call.request_id,
            received_at=received_at,
        )
        return reply

    def _answer(self, call: Call) -> Reply:
        request = call.request
        call.target = parse_host(request.host)
        if call.target is None:
            call.service_region = parse_service_host(request.host)
        if call.target is None and call.service_region is None:
            raise ApiError(
                400,
                "InvalidHost",
                "Host must be <BucketName-APPID>.ci.<Region>.myqcloud.com (or ci.<Region>.myqcloud.com "
                "for bucket listings)",
            )
        self.model.authenticate(request.method, request.path, request.params, request.headers)
        try:
            if call.target is not None:
                call.route = route(request.method, request.path)
            else:
                call.route = route_service(request.method, request.path)
        except NoRoute as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None
        action: Callable[[Call], Reply] = getattr(self, call.route.action)
        return action(call)

    def _error(self, call: Call, exc: ApiError) -> Reply:
        """CI's error document: Code, Message, RequestId, TraceId (ERR-CI). ``Resource`` is COS's
        (cos_objects answers the state object's errors with it); the official Python SDK needs it to
        read an error, so it reads none of CI's, as against the real service."""
        trace_id = self.model.new_trace_id(call.request_id)
        body = models.render_error(
            models.ErrorBody(
                code=exc.code,
                message=exc.message,
                request_id=call.request_id,
                trace_id=trace_id,
            )
        )
        return Reply.xml(exc.status, body, call.request_id, trace_id)

    # -- actions -----------------------------------------------------------------------------------

    def describe_queues(self, call: Call) -> Reply:
        """GET /<kind queue path>: a page of queues, or the queues named in ``queueIds``."""
        assert call.target is not None and call.route is not None
        kind = call.route.kind
        params = call.request.params
        state = _state_filter(params.get("state", ""))
        page_number = _positive(params.get("pageNumber", ""), "pageNumber", 1, None)
        page_size = _positive(params.get("pageSize", ""), "pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        category = params.get("category", "")
        if kind is QueueKind.MEDIA and category and category not in MEDIA_CATEGORIES:
            raise _invalid("category", f"must be one of {', '.join(MEDIA_CATEGORIES)} (got {category!r})")
        ids = [i.strip() for i in params.get("queueIds", "").split(",") if i.strip()]
        if len(ids) > MAX_QUEUE_IDS_PER_REQUEST:
            raise _invalid(
                "queueIds", f"must name at most {MAX_QUEUE_IDS_PER_REQUEST} queues (got {len(ids)})"
            )
        if ids:
            named = list(dict.fromkeys(ids))
            by_id = self.model.queues_by_id(call.target.bucket, call.target.region, kind, named)
            found = [by_id[i] for i in named if i in by_id]
            missing = [i for i in named if i not in by_id]
            result = models.DescribeResult(
                request_id=call.request_id,
                queues=[_queue_model(q) for q in found if state is None or q.state == state],
                non_exist_pids=missing,
            )
        else:
            queues = self.model.queues(call.target.bucket, call.target.region, kind)
            if kind is QueueKind.MEDIA and category != "CateAll":
                wanted = category or KIND_SPECS[QueueKind.MEDIA].category
                queues = [q for q in queues if q.category == wanted]
            if state is not None:
                queues = [q for q in queues if q.state == state]
            cap = self.model.page_size_cap
            page_size = min(page_size, cap) if cap is not None else page_size
            start = (page_number - 1) * page_size
            result = models.DescribeResult(
                request_id=call.request_id,
                total_count=len(queues),
                page_number=page_number,
                page_size=page_size,
                queues=[_queue_model(q) for q in queues[start : start + page_size]],
            )
        body = models.render_describe(result, self.model.non_exist_shape)
        return Reply.xml(200, body, call.request_id)

    def update_queue(self, call: Call) -> Reply:
        """PUT /<kind queue path>/<id>: replace Name, State, NotifyConfig and the extras."""
        assert call.target is not None and call.route is not None and call.route.queue_id is not None
        bucket, region = call.target.bucket, call.target.region
        kind, queue_id = call.route.kind, call.route.queue_id
        with self.model.lock:
            stored = self.model.queue(bucket, region, kind, queue_id)
            if stored is None:
                raise ApiError(404, "QueueNotFound", f"queue {queue_id} does not exist")
            update = _without_undocumented_result_format(self._read_update(call.request.body, queue_id), kind)
            try:
                models.check_update(
                    update,
                    kind=kind,
                    unchanged_from=_queue_model(stored),
                    allow_private=self.allow_private_callbacks,
                )
            except InvalidInput as exc:
                raise ApiError(400, "InvalidArgument", str(exc)) from None
            written = update.to_xml_dict()
            if not KIND_SPECS[kind].result_format and isinstance(written.get("NotifyConfig"), dict):
                written["NotifyConfig"].pop("ResultFormat", None)  # taken, kept none (see below)
            updated = self.model.replace_config(
                bucket,
                region,
                kind,
                queue_id,
                name=update.name or "",
                state=update.state or "",
                notify=written.get("NotifyConfig") or {},
                extra=dict(update.extra),
            )
            mutation = self.faults.take_mutation(queue_id)
            if mutation is not None:
                # Another operator changes the queue right after our PUT; the reply shows our write.
                try:
                    self.model.patch_queue(bucket, region, kind, queue_id, mutation.set)
                except InvalidInput:
                    pass  # refused like an admin PATCH would be; the PUT itself stands
        result = models.UpdateResult(request_id=call.request_id, queue=_queue_model(updated))
        return Reply.xml(200, models.render_update_response(result), call.request_id)

    def activate_bucket(self, call: Call) -> Reply:
        """POST /picbucket (and the other kinds'): activate and create the default queue."""
        assert call.target is not None and call.route is not None
        kind = call.route.kind
        record = self.model.activate(call.target.bucket, call.target.region, kind)
        body = render_xml(
            "Response",
            {
                "RequestId": call.request_id,
                KIND_SPECS[kind].bucket_element: {
                    "BucketId": record.bucket,
                    "Name": record.bucket,
                    "Region": record.region,
                    "CreateTime": record.kinds[kind],
                },
            },
        )
        return Reply.xml(200, body, call.request_id)

    def close_bucket(self, call: Call) -> Reply:
        """DELETE /picbucket (and the kinds that document it): close the kind, delete its queues."""
        assert call.target is not None and call.route is not None
        self.model.close_kind(call.target.bucket, call.target.region, call.route.kind)
        body = render_xml("Response", {"RequestId": call.request_id, "BucketName": call.target.bucket})
        return Reply.xml(200, body, call.request_id)

    def list_buckets(self, call: Call) -> Reply:
        """GET /picbucket (and siblings) on ci.<Region>.myqcloud.com: a page of activated buckets.

        ``regions`` (comma list; empty or ``All``: every region), ``bucketNames`` (comma list,
        exact) and ``bucketName`` (prefix) narrow the list together; ``pageSize`` is 1-100.
        """
        assert call.route is not None
        params = call.request.params
        page_number = _positive(params.get("pageNumber", ""), "pageNumber", 1, None)
        page_size = _positive(params.get("pageSize", ""), "pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        regions = _comma_list(params.get("regions", ""))
        bad_region = next((r for r in regions if r != "All" and region_problem(r)), None)
        if bad_region is not None:
            raise _invalid(
                "regions",
                f"must be All or regions such as ap-guangzhou, comma-separated (got {bad_region!r})",
            )
        names = _comma_list(params.get("bucketNames", ""))
        bad_name = next((n for n in names if bucket_problem(n)), None)
        if bad_name is not None:
            raise _invalid(
                "bucketNames", f"must be buckets <name>-<appid>, comma-separated (got {bad_name!r})"
            )
        found = self.model.activated_buckets(
            call.route.kind,
            regions=None if not regions or "All" in regions else frozenset(regions),
            names=frozenset(names) if names else None,
            prefix=params.get("bucketName", ""),
        )
        cap = self.model.page_size_cap
        page_size = min(page_size, cap) if cap is not None else page_size
        start = (page_number - 1) * page_size
        result = models.BucketListResult(
            request_id=call.request_id,
            total_count=len(found),
            page_number=page_number,
            page_size=page_size,
            buckets=[
                models.ActivatedBucket(
                    bucket_id=b.bucket, name=b.bucket, region=b.region, create_time=b.create_time
                )
                for b in found[start : start + page_size]
            ],
        )
        body = models.render_bucket_list(result, KIND_SPECS[call.route.kind].bucket_list_element)
        return Reply.xml(200, body, call.request_id)

    @staticmethod
    def _read_update(body: bytes, queue_id: str) -> models.QueueUpdate:
        if not body.strip():
            raise ApiError(400, "MissingContent", "the request body is empty; a <Request> was expected")
        try:
            raw = parse_root(body, "Request", "Request", source="request")
        except InvalidInput as exc:
            raise ApiError(400, "MalformedXML", str(exc)) from None
        try:
            # What models.parse_update_request does, without parsing the body a second time.
            update = models.QueueUpdate.from_xml_dict(raw, source="request", what="Request")
        except InvalidInput as exc:
            raise ApiError(400, "InvalidArgument", str(exc)) from None
        read_only = [k for k in raw if k in models.READ_ONLY_ELEMENTS and k not in ("QueueID", "QueueId")]
        if read_only:
            raise _invalid(read_only[0], "is read-only and must not be sent in an update")
        # Whether the kind needs a QueueID is the kinds table's rule (check_update judges it).
        if update.queue_id is not None and update.queue_id != queue_id:
            raise _invalid("QueueID", f"must equal the queue id in the path ({queue_id})")
        return update


class AdminResponses:
    """``/_emulator/``: JSON in and out, no signature. Errors: ``{"error": "..."}`` with 400/404."""

    def __init__(self, model: EmulatorModel, faults: Faults, log: RequestLog) -> None:
        self.model = model
        self.faults = faults
        self.log = log

    def handle(self, request: Request) -> Reply:
        name = request.path[len(ADMIN_PREFIX) :].strip("/")
        try:
            data = _json_body(request.body)
            return self._dispatch(request.method, name, data)
        except InvalidInput as exc:
            return Reply.json(400, {"error": str(exc)})
        except ApiError as exc:
            return Reply.json(exc.status, {"error": exc.message, "code": exc.code})
        except Exception as exc:  # an emulator bug: say so in JSON rather than drop the line
            return Reply.json(500, {"error": f"emulator failure ({type(exc).__name__})"})

    def _dispatch(self, method: str, name: str, data: Any) -> Reply:
        ok = Reply.json(200, {"ok": True})
        if (method, name) == ("POST", "reset"):
            # Everything but the keys: buckets, queues, options, faults and the request log.
            self.model.reset()
            self.faults.clear()
            self.log.clear()
            return ok
        if (method, name) == ("POST", "seed"):
            return Reply.json(200, {"ok": True, **self.model.seed(_object(data, "seed"))})
        if (method, name) == ("GET", "state"):
            return Reply.json(200, self.model.state())
        if name == "requests" and method in ("GET", "DELETE"):
            if method == "DELETE":
                self.log.clear()
                return ok
            return Reply.json(200, self.log.entries())
        if (method, name) == ("GET", "requests/counts"):
            return Reply.json(200, self.log.counts())
        if name == "faults" and method in ("GET", "POST", "DELETE"):
            if method == "POST":
                self.faults.configure(_object(data, "faults"))
            elif method == "DELETE":
                self.faults.clear()
            return Reply.json(200, self.faults.snapshot())
        if (method, name) == ("POST", "config"):
            self.model.set_options(_object(data, "config"))
            return Reply.json(
                200,
                {"non_exist_pids": self.model.non_exist_shape, "page_size_cap": self.model.page_size_cap},
            )
        if name.startswith("queues/") and method == "PATCH":
            parts = name.split("/")
            if len(parts) != 4:
                raise ApiError(404, "NotFound", "use PATCH /_emulator/queues/<bucket>/<kind>/<queue_id>")
            _, bucket, kind_name, queue_id = parts
            kind = parse_kind(kind_name, "kind")
            found = self.model.find_queue(bucket, kind, queue_id)
            if found is None:
                raise ApiError(404, "QueueNotFound", f"no {kind.value} queue {queue_id} in bucket {bucket}")
            updated = self.model.patch_queue(bucket, found[0], kind, queue_id, _object(data, "patch"))
            return Reply.json(200, {"kind": kind.value, **updated.to_xml_dict()})
        raise ApiError(404, "NotFound", f"no admin action {method} {ADMIN_PREFIX}{name}")


def _queue_model(record: QueueRecord) -> models.Queue:
    return models.Queue.from_xml_dict(record.to_xml_dict(), source="response", what="stored queue")


def _invalid(param: str, rule: str) -> ApiError:
    return ApiError(400, "InvalidArgument", f"{param}: {rule}")


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _state_filter(value: str) -> str | None:
    if value not in STATE_FILTERS:
        raise _invalid("state", f"must be Active, Paused or All (got {value!r})")
    return STATE_FILTERS[value]


def _positive(value: str, name: str, default: int, high: int | None) -> int:
    if value == "":
        return default
    limit = f" from 1 to {high}" if high is not None else " of 1 or more"
    if not value.isdigit() or not value.isascii() or len(value) > 9:
        raise _invalid(name, f"must be an integer{limit} (got {value!r})")
    number = int(value)
    if number < 1 or (high is not None and number > high):
        raise _invalid(name, f"must be an integer{limit} (got {value!r})")
    return number


def _json_body(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise InvalidInput("body", f"must be JSON ({exc.args[0]})") from None


def _object(data: Any, what: str) -> Mapping[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InvalidInput(what, "must be a JSON object")
    return data


__all__ = ["AdminResponses", "CIResponses", "Reply", "Request", "time_text"]


def _without_undocumented_result_format(update: models.QueueUpdate, kind: QueueKind) -> models.QueueUpdate:
    """A kind whose NotifyConfig takes no ResultFormat (doc) takes one in a PUT and keeps none.

    Evidence: the official SDK's own ``test_ci_put_doc_queue`` sends ``ResultFormat`` to a doc
    queue of the real service and passes there, while the doc update page documents none and its
    replies show none. ciqueue never sends one (the kinds table refuses it at every door)."""
    notify = update.notify_config
    if KIND_SPECS[kind].result_format or notify is None or notify.result_format is None:
        return update
    return update.model_copy(update={"notify_config": notify.model_copy(update={"result_format": None})})

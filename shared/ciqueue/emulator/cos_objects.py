"""COS objects in the emulator: GET, HEAD and PUT of single objects, with COS's ETag (the quoted
MD5 hex of the body) and RFC 7232 conditions, enough to hold the ciqueue state object.

Host ``<name>-<appid>.cos.<region>.myqcloud.com`` (CI API paths on it stay with the CI side and
get InvalidHost); buckets exist implicitly (any bucket host is
served, nothing to seed). Requests are signed like CI's and checked by the same
``EmulatorModel.authenticate`` (same keys, same error codes). Objects live in memory only and are
emptied by ``POST /_emulator/reset``.

Conditions: ``If-Match`` (an ETag list or ``*``) fails with 412 PreconditionFailed when the object
is missing or no tag matches; ``If-None-Match`` (a list or ``*``) fails when the object exists and
matches: 412 for PUT, 304 Not Modified for GET/HEAD. Check and write happen under one lock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
from email.utils import formatdate

from ciqueue.ci import models
from ciqueue.ci.kinds import KIND_SPECS, kind_for_path
from ciqueue.emulator.faults import RequestLog
from ciqueue.emulator.models import ApiError, EmulatorModel
from ciqueue.emulator.responses import Reply, Request
from ciqueue.limits import MAX_COS_KEY_BYTES
from ciqueue.records import dataclass

HEADER_COS_REQUEST_ID = "x-cos-request-id"
XML = "application/xml"
DEFAULT_CONTENT_TYPE = "application/octet-stream"

_HOST = re.compile(
    r"^(?P<bucket>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?-[0-9]+)\.cos\.(?P<region>[a-z0-9]+(?:-[a-z0-9]+)*)"
    r"\.myqcloud\.com(?::[0-9]{1,5})?$"
)


@dataclass(frozen=True)
class CosTarget:
    """The bucket (``name-appid``) and region a COS Host header names."""

    bucket: str
    region: str

    @property
    def host(self) -> str:
        return f"{self.bucket}.cos.{self.region}.myqcloud.com"


def parse_cos_host(host: str | None) -> CosTarget | None:
    """The bucket and region of a COS bucket host, or None for any other host."""
    if not host:
        return None
    match = _HOST.match(host.strip().lower())
    return CosTarget(match["bucket"], match["region"]) if match else None


def is_cos_host(host: str | None) -> bool:
    return parse_cos_host(host) is not None


def is_cos_request(host: str | None, path: str) -> bool:
    """A request for a COS object: a COS host and a path that is not a CI API path.

    A CI path sent to a COS host stays with the CI side, which answers InvalidHost: that tells a
    client aimed at the wrong host what is wrong better than NoSuchKey would.
    """
    if not is_cos_host(host):
        return False
    return kind_for_path(path) is None and all(path != spec.activation_path for spec in KIND_SPECS.values())


def etag_of(body: bytes) -> str:
    """COS's ETag of a simple upload: the MD5 hex of the body, in double quotes."""
    return f'"{hashlib.md5(body).hexdigest()}"'


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    etag: str
    content_type: str
    last_modified: float


class CosObjects:
    """The object store and its HTTP answers; thread-safe."""

    def __init__(self, model: EmulatorModel, log: RequestLog | None = None) -> None:
        self.model = model
        self.log = log
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str, str], StoredObject] = {}

    # -- direct access (tests, admin) ----------------------------------------------------------

    def get(self, bucket: str, region: str, key: str) -> StoredObject | None:
        with self._lock:
            return self._objects.get((bucket, region, key))

    def put(
        self, bucket: str, region: str, key: str, body: bytes, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> StoredObject:
        stored = StoredObject(body, etag_of(body), content_type, self.model.now())
        with self._lock:
            self._objects[(bucket, region, key)] = stored
        return stored

    def keys(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return sorted(self._objects)

    def reset(self) -> None:
        with self._lock:
            self._objects.clear()

    # -- HTTP ----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        request_id = self.model.new_request_id()
        logged_params = dict(request.params)
        try:
            reply = self._answer(request, request_id)
            code = None
        except ApiError as exc:
            reply = self._error(request, request_id, exc)
            code = exc.code
        if self.log is not None:
            self.log.add(
                request.method, request.path, logged_params, request.host, reply.status, code, request_id
            )
        return reply

    def _answer(self, request: Request, request_id: str) -> Reply:
        target = parse_cos_host(request.host)
        if target is None:
            raise ApiError(400, "InvalidURI", "Host must be <BucketName-APPID>.cos.<Region>.myqcloud.com")
        self.model.authenticate(request.method, request.path, dict(request.params), request.headers)
        key = request.path[1:] if request.path.startswith("/") else request.path
        if not key:
            raise ApiError(405, "MethodNotAllowed", "bucket-level operations are not emulated")
        if len(key.encode()) > MAX_COS_KEY_BYTES:
            raise ApiError(400, "KeyTooLong", f"the object key is longer than {MAX_COS_KEY_BYTES} bytes")
        where = (target.bucket, target.region, key)
        if request.method in ("GET", "HEAD"):
            return self._get(request, request_id, where)
        if request.method == "PUT":
            return self._put(request, request_id, where)
        raise ApiError(405, "MethodNotAllowed", f"{request.method} is not allowed on an object")

    def _get(self, request: Request, request_id: str, where: tuple[str, str, str]) -> Reply:
        with self._lock:
            stored = self._objects.get(where)
        if stored is None:
            raise ApiError(404, "NoSuchKey", "The specified key does not exist.")
        headers = {HEADER_COS_REQUEST_ID: request_id, "ETag": stored.etag}
        if not _if_match_holds(request, stored):
            raise ApiError(412, "PreconditionFailed", "If-Match does not match the object's ETag")
        if _if_none_match_hits(request, stored):
            return Reply(304, b"", headers)
        headers["Content-Type"] = stored.content_type
        headers["Last-Modified"] = formatdate(stored.last_modified, usegmt=True)
        # HEAD: the server sends the headers (Content-Length of this body) and no body.
        return Reply(200, stored.body, headers)

    def _put(self, request: Request, request_id: str, where: tuple[str, str, str]) -> Reply:
        body = request.body
        sent_md5 = request.headers.get("content-md5")
        if sent_md5 is not None:
            try:
                digest = base64.b64decode(sent_md5, validate=True)
            except (binascii.Error, ValueError):
                digest = b""
            if len(digest) != 16:
                raise ApiError(400, "InvalidDigest", "Content-MD5 is not the base64 of a 16-byte MD5")
            if digest != hashlib.md5(body).digest():
                raise ApiError(400, "BadDigest", "Content-MD5 does not match the body received")
        content_type = request.headers.get("content-type") or DEFAULT_CONTENT_TYPE
        new = StoredObject(body, etag_of(body), content_type, self.model.now())
        with self._lock:
            stored = self._objects.get(where)
            if not _if_match_holds(request, stored):
                raise ApiError(412, "PreconditionFailed", "If-Match does not match the object's ETag")
            if _if_none_match_hits(request, stored):
                raise ApiError(412, "PreconditionFailed", "If-None-Match: the object exists")
            self._objects[where] = new
        return Reply(200, b"", {HEADER_COS_REQUEST_ID: request_id, "ETag": new.etag})

    def _error(self, request: Request, request_id: str, exc: ApiError) -> Reply:
        headers = {HEADER_COS_REQUEST_ID: request_id}
        if request.method == "HEAD":
            return Reply(exc.status, b"", headers)  # HEAD answers carry no body
        target = parse_cos_host(request.host)
        resource = (target.host if target else request.host or "-") + request.path
        body = models.render_error(
            models.ErrorBody(
                code=exc.code,
                message=exc.message,
                resource=resource,
                request_id=request_id,
                trace_id=self.model.new_trace_id(request_id),
            )
        )
        return Reply(exc.status, body, {"Content-Type": XML, **headers})


def _tags(value: str) -> list[str]:
    tags = []
    for part in value.split(","):
        part = part.strip()
        if part.startswith("W/"):
            part = part[2:]
        if part:
            tags.append(part if part == "*" or part.startswith('"') else f'"{part}"')
    return tags


def _if_match_holds(request: Request, stored: StoredObject | None) -> bool:
    value = request.headers.get("if-match")
    if value is None:
        return True
    if stored is None:
        return False
    tags = _tags(value)
    return "*" in tags or stored.etag in tags


def _if_none_match_hits(request: Request, stored: StoredObject | None) -> bool:
    value = request.headers.get("if-none-match")
    if value is None or stored is None:
        return False
    tags = _tags(value)
    return "*" in tags or stored.etag in tags

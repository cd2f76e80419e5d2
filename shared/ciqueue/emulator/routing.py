"""Which CI action a request asks for: the bucket and region from its Host, the action from its path.

Two hosts, as CI documents them: the bucket host ``<BucketName-APPID>.ci.<Region>.myqcloud.com``
carries the queue calls and activating (POST) or closing (DELETE) a kind on ``/picbucket``,
``/mediabucket``, ...; the service host ``ci.<Region>.myqcloud.com`` carries only the bucket
listings (GET on those same paths). A call on the other host is ``InvalidHost``; a method a path
does not document is ``MethodNotAllowed`` (closing doc, which no document describes, included).
"""

from __future__ import annotations

import re

from ciqueue.ci.identifiers import bucket_problem, region_problem
from ciqueue.ci.kinds import CLOSABLE_KINDS, KIND_SPECS, QueueKind, kind_for_path
from ciqueue.records import dataclass

ADMIN_PREFIX = "/_emulator/"

# Actions, named as the methods of CIResponses that answer them.
DESCRIBE_QUEUES = "describe_queues"
UPDATE_QUEUE = "update_queue"
ACTIVATE_BUCKET = "activate_bucket"
CLOSE_BUCKET = "close_bucket"
LIST_BUCKETS = "list_buckets"

# <bucket>.ci.<region>.myqcloud.com[:port]; the bucket and region follow ciqueue.ci.identifiers.
_HOST_SUFFIX = ".myqcloud.com"
_CI_LABEL = ".ci."
_SERVICE_LABEL = "ci."
_PORT = re.compile(r":[0-9]{1,5}")


@dataclass(frozen=True)
class BucketHost:
    """The bucket (``name-appid``) and region a Host header names."""

    bucket: str
    region: str

    @property
    def host(self) -> str:
        return f"{self.bucket}.ci.{self.region}.myqcloud.com"


@dataclass(frozen=True)
class Route:
    """A CI action on one kind of queue; ``queue_id`` only for updates."""

    action: str
    kind: QueueKind
    queue_id: str | None = None


class NoRoute(Exception):
    """The path or method names no CI action; ``status``/``code`` say which."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX.rstrip("/") or path.startswith(ADMIN_PREFIX)


def parse_host(host: str | None) -> BucketHost | None:
    """The bucket and region of a CI bucket host, or None for any other host."""
    name = _host_name(host)
    if name is None:
        return None
    # A bucket holds no '.', so the first ".ci." ends it.
    bucket, found, region = name[: -len(_HOST_SUFFIX)].partition(_CI_LABEL)
    if not found or bucket_problem(bucket) or region_problem(region):
        return None
    return BucketHost(bucket, region)


def _host_name(host: str | None) -> str | None:
    """The lower-case host name without a port, or None when it is no ``*.myqcloud.com``."""
    if not host:
        return None
    name = host.strip().lower()
    head, colon, port = name.rpartition(":")
    if colon and _PORT.fullmatch(colon + port):
        name = head
    return name if name.endswith(_HOST_SUFFIX) else None


def parse_service_host(host: str | None) -> str | None:
    """The region of the CI service host ``ci.<Region>.myqcloud.com``, or None for any other host."""
    name = _host_name(host)
    if name is None or not name.startswith(_SERVICE_LABEL):
        return None
    region = name[len(_SERVICE_LABEL) : -len(_HOST_SUFFIX)]
    return None if region_problem(region) else region


def route_service(method: str, path: str) -> Route:
    """Map a call on the service host to a Route (only bucket listings live there), or raise NoRoute."""
    method = method.upper()
    for spec in KIND_SPECS.values():
        if path == spec.activation_path:
            if method != "GET":
                raise NoRoute(
                    400,
                    "InvalidHost",
                    f"{method} {path} goes to the bucket host <BucketName-APPID>.ci.<Region>.myqcloud.com",
                )
            return Route(LIST_BUCKETS, spec.kind)
    raise NoRoute(
        400, "InvalidHost", f"{path} goes to the bucket host <BucketName-APPID>.ci.<Region>.myqcloud.com"
    )


def route(method: str, path: str) -> Route:
    """Map method and (decoded) path on a bucket host to a Route, or raise NoRoute."""
    method = method.upper()
    for spec in KIND_SPECS.values():
        if path == spec.activation_path:
            if method == "POST":
                return Route(ACTIVATE_BUCKET, spec.kind)
            if method == "DELETE" and spec.kind in CLOSABLE_KINDS:
                return Route(CLOSE_BUCKET, spec.kind)
            if method == "GET":
                raise NoRoute(
                    400,
                    "InvalidHost",
                    f"GET {path} lists buckets on the service host ci.<Region>.myqcloud.com",
                )
            raise NoRoute(405, "MethodNotAllowed", f"{method} is not allowed on {path}")
    found = kind_for_path(path)
    if found is None:
        raise NoRoute(404, "NoSuchResource", f"no CI action at {path}")
    kind, queue_id = found
    if queue_id is None:
        if method != "GET":
            raise NoRoute(405, "MethodNotAllowed", f"{method} is not allowed on {path}")
        return Route(DESCRIBE_QUEUES, kind)
    if method != "PUT":
        raise NoRoute(405, "MethodNotAllowed", f"{method} is not allowed on {path}")
    return Route(UPDATE_QUEUE, kind, queue_id)

"""Which CI action a request asks for: the bucket and region from its Host, the action from its path."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ciqueue.ci.kinds import KIND_SPECS, QueueKind, kind_for_path

ADMIN_PREFIX = "/_emulator/"

# Actions, named as the methods of CIResponses that answer them.
DESCRIBE_QUEUES = "describe_queues"
UPDATE_QUEUE = "update_queue"
ACTIVATE_BUCKET = "activate_bucket"

# <name>-<appid>.ci.<region>.myqcloud.com; a bucket name is lowercase letters, digits and hyphens.
_HOST = re.compile(
    r"^(?P<bucket>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?-[0-9]+)\.ci\.(?P<region>[a-z0-9]+(?:-[a-z0-9]+)*)"
    r"\.myqcloud\.com(?::[0-9]{1,5})?$"
)


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
    if not host:
        return None
    match = _HOST.match(host.strip().lower())
    if match is None:
        return None
    return BucketHost(match["bucket"], match["region"])


def route(method: str, path: str) -> Route:
    """Map method and (decoded) path to a Route, or raise NoRoute."""
    method = method.upper()
    for spec in KIND_SPECS.values():
        if path == spec.activation_path:
            if method != "POST":
                raise NoRoute(405, "MethodNotAllowed", f"{method} is not allowed on {path}")
            return Route(ACTIVATE_BUCKET, spec.kind)
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

"""The emulator's state and rules: buckets, activated kinds, queues, keys, and how a request is
authenticated. State lives in memory, optionally written through to a SQLite file.

Authentication follows the order a real server can judge in, each failure with its CI code:

=====================================================  ======  ==========================
no Authorization header and no ``q-*`` query params     401     MissingAuthorization
Authorization not parsable                              401     InvalidAuthorization
SecretId unknown                                        401     SecretidNotExist
key needs a session token; missing or different         403     InvalidAccessKeyId
end of the signature's time range passed                401     SignatureExpired
start more than 15 minutes in the future                403     RequestTimeTooSkewed
signature does not match                                403     SignatureDoesNotMatch
=====================================================  ======  ==========================

The token may arrive in ``x-ci-security-token`` or ``x-cos-security-token`` (CI accepts either).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

from ciqueue.ci import models as ci_models
from ciqueue.ci.credentials import Credentials, mask
from ciqueue.ci.identifiers import bucket_problem, queue_id_problem, region_problem
from ciqueue.ci.kinds import KIND_SPECS, QueueKind, parse_kind, spec_for
from ciqueue.ci.signing import parse_authorization, verify
from ciqueue.constants import (
    DEMO_SECRET_ID,
    DEMO_SECRET_KEY,
)
from ciqueue.errors import CredentialsMissing, InvalidInput, Problem
from ciqueue.limits import MAX_CLOCK_SKEW_S
from ciqueue.records import dataclass, field, replace

Clock = Callable[[], float]

# Largest pageSize the emulator accepts (CI documents none; 10 is its default).
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10
DEFAULT_MAX_SIZE = 10000
DEFAULT_MAX_CONCURRENT = 10
CHINA_TIME = timezone(timedelta(hours=8))
NON_EXIST_SHAPES: tuple[ci_models.NonExistShape, ...] = (
    "repeated",
    "nested",
)  # <NonExistPIDs>id</..> x N, or <NonExistPIDs><QueueID>..


class ApiError(Exception):
    """A CI error answer: HTTP status, Code and Message (never holding a secret)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code} ({status}): {message}")
        self.status = status
        self.code = code
        self.message = message


def unbound_code(kind: QueueKind) -> str:
    """``PicBucketUnBinded``, ``MediaBucketUnBinded``, ...: the code for a kind not activated."""
    return f"{KIND_SPECS[kind].bucket_element}UnBinded"


def time_text(ts: float) -> str:
    """CI's time format, China time: ``2022-08-09T16:23:11+0800``."""
    return datetime.fromtimestamp(int(ts), CHINA_TIME).strftime("%Y-%m-%dT%H:%M:%S%z")


def new_queue_id() -> str:
    """A fresh id in the shape CI mints (``p`` + 32 hex); seeds may hold any valid queue id."""
    return "p" + os.urandom(16).hex()


@dataclass(frozen=True, repr=False)
class KeyRecord:
    """A key the emulator accepts; with a token it is a temporary key that needs the token too."""

    secret_id: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:
        return f"KeyRecord({mask(self.secret_id)!r}, token={'yes' if self.token else 'no'})"


@dataclass
class QueueRecord:
    """One queue; NotifyConfig and extras keep their XML element names and order."""

    kind: QueueKind
    queue_id: str
    name: str
    state: str
    notify: dict[str, Any]
    extra: dict[str, Any]
    max_size: int
    max_concurrent: int
    category: str
    create_time: str
    update_time: str
    seq: int = 0

    def to_xml_dict(self) -> dict[str, Any]:
        """The queue as CI lists it (``QueueList`` element names, sample order), extras last."""
        body: dict[str, Any] = {
            "QueueId": self.queue_id,
            "Name": self.name,
            "State": self.state,
            "NotifyConfig": dict(self.notify),
            "MaxSize": str(self.max_size),
            "MaxConcurrent": str(self.max_concurrent),
            "UpdateTime": self.update_time,
            "CreateTime": self.create_time,
            "Category": self.category,
        }
        for name, value in self.extra.items():
            body.setdefault(name, value)
        return body

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "queue_id": self.queue_id,
            "name": self.name,
            "state": self.state,
            "notify": self.notify,
            "extra": self.extra,
            "max_size": self.max_size,
            "max_concurrent": self.max_concurrent,
            "category": self.category,
            "create_time": self.create_time,
            "update_time": self.update_time,
            "seq": self.seq,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QueueRecord:
        return cls(
            kind=QueueKind(data["kind"]),
            queue_id=data["queue_id"],
            name=data["name"],
            state=data["state"],
            notify=dict(data["notify"]),
            extra=dict(data["extra"]),
            max_size=int(data["max_size"]),
            max_concurrent=int(data["max_concurrent"]),
            category=data["category"],
            create_time=data["create_time"],
            update_time=data["update_time"],
            seq=int(data.get("seq", 0)),
        )


@dataclass
class BucketRecord:
    """A bucket in a region: the kinds activated (with their activation time) and their queues."""

    bucket: str
    region: str
    kinds: dict[QueueKind, str] = field(default_factory=dict)
    queues: dict[QueueKind, dict[str, QueueRecord]] = field(default_factory=dict)

    def queues_of(self, kind: QueueKind) -> list[QueueRecord]:
        return sorted(self.queues.get(kind, {}).values(), key=lambda q: q.seq)


@dataclass(frozen=True)
class ActivatedBucket:
    """A bucket as a bucket listing shows it: name, region and when the kind was activated."""

    bucket: str
    region: str
    create_time: str


# ---------------------------------------------------------------------------------------------
# Stores: the memory store keeps nothing beyond the model; the SQLite store writes through.


class Store(Protocol):
    def load(self) -> tuple[list[BucketRecord], list[KeyRecord]]: ...
    def save_bucket(self, bucket: BucketRecord) -> None: ...
    def save_queue(self, bucket: BucketRecord, queue: QueueRecord) -> None: ...
    def save_key(self, key: KeyRecord) -> None: ...
    def delete_queues(self, bucket: BucketRecord, kind: QueueKind) -> None: ...
    def clear_buckets(self) -> None: ...
    def close(self) -> None: ...


class MemoryStore:
    """No persistence: the model's dictionaries are the state."""

    def load(self) -> tuple[list[BucketRecord], list[KeyRecord]]:
        return [], []

    def save_bucket(self, bucket: BucketRecord) -> None:
        pass

    def save_queue(self, bucket: BucketRecord, queue: QueueRecord) -> None:
        pass

    def save_key(self, key: KeyRecord) -> None:
        pass

    def delete_queues(self, bucket: BucketRecord, kind: QueueKind) -> None:
        pass

    def clear_buckets(self) -> None:
        pass

    def close(self) -> None:
        pass


class SqliteStore:
    """State in a SQLite file that survives restarts. Callers serialise access (the model's lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        with self._db:
            self._db.executescript(
                """
                CREATE TABLE IF NOT EXISTS buckets (
                    bucket TEXT NOT NULL, region TEXT NOT NULL, kinds TEXT NOT NULL,
                    PRIMARY KEY (bucket, region));
                CREATE TABLE IF NOT EXISTS queues (
                    bucket TEXT NOT NULL, region TEXT NOT NULL, kind TEXT NOT NULL,
                    queue_id TEXT NOT NULL, data TEXT NOT NULL,
                    PRIMARY KEY (bucket, region, kind, queue_id));
                CREATE TABLE IF NOT EXISTS keys (
                    secret_id TEXT PRIMARY KEY, secret_key TEXT NOT NULL, token TEXT);
                """
            )

    def load(self) -> tuple[list[BucketRecord], list[KeyRecord]]:
        buckets: dict[tuple[str, str], BucketRecord] = {}
        for bucket, region, kinds in self._db.execute("SELECT bucket, region, kinds FROM buckets"):
            record = BucketRecord(bucket, region, {QueueKind(k): t for k, t in json.loads(kinds).items()})
            buckets[(bucket, region)] = record
        for bucket, region, data in self._db.execute("SELECT bucket, region, data FROM queues"):
            queue = QueueRecord.from_json(json.loads(data))
            owner = buckets.get((bucket, region))
            if owner is not None:
                owner.queues.setdefault(queue.kind, {})[queue.queue_id] = queue
        keys = [KeyRecord(s, k, t) for s, k, t in self._db.execute("SELECT * FROM keys")]
        return list(buckets.values()), keys

    def save_bucket(self, bucket: BucketRecord) -> None:
        kinds = json.dumps({k.value: t for k, t in bucket.kinds.items()})
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO buckets VALUES (?, ?, ?)", (bucket.bucket, bucket.region, kinds)
            )

    def save_queue(self, bucket: BucketRecord, queue: QueueRecord) -> None:
        row = (bucket.bucket, bucket.region, queue.kind.value, queue.queue_id, json.dumps(queue.to_json()))
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO queues VALUES (?, ?, ?, ?, ?)", row)

    def save_key(self, key: KeyRecord) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO keys VALUES (?, ?, ?)", (key.secret_id, key.secret_key, key.token)
            )

    def delete_queues(self, bucket: BucketRecord, kind: QueueKind) -> None:
        with self._db:
            self._db.execute(
                "DELETE FROM queues WHERE bucket = ? AND region = ? AND kind = ?",
                (bucket.bucket, bucket.region, kind.value),
            )

    def clear_buckets(self) -> None:
        with self._db:
            self._db.execute("DELETE FROM queues")
            self._db.execute("DELETE FROM buckets")

    def close(self) -> None:
        self._db.close()


# ---------------------------------------------------------------------------------------------


class EmulatorModel:
    """All emulator state behind one lock. Methods raise ApiError (CI answers) or InvalidInput (admin)."""

    def __init__(
        self,
        store: Store | None = None,
        clock: Clock = time.time,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.clock = clock
        self.store: Store = store if store is not None else MemoryStore()
        self.lock = threading.RLock()
        self.non_exist_shape: ci_models.NonExistShape = "repeated"
        # Answer at most this many queues per page whatever pageSize asks (None: no cap), to
        # rehearse a service that caps pages silently; CI documents no maximum.
        self.page_size_cap: int | None = None
        self._buckets: dict[tuple[str, str], BucketRecord] = {}
        self._keys: dict[str, KeyRecord] = {}
        self._seq = 0
        self._node = random.getrandbits(32)
        self._counter = random.getrandbits(16)
        self._add_key(KeyRecord(DEMO_SECRET_ID, DEMO_SECRET_KEY))
        env = os.environ if env is None else env
        try:  # the key pair of the environment too, under any names ci.credentials reads
            own = Credentials.from_env(env)
        except CredentialsMissing:
            pass
        else:
            self._add_key(KeyRecord(own.secret_id, own.secret_key, own.token))
        buckets, keys = self.store.load()
        for bucket in buckets:
            self._buckets[(bucket.bucket, bucket.region)] = bucket
            for queues in bucket.queues.values():
                for queue in queues.values():
                    self._seq = max(self._seq, queue.seq)
        for key in keys:
            self._keys.setdefault(key.secret_id, key)

    # -- ids and time ---------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock()

    def new_request_id(self) -> str:
        """Shaped like CI's: base64 of ``<hex unix ts>_<hex node>_<hex counter>_1``."""
        with self.lock:
            self._counter = (self._counter + 1) & 0xFFFFF
            raw = f"{int(self.now()):x}_{self._node:08x}_{self._counter:x}_1"
        return base64.b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def new_trace_id(request_id: str) -> str:
        digest = hashlib.sha256(f"{request_id}:{random.random()}".encode()).hexdigest()
        return base64.b64encode(digest.encode()).decode()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # -- keys and authentication ------------------------------------------------------------------

    def _add_key(self, key: KeyRecord) -> None:
        self._keys[key.secret_id] = key

    def add_key(self, secret_id: str, secret_key: str, token: str | None = None) -> None:
        with self.lock:
            key = KeyRecord(secret_id, secret_key, token or None)
            self._add_key(key)
            self.store.save_key(key)

    def key_ids(self) -> list[str]:
        with self.lock:
            return sorted(self._keys)

    def authenticate(
        self, method: str, path: str, params: dict[str, str], headers: Mapping[str, str]
    ) -> KeyRecord:
        """Check the request's signature (header or query form); return the key or raise ApiError.

        ``params`` are the decoded query parameters; the ``q-*`` ones of the query form are removed.
        ``headers`` must have lower-case names.
        """
        value = headers.get("authorization", "").strip()
        query_form = {k: params.pop(k) for k in list(params) if k.lower().startswith("q-")}
        if not value and query_form:
            value = "&".join(f"{k}={v}" for k, v in query_form.items())
        if not value:
            raise ApiError(401, "MissingAuthorization", "the request carries no Authorization")
        try:
            parsed = parse_authorization(value)
        except ValueError as exc:
            raise ApiError(401, "InvalidAuthorization", f"Authorization is malformed: {exc}") from None
        with self.lock:
            key = self._keys.get(parsed.secret_id)
        if key is None:
            raise ApiError(401, "SecretidNotExist", f"SecretId {mask(parsed.secret_id)} does not exist")
        if key.token is not None:
            sent = headers.get("x-ci-security-token") or headers.get("x-cos-security-token") or ""
            if not hmac.compare_digest(sent.encode(), key.token.encode()):
                raise ApiError(
                    403,
                    "InvalidAccessKeyId",
                    "the temporary key needs its security token in x-ci-security-token "
                    "(or x-cos-security-token); it is missing or does not match",
                )
        now = self.now()
        if now > parsed.end:
            raise ApiError(401, "SignatureExpired", f"the signature expired at {parsed.end} (now {int(now)})")
        if parsed.start > now + MAX_CLOCK_SKEW_S:
            raise ApiError(
                403,
                "RequestTimeTooSkewed",
                "the signature starts more than 15 minutes after the server's time",
            )
        if not verify(parsed, key.secret_key, method, path, params, headers):
            raise ApiError(
                403, "SignatureDoesNotMatch", "the signature does not match the request and the key"
            )
        return key

    # -- buckets and queues ---------------------------------------------------------------------

    def bucket(self, bucket: str, region: str) -> BucketRecord | None:
        with self.lock:
            return self._buckets.get((bucket, region))

    def require_kind(self, bucket: str, region: str, kind: QueueKind) -> BucketRecord:
        """The bucket, if ``kind`` is activated on it; else ApiError <Kind>BucketUnBinded."""
        with self.lock:
            record = self._buckets.get((bucket, region))
            if record is None or kind not in record.kinds:
                raise ApiError(
                    400,
                    unbound_code(kind),
                    f"the {kind.value} service is not activated for bucket {bucket}",
                )
            return record

    def activate(self, bucket: str, region: str, kind: QueueKind) -> BucketRecord:
        """Activate ``kind`` for the bucket and create its default queue; again: no change."""
        with self.lock:
            record = self._buckets.setdefault((bucket, region), BucketRecord(bucket, region))
            if kind in record.kinds:
                return record
            now = time_text(self.now())
            record.kinds[kind] = now
            self.store.save_bucket(record)
            spec = spec_for(kind)
            queue = QueueRecord(
                kind=kind,
                queue_id=new_queue_id(),
                name=f"queue-{kind.value}-process-1",
                state="Active",
                notify={"State": "Off"},
                extra={},
                max_size=DEFAULT_MAX_SIZE,
                max_concurrent=DEFAULT_MAX_CONCURRENT,
                category=spec.category,
                create_time=now,
                update_time=now,
                seq=self._next_seq(),
            )
            self._put_queue(record, queue)
            return record

    def close_kind(self, bucket: str, region: str, kind: QueueKind) -> None:
        """Close ``kind`` for the bucket: the kind and all its queues go (the bucket stays bound)."""
        with self.lock:
            record = self.require_kind(bucket, region, kind)
            del record.kinds[kind]
            record.queues.pop(kind, None)
            self.store.delete_queues(record, kind)
            self.store.save_bucket(record)

    def activated_buckets(
        self,
        kind: QueueKind,
        *,
        regions: frozenset[str] | None = None,
        names: frozenset[str] | None = None,
        prefix: str = "",
    ) -> list[ActivatedBucket]:
        """Buckets ``kind`` is activated for, by bucket then region; each filter narrows the list
        (``regions`` and ``names`` None: any)."""
        with self.lock:
            found = [
                ActivatedBucket(record.bucket, record.region, record.kinds[kind])
                for record in self._buckets.values()
                if kind in record.kinds
                and (regions is None or record.region in regions)
                and (names is None or record.bucket in names)
                and record.bucket.startswith(prefix)
            ]
        return sorted(found, key=lambda b: (b.bucket, b.region))

    def _put_queue(self, record: BucketRecord, queue: QueueRecord) -> None:
        record.queues.setdefault(queue.kind, {})[queue.queue_id] = queue
        self.store.save_queue(record, queue)

    def queues(self, bucket: str, region: str, kind: QueueKind) -> list[QueueRecord]:
        """Copies of the kind's queues in creation order (the kind must be activated)."""
        with self.lock:
            record = self.require_kind(bucket, region, kind)
            return [_copy(q) for q in record.queues_of(kind)]

    def queue(self, bucket: str, region: str, kind: QueueKind, queue_id: str) -> QueueRecord | None:
        with self.lock:
            record = self.require_kind(bucket, region, kind)
            found = record.queues.get(kind, {}).get(queue_id)
            return None if found is None else _copy(found)

    def queues_by_id(
        self, bucket: str, region: str, kind: QueueKind, queue_ids: list[str]
    ) -> dict[str, QueueRecord]:
        """Copies of the named queues that exist, by id (the kind must be activated)."""
        with self.lock:
            stored = self.require_kind(bucket, region, kind).queues.get(kind, {})
            return {i: _copy(stored[i]) for i in queue_ids if i in stored}

    def replace_config(
        self,
        bucket: str,
        region: str,
        kind: QueueKind,
        queue_id: str,
        *,
        name: str,
        state: str,
        notify: Mapping[str, Any],
        extra: Mapping[str, Any],
    ) -> QueueRecord:
        """A successful PUT: the whole writable config (extras included) is replaced."""
        with self.lock:
            record, stored = self._stored(bucket, region, kind, queue_id)
            updated = _copy(stored)
            updated.name, updated.state = name, state
            updated.notify, updated.extra = dict(notify), dict(extra)
            updated.update_time = time_text(self.now())
            self._put_queue(record, updated)
            return _copy(updated)

    def patch_queue(
        self, bucket: str, region: str, kind: QueueKind, queue_id: str, changes: Mapping[str, Any]
    ) -> QueueRecord:
        """Admin PATCH: set XML-named fields (Name, State, NotifyConfig; any other name is an extra,
        null removes it) behind the client's back, and bump UpdateTime."""
        with self.lock:
            record, stored = self._stored(bucket, region, kind, queue_id)
            updated = _copy(stored)
            _apply(updated, changes)
            _check_record(updated, "")
            updated.update_time = time_text(self.now())
            self._put_queue(record, updated)
            return _copy(updated)

    def _stored(
        self, bucket: str, region: str, kind: QueueKind, queue_id: str
    ) -> tuple[BucketRecord, QueueRecord]:
        record = self.require_kind(bucket, region, kind)
        stored = record.queues.get(kind, {}).get(queue_id)
        if stored is None:
            raise ApiError(404, "QueueNotFound", f"queue {queue_id} does not exist")
        return record, stored

    def find_queue(self, bucket: str, kind: QueueKind, queue_id: str) -> tuple[str, QueueRecord] | None:
        """Find a queue by bucket name in any region: (region, queue)."""
        with self.lock:
            for (name, region), record in self._buckets.items():
                if name == bucket and queue_id in record.queues.get(kind, {}):
                    return region, _copy(record.queues[kind][queue_id])
            return None

    # -- admin ------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every bucket and queue; keys stay."""
        with self.lock:
            self._buckets.clear()
            self.store.clear_buckets()
            self.non_exist_shape = "repeated"
            self.page_size_cap = None

    def seed(self, body: Mapping[str, Any]) -> dict[str, int]:
        """Add buckets, queues and keys (admin ``seed``). Validated whole before anything changes."""
        buckets, keys = _parse_seed(body, self.now())
        with self.lock:
            queue_count = 0
            for bucket in buckets:
                record = self._buckets.setdefault((bucket.bucket, bucket.region), bucket)
                if record is not bucket:
                    record.kinds.update({k: t for k, t in bucket.kinds.items() if k not in record.kinds})
                self.store.save_bucket(record)
                for kind in bucket.kinds:
                    for queue in list(bucket.queues.get(kind, {}).values()):
                        queue.seq = self._next_seq()
                        self._put_queue(record, queue)
                        queue_count += 1
            for key in keys:
                self._add_key(key)
                self.store.save_key(key)
            return {"buckets": len(buckets), "queues": queue_count, "keys": len(keys)}

    def state(self) -> dict[str, Any]:
        """Everything, for ``GET /_emulator/state``: buckets with XML-named queues, and key ids."""
        with self.lock:
            buckets = []
            for record in self._buckets.values():
                queues = []
                for kind in QueueKind:
                    for queue in record.queues_of(kind):
                        queues.append({"kind": kind.value, **queue.to_xml_dict()})
                buckets.append(
                    {
                        "bucket": record.bucket,
                        "region": record.region,
                        "kinds": [k.value for k in QueueKind if k in record.kinds],
                        "queues": queues,
                    }
                )
            return {"buckets": buckets, "keys": sorted(self._keys), "non_exist_pids": self.non_exist_shape}

    def set_options(self, body: Mapping[str, Any]) -> None:
        """Admin ``config``: ``{"non_exist_pids": "repeated" | "nested", "page_size_cap": N | null}``."""
        unknown = sorted(set(body) - {"non_exist_pids", "page_size_cap"})
        if unknown:
            raise InvalidInput(unknown[0], "is not an emulator option (known: non_exist_pids, page_size_cap)")
        if "page_size_cap" in body:
            cap = body["page_size_cap"]
            if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
                raise InvalidInput("page_size_cap", "must be a positive integer or null")
            with self.lock:
                self.page_size_cap = cap
        if "non_exist_pids" in body:
            shape = next((s for s in NON_EXIST_SHAPES if s == body["non_exist_pids"]), None)
            if shape is None:
                raise InvalidInput("non_exist_pids", f"must be one of {', '.join(NON_EXIST_SHAPES)}")
            with self.lock:
                self.non_exist_shape = shape

    def close(self) -> None:
        with self.lock:
            self.store.close()


def _copy(queue: QueueRecord) -> QueueRecord:
    """A deep copy: the caller may change it (or its NotifyConfig and extras) freely."""
    return replace(queue, notify=_copy_json(queue.notify), extra=_copy_json(queue.extra))


def _copy_json(value: Any) -> Any:
    # NotifyConfig and extras hold only JSON-shaped data (dicts, lists, text, numbers, None).
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value


def _apply(queue: QueueRecord, changes: Mapping[str, Any]) -> None:
    for name, value in changes.items():
        if name == "Name":
            queue.name = str(value)
        elif name == "State":
            queue.state = str(value)
        elif name == "NotifyConfig":
            if not isinstance(value, Mapping):
                raise InvalidInput("NotifyConfig", "must be an object of XML-named fields")
            queue.notify = dict(value)
        elif name == "UpdateTime":
            pass  # set by the write itself
        elif name in ci_models.READ_ONLY_ELEMENTS:
            raise InvalidInput(name, "is read-only")
        elif value is None:
            queue.extra.pop(name, None)
        else:
            queue.extra[name] = value


def _check_record(queue: QueueRecord, where: str) -> None:
    """Refuse what the wire could not carry: extras named like known elements, nested junk."""
    known = set(ci_models.Queue.xml_names()) | {"QueueID"}
    clash = [k for k in queue.extra if k in known]
    if clash:
        field = f"{where}.extra.{clash[0]}" if where else clash[0]
        raise InvalidInput(field, "is a known element; set it by its own field")
    ci_models.Queue.from_xml_dict(queue.to_xml_dict(), where, source="request", what="queue")


# -- seed parsing -------------------------------------------------------------------------------


def _parse_seed(body: Mapping[str, Any], now: float) -> tuple[list[BucketRecord], list[KeyRecord]]:
    problems: list[Problem] = []
    buckets: list[BucketRecord] = []
    keys: list[KeyRecord] = []
    unknown = sorted(set(body) - {"buckets", "keys"})
    problems += [Problem(name, "is not a seed field (known: buckets, keys)") for name in unknown]
    raw_buckets = body.get("buckets", [])
    if not isinstance(raw_buckets, list):
        raise InvalidInput("buckets", "must be a list")
    for i, raw in enumerate(raw_buckets):
        where = f"buckets[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(Problem(where, "must be an object"))
            continue
        bucket, region = raw.get("bucket"), raw.get("region")
        bad = [
            p
            for p in (bucket_problem(bucket, f"{where}.bucket"), region_problem(region, f"{where}.region"))
            if p
        ]
        problems += bad
        # Judged good above, so both are strings; a bad seed is refused whole below anyway.
        record = BucketRecord(str(bucket or ""), str(region or "")) if not bad else BucketRecord("", "")
        kinds = raw.get("kinds", [])
        if not isinstance(kinds, list):
            problems.append(Problem(f"{where}.kinds", "must be a list of kinds"))
            kinds = []
        for j, name in enumerate(kinds):
            try:
                record.kinds[parse_kind(name, f"{where}.kinds[{j}]")] = time_text(now)
            except InvalidInput as exc:
                problems += exc.problems
        queues = raw.get("queues", [])
        if not isinstance(queues, list):
            problems.append(Problem(f"{where}.queues", "must be a list"))
            queues = []
        for j, raw_queue in enumerate(queues):
            try:
                queue = _parse_seed_queue(raw_queue, f"{where}.queues[{j}]", record, now, j + 1)
            except InvalidInput as exc:
                problems += exc.problems
                continue
            record.queues.setdefault(queue.kind, {})[queue.queue_id] = queue
        buckets.append(record)
    raw_keys = body.get("keys", [])
    if not isinstance(raw_keys, list):
        raise InvalidInput("keys", "must be a list")
    for i, raw in enumerate(raw_keys):
        where = f"keys[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(Problem(where, "must be an object {secret_id, secret_key, token}"))
            continue
        sid, skey, token = raw.get("secret_id"), raw.get("secret_key"), raw.get("token")
        if not isinstance(sid, str) or not sid:
            problems.append(Problem(f"{where}.secret_id", "must be a non-empty string"))
        if not isinstance(skey, str) or not skey:
            problems.append(Problem(f"{where}.secret_key", "must be a non-empty string"))
        if token is not None and not isinstance(token, str):
            problems.append(Problem(f"{where}.token", "must be a string or null"))
        if isinstance(sid, str) and sid and isinstance(skey, str) and skey:
            keys.append(KeyRecord(sid, skey, token if isinstance(token, str) and token else None))
    if problems:
        raise InvalidInput(problems)
    return buckets, keys


def _parse_seed_queue(raw: Any, where: str, bucket: BucketRecord, now: float, n: int) -> QueueRecord:
    if not isinstance(raw, Mapping):
        raise InvalidInput(where, "must be an object")
    known = {
        "kind",
        "queue_id",
        "name",
        "state",
        "notify_config",
        "extra",
        "category",
        "max_size",
        "max_concurrent",
        "create_time",
        "update_time",
    }
    problems = [Problem(f"{where}.{k}", "is not a queue field") for k in sorted(set(raw) - known)]
    try:
        kind = parse_kind(raw.get("kind", ""), f"{where}.kind")
    except InvalidInput as exc:
        raise InvalidInput(problems + exc.problems) from None
    if kind not in bucket.kinds:
        problems.append(Problem(f"{where}.kind", f"{kind.value} must be listed in the bucket's kinds"))
    queue_id = raw.get("queue_id") or new_queue_id()
    bad_id = queue_id_problem(queue_id, f"{where}.queue_id")
    if bad_id is not None:
        problems.append(bad_id)
    strings = {}
    for name, default in (
        ("name", f"queue-{kind.value}-{n}"),
        ("state", "Active"),
        ("category", spec_for(kind).category),
        ("create_time", time_text(now)),
        ("update_time", time_text(now)),
    ):
        value = raw.get(name, default)
        if not isinstance(value, str):
            problems.append(Problem(f"{where}.{name}", "must be a string"))
            value = default
        strings[name] = value
    notify = raw.get("notify_config", {"State": "Off"})
    extra = raw.get("extra", {})
    if not isinstance(notify, Mapping):
        problems.append(Problem(f"{where}.notify_config", "must be an object of XML-named fields"))
        notify = {}
    if not isinstance(extra, Mapping):
        problems.append(Problem(f"{where}.extra", "must be an object of XML-named fields"))
        extra = {}
    sizes = {}
    for name, default_size in (("max_size", DEFAULT_MAX_SIZE), ("max_concurrent", DEFAULT_MAX_CONCURRENT)):
        size = raw.get(name, default_size)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            problems.append(Problem(f"{where}.{name}", "must be a non-negative integer"))
            size = default_size
        sizes[name] = size
    if problems:
        raise InvalidInput(problems)
    record = QueueRecord(
        kind=kind,
        queue_id=str(queue_id),
        name=strings["name"],
        state=strings["state"],
        notify=dict(notify),
        extra=dict(extra),
        max_size=sizes["max_size"],
        max_concurrent=sizes["max_concurrent"],
        category=strings["category"],
        create_time=strings["create_time"],
        update_time=strings["update_time"],
    )
    _check_record(record, where)
    return record

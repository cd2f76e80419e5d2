"""CIClient: sign, send, retry and parse the CI queue APIs over one pooled HTTP session.

The bucket, region and queue ids are judged by ``ciqueue.ci.identifiers`` before anything is sent.
Queue calls go to the bucket host; ``list_buckets`` goes to the service host
``ci.<region>.myqcloud.com``, so a client made without a bucket can list buckets and nothing else.

Rules of the wire (each with its reason):

- The endpoint override is ``scheme://host[:port]`` and nothing else: a path, a query, a fragment
  (even an empty ``?`` or ``#``) or userinfo would make the path sent differ from the path signed,
  or put a secret in a URL; a host label over 63 characters cannot be sent. Refused as
  InvalidInput naming ``endpoint``.
- Every reply is read as a stream and bounded while it arrives: at most ``max_bytes``
  (``limits.MAX_CI_REPLY_BYTES``, 1 MiB, for CI; ``MAX_COS_REPLY_BYTES`` for COS objects) on the
  wire and again after gzip/deflate decoding, so a huge body, a gzip bomb or an endless chunked
  body costs at most about that much memory: MalformedResponse naming the bound (a 2xx), or a
  ServiceError from the status and headers alone (an error answer).
- Every attempt, reading the body included, ends by its time: the caller's ``deadline`` when it
  is the nearer (then DeadlineExceeded, never retried) or the client's per-attempt ``timeout``
  (then TransportError, retried while the deadline allows). A socket timeout bounds each read; a
  watchdog cuts the connection at the attempt's end, so a reply trickling a byte at a time (headers
  or body) cannot outlast it either. The watchdog comes with ``pooled_session``; a session passed in
  gets only the checks between reads.
- Every failure of the transport is a typed error, never a stack trace: a URL or header requests
  cannot send (an invalid host label, IDNA) is InvalidInput naming ``endpoint`` or ``region``; no
  answer, a cut-off body, a reset, TLS, chunked framing, a timeout is TransportError naming the
  cause's class; a body that cannot be decoded (bad gzip, an encoding we did not ask for) is
  MalformedResponse.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import logging
import random
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

from ciqueue.ci import models, signing
from ciqueue.ci.credentials import Credentials
from ciqueue.ci.identifiers import bucket_problem, queue_id_problem, region_problem
from ciqueue.ci.kinds import QueueKind, spec_for
from ciqueue.ci.ratelimit import RateLimit
from ciqueue.ci.retry import (
    Clock,
    Deadline,
    Rand,
    RetryPolicy,
    RetryQuota,
    Sleep,
    call_with_retries,
    error_code,
)
from ciqueue.constants import (
    DEFAULT_PAGE_SIZE,
    HEADER_REQUEST_ID,
    HEADER_SECURITY_TOKEN,
    HEADER_TRACE_ID,
    QUEUE_STATES,
    USER_AGENT,
)
from ciqueue.errors import (
    CiQueueError,
    DeadlineExceeded,
    InvalidInput,
    MalformedResponse,
    Problem,
    QueueNotFound,
    ServiceError,
    TransportError,
    throttling_answer,
)
from ciqueue.limits import (
    MAX_CI_REPLY_BYTES,
    MAX_COS_REPLY_BYTES,
    MAX_LIST_PAGES,
    MAX_QUEUE_IDS_PER_REQUEST,
    REPLY_CHUNK_BYTES,
)
from ciqueue.records import dataclass, field

log = logging.getLogger("ciqueue.client")

POOL_SIZE = 16


@dataclass
class BucketListing:
    """Buckets a kind is activated for (each bucket and region once) and every request id involved."""

    buckets: list[models.ActivatedBucket] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)


@dataclass
class QueueListing:
    """Queues found, ids the service reported missing, and every request id involved."""

    queues: list[models.Queue] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)


@dataclass
class Reply:
    """A 2xx answer, read whole within its bounds: status, reason, headers and the decoded body."""

    status_code: int
    reason: str
    headers: CaseInsensitiveDict[str]
    content: bytes


# What each service's replies may weigh (see limits.py).
SERVICE_REPLY_BYTES = {"ci": MAX_CI_REPLY_BYTES, "cos": MAX_COS_REPLY_BYTES}

# Each service host reads the session token from its own header (CI accepts either; COS only x-cos-).
SERVICE_TOKEN_HEADERS = {"ci": HEADER_SECURITY_TOKEN, "cos": "x-cos-security-token"}


class CIClient:
    """Client of one bucket's CI queue APIs in one region.

    ``service="cos"`` aims the same signing, session, retries and deadlines at the bucket's COS
    host instead (``<bucket>.cos.<region>.myqcloud.com``), for the state object.
    """

    def __init__(
        self,
        bucket: str | None,
        region: str,
        credentials: Credentials | None = None,
        endpoint: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        rand: Rand = random.random,
        service: str = "ci",
        pool_size: int = POOL_SIZE,
        rate: RateLimit | None = None,
    ) -> None:
        problems = (_check_bucket(bucket) if bucket is not None else []) + _check_region(region)
        if service not in SERVICE_TOKEN_HEADERS:
            problems.append(Problem("service", "must be ci or cos"))
        elif bucket is None and service != "ci":
            problems.append(Problem("bucket", f"is required for the {service} service"))
        if endpoint is not None:
            problems += _check_endpoint(endpoint)
        if timeout <= 0:
            problems.append(Problem("timeout", "must be a positive number of seconds"))
        if problems:
            raise InvalidInput(problems)
        self.bucket = bucket
        self.region = region
        self.service = service
        # Without a bucket only the service host remains (bucket listings).
        self.service_host = f"ci.{region}.myqcloud.com"
        self.host = f"{bucket}.{service}.{region}.myqcloud.com" if bucket is not None else self.service_host
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.base_url = self.endpoint or f"https://{self.host}"
        self.credentials = credentials if credentials is not None else Credentials.from_env()
        credential_problems = _check_credentials(self.credentials)
        if credential_problems:
            raise InvalidInput(credential_problems)
        self.retry = retry if retry is not None else RetryPolicy()
        self.timeout = timeout
        self.session = session if session is not None else pooled_session(self.base_url, pool_size)
        # Our own pooled session is sent through directly (``_send``); one passed in, as given.
        self._own_session = session is None
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._rand = rand
        self.quota = RetryQuota()
        # The bucket's request rate (ci.ratelimit), shared by every thread using this client.
        self.rate = rate

    def __repr__(self) -> str:
        return (
            f"CIClient(bucket={self.bucket!r}, region={self.region!r}, endpoint={self.endpoint!r}, "
            f"credentials={self.credentials!r})"
        )

    __str__ = __repr__

    # -- queue APIs -------------------------------------------------------------------------

    def list_queues(
        self,
        kind: str | QueueKind,
        state: str | None = None,
        queue_ids: Iterable[str] | None = None,
        deadline: Deadline | None = None,
        *,
        category: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        reserved: bool = False,
    ) -> QueueListing:
        """Every queue of ``kind`` (optionally in ``state``, or among ``queue_ids``), all pages read.

        ``queue_ids`` go out in batches of at most 10 (CI's limit). ``category`` is media's filter
        (``CateAll``, ``Transcoding`` - CI's default -, ``SpeedTranscoding``). ``reserved``: the
        first request uses a slot the caller reserved of ``self.rate``.
        """
        spec = spec_for(kind)
        problems: list[Problem] = []
        if state is not None and state not in QUEUE_STATES:
            problems.append(Problem("state", f"must be one of {', '.join(QUEUE_STATES)} (got {state!r})"))
        if category is not None and not re.fullmatch(r"[A-Za-z]{1,64}", category):
            problems.append(Problem("category", "must be a category name such as CateAll"))
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 100:
            problems.append(Problem("page_size", "must be an integer from 1 to 100"))
        if problems:
            raise InvalidInput(problems)
        base: dict[str, str] = {}
        if state is not None:
            base["state"] = state
        if category is not None:
            base["category"] = category
        listing = QueueListing()
        seen: set[str] = set()
        if queue_ids is None:
            self._walk_pages(spec.queue_path, base, page_size, deadline, listing, seen, reserved)
            return listing
        ids = _check_queue_ids(queue_ids)
        for start in range(0, len(ids), MAX_QUEUE_IDS_PER_REQUEST):
            batch = {**base, "queueIds": ",".join(ids[start : start + MAX_QUEUE_IDS_PER_REQUEST])}
            self._walk_pages(spec.queue_path, batch, page_size, deadline, listing, seen, reserved)
            reserved = False
        return listing

    def get_queue(
        self, kind: str | QueueKind, queue_id: str, deadline: Deadline | None = None
    ) -> tuple[models.Queue, str]:
        """The queue and the request id that read it; QueueNotFound when CI does not know it."""
        _check_queue_ids([queue_id], field="queue_id")
        listing = self.list_queues(kind, queue_ids=[queue_id], deadline=deadline)
        request_id = listing.request_ids[-1] if listing.request_ids else None
        if queue_id not in listing.missing:
            for queue in listing.queues:
                if queue.queue_id == queue_id:
                    return queue, request_id or ""
        raise QueueNotFound(queue_id, request_id)

    def update_queue(
        self,
        kind: str | QueueKind,
        queue_id: str,
        update: models.QueueUpdate,
        deadline: Deadline | None = None,
        *,
        reserved: bool = False,
    ) -> models.UpdateResult:
        """PUT the whole queue configuration (the API replaces it) and return CI's answer
        (``reserved``: its first attempt uses a slot the caller reserved of ``self.rate``)."""
        spec = spec_for(kind)
        _check_queue_ids([queue_id], field="queue_id")
        response = self.request(
            "PUT", f"{spec.queue_path}/{queue_id}", body=update.to_xml(), deadline=deadline, reserved=reserved
        )
        header_id = response.headers.get(HEADER_REQUEST_ID) or None
        result = models.parse_update(response.content, status=response.status_code, request_id=header_id)
        if not result.request_id and header_id:
            # Every write must be traceable: the header carries the id when the body does not.
            result.request_id = header_id
        return result

    def activate(self, kind: str | QueueKind, deadline: Deadline | None = None) -> str:
        """Turn on the kind's service for the bucket (creates its default queue); the request id."""
        response = self.request("POST", spec_for(kind).activation_path, deadline=deadline)
        return response.headers.get(HEADER_REQUEST_ID, "")

    # -- bucket APIs ------------------------------------------------------------------------

    def list_buckets(
        self,
        kind: str | QueueKind,
        *,
        regions: Iterable[str] | None = None,
        names: Iterable[str] | None = None,
        prefix: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        deadline: Deadline | None = None,
    ) -> BucketListing:
        """Every bucket ``kind``'s service is activated for, all pages read (at most MAX_LIST_PAGES).

        ``GET <activation path>`` on ``ci.<region>.myqcloud.com``. ``regions`` and ``names``
        (exact buckets) narrow the list, ``prefix`` is a bucket-name prefix. CI documents pageSize
        as 1-100 (its default 10); this client asks for DEFAULT_PAGE_SIZE (100) a page.
        """
        spec = spec_for(kind)
        region_list = _unique(regions)
        name_list = _unique(names)
        problems = [p for i, r in enumerate(region_list) if (p := region_problem(r, f"regions[{i}]"))]
        problems += [p for i, n in enumerate(name_list) if (p := bucket_problem(n, f"names[{i}]"))]
        if prefix is not None and not re.fullmatch(r"[a-z0-9-]{1,50}", prefix):
            problems.append(
                Problem("prefix", "must be 1-50 lowercase letters, digits or '-' (a bucket name's start)")
            )
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 100:
            problems.append(Problem("page_size", "must be an integer from 1 to 100"))
        if problems:
            raise InvalidInput(problems)
        base: dict[str, str] = {}
        if region_list:
            base["regions"] = ",".join(region_list)
        if name_list:
            base["bucketNames"] = ",".join(name_list)
        if prefix is not None:
            base["bucketName"] = prefix
        listing = BucketListing()
        seen: set[tuple[str, str]] = set()
        read = 0
        for page in range(1, MAX_LIST_PAGES + 1):
            params = {**base, "pageNumber": str(page), "pageSize": str(page_size)}
            response = self.request(
                "GET", spec.activation_path, params=params, deadline=deadline, host=self.service_host
            )
            header_id = response.headers.get(HEADER_REQUEST_ID) or None
            result = models.parse_bucket_list(
                response.content, spec.bucket_list_element, status=response.status_code, request_id=header_id
            )
            listing.request_ids.append(result.request_id or header_id or "")
            new = 0
            for bucket in result.buckets:
                # A bucket can move between pages while we read; keep each (bucket, region) once.
                key = (bucket.bucket_id or bucket.name or "", bucket.region or "")
                if key not in seen:
                    seen.add(key)
                    listing.buckets.append(bucket)
                    new += 1
            read += len(result.buckets)
            total = result.total_count
            if new == 0 or (total is not None and read >= total):
                return listing
            if total is None and len(result.buckets) < page_size:
                return listing
        raise MalformedResponse(f"{spec.activation_path} listing did not end after {MAX_LIST_PAGES} pages")

    # -- transport --------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        deadline: Deadline | None = None,
        host: str | None = None,
        *,
        max_bytes: int | None = None,
        reserved: bool = False,
    ) -> Reply:
        """Send one signed CI request with retries; the reply when 2xx, else a typed error.

        ``path`` is the decoded path; ``params`` are signed and sent in the query string. Each
        attempt is signed afresh and ends (body read included) by ``deadline`` and the client's
        ``timeout``. The body is bounded by ``max_bytes`` (default: the service's bound).
        With ``self.rate`` every attempt waits for the bucket's rate first (the first one may use
        a slot the caller reserved: ``reserved``), and a throttled answer slows the whole bucket
        down (``RateLimit.throttled``) before the retry loop judges it.
        """
        method = method.upper()
        params = dict(params or {})
        if host is None and self.bucket is None:
            raise InvalidInput(
                "bucket", f"is required for {method} {path} (a client without one only lists buckets)"
            )
        host = host or self.host
        limit = max_bytes if max_bytes is not None else SERVICE_REPLY_BYTES[self.service]
        query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params.items())
        url = f"{self.base_url}{quote(path, safe='/-_.~')}" + (f"?{query}" if query else "")

        rate = self.rate
        waited = [0]  # throttled answers this request has waited out (rate.patience)

        def attempt(number: int) -> Reply:
            if rate is None:
                return self._send_once(
                    method, path, params, url, host, body, headers, deadline, number, limit
                )
            first = reserved and number == 1
            while True:
                rate.acquire(deadline, reserved=first)
                first = False
                try:
                    reply = self._send_once(
                        method, path, params, url, host, body, headers, deadline, number, limit
                    )
                except ServiceError as exc:
                    rate.finished()
                    if not throttling_answer(exc.status, exc.code):
                        raise
                    rate.throttled()
                    if waited[0] >= rate.patience:
                        raise
                    waited[0] += 1  # wait out the bucket's pause (acquire) and send again
                    log.debug("ci throttled %s %s%s; waiting for the bucket's rate", method, host, path)
                    continue
                except BaseException:
                    rate.finished()
                    raise
                rate.finished()
                rate.succeeded()
                return reply

        return call_with_retries(
            attempt,
            policy=self.retry,
            deadline=deadline,
            sleep=self._sleep,
            rand=self._rand,
            quota=self.quota,
            on_retry=lambda number, exc, delay: log.debug(
                "ci retry %s %s%s after attempt=%d error=%s delay_ms=%d",
                method,
                host,
                path,
                number,
                error_code(exc),
                int(delay * 1000),
            ),
        )

    def _send_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str],
        url: str,
        host: str,
        body: bytes | None,
        extra_headers: Mapping[str, str] | None,
        deadline: Deadline | None,
        number: int,
        limit: int,
    ) -> Reply:
        signed = {"host": host}
        if body is not None or method in ("PUT", "POST"):
            signed["content-length"] = str(len(body or b""))
        if body is not None:
            signed["content-type"] = "application/xml"
        if self.credentials.token:
            signed[SERVICE_TOKEN_HEADERS[self.service]] = self.credentials.token
        for name, value in (extra_headers or {}).items():
            signed[name.lower()] = value
        authorization = signing.authorize(self.credentials, method, path, params, signed, now=self._clock())
        wire = {
            "User-Agent": USER_AGENT,
            # Only what the reader below decodes (requests would also offer br or zstd when installed).
            "Accept-Encoding": ", ".join(_DECODERS),
            **{_wire_name(k): v for k, v in signed.items()},
        }
        wire["Authorization"] = authorization
        remaining = None if deadline is None else deadline.remaining()
        timeout = self.timeout if remaining is None else min(self.timeout, remaining)
        if timeout <= 0:
            # The deadline ran out since the retry loop looked; urllib3 refuses a zero timeout.
            raise DeadlineExceeded(f"deadline exceeded before attempt {number} of {method} {path}")
        # Which bound ends this attempt: the caller's deadline (not worth retrying) or our timeout.
        by_deadline = remaining is not None and remaining <= self.timeout
        what = f"{method} {path} reply"
        started = self._monotonic()
        watch = _Watch()
        alarm = _WATCHDOG.schedule(timeout, watch.fire)
        _ACTIVE.watch = watch
        try:
            response = self._send(method, url, body, wire, timeout)
            try:
                ok = 200 <= response.status_code < 300
                request_id = response.headers.get(HEADER_REQUEST_ID) or None
                try:
                    content = _read_reply(response, limit, time.monotonic() + timeout, what, request_id)
                except MalformedResponse:
                    if ok:
                        raise
                    content = b""  # an error answer too big or undecodable: its status still tells
            finally:
                response.close()
        except Exception as exc:
            if watch.fired or isinstance(exc, _OutOfTime):
                raise self._out_of_time(method, path, host, number, timeout, by_deadline) from exc
            if isinstance(exc, CiQueueError):
                raise
            raise self._typed(exc, method, path, host, number) from exc
        finally:
            _WATCHDOG.cancel(alarm)
            _ACTIVE.watch = None
        log.debug(
            "ci %s %s%s status=%d request_id=%s attempt=%d elapsed_ms=%d",
            method,
            host,
            path,
            response.status_code,
            request_id or "-",
            number,
            int((self._monotonic() - started) * 1000),
        )
        reply = Reply(response.status_code, response.reason or "", response.headers, content)
        if ok:
            return reply
        raise _service_error(reply)

    def _send(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: float
    ) -> requests.Response:
        """One HTTP exchange, the reply's body left to stream.

        Through our own ``pooled_session`` the request is prepared by requests (URL, header and
        body rules, the same errors) and handed to the session's adapter directly: the session's
        per-request merging of settings and cookies (settings are resolved once in
        ``pooled_session``; CI sets no cookies, none are kept) cost about a sixth of the client's
        CPU per request. The session's response hooks still run. A session passed in is used as
        given.
        """
        session = self.session
        if not self._own_session:
            return session.request(
                method, url, data=body, headers=headers, timeout=timeout, allow_redirects=False, stream=True
            )
        prepared = requests.PreparedRequest()
        prepared.prepare(method=method, url=url, headers={**session.headers, **headers}, data=body)
        options: dict[str, Any] = {
            "stream": True,
            "timeout": timeout,
            "verify": True if session.verify is None else session.verify,
            "cert": session.cert,
            "proxies": session.proxies,
        }
        response: requests.Response = session.get_adapter(url).send(prepared, **options)
        for hook in session.hooks.get("response", []):  # as requests' dispatch_hook runs them
            response = hook(response, **options) or response
        return response

    def _out_of_time(
        self, method: str, path: str, host: str, number: int, timeout: float, by_deadline: bool
    ) -> CiQueueError:
        if by_deadline:
            return DeadlineExceeded(
                f"deadline exceeded during attempt {number} of {method} {path} (no whole reply in time)"
            )
        return TransportError(
            f"{method} {path} to {self._where(host)} failed after {number} attempt(s): "
            f"no whole reply within the {timeout:g} s timeout"
        )

    def _where(self, host: str) -> str:
        """The host a request is for and, with an endpoint, where the connection really went."""
        return f"{host} via {self.endpoint}" if self.endpoint else host

    def _typed(self, exc: Exception, method: str, path: str, host: str, number: int) -> CiQueueError:
        """The typed error for an exception of the transport (see the module rules)."""
        if isinstance(exc, _BAD_URL_ERRORS):
            field = "endpoint" if self.endpoint else "region"
            rule = f"must give a URL the HTTP library can send ({type(exc).__name__}); {_HOST_RULE}"
            return InvalidInput(field, rule)
        if isinstance(exc, requests.exceptions.InvalidHeader):
            return InvalidInput("headers", "must be printable ASCII header values")
        if isinstance(exc, _TRANSPORT_ERRORS):
            log.debug(
                "ci transport error %s %s%s attempt=%d error=%s",
                method,
                host,
                path,
                number,
                type(exc).__name__,
            )
            failed = f"{method} {path} to {self._where(host)} failed after {number} attempt(s)"
            return TransportError(f"{failed}: {_cause(exc)}")
        raise exc  # not the transport's: a bug, told as one by errors.describe

    def _walk_pages(
        self,
        path: str,
        base: Mapping[str, str],
        page_size: int,
        deadline: Deadline | None,
        listing: QueueListing,
        seen: set[str],
        reserved: bool = False,
    ) -> None:
        """Read pages until TotalCount queues were read, or an empty or all-repeated page.

        A page of queues already read means the service does not page this query (CI answers
        ``queueIds`` searches whole), so asking for the next page would only repeat it.
        """
        read = 0
        for page in range(1, MAX_LIST_PAGES + 1):
            params = {**base, "pageNumber": str(page), "pageSize": str(page_size)}
            response = self.request("GET", path, params=params, deadline=deadline, reserved=reserved)
            reserved = False
            header_id = response.headers.get(HEADER_REQUEST_ID) or None
            result = models.parse_describe(
                response.content, status=response.status_code, request_id=header_id
            )
            listing.request_ids.append(result.request_id or header_id or "")
            for missing in result.non_exist_pids:
                if missing not in listing.missing:
                    listing.missing.append(missing)
            new = 0
            for queue in result.queues:
                # A queue can move between pages while we read; keep each id once.
                key = queue.queue_id or ""
                if key not in seen:
                    seen.add(key)
                    listing.queues.append(queue)
                    new += 1
            read += len(result.queues)
            total = result.total_count
            if new == 0 or (total is not None and read >= total):
                return
            # Without a TotalCount a short page is the last one. With one, a short page may be a
            # service that caps pageSize silently (CI documents no maximum): keep reading.
            if total is None and len(result.queues) < page_size:
                return
        raise MalformedResponse(f"{path} listing did not end after {MAX_LIST_PAGES} pages")


def _service_error(response: Reply) -> ServiceError:
    """A ServiceError from CI's error body, or from the headers when the body is unreadable."""
    status = response.status_code
    header_request_id = response.headers.get(HEADER_REQUEST_ID) or None
    trace_id = response.headers.get(HEADER_TRACE_ID) or None
    try:
        body = models.parse_error(response.content, status=status, request_id=header_request_id)
    except (CiQueueError, ValueError):
        body = None
    if body is None or not body.code:
        code = response.headers.get("x-cos-error-code") or f"HTTP{status}"
        message = response.reason or "unreadable error body"
        return ServiceError(status, code, message, header_request_id, trace_id)
    return ServiceError(
        status,
        body.code,
        body.message or "",
        body.request_id or header_request_id,
        body.trace_id or trace_id,
    )


def pooled_session(base_url: str, pool_size: int = POOL_SIZE) -> requests.Session:
    """A keep-alive session for one endpoint, its proxy and CA-bundle settings read once.

    With ``trust_env`` on, requests re-reads the environment for every request (some 40% of this
    client's CPU per request in bench_reconcile) and lets ``.netrc`` credentials replace our
    signature. The settings depend only on the endpoint, so they are resolved here, once.
    """
    session = requests.Session()
    settings = session.merge_environment_settings(base_url, {}, None, None, None)
    session.proxies = settings["proxies"]
    session.verify = settings["verify"]
    session.cert = settings["cert"]
    session.trust_env = False
    # Retries are ours (re-signed, deadline-aware), so the adapter makes none; its connections
    # are watched, so an attempt's end cuts a reply still trickling in.
    adapter = WatchedAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


# --- bounded replies ---------------------------------------------------------------------------

# Errors of a URL (or host) that requests or urllib3 cannot send: ours, never the service's.
_BAD_URL_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.URLRequired,
    urllib3.exceptions.LocationValueError,
    UnicodeError,  # IDNA: the standard library encodes an ASCII host with a too-long label itself
)
# No (whole) answer: the connection, TLS, framing or a read failed. Worth another attempt.
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


def _cause(exc: BaseException) -> str:
    """The failure's class, and for urllib3's ProtocolError the class of the error it wraps."""
    name = type(exc).__name__
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        inner = next((a for a in exc.args if isinstance(a, BaseException)), None)
        if inner is not None:
            return f"{name} ({type(inner).__name__})"
    return name


class _OutOfTime(Exception):
    """The attempt's time ran out between two reads of the reply."""


class _Watch:
    """One attempt's watchdog: when it fires, the connection the attempt uses is cut.

    A socket timeout bounds each read, not the sum of them: a server sending a byte a second
    keeps every read short and the reply endless. Shutting the socket down wakes the blocked read.
    """

    def __init__(self) -> None:
        self.fired = False
        self._connection: HTTPConnection | None = None
        self._lock = threading.Lock()

    def attach(self, connection: HTTPConnection) -> None:
        with self._lock:
            self._connection = connection
            fired = self.fired
        if fired:
            _cut(connection)

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            connection = self._connection
        if connection is not None:
            _cut(connection)


class _Watchdog:
    """One daemon thread that fires the attempts' watches at their ends (a heap of instants).

    A timer thread per attempt cost a thread start each time and, on a busy machine, a wait of
    milliseconds for the new thread to run before the request could even be sent.
    """

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._keys = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def schedule(self, seconds: float, fire: Callable[[], None]) -> int:
        """Call ``fire`` in ``seconds`` unless ``cancel`` comes first; the key to cancel it."""
        with self._cond:
            key = next(self._keys)
            entry = (time.monotonic() + seconds, key, fire)
            heapq.heappush(self._due, entry)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ciqueue-watchdog", daemon=True)
                self._thread.start()
            elif self._due[0] is entry:
                # Only a new earliest instant changes how long the thread sleeps; waking it for
                # every attempt cost each request a thread switch (and a wait for the GIL).
                self._cond.notify()
            return key

    def cancel(self, key: int) -> None:
        with self._cond:
            self._cancelled.add(key)

    def _run(self) -> None:
        while True:
            fired: list[Callable[[], None]] = []
            with self._cond:
                now = time.monotonic()
                while self._due and (self._due[0][0] <= now or self._due[0][1] in self._cancelled):
                    _, key, fire = heapq.heappop(self._due)
                    if key in self._cancelled:
                        self._cancelled.discard(key)
                    else:
                        fired.append(fire)
                if not fired:
                    self._cond.wait(self._due[0][0] - now if self._due else None)
            for fire in fired:
                fire()


_WATCHDOG = _Watchdog()


def _cut(connection: HTTPConnection) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            # The plain socket's shutdown: an SSLSocket's own would first try a TLS goodbye.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


# The watch of the attempt running on this thread (urllib3 runs a request on the caller's thread).
_ACTIVE = threading.local()


def _attach_active(connection: HTTPConnection) -> None:
    watch = getattr(_ACTIVE, "watch", None)
    if watch is not None:
        watch.attach(connection)


class _WatchedHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach_active(self)  # a pooled connection is reused: attach on every request
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        _attach_active(self)  # the TLS handshake reads too
        super().connect()

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach_active(self)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class WatchedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections the attempt's watchdog can cut (direct or via an HTTP
    proxy; a SOCKS proxy keeps its own connection classes, and only the checks between reads)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_WATCHED_POOLS)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        return manager


def _gzip() -> Any:
    return zlib.decompressobj(16 + zlib.MAX_WBITS)


def _deflate() -> Any:
    return zlib.decompressobj(zlib.MAX_WBITS)


# Content-Encodings the reader decodes (and the only ones asked for), with their decoder.
_DECODERS = {"gzip": _gzip, "deflate": _deflate}


class _Bounded:
    """The decoded body, refused at the first byte over ``limit`` (on the wire or decoded)."""

    def __init__(self, limit: int, encoding: str, fail: Any) -> None:
        self.limit = limit
        self.encoding = encoding
        self.fail = fail
        self.wire = 0
        self.body = bytearray()
        factory = _DECODERS.get(encoding)
        self.decoder = factory() if factory is not None else None

    def feed(self, data: bytes) -> None:
        self.wire += len(data)
        if self.wire > self.limit:
            self.fail(f"body must be at most {self.limit} bytes (more arrived; reading stopped)")
        if self.decoder is None:
            self.body += data
            return
        try:
            while True:
                room = self.limit + 1 - len(self.body)
                piece = self.decoder.decompress(data, room)
                self.body += piece
                if len(self.body) > self.limit:
                    self.fail(
                        f"body must be at most {self.limit} bytes decoded "
                        f"(its {self.encoding} data inflates past that; reading stopped)"
                    )
                data = self.decoder.unconsumed_tail
                if not data and len(piece) < room:
                    break
                if self.decoder.eof:
                    break
        except zlib.error as exc:
            self.fail(f"body must be valid {self.encoding} data ({exc})")
        if self.decoder.eof and self.decoder.unused_data:
            self.fail(f"body must end with its {self.encoding} stream (data follows it)")

    def finish(self) -> bytes:
        if self.decoder is not None and not self.decoder.eof:
            self.fail(f"body must be a whole {self.encoding} stream (it stops short)")
        return bytes(self.body)


def _read_reply(
    response: requests.Response, limit: int, ends_at: float, what: str, request_id: str | None
) -> bytes:
    """The body of ``response``, decoded, bounded by ``limit`` bytes and read before ``ends_at``.

    MalformedResponse for a body over the bound (announced or arriving) or that cannot be
    decoded; _OutOfTime when the attempt's time runs out between reads. A cut-off body raises
    the transport's own error (urllib3 checks Content-Length and chunk framing).
    """
    status = response.status_code

    def fail(rule: str) -> None:
        raise MalformedResponse(f"{what}: {rule}", status=status, request_id=request_id)

    length = response.headers.get("Content-Length")
    if length is not None and length.strip().isdigit() and int(length) > limit:
        fail(f"body must be at most {limit} bytes (Content-Length {int(length)}; not read)")
    encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding not in _DECODERS and encoding != "identity":
        fail(f"Content-Encoding must be {', '.join(_DECODERS)} or none (got {encoding[:40]!r})")
    bounded = _Bounded(limit, encoding, fail)
    raw = response.raw
    if not isinstance(raw, urllib3.response.BaseHTTPResponse):
        # A session that hands back a prebuilt Response (an adapter, a test): its body is whole.
        bounded.feed(response.content)
        return bounded.finish()
    for chunk in raw.stream(REPLY_CHUNK_BYTES, decode_content=False):
        bounded.feed(chunk)
        if time.monotonic() >= ends_at:
            raise _OutOfTime()
    return bounded.finish()


def _wire_name(name: str) -> str:
    if name.startswith("x-"):
        return name
    return "-".join(part.capitalize() for part in name.split("-"))


def _unique(values: Iterable[str] | None) -> list[str]:
    """The values in order, each once (a lone string is one value, not its characters)."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return list(dict.fromkeys(values))


def _check_bucket(bucket: object) -> list[Problem]:
    problem = bucket_problem(bucket)
    return [problem] if problem else []


def _check_region(region: object) -> list[Problem]:
    problem = region_problem(region)
    return [problem] if problem else []


def _check_endpoint(endpoint: str) -> list[Problem]:
    usage = [Problem("endpoint", "must be an http(s) URL such as http://127.0.0.1:9000")]
    if not isinstance(endpoint, str) or not _HEADER_SAFE.fullmatch(endpoint):
        return usage
    try:
        parts = urlsplit(endpoint)
    except ValueError:  # e.g. an unclosed [ of an IPv6 host
        return usage
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return usage
    try:
        port = parts.port  # ValueError when it is no number or out of range
    except ValueError:
        port = 0
    if port == 0:
        return [Problem("endpoint", "must have a port between 1 and 65535")]
    host = parts.hostname
    if not host.startswith("[") and ":" not in host and not _host_ok(host):
        return [Problem("endpoint", _HOST_RULE)]
    # Any ? or # counts, even empty: the path sent would not be the path signed.
    if parts.path.strip("/") or "?" in endpoint or "#" in endpoint or "@" in parts.netloc:
        return [
            Problem("endpoint", "must be scheme://host[:port] only, without path, query, fragment or user")
        ]
    return []


_HOST_RULE = "its host must be DNS labels of 1 to 63 characters, at most 253 in all"


def _host_ok(host: str) -> bool:
    labels = host.rstrip(".").split(".")
    return len(host) <= 253 and all(1 <= len(label) <= 63 for label in labels)


# A header value must be printable ASCII: anything else makes requests raise an error that quotes it.
_HEADER_SAFE = re.compile(r"^[\x21-\x7e]+$")


def _check_credentials(credentials: Credentials) -> list[Problem]:
    """SecretId and token travel in headers; the rule is stated without ever showing the value."""
    problems = []
    if not _HEADER_SAFE.fullmatch(credentials.secret_id or ""):
        problems.append(Problem("credentials.secret_id", "must be printable ASCII without spaces"))
    if not credentials.secret_key:
        problems.append(Problem("credentials.secret_key", "must not be empty"))
    if credentials.token and not _HEADER_SAFE.fullmatch(credentials.token):
        problems.append(Problem("credentials.token", "must be printable ASCII without spaces"))
    return problems


def _check_queue_ids(queue_ids: Iterable[str], field: str = "queue_ids") -> list[str]:
    """The ids in order, each once; InvalidInput naming the first bad one."""
    if isinstance(queue_ids, str):
        queue_ids = [queue_ids]
    ids: list[str] = []
    problems: list[Problem] = []
    for index, queue_id in enumerate(queue_ids):
        problem = queue_id_problem(queue_id, field if field == "queue_id" else f"{field}[{index}]")
        if problem is not None:
            problems.append(problem)
        elif queue_id not in ids:
            ids.append(queue_id)
    if problems:
        raise InvalidInput(problems)
    return ids

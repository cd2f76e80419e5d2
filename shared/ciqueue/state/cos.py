"""The state document as one JSON object in a COS bucket, written with conditions.

The version is the object's ETag. A first write sends ``If-None-Match: *`` (create only), later
writes ``If-Match: <etag read>``; COS answers 412 PreconditionFailed when another writer got
there first, which becomes StateConflict (``update`` then reloads and re-applies). A missing
object (404 NoSuchKey) reads as an empty document. A read sends ``If-None-Match: <etag>`` of the
version this store last read or wrote: 304 Not Modified means that version is still the stored one,
so its document is used again without downloading or parsing the object (the version token, and so
every conditional write, stays the ETag COS holds).

Requests go through ``CIClient.request`` (same signing, session, retries and deadline) aimed at
``<bucket>.cos.<region>.myqcloud.com``; with an endpoint override the connection goes there and
the COS Host is kept and signed.
"""

from __future__ import annotations

import base64
import hashlib
import random
import time

import requests

from ciqueue.ci.client import CIClient
from ciqueue.ci.credentials import Credentials
from ciqueue.ci.identifiers import check_object_key
from ciqueue.ci.retry import Clock, Deadline, Rand, RetryPolicy, Sleep
from ciqueue.constants import DEFAULT_STATE_KEY
from ciqueue.errors import ServiceError, StateConflict
from ciqueue.state.document import StateDocument, VersionedStateStore

HEADER_COS_REQUEST_ID = "x-cos-request-id"


class CosStateStore(VersionedStateStore):
    """A StateStore on ``cos://<bucket>/<key>`` in ``region``."""

    def __init__(
        self,
        bucket: str,
        region: str,
        key: str = DEFAULT_STATE_KEY,
        credentials: Credentials | None = None,
        endpoint: str | None = None,
        *,
        client: CIClient | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        rand: Rand = random.random,
    ) -> None:
        super().__init__(clock=clock, sleep=sleep, rand=rand)
        check_object_key(key, "key")  # the one rule for a safe object key (ci.identifiers)
        if client is None:
            # CIClient validates bucket, region and endpoint the same way for COS.
            client = CIClient(
                bucket,
                region,
                credentials,
                endpoint,
                retry=retry,
                timeout=timeout,
                session=session,
                clock=clock,
                sleep=sleep,
                rand=rand,
                service="cos",
            )
        elif client.service != "cos":
            raise ValueError("CosStateStore needs a CIClient made with service='cos'")
        self.bucket = client.bucket
        self.region = client.region
        self.key = key
        self.host = client.host
        self.client = client
        self.last_request_ids: list[str] = []

    def __repr__(self) -> str:
        return f"CosStateStore(cos://{self.bucket}/{self.key}, region={self.region!r})"

    @property
    def path(self) -> str:
        return "/" + self.key

    def load(self, deadline: Deadline | None = None) -> tuple[StateDocument, str | None]:
        known = self._known
        headers = {"if-none-match": known[0]} if known is not None else None
        try:
            response = self.client.request("GET", self.path, headers=headers, deadline=deadline)
        except ServiceError as exc:
            self._note(exc.request_id)
            if exc.status == 404 and exc.code == "NoSuchKey":
                return StateDocument(), None
            if exc.status == 304 and known is not None:  # still the version read or written last
                doc = self._recall(known[0])
                if doc is not None:
                    return doc, known[0]
            raise
        self._note(response.headers.get(HEADER_COS_REQUEST_ID))
        etag = response.headers.get("ETag") or None
        doc = StateDocument.from_json(response.content, f"object cos://{self.bucket}/{self.key}")
        if etag is None:
            return doc, None
        self._keep(etag, doc)
        return doc.working_copy(), etag

    def _write(self, doc: StateDocument, expected_version: str | None) -> str:
        body = doc.to_json()
        headers = {
            "content-type": "application/json",
            "content-md5": base64.b64encode(hashlib.md5(body).digest()).decode(),
        }
        if expected_version is None:
            headers["if-none-match"] = "*"
        else:
            headers["if-match"] = expected_version
        try:
            response = self.client.request("PUT", self.path, body=body, headers=headers)
        except ServiceError as exc:
            self._note(exc.request_id)
            if exc.status == 412 or exc.code == "PreconditionFailed":
                raise StateConflict(
                    f"state object cos://{self.bucket}/{self.key} was changed by another writer "
                    f"[RequestId: {exc.request_id or '-'}]"
                ) from None
            raise
        self._note(response.headers.get(HEADER_COS_REQUEST_ID))
        etag = response.headers.get("ETag")
        if not etag:
            # Without an ETag the next conditional write cannot be made; COS always sends one.
            return f'"{hashlib.md5(body).hexdigest()}"'
        return etag

    def _note(self, request_id: str | None) -> None:
        if request_id:
            self.last_request_ids = [*self.last_request_ids[-9:], request_id]

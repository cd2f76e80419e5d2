"""The COS state store against the emulator over HTTP, and the emulator's COS object semantics."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from ciqueue.ci import models, signing
from ciqueue.ci.credentials import Credentials
from ciqueue.ci.retry import RetryPolicy
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.emulator.server import EmulatorServer
from ciqueue.errors import InvalidInput, ServiceError, StateConflict, StateCorrupt
from ciqueue.state.cos import CosStateStore
from ciqueue.state.document import StateDocument, add_override, new_override
from ciqueue.state.location import open_store
from conftest import EmuAdmin

BUCKET = "ops-1250000000"
REGION = "ap-guangzhou"
KEY = "ciqueue/state.json"
COS_HOST = f"{BUCKET}.cos.{REGION}.myqcloud.com"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
DEMO = Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY)


def override(n: int) -> Any:
    return new_override(
        bucket="demo-1250000000",
        region=REGION,
        kind="pic",
        queue_id="p" + "0" * 31 + "1",
        state="Paused",
        now=T0,
        override_id=f"ovr-{n}",
    )


def make_store(emulator: EmulatorServer, credentials: Credentials = DEMO, **kwargs: Any) -> CosStateStore:
    kwargs.setdefault("sleep", lambda s: None)
    return CosStateStore(BUCKET, REGION, KEY, credentials=credentials, endpoint=emulator.endpoint, **kwargs)


def cos_requests(emu_admin: EmuAdmin) -> list[tuple[str, str, int, str | None]]:
    return [
        (r["method"], r["path"], r["status"], r["code"])
        for r in emu_admin.requests()
        if r["host"] == COS_HOST
    ]


def cos_call(
    emulator: EmulatorServer,
    method: str,
    key: str = KEY,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    sign: bool = True,
) -> requests.Response:
    """One signed COS request, built by hand (signing.authorize), sent straight to the emulator."""
    wire = {"host": COS_HOST, **{k.lower(): v for k, v in (headers or {}).items()}}
    if body is not None:
        wire["content-length"] = str(len(body))
    if sign:
        wire["authorization"] = signing.authorize(DEMO, method, "/" + key, {}, wire, now=time.time())
    return requests.request(method, f"{emulator.endpoint}/{key}", headers=wire, data=body, timeout=10)


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


# --- the store ----------------------------------------------------------------------------------


def test_missing_object_reads_as_empty(emulator: EmulatorServer, emu_admin: EmuAdmin) -> None:
    doc, version = make_store(emulator).load()
    assert doc == StateDocument() and version is None
    assert cos_requests(emu_admin) == [("GET", "/ciqueue/state.json", 404, "NoSuchKey")]


def test_create_with_if_none_match_then_update_with_if_match(
    emulator: EmulatorServer, emu_admin: EmuAdmin
) -> None:
    store = make_store(emulator)
    first = add_override(StateDocument(), override(1))
    etag = store.save(first, None)
    assert etag == md5_etag(first.to_json())
    stored = emulator.cos.get(BUCKET, REGION, KEY)
    assert stored is not None
    assert (stored.body, stored.content_type) == (first.to_json(), "application/json")
    # Creating again must not overwrite what is there.
    with pytest.raises(StateConflict, match=f"cos://{BUCKET}/{KEY} was changed by another writer"):
        store.save(StateDocument(), None)
    second = add_override(first, override(2))
    new_etag = store.save(second, etag)
    assert new_etag == md5_etag(second.to_json()) != etag
    assert store.load() == (second, new_etag)
    assert cos_requests(emu_admin) == [
        ("PUT", "/ciqueue/state.json", 200, None),
        ("PUT", "/ciqueue/state.json", 412, "PreconditionFailed"),
        ("PUT", "/ciqueue/state.json", 200, None),
        # The store wrote that version itself: If-None-Match with its ETag, 304, nothing downloaded.
        ("GET", "/ciqueue/state.json", 304, None),
    ]
    # Another store has read nothing yet: the whole object, the same document and ETag.
    assert make_store(emulator).load() == (second, new_etag)
    assert cos_requests(emu_admin)[-1] == ("GET", "/ciqueue/state.json", 200, None)


def test_interleaved_writers_conflict_then_retry_keeps_both(
    emulator: EmulatorServer, emu_admin: EmuAdmin
) -> None:
    a, b = make_store(emulator), make_store(emulator)
    a.save(StateDocument(), None)
    # load A, load B, save B, save A -> A's stale ETag is refused.
    doc_a, etag_a = a.load()
    doc_b, etag_b = b.load()
    b.save(add_override(doc_b, override(2)), etag_b)
    with pytest.raises(StateConflict):
        a.save(add_override(doc_a, override(1)), etag_a)
    assert [o.id for o in b.load()[0].overrides] == ["ovr-2"]

    # The same race through update(): B writes between A's load and A's save; A reloads and re-applies.
    seen: list[list[str]] = []

    def add_three(doc: StateDocument) -> StateDocument:
        seen.append([o.id for o in doc.overrides])
        if len(seen) == 1:
            b.update(lambda d: add_override(d, override(4)))
        return add_override(doc, override(3))

    emu_admin.clear_requests()
    saved = a.update(add_three)
    assert seen == [["ovr-2"], ["ovr-2", "ovr-4"]]
    assert [o.id for o in saved.overrides] == ["ovr-2", "ovr-4", "ovr-3"]
    assert [o.id for o in b.load()[0].overrides] == ["ovr-2", "ovr-4", "ovr-3"]
    assert [(m, s) for m, _, s, _ in cos_requests(emu_admin)] == [
        ("GET", 200),  # A loads: B wrote since A's last read, so the whole object
        ("GET", 304),  # B loads: still the version B wrote
        ("PUT", 200),  # B saves
        ("PUT", 412),  # A's If-Match is stale
        ("GET", 200),  # A reloads: a version A has not seen, the whole object
        ("PUT", 200),  # A saves both
        ("GET", 200),  # the check above
    ]


def test_wrong_key_fails_naming_the_code_and_writes_nothing(emulator: EmulatorServer) -> None:
    store = make_store(
        emulator, Credentials(DEMO_SECRET_ID, "not-the-key"), retry=RetryPolicy(max_attempts=1)
    )
    with pytest.raises(ServiceError) as caught:
        store.update(lambda doc: add_override(doc, override(1)))
    assert caught.value.code == "SignatureDoesNotMatch" and caught.value.status == 403
    assert "not-the-key" not in str(caught.value)
    assert emulator.cos.keys() == []


def test_temporary_keys_send_the_cos_token_header(emulator: EmulatorServer, emu_admin: EmuAdmin) -> None:
    emu_admin.seed(keys=[{"secret_id": "AKIDtempTEMPtemp0001", "secret_key": "tempkey", "token": "tok-1"}])
    store = make_store(emulator, Credentials("AKIDtempTEMPtemp0001", "tempkey", "tok-1"))
    saved = store.update(lambda doc: add_override(doc, override(1)))
    assert store.load()[0] == saved
    wrong = make_store(emulator, Credentials("AKIDtempTEMPtemp0001", "tempkey", "tok-2"))
    with pytest.raises(ServiceError, match="InvalidAccessKeyId"):
        wrong.load()


def test_corrupt_object_is_refused_naming_it(emulator: EmulatorServer) -> None:
    emulator.cos.put(BUCKET, REGION, KEY, b"[1, 2]", "application/json")
    with pytest.raises(StateCorrupt, match=f"state object cos://{BUCKET}/{KEY} must be a JSON object"):
        make_store(emulator).load()


def test_bad_keys_are_refused() -> None:
    for key in ("", "/abs", "a//b", "a/../b", "a/%2e%2e/b", "a\nb"):
        with pytest.raises(InvalidInput) as caught:
            CosStateStore(BUCKET, REGION, key, credentials=DEMO)
        assert caught.value.field == "key"
    with pytest.raises(InvalidInput, match="bucket"):
        CosStateStore("Ops", REGION, KEY, credentials=DEMO)


def test_without_an_endpoint_the_store_talks_to_the_cos_host() -> None:
    store = CosStateStore(BUCKET, REGION, KEY, credentials=DEMO)
    assert store.client.base_url == f"https://{COS_HOST}" and store.host == COS_HOST
    opened = open_store(f"cos://{BUCKET}/{KEY}", region=REGION, credentials=DEMO)
    assert isinstance(opened, CosStateStore) and (opened.bucket, opened.key) == (BUCKET, KEY)


def test_a_config_with_cos_state_opens_it_and_round_trips_an_override(
    emulator: EmulatorServer, emu_admin: EmuAdmin, tmp_path: Path
) -> None:
    """settings.state: cos://... with the region from TENCENTCLOUD_REGION, as on SCF (issue 7)."""
    from ciqueue.app.runtime import Runtime

    config = tmp_path / "ciqueue.yml"
    config.write_text(
        "version: 1\ntimezone: UTC\n"
        f"settings: {{state: 'cos://{BUCKET}/{KEY}'}}\n"
        f"targets: {{pics: {{bucket: demo-1250000000, region: {REGION}, kind: pic, name_pattern: '*'}}}}\n"
        "windows: [{name: w, targets: [pics], periods: [{start: '02:00', end: '04:00'}]}]\n"
    )
    env = {
        "CIQUEUE_CONFIG": str(config),
        "CIQUEUE_ENDPOINT": emulator.endpoint,
        "TENCENTCLOUD_SECRETID": DEMO_SECRET_ID,
        "TENCENTCLOUD_SECRETKEY": DEMO_SECRET_KEY,
        "TENCENTCLOUD_REGION": REGION,
    }
    runtime = Runtime.from_env(env)
    assert isinstance(runtime.state, CosStateStore)
    assert (runtime.state.bucket, runtime.state.region, runtime.state.key) == (BUCKET, REGION, KEY)

    saved = runtime.state.update(lambda doc: add_override(doc, override(1)))

    stored = emulator.cos.get(BUCKET, REGION, KEY)
    assert stored is not None and StateDocument.from_json(stored.body, "emulator") == saved
    again, _ = Runtime.from_env(env).state.load()
    assert [o.id for o in again.overrides] == ["ovr-1"]
    assert cos_requests(emu_admin) == [
        ("GET", "/ciqueue/state.json", 404, "NoSuchKey"),
        ("PUT", "/ciqueue/state.json", 200, None),
        ("GET", "/ciqueue/state.json", 200, None),
    ]


def test_state_locations_take_the_region_from_the_location_then_the_environment() -> None:
    from ciqueue.state.location import StateLocation, location_from_env, parse_location

    both = {"CIQUEUE_STATE_REGION": "ap-beijing", "TENCENTCLOUD_REGION": REGION}
    assert parse_location(f"cos://{BUCKET}/{KEY}?region=ap-shanghai", environ=both).region == "ap-shanghai"
    assert parse_location(f"cos://{BUCKET}/{KEY}", environ=both).region == "ap-beijing"
    assert parse_location(f"cos://{BUCKET}", environ={"TENCENTCLOUD_REGION": REGION}) == StateLocation(
        "cos", bucket=BUCKET, key="ciqueue/state.json", region=REGION
    )
    with pytest.raises(InvalidInput, match=r"settings.state: a cos:// location takes only \?region="):
        location_from_env({}, f"cos://{BUCKET}/{KEY}?regoin=x")
    # The bucket setting and a cos:// location name the same store.
    from_bucket = location_from_env({"CIQUEUE_STATE_BUCKET": BUCKET, "TENCENTCLOUD_REGION": REGION})
    assert from_bucket == parse_location(f"cos://{BUCKET}/{KEY}", environ={"TENCENTCLOUD_REGION": REGION})
    assert location_from_env({"CIQUEUE_STATE_FILE": "/tmp/x.json"}, f"cos://{BUCKET}") == StateLocation(
        "file", path="/tmp/x.json"
    )


# --- the emulator's COS objects -----------------------------------------------------------------


def test_put_get_head_with_etag_and_request_id(emulator: EmulatorServer) -> None:
    body = b'{"hello": 1}'
    put = cos_call(emulator, "PUT", headers={"Content-Type": "application/json"}, body=body)
    assert put.status_code == 200 and put.content == b""
    assert put.headers["ETag"] == md5_etag(body)
    assert put.headers["x-cos-request-id"]
    got = cos_call(emulator, "GET")
    assert (got.status_code, got.content, got.headers["Content-Type"]) == (200, body, "application/json")
    assert got.headers["ETag"] == md5_etag(body)
    head = cos_call(emulator, "HEAD")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(body)) and head.headers["ETag"] == md5_etag(body)
    assert len({put.headers["x-cos-request-id"], got.headers["x-cos-request-id"]}) == 2


def test_missing_key_errors_get_xml_and_head_no_body(emulator: EmulatorServer) -> None:
    got = cos_call(emulator, "GET", key="nope.json")
    assert got.status_code == 404
    error = models.parse_error(got.content)
    assert (error.code, error.message) == ("NoSuchKey", "The specified key does not exist.")
    assert error.resource == f"{COS_HOST}/nope.json"
    assert error.request_id == got.headers["x-cos-request-id"] and error.trace_id
    head = cos_call(emulator, "HEAD", key="nope.json")
    assert head.status_code == 404 and head.content == b"" and head.headers["x-cos-request-id"]


def test_if_match_and_if_none_match_on_put(emulator: EmulatorServer) -> None:
    # If-Match on a missing object fails: there is nothing to match.
    missing = cos_call(emulator, "PUT", headers={"If-Match": md5_etag(b"x")}, body=b"x")
    assert missing.status_code == 412 and models.parse_error(missing.content).code == "PreconditionFailed"
    created = cos_call(emulator, "PUT", headers={"If-None-Match": "*"}, body=b"v1")
    assert created.status_code == 200
    again = cos_call(emulator, "PUT", headers={"If-None-Match": "*"}, body=b"v2")
    assert again.status_code == 412 and models.parse_error(again.content).code == "PreconditionFailed"
    stale = cos_call(emulator, "PUT", headers={"If-Match": md5_etag(b"v0")}, body=b"v2")
    assert stale.status_code == 412
    stored = emulator.cos.get(BUCKET, REGION, KEY)
    assert stored is not None and stored.body == b"v1"
    # A matching tag, also inside a list or without quotes, lets the write through.
    ok = cos_call(emulator, "PUT", headers={"If-Match": f'"other", {md5_etag(b"v1")}'}, body=b"v2")
    assert ok.status_code == 200
    bare = cos_call(emulator, "PUT", headers={"If-Match": hashlib.md5(b"v2").hexdigest()}, body=b"v3")
    assert bare.status_code == 200
    any_tag = cos_call(emulator, "PUT", headers={"If-Match": "*"}, body=b"v4")
    assert any_tag.status_code == 200
    stored = emulator.cos.get(BUCKET, REGION, KEY)
    assert stored is not None and stored.body == b"v4"


def test_conditional_get(emulator: EmulatorServer) -> None:
    emulator.cos.put(BUCKET, REGION, KEY, b"v1")
    etag = md5_etag(b"v1")
    not_modified = cos_call(emulator, "GET", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    changed = cos_call(emulator, "GET", headers={"If-None-Match": md5_etag(b"v0")})
    assert changed.status_code == 200 and changed.content == b"v1"
    mismatch = cos_call(emulator, "GET", headers={"If-Match": md5_etag(b"v0")})
    assert mismatch.status_code == 412


def test_content_md5_is_checked(emulator: EmulatorServer) -> None:
    good = base64.b64encode(hashlib.md5(b"v1").digest()).decode()
    assert cos_call(emulator, "PUT", headers={"Content-MD5": good}, body=b"v1").status_code == 200
    bad = cos_call(emulator, "PUT", headers={"Content-MD5": good}, body=b"v2")
    assert bad.status_code == 400 and models.parse_error(bad.content).code == "BadDigest"
    junk = cos_call(emulator, "PUT", headers={"Content-MD5": "abc"}, body=b"v2")
    assert models.parse_error(junk.content).code == "InvalidDigest"
    stored = emulator.cos.get(BUCKET, REGION, KEY)
    assert stored is not None and stored.body == b"v1"


def test_signature_is_required_and_checked(emulator: EmulatorServer) -> None:
    unsigned = cos_call(emulator, "PUT", body=b"v1", sign=False)
    assert unsigned.status_code == 401
    assert models.parse_error(unsigned.content).code == "MissingAuthorization"
    # A signed If-Match header that is changed afterwards no longer matches the signature.
    wire = {"host": COS_HOST, "if-match": '"a"', "content-length": "2"}
    auth = signing.authorize(DEMO, "PUT", "/" + KEY, {}, wire, now=time.time())
    tampered = requests.put(
        f"{emulator.endpoint}/{KEY}",
        headers={**wire, "if-match": '"b"', "authorization": auth},
        data=b"v1",
        timeout=10,
    )
    assert tampered.status_code == 403
    assert models.parse_error(tampered.content).code == "SignatureDoesNotMatch"
    assert emulator.cos.keys() == []


def test_other_methods_and_bucket_paths_are_refused(emulator: EmulatorServer) -> None:
    delete = cos_call(emulator, "DELETE")
    assert delete.status_code == 405 and models.parse_error(delete.content).code == "MethodNotAllowed"
    listing = cos_call(emulator, "GET", key="")
    assert listing.status_code == 405


def test_admin_reset_empties_the_objects(emulator: EmulatorServer, emu_admin: EmuAdmin) -> None:
    emulator.cos.put(BUCKET, REGION, KEY, b"v1")
    assert emulator.cos.keys() == [(BUCKET, REGION, KEY)]
    emu_admin.reset()
    assert emulator.cos.keys() == []


def test_ci_paths_on_a_cos_host_stay_with_the_ci_side(emulator: EmulatorServer) -> None:
    wrong_host = cos_call(emulator, "GET", key="picqueue")
    assert wrong_host.status_code == 400
    assert models.parse_error(wrong_host.content).code == "InvalidHost"

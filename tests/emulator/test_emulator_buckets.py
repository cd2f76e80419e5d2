"""The emulator's bucket-level calls over raw HTTP: listing the buckets a kind is activated for
(``GET /picbucket`` and siblings on ``ci.<Region>.myqcloud.com``) and closing a kind
(``DELETE`` on the bucket host)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests
import xmltodict
from ciqueue.ci.credentials import Credentials
from ciqueue.ci.kinds import KIND_SPECS, QueueKind
from ciqueue.ci.signing import authorize
from ciqueue.emulator.models import EmulatorModel, SqliteStore
from ciqueue.emulator.server import EmulatorServer
from conftest import DEMO_BUCKET, DEMO_REGION, PIC_DEFAULT_ID, DemoBucket, EmuAdmin
from test_emulator import DEMO, ci, error_of, xml

SERVICE_HOST = f"ci.{DEMO_REGION}.myqcloud.com"
BEIJING = "ap-beijing"


def listing(response: requests.Response, element: str = "PicBucketList") -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/xml"
    doc: dict[str, Any] = xmltodict.parse(response.content, force_list=(element,))["Response"]
    assert doc["RequestId"] == response.headers["x-ci-request-id"]
    return doc


def names(doc: dict[str, Any], element: str = "PicBucketList") -> list[tuple[str, str]]:
    return [(b["BucketId"], b["Region"]) for b in doc.get(element, [])]


def list_pic(emu: EmulatorServer, **params: str) -> requests.Response:
    return ci(emu, "GET", "/picbucket", params, host=SERVICE_HOST)


@pytest.fixture
def four_buckets(emulator: EmulatorServer, emu_admin: EmuAdmin) -> None:
    """pic on three buckets in two regions (one also media), and one bucket with media only."""
    emu_admin.seed(
        [
            {"bucket": "beta-1250000000", "region": DEMO_REGION, "kinds": ["pic", "media"]},
            {"bucket": "alpha-1250000000", "region": DEMO_REGION, "kinds": ["pic"]},
            {"bucket": "alpha-1250000000", "region": BEIJING, "kinds": ["pic"]},
            {"bucket": "gamma-1250000000", "region": BEIJING, "kinds": ["media"]},
        ]
    )


def test_list_answers_every_activated_bucket_with_the_documented_elements(
    emulator: EmulatorServer, four_buckets: None, emu_admin: EmuAdmin
) -> None:
    doc = listing(list_pic(emulator))
    assert (doc["TotalCount"], doc["PageNumber"], doc["PageSize"]) == ("3", "1", "10")
    first = doc["PicBucketList"][0]
    assert list(first) == ["BucketId", "Name", "Region", "CreateTime"]
    assert (first["BucketId"], first["Name"], first["Region"]) == (
        "alpha-1250000000",
        "alpha-1250000000",
        BEIJING,
    )
    assert first["CreateTime"].endswith("+0800")
    # Ordered by bucket, then region; gamma has no pic service.
    assert names(doc) == [
        ("alpha-1250000000", BEIJING),
        ("alpha-1250000000", DEMO_REGION),
        ("beta-1250000000", DEMO_REGION),
    ]
    media = listing(ci(emulator, "GET", "/mediabucket", host=SERVICE_HOST), "MediaBucketList")
    assert names(media, "MediaBucketList") == [
        ("beta-1250000000", DEMO_REGION),
        ("gamma-1250000000", BEIJING),
    ]
    (logged,) = [r for r in emu_admin.requests() if r["path"] == "/mediabucket"]
    assert (logged["host"], logged["status"]) == (SERVICE_HOST, 200)


def test_each_kind_lists_under_its_own_element(emulator: EmulatorServer, emu_admin: EmuAdmin) -> None:
    emu_admin.seed([{"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kinds": [k.value for k in QueueKind]}])
    elements = {}
    for spec in KIND_SPECS.values():
        doc = listing(ci(emulator, "GET", spec.activation_path, host=SERVICE_HOST), spec.bucket_list_element)
        assert names(doc, spec.bucket_list_element) == [(DEMO_BUCKET, DEMO_REGION)]
        elements[spec.activation_path] = spec.bucket_list_element
    assert elements == {
        "/picbucket": "PicBucketList",
        "/mediabucket": "MediaBucketList",
        "/docbucket": "DocBucketList",
        "/asrbucket": "AsrBucketList",
        "/ai_bucket": "AiBucketList",
        "/file_bucket": "FileBucketList",
    }


def test_an_empty_listing_has_a_zero_count_and_no_list(emulator: EmulatorServer, four_buckets: None) -> None:
    doc = listing(ci(emulator, "GET", "/asrbucket", host=SERVICE_HOST), "AsrBucketList")
    assert doc["TotalCount"] == "0" and "AsrBucketList" not in doc


def test_pages_split_the_listing_and_total_count_stays_whole(
    emulator: EmulatorServer, four_buckets: None
) -> None:
    pages = [listing(list_pic(emulator, pageNumber=str(n), pageSize="2")) for n in (1, 2, 3)]
    assert [names(page) for page in pages] == [
        [("alpha-1250000000", BEIJING), ("alpha-1250000000", DEMO_REGION)],
        [("beta-1250000000", DEMO_REGION)],
        [],
    ]
    assert [(p["TotalCount"], p["PageNumber"], p["PageSize"]) for p in pages] == [
        ("3", "1", "2"),
        ("3", "2", "2"),
        ("3", "3", "2"),
    ]
    # The Python SDK sends every parameter, empty ones included: the defaults apply.
    defaults = listing(
        list_pic(emulator, regions="", bucketName="", bucketNames="", pageNumber="", pageSize="")
    )
    assert (defaults["TotalCount"], defaults["PageNumber"], defaults["PageSize"]) == ("3", "1", "10")


def test_filters_narrow_together(emulator: EmulatorServer, four_buckets: None) -> None:
    assert names(listing(list_pic(emulator, regions=BEIJING))) == [("alpha-1250000000", BEIJING)]
    both = listing(list_pic(emulator, regions=f"{BEIJING},{DEMO_REGION}"))
    assert both["TotalCount"] == "3"
    assert listing(list_pic(emulator, regions="All"))["TotalCount"] == "3"
    assert names(listing(list_pic(emulator, bucketName="be"))) == [("beta-1250000000", DEMO_REGION)]
    exact = listing(list_pic(emulator, bucketNames="beta-1250000000,alpha-1250000000"))
    assert exact["TotalCount"] == "3"
    assert listing(list_pic(emulator, bucketNames="alph-1250000000"))["TotalCount"] == "0"  # exact only
    narrowed = listing(
        list_pic(emulator, regions=DEMO_REGION, bucketNames="alpha-1250000000", bucketName="al")
    )
    assert names(narrowed) == [("alpha-1250000000", DEMO_REGION)]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pageSize": "0"}, "pageSize: must be an integer from 1 to 100 (got '0')"),
        ({"pageSize": "101"}, "pageSize: must be an integer from 1 to 100 (got '101')"),
        ({"pageNumber": "x"}, "pageNumber: must be an integer of 1 or more (got 'x')"),
        (
            {"regions": "ap-guangzhou,Beijing"},
            "regions: must be All or regions such as ap-guangzhou, comma-separated (got 'Beijing')",
        ),
        (
            {"bucketNames": "alpha"},
            "bucketNames: must be buckets <name>-<appid>, comma-separated (got 'alpha')",
        ),
    ],
)
def test_bad_listing_params_are_invalid_argument(
    emulator: EmulatorServer, four_buckets: None, params: dict[str, str], message: str
) -> None:
    assert error_of(list_pic(emulator, **params)) == (400, "InvalidArgument", message)


def test_listings_are_signed_like_queue_calls(emulator: EmulatorServer, four_buckets: None) -> None:
    unsigned = ci(emulator, "GET", "/picbucket", host=SERVICE_HOST, sign=False)
    assert error_of(unsigned)[:2] == (401, "MissingAuthorization")
    wrong = ci(emulator, "GET", "/picbucket", host=SERVICE_HOST, creds=Credentials("AKIDdemo", "wrong"))
    assert error_of(wrong)[:2] == (401, "SecretidNotExist")
    # Signed for one host, sent to another: the host is part of the signature.
    sent = {"Host": "ci.ap-beijing.myqcloud.com"}
    sent["Authorization"] = authorize(DEMO, "GET", "/picbucket", {}, {"Host": SERVICE_HOST}, time.time())
    moved = requests.get(emulator.endpoint + "/picbucket", headers=sent, timeout=10)
    assert error_of(moved)[:2] == (403, "SignatureDoesNotMatch")


def test_each_call_goes_to_its_own_host(emulator: EmulatorServer, demo_bucket: DemoBucket) -> None:
    on_bucket = error_of(ci(emulator, "GET", "/picbucket"))
    assert on_bucket == (
        400,
        "InvalidHost",
        "GET /picbucket lists buckets on the service host ci.<Region>.myqcloud.com",
    )
    for method, path in (
        ("POST", "/picbucket"),
        ("GET", "/picqueue"),
        ("PUT", f"/picqueue/{PIC_DEFAULT_ID}"),
    ):
        status, code, message = error_of(ci(emulator, method, path, host=SERVICE_HOST))
        assert (status, code) == (400, "InvalidHost")
        assert "<BucketName-APPID>.ci.<Region>.myqcloud.com" in message
    assert error_of(ci(emulator, "GET", "/picbucket", host="ci.Guangzhou.myqcloud.com"))[:2] == (
        400,
        "InvalidHost",
    )


# --- closing a kind ----------------------------------------------------------------------------


def test_closing_pic_deletes_its_queues_and_leaves_the_listing(
    emulator: EmulatorServer, demo_bucket: DemoBucket, emu_admin: EmuAdmin
) -> None:
    assert names(listing(list_pic(emulator))) == [(DEMO_BUCKET, DEMO_REGION)]
    closed = ci(emulator, "DELETE", "/picbucket")
    assert closed.status_code == 200, closed.text
    doc = xml(closed)["Response"]
    assert doc == {"RequestId": closed.headers["x-ci-request-id"], "BucketName": DEMO_BUCKET}
    (bucket,) = emu_admin.state()["buckets"]
    assert bucket["kinds"] == ["media"]
    assert {q["kind"] for q in bucket["queues"]} == {"media"}
    assert error_of(ci(emulator, "GET", "/picqueue"))[:2] == (400, "PicBucketUnBinded")
    assert listing(list_pic(emulator))["TotalCount"] == "0"
    # Closing again: the service is not activated any more.
    assert error_of(ci(emulator, "DELETE", "/picbucket"))[:2] == (400, "PicBucketUnBinded")
    # Opening again creates a fresh default queue, not the old ones.
    assert ci(emulator, "POST", "/picbucket").status_code == 200
    ids = [q["QueueId"] for q in xml(ci(emulator, "GET", "/picqueue"))["Response"]["QueueList"]]
    assert len(ids) == 1 and ids[0] not in demo_bucket.pic_ids


def test_only_documented_kinds_close(emulator: EmulatorServer, emu_admin: EmuAdmin) -> None:
    emu_admin.seed([{"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kinds": [k.value for k in QueueKind]}])
    assert error_of(ci(emulator, "DELETE", "/docbucket")) == (
        405,
        "MethodNotAllowed",
        "DELETE is not allowed on /docbucket",
    )
    closed = []
    for spec in KIND_SPECS.values():
        if spec.kind is not QueueKind.DOC:
            assert ci(emulator, "DELETE", spec.activation_path).status_code == 200
            closed.append(spec.kind.value)
    assert closed == ["pic", "media", "asr", "ai", "file"]
    assert emu_admin.state()["buckets"][0]["kinds"] == ["doc"]
    assert error_of(ci(emulator, "DELETE", "/picbucket", host=SERVICE_HOST))[:2] == (400, "InvalidHost")


def test_a_close_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "ci.sqlite"
    model = EmulatorModel(SqliteStore(data))
    model.activate(DEMO_BUCKET, DEMO_REGION, QueueKind.PIC)
    model.activate(DEMO_BUCKET, DEMO_REGION, QueueKind.ASR)
    model.close_kind(DEMO_BUCKET, DEMO_REGION, QueueKind.PIC)
    model.close()
    again = EmulatorModel(SqliteStore(data))
    (bucket,) = again.state()["buckets"]
    assert bucket["kinds"] == ["asr"]
    assert [q["kind"] for q in bucket["queues"]] == ["asr"]
    again.close()

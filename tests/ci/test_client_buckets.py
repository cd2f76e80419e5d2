"""CIClient.list_buckets over real HTTP against the emulator: the service host, every page read and
bounded, the filters sent as CI names them, bad input refused before any request."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from ciqueue.ci.client import CIClient
from ciqueue.ci.kinds import QueueKind
from ciqueue.errors import InvalidInput, MalformedResponse, ServiceError
from conftest import DEMO_BUCKET, DEMO_REGION, EmuAdmin

MakeClient = Callable[..., CIClient]
SERVICE_HOST = f"ci.{DEMO_REGION}.myqcloud.com"


def seed_pic_buckets(emu_admin: EmuAdmin, count: int, region: str = DEMO_REGION) -> list[str]:
    names = [f"b{n}-1250000000" for n in range(count)]
    emu_admin.seed([{"bucket": name, "region": region, "kinds": ["pic"]} for name in names])
    emu_admin.clear_requests()
    return names


def test_every_page_is_read_from_the_service_host(make_client: MakeClient, emu_admin: EmuAdmin) -> None:
    names = seed_pic_buckets(emu_admin, 5)
    client = make_client(bucket=None)
    listing = client.list_buckets("pic", page_size=2)
    assert [(b.bucket_id, b.name, b.region) for b in listing.buckets] == [(n, n, DEMO_REGION) for n in names]
    assert all(b.create_time and b.create_time.endswith("+0800") for b in listing.buckets)
    log = emu_admin.requests()
    assert [(r["method"], r["host"], r["path"]) for r in log] == [("GET", SERVICE_HOST, "/picbucket")] * 3
    assert [r["query"] for r in log] == [{"pageNumber": str(n), "pageSize": "2"} for n in (1, 2, 3)]
    assert listing.request_ids == [r["request_id"] for r in log]


def test_a_client_with_a_bucket_lists_from_the_service_host_too(
    make_client: MakeClient, emu_admin: EmuAdmin
) -> None:
    emu_admin.seed([{"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kinds": ["asr"]}])
    emu_admin.clear_requests()
    listing = make_client().list_buckets(QueueKind.ASR)
    assert [b.bucket_id for b in listing.buckets] == [DEMO_BUCKET]
    assert emu_admin.requests()[0]["host"] == SERVICE_HOST


def test_filters_go_out_as_ci_names_them(make_client: MakeClient, emu_admin: EmuAdmin) -> None:
    seed_pic_buckets(emu_admin, 3)
    seed_pic_buckets(emu_admin, 1, region="ap-beijing")
    client = make_client(bucket=None)
    listing = client.list_buckets(
        "pic", regions=["ap-beijing", "ap-beijing"], names=["b0-1250000000"], prefix="b0"
    )
    assert [(b.bucket_id, b.region) for b in listing.buckets] == [("b0-1250000000", "ap-beijing")]
    (logged,) = emu_admin.requests()
    assert logged["query"] == {
        "regions": "ap-beijing",
        "bucketNames": "b0-1250000000",
        "bucketName": "b0",
        "pageNumber": "1",
        "pageSize": "100",
    }
    assert client.list_buckets("media").buckets == []


def test_a_silently_capped_page_size_still_reads_everything(
    make_client: MakeClient, emu_admin: EmuAdmin
) -> None:
    names = seed_pic_buckets(emu_admin, 5)
    emu_admin.config(page_size_cap=2)
    listing = make_client(bucket=None).list_buckets("pic", page_size=10)
    assert [b.bucket_id for b in listing.buckets] == names
    # Short pages with a TotalCount of 5 are not the end: three pages of two were read.
    assert [r["query"]["pageNumber"] for r in emu_admin.requests()] == ["1", "2", "3"]


def test_the_listing_is_bounded(
    make_client: MakeClient, emu_admin: EmuAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ciqueue.ci.client as client_module

    seed_pic_buckets(emu_admin, 5)
    monkeypatch.setattr(client_module, "MAX_LIST_PAGES", 2)
    with pytest.raises(MalformedResponse, match="/picbucket listing did not end after 2 pages"):
        make_client(bucket=None).list_buckets("pic", page_size=1)
    assert len(emu_admin.requests()) == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"regions": ["Guangzhou"]}, "regions[0]"),
        ({"names": ["b0"]}, "names[0]"),
        ({"prefix": "B0"}, "prefix"),
        ({"page_size": 101}, "page_size"),
        ({"page_size": 0}, "page_size"),
    ],
)
def test_bad_input_is_refused_before_any_request(
    make_client: MakeClient, emu_admin: EmuAdmin, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        make_client(bucket=None).list_buckets("pic", **kwargs)
    assert [p.field for p in caught.value.problems] == [field]
    assert emu_admin.requests() == []


def test_a_client_without_a_bucket_makes_no_queue_call(make_client: MakeClient, emu_admin: EmuAdmin) -> None:
    client = make_client(bucket=None)
    assert client.host == SERVICE_HOST
    with pytest.raises(InvalidInput) as caught:
        client.list_queues("pic")
    assert str(caught.value).startswith("bucket: is required for GET /picqueue")
    with pytest.raises(InvalidInput, match="bucket: is required for the cos service"):
        make_client(bucket=None, service="cos")
    assert emu_admin.requests() == []


def test_service_errors_come_back_typed(make_client: MakeClient, emu_admin: EmuAdmin) -> None:
    emu_admin.faults(next={"count": 1, "status": 403, "code": "AccessDenied"})
    with pytest.raises(ServiceError) as caught:
        make_client(bucket=None).list_buckets("doc")
    assert (caught.value.status, caught.value.code) == (403, "AccessDenied")

"""``ciqueue buckets list`` against the emulator: which buckets each kind is activated for."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ciqueue.constants import ENV_REGION
from conftest import DEMO_BUCKET, DEMO_REGION, EmuAdmin
from test_cli import env, one_error_line, run

__all__ = ["env"]  # the fixture, imported for the tests below

SERVICE_HOST = f"ci.{DEMO_REGION}.myqcloud.com"


@pytest.fixture
def activated(emu_admin: EmuAdmin) -> None:
    emu_admin.seed(
        [
            {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "kinds": ["pic", "media"]},
            {"bucket": "other-1250000000", "region": DEMO_REGION, "kinds": ["pic"]},
            {"bucket": "far-1250000000", "region": "ap-beijing", "kinds": ["pic"]},
        ]
    )
    emu_admin.clear_requests()


def test_every_kind_is_listed_as_a_table(
    env: Any, activated: None, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "buckets", "list", "--region", DEMO_REGION)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["KIND", "BUCKET", "REGION", "ACTIVATED"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["pic", DEMO_BUCKET, DEMO_REGION],
        ["pic", "other-1250000000", DEMO_REGION],
        ["media", DEMO_BUCKET, DEMO_REGION],
    ]
    log = emu_admin.requests()
    assert [r["path"] for r in log] == [
        "/picbucket",
        "/mediabucket",
        "/docbucket",
        "/asrbucket",
        "/ai_bucket",
        "/file_bucket",
    ]
    assert {r["host"] for r in log} == {SERVICE_HOST}
    assert {r["query"]["regions"] for r in log} == {DEMO_REGION}


def test_one_kind_as_json_with_the_region_from_the_env(
    env: Any, activated: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_REGION, "ap-beijing")
    code, out, _ = run(capsys, "buckets", "list", "--kind", "pic", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["region"] == "ap-beijing"
    assert [(b["kind"], b["bucket"], b["region"]) for b in data["buckets"]] == [
        ("pic", "far-1250000000", "ap-beijing")
    ]
    assert data["buckets"][0]["create_time"].endswith("+0800")
    assert len(data["request_ids"]) == 1 and data["request_ids"][0]


def test_nothing_activated_says_so(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "buckets", "list", "--kind", "asr", "--region", DEMO_REGION)
    assert code == 0
    assert out.splitlines()[-1] == "(no buckets)"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--kind", "video"], "error: --kind: must be one of pic, media, doc, asr, ai, file (got 'video')"),
        ([], f"error: region: is required: pass --region or set {ENV_REGION}"),
        (["--region", "Guangzhou"], "error: region: must be a region such as ap-guangzhou"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_request(
    env: Any, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "buckets", "list", *argv)
    assert (code, out) == (2, "")
    assert one_error_line(err).startswith(message)
    assert emu_admin.requests() == []


def test_a_service_failure_exits_1_naming_the_request(
    env: Any, activated: None, emu_admin: EmuAdmin, capsys: pytest.CaptureFixture[str]
) -> None:
    emu_admin.faults(next={"count": 1, "status": 403, "code": "AccessDenied"})
    code, _, err = run(capsys, "buckets", "list", "--kind", "pic", "--region", DEMO_REGION)
    line = one_error_line(err)
    assert code == 1 and "AccessDenied" in line
    assert f"[RequestId: {emu_admin.requests()[-1]['request_id']}]" in line

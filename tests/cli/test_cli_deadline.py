"""The command line against a hostile CI (tests/hostile.py): every command ends by its deadline
(``--timeout``, default limits.DEFAULT_CLI_TIMEOUT_S), a bad timeout or endpoint is bad input
(exit 2, nothing sent), and a read lacking NotifyConfig ends the command with exit 1 and no PUT.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import hostile
import pytest
from ciqueue.cli import main as cli
from ciqueue.constants import (
    DEMO_SECRET_ID,
    DEMO_SECRET_KEY,
    ENV_ENDPOINT,
    ENV_REGION,
    ENV_SECRET_ID,
    ENV_SECRET_KEY,
    ENV_SESSION_TOKEN,
)
from ciqueue.limits import DEFAULT_CLI_TIMEOUT_S
from hostile import QUEUE_ID, HostileServer

WHERE = ["--bucket", "demo-1250000000", "--region", "ap-guangzhou"]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileServer]:
    monkeypatch.setenv(ENV_SECRET_ID, DEMO_SECRET_ID)
    monkeypatch.setenv(ENV_SECRET_KEY, DEMO_SECRET_KEY)
    monkeypatch.delenv(ENV_SESSION_TOKEN, raising=False)
    monkeypatch.delenv(ENV_REGION, raising=False)
    with hostile.hostile_server() as running:
        monkeypatch.setenv(ENV_ENDPOINT, running.endpoint)
        yield running


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, float]:
    started = time.monotonic()
    code = cli.main(list(argv))
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.strip(), elapsed


def test_the_default_deadline_is_documented_and_at_most_30_s() -> None:
    assert 0 < DEFAULT_CLI_TIMEOUT_S <= 30
    shown = " ".join(cli.build_parser().format_help().split())
    assert (
        f"--timeout SECONDS end the command's calls to CI after this long (default {DEFAULT_CLI_TIMEOUT_S:g})"
        in shown
    )


@pytest.mark.parametrize("command", [["queues", "show", QUEUE_ID], ["queues", "pause", QUEUE_ID]])
def test_timeout_ends_a_trickling_reply(
    server: HostileServer, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    server.default = hostile.trickle()
    code, err, elapsed = run(capsys, *command, *WHERE, "--timeout", "1")
    assert code == cli.EXIT_FAILED
    assert err.startswith("error: deadline exceeded") and "[RequestId: -]" in err
    assert elapsed < 1.75
    assert server.puts() == []


def test_without_timeout_the_default_deadline_applies(
    server: HostileServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "DEFAULT_CLI_TIMEOUT_S", 1.0)  # the default, made short to wait for it
    server.default = hostile.silent()
    code, err, elapsed = run(capsys, "queues", "list", *WHERE)
    assert code == cli.EXIT_FAILED and "deadline exceeded" in err
    assert elapsed < 1.75


def test_the_global_timeout_counts_too(server: HostileServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.default = hostile.silent()
    code, err, elapsed = run(capsys, "--timeout", "0.5", "queues", "list", *WHERE)
    assert code == cli.EXIT_FAILED and "deadline exceeded" in err
    assert elapsed < 1.25


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf", ""])
@pytest.mark.parametrize(
    "command", [["queues", "list"], ["queues", "show", QUEUE_ID], ["buckets", "list"], ["reconcile"]]
)
def test_a_timeout_that_is_no_positive_number_is_bad_input(
    server: HostileServer, capsys: pytest.CaptureFixture[str], value: str, command: list[str]
) -> None:
    where = WHERE if command[0] == "queues" else WHERE[2:] if command[0] == "buckets" else []
    code, err, _ = run(capsys, *command, *where, "--timeout", value)
    assert code == cli.EXIT_USAGE
    assert err == f"error: argument --timeout: must be a positive number of seconds (got {value!r})"
    assert server.requests == []


@pytest.mark.parametrize("suffix", ["?", "#", "/?", "?a=b", "#frag"])
def test_an_endpoint_with_a_query_or_fragment_is_bad_input(
    server: HostileServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    monkeypatch.setenv(ENV_ENDPOINT, server.endpoint + suffix)
    code, err, _ = run(capsys, "queues", "pause", QUEUE_ID, *WHERE)
    assert code == cli.EXIT_USAGE
    assert err == (
        "error: endpoint: must be scheme://host[:port] only, without path, query, fragment or user"
    )
    code, err, _ = run(capsys, "--endpoint", server.endpoint + suffix, "queues", "list", *WHERE)
    assert code == cli.EXIT_USAGE and err.startswith("error: endpoint: ")
    assert server.requests == []


@pytest.mark.parametrize(
    ("missing", "element"), [({"notify": False}, "<NotifyConfig>"), ({"name": False}, "<Name>")]
)
def test_a_read_without_notify_config_or_name_exits_1_and_writes_nothing(
    server: HostileServer, capsys: pytest.CaptureFixture[str], missing: dict[str, bool], element: str
) -> None:
    server.default = hostile.describe(**missing)
    code, err, _ = run(capsys, "queues", "pause", QUEUE_ID, *WHERE)
    assert code == cli.EXIT_FAILED
    assert (
        err
        == (
            f"error: malformed response: queue {QUEUE_ID} was read without {element}, which its update "
            "must carry back; nothing written (HTTP 200, RequestId: rid-read)"
        )
        or element in err
    )
    assert server.puts() == []

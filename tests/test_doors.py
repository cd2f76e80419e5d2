"""One input, one verdict, at every door.

The same identifiers, durations and callbacks go through the CLI, the HTTP API (an SCF Function URL
event into the http_toggle handler), a timer Message (the scheduler handler), an event command (a
CMQ record into the automation handler) and a config file (``ciqueue config check``). Each door
must either accept the input and carry it to CI, or refuse it as bad input, naming the broken rule
with the very text its one home (``ci.identifiers``, ``timefmt``, ``ci.netguard``) gives: exit 2,
HTTP 400, a 400 record or a config error. A refusal sends nothing to CI.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ciqueue.api.auth import hash_token
from ciqueue.ci import identifiers, kinds
from ciqueue.ci.netguard import check_callback_url
from ciqueue.cli import main as cli
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.errors import InvalidInput
from ciqueue.timefmt import DURATION_RULE
from conftest import DEMO_BUCKET, DEMO_REGION, PIC_DEFAULT_ID, EmuAdmin, demo_seed, load_function

TOKEN = "doors-token-0123456789abcdef"
SHORT_BUCKET = "x-123"  # a bucket whose APPID is short: the client always sent it, so every door takes it
SHORT_ID = "p" + "7" * 32
LONG_REGION = "ap-" + "a" * 61  # 64 characters: one DNS label too long for the host
PRIVATE_URL = "http://10.0.0.1/hook"
METADATA_URL = "http://169.254.169.254/latest"
PUBLIC_URL = "https://hooks.example.com/ci"
TENCENT_METADATA_URL = "http://metadata.tencentyun.com/latest/meta-data/"
# Names that DNS answers with a loopback or private address, whatever the name looks like.
WILDCARD_DNS_URLS = {
    "nip-io": "http://10.0.0.1.nip.io/hook",
    "sslip-io": "http://127-0-0-1.sslip.io/hook",
    "xip-io": "http://192.168.0.1.xip.io/hook",
    "localtest-me": "http://localtest.me/hook",
    "localtest-me-sub": "http://ci.localtest.me/hook",
    "lvh-me": "http://hooks.lvh.me/hook",
}
DOC_ID = "p" + "d0c" * 10 + "00"  # a doc queue in the demo bucket (doc takes only Url callbacks)


@dataclass(frozen=True)
class Ask:
    """What a person asks: pause (optionally for a while) or set a callback URL on one queue."""

    bucket: str = DEMO_BUCKET
    region: str = DEMO_REGION
    kind: str = "pic"
    queue_id: str = PIC_DEFAULT_ID
    duration: str | None = None
    url: str | None = None
    tdmq: bool = False  # set a TDMQ callback (region gz, queue ci-events)

    def callback(self) -> dict[str, str] | None:
        if self.tdmq:
            return {"type": "TDMQ", "mq_region": "gz", "mq_name": "ci-events"}
        return None if self.url is None else {"type": "Url", "url": self.url}

    def command(self) -> dict[str, Any]:
        queue = {"bucket": self.bucket, "region": self.region, "kind": self.kind, "queue_id": self.queue_id}
        callback = self.callback()
        if callback is not None:
            return {"action": "set_callback", "queues": [queue], "callback": callback}
        command: dict[str, Any] = {"action": "pause", "queues": [queue], "reason": "doors"}
        if self.duration is not None:
            command["for"] = self.duration
        return command


@dataclass(frozen=True)
class Verdict:
    refused: bool
    rules: tuple[str, ...] = ()


def rules_of(error: dict[str, Any]) -> tuple[str, ...]:
    return tuple(p["rule"] for p in error.get("problems") or [{"rule": error.get("message", "")}])


def _rule(problem: Any) -> str:
    assert problem is not None
    return str(problem.rule)


def _error_rule(check: Callable[[], Any]) -> str:
    with pytest.raises(InvalidInput) as info:
        check()
    return info.value.rule


# -- the doors ----------------------------------------------------------------------------------


@pytest.fixture
def doors(
    emulator: Any, emu_admin: EmuAdmin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> dict[str, Callable[[Ask], Verdict | None]]:
    """Each door as a function of an Ask: its Verdict, or None where the door takes no such input."""
    seed = demo_seed()
    seed.append(
        {
            "bucket": SHORT_BUCKET,
            "region": DEMO_REGION,
            "kinds": ["pic"],
            "queues": [{"kind": "pic", "queue_id": SHORT_ID, "name": "short"}],
        }
    )
    seed.append(
        {
            "bucket": DEMO_BUCKET,
            "region": DEMO_REGION,
            "kinds": ["doc"],
            "queues": [{"kind": "doc", "queue_id": DOC_ID, "name": "doc-1"}],
        }
    )
    emu_admin.seed(seed)
    config = tmp_path / "ciqueue.yml"
    target = {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "name_pattern": "*"}
    config.write_text(json.dumps({"version": 1, "targets": {"t": target}}))
    for name in (
        "CIQUEUE_STATE_BUCKET",
        "TENCENTCLOUD_SESSIONTOKEN",
        "TENCENTCLOUD_RUNENV",
        "CIQUEUE_INVOKER",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CIQUEUE_ENDPOINT", emulator.endpoint)
    monkeypatch.setenv("TENCENTCLOUD_SECRETID", DEMO_SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRETKEY", DEMO_SECRET_KEY)
    monkeypatch.setenv("CIQUEUE_CONFIG", str(config))
    monkeypatch.setenv("CIQUEUE_STATE_FILE", str(tmp_path / "state.json"))
    tokens = [{"name": "doors", "sha256": hash_token(TOKEN), "scopes": ["read", "operate"]}]
    monkeypatch.setenv("CIQUEUE_API_TOKENS", json.dumps(tokens))
    context = {"request_id": "doors-1", "time_limit_in_ms": 30000, "function_name": "doors"}

    def cli_door(ask: Ask) -> Verdict | None:
        where = ["--bucket", ask.bucket, "--region", ask.region, "--kind", ask.kind]
        if ask.tdmq:
            tdmq = ["--tdmq-mode", "Queue", "--tdmq-region", "gz", "--tdmq-name", "ci-events"]
            code = cli.main(["queues", "set-callback", ask.queue_id, *where, *tdmq])
        elif ask.url is not None:
            code = cli.main(["queues", "set-callback", ask.queue_id, *where, "--url", ask.url])
        elif ask.duration is not None:  # an override: the command schema and the executor, as HTTP
            code = cli.main(
                ["queues", "pause", ask.queue_id, *where, "--for", ask.duration, "--reason", "doors"]
            )
        else:
            code = cli.main(["queues", "pause", ask.queue_id, *where])
        err = capsys.readouterr().err
        if code == 2:
            line = err.strip()
            assert line.startswith("error: ") and "\n" not in line, err
            return Verdict(True, (line.split(": ", 2)[2],))
        assert code == 0, err
        return Verdict(False)

    def http_door(ask: Ask) -> Verdict:
        module = load_function("http_toggle")
        path = f"/queues/{ask.bucket}/{ask.region}/{ask.kind}/{ask.queue_id}"
        callback = ask.callback()
        if callback is not None:
            path, body = path + "/callback", callback
        else:
            path, body = path + "/pause", ({"for": ask.duration} if ask.duration else {})
        event = {
            "httpMethod": "POST",
            "path": path,
            "headers": {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
            "body": json.dumps(body),
            "isBase64Encoded": False,
            "queryString": {},
        }
        response = module.main_handler(event, context)
        reply = json.loads(response["body"])
        if response["statusCode"] == 400:
            return Verdict(True, rules_of(reply["error"]))
        assert response["statusCode"] == 200, reply
        return Verdict(False)

    def timer_door(ask: Ask) -> Verdict:
        module = load_function("scheduler")
        event = {"Type": "Timer", "TriggerName": "doors", "Time": "2026-03-01T02:00:00Z"}
        result = module.main_handler({**event, "Message": json.dumps(ask.command())}, context)
        if result.get("status") == 400:
            return Verdict(True, rules_of(result["error"]))
        assert result.get("ok") is True, result
        return Verdict(False)

    def event_door(ask: Ask) -> Verdict:
        module = load_function("automation")
        event = {
            "Records": [{"CMQ": {"msgId": "m-1", "topicName": "ops", "msgBody": json.dumps(ask.command())}}]
        }
        out = module.main_handler(event, context)
        assert "results" in out, out
        [record] = out["results"]
        if record["status"] == 400:
            return Verdict(True, rules_of(record["error"]))
        assert record["ok"] is True, record
        return Verdict(False)

    def config_door(ask: Ask) -> Verdict | None:
        target = {"bucket": ask.bucket, "region": ask.region, "kind": ask.kind, "queue_ids": [ask.queue_id]}
        doc: dict[str, Any] = {"version": 1, "targets": {"t": target}}
        window = {"name": "w", "targets": ["t"], "start": "0 0 2 * * * *", "duration": ask.duration or "2h"}
        doc["windows"] = [window]
        callback = ask.callback()
        if callback is not None:
            callbacks = [callback, {"type": "Url", "url": PUBLIC_URL}]
            at = [{"time": "08:00", "callback": 0}, {"time": "20:00", "callback": 1}]
            doc["rotations"] = [{"name": "r", "targets": ["t"], "callbacks": callbacks, "at": at}]
        path = tmp_path / "door.json"
        path.write_text(json.dumps(doc))
        code = cli.main(["config", "check", str(path)])
        captured = capsys.readouterr()
        if code == 2:
            lines = [line for line in captured.err.splitlines() if ": " in line]
            return Verdict(True, tuple(line.split(": ", 2)[-1] for line in lines))
        assert code == 0, captured.err
        return Verdict(False)

    return {
        "cli": cli_door,
        "http": http_door,
        "timer": timer_door,
        "event": event_door,
        "config": config_door,
    }


# -- the table ----------------------------------------------------------------------------------

BAD = [
    pytest.param(
        Ask(bucket="Demo_bucket-1250000000"),
        lambda: _rule(identifiers.bucket_problem("Demo_bucket-1250000000")),
        id="bucket-uppercase",
    ),
    pytest.param(
        Ask(bucket="demo-"), lambda: _rule(identifiers.bucket_problem("demo-")), id="bucket-without-appid"
    ),
    pytest.param(
        Ask(region=LONG_REGION),
        lambda: _rule(identifiers.region_problem(LONG_REGION)),
        id="region-label-too-long",
    ),
    pytest.param(
        Ask(region="guangzhou"), lambda: _rule(identifiers.region_problem("guangzhou")), id="region-shape"
    ),
    pytest.param(
        Ask(queue_id="bad id"), lambda: _rule(identifiers.queue_id_problem("bad id")), id="queue-id"
    ),
    # Not the shape CI mints (a letter and 32 lowercase hex): refused before anything is sent, not
    # sent to come back QueueNotFound.
    pytest.param(
        Ask(queue_id="p123"), lambda: _rule(identifiers.queue_id_problem("p123")), id="queue-id-short"
    ),
    pytest.param(
        Ask(queue_id=PIC_DEFAULT_ID.upper()),
        lambda: _rule(identifiers.queue_id_problem(PIC_DEFAULT_ID.upper())),
        id="queue-id-upper-case",
    ),
    pytest.param(
        Ask(kind="video"), lambda: _error_rule(lambda: identifiers.parse_kind("video")), id="kind-unknown"
    ),
    pytest.param(Ask(duration="2 hours"), lambda: f"{DURATION_RULE} (got '2 hours')", id="duration-shape"),
    pytest.param(Ask(duration="0m"), lambda: "must be longer than 0s (got '0m')", id="duration-zero"),
    # Judged as written at every door: the config stripped the blanks a command refused.
    pytest.param(Ask(duration=" 30m"), lambda: f"{DURATION_RULE} (got ' 30m')", id="duration-blank"),
    pytest.param(
        Ask(url=PRIVATE_URL),
        lambda: _error_rule(lambda: check_callback_url(PRIVATE_URL)),
        id="callback-private",
    ),
    pytest.param(
        Ask(url=METADATA_URL),
        lambda: _error_rule(lambda: check_callback_url(METADATA_URL)),
        id="callback-metadata-address",
    ),
    pytest.param(
        Ask(url=TENCENT_METADATA_URL),
        lambda: _error_rule(lambda: check_callback_url(TENCENT_METADATA_URL)),
        id="callback-metadata-name",
    ),
    *[
        pytest.param(
            Ask(url=url), lambda url=url: _error_rule(lambda: check_callback_url(url)), id=f"callback-{name}"
        )
        for name, url in WILDCARD_DNS_URLS.items()
    ],
    pytest.param(
        Ask(url="ftp://hooks.example.com/x"),
        lambda: _error_rule(lambda: check_callback_url("ftp://hooks.example.com/x")),
        id="callback-scheme",
    ),
    pytest.param(
        Ask(kind="doc", queue_id=DOC_ID, tdmq=True),
        lambda: kinds.notify_refusals("doc", {"Type": "TDMQ"})[0][1],
        id="callback-tdmq-on-a-doc-queue",
    ),
]

GOOD = [
    pytest.param(Ask(), id="demo-queue"),
    pytest.param(Ask(bucket=SHORT_BUCKET, queue_id=SHORT_ID), id="bucket-with-a-short-appid"),
    pytest.param(Ask(duration="30s"), id="duration-seconds"),
    pytest.param(Ask(duration="1h30m"), id="duration-compound"),
    pytest.param(Ask(url=PUBLIC_URL), id="callback-public"),
    pytest.param(Ask(tdmq=True), id="callback-tdmq"),
    # A doc queue takes a Url callback at every door, with no ResultFormat (doc queues have none).
    pytest.param(Ask(kind="doc", queue_id=DOC_ID, url=PUBLIC_URL), id="callback-url-on-a-doc-queue"),
]


@pytest.mark.parametrize(("ask", "expected_rule"), BAD)
def test_bad_input_gets_one_verdict_at_every_door(
    doors: dict[str, Callable[[Ask], Verdict | None]],
    emu_admin: EmuAdmin,
    ask: Ask,
    expected_rule: Callable[[], str],
) -> None:
    rule = expected_rule()
    verdicts = {}
    for name, door in doors.items():
        emu_admin.clear_requests()
        verdict = door(ask)
        if verdict is None:
            continue
        verdicts[name] = verdict
        assert verdict.refused, f"{name} accepted {ask}"
        assert rule in verdict.rules, f"{name} said {verdict.rules}, the rule's home says {rule!r}"
        assert emu_admin.requests() == [], f"{name} sent a request to CI after refusing {ask}"
    assert {"http", "timer", "event", "config"} <= set(verdicts)
    if ask.duration is not None:
        assert "cli" in verdicts  # ``queues pause --for`` is a door for durations too


@pytest.mark.parametrize("ask", GOOD)
def test_good_input_is_taken_at_every_door(
    doors: dict[str, Callable[[Ask], Verdict | None]], emu_admin: EmuAdmin, ask: Ask
) -> None:
    for name, door in doors.items():
        emu_admin.clear_requests()
        verdict = door(ask)
        if verdict is None:
            continue
        assert not verdict.refused, f"{name} refused {ask}: {verdict.rules}"
        if name != "config":
            hosts = {r["host"] for r in emu_admin.requests()}
            assert hosts == {f"{ask.bucket}.ci.{ask.region}.myqcloud.com"}, f"{name} did not reach the queue"

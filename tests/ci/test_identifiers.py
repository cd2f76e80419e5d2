"""One verdict per identifier at every door: client, state, commands (HTTP API, timer, events),
config file, emulator seed and emulator Host. Each case is judged at every door and the answers
(accepted, or the field's rule text) must agree."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import pytest
from ciqueue.app.commands import parse_command
from ciqueue.ci.client import CIClient
from ciqueue.ci.credentials import Credentials
from ciqueue.ci.identifiers import (
    BUCKET_RULE,
    MAX_BUCKET_LENGTH,
    QUEUE_ID_RULE,
    REGION_RULE,
    check_bucket,
    check_queue_id,
    check_region,
)
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.emulator.models import EmulatorModel
from ciqueue.emulator.routing import parse_host
from ciqueue.errors import InvalidInput, TransportError
from ciqueue.schedule.load import parse_config
from ciqueue.state.document import new_override
from conftest import CONFIG_NOW

BUCKET, REGION, QID = "demo-1250000000", "ap-guangzhou", "p" + "0" * 32
NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
LONG_REGION = "ap-" + "a" * 61  # 64 characters: longer than one DNS label
Verdict = tuple[str, str] | None  # (the field's last part, the rule) or None when accepted


def got(value: str) -> str:
    """How a message shows a value: its repr, cut after 64 characters."""
    return repr(value if len(value) <= 64 else value[:64] + "…")


def _leaf(field: str) -> str:
    return field.rsplit(".", 1)[-1]


def _verdict(call: Callable[[], object]) -> Verdict:
    try:
        call()
    except InvalidInput as exc:
        assert len(exc.problems) == 1, exc.problems
        return _leaf(exc.field), exc.rule
    return None


def client_door(bucket: str, region: str, queue_id: str) -> Verdict:
    def call() -> None:
        creds = Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY)
        client = CIClient(bucket, region, creds, "http://127.0.0.1:9", sleep=lambda _: None)
        try:
            client.list_queues("pic", queue_ids=[queue_id])
        except TransportError:
            pass  # judged good and sent (nothing listens on port 9): accepted

    verdict = _verdict(call)
    return ("queue_id", verdict[1]) if verdict and verdict[0] == "queue_ids[0]" else verdict


def state_door(bucket: str, region: str, queue_id: str) -> Verdict:
    return _verdict(
        lambda: new_override(
            bucket=bucket, region=region, kind="pic", queue_id=queue_id, state="Paused", now=NOW
        )
    )


def command_door(bucket: str, region: str, queue_id: str) -> Verdict:
    queue = {"bucket": bucket, "region": region, "kind": "pic", "queue_id": queue_id}
    return _verdict(lambda: parse_command({"action": "pause", "queues": [queue]}))


def config_door(bucket: str, region: str, queue_id: str) -> Verdict:
    target = {"bucket": bucket, "region": region, "queue_ids": [queue_id]}
    verdict = _verdict(lambda: parse_config({"version": 1, "targets": {"t": target}}, now=CONFIG_NOW))
    return ("queue_id", verdict[1]) if verdict and verdict[0] == "queue_ids[0]" else verdict


def emulator_seed_door(bucket: str, region: str, queue_id: str) -> Verdict:
    body = {
        "buckets": [
            {
                "bucket": bucket,
                "region": region,
                "kinds": ["pic"],
                "queues": [{"kind": "pic", "queue_id": queue_id}],
            }
        ]
    }
    return _verdict(lambda: EmulatorModel(env={}).seed(body))


DOORS = {
    "client": client_door,
    "state": state_door,
    "command": command_door,
    "config": config_door,
    "emulator seed": emulator_seed_door,
}

CASES = [
    # (bucket, region, queue_id, verdict at every door)
    (BUCKET, REGION, QID, None),
    # An APPID is a numeric account id of any length: commands and config demanded 5-12 digits.
    ("x-123", REGION, QID, None),
    ("b" * (MAX_BUCKET_LENGTH - 11) + "-1250000000", REGION, QID, None),
    # 51 characters: commands and config allowed a 50-character name plus a 12-digit APPID.
    ("b" * (MAX_BUCKET_LENGTH - 10) + "-1250000000", REGION, QID, ("bucket", BUCKET_RULE)),
    ("Demo-1250000000", REGION, QID, ("bucket", BUCKET_RULE)),
    ("demo-", REGION, QID, ("bucket", BUCKET_RULE)),
    # Judged as given: commands matched with '$' (a trailing newline passed), config stripped.
    (BUCKET + "\n", REGION, QID, ("bucket", BUCKET_RULE)),
    (" " + BUCKET, REGION, QID, ("bucket", BUCKET_RULE)),
    # Region parts are not counted (commands and config allowed at most three); its length is.
    (BUCKET, "ap-shanghai-fsi", QID, None),
    (BUCKET, "xx-one-two-three-four", QID, None),
    (BUCKET, "ap-" + "a" * 60, QID, None),
    (BUCKET, LONG_REGION, QID, ("region", REGION_RULE)),
    (BUCKET, "guangzhou", QID, ("region", REGION_RULE)),
    # Queue ids: a lowercase letter and 32 lowercase hex digits (ci-api.md: p + 32 hex), at every door.
    (BUCKET, REGION, "p8366c460c67b4c65a9bf81b41eaa3c4b", None),
    (BUCKET, REGION, "s" + "0" * 31 + "f", None),  # the letter is not fixed (the SDK's asr sample: s…)
    (BUCKET, REGION, "p123", ("queue_id", QUEUE_ID_RULE)),
    (BUCKET, REGION, "p" + "0" * 31, ("queue_id", QUEUE_ID_RULE)),
    (BUCKET, REGION, "p" + "0" * 33, ("queue_id", QUEUE_ID_RULE)),
    (BUCKET, REGION, "p8366C460C67B4C65A9BF81B41EAA3C4B", ("queue_id", QUEUE_ID_RULE)),
    (BUCKET, REGION, "P8366c460c67b4c65a9bf81b41eaa3c4b", ("queue_id", QUEUE_ID_RULE)),
    (BUCKET, REGION, "p" + "g" * 32, ("queue_id", QUEUE_ID_RULE)),
    (BUCKET, REGION, "8" + "0" * 32, ("queue_id", QUEUE_ID_RULE)),
    (BUCKET, REGION, "q" * 64, ("queue_id", QUEUE_ID_RULE)),
    (BUCKET, REGION, "p/1", ("queue_id", QUEUE_ID_RULE)),
]


@pytest.mark.parametrize(("bucket", "region", "queue_id", "expected"), CASES)
def test_every_door_gives_the_same_verdict(
    bucket: str, region: str, queue_id: str, expected: Verdict
) -> None:
    verdicts = {name: door(bucket, region, queue_id) for name, door in DOORS.items()}
    if expected is not None:
        value = {"bucket": bucket, "region": region, "queue_id": queue_id}[expected[0]]
        expected = (expected[0], f"{expected[1]} (got {got(value)})")
    assert verdicts == dict.fromkeys(DOORS, expected)


@pytest.mark.parametrize(
    ("bucket", "region", "accepted"),
    [
        (BUCKET, REGION, True),
        ("x-123", REGION, True),
        (BUCKET, LONG_REGION, False),
        ("demo_x-1250000000", REGION, False),
        ("b" * (MAX_BUCKET_LENGTH - 10) + "-1250000000", REGION, False),
    ],
)
def test_the_emulator_host_follows_the_same_rules(bucket: str, region: str, accepted: bool) -> None:
    found = parse_host(f"{bucket}.ci.{region}.myqcloud.com:443")
    assert (found is not None) == accepted
    if found is not None:
        assert (found.bucket, found.region) == (bucket, region)


def test_checks_name_the_field_and_return_the_value() -> None:
    assert check_bucket("x-123") == "x-123"
    assert check_region("ap-guangzhou") == "ap-guangzhou"
    assert check_queue_id(QID, "queues[3].queue_id") == QID
    with pytest.raises(InvalidInput) as caught:
        check_region(LONG_REGION, "shard[0].region")
    assert str(caught.value) == f"shard[0].region: {REGION_RULE} (got {LONG_REGION!r})"
    with pytest.raises(InvalidInput) as caught:
        check_bucket(None)
    assert str(caught.value) == f"bucket: {BUCKET_RULE} (got null)"
    with pytest.raises(InvalidInput) as caught:
        check_queue_id("x" * 100)
    assert str(caught.value) == f"queue_id: {QUEUE_ID_RULE} (got {got('x' * 100)})"

"""Audit lines: exact JSON, one line per call, stable key order, secrets never written."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from ciqueue.app import audit as audit_module
from ciqueue.app.audit import FIELD_ORDER, audit, audit_logger, audit_operation, redact
from ciqueue.app.commands import parse_command
from ciqueue.app.executor import execute
from ciqueue.app.runtime import Runtime
from ciqueue.ci.credentials import Credentials
from ciqueue.ci.kinds import QueueKind
from ciqueue.ci.models import Queue
from ciqueue.ci.operations import FieldChange, OperationResult
from ciqueue.errors import InvalidInput, QueueNotFound, ServiceError, describe
from conftest import NOON_UTC, PIC_CALLBACK_ID, SECRET_CALLBACK_URL, pic_ref

T0 = datetime(2025, 3, 1, 8, 0, 0, 123000, tzinfo=timezone.utc)
QID = "p" + "0" * 31 + "1"


def lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    out = capsys.readouterr().out
    assert out.endswith("\n")
    return out.splitlines()


def test_exact_line(capsys: pytest.CaptureFixture[str]) -> None:
    record = audit(
        "queue.paused",
        ts=T0,
        actor="token:ops",
        queue=f"demo-1250000000/ap-guangzhou/pic/{QID}",
        action="pause",
        reason="window 'nightly' opened at 02:00",
        changed=True,
        dry_run=False,
        before={"State": "Active"},
        after={"State": "Paused"},
        request_ids=["r1", "r2", "r3"],
        context={"request_id": "scf-req-1", "memory_limit_in_mb": 128},
    )
    assert lines(capsys) == [
        '{"ts":"2025-03-01T08:00:00.123Z","event":"queue.paused","actor":"token:ops",'
        f'"queue":"demo-1250000000/ap-guangzhou/pic/{QID}","action":"pause",'
        '"reason":"window \'nightly\' opened at 02:00","changed":true,"dry_run":false,'
        '"before":{"State":"Active"},"after":{"State":"Paused"},"result":{"status":"ok"},'
        '"request_ids":["r1","r2","r3"],"function_request_id":"scf-req-1"}'
    ]
    assert list(record) == list(FIELD_ORDER)


def test_absent_fields_are_null_and_extras_follow_sorted(capsys: pytest.CaptureFixture[str]) -> None:
    shanghai = timezone(timedelta(hours=8))
    audit(
        "override.created",
        ts=datetime(2025, 3, 1, 16, 0, tzinfo=shanghai),
        zeta=1,
        override_id="ovr-1",
        expires_at=datetime(2025, 3, 2, 0, 0, tzinfo=shanghai),
        kind=QueueKind.PIC,
    )
    (line,) = lines(capsys)
    data = json.loads(line)
    assert list(data) == [*FIELD_ORDER, "expires_at", "kind", "override_id", "zeta"]
    assert data["ts"] == "2025-03-01T08:00:00.000Z"
    assert data["expires_at"] == "2025-03-01T16:00:00.000Z" and data["kind"] == "pic"
    assert data["actor"] is None and data["changed"] is None and data["function_request_id"] is None


def test_one_line_per_call_and_newlines_stay_inside_strings(capsys: pytest.CaptureFixture[str]) -> None:
    audit("queue.skipped", ts=T0, reason="changed by hand\nsince the last edge")
    audit("queue.skipped", ts=T0, reason="second")
    out = lines(capsys)
    assert len(out) == 2
    assert json.loads(out[0])["reason"] == "changed by hand\nsince the last edge"
    assert json.loads(out[1])["reason"] == "second"


def test_secrets_are_redacted_at_any_depth(capsys: pytest.CaptureFixture[str]) -> None:
    auth = (
        "q-sign-algorithm=sha1&q-ak=AKIDx&q-sign-time=1;2&q-key-time=1;2&q-header-list=host"
        "&q-signature=abc123def"
    )
    audit(
        "queue.paused",
        ts=T0,
        request={
            "headers": {"Authorization": auth, "X-Ci-Security-Token": "tok-secret-1", "Host": "h"},
            "items": [{"password": "pw-secret-2"}, {"SecretKey": "sk-secret-3", "name": "ok"}],
            "note": "sent Bearer bearer-secret-4 and " + auth,
        },
        api_token="tok-secret-5",
        credentials=Credentials("AKIDabcdefghijkl", "sk-secret-6", "tok-secret-7"),
        reason="Authorization: Bearer bearer-secret-8",
    )
    (line,) = lines(capsys)
    for secret in ("abc123def", "tok-secret", "pw-secret", "sk-secret", "bearer-secret"):
        assert secret not in line
    data = json.loads(line)
    headers = data["request"]["headers"]
    assert headers == {"Authorization": "***", "X-Ci-Security-Token": "***", "Host": "h"}
    assert data["request"]["items"] == [{"password": "***"}, {"SecretKey": "***", "name": "ok"}]
    assert data["request"]["note"].startswith("sent Bearer *** and q-sign-algorithm=sha1&q-ak=AKIDx")
    assert data["request"]["note"].endswith("q-signature=***")
    assert data["api_token"] == "***" and data["credentials"] == "***"
    assert data["reason"] == "Authorization: Bearer ***"


def test_redact_keeps_nulls_and_other_values() -> None:
    assert redact({"token": None, "n": 1, "list": ["q-signature=ff&x=1"]}) == {
        "token": None,
        "n": 1,
        "list": ["q-signature=***&x=1"],
    }


def test_error_results_name_the_code_and_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    audit("queue.paused", ts=T0, error=ServiceError(403, "SignatureDoesNotMatch", "no match", "rid-1"))
    audit("queue.paused", ts=T0, error=QueueNotFound(QID, "rid-2"))
    first, second = (json.loads(line) for line in lines(capsys))
    assert first["result"] == {
        "status": "error",
        "code": "SignatureDoesNotMatch",
        "message": "SignatureDoesNotMatch (HTTP 403): no match [RequestId: rid-1]",
        "http_status": 403,
        "ci_code": "SignatureDoesNotMatch",
        "request_id": "rid-1",
        "ci_request_id": "rid-1",
    }
    assert second["result"]["code"] == "QueueNotFound" and second["result"]["request_id"] == "rid-2"


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("connect to postgres://admin:hunter2@db failed"),
        InvalidInput("callback.url", "must be https"),
        ServiceError(503, "SlowDown", "slow down", "rid-3"),
        ConnectionResetError(104, "reset"),
    ],
    ids=["unexpected", "invalid-input", "service-error", "raw-connection-error"],
)
def test_an_error_result_is_the_error_models_verdict(
    error: BaseException, capsys: pytest.CaptureFixture[str]
) -> None:
    # One error model: the audit line tells a failure as every other door does (errors.describe).
    audit("queue.failed", ts=T0, error=error)
    (line,) = lines(capsys)
    assert json.loads(line)["result"] == {"status": "error", **describe(error).to_dict()}
    assert "hunter2" not in line  # an unexpected exception's text may quote data: never shown


def _result(changed: bool, dry_run: bool, diff: list[FieldChange]) -> OperationResult:
    before = Queue(queue_id=QID, name="q1", state="Active", bucket_id="demo-1250000000")
    after = before.model_copy(update={"state": "Paused"}) if diff else before
    return OperationResult(
        kind=QueueKind.PIC,
        queue_id=QID,
        action="pause",
        before=before,
        after=after,
        changed=changed,
        dry_run=dry_run,
        diff=diff,
        request_ids=["r1", "r2", "", "r3"],
        reason="set State Active -> Paused",
        actor="token:ops",
    )


def test_audit_operation_writes_only_the_changed_fields(capsys: pytest.CaptureFixture[str]) -> None:
    audit_module_clock = audit_module.clock
    audit_module.clock = lambda: T0.timestamp()
    try:
        audit_operation(
            _result(True, False, [FieldChange("State", "Active", "Paused")]),
            actor="token:ops",
            reason="maintenance",
            context={"request_id": "scf-1"},
            region="ap-guangzhou",
        )
    finally:
        audit_module.clock = audit_module_clock
    (line,) = lines(capsys)
    assert line == (
        '{"ts":"2025-03-01T08:00:00.123Z","event":"queue.paused","actor":"token:ops",'
        f'"queue":"demo-1250000000/ap-guangzhou/pic/{QID}","action":"pause","reason":"maintenance",'
        '"changed":true,"dry_run":false,"before":{"State":"Active"},"after":{"State":"Paused"},'
        '"result":{"status":"ok"},"request_ids":["r1","r2","r3"],"function_request_id":"scf-1"}'
    )


def test_audit_operation_events_for_dry_runs_and_no_ops(capsys: pytest.CaptureFixture[str]) -> None:
    dry = audit_operation(_result(False, True, [FieldChange("State", "Active", "Paused")]), None)
    same = audit_operation(_result(False, False, []), "schedule")
    assert (dry["event"], dry["changed"], dry["dry_run"], dry["actor"]) == (
        "queue.paused",
        False,
        True,
        "token:ops",
    )
    assert dry["reason"] == "set State Active -> Paused"
    assert (same["event"], same["before"], same["after"], same["actor"]) == (
        "queue.unchanged",
        {},
        {},
        "schedule",
    )
    assert same["queue"] == f"demo-1250000000/-/pic/{QID}"
    assert len(lines(capsys)) == 2


def test_the_audit_line_of_a_callback_change_leaves_out_the_url_query(
    night_runtime: Callable[[datetime], Runtime], capsys: pytest.CaptureFixture[str]
) -> None:
    # The audit line of a callback change used to carry the callback URL's query string.
    callback = {"type": "Url", "url": SECRET_CALLBACK_URL, "event": "TaskFinish", "format": "JSON"}
    command = parse_command(
        {"action": "set_callback", "queues": [pic_ref(PIC_CALLBACK_ID)], "callback": callback}
    )

    outcome = execute(command, night_runtime(NOON_UTC), actor="carol")

    assert outcome.ok, outcome.error
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [changed] = [line for line in lines if line["event"] == "queue.callback_changed"]
    assert changed["after"]["NotifyConfig.Url"] == "https://hooks.example.com/ci?token=***"
    assert "s3cr3t" not in json.dumps(lines)


def test_logger_is_installed_once_and_does_not_propagate(capsys: pytest.CaptureFixture[str]) -> None:
    logger = audit_logger()
    assert audit_logger() is logger
    assert [type(h).__name__ for h in logger.handlers].count("_StdoutHandler") == 1
    # Not repeated by the root logger, which SCF prints as well.
    assert logger.name == "ciqueue.audit" and logger.propagate is False
    audit("override.cancelled", ts=T0, actor="token:ops")
    audit("override.cancelled", ts=T0, actor="token:ops")
    assert len(lines(capsys)) == 2

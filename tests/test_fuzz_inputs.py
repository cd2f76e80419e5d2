"""Property tests: bad input on every surface gets a clear error naming the field and the rule.

Arguments, config, events, HTTP bodies, server replies, XML and Authorization values are generated
(arbitrary and biased toward the real keys); each surface may only raise its documented error, whose
problems all name a field and a rule, and nothing is changed (no PUT reaches the emulator).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from ciqueue.api.auth import ApiToken, hash_token
from ciqueue.app.commands import Command, parse_command
from ciqueue.ci.models import parse_describe, parse_error, parse_update, parse_update_request
from ciqueue.ci.signing import parse_authorization
from ciqueue.envelopes.detect import detect_source, http_request_for, records_for
from ciqueue.envelopes.http import HttpRequest
from ciqueue.errors import InvalidInput, MalformedResponse
from ciqueue.schedule.config import Config
from ciqueue.schedule.load import load_config, parse_config
from conftest import CONFIG_NOW, DEMO_BUCKET, DEMO_REGION, PIC_DEFAULT_ID, EmuAdmin
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

# derandomize: CI runs the same examples every time (a regression shows as a failure, never as
# a slow or flaky run); the examples still change whenever the strategies or the code under test do.
FAST = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
EVENTS = Path(__file__).resolve().parent / "events"
NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def biased_dict(keys: list[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts whose keys are mostly real field names."""
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), values, max_size=len(keys))


def assert_named(exc: InvalidInput) -> None:
    assert exc.problems
    for problem in exc.problems:
        assert isinstance(problem.field, str) and problem.field.strip(), exc.problems
        assert isinstance(problem.rule, str) and problem.rule.strip(), exc.problems
    assert "Traceback" not in str(exc)


# --- commands ----------------------------------------------------------------------------------

COMMAND_KEYS = ["action", "queues", "target", "reason", "until", "for", "callback", "override_id", "id"]
QUEUE_KEYS = ["bucket", "region", "kind", "queue_id"]
CALLBACK_KEYS = ["state", "type", "url", "event", "format", "mq_mode", "mq_region", "mq_name"]
command_leaves = (
    json_values
    | st.sampled_from(["pause", "resume", "set_callback", "cancel_override", "reconcile", "pic", "media"])
    | st.sampled_from([DEMO_BUCKET, DEMO_REGION, PIC_DEFAULT_ID, "2h", "7d", "2030-01-01T00:00:00Z"])
    | st.sampled_from(["https://cb.example.com/x", "http://10.0.0.1/", "On", "Off", "Url", "TDMQ"])
)
queue_dicts = biased_dict(QUEUE_KEYS, command_leaves)
callback_dicts = biased_dict(CALLBACK_KEYS, command_leaves)
command_dicts = st.fixed_dictionaries(
    {},
    optional={
        "action": command_leaves,
        "queues": st.lists(queue_dicts | command_leaves, max_size=3) | command_leaves,
        "target": command_leaves,
        "reason": command_leaves | st.text(min_size=200, max_size=400),
        "until": command_leaves,
        "for": command_leaves,
        "callback": callback_dicts | command_leaves,
        "override_id": command_leaves,
        "id": command_leaves,
    },
) | biased_dict(COMMAND_KEYS, command_leaves)


def judge_command(data: Any) -> None:
    try:
        result = parse_command(data)
    except InvalidInput as exc:
        assert_named(exc)
    else:
        assert isinstance(result, Command)


@FAST
@given(command_dicts)
def test_parse_command_biased_dicts(data: dict[str, Any]) -> None:
    judge_command(data)
    judge_command(json.dumps(data))


@FAST
@given(json_values | st.binary(max_size=64) | st.text(max_size=64))
def test_parse_command_anything(data: Any) -> None:
    judge_command(data)


# --- config ------------------------------------------------------------------------------------

clock = st.sampled_from(["02:00", "23:30", "24:00", "25:00", "0:0", "9:60"]) | st.text(max_size=6)
cron = st.sampled_from(["0 0 2 * * * *", "0 */1 * * * * *", "* * * * * * *", "0 0 2 31 2 * *", "bad"])
duration = st.sampled_from(["2h", "90m", "1h30m", "0m", "7d", "0d", "1m", "x"]) | st.text(max_size=5)
local_dt = st.sampled_from(["2026-03-01T02:00", "2026-03-02T04:00", "2026-13-01T00:00", "2026-03-01"])
config_leaves = scalars | clock | cron | duration | local_dt
target = st.fixed_dictionaries(
    {"bucket": st.sampled_from([DEMO_BUCKET, "Bad_bucket"]), "region": st.sampled_from([DEMO_REGION, "x"])},
    optional={
        "kind": st.sampled_from(["pic", "media", "nope"]) | config_leaves,
        "queue_ids": st.lists(st.sampled_from([PIC_DEFAULT_ID, "bad id"]), max_size=2) | config_leaves,
        "name_pattern": st.sampled_from(["img-*", "*"]) | config_leaves,
    },
)
period = st.fixed_dictionaries(
    {"start": clock, "end": clock},
    optional={"days": st.sampled_from(["mon-fri", "sat", ["sun", "mon"], "fri-mon", "xyz"]) | config_leaves},
)
window = st.fixed_dictionaries(
    {"name": st.sampled_from(["w1", "w2", "bad name"]), "targets": st.just(["a"]) | config_leaves},
    optional={
        "start": cron | config_leaves,
        "end": cron | config_leaves,
        "duration": duration,
        "periods": st.lists(period | config_leaves, max_size=2) | config_leaves,
        "dates": st.lists(st.fixed_dictionaries({"start": local_dt, "end": local_dt}), max_size=2),
        "exclude": st.lists(st.sampled_from(["2026-03-01", "2026-02-30", "x"]), max_size=2),
        "timezone": st.sampled_from(["UTC", "Asia/Shanghai", "Mars/Base", ""]) | config_leaves,
        "enforced": st.booleans() | config_leaves,
    },
)
callback = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["Url", "TDMQ", "x"]),
        "url": st.sampled_from(["https://a.example.com/cb", "http://127.0.0.1/", "ftp://x"]),
        "state": st.sampled_from(["On", "Off"]) | config_leaves,
        "event": st.sampled_from(["TaskFinish", "x"]),
        "mq_mode": st.sampled_from(["Queue", "Topic"]),
        "mq_region": st.sampled_from(["sh", "zz"]),
        "mq_name": st.sampled_from(["topic-1", ""]),
    },
)
rotation = st.fixed_dictionaries(
    {"name": st.sampled_from(["r1", "r2"]), "targets": st.just(["a"]) | config_leaves},
    optional={
        "callbacks": st.lists(callback | config_leaves, max_size=3) | config_leaves,
        "every": duration | config_leaves,
        "anchor": local_dt | config_leaves,
        "at": st.lists(
            st.fixed_dictionaries(
                {"time": clock, "callback": st.integers(-1, 3) | config_leaves},
                optional={"days": st.sampled_from(["mon", "sat-sun"])},
            ),
            max_size=3,
        )
        | config_leaves,
        "timezone": st.sampled_from(["UTC", "Asia/Shanghai"]) | config_leaves,
        "enforced": st.booleans(),
    },
)
config_dicts = st.fixed_dictionaries(
    {"version": st.just(1) | config_leaves},
    optional={
        "timezone": st.sampled_from(["UTC", "Asia/Shanghai", "America/New_York", "Nowhere"]) | config_leaves,
        "targets": st.dictionaries(
            st.sampled_from(["a", "b", "bad name"]), target | config_leaves, max_size=2
        )
        | config_leaves,
        "windows": st.lists(window | config_leaves, max_size=3) | config_leaves,
        "rotations": st.lists(rotation | config_leaves, max_size=2) | config_leaves,
        "settings": biased_dict(["concurrency", "shard_size", "state", "dry_run"], config_leaves)
        | config_leaves,
    },
)

# Mostly valid configs, so plan and decide see many real schedules (not only load errors).
good_cron = st.sampled_from(
    [
        "0 0 2 * * * *",
        "0 30 23 * * MON-FRI *",
        "0 0 */6 * * * *",
        "0 0 2 31 2 * *",
        "0 0 0 1 * * *",
        "0 */5 * * * * *",
        "0 0 2 29 2 * *",
        "0 0 2 1 1 * 2099",
    ]
)
good_window = st.fixed_dictionaries(
    {"name": st.sampled_from(["w1", "w2", "w3"]), "targets": st.just(["a"])},
    optional={
        "timezone": st.sampled_from(["UTC", "Asia/Shanghai", "America/New_York", "Australia/Lord_Howe"])
    },
).flatmap(
    lambda base: st.one_of(
        st.tuples(good_cron, st.sampled_from(["1m", "2h", "90m", "23h", "7d"])).map(
            lambda t: {**base, "start": t[0], "duration": t[1]}
        ),
        st.tuples(good_cron, good_cron).map(lambda t: {**base, "start": t[0], "end": t[1]}),
        st.lists(
            st.fixed_dictionaries(
                {
                    "start": st.sampled_from(["00:00", "02:00", "23:30", "02:30"]),
                    "end": st.sampled_from(["24:00", "04:00", "01:30", "03:00"]),
                },
                optional={"days": st.sampled_from(["mon-fri", "sat", "fri-mon", ["sun"]])},
            ),
            min_size=1,
            max_size=3,
        ).map(lambda periods: {**base, "periods": periods}),
        st.lists(
            st.sampled_from(
                [
                    {"start": "2026-03-01T02:00", "end": "2026-03-01T04:00"},
                    {"start": "2026-02-28T00:00", "end": "2026-03-05T00:00"},
                    {"start": "2026-03-08T01:30", "end": "2026-03-08T03:30"},
                    {"start": "2026-03-01T02:00+08:00", "end": "2026-03-01T03:00+08:00"},
                ]
            ),
            min_size=1,
            max_size=2,
        ).map(lambda dates: {**base, "dates": dates}),
    )
)
good_rotation = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["r1", "r2"]),
        "targets": st.just(["a"]),
        "callbacks": st.just(
            [{"type": "Url", "url": "https://a.example.com/cb"}, {"state": "Off"}],
        ),
    }
).flatmap(
    lambda base: st.one_of(
        st.tuples(st.sampled_from(["1m", "12h", "7d"]), local_dt).map(
            lambda t: {**base, "every": t[0], "anchor": t[1]}
        ),
        st.lists(
            st.fixed_dictionaries(
                {"time": st.sampled_from(["08:00", "20:00", "00:00"]), "callback": st.integers(0, 1)}
            ),
            min_size=1,
            max_size=3,
        ).map(lambda at: {**base, "at": at}),
    )
)
good_configs = st.fixed_dictionaries(
    {
        "version": st.just(1),
        "targets": st.just({"a": {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "name_pattern": "*"}}),
        "windows": st.lists(good_window, max_size=3, unique_by=lambda w: w["name"]),
        "rotations": st.lists(good_rotation, max_size=2, unique_by=lambda r: r["name"]),
    },
    optional={"timezone": st.sampled_from(["UTC", "Asia/Shanghai", "Europe/London"])},
)


def exercise_config(config: Config) -> None:
    """A loaded config plans and decides quickly, or names the field that makes it too dense."""
    from ciqueue.schedule.engine import ObservedQueue, decide
    from ciqueue.schedule.plan import plan

    started = time.monotonic()
    observed = [ObservedQueue(DEMO_BUCKET, DEMO_REGION, "pic", PIC_DEFAULT_ID, "img-1", "Active")]
    try:
        plan(config, NOW, days=2)
        decide(config, NOW, observed)
    except InvalidInput as exc:  # schedule.ScheduleTooDense: a window that fires every second
        assert_named(exc)
    # Generous: a hang is a defect, a slow CI machine is not.
    assert time.monotonic() - started < 10


def judge_config(data: Any) -> None:
    try:
        config = parse_config(data, now=CONFIG_NOW)
    except InvalidInput as exc:
        assert_named(exc)
    else:
        exercise_config(config)


@FAST
@given(config_dicts | good_configs)
def test_parse_config_biased(data: dict[str, Any]) -> None:
    judge_config(data)


@FAST
@given(json_values)
def test_parse_config_anything(data: Any) -> None:
    judge_config(data)


@FAST
@given(st.text(max_size=200) | config_dicts.map(json.dumps) | st.sampled_from(["{", "{a: [", "- x\n y: :"]))
def test_load_config_text(text: str) -> None:
    assume(text.strip())  # an empty string names no file and no document
    assume("\n" in text or len(text) > 0)
    try:
        config = load_config(
            text if ("\n" in text or text.lstrip().startswith("{")) else text + "\n", now=CONFIG_NOW
        )
    except InvalidInput as exc:
        assert_named(exc)
    else:
        exercise_config(config)


# --- envelopes ---------------------------------------------------------------------------------

SAMPLES = {path.name: json.loads(path.read_text()) for path in sorted(EVENTS.glob("*.json"))}


def containers(node: Any, found: list[Any]) -> None:
    """Every non-empty dict and list in ``node`` (itself included), into ``found``."""
    if isinstance(node, (dict, list)) and node:
        found.append(node)
        for child in node.values() if isinstance(node, dict) else node:
            containers(child, found)


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    """A real sample with a few nodes dropped, retyped or blown up."""
    event = copy.deepcopy(SAMPLES[draw(st.sampled_from(sorted(SAMPLES)))])
    for _ in range(draw(st.integers(1, 4))):
        parents: list[Any] = []
        containers(event, parents)
        if not parents:
            break
        node = draw(st.sampled_from(parents))
        key = draw(st.sampled_from(list(node) if isinstance(node, dict) else list(range(len(node)))))
        how = draw(st.sampled_from(["drop", "retype", "huge"]))
        if how == "drop":
            del node[key]
        elif how == "retype":
            node[key] = draw(json_values)
        else:
            node[key] = "x" * 200_000
    return event


def judge_records(event: Any) -> None:
    assert isinstance(detect_source(event), str)
    try:
        _source, records = records_for(event)
    except InvalidInput as exc:
        assert_named(exc)
        return
    for record in records:
        if record.error is not None:
            assert_named(record.error)
        elif not record.needs_fetch:
            assert isinstance(record.payload, dict)


@FAST
@given(mutated_events())
def test_records_for_mutated_samples(event: Any) -> None:
    judge_records(event)


@FAST
@given(json_values | biased_dict(["Records", "Type", "TriggerName", "Time", "Message"], json_values))
def test_records_for_anything(event: Any) -> None:
    judge_records(event)


# --- HTTP --------------------------------------------------------------------------------------

TOKEN = "fuzz-token-0123456789abcdef"
ALLOWED = {200, 400, 401, 403, 404, 405, 409, 413, 502, 504}


def judge_http_event(event: Any) -> HttpRequest | None:
    try:
        return http_request_for(event)
    except InvalidInput as exc:
        assert_named(exc)
        return None


@FAST
@given(mutated_events() | json_values)
def test_parse_http_event(event: Any) -> None:
    judge_http_event(event)


path_parts = st.sampled_from(
    [
        "queues",
        DEMO_BUCKET,
        DEMO_REGION,
        "pic",
        "media",
        PIC_DEFAULT_ID,
        "pause",
        "resume",
        "callback",
        "overrides",
        "plan",
        "health",
        "",
        "..",
        "%2F",
        "UPPER",
        "a b",
        "x" * 300,
    ]
)
paths = st.sampled_from(
    [f"/queues/{DEMO_BUCKET}/{DEMO_REGION}/pic/{PIC_DEFAULT_ID}", "/queues", "/plan", "/health", "/overrides"]
) | st.lists(path_parts, max_size=6).map(lambda parts: "/" + "/".join(parts))
suffixes = st.sampled_from(["", "/pause", "/resume", "/callback", "/x"])
bodies = (
    st.binary(max_size=64)
    | command_dicts.map(lambda d: json.dumps(d).encode())
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.just(b"{" * 5000)
    | st.just(b'{"reason": "' + b"x" * 70_000 + b'"}')
)
queries = st.dictionaries(
    st.sampled_from(["days", "from", "to", "kind", "dry_run", "state", "bucket", "region", "x"]),
    st.text(max_size=12) | st.sampled_from(["true", "nan", "inf", "-1", "2026-03-01T00:00:00Z", "7"]),
    max_size=3,
)


@pytest.fixture
def fuzz_api(emulator: Any, emu_admin: EmuAdmin, tmp_path: Path) -> Callable[[HttpRequest], Any]:
    """``call(request)``: an HttpApi over the emulator (empty: nothing to change) with one token."""
    from ciqueue.api.routes import HttpApi
    from ciqueue.app.runtime import Runtime
    from ciqueue.ci.credentials import Credentials
    from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
    from ciqueue.state.file import FileStateStore
    from conftest import demo_seed

    emu_admin.seed(demo_seed())

    def runtime() -> Runtime:
        return Runtime(
            config=parse_config(
                {
                    "version": 1,
                    "targets": {"a": {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "name_pattern": "*"}},
                },
                now=CONFIG_NOW,
            ),
            state=FileStateStore(tmp_path / "state.json"),
            endpoint=emulator.endpoint,
            credentials=Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY),
        )

    token = ApiToken("fuzz", hash_token(TOKEN), frozenset({"read", "operate"}))
    api = HttpApi(runtime, [token])
    return api.handle


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS", "get"]),
    path=paths,
    suffix=suffixes,
    query=queries,
    body=bodies,
)
def test_http_api_answers_every_request(
    fuzz_api: Callable[[HttpRequest], Any],
    emu_admin: EmuAdmin,
    method: str,
    path: str,
    suffix: str,
    query: dict[str, str],
    body: bytes,
) -> None:
    emu_admin.clear_requests()
    request = HttpRequest(
        method=method,
        path=path + suffix,
        query=query,
        headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
        body=body,
    )
    response = fuzz_api(request)
    assert response.status in ALLOWED, (repr(request)[:300], response.body)
    json.dumps(response.body)
    if response.status != 200:
        error = response.body["error"]
        assert error["code"] and error["message"], response.body
        assert "Traceback" not in error["message"]
    if 400 <= response.status < 500:
        assert emu_admin.put_paths() == [], (repr(request)[:300], response.body)


# --- XML ---------------------------------------------------------------------------------------

NAMES = ["Response", "Request", "Error", "QueueList", "Queue", "QueueId", "Name", "State", "NotifyConfig"]
NAMES += ["Url", "Type", "Event", "ResultFormat", "MaxSize", "MaxConcurrent", "TotalCount", "PageNumber"]
NAMES += ["PageSize", "NonExistPIDs", "RequestId", "Code", "Message", "Category", "UpdateTime", "x"]
element_names = st.sampled_from(NAMES) | st.from_regex(r"\A[A-Za-z][A-Za-z0-9]{0,6}\Z")
element_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20).map(
    lambda s: s.replace("&", "&amp;").replace("<", "&lt;")
) | st.sampled_from(["Active", "Paused", "On", "10", "-1", "x" * 500])
xml_trees = st.recursive(
    st.tuples(element_names, element_text).map(lambda t: f"<{t[0]}>{t[1]}</{t[0]}>"),
    lambda inner: st.tuples(element_names, st.lists(inner, max_size=4)).map(
        lambda t: f"<{t[0]}>{''.join(t[1])}</{t[0]}>"
    ),
    max_leaves=15,
)
roots = st.tuples(st.sampled_from(["Response", "Request", "Error"]), st.lists(xml_trees, max_size=5)).map(
    lambda t: f"<{t[0]}>{''.join(t[1])}</{t[0]}>"
)
SAMPLE_XML = (
    "<Response><RequestId>NjJm</RequestId><TotalCount>1</TotalCount><PageNumber>1</PageNumber>"
    "<PageSize>10</PageSize><QueueList><QueueId>p8366c460c67b4c65a9bf81b41eaa3c4b</QueueId>"
    "<Name>queue-pic-process-1</Name><State>Active</State><NotifyConfig><Url>http://cb.demo.com</Url>"
    "<Event>TaskFinish</Event><Type>Url</Type><State>On</State><ResultFormat>JSON</ResultFormat>"
    "</NotifyConfig><MaxSize>10000</MaxSize><MaxConcurrent>10</MaxConcurrent>"
    "<Category>PicProcessing</Category></QueueList><NonExistPIDs>pabc</NonExistPIDs></Response>"
)
truncations = st.integers(0, len(SAMPLE_XML)).map(lambda n: SAMPLE_XML[:n])
xml_inputs = st.binary(max_size=100) | roots | truncations | xml_trees | roots.map(str.encode)


def short_enough(message: str, data: str | bytes) -> None:
    """A message may quote a little of the input, never the whole of a long one."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    assert len(message) < 600, message
    for start in range(0, max(len(text) - 200, 0), 50):
        assert text[start : start + 201] not in message, message


@FAST
@given(xml_inputs)
def test_xml_replies_raise_only_malformed_response(data: str | bytes) -> None:
    for parse in (parse_describe, parse_update, parse_error):
        try:
            parse(data, status=200, request_id="r-1")
        except MalformedResponse as exc:
            short_enough(str(exc), data)


@FAST
@given(
    xml_inputs
    | roots.map(lambda x: x.replace("<Response>", "<Request>").replace("</Response>", "</Request>"))
)
def test_xml_requests_raise_only_invalid_input(data: str | bytes) -> None:
    try:
        parse_update_request(data)
    except InvalidInput as exc:
        assert_named(exc)
        short_enough(str(exc), data)


# --- Authorization -----------------------------------------------------------------------------

PARTS = ["q-sign-algorithm", "q-ak", "q-sign-time", "q-key-time", "q-header-list", "q-url-param-list"]
PARTS += ["q-signature"]
auth_values = st.lists(
    st.tuples(
        st.sampled_from(PARTS) | st.text(max_size=6),
        st.sampled_from(["sha1", "AKID", "1;2", "2;1", "host", "a" * 40, "", "١;٢"]) | st.text(max_size=8),
    ).map(lambda t: f"{t[0]}={t[1]}"),
    max_size=9,
).map("&".join)


@FAST
@given(auth_values | st.text(max_size=80))
def test_parse_authorization_only_value_error(value: str) -> None:
    try:
        parse_authorization(value)
    except ValueError as exc:
        message = str(exc)
        assert message and ("Authorization" in message or "q-" in message or "part" in message), message
        assert "Traceback" not in message


# --- CLI ---------------------------------------------------------------------------------------

option_values = st.sampled_from(
    [
        DEMO_BUCKET,
        DEMO_REGION,
        "pic",
        "media",
        "nope",
        PIC_DEFAULT_ID,
        "Active",
        "https://x.example.com/",
        "Queue",
        "Topic",
        "sh",
        "TaskFinish",
        "JSON",
        "-1",
        "nan",
        "0",
        "2026-03-01T00:00",
        "",
        "--",
        "x" * 100,
    ]
) | st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)
options = st.sampled_from(
    [
        "--bucket",
        "--region",
        "--kind",
        "--json",
        "--state",
        "--dry-run",
        "--url",
        "--tdmq-mode",
        "--off",
        "--format",
        "--event",
        "--tdmq-region",
        "--tdmq-name",
        "--config",
        "--from",
        "--days",
        "--queues",
        "--endpoint",
        "--scopes",
        "--help",
        "-h",
    ]
)
heads = st.sampled_from(
    [
        ["queues", "list"],
        ["queues", "show"],
        ["queues", "pause"],
        ["queues", "resume"],
        ["queues", "set-callback"],
        ["queues"],
        ["config", "check"],
        ["config"],
        ["plan"],
        ["token", "new"],
        ["token"],
        ["nope"],
        [],
    ]
)
argv_lists = st.tuples(heads, st.lists(options | option_values, max_size=8)).map(lambda t: t[0] + t[1])


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(argv_lists)
def test_cli_never_shows_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    from ciqueue.cli.main import main

    # Nothing may reach the network: a mutating command must fail at the argument level or at a
    # closed port; credentials are absent so client building fails before any request.
    for name in ("TENCENTCLOUD_SECRETID", "TENCENTCLOUD_SECRETKEY", "TENCENTCLOUD_SESSIONTOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CIQUEUE_CONFIG", raising=False)
    monkeypatch.setenv("CIQUEUE_ENDPOINT", "http://127.0.0.1:9")
    argv = [a for a in argv if a != "--queues"] if "plan" in argv[:1] else argv
    code = main(argv)
    captured = capsys.readouterr()
    assert isinstance(code, int) and code in (0, 1, 2), (argv, code, captured.err)
    assert "Traceback" not in captured.err and "Traceback" not in captured.out, argv


def test_fuzz_budget_sanity() -> None:
    """The config strategy reaches valid configs (so plan/decide are exercised, not only errors)."""
    config = parse_config(
        {
            "version": 1,
            "targets": {"a": {"bucket": DEMO_BUCKET, "region": DEMO_REGION, "name_pattern": "*"}},
            "windows": [{"name": "w1", "targets": ["a"], "start": "0 0 2 * * * *", "duration": "2h"}],
        },
        now=CONFIG_NOW,
    )
    exercise_config(config)
    from ciqueue.schedule.plan import plan

    # A window opening 02:00 and closing 04:00 each day: two opens and two closes in two days.
    assert len(plan(config, NOW, days=2)) == 4

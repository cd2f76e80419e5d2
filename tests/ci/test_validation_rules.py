"""The documented update rules: one test per rule, each asserting the exact field and message."""

from __future__ import annotations

import pytest
from ciqueue.ci.models import (
    NotifyConfig,
    Queue,
    QueueUpdate,
    check_notify_config,
    check_update,
    notify_config_off,
    parse_describe,
    requested_notify_config,
)
from ciqueue.errors import InvalidInput

URL_ON = NotifyConfig(state="On", type="Url", url="https://cb.example.com/notify", event="TaskFinish")
TDMQ_ON = NotifyConfig(
    state="On", type="TDMQ", event="TaskFinish", mq_mode="Queue", mq_region="gz", mq_name="t1"
)


def update(**changes: object) -> QueueUpdate:
    base: dict[str, object] = {"name": "queue-1", "state": "Active", "notify_config": URL_ON}
    base.update(changes)
    return QueueUpdate(**base)  # type: ignore[arg-type]


def notify(**fields: object) -> NotifyConfig:
    return NotifyConfig(**fields)  # type: ignore[arg-type]


def problems(upd: QueueUpdate, **kwargs: object) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as info:
        check_update(upd, **{"kind": "pic", **kwargs})  # type: ignore[arg-type]
    return [(p.field, p.rule) for p in info.value.problems]


NAME_CHARSET = "may contain only Chinese characters, letters, digits, '_', '-' and '*'"


# --- valid requests pass ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "valid",
    [
        update(),
        update(state="Paused"),
        update(name="队列_Queue-01*"),
        update(name="㐀𠀀"),  # CJK Extension A and B
        update(name="a" * 128),
        update(notify_config=TDMQ_ON),
        update(notify_config=TDMQ_ON.model_copy(update={"mq_mode": "Topic", "mq_region": "hk"})),
        update(
            notify_config=URL_ON.model_copy(
                update={"event": "TaskFinish,WorkflowFinish", "result_format": "JSON"}
            )
        ),
        update(notify_config=URL_ON.model_copy(update={"event": "WorkflowFinish", "result_format": "XML"})),
        update(notify_config=NotifyConfig(state="Off")),
        update(notify_config=NotifyConfig()),  # State defaults to Off: nothing else is required
        update(notify_config=NotifyConfig(state="Off", type="Url")),
    ],
)
def test_valid_updates_pass(valid: QueueUpdate) -> None:
    check_update(valid, kind="pic")


# --- Name ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [None, ""])
def test_name_is_required(name: str | None) -> None:
    assert problems(update(name=name)) == [("Name", "is required")]


def test_name_at_most_128_characters() -> None:
    assert problems(update(name="队" * 129)) == [("Name", "must be at most 128 characters (got 129)")]


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("my queue", "' '"),
        ("queue.1", "'.'"),
        ("café", "'é'"),
        ("ＡＢ", "'Ａ'"),  # full-width letters are not letters here
        ("队列\uf900", "'\uf900'"),  # U+F900, a CJK compatibility ideograph, not a unified one
        ("q🙂", "'🙂'"),
        ("q\x01", "'\\x01'"),
        ("q/1", "'/'"),
    ],
)
def test_name_charset(name: str, found: str) -> None:
    assert problems(update(name=name)) == [("Name", f"{NAME_CHARSET} (found {found})")]


def test_name_too_long_and_bad_charset_both_listed() -> None:
    assert problems(update(name="a b" * 50)) == [
        ("Name", "must be at most 128 characters (got 150)"),
        ("Name", f"{NAME_CHARSET} (found ' ')"),
    ]


# --- State --------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [None, ""])
def test_state_is_required(state: str | None) -> None:
    assert problems(update(state=state)) == [("State", "is required")]


@pytest.mark.parametrize("state", ["active", "Stopped", "Active "])
def test_state_active_or_paused(state: str) -> None:
    assert problems(update(state=state)) == [("State", f"must be Active or Paused (got {state!r})")]


# --- NotifyConfig -------------------------------------------------------------------------------


def test_notify_config_is_required() -> None:
    assert problems(update(notify_config=None)) == [
        ("NotifyConfig", "is required (State Off turns callbacks off)")
    ]


@pytest.mark.parametrize("state", ["on", "ON", "Enabled"])
def test_notify_state_on_or_off(state: str) -> None:
    assert problems(update(notify_config=notify(state=state))) == [
        ("NotifyConfig.State", f"must be On or Off (got {state!r})")
    ]


def test_notify_type_required_when_on() -> None:
    cfg = URL_ON.model_copy(update={"type": None})
    assert problems(update(notify_config=cfg)) == [
        ("NotifyConfig.Type", "is required when NotifyConfig.State is On (Url or TDMQ)")
    ]


def test_notify_type_url_or_tdmq() -> None:
    cfg = URL_ON.model_copy(update={"type": "Kafka"})
    assert problems(update(notify_config=cfg)) == [("NotifyConfig.Type", "must be Url or TDMQ (got 'Kafka')")]


def test_notify_event_required_when_on() -> None:
    cfg = URL_ON.model_copy(update={"event": None})
    assert problems(update(notify_config=cfg)) == [
        ("NotifyConfig.Event", "is required when NotifyConfig.State is On (TaskFinish, WorkflowFinish)")
    ]


@pytest.mark.parametrize("event", ["TaskFinish,", ",TaskFinish", "TaskFinish,,WorkflowFinish", ","])
def test_notify_event_no_empty_entries(event: str) -> None:
    cfg = URL_ON.model_copy(update={"event": event})
    assert problems(update(notify_config=cfg)) == [
        ("NotifyConfig.Event", f"must not have empty entries in its comma-separated list (got {event!r})")
    ]


@pytest.mark.parametrize(
    ("event", "bad"),
    [
        ("TransCodingFinish", "TransCodingFinish"),
        ("TaskFinish, WorkflowFinish", " WorkflowFinish"),
        ("taskfinish", "taskfinish"),
        ("TaskFinish;WorkflowFinish", "TaskFinish;WorkflowFinish"),
    ],
)
def test_notify_event_known_values_only(event: str, bad: str) -> None:
    cfg = URL_ON.model_copy(update={"event": event})
    assert problems(update(notify_config=cfg)) == [
        ("NotifyConfig.Event", f"must list only TaskFinish and WorkflowFinish, comma-separated (got {bad!r})")
    ]


def test_notify_event_no_duplicates() -> None:
    cfg = URL_ON.model_copy(update={"event": "TaskFinish,WorkflowFinish,TaskFinish"})
    assert problems(update(notify_config=cfg)) == [
        ("NotifyConfig.Event", "must not list an event twice (TaskFinish is repeated)")
    ]


@pytest.mark.parametrize("fmt", ["YAML", "json", "Xml"])
def test_notify_result_format_xml_or_json(fmt: str) -> None:
    cfg = URL_ON.model_copy(update={"result_format": fmt})
    assert problems(update(notify_config=cfg)) == [
        ("NotifyConfig.ResultFormat", f"must be XML or JSON (got {fmt!r})")
    ]


def test_notify_url_required_for_type_url() -> None:
    cfg = URL_ON.model_copy(update={"url": None})
    assert problems(update(notify_config=cfg)) == [
        ("NotifyConfig.Url", "is required when NotifyConfig.Type is Url")
    ]


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://127.0.0.1/cb", "must not be a private-network address (127.0.0.1 is loopback)"),
        (
            "http://0x0a000001/",
            "must not be a private-network address "
            "(0x0a000001 means 10.0.0.1, which is in the RFC 1918 private range 10.0.0.0/8)",
        ),
        ("ftp://cb.example.com/", "must start with http:// or https:// (got ftp://)"),
        ("test.com", "must be an absolute URL starting with http:// or https://"),
    ],
)
def test_notify_url_must_pass_netguard(url: str, rule: str) -> None:
    cfg = URL_ON.model_copy(update={"url": url})
    assert problems(update(notify_config=cfg)) == [("NotifyConfig.Url", rule)]


def test_notify_url_judged_even_when_off() -> None:
    # A user asking to store a private address is refused whatever the state.
    assert problems(update(notify_config=notify(state="Off", url="http://10.0.0.5/"))) == [
        (
            "NotifyConfig.Url",
            "must not be a private-network address (10.0.0.5 is in the RFC 1918 private range 10.0.0.0/8)",
        )
    ]


def test_private_url_allowed_in_local_mode() -> None:
    check_update(
        update(notify_config=URL_ON.model_copy(update={"url": "http://127.0.0.1:9000/cb"})),
        kind="pic",
        allow_private=True,
    )


def test_tdmq_needs_mode_region_and_name() -> None:
    cfg = NotifyConfig(state="On", type="TDMQ", event="TaskFinish")
    assert problems(update(notify_config=cfg)) == [
        ("NotifyConfig.MqMode", "is required when NotifyConfig.Type is TDMQ"),
        ("NotifyConfig.MqRegion", "is required when NotifyConfig.Type is TDMQ"),
        ("NotifyConfig.MqName", "is required when NotifyConfig.Type is TDMQ"),
    ]


def test_tdmq_mode_queue_or_topic() -> None:
    cfg = TDMQ_ON.model_copy(update={"mq_mode": "queue"})
    assert problems(update(notify_config=cfg)) == [
        ("NotifyConfig.MqMode", "must be Queue or Topic (got 'queue')")
    ]


def test_tdmq_region_listed_values() -> None:
    cfg = TDMQ_ON.model_copy(update={"mq_region": "ap-shanghai"})
    assert problems(update(notify_config=cfg)) == [
        ("NotifyConfig.MqRegion", "must be one of sh, bj, gz, cd, hk (got 'ap-shanghai')")
    ]


def test_tdmq_name_no_whitespace() -> None:
    cfg = TDMQ_ON.model_copy(update={"mq_name": "my topic"})
    assert problems(update(notify_config=cfg)) == [
        ("NotifyConfig.MqName", "must not contain whitespace or control characters")
    ]


def test_all_problems_listed_in_field_order() -> None:
    bad = QueueUpdate(
        name="bad name",
        state="running",
        notify_config=NotifyConfig(
            state="On", type="Url", url="http://localhost/", event="Done", result_format="CSV"
        ),
    )
    with pytest.raises(InvalidInput) as info:
        check_update(bad, kind="pic")
    assert str(info.value) == (
        f"Name: {NAME_CHARSET} (found ' '); "
        "State: must be Active or Paused (got 'running'); "
        "NotifyConfig.Event: must list only TaskFinish and WorkflowFinish, comma-separated (got 'Done'); "
        "NotifyConfig.ResultFormat: must be XML or JSON (got 'CSV'); "
        "NotifyConfig.Url: must not be a private-network address (localhost is a loopback name)"
    )


def test_long_values_are_shortened_in_messages() -> None:
    assert problems(update(state="x" * 100)) == [
        ("State", "must be Active or Paused (got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...')")
    ]


# --- legacy values: accepted unchanged, refused when newly requested ------------------------------

LEGACY = parse_describe(
    b"<Response><QueueList><QueueId>p8eb46b8cc1a94bc09512d16c5c4f4d3a</QueueId><Name>Queue Name</Name>"
    b"<State>Active</State><NotifyConfig><Url>http://10.1.2.3/cb</Url><State>On</State><Type>Kafka</Type>"
    b"<Event>TransCodingFinish</Event><KafkaConfig><Topic>t</Topic></KafkaConfig></NotifyConfig>"
    b"<MaxSize>10000</MaxSize></QueueList></Response>"
).queues[0]


def test_legacy_values_pass_when_unchanged() -> None:
    same = QueueUpdate.from_queue(LEGACY)
    check_update(same, kind="pic", unchanged_from=LEGACY)
    paused = same.model_copy(update={"state": "Paused"})
    check_update(paused, kind="pic", unchanged_from=LEGACY)


def test_legacy_values_refused_when_newly_requested() -> None:
    assert problems(QueueUpdate.from_queue(LEGACY)) == [
        ("Name", f"{NAME_CHARSET} (found ' ')"),
        ("NotifyConfig.Type", "must be Url or TDMQ (got 'Kafka')"),
        (
            "NotifyConfig.Event",
            "must list only TaskFinish and WorkflowFinish, comma-separated (got 'TransCodingFinish')",
        ),
        (
            "NotifyConfig.Url",
            "must not be a private-network address (10.1.2.3 is in the RFC 1918 private range 10.0.0.0/8)",
        ),
    ]


def test_changed_notify_config_is_judged_whole() -> None:
    upd = QueueUpdate.from_queue(LEGACY)
    assert upd.notify_config is not None
    changed = upd.model_copy(
        update={"notify_config": upd.notify_config.model_copy(update={"result_format": "JSON"})}
    )
    assert [field for field, _ in problems(changed, unchanged_from=LEGACY)] == [
        "NotifyConfig.Type",
        "NotifyConfig.Event",
        "NotifyConfig.Url",
    ]


def test_changed_name_is_judged() -> None:
    upd = QueueUpdate.from_queue(LEGACY).model_copy(update={"name": "Other Name"})
    assert problems(upd, unchanged_from=LEGACY) == [("Name", f"{NAME_CHARSET} (found ' ')")]


def test_unchanged_legacy_state_passes_but_a_new_bad_state_does_not() -> None:
    stored = Queue(name="q", state="Stopped", notify_config=NotifyConfig(state="Off"))
    check_update(QueueUpdate.from_queue(stored), kind="pic", unchanged_from=stored)
    upd = QueueUpdate.from_queue(stored).model_copy(update={"state": "Halted"})
    assert problems(upd, unchanged_from=stored) == [("State", "must be Active or Paused (got 'Halted')")]


def test_new_valid_notify_config_replaces_legacy() -> None:
    upd = QueueUpdate.from_queue(LEGACY).model_copy(update={"notify_config": URL_ON})
    check_update(upd, kind="pic", unchanged_from=LEGACY)


# --- requested_notify_config ----------------------------------------------------------------------


def test_requested_url_defaults() -> None:
    cfg = requested_notify_config(url="https://cb.example.com/n")
    assert cfg == NotifyConfig(state="On", type="Url", url="https://cb.example.com/n", event="TaskFinish")
    assert cfg.to_xml_dict() == {
        "Url": "https://cb.example.com/n",
        "Event": "TaskFinish",
        "Type": "Url",
        "State": "On",
    }


def test_requested_tdmq_inferred() -> None:
    cfg = requested_notify_config(mq_mode="Topic", mq_region="bj", mq_name="topic-1", result_format="JSON")
    assert cfg == NotifyConfig(
        state="On",
        type="TDMQ",
        event="TaskFinish",
        result_format="JSON",
        mq_mode="Topic",
        mq_region="bj",
        mq_name="topic-1",
    )


def test_requested_explicit_fields() -> None:
    cfg = requested_notify_config(type="Url", url="http://8.8.8.8/cb", event="TaskFinish,WorkflowFinish")
    assert (cfg.type, cfg.event) == ("Url", "TaskFinish,WorkflowFinish")


def test_requested_off_and_off_form() -> None:
    assert requested_notify_config(state="Off") == NotifyConfig(state="Off")
    assert requested_notify_config(state="Off").to_xml_dict() == {"State": "Off"}
    assert notify_config_off().to_xml_dict() == {"State": "Off"}


def test_requested_refuses_with_all_problems() -> None:
    with pytest.raises(InvalidInput) as info:
        requested_notify_config(url="http://[::1]:8080/", event="Finish", result_format="TXT")
    assert [(p.field, p.rule) for p in info.value.problems] == [
        (
            "NotifyConfig.Event",
            "must list only TaskFinish and WorkflowFinish, comma-separated (got 'Finish')",
        ),
        ("NotifyConfig.ResultFormat", "must be XML or JSON (got 'TXT')"),
        ("NotifyConfig.Url", "must not be a private-network address (::1 is loopback)"),
    ]


def test_requested_needs_a_type_when_ambiguous() -> None:
    with pytest.raises(InvalidInput) as info:
        requested_notify_config()
    assert [(p.field, p.rule) for p in info.value.problems] == [
        ("NotifyConfig.Type", "is required when NotifyConfig.State is On (Url or TDMQ)")
    ]


def test_requested_local_mode_allows_private() -> None:
    cfg = requested_notify_config(url="http://127.0.0.1:9000/cb", allow_private=True)
    assert cfg.url == "http://127.0.0.1:9000/cb"


def test_requested_bad_shapes_become_invalid_input() -> None:
    with pytest.raises(InvalidInput) as info:
        requested_notify_config(url=["http://a.example.com", "http://b.example.com"])  # type: ignore[arg-type]
    assert [(p.field, p.rule) for p in info.value.problems] == [
        ("NotifyConfig.Url", "must appear once (got 2)")
    ]


def test_check_notify_config_field_prefix() -> None:
    with pytest.raises(InvalidInput) as info:
        check_notify_config(NotifyConfig(state="Maybe"), field="callback")
    assert str(info.value) == "callback.State: must be On or Off (got 'Maybe')"


# --- rules that differ by kind (ciqueue.ci.kinds.KIND_SPECS) ------------------------------------

DOC_ID = "p" + "d" * 32


def doc_update(**changes: object) -> QueueUpdate:
    return update(queue_id=DOC_ID, **changes)


def test_doc_queue_update_with_queue_id_and_url_passes() -> None:
    check_update(doc_update(), kind="doc")
    check_update(doc_update(name="a" * 100), kind="doc")


def test_doc_queue_update_needs_queue_id() -> None:
    assert problems(update(), kind="doc") == [("QueueID", "is required for doc queues")]


def test_doc_queue_name_at_most_100_characters_and_no_charset_rule() -> None:
    assert problems(doc_update(name="a" * 101), kind="doc") == [
        ("Name", "must be at most 100 characters for doc queues (got 101)")
    ]
    # The doc queue API documents only the length (1250/61067): the pic charset rule is not its.
    check_update(doc_update(name="doc queue (1)"), kind="doc")
    assert problems(update(name="doc queue (1)"), kind="pic") == [("Name", f"{NAME_CHARSET} (found ' ')")]


def test_doc_queues_take_only_url_callbacks() -> None:
    assert problems(doc_update(notify_config=TDMQ_ON), kind="doc") == [
        ("NotifyConfig.Type", "doc queues take only Url (got 'TDMQ')")
    ]
    on_without_type = NotifyConfig(state="On", url="https://cb.example.com/n", event="TaskFinish")
    assert problems(doc_update(notify_config=on_without_type), kind="doc") == [
        ("NotifyConfig.Type", "is required when NotifyConfig.State is On (Url)")
    ]


def test_doc_queues_take_no_result_format_and_no_mq_elements() -> None:
    cfg = URL_ON.model_copy(update={"result_format": "JSON", "mq_region": "gz"})
    assert problems(doc_update(notify_config=cfg), kind="doc") == [
        ("NotifyConfig.ResultFormat", "doc queues take no ResultFormat"),
        ("NotifyConfig.MqRegion", "doc queues take no MqRegion (they have no TDMQ callbacks)"),
    ]


@pytest.mark.parametrize("kind", ["pic", "media", "asr", "ai", "file"])
def test_other_kinds_take_the_pic_rules(kind: str) -> None:
    check_update(update(notify_config=TDMQ_ON, name="a" * 128), kind=kind)
    check_update(update(notify_config=URL_ON.model_copy(update={"result_format": "JSON"})), kind=kind)
    assert problems(update(name="a" * 129), kind=kind) == [
        ("Name", "must be at most 128 characters (got 129)")
    ]


def test_a_doc_queues_stored_callback_written_back_unchanged_passes() -> None:
    stored = Queue(queue_id=DOC_ID, name="legacy doc", state="Active", notify_config=TDMQ_ON)
    check_update(QueueUpdate.from_queue(stored, include_queue_id=True), kind="doc", unchanged_from=stored)


def test_requested_callback_judged_by_its_kind() -> None:
    with pytest.raises(InvalidInput) as info:
        requested_notify_config(mq_mode="Queue", mq_region="gz", mq_name="t", kind="doc")
    assert [(p.field, p.rule) for p in info.value.problems] == [
        ("NotifyConfig.Type", "doc queues take only Url (got 'TDMQ')")
    ]
    with pytest.raises(InvalidInput) as info:
        requested_notify_config(url="https://cb.example.com/n", result_format="XML", kind="doc")
    assert info.value.problems[0].rule == "doc queues take no ResultFormat"
    assert requested_notify_config(url="https://cb.example.com/n", kind="doc").result_format is None
    # Without a kind only the shared rules apply: the callback is not yet tied to a queue.
    assert requested_notify_config(mq_mode="Queue", mq_region="gz", mq_name="t").type == "TDMQ"

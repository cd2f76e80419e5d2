"""models: the reference samples read and re-render exactly; extras survive; bad wire data is named."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest
from ciqueue.ci import models
from ciqueue.ci.models import (
    DescribeResult,
    ErrorBody,
    NotifyConfig,
    Queue,
    QueueUpdate,
    UpdateResult,
    parse_describe,
    parse_error,
    parse_update,
    parse_update_request,
    render_describe,
    render_error,
    render_update_response,
)
from ciqueue.errors import InvalidInput, MalformedResponse
from hypothesis import given, settings
from hypothesis import strategies as st

HEADER = b'<?xml version="1.0" encoding="utf-8"?>\n'


def compact(xml: bytes) -> bytes:
    """The sample as our renderer writes it: header, no whitespace between tags."""
    return HEADER + re.sub(rb">\s+<", b"><", xml.strip())


# ci-api.md 2.2 (PICQ-D)
SAMPLE_LIST = b"""<Response>
  <RequestId>NjJmMzI5MmRfOTBmYTUwNjRfNjcwM18x</RequestId>
  <TotalCount>1</TotalCount>
  <PageNumber>1</PageNumber>
  <PageSize>10</PageSize>
  <QueueList>
    <QueueId>p8366c460c67b4c65a9bf81b41eaa3c4b</QueueId>
    <Name>queue-pic-process-1</Name>
    <State>Active</State>
    <NotifyConfig>
      <Url>http://callback.demo.com</Url>
      <Event>TaskFinish,WorkflowFinish</Event>
      <Type>Url</Type>
      <State>On</State>
      <ResultFormat>JSON</ResultFormat>
    </NotifyConfig>
    <MaxSize>10000</MaxSize>
    <MaxConcurrent>10</MaxConcurrent>
    <UpdateTime>2022-08-09T16:23:11+0800</UpdateTime>
    <CreateTime>2022-08-09T16:23:11+0800</CreateTime>
    <Category>PicProcessing</Category>
  </QueueList>
</Response>"""

AI_QUEUE = b"""<QueueList>
    <QueueId>p23f7c1b4d5e64a5f8a9b0c1d2e3f4a5b</QueueId>
    <Name>queue-ai-process-1</Name>
    <State>Paused</State>
    <NotifyConfig>
      <Url>http://callback.demo.com</Url>
      <Event>TaskFinish</Event>
      <Type>Url</Type>
      <State>On</State>
      <ResultFormat>XML</ResultFormat>
    </NotifyConfig>
    <MaxSize>10000</MaxSize>
    <MaxConcurrent>10</MaxConcurrent>
    <UpdateTime>2022-08-09T16:23:11+0800</UpdateTime>
    <CreateTime>2022-08-09T16:23:11+0800</CreateTime>
    <Category>AIProcess</Category>
  </QueueList>"""

# ci-api.md 2.3, AIQ-D shape (repeated) and DOCQ-D/OLDQ shape (nested)
SAMPLE_IDS_REPEATED = (
    b"<Response><RequestId>NjJmMzJjNDFfOTBmYTUwNjRfNjQ5NF8x</RequestId>"
    + AI_QUEUE
    + b"<NonExistPIDs>A</NonExistPIDs><NonExistPIDs>B</NonExistPIDs></Response>"
)
SAMPLE_IDS_NESTED = (
    b"<Response><RequestId>NjJmMzJjNDFfOTBmYTUwNjRfNjQ5NF8x</RequestId>"
    + AI_QUEUE
    + b"<NonExistPIDs><QueueID>B</QueueID><QueueID>C</QueueID></NonExistPIDs></Response>"
)

# ci-api.md 3.3 (PICQ-U)
SAMPLE_UPDATE = b"""<Response>
  <RequestId>NjJmNDczY2RfOTBmYTUwNjRfNTA4ZV85</RequestId>
  <Queue>
    <QueueId>pb926e1dce3ed4e47a4f08692164f4869</QueueId>
    <Name>My-Queue-Pic</Name>
    <State>Active</State>
    <NotifyConfig>
      <Url>http://callback.demo.com</Url>
      <Event>TaskFinish,WorkflowFinish</Event>
      <Type>Url</Type>
      <State>On</State>
      <ResultFormat>JSON</ResultFormat>
    </NotifyConfig>
    <UpdateTime>2022-08-09T16:23:11+0800</UpdateTime>
    <CreateTime>2022-08-09T16:13:05+0800</CreateTime>
  </Queue>
</Response>"""

# ci-api.md 3.4: old-style request body and the GO SDK test wire body
SAMPLE_OLD_REQUEST = (
    b"<Request><Name>Queue Name</Name><QueueID></QueueID><State></State>"
    b"<NotifyConfig><Type></Type><Url></Url><Event></Event></NotifyConfig></Request>"
)
SAMPLE_GO_REQUEST = (
    b"<Request><Name>QueueName</Name><QueueID>p8eb46b8cc1a94bc09512d16c5c4f4d3a</QueueID><State>Active</State>"
    b"<NotifyConfig><Url>test.com</Url><State>On</State><Type>Url</Type><Event>TransCodingFinish</Event>"
    b"</NotifyConfig></Request>"
)
SAMPLE_OLD_UPDATE_RESPONSE = (
    b"<Response><RequestId>NWYxZTgyNTdfYzc2OTQzNjRfMzUx</RequestId><Queue><QueueId/><Name/><State>Active</State>"
    b"<NotifyConfig><Url>mts-topic-1</Url><Type/><Event/></NotifyConfig><CreateTime/><UpdateTime/></Queue></Response>"
)

# DOCQ-D: NotifyConfig off with empty elements, BucketId (sic trailing dot)
SAMPLE_DOC = b"""<?xml version="1.0" encoding="utf-8"?>
<Response>
  <RequestId>NjJmMzI5MmRfOTBmYTUwNjRfNjcwM18x</RequestId>
  <TotalCount>1</TotalCount>
  <PageNumber>1</PageNumber>
  <PageSize>10</PageSize>
  <QueueList>
    <QueueId>p4c6b2a1f0e9d8c7b6a5f4e3d2c1b0a9f</QueueId>
    <Name>doc-queue</Name>
    <State>Active</State>
    <NotifyConfig><Url/><Event/><Type/><State>Off</State></NotifyConfig>
    <MaxSize>10000</MaxSize>
    <MaxConcurrent>10</MaxConcurrent>
    <UpdateTime>2022-08-09T16:23:11+0800</UpdateTime>
    <CreateTime>2022-08-09T16:23:11+0800</CreateTime>
    <Category>DocProcess</Category>
    <BucketId>examplebucket-1250000000.</BucketId>
  </QueueList>
</Response>"""

# MEDQ-D: empty TDMQ elements, two QueueList siblings
SAMPLE_MEDIA = b"""<Response>
  <RequestId>NjJmMzI5MmRfOTBmYTUwNjRfNjcwM18y</RequestId>
  <TotalCount>2</TotalCount>
  <PageNumber>1</PageNumber>
  <PageSize>10</PageSize>
  <QueueList>
    <QueueId>p1111111111111111111111111111111a</QueueId>
    <Name>queue-media-1</Name>
    <State>Active</State>
    <NotifyConfig>
      <Url>http://callback.demo.com</Url><Event>TaskFinish</Event><Type>Url</Type><State>On</State>
      <ResultFormat>XML</ResultFormat><MqMode/><MqName/><MqRegion/>
    </NotifyConfig>
    <MaxSize>10000</MaxSize>
    <MaxConcurrent>10</MaxConcurrent>
    <UpdateTime>2022-08-09T16:23:11+0800</UpdateTime>
    <CreateTime>2022-08-09T16:23:11+0800</CreateTime>
    <Category>Transcoding</Category>
  </QueueList>
  <QueueList>
    <QueueId>p2222222222222222222222222222222b</QueueId>
    <Name>queue-media-2</Name>
    <State>Paused</State>
    <NotifyConfig><Url/><Event/><Type/><State>Off</State><MqMode/><MqName/><MqRegion/></NotifyConfig>
    <MaxSize>10000</MaxSize>
    <MaxConcurrent>10</MaxConcurrent>
    <UpdateTime>2022-08-09T16:23:11+0800</UpdateTime>
    <CreateTime>2022-08-09T16:23:11+0800</CreateTime>
    <Category>SpeedTranscoding</Category>
  </QueueList>
</Response>"""


# --- reading the samples -------------------------------------------------------------------------


def test_list_sample_fields() -> None:
    result = parse_describe(SAMPLE_LIST)
    assert (result.request_id, result.total_count, result.page_number, result.page_size) == (
        "NjJmMzI5MmRfOTBmYTUwNjRfNjcwM18x",
        1,
        1,
        10,
    )
    (queue,) = result.queues
    assert queue.queue_id == "p8366c460c67b4c65a9bf81b41eaa3c4b"
    assert (queue.name, queue.state, queue.max_size, queue.max_concurrent) == (
        "queue-pic-process-1",
        "Active",
        10000,
        10,
    )
    assert queue.category == "PicProcessing"
    assert queue.notify_config == NotifyConfig(
        url="http://callback.demo.com",
        event="TaskFinish,WorkflowFinish",
        type="Url",
        state="On",
        result_format="JSON",
    )
    assert queue.extra == {}
    assert result.non_exist_pids == []


@pytest.mark.parametrize("sample", [SAMPLE_LIST, SAMPLE_MEDIA])
def test_list_samples_rerender_byte_for_byte(sample: bytes) -> None:
    assert render_describe(parse_describe(sample)) == compact(sample)


def test_doc_sample_rerenders_byte_for_byte() -> None:
    result = parse_describe(SAMPLE_DOC)
    queue = result.queues[0]
    assert queue.bucket_id == "examplebucket-1250000000."
    assert queue.notify_config == NotifyConfig(state="Off")
    assert queue.notify_config.model_fields_set == {"url", "event", "type", "state", "extra"}
    assert render_describe(result) == compact(SAMPLE_DOC.split(b"\n", 1)[1])


def test_media_sample_empty_tdmq_elements() -> None:
    queues = parse_describe(SAMPLE_MEDIA).queues
    assert [q.queue_id for q in queues] == [
        "p1111111111111111111111111111111a",
        "p2222222222222222222222222222222b",
    ]
    notify = queues[0].notify_config
    assert notify is not None
    assert (notify.mq_mode, notify.mq_name, notify.mq_region) == (None, None, None)
    assert b"<ResultFormat>XML</ResultFormat><MqMode/><MqName/><MqRegion/></NotifyConfig>" in render_describe(
        parse_describe(SAMPLE_MEDIA)
    )


@pytest.mark.parametrize(
    ("sample", "shape", "pids"),
    [(SAMPLE_IDS_REPEATED, "repeated", ["A", "B"]), (SAMPLE_IDS_NESTED, "nested", ["B", "C"])],
)
def test_queue_ids_samples_both_nonexist_shapes(sample: bytes, shape: str, pids: list[str]) -> None:
    result = parse_describe(sample)
    assert result.non_exist_pids == pids
    assert result.total_count is None
    assert [q.category for q in result.queues] == ["AIProcess"]
    assert render_describe(result, nonexist_shape=shape) == compact(sample)  # type: ignore[arg-type]


def test_single_nested_nonexist_pid_and_mixed_shapes() -> None:
    one = parse_describe(b"<Response><NonExistPIDs><QueueID>X</QueueID></NonExistPIDs></Response>")
    assert one.non_exist_pids == ["X"]
    assert render_describe(one, nonexist_shape="nested").endswith(
        b"<Response><NonExistPIDs><QueueID>X</QueueID></NonExistPIDs></Response>"
    )
    assert render_describe(one).endswith(b"<Response><NonExistPIDs>X</NonExistPIDs></Response>")
    empty = parse_describe(b"<Response><NonExistPIDs/><QueueList/></Response>")
    assert (empty.non_exist_pids, empty.queues) == ([], [])


def test_old_queue_id_spelling_in_queue_list() -> None:
    result = parse_describe(
        b"<Response><QueueList><QueueID>pold</QueueID><Name>n</Name></QueueList></Response>"
    )
    assert result.queues[0].queue_id == "pold"
    assert result.queues[0].extra == {}
    both = parse_describe(
        b"<Response><QueueList><QueueID>pold</QueueID><QueueId>pnew</QueueId></QueueList></Response>"
    )
    assert both.queues[0].queue_id == "pnew"
    assert both.queues[0].extra == {}


def test_update_response_sample_rerenders_byte_for_byte() -> None:
    result = parse_update(SAMPLE_UPDATE)
    assert result.request_id == "NjJmNDczY2RfOTBmYTUwNjRfNTA4ZV85"
    assert result.queue.queue_id == "pb926e1dce3ed4e47a4f08692164f4869"
    assert result.queue.max_size is None
    assert render_update_response(result) == compact(SAMPLE_UPDATE)


def test_old_update_response_sample() -> None:
    result = parse_update(SAMPLE_OLD_UPDATE_RESPONSE)
    queue = result.queue
    assert (queue.queue_id, queue.name, queue.state) == (None, None, "Active")
    assert queue.notify_config == NotifyConfig(url="mts-topic-1")
    assert parse_update(render_update_response(result)) == result
    assert b"<Queue><QueueId/><Name/><State>Active</State>" in render_update_response(result)


def test_old_request_body() -> None:
    update = parse_update_request(SAMPLE_OLD_REQUEST)
    assert update == QueueUpdate(name="Queue Name", notify_config=NotifyConfig())
    assert update.to_xml() == (
        HEADER + b"<Request><Name>Queue Name</Name><QueueID/><State/>"
        b"<NotifyConfig><Url/><Event/><Type/></NotifyConfig></Request>"
    )
    assert parse_update_request(update.to_xml()) == update


def test_go_request_body() -> None:
    update = parse_update_request(SAMPLE_GO_REQUEST)
    assert update.queue_id == "p8eb46b8cc1a94bc09512d16c5c4f4d3a"
    assert update.notify_config == NotifyConfig(
        url="test.com", state="On", type="Url", event="TransCodingFinish"
    )


def test_pic_request_sample_round_trips() -> None:
    body = (
        b"<Request><Name>My-Queue-Pic</Name><State>Active</State><NotifyConfig><State>On</State>"
        b"<Url>http://callback.demo.com</Url><Type>Url</Type><Event>TaskFinish,WorkflowFinish</Event>"
        b"<ResultFormat>JSON</ResultFormat></NotifyConfig></Request>"
    )
    update = parse_update_request(body)
    assert update.to_xml() == (
        HEADER + b"<Request><Name>My-Queue-Pic</Name><State>Active</State><NotifyConfig>"
        b"<Url>http://callback.demo.com</Url><Event>TaskFinish,WorkflowFinish</Event><Type>Url</Type>"
        b"<State>On</State><ResultFormat>JSON</ResultFormat></NotifyConfig></Request>"
    )


# --- extras and the update built from a queue ----------------------------------------------------

QUEUE_WITH_EXTRAS = b"""<Response><RequestId>r1</RequestId>
  <QueueList>
    <QueueId>p8366c460c67b4c65a9bf81b41eaa3c4b</QueueId>
    <Name>q1</Name>
    <State>Active</State>
    <NotifyConfig>
      <Url>http://callback.demo.com</Url><Event>TaskFinish</Event><Type>Url</Type><State>On</State>
      <KafkaConfig><Region>ap-guangzhou</Region><InstanceId>ckafka-1</InstanceId><Topic>t</Topic></KafkaConfig>
      <AuthMode>sign</AuthMode>
    </NotifyConfig>
    <MaxSize>10000</MaxSize>
    <MaxConcurrent>10</MaxConcurrent>
    <SomeNewElement>v</SomeNewElement>
    <Tag>a</Tag><Tag>b</Tag>
    <Limits level="2"><Burst>5</Burst></Limits>
    <UpdateTime>2022-08-09T16:23:11+0800</UpdateTime>
    <CreateTime>2022-08-09T16:23:11+0800</CreateTime>
    <Category>PicProcessing</Category>
    <BucketId>examplebucket-1250000000</BucketId>
    <Trailing/>
  </QueueList>
</Response>"""


def test_unknown_elements_kept_in_order() -> None:
    queue = parse_describe(QUEUE_WITH_EXTRAS).queues[0]
    assert list(queue.extra.items()) == [
        ("SomeNewElement", "v"),
        ("Tag", ["a", "b"]),
        ("Limits", {"@level": "2", "Burst": "5"}),
        ("Trailing", None),
    ]
    assert queue.notify_config is not None
    assert list(queue.notify_config.extra.items()) == [
        ("KafkaConfig", {"Region": "ap-guangzhou", "InstanceId": "ckafka-1", "Topic": "t"}),
        ("AuthMode", "sign"),
    ]
    assert queue.bucket_id == "examplebucket-1250000000"


def test_extras_survive_parse_from_queue_to_xml_parse() -> None:
    queue = parse_describe(QUEUE_WITH_EXTRAS).queues[0]
    update = QueueUpdate.from_queue(queue)
    assert update.to_xml() == (
        HEADER + b"<Request><Name>q1</Name><State>Active</State><NotifyConfig>"
        b"<Url>http://callback.demo.com</Url><Event>TaskFinish</Event><Type>Url</Type><State>On</State>"
        b"<KafkaConfig><Region>ap-guangzhou</Region><InstanceId>ckafka-1</InstanceId><Topic>t</Topic>"
        b"</KafkaConfig><AuthMode>sign</AuthMode></NotifyConfig>"
        b"<SomeNewElement>v</SomeNewElement><Tag>a</Tag><Tag>b</Tag>"
        b'<Limits level="2"><Burst>5</Burst></Limits><Trailing/></Request>'
    )
    again = parse_update_request(update.to_xml())
    assert again == update
    assert list(again.extra) == ["SomeNewElement", "Tag", "Limits", "Trailing"]
    assert again.notify_config == queue.notify_config


def test_from_queue_never_writes_read_only_elements() -> None:
    queue = Queue.from_xml_dict(
        {
            "QueueId": "pabc",
            "Name": "q",
            "State": "Paused",
            "NotifyConfig": {"State": "Off"},
            "MaxSize": "1",
            "MaxConcurrent": "2",
            "Category": "PicProcessing",
            "CreateTime": "t1",
            "UpdateTime": "t2",
            "BucketId": "b-1",
        }
    )
    body = QueueUpdate.from_queue(queue).to_xml()
    assert body == HEADER + (
        b"<Request><Name>q</Name><State>Paused</State><NotifyConfig><State>Off</State></NotifyConfig></Request>"
    )
    with_id = QueueUpdate.from_queue(queue, include_queue_id=True).to_xml()
    assert with_id == HEADER + (
        b"<Request><Name>q</Name><QueueID>pabc</QueueID><State>Paused</State>"
        b"<NotifyConfig><State>Off</State></NotifyConfig></Request>"
    )


def test_extra_cannot_hold_known_elements() -> None:
    # So a known element is never written twice (or back as a read-only copy via extra).
    with pytest.raises(ValueError, match=r"must not hold known elements \(QueueID, Name\)"):
        Queue(name="q", extra={"QueueID": "pold", "Name": "x", "Keep": "1"})


def test_empty_notify_config_container_reads_as_none_and_rerenders() -> None:
    update = parse_update_request(b"<Request><Name>q</Name><NotifyConfig/></Request>")
    assert update.notify_config is None
    assert update.to_xml() == HEADER + b"<Request><Name>q</Name><NotifyConfig/></Request>"


def test_from_queue_copies_notify_config() -> None:
    queue = parse_describe(QUEUE_WITH_EXTRAS).queues[0]
    update = QueueUpdate.from_queue(queue)
    assert update.notify_config is not None
    update.notify_config.extra["KafkaConfig"]["Topic"] = "changed"
    assert queue.notify_config is not None
    assert queue.notify_config.extra["KafkaConfig"]["Topic"] == "t"


def test_from_xml_dict_for_json_seeds() -> None:
    queue = Queue.from_xml_dict({"QueueId": "p1", "Name": "q", "MaxSize": 10, "NotifyConfig": {"Url": ""}})
    assert (queue.max_size, queue.notify_config) == (10, NotifyConfig())


# --- bad wire data --------------------------------------------------------------------------------


def test_non_integer_max_size_names_the_element() -> None:
    # The second queue's MaxSize only.
    first, second = SAMPLE_MEDIA.split(b"</QueueList>", 1)
    bad = first + b"</QueueList>" + second.replace(b"<MaxSize>10000</MaxSize>", b"<MaxSize>lots</MaxSize>")
    with pytest.raises(MalformedResponse) as info:
        parse_describe(bad, status=200, request_id="rid-9")
    assert str(info.value) == (
        "malformed response: DescribeQueues response: QueueList[1].MaxSize must be an integer (got 'lots')"
        " (HTTP 200, RequestId: rid-9)"
    )


def test_non_integer_total_count_and_update_max_concurrent() -> None:
    with pytest.raises(
        MalformedResponse, match=r"DescribeQueues response: TotalCount must be an integer \(got '1.5x'\)"
    ):
        parse_describe(b"<Response><TotalCount>1.5x</TotalCount></Response>")
    with pytest.raises(
        MalformedResponse, match=r"UpdateQueue response: Queue.MaxConcurrent must be an integer"
    ):
        parse_update(b"<Response><Queue><MaxConcurrent>ten</MaxConcurrent></Queue></Response>")


def test_update_response_without_queue() -> None:
    with pytest.raises(MalformedResponse) as info:
        parse_update(b"<Response><RequestId>r</RequestId></Response>")
    assert str(info.value) == "malformed response: UpdateQueue response: Queue is missing"


def test_repeated_or_nested_text_elements() -> None:
    with pytest.raises(MalformedResponse, match=r"QueueList.Name must appear once \(got 2\)$"):
        parse_describe(b"<Response><QueueList><Name>a</Name><Name>b</Name></QueueList></Response>")
    with pytest.raises(
        MalformedResponse, match=r"QueueList.NotifyConfig.Url must be text, not child elements$"
    ):
        parse_describe(
            b"<Response><QueueList><NotifyConfig><Url><x/></Url></NotifyConfig></QueueList></Response>"
        )
    with pytest.raises(
        MalformedResponse, match=r"QueueList.NotifyConfig must hold child elements, not text$"
    ):
        parse_describe(b"<Response><QueueList><NotifyConfig>On</NotifyConfig></QueueList></Response>")


def test_describe_wrong_root() -> None:
    with pytest.raises(MalformedResponse) as info:
        parse_describe(b"<Error><Code>AccessDenied</Code></Error>")
    assert str(info.value) == (
        "malformed response: DescribeQueues response: must have the root element <Response> (got <Error>)"
    )


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        (b"", "Request", "is empty (an XML body was expected)"),
        (
            b"<Request><Name>x</Request>",
            "Request",
            "must be well-formed XML (mismatched tag: line 1, column 18)",
        ),
        (b"<Foo/>", "Request", "must have the root element <Request> (got <Foo>)"),
        (b"<Request>text</Request>", "Request", "<Request> must hold child elements, not text"),
        (b"<Request><Name><a/></Name></Request>", "Name", "must be text, not child elements"),
        (b"<Request><State>A</State><State>B</State></Request>", "State", "must appear once (got 2)"),
        (
            b"<Request><NotifyConfig>On</NotifyConfig></Request>",
            "NotifyConfig",
            "must hold child elements, not text",
        ),
        (
            b"<Request><NotifyConfig><Event><a/></Event></NotifyConfig></Request>",
            "NotifyConfig.Event",
            "must be text, not child elements",
        ),
        (
            b'<!DOCTYPE r [<!ENTITY x "y">]><Request/>',
            "Request",
            "must not contain a DOCTYPE declaration (DTDs and entities are refused)",
        ),
    ],
)
def test_update_request_errors_name_the_element(body: bytes, field: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_update_request(body)
    assert [(p.field, p.rule) for p in info.value.problems] == [(field, rule)]


# --- errors ---------------------------------------------------------------------------------------


def test_ci_error_form() -> None:
    body = parse_error(
        b"<?xml version='1.0' encoding='utf-8' ?><Error><Code>InvalidArgument</Code><Message>bad</Message>"
        b"<RequestId>NjJm</RequestId><TraceId>OGVj</TraceId></Error>"
    )
    assert body == ErrorBody(code="InvalidArgument", message="bad", request_id="NjJm", trace_id="OGVj")
    assert body.resource is None


def test_cos_error_form_round_trip() -> None:
    xml = (
        b"<Error><Code>SignatureDoesNotMatch</Code><Message>The signature does not match</Message>"
        b"<Resource>demo-1250000000.ci.ap-guangzhou.myqcloud.com/picqueue</Resource>"
        b"<RequestId>NWYx</RequestId><TraceId>dHJh</TraceId></Error>"
    )
    body = parse_error(xml)
    assert body.resource == "demo-1250000000.ci.ap-guangzhou.myqcloud.com/picqueue"
    assert render_error(body) == HEADER + xml


def test_render_error_order_is_cos_order() -> None:
    body = ErrorBody(code="QueueNotFound", message="m", request_id="r", trace_id="t", resource="res")
    assert render_error(body) == HEADER + (
        b"<Error><Code>QueueNotFound</Code><Message>m</Message><Resource>res</Resource>"
        b"<RequestId>r</RequestId><TraceId>t</TraceId></Error>"
    )


def test_error_body_not_xml() -> None:
    with pytest.raises(MalformedResponse) as info:
        parse_error(b"<html>Bad Gateway", status=502)
    assert str(info.value).startswith("malformed response: error response: must be well-formed XML (")
    assert info.value.status == 502


# --- property: any valid queue renders and parses back equal -------------------------------------

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
NAME_CHARS = st.one_of(CJK, st.sampled_from("abcXYZ0189_-*"))
TEXT = st.text(alphabet=st.sampled_from("abcdefgXYZ0123456789-_.:/"), min_size=1, max_size=20)
OPTIONAL_TEXT = st.none() | TEXT
EXTRA_NAMES = st.sampled_from(["NewThing", "Tag", "Flag", "Limits"])
EXTRA_VALUE = st.one_of(st.none(), TEXT, st.dictionaries(st.sampled_from(["A", "B"]), TEXT, min_size=1))

notify_configs = st.builds(
    NotifyConfig,
    url=st.none() | st.sampled_from(["http://callback.demo.com", "https://cb.example.com/a?b=1&c=<2>"]),
    event=st.none() | st.sampled_from(["TaskFinish", "WorkflowFinish", "TaskFinish,WorkflowFinish"]),
    type=st.none() | st.sampled_from(["Url", "TDMQ"]),
    state=st.none() | st.sampled_from(["On", "Off"]),
    result_format=st.none() | st.sampled_from(["XML", "JSON"]),
    mq_mode=st.none() | st.sampled_from(["Queue", "Topic"]),
    mq_name=OPTIONAL_TEXT,
    mq_region=st.none() | st.sampled_from(["sh", "bj", "gz", "cd", "hk"]),
    extra=st.dictionaries(st.sampled_from(["KafkaConfig", "Other"]), EXTRA_VALUE, max_size=2),
)

queues = st.builds(
    Queue,
    queue_id=st.none() | st.from_regex(r"p[0-9a-f]{32}", fullmatch=True),
    name=st.none() | st.text(alphabet=NAME_CHARS, min_size=1, max_size=128),
    state=st.none() | st.sampled_from(["Active", "Paused"]),
    notify_config=st.none() | notify_configs,
    max_size=st.none() | st.integers(min_value=0, max_value=10**9),
    max_concurrent=st.none() | st.integers(min_value=0, max_value=1000),
    update_time=st.none() | st.just("2022-08-09T16:23:11+0800"),
    create_time=st.none() | st.just("2022-08-09T16:13:05+0800"),
    category=st.none() | st.sampled_from(["PicProcessing", "Transcoding", "AIProcess", "DocProcess"]),
    bucket_id=st.none() | st.just("examplebucket-1250000000"),
    extra=st.dictionaries(EXTRA_NAMES, EXTRA_VALUE, max_size=3),
)


@settings(max_examples=150, deadline=None)
@given(queue=queues)
def test_queue_render_parse_round_trip(queue: Queue) -> None:
    rendered = render_update_response(UpdateResult(request_id="r", queue=queue))
    back = parse_update(rendered).queue
    assert back == queue
    assert list(back.extra.items()) == list(queue.extra.items())
    listed = parse_describe(render_describe(DescribeResult(queues=[queue, queue], non_exist_pids=["x"])))
    assert listed.queues == [queue, queue]
    assert listed.non_exist_pids == ["x"]


@pytest.mark.parametrize(
    ("body", "lacking"),
    [
        ({"QueueId": "p1", "Name": "q", "State": "Active"}, "<NotifyConfig>"),
        ({"QueueId": "p1", "State": "Active", "NotifyConfig": {"State": "Off"}}, "<Name>"),
        ({"QueueId": "p1", "Name": "", "State": "Active", "NotifyConfig": None}, "<Name>"),
        ({"QueueId": "p1", "Name": "q", "NotifyConfig": {"State": "Off"}}, "<State>"),
        ({"QueueId": "p1"}, "<Name>, <State>, <NotifyConfig>"),
    ],
)
def test_a_read_lacking_what_the_write_carries_back_is_malformed(body: dict[str, Any], lacking: str) -> None:
    # A PUT without NotifyConfig would wipe the callback: nothing may be built from such a read.
    queue = Queue.from_xml_dict(body, source="response")
    with pytest.raises(MalformedResponse) as caught:
        QueueUpdate.from_queue(queue, request_id="rid-read")
    assert str(caught.value) == (
        f"malformed response: queue p1 was read without {lacking}, which its update must carry back; "
        "nothing written"
    )
    assert caught.value.request_id == "rid-read"
    assert models.CARRIED_BACK == ("Name", "State", "NotifyConfig")


def test_an_empty_notify_config_read_is_written_back_as_read() -> None:
    queue = Queue.from_xml_dict({"QueueId": "p1", "Name": "q", "State": "Active", "NotifyConfig": None})
    assert QueueUpdate.from_queue(queue).to_xml().endswith(b"<NotifyConfig/></Request>")


# --- integers from text: the rules pydantic's lax int applied, kept (a reply reads as it did) -----
# Cases from a differential run of the old pydantic models against these (module docstring).

INT_READS = [
    ("10", 10),
    (" 10 ", 10),
    ("\u3000 7\u3000", 7),  # Unicode White_Space around it
    ("\xa01", 1),
    ("+5", 5),
    ("-3", -3),
    ("-0", 0),
    ("007", 7),
    ("1_000", 1000),
    ("0__0", 0),  # underscores among leading zeros go with them
    ("04_2.0", 42),
    ("1.0", 1),
    ("1.00", 1),
    ("-0.0", 0),
    ("00-1", -1),  # pydantic's own leading-zero quirk, kept rather than changing what a reply means
    ("9" * 25, int("9" * 25)),
    ("1" * 4300, int("1" * 4300)),
    ("0" * 4400 + "1", 1),
]
INT_REFUSED = [
    "lots",
    "1__0",
    "_1",
    "1_",
    "1.",
    ".0",
    "1.5",
    "1.0_0",
    "1e3",
    "0x10",
    "1 2",
    "+-1",
    "--1",
    "+",
    "١٢",  # non-ASCII digits
    "１２",
    "\x1c1",  # str.isspace() but not White_Space
    "\u200b1",
    "+" + "1" * 4301,  # not JSON-shaped: "not an integer", not "too large"
    "1" * 4300 + "_1",
]
TOO_LARGE = ["1" * 4301, "-" + "1" * 4301, "1" * 4301 + ".0", "1" * 4301 + "x"]


@pytest.mark.parametrize(("text", "value"), INT_READS)
def test_integer_elements_read_as_before(text: str, value: int) -> None:
    queue = Queue.from_xml_dict({"MaxSize": text}, source="response")
    assert queue.max_size == value
    assert queue.to_xml_dict()["MaxSize"] == str(value)


@pytest.mark.parametrize("text", INT_REFUSED)
def test_integer_elements_refused_as_before(text: str) -> None:
    with pytest.raises(MalformedResponse) as info:
        DescribeResult.from_xml_dict({"QueueList": [{}, {"MaxSize": text}]}, source="response", what="R")
    shown = repr(text) if len(repr(text)) <= 40 else repr(text)[:36] + "...'"
    assert str(info.value) == f"malformed response: R: QueueList[1].MaxSize must be an integer (got {shown})"


@pytest.mark.parametrize("text", TOO_LARGE)
def test_too_many_digits_is_its_own_error(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        DescribeResult.from_xml_dict({"PageSize": text})
    assert [(p.field, p.rule) for p in info.value.problems] == [
        ("PageSize", "Unable to parse input string as an integer, exceeded maximum size")
    ]


def test_the_first_problem_is_the_structure_then_integers_in_field_order() -> None:
    # A structural problem (in body order) wins over a bad integer; integers go in field order
    # (MaxSize before MaxConcurrent), whatever the body's order.
    with pytest.raises(MalformedResponse, match=r"R: Name must appear once \(got 2\)$"):
        Queue.from_xml_dict({"MaxSize": "x", "Name": ["a", "b"]}, source="response", what="R")
    with pytest.raises(MalformedResponse, match=r"R: MaxSize must be an integer \(got 'x'\)$"):
        Queue.from_xml_dict({"MaxConcurrent": "y", "MaxSize": "x"}, source="response", what="R")
    with pytest.raises(MalformedResponse, match=r"R: TotalCount must be an integer \(got 'x'\)$"):
        DescribeResult.from_xml_dict(
            {"PageSize": "y", "TotalCount": "x", "QueueList": {"MaxSize": "1"}}, source="response", what="R"
        )


# --- the models' interface (plain classes: what callers and pydantic-era code rely on) -----------


def test_models_are_not_pydantic() -> None:
    assert not any(cls.__name__ == "BaseModel" for cls in Queue.__mro__)
    code = (
        "import sys, ciqueue.ci.models as m\n"
        "m.parse_describe(b'<Response/>')\n"
        "print('pydantic' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr[-2000:]


def test_constructor_fields_set_and_refusals() -> None:
    config = NotifyConfig(state="Off", url=None)
    assert config.model_fields_set == {"state", "url"}
    assert config.extra == {}
    assert Queue(max_size="0_10").max_size == 10  # an int attribute takes its text, as read
    with pytest.raises(TypeError, match="unexpected keyword argument 'State'"):
        NotifyConfig(State="Off")
    with pytest.raises(ValueError, match=r"NotifyConfig: state must be text or None"):
        NotifyConfig(state=1)
    with pytest.raises(ValueError, match=r"UpdateResult: queue is missing"):
        UpdateResult(request_id="r")
    with pytest.raises(AttributeError, match="has no attribute 'color'"):
        config.color = "red"  # type: ignore[attr-defined]


def test_assignment_joins_the_fields_set_and_renders() -> None:
    body = ErrorBody(code="E")
    body.request_id = None
    assert body.model_fields_set == {"code", "request_id"}
    assert body.to_xml_dict() == {"Code": "E", "RequestId": None}


def test_model_copy_update_and_deep() -> None:
    queue = parse_describe(QUEUE_WITH_EXTRAS).queues[0]
    shallow = queue.model_copy(update={"state": "Paused"})
    assert shallow.state == "Paused" and queue.state != "Paused"
    assert "state" in shallow.model_fields_set
    assert shallow.notify_config is queue.notify_config
    deep = queue.model_copy(deep=True)
    assert deep == queue and deep.notify_config is not queue.notify_config
    assert deep.notify_config is not None and queue.notify_config is not None
    deep.notify_config.extra["KafkaConfig"]["Topic"] = "changed"
    assert queue.notify_config.extra["KafkaConfig"]["Topic"] == "t"
    with pytest.raises(TypeError, match="unknown attributes"):
        queue.model_copy(update={"State": "Paused"})


def test_equality_is_class_and_values_not_fields_set() -> None:
    assert NotifyConfig(url=None) == NotifyConfig()  # <Url/> and no Url compare equal, as before
    assert NotifyConfig(state="On") != NotifyConfig(state="Off")
    assert NotifyConfig(extra={"K": "1"}) != NotifyConfig()
    assert Queue(name="q") != QueueUpdate(name="q")
    assert NotifyConfig() != {"State": None}
    with pytest.raises(TypeError, match="unhashable"):
        hash(NotifyConfig())


def test_model_validate_takes_xml_or_attribute_names() -> None:
    assert NotifyConfig.model_validate({"State": "On", "url": "https://x"}) == NotifyConfig(
        state="On", url="https://x"
    )
    queue = Queue.model_validate({"Name": "q", "NotifyConfig": {"State": "Off"}, "MaxSize": "3"})
    assert queue.notify_config == NotifyConfig(state="Off") and queue.max_size == 3
    with pytest.raises(ValueError, match="KafkaConfig is not one of its elements"):
        NotifyConfig.model_validate({"State": "On", "KafkaConfig": {}})


def test_repr_and_dump() -> None:
    queue = Queue(queue_id="p1", notify_config=NotifyConfig(state="Off"), extra={"Keep": "1"})
    assert repr(queue) == "Queue(queue_id='p1', notify_config=NotifyConfig(state='Off'), extra={'Keep': '1'})"
    assert queue.model_dump(mode="json")["notify_config"]["state"] == "Off"
    assert list(queue.model_dump())[:2] == ["extra", "queue_id"]


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (
            b"<Response><RequestId>r</RequestId><Queue/></Response>",
            "Queue must hold child elements (it is empty)",
        ),
        (b"<Response><RequestId>r</RequestId></Response>", "Queue is missing"),
    ],
)
def test_an_update_reply_without_its_queue_is_malformed_naming_the_element(body: bytes, rule: str) -> None:
    with pytest.raises(MalformedResponse) as caught:
        parse_update(body, status=200, request_id="req-1")
    assert (
        str(caught.value) == f"malformed response: UpdateQueue response: {rule} (HTTP 200, RequestId: req-1)"
    )
    assert caught.value.request_id == "req-1"

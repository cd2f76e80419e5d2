"""The six CI queue kinds: where each one lives on the wire, and the update rules that differ by kind.

``KIND_SPECS`` is the one table of per-kind facts. The client's rules (``ci.models.check_update``,
``requested_notify_config``), the command schema (``app.commands``), the config file's rotations,
the emulator and the deploy docs (checked by tests/ci/test_kinds.py) all read it; none keeps a
copy. Sources (Tencent Cloud's docs, see the reference notes ci-api.md sections 1, 2.4, 3.2-3.5):

- CAM actions: speech queues are ``ci:DescribeAsrQueues``/``ci:UpdateAsrQueue`` and AI queues
  ``ci:DescribeAiProcessQueues``/``ci:UpdateAiProcessQueue`` (1045/73366, 436/98454, 1045/72923).
- Categories: pic PicProcessing, media Transcoding/SpeedTranscoding, doc DocProcess, asr
  Speeching, ai AIProcess, file FileProcess.
- Update rules: every kind but doc takes the pic body (Name of Chinese characters, letters,
  digits, ``_ - *``, at most 128; callback Type Url or TDMQ; ResultFormat; no QueueID). Doc queues
  (UpdateDocProcessQueue, 1250/61067, 2025-03) take a Name of at most 100 characters (no charset
  rule documented), require ``QueueID`` in the body, and take only Url callbacks: no TDMQ, no
  ResultFormat, no ``Mq*`` elements. Speech queues follow the pic rules (436/98454, 2025-12).

A rule a kind does not have is refused naming the kind (``notify_refusals``): "doc queues take
only Url (got 'TDMQ')".
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TypeVar

from ciqueue.constants import NOTIFY_TYPES
from ciqueue.errors import InvalidInput
from ciqueue.limits import MAX_DOC_QUEUE_NAME_LENGTH, MAX_QUEUE_NAME_LENGTH
from ciqueue.records import dataclass


class QueueKind(str, Enum):
    PIC = "pic"
    MEDIA = "media"
    DOC = "doc"
    ASR = "asr"
    AI = "ai"
    FILE = "file"


# NotifyConfig elements that only TDMQ callbacks use.
TDMQ_ELEMENTS = ("MqMode", "MqRegion", "MqName")


@dataclass(frozen=True)
class KindSpec:
    kind: QueueKind
    queue_path: str  # GET <queue_path>, PUT <queue_path>/<id>
    # POST on the bucket host activates (and creates the default queue), DELETE closes;
    # GET on the service host ci.<Region>.myqcloud.com lists the buckets activated.
    activation_path: str
    categories: tuple[str, ...]  # Category values the kind's queues carry; the first: the default queue's
    describe_action: str  # CAM action names, for docs and permissions
    update_action: str
    bucket_element: str  # element of the activation response, e.g. PicBucket
    # -- update rules (the PUT body) --
    name_max_length: int = MAX_QUEUE_NAME_LENGTH
    name_charset: bool = True  # Name holds only Chinese characters, letters, digits, '_', '-', '*'
    queue_id_in_body: bool = False  # the body must carry QueueID (equal to the path's id)
    notify_types: tuple[str, ...] = NOTIFY_TYPES  # NotifyConfig/Type values the kind takes
    result_format: bool = True  # NotifyConfig takes ResultFormat

    @property
    def bucket_list_element(self) -> str:
        """The repeated element of the bucket listing (``GET <activation_path>``), e.g. PicBucketList."""
        return f"{self.bucket_element}List"

    @property
    def category(self) -> str:
        """The Category of the queue activation creates."""
        return self.categories[0]

    @property
    def label(self) -> str:
        """How messages name the kind: ``doc queues``."""
        return f"{self.kind.value} queues"


KIND_SPECS: dict[QueueKind, KindSpec] = {
    QueueKind.PIC: KindSpec(
        QueueKind.PIC,
        "/picqueue",
        "/picbucket",
        ("PicProcessing",),
        "ci:DescribePicProcessQueues",
        "ci:UpdatePicProcessQueue",
        "PicBucket",
    ),
    QueueKind.MEDIA: KindSpec(
        QueueKind.MEDIA,
        "/queue",
        "/mediabucket",
        ("Transcoding", "SpeedTranscoding"),
        "ci:DescribeMediaQueues",
        "ci:UpdateMediaQueue",
        "MediaBucket",
    ),
    QueueKind.DOC: KindSpec(
        QueueKind.DOC,
        "/docqueue",
        "/docbucket",
        ("DocProcess",),
        "ci:DescribeDocProcessQueues",
        "ci:UpdateDocProcessQueue",
        "DocBucket",
        name_max_length=MAX_DOC_QUEUE_NAME_LENGTH,
        name_charset=False,
        queue_id_in_body=True,
        notify_types=("Url",),
        result_format=False,
    ),
    QueueKind.ASR: KindSpec(
        QueueKind.ASR,
        "/asrqueue",
        "/asrbucket",
        ("Speeching",),
        "ci:DescribeAsrQueues",
        "ci:UpdateAsrQueue",
        "AsrBucket",
    ),
    QueueKind.AI: KindSpec(
        QueueKind.AI,
        "/ai_queue",
        "/ai_bucket",
        ("AIProcess",),
        "ci:DescribeAiProcessQueues",
        "ci:UpdateAiProcessQueue",
        "AiBucket",
    ),
    QueueKind.FILE: KindSpec(
        QueueKind.FILE,
        "/file_queue",
        "/file_bucket",
        ("FileProcess",),
        "ci:DescribeFileProcessQueues",
        "ci:UpdateFileProcessQueue",
        "FileBucket",
    ),
}

KIND_NAMES = tuple(k.value for k in QueueKind)

# Kinds whose service can be closed (``DELETE <activation_path>`` on the bucket host, which also
# deletes the kind's queues): pic 1045/72917, media 1045/72938, file 436/75263, asr 460/95755
# (SDK ci_close_asr_bucket), ai (SDK ci_close_ai_bucket). No document describes closing doc.
CLOSABLE_KINDS = frozenset({QueueKind.PIC, QueueKind.MEDIA, QueueKind.ASR, QueueKind.AI, QueueKind.FILE})

_V = TypeVar("_V")


def parse_kind(value: str | QueueKind, field: str = "kind") -> QueueKind:
    """Return the QueueKind for ``value`` or raise InvalidInput naming the field and the choices."""
    if isinstance(value, QueueKind):
        return value
    try:
        return QueueKind(value)
    except ValueError:
        raise InvalidInput(field, f"must be one of {', '.join(KIND_NAMES)} (got {value!r})") from None


def spec_for(kind: str | QueueKind) -> KindSpec:
    return KIND_SPECS[parse_kind(kind)]


def notify_refusals(kind: str | QueueKind, notify: Mapping[str, object]) -> list[tuple[str, str]]:
    """(element, rule) for each NotifyConfig element in ``notify`` that ``kind`` does not take.

    ``notify`` maps XML element names to the values asked for; absent or empty values are not
    judged, nor is a Type no kind knows (the shared rules name it). A refused TDMQ Type says it
    all: the ``Mq*`` elements that go with it are not listed again.
    """
    spec = spec_for(kind)
    refusals: list[tuple[str, str]] = []
    type_ = notify.get("Type")
    type_refused = bool(type_) and type_ in NOTIFY_TYPES and type_ not in spec.notify_types
    if type_refused:
        refusals.append(("Type", f"{spec.label} take only {' or '.join(spec.notify_types)} (got {type_!r})"))
    if notify.get("ResultFormat") and not spec.result_format:
        refusals.append(("ResultFormat", f"{spec.label} take no ResultFormat"))
    if "TDMQ" not in spec.notify_types and not type_refused:
        refusals += [
            (name, f"{spec.label} take no {name} (they have no TDMQ callbacks)")
            for name in TDMQ_ELEMENTS
            if notify.get(name)
        ]
    return refusals


def notify_elements_taken(kind: str | QueueKind, fields: Mapping[str, _V]) -> dict[str, _V]:
    """``fields`` (XML names) without a ResultFormat when ``kind`` takes none.

    For the default a caller fills in for every kind (a rotation's ResultFormat XML): a format a
    user asked for explicitly is refused by ``notify_refusals`` instead, never dropped quietly.
    """
    if spec_for(kind).result_format:
        return dict(fields)
    return {name: value for name, value in fields.items() if name != "ResultFormat"}


def kind_for_path(path: str) -> tuple[QueueKind, str | None] | None:
    """Map a request path to (kind, queue id or None); None when it is no queue path."""
    for spec in KIND_SPECS.values():
        if path == spec.queue_path:
            return spec.kind, None
        prefix = spec.queue_path + "/"
        if path.startswith(prefix) and len(path) > len(prefix):
            return spec.kind, path[len(prefix) :]
    return None

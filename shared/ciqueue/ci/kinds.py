"""The six CI queue kinds and where each one lives on the wire."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ciqueue.errors import InvalidInput


class QueueKind(str, Enum):
    PIC = "pic"
    MEDIA = "media"
    DOC = "doc"
    ASR = "asr"
    AI = "ai"
    FILE = "file"


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

    @property
    def bucket_list_element(self) -> str:
        """The repeated element of the bucket listing (``GET <activation_path>``), e.g. PicBucketList."""
        return f"{self.bucket_element}List"

    @property
    def category(self) -> str:
        """The Category of the queue activation creates."""
        return self.categories[0]


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


def kind_for_path(path: str) -> tuple[QueueKind, str | None] | None:
    """Map a request path to (kind, queue id or None); None when it is no queue path."""
    for spec in KIND_SPECS.values():
        if path == spec.queue_path:
            return spec.kind, None
        prefix = spec.queue_path + "/"
        if path.startswith(prefix) and len(path) > len(prefix):
            return spec.kind, path[len(prefix) :]
    return None

"""The identifiers of a CI queue: bucket, region, kind and queue id. The one home of their rules.

Every door judges these values here (the client, the state document, commands from the HTTP API,
timers and events, the config file, the emulator), so one input gets one verdict and one wording
everywhere. Each ``*_problem`` function returns the broken rule as a ``Problem`` naming the field
(or None); each ``check_*`` raises it as ``InvalidInput`` and returns the value.

The rules, and why each is what it is:

- **bucket** is ``<name>-<APPID>``. The name is lowercase letters, digits and ``-``, not ``-`` at
  either end (COS bucket naming). The APPID is the account's numeric id: one or more digits. The
  reference (ci-api.md) shows APPIDs only in examples (``1250000000``, ``1234567890``) and states no
  digit count, so none is imposed: ``x-123`` is a bucket at every door (the client always sent it).
  The whole ``name-APPID`` is at most ``MAX_BUCKET_LENGTH`` (50) characters: it is the first label
  of the host ``<bucket>.ci.<region>.myqcloud.com``, which DNS bounds at 63, and 50 is the bound
  the client has always enforced.
- **region** is lowercase letters, then one or more ``-``-joined parts of lowercase letters or
  digits (``ap-guangzhou``, ``na-siliconvalley``, ``ap-shanghai-fsi``). The number of parts is not
  bounded (new regions appear); the length is: the region is one DNS label of the host, so at most
  ``MAX_REGION_LENGTH`` (63) characters. A longer one is bad input, refused before any request.
- **kind** is one of ``ciqueue.ci.kinds.KIND_NAMES``; ``kinds.parse_kind`` is its one rule (it
  lives beside the table it reads) and is re-exported here.
- **queue id** is one lowercase letter and 32 lowercase hex digits, e.g.
  ``p8366c460c67b4c65a9bf81b41eaa3c4b``. The reference (ci-api.md §2) documents ``QueueId`` as
  ``p`` + 32 lowercase hex, and every real id in the CI docs and the official SDKs has that shape
  (pic and media queues, a doc queue's ``p532fdead…`` in cos-python-sdk-v5's ci_create_doc_job,
  the AI docs' ``p23f…``). The letter is not fixed to ``p``: the SDK's speech sample names an asr
  queue ``s0980…`` (a placeholder, but the one hint for asr and none exists for file queues), and
  refusing a real id would lock its queue out, while a letter CI does not mint costs only the
  QueueNotFound it gets today. Anything else (``p123``, upper-case hex, a placeholder such as
  ``A``) is bad input at every door, refused before a request is sent.

- **object key** (a COS object: the state document, a command object an event names) is a relative
  path of non-empty parts, none ``.`` or ``..``, without control characters, at most
  ``MAX_COS_KEY_BYTES`` (COS documents 850 bytes). It is judged as given and again after
  percent-decoding (until nothing changes), so ``%2e%2e`` is a ``..`` too: a key is a name, never
  a way to climb out of the prefix a door checked (``ciqueue/commands/../state.json``).

Values are judged exactly as given: no stripping, no case folding (``Demo-1`` is refused, not
lowered), and a trailing newline is not a match (``fullmatch``, not ``match`` with ``$``).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from ciqueue.ci.kinds import KIND_NAMES, QueueKind, parse_kind
from ciqueue.errors import InvalidInput, Problem
from ciqueue.limits import MAX_BUCKET_LENGTH, MAX_COS_KEY_BYTES, MAX_REGION_LENGTH

__all__ = [
    "BUCKET_RULE",
    "KIND_NAMES",
    "MAX_BUCKET_LENGTH",
    "MAX_REGION_LENGTH",
    "OBJECT_KEY_RULE",
    "QUEUE_ID_RULE",
    "REGION_RULE",
    "QueueKind",
    "bucket_problem",
    "check_bucket",
    "check_object_key",
    "check_queue_id",
    "check_region",
    "object_key_problem",
    "parse_kind",
    "queue_id_problem",
    "region_problem",
]


_BUCKET_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?-[0-9]+")
_REGION_RE = re.compile(r"[a-z]{2,}(?:-[a-z0-9]+)+")
_QUEUE_ID_RE = re.compile(r"[a-z][0-9a-f]{32}")

BUCKET_RULE = (
    "must be <name>-<appid>: lowercase letters, digits and '-' (not at either end), then '-' and "
    f"the numeric APPID, at most {MAX_BUCKET_LENGTH} characters in all, e.g. examplebucket-1250000000"
)
REGION_RULE = (
    "must be a region such as ap-guangzhou: lowercase letters, then '-' and lowercase letters or "
    f"digits, at most {MAX_REGION_LENGTH} characters"
)
QUEUE_ID_RULE = (
    "must be a queue id: a lowercase letter and 32 lowercase hex digits, e.g. "
    "p8366c460c67b4c65a9bf81b41eaa3c4b"
)

OBJECT_KEY_RULE = "must be a relative object key without empty, '.' or '..' parts"

# A value shown in a message is cut here, so a huge input cannot flood a log line.
_SHOWN_LENGTH = 64


def bucket_problem(value: object, field: str = "bucket") -> Problem | None:
    """The broken bucket rule under ``field``, or None when ``value`` is a bucket."""
    ok = isinstance(value, str) and len(value) <= MAX_BUCKET_LENGTH and _BUCKET_RE.fullmatch(value)
    return None if ok else Problem(field, f"{BUCKET_RULE} {_got(value)}")


def region_problem(value: object, field: str = "region") -> Problem | None:
    """The broken region rule under ``field``, or None when ``value`` is a region."""
    ok = isinstance(value, str) and len(value) <= MAX_REGION_LENGTH and _REGION_RE.fullmatch(value)
    return None if ok else Problem(field, f"{REGION_RULE} {_got(value)}")


def queue_id_problem(value: object, field: str = "queue_id") -> Problem | None:
    """The broken queue-id rule under ``field``, or None when ``value`` is a queue id."""
    ok = isinstance(value, str) and _QUEUE_ID_RE.fullmatch(value)
    return None if ok else Problem(field, f"{QUEUE_ID_RULE} {_got(value)}")


def object_key_problem(value: object, field: str = "key") -> Problem | None:
    """The broken object-key rule under ``field``, or None when ``value`` is a safe object key."""
    if not isinstance(value, str) or not value:
        return Problem(field, f"must be an object key such as ciqueue/state.json {_got(value)}")
    forms = [value]
    while len(forms) < 8 and unquote(forms[-1]) != forms[-1]:  # each decoding shortens the text
        forms.append(unquote(forms[-1]))
    for form in forms:
        if form.startswith("/") or any(part in ("", ".", "..") for part in form.split("/")):
            return Problem(field, f"{OBJECT_KEY_RULE} {_got(value)}")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in form):
            return Problem(field, f"must not contain control characters {_got(value)}")
    if len(value.encode("utf-8", "replace")) > MAX_COS_KEY_BYTES:
        return Problem(field, f"must be at most {MAX_COS_KEY_BYTES} bytes {_got(value)}")
    return None


def check_object_key(value: object, field: str = "key") -> str:
    """``value`` when it is a safe object key; InvalidInput naming ``field`` and the rule otherwise."""
    return _checked(value, object_key_problem(value, field))


def check_bucket(value: object, field: str = "bucket") -> str:
    """``value`` when it is a bucket; InvalidInput naming ``field`` and the rule otherwise."""
    return _checked(value, bucket_problem(value, field))


def check_region(value: object, field: str = "region") -> str:
    """``value`` when it is a region; InvalidInput naming ``field`` and the rule otherwise."""
    return _checked(value, region_problem(value, field))


def check_queue_id(value: object, field: str = "queue_id") -> str:
    """``value`` when it is a queue id; InvalidInput naming ``field`` and the rule otherwise."""
    return _checked(value, queue_id_problem(value, field))


def _checked(value: object, problem: Problem | None) -> str:
    if problem is not None:
        raise InvalidInput(problem)
    assert isinstance(value, str)  # no problem means a string matched
    return value


def _got(value: object) -> str:
    """``(got 'x-')``: the value, shortened; for a non-string only its type (it may be anything)."""
    if not isinstance(value, str):
        return f"(got {'null' if value is None else type(value).__name__})"
    shown = value if len(value) <= _SHOWN_LENGTH else value[:_SHOWN_LENGTH] + "…"
    return f"(got {shown!r})"

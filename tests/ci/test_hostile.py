"""Against a hostile CI on loopback (tests/hostile.py), every call ends by its deadline, reads
a bounded amount, fails with a typed error naming the cause, and never sends a PUT that drops a
field the read carried.

Memory is measured with tracemalloc (Python allocations, the body buffers included) around the
call alone; the worst case's peak is printed (run with -s to see it) and bounded here.
"""

from __future__ import annotations

import gc
import resource
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import hostile
import pytest
from ciqueue.ci import models
from ciqueue.ci.client import CIClient
from ciqueue.ci.credentials import Credentials
from ciqueue.ci.operations import change_queue
from ciqueue.ci.retry import Deadline, RetryPolicy
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.errors import (
    CiQueueError,
    DeadlineExceeded,
    MalformedResponse,
    TransportError,
    UnverifiedWrite,
    describe,
)
from ciqueue.limits import MAX_CI_REPLY_BYTES
from hostile import QUEUE_ID, HostileServer

DEADLINE_S = 2.0
# Time past the deadline a call may take to unwind (thread wake-up, closing the socket).
MARGIN_S = 0.75
# What a hostile reply may cost: the 1 MiB bound, the bytes object it is copied into, parsing.
MEMORY_BOUND = 4 * MAX_CI_REPLY_BYTES

PEAKS: dict[str, int] = {}


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with hostile.hostile_server() as running:
        yield running


def client_for(server: HostileServer, **kwargs: Any) -> CIClient:
    options: dict[str, Any] = {
        "retry": RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02),
        **kwargs,
    }
    return CIClient(
        "demo-1250000000",
        "ap-guangzhou",
        Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY),
        endpoint=server.endpoint,
        **options,
    )


def measured(name: str, call: Callable[[], Any]) -> tuple[BaseException | None, float, int]:
    """Run ``call``; its exception (or None), the seconds it took and its tracemalloc peak."""
    gc.collect()
    tracemalloc.start()
    started = time.monotonic()
    caught: BaseException | None = None
    try:
        call()
    except BaseException as exc:
        caught = exc
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    PEAKS[name] = peak
    return caught, elapsed, peak


CASES: list[tuple[str, Callable[[], hostile.Reply], type[CiQueueError], str]] = [
    ("huge 50 MB", lambda: hostile.huge(), MalformedResponse, f"at most {MAX_CI_REPLY_BYTES} bytes"),
    (
        "huge announced",
        lambda: hostile.huge(announce=True),
        MalformedResponse,
        "Content-Length 52428800; not read",
    ),
    ("gzip bomb", hostile.gzip_bomb, MalformedResponse, "decoded (its gzip data inflates past that"),
    ("endless chunked", hostile.endless_chunked, MalformedResponse, "more arrived; reading stopped"),
    ("trickling body", hostile.trickle, DeadlineExceeded, "no whole reply in time"),
    (
        "trickling headers",
        lambda: hostile.trickle(headers_too=True),
        DeadlineExceeded,
        "no whole reply in time",
    ),
    ("silent", hostile.silent, DeadlineExceeded, "deadline exceeded"),
    ("malformed XML", hostile.malformed, MalformedResponse, "must be well-formed XML"),
    ("truncated body", hostile.truncated, TransportError, "ProtocolError"),
    ("truncated chunks", hostile.truncated_chunked, TransportError, "ProtocolError"),
    ("bad gzip", hostile.bad_gzip, MalformedResponse, "must be valid gzip data"),
]


@pytest.mark.parametrize(("name", "reply", "error", "cause"), CASES, ids=[c[0] for c in CASES])
def test_hostile_reply_is_bounded_in_time_and_memory_and_typed(
    server: HostileServer,
    name: str,
    reply: Callable[[], hostile.Reply],
    error: type[CiQueueError],
    cause: str,
) -> None:
    if name == "gzip bomb":
        hostile.bomb_bytes()  # built before measuring: the server's bytes are not the client's
    server.default = reply()
    client = client_for(server)
    caught, elapsed, peak = measured(
        name, lambda: client.get_queue("pic", QUEUE_ID, deadline=Deadline.after(DEADLINE_S))
    )
    assert isinstance(caught, error), f"{name}: {type(caught).__name__}: {caught}"
    assert cause in str(caught)
    assert describe(caught).expected  # a typed verdict, never "internal error"
    assert elapsed < DEADLINE_S + MARGIN_S, f"{name} took {elapsed:.2f} s"
    assert peak < MEMORY_BOUND, f"{name} peaked at {peak} bytes"
    print(
        f"hostile {name}: {type(caught).__name__} in {elapsed:.2f} s, tracemalloc peak {peak / 1024:.0f} KiB"
    )


def test_the_worst_hostile_reply_costs_about_the_bound(server: HostileServer) -> None:
    """Every case in one process: the worst peak is reported, and ru_maxrss barely moves."""
    hostile.bomb_bytes()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, reply, _, _ in CASES:
        server.default = reply()
        read = client_for(server).get_queue
        measured(name, lambda read=read: read("pic", QUEUE_ID, deadline=Deadline.after(DEADLINE_S)))
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    worst = max(PEAKS, key=lambda n: PEAKS[n])
    print(
        f"hostile worst: {worst}, tracemalloc peak {PEAKS[worst] / 1024:.0f} KiB; "
        f"ru_maxrss grew {grown_kib} KiB over all {len(CASES)} cases"
    )
    assert PEAKS[worst] < MEMORY_BOUND
    assert grown_kib < 64 * 1024  # a 300 MB bomb or a 50 MB body read whole would show here


def test_without_a_deadline_the_attempt_timeout_ends_a_trickle(server: HostileServer) -> None:
    server.default = hostile.trickle()
    client = client_for(server, timeout=0.5)
    caught, elapsed, _ = measured("trickle, no deadline", lambda: client.get_queue("pic", QUEUE_ID))
    assert isinstance(caught, TransportError)
    assert str(caught).endswith("no whole reply within the 0.5 s timeout")
    assert len(server.requests) == 2  # a timeout is transient: retried, then given up
    assert elapsed < 2 * 0.5 + MARGIN_S


# -- no clobber: a read without what the write carries back writes nothing -----------------------


@pytest.mark.parametrize(
    ("missing", "element"),
    [({"notify": False}, "<NotifyConfig>"), ({"name": False}, "<Name>"), ({"state": False}, "<State>")],
)
@pytest.mark.parametrize("action", ["pause", "resume", "set_callback"])
def test_a_read_lacking_a_carried_element_writes_nothing(
    server: HostileServer, missing: dict[str, bool], element: str, action: str
) -> None:
    server.default = hostile.describe(**missing)
    notify = models.notify_config_off() if action == "set_callback" else None
    if action == "resume":
        server.default = hostile.describe(**missing)
    with pytest.raises(MalformedResponse) as caught:
        change_queue(client_for(server), "pic", QUEUE_ID, action, notify=notify)
    assert element in str(caught.value) and "nothing written" in str(caught.value)
    assert caught.value.request_id == "rid-read"
    assert server.puts() == []


def test_the_doc_kind_also_needs_the_queue_id(server: HostileServer) -> None:
    queue = models.Queue.from_xml_dict({"Name": "q", "State": "Active", "NotifyConfig": {"State": "Off"}})
    with pytest.raises(MalformedResponse, match="without <QueueId>"):
        models.QueueUpdate.from_queue(queue, include_queue_id=True)
    assert models.QueueUpdate.from_queue(queue).name == "q"  # the other kinds do not carry it


READ_WITH_EXTRAS = hostile._whole(
    200,
    (
        "<Response><RequestId>rid-read</RequestId><TotalCount>1</TotalCount><QueueList>"
        + hostile.queue_xml(extra="<SomeNewElement>v</SomeNewElement>")
        + "</QueueList></Response>"
    ).encode(),
)


@pytest.mark.parametrize(
    ("name", "reply"),
    [
        ("huge", lambda: hostile.huge()),
        ("gzip bomb", hostile.gzip_bomb),
        ("malformed", hostile.malformed),
        ("truncated", hostile.truncated),
        ("trickle", hostile.trickle),
    ],
)
def test_a_hostile_answer_to_the_put_or_the_verify_read_never_drops_a_field(
    server: HostileServer, name: str, reply: Callable[[], hostile.Reply]
) -> None:
    """The PUT carries everything the read had, whatever comes back after it; the outcome says
    what is known (a failed PUT answer: that error; a failed verifying read: UnverifiedWrite)."""
    hostile.bomb_bytes()
    # A hostile answer to the PUT (and its retry), then to the verifying read.
    server.script(READ_WITH_EXTRAS, reply(), reply())
    server.default = reply()
    started = time.monotonic()
    with pytest.raises(CiQueueError) as caught:
        change_queue(client_for(server), "pic", QUEUE_ID, "pause", deadline=Deadline.after(DEADLINE_S))
    assert time.monotonic() - started < DEADLINE_S + MARGIN_S
    assert describe(caught.value).expected
    assert not isinstance(caught.value, UnverifiedWrite)  # the PUT's answer itself was hostile
    for put in server.puts():
        written = models.parse_update_request(put.body)
        assert written.name == "hostile-q" and written.state == "Paused"
        assert written.notify_config is not None
        assert written.notify_config.url == "https://cb.example.com/ci?token=t"
        assert written.notify_config.event == "TaskFinish"
        assert written.extra == {"SomeNewElement": "v"}
    assert 1 <= len(server.puts()) <= 2


def test_a_hostile_verify_read_is_an_unverified_write(server: HostileServer) -> None:
    server.script(READ_WITH_EXTRAS, hostile.updated())
    server.default = hostile.malformed()
    with pytest.raises(UnverifiedWrite) as caught:
        change_queue(client_for(server), "pic", QUEUE_ID, "pause", deadline=Deadline.after(DEADLINE_S))
    assert describe(caught.value).fields["cause"]["code"] == "MalformedResponse"
    (put,) = server.puts()
    assert models.parse_update_request(put.body).notify_config == models.NotifyConfig.from_xml_dict(
        {
            "Url": "https://cb.example.com/ci?token=t",
            "Event": "TaskFinish",
            "Type": "Url",
            "State": "On",
            "ResultFormat": "JSON",
        }
    )


def test_an_attempt_started_during_a_longer_one_is_still_cut_at_its_own_end(server: HostileServer) -> None:
    """The watchdog sleeps until its earliest instant: a shorter attempt scheduled behind a longer
    one must wake it (a trickle of headers has no check between reads; only the cut ends it)."""
    server.default = hostile.trickle(headers_too=True)
    once = RetryPolicy(max_attempts=1)
    slow = client_for(server, timeout=3.0, retry=once)
    longer = threading.Thread(target=lambda: measured("longer", lambda: slow.get_queue("pic", QUEUE_ID)))
    longer.start()
    while not server.requests:
        time.sleep(0.01)
    caught, elapsed, _ = measured(
        "shorter", lambda: client_for(server, timeout=0.5, retry=once).get_queue("pic", QUEUE_ID)
    )
    assert isinstance(caught, TransportError)
    assert str(caught).endswith("no whole reply within the 0.5 s timeout")
    assert elapsed < 0.5 + MARGIN_S
    longer.join(timeout=10)

"""Safe queue operations: read, change only the asked field, write, re-read and verify.

The CI update API replaces the whole queue configuration, so every operation starts from what
the service holds (unknown elements included), changes one thing, and writes the rest back as
it was. Asking for what is already there writes nothing. After a write, a second read must
show exactly what was written; anything else is a concurrent change and raises ConflictError.
When that second read fails (no answer, an error, the deadline) the write has still landed:
UnverifiedWrite says so (written, not verified) instead of the read's bare error.

``BatchChange`` does the same for up to 10 queues of one kind in one bucket with one read and one
verifying read for all of them (describe takes up to 10 queueIds), the PUTs in between sent at
once: each PUT body still carries back what that read returned for its queue, a queue the read
does not return is not written, and every queue ends with exactly one outcome.

``change_queue`` is the one place an action name (``pause``, ``resume``, ``set_callback``) becomes
its operation, for every caller that carries out actions (the executor, the scheduler tick, the
command line); it refuses to start once the deadline has run out. An ``OperationResult`` names its
action by the same word (``set_callback``, the command schema's: results, audit lines and JSON
say it alike; ``set-callback`` is only the CLI subcommand's spelling).

The views here (``queue_to_dict``, ``notify_to_dict``, ``FieldChange.to_dict``,
``describe_callback``) are what callers are shown, so a callback URL in them is redacted by the
one rule (``netguard.redact_url``: query values as ``***``); the models keep the real value,
which is what every write carries back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ciqueue.ci import models
from ciqueue.ci.kinds import QueueKind, parse_kind, spec_for
from ciqueue.ci.netguard import redact_url
from ciqueue.errors import ConflictError, DeadlineExceeded, QueueNotFound, UnverifiedWrite
from ciqueue.limits import MAX_QUEUE_IDS_PER_REQUEST
from ciqueue.records import dataclass, field

if TYPE_CHECKING:
    from ciqueue.ci.client import CIClient
    from ciqueue.ci.ratelimit import RateLimit
    from ciqueue.ci.retry import Deadline

Mutation = Callable[["models.QueueUpdate"], "models.QueueUpdate"]
Check = Callable[["models.QueueUpdate", "models.Queue"], None]

# Model attribute -> XML element, in the order CI documents them.
_QUEUE_FIELDS = (("name", "Name"), ("state", "State"))
_NOTIFY_FIELDS = (
    ("state", "State"),
    ("type", "Type"),
    ("url", "Url"),
    ("event", "Event"),
    ("result_format", "ResultFormat"),
    ("mq_mode", "MqMode"),
    ("mq_region", "MqRegion"),
    ("mq_name", "MqName"),
)


@dataclass(frozen=True)
class FieldChange:
    """One field that differs, by its XML path (``State``, ``NotifyConfig.Url``)."""

    field: str
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        """As shown to callers: a callback URL redacted (``shown_value``)."""
        return {
            "field": self.field,
            "before": shown_value(self.field, self.before),
            "after": shown_value(self.field, self.after),
        }


def shown_value(field: str, value: Any) -> Any:
    """A field's value as callers see it: ``NotifyConfig.Url`` redacted, anything else as it is."""
    return redact_url(value) if field == "NotifyConfig.Url" and isinstance(value, str) else value


@dataclass
class OperationResult:
    """What an operation found, did (or would do, for a dry run) and why.

    ``changed`` is True only when a write happened; a dry run never changes anything, its
    ``diff`` shows what a real run would write and ``would_change`` says whether it would write
    at all (for a real run it equals ``changed``), so a script reading a dry run is not told
    "false" about a change it asked to preview. ``after`` is the verified re-read after a
    write, the projected queue for a dry run, and ``before`` when nothing needed changing.
    """

    kind: QueueKind
    queue_id: str
    action: str
    before: models.Queue
    after: models.Queue
    changed: bool
    dry_run: bool
    diff: list[FieldChange] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    reason: str = ""
    actor: str | None = None

    @property
    def would_change(self) -> bool:
        """A real run writes (or wrote) the queue: there is a diff to write."""
        return self.changed or bool(self.diff)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; queues use the XML element names."""
        return {
            "kind": self.kind.value,
            "queue_id": self.queue_id,
            "action": self.action,
            "changed": self.changed,
            "would_change": self.would_change,
            "dry_run": self.dry_run,
            "reason": self.reason,
            "actor": self.actor,
            "diff": [change.to_dict() for change in self.diff],
            "before": queue_to_dict(self.before),
            "after": queue_to_dict(self.after),
            "request_ids": list(self.request_ids),
        }


ACTIONS = ("pause", "resume", "set_callback")


def change_queue(
    client: CIClient,
    kind: str | QueueKind,
    queue_id: str,
    action: str,
    *,
    notify: models.NotifyConfig | None = None,
    dry_run: bool = False,
    deadline: Deadline | None = None,
    actor: str | None = None,
) -> OperationResult:
    """Carry out ``action`` on one queue: ``pause``, ``resume`` or ``set_callback`` (``notify``).

    DeadlineExceeded, before anything is read, when ``deadline`` has already run out: starting a
    read-modify-write that cannot finish would only leave a half-done change to verify.
    ValueError for another action or a ``set_callback`` without ``notify`` (a caller's bug).
    """
    if action not in ACTIONS:
        raise ValueError(f"action {action!r} changes no queue (known: {', '.join(ACTIONS)})")
    if deadline is not None and deadline.expired():
        raise DeadlineExceeded(f"no time left to {action} queue {queue_id}")
    if action == "pause":
        return pause_queue(client, kind, queue_id, dry_run=dry_run, deadline=deadline, actor=actor)
    if action == "resume":
        return resume_queue(client, kind, queue_id, dry_run=dry_run, deadline=deadline, actor=actor)
    if notify is None:
        raise ValueError("set_callback needs the NotifyConfig to set")
    return set_callback(client, kind, queue_id, notify, dry_run=dry_run, deadline=deadline, actor=actor)


def pause_queue(
    client: CIClient,
    kind: str | QueueKind,
    queue_id: str,
    *,
    dry_run: bool = False,
    deadline: Deadline | None = None,
    actor: str | None = None,
) -> OperationResult:
    """Set the queue's State to Paused (queued jobs wait; running jobs finish)."""
    return _set_state(client, kind, queue_id, "Paused", "pause", dry_run, deadline, actor)


def resume_queue(
    client: CIClient,
    kind: str | QueueKind,
    queue_id: str,
    *,
    dry_run: bool = False,
    deadline: Deadline | None = None,
    actor: str | None = None,
) -> OperationResult:
    """Set the queue's State to Active."""
    return _set_state(client, kind, queue_id, "Active", "resume", dry_run, deadline, actor)


def set_callback(
    client: CIClient,
    kind: str | QueueKind,
    queue_id: str,
    notify: models.NotifyConfig,
    *,
    dry_run: bool = False,
    deadline: Deadline | None = None,
    actor: str | None = None,
) -> OperationResult:
    """Replace the queue's NotifyConfig with ``notify``; the queue State is never touched.

    Build ``notify`` with ``models.requested_notify_config(...)``. An Off request (State Off)
    turns the callback off and keeps the stored Url/Type/Event/... so that turning it back on
    is one field away. Unknown NotifyConfig elements the service holds are always kept. The
    new NotifyConfig is judged whole, as CI judges it: kept settings that break today's rules
    (e.g. a legacy Event) are refused naming the field, before anything is written.
    """
    mutate, goal = _callback_mutation(notify), _callback_goal(notify)
    return apply_change(
        client,
        kind,
        queue_id,
        mutate,
        "set_callback",
        goal=goal,
        dry_run=dry_run,
        deadline=deadline,
        actor=actor,
    )


def apply_change(
    client: CIClient,
    kind: str | QueueKind,
    queue_id: str,
    mutate: Mutation,
    action: str,
    *,
    goal: str | None = None,
    check: Check | None = None,
    dry_run: bool = False,
    deadline: Deadline | None = None,
    actor: str | None = None,
) -> OperationResult:
    """Read, apply ``mutate`` to the queue's update body, validate, write if needed, verify.

    ``mutate`` receives the body that would write the queue back unchanged and returns the
    body to write; it must change only what the operation is about. ``goal`` words the
    desired state for reasons ("Paused" gives "already Paused"). ``check`` judges the new body
    against the queue read (default: ``models.check_update(update, kind=kind, unchanged_from=queue)``);
    it runs before any write, so InvalidInput leaves the queue untouched.
    """
    kind = parse_kind(kind)
    before, read_id = client.get_queue(kind, queue_id, deadline=deadline)
    plan = _plan(kind, queue_id, before, read_id, mutate, action, goal or action, check, dry_run, actor)
    if not plan.diff:
        return plan.result(before, False, f"already {plan.goal}; nothing written")
    if dry_run:
        return plan.result(
            _project(before, plan.wanted), False, f"dry run: would set {describe_diff(plan.diff)}"
        )

    written = client.update_queue(kind, queue_id, plan.wanted, deadline=deadline)
    plan.request_ids.append(written.request_id or "")
    try:
        after, verify_id = client.get_queue(kind, queue_id, deadline=deadline)
    except Exception as exc:
        raise plan.unverified(exc) from exc
    return plan.verified(after, verify_id)


@dataclass
class _Plan:
    """One queue's write, worked out from a read: the body read back (``current``), the body to
    write (``wanted``), their diff, and the request ids so far (the read's first)."""

    kind: QueueKind
    queue_id: str
    action: str
    goal: str
    before: models.Queue
    current: models.QueueUpdate
    wanted: models.QueueUpdate
    diff: list[FieldChange]
    request_ids: list[str]
    dry_run: bool
    actor: str | None

    def result(self, after: models.Queue, changed: bool, reason: str) -> OperationResult:
        return OperationResult(
            kind=self.kind,
            queue_id=self.queue_id,
            action=self.action,
            before=self.before,
            after=after,
            changed=changed,
            dry_run=self.dry_run,
            diff=self.diff,
            request_ids=list(self.request_ids),
            reason=reason,
            actor=self.actor,
        )

    def unverified(self, exc: BaseException) -> UnverifiedWrite:
        """CI answered the PUT with success: the change is there, only its proof is missing."""
        changes = [change.to_dict() for change in self.diff]
        return UnverifiedWrite(
            self.queue_id, self.action, exc, changes, list(self.request_ids), describe_diff(self.diff)
        )

    def verified(self, after: models.Queue, verify_id: str) -> OperationResult:
        """The result when the re-read shows what we wrote; ConflictError naming each field that
        someone else changed in between."""
        self.request_ids.append(verify_id)
        differences = verify_written(self.wanted, after)
        if differences:
            shown = [change.to_dict() for change in differences]  # a callback URL redacted
            detail = "; ".join(f"{c['field']} is {c['after']!r}, we wrote {c['before']!r}" for c in shown)
            raise ConflictError(self.queue_id, detail, verify_id or None)
        return self.result(after, True, f"set {describe_diff(self.diff)}")


def _plan(
    kind: QueueKind,
    queue_id: str,
    before: models.Queue,
    read_id: str,
    mutate: Mutation,
    action: str,
    goal: str,
    check: Check | None,
    dry_run: bool,
    actor: str | None,
) -> _Plan:
    # A read lacking what the write must carry back (models.CARRIED_BACK) stops here: nothing written.
    current = models.QueueUpdate.from_queue(
        before, include_queue_id=spec_for(kind).queue_id_in_body, request_id=read_id or None
    )
    wanted = mutate(current)
    diff = diff_updates(current, wanted)
    # Judge only what the user asks to change: a stored NotifyConfig that predates today's rules
    # (e.g. Event TransCodingFinish) must not block a pause.
    if check is not None:
        check(wanted, before)
    else:
        models.check_update(wanted, kind=kind, unchanged_from=before)
    return _Plan(kind, queue_id, action, goal, before, current, wanted, diff, [read_id], dry_run, actor)


# -- a batch: read together, written concurrently, verified together ----------------------------


@dataclass(frozen=True)
class Change:
    """One action on one queue of a batch (``notify`` for ``set_callback``)."""

    queue_id: str
    action: str
    notify: models.NotifyConfig | None = None


class BatchChange:
    """Up to 10 queues of one kind in one bucket (CI's queueIds limit), each with one action.

    The same safety as ``change_queue``, at a tenth of the reads: ``read()`` describes the whole
    batch with one request right before the writes; each queue's PUT body is built from what THAT
    read returned (``models.CARRIED_BACK`` and unknown elements carried back), and a queue already
    as wanted costs nothing more. ``write(queue_id)`` PUTs one queue (the caller runs them
    concurrently, so the window between the read and each PUT stays about one round trip).
    ``verify()`` describes every written queue with one request: a field someone else changed in
    between is a ConflictError naming it, a failed verifying read after a landed PUT is an
    UnverifiedWrite. Every queue ends with exactly one outcome in ``outcomes`` (a result or an
    error): a queue missing from the read's answer is QueueNotFound and never written, a failed
    read fails every queue of the batch with nothing written.

    ``client.rate`` (a ``ci.ratelimit.RateLimit``), when set, is asked before the read for room for
    the whole batch (``cost``: the read, every PUT and the verifying read), so the PUTs never wait
    for the bucket's rate after the read (that wait would widen the window) and the verify never
    holds a worker asleep; slots the batch turns out not to need are given back after the read.
    When the limit is below the cost (CI throttled), the slots go to the read and the PUTs first.
    """

    def __init__(
        self,
        client: CIClient,
        kind: str | QueueKind,
        changes: list[Change],
        *,
        deadline: Deadline | None = None,
        actor: str | None = None,
    ) -> None:
        ids = [change.queue_id for change in changes]
        if not changes or len(changes) > MAX_QUEUE_IDS_PER_REQUEST or len(set(ids)) != len(ids):
            raise ValueError(f"a batch is 1 to {MAX_QUEUE_IDS_PER_REQUEST} distinct queues (got {ids})")
        for change in changes:
            if change.action not in ACTIONS:
                raise ValueError(f"action {change.action!r} changes no queue (known: {', '.join(ACTIONS)})")
            if change.action == "set_callback" and change.notify is None:
                raise ValueError("set_callback needs the NotifyConfig to set")
        self.client = client
        self.kind = parse_kind(kind)
        self.changes = {change.queue_id: change for change in changes}
        self.deadline = deadline
        self.actor = actor
        self.outcomes: dict[str, OperationResult | BaseException] = {}
        self._plans: dict[str, _Plan] = {}
        self._written: list[str] = []
        self._slots = 0  # reserved rate slots left for the PUTs
        self._verify_slot = False  # a reserved rate slot kept for the verifying read
        self._held: int | None = None  # slots reserved ahead by ``reserve()``
        self._lock = threading.Lock()

    @property
    def cost(self) -> int:
        """Requests the batch sends at most: its read, a PUT per queue and its verifying read."""
        return len(self.changes) + 2

    def reserve(self) -> float:
        """Without waiting, hold the rate slots ``read()`` needs (``cost``): 0.0 when
        held (or no rate is set), else the seconds until they would fit (a pipeline runs other
        work meanwhile instead of blocking a worker)."""
        rate = self.client.rate
        if rate is None or self._held is not None:
            return 0.0
        held, wait = rate.try_reserve(self.cost)
        if held:
            self._held = held
        return wait

    def read(self) -> list[str]:
        """Describe the batch; the ids to PUT (every other queue has its outcome already)."""
        ids = list(self.changes)
        if self.deadline is not None and self.deadline.expired():
            for queue_id in ids:
                self.outcomes[queue_id] = DeadlineExceeded(
                    f"no time left to {self.changes[queue_id].action} queue {queue_id}"
                )
            return []
        rate = self.client.rate
        try:
            if self._held is not None:
                reserved = self._held
            else:
                reserved = rate.reserve(self.cost, self.deadline) if rate is not None else 0
        except DeadlineExceeded as exc:
            for queue_id in ids:
                self.outcomes[queue_id] = exc
            return []
        try:
            listing = self.client.list_queues(
                self.kind, queue_ids=ids, deadline=self.deadline, reserved=reserved > 0
            )
        except Exception as exc:
            if rate is not None and reserved > 1:
                rate.release(reserved - 1)
            for queue_id in ids:
                self.outcomes[queue_id] = exc
            return []
        read_id = listing.request_ids[-1] if listing.request_ids else ""
        found = {queue.queue_id: queue for queue in listing.queues if queue.queue_id}
        to_write: list[str] = []
        for queue_id, change in self.changes.items():
            queue = found.get(queue_id)
            if queue is None or queue_id in listing.missing:
                self.outcomes[queue_id] = QueueNotFound(queue_id, read_id or None)
                continue
            mutate, action, goal = _mutation_for(change.action, change.notify)
            try:
                plan = _plan(
                    self.kind, queue_id, queue, read_id, mutate, action, goal, None, False, self.actor
                )
            except Exception as exc:  # InvalidInput or a read lacking CARRIED_BACK: nothing written
                self.outcomes[queue_id] = exc
                continue
            if not plan.diff:
                self.outcomes[queue_id] = plan.result(queue, False, f"already {goal}; nothing written")
                continue
            self._plans[queue_id] = plan
            to_write.append(queue_id)
        # The slots left after the read: one per PUT first, then one for the verify (if anything
        # is written); the rest go back to the bucket at once.
        left = max(reserved - 1, 0)
        self._slots = min(left, len(to_write))
        self._verify_slot = bool(to_write) and left > self._slots
        unused = left - self._slots - (1 if self._verify_slot else 0)
        if rate is not None and unused > 0:
            rate.release(unused)
        return to_write

    def write(self, queue_id: str) -> None:
        """PUT one queue read by ``read()``; its failure is its outcome (safe from many threads)."""
        plan = self._plans[queue_id]
        with self._lock:
            reserved = self._slots > 0
            self._slots -= 1 if reserved else 0
        try:
            written = self.client.update_queue(
                self.kind, queue_id, plan.wanted, deadline=self.deadline, reserved=reserved
            )
        except Exception as exc:
            self.outcomes[queue_id] = exc
            return
        plan.request_ids.append(written.request_id or "")
        with self._lock:
            self._written.append(queue_id)

    def verify(self) -> None:
        """Describe every written queue with one request and judge each (see the class)."""
        written = [queue_id for queue_id in self.changes if queue_id in self._written]
        reserved, self._verify_slot = self._verify_slot, False
        if not written:
            if reserved and self.client.rate is not None:
                self.client.rate.release(1)
            return
        try:
            listing = self.client.list_queues(
                self.kind, queue_ids=written, deadline=self.deadline, reserved=reserved
            )
        except Exception as exc:
            for queue_id in written:
                self.outcomes[queue_id] = self._plans[queue_id].unverified(exc)
            return
        verify_id = listing.request_ids[-1] if listing.request_ids else ""
        found = {queue.queue_id: queue for queue in listing.queues if queue.queue_id}
        for queue_id in written:
            plan = self._plans[queue_id]
            queue = found.get(queue_id)
            if queue is None:
                self.outcomes[queue_id] = plan.unverified(QueueNotFound(queue_id, verify_id or None))
                continue
            try:
                self.outcomes[queue_id] = plan.verified(queue, verify_id)
            except ConflictError as exc:
                self.outcomes[queue_id] = exc


def batch_size(pending: int, rate: RateLimit | None, *, after_whole: bool = False) -> tuple[int, int, int]:
    """How many of a bucket's ``pending`` queues its next batch takes now (0: wait for the rate),
    the whole batch's size, and how many free slots of the rate to wait for when it waits.

    A batch of n queues costs n + 2 requests (``BatchChange.cost``), reserved together, and the
    bucket admits ``rate.limit`` of them in any second, so a batch is at most 10 queues (CI's
    queueIds limit) and at most the limit - 2: the whole batch. It goes whenever the bucket has
    room for it (a tick over many buckets comes back to each long after its last batch: always
    whole batches, the fewest requests). Right after a whole batch (``after_whole``), a smaller
    one may follow in the same second if it is at least the last batch of the split that moves the
    most queues through one second (``_smallest_useful``: at 20 a second 10 + 6 = 16 queues, where
    batches of 10 alone move 10, the second never fitting beside the first), while a whole batch
    would still be left after it; after a smaller one the next waits for room for a whole batch
    again, so the split repeats. Without a rate: batches of 10.
    """
    most = MAX_QUEUE_IDS_PER_REQUEST
    if rate is None:
        return min(most, pending), min(most, pending), 0
    limit = max(1, int(rate.limit))
    whole = min(most, max(1, limit - 2), pending)
    # Below 3 a second (a throttled bucket) even a batch of one costs more than the limit: its
    # reservation gets the limit (the read and the PUT first), so that much room is enough.
    need = min(whole + 2, limit)
    room = rate.room()
    if room >= need:
        return whole, whole, need
    if not after_whole:
        return 0, whole, need
    smallest = min(whole, _smallest_useful(limit))
    fits = min(whole, room - 2)
    # Only while a whole batch would still be left after it: splitting a last batch in two
    # would cost a read and a verify more and save no second.
    if smallest < whole and fits >= smallest and pending >= fits + whole:
        return fits, whole, need
    return 0, whole, min(need, smallest + 2)


def _smallest_useful(limit: int) -> int:
    """The last batch of the fewest batches moving the most queues through ``limit`` requests:
    b batches of at most 10 queues move min(10b, limit - 2b)."""
    most = MAX_QUEUE_IDS_PER_REQUEST
    best = max(range(1, limit // 3 + 2), key=lambda b: (min(most * b, limit - 2 * b), -b))
    moved = min(most * best, limit - 2 * best)
    return max(1, moved - most * (best - 1))


def change_queues(
    client: CIClient,
    kind: str | QueueKind,
    changes: list[Change],
    *,
    deadline: Deadline | None = None,
    actor: str | None = None,
) -> dict[str, OperationResult | BaseException]:
    """A ``BatchChange`` run whole: read, every PUT at once (one thread each), verify."""
    batch = BatchChange(client, kind, changes, deadline=deadline, actor=actor)
    to_write = batch.read()
    if len(to_write) == 1:
        batch.write(to_write[0])
    elif to_write:
        with ThreadPoolExecutor(max_workers=len(to_write), thread_name_prefix="ciqueue-put") as pool:
            list(pool.map(batch.write, to_write))
    batch.verify()
    return batch.outcomes


def _callback_mutation(notify: models.NotifyConfig) -> Mutation:
    """set_callback's change: ``notify`` replaces the NotifyConfig, keeping the service's unknown
    children; an Off request keeps the stored settings and turns State Off (nothing when off)."""
    turning_off = notify.effective_state == "Off"

    def mutate(update: models.QueueUpdate) -> models.QueueUpdate:
        current = update.notify_config
        if turning_off:
            if current is not None and current.effective_state == "Off":
                # Already off (an absent State means Off): writing State Off would change nothing.
                return update
            new = notify if current is None else current.model_copy(update={"state": "Off"}, deep=True)
        else:
            # Unknown children (e.g. KafkaConfig) are the service's; keep them under the new settings.
            kept = dict(current.extra) if current is not None else {}
            kept.update(notify.extra)
            new = notify.model_copy(update={"extra": kept}, deep=True)
        return update.model_copy(update={"notify_config": new})

    return mutate


def _callback_goal(notify: models.NotifyConfig) -> str:
    if notify.effective_state == "Off":
        return "callback off"
    return f"callback {describe_callback(notify)}"


def _mutation_for(action: str, notify: models.NotifyConfig | None) -> tuple[Mutation, str, str]:
    """An action's mutation, its operation name and its goal (as the single-queue path words it)."""
    if action in ("pause", "resume"):
        state = "Paused" if action == "pause" else "Active"

        def set_state(update: models.QueueUpdate) -> models.QueueUpdate:
            return update.model_copy(update={"state": state})

        return set_state, action, state
    assert notify is not None
    return _callback_mutation(notify), "set_callback", _callback_goal(notify)


def _set_state(
    client: CIClient,
    kind: str | QueueKind,
    queue_id: str,
    state: str,
    action: str,
    dry_run: bool,
    deadline: Deadline | None,
    actor: str | None,
) -> OperationResult:
    def mutate(update: models.QueueUpdate) -> models.QueueUpdate:
        return update.model_copy(update={"state": state})

    return apply_change(
        client, kind, queue_id, mutate, action, goal=state, dry_run=dry_run, deadline=deadline, actor=actor
    )


# -- comparing queues field by field ------------------------------------------------------------


def writable_fields(item: models.Queue | models.QueueUpdate) -> dict[str, Any]:
    """The fields a PUT writes, flat, by XML path: Name, State, NotifyConfig.*, extras."""
    flat: dict[str, Any] = {}
    for attr, element in _QUEUE_FIELDS:
        flat[element] = _blank_to_none(getattr(item, attr))
    notify = item.notify_config
    if notify is not None:
        for attr, element in _NOTIFY_FIELDS:
            flat[f"NotifyConfig.{element}"] = _blank_to_none(getattr(notify, attr))
        for name, value in _extra_items(notify.extra):
            flat[f"NotifyConfig.{name}"] = _blank_to_none(value)
    for name, value in _extra_items(item.extra):
        if name not in models.READ_ONLY_ELEMENTS:
            flat[name] = _blank_to_none(value)
    return flat


def diff_updates(before: models.QueueUpdate, after: models.QueueUpdate) -> list[FieldChange]:
    """Every writable field whose value differs, in document order."""
    old, new = writable_fields(before), writable_fields(after)
    keys = list(old) + [key for key in new if key not in old]
    return [FieldChange(key, old.get(key), new.get(key)) for key in keys if old.get(key) != new.get(key)]


def verify_written(written: models.QueueUpdate, reread: models.Queue) -> list[FieldChange]:
    """Fields we wrote with a value that the re-read does not show (before=written, after=read).

    Fields we left empty are not judged: the service may fill in documented defaults there.
    """
    wrote, read = writable_fields(written), writable_fields(reread)
    return [
        FieldChange(key, value, read.get(key))
        for key, value in wrote.items()
        if value is not None and read.get(key) != value
    ]


def describe_diff(diff: list[FieldChange]) -> str:
    """``State Active → Paused, NotifyConfig.Url https://a → https://b``."""
    shown = [c.to_dict() for c in diff]  # a callback URL redacted
    return ", ".join(f"{c['field']} {_show(c['before'])} → {_show(c['after'])}" for c in shown)


def describe_callback(notify: models.NotifyConfig | None) -> str:
    """One phrase: ``Url https://… (TaskFinish, JSON)``, ``TDMQ Topic gz/name`` or ``off``."""
    if notify is None or notify.state != "On":
        return "off"
    if notify.type == "TDMQ":
        return f"TDMQ {notify.mq_mode or 'Queue'} {notify.mq_region or '?'}/{notify.mq_name or '?'}"
    details = [notify.event or "no event"]
    if notify.result_format:
        details.append(str(notify.result_format))
    return f"{notify.type or 'Url'} {redact_url(notify.url) if notify.url else '?'} ({', '.join(details)})"


def queue_to_dict(queue: models.Queue) -> dict[str, Any]:
    """A queue as a JSON-ready dict keyed by the XML element names."""
    data: dict[str, Any] = {
        "QueueId": queue.queue_id,
        "Name": queue.name,
        "State": queue.state,
        "NotifyConfig": notify_to_dict(queue.notify_config),
        "MaxSize": queue.max_size,
        "MaxConcurrent": queue.max_concurrent,
        "Category": queue.category,
        "CreateTime": queue.create_time,
        "UpdateTime": queue.update_time,
    }
    if queue.bucket_id is not None:
        data["BucketId"] = queue.bucket_id
    for name, value in _extra_items(queue.extra):
        data.setdefault(name, value)
    return data


def notify_to_dict(notify: models.NotifyConfig | None) -> dict[str, Any] | None:
    if notify is None:
        return None
    data: dict[str, Any] = {element: getattr(notify, attr) for attr, element in _NOTIFY_FIELDS}
    if isinstance(data.get("Url"), str):
        data["Url"] = redact_url(data["Url"])
    for name, value in _extra_items(notify.extra):
        data.setdefault(name, value)
    return data


def _project(before: models.Queue, wanted: models.QueueUpdate) -> models.Queue:
    """The queue as it would read after writing ``wanted``."""
    return before.model_copy(
        update={
            "name": wanted.name,
            "state": wanted.state,
            "notify_config": wanted.notify_config,
            "extra": {**before.extra, **wanted.extra},
        }
    )


def _extra_items(extra: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    return list(extra.items()) if extra else []


def _blank_to_none(value: Any) -> Any:
    # The service writes an empty element (<Url/>) where a field is unset.
    if value == "" or value == {}:
        return None
    return value


def _show(value: Any) -> Any:
    return "(none)" if value is None else value

"""The scheduler tick: observe the queues the config covers, decide, converge, remember.

One pass: list every (bucket, region, kind) the targets cover (bounded thread pool), load the
state (overrides, last applied; read while the listings are in flight, unless the tick may fan out
and so not need it), ``engine.decide``, carry out the decisions that change something
(in batches of up to 10 queues of a bucket: one read right before the writes, the PUTs at once,
one verifying read, ``operations.BatchChange``; ``settings.concurrency`` requests in flight; a
queue's two aspects in two rounds so they never race; every bucket within ``settings.rate_limit``
and patient with throttling, ``ci.ratelimit``), then ONE state update
that records what was carried out and adds the tick's audited changes, failures and expired
overrides to the document's recent history (``state.document.record_changes``). A failed
operation is not remembered as carried out (only its failure joins the history), so the next tick
retries. Running twice at the same instant changes nothing the second time. Every failure becomes an
entry told by ``errors.describe`` (``error_entry``): the tick judges no status or "transient?".

When the covered queues outnumber ``settings.shard_size`` and the runtime has a fan-out (an
invoker and a worker function), the tick instead packs whole (bucket, region) groups into shards
and hands each to the worker function (``handle_shard``), each shard as soon as its buckets are
listed and the count shows the tick fans out, not after the last listing (``_FanOut``); without
one it reconciles them all inline and says so in a warning. A fan-out in this process
(``invoker.LocalInvoker``, built only explicitly) is waited for: the tick returns once every
shard has finished or is reported failed, with the shards' operations, errors and warnings in
its own report.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ciqueue.app.invoker import LocalInvoker
from ciqueue.ci.kinds import QueueKind
from ciqueue.errors import DeadlineExceeded, InvalidInput, describe
from ciqueue.records import dataclass, field
from ciqueue.schedule.engine import (
    NOTIFY_ATTRS,
    Decision,
    LastApplied,
    ObservedQueue,
    QueueKey,
    decide,
    merge_last_applied,
)
from ciqueue.timefmt import parse_instant

if TYPE_CHECKING:
    from ciqueue.app.invoker import Invoker
    from ciqueue.app.runtime import Runtime
    from ciqueue.ci.client import CIClient
    from ciqueue.ci.models import NotifyConfig
    from ciqueue.ci.operations import BatchChange, Change, OperationResult
    from ciqueue.ci.retry import Deadline
    from ciqueue.schedule.config import Config, Target
    from ciqueue.state.document import StateDocument

log = logging.getLogger("ciqueue.reconcile")

Pair = tuple[str, str]  # (bucket, region)
T = TypeVar("T")
SCHEDULER_ACTOR = "scheduler"


@dataclass(frozen=True)
class Scope:
    """One listing: a kind of queue in a bucket; ``queue_ids`` None lists them all."""

    bucket: str
    region: str
    kind: str
    queue_ids: tuple[str, ...] | None


@dataclass
class ReconcileReport:
    """What one tick saw, decided, did and failed to do."""

    now: datetime
    dry_run: bool = False
    shard: list[Pair] | None = None
    observed: int = 0
    decisions: list[Decision] = field(default_factory=list)
    operations: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    shards: list[dict[str, Any]] = field(default_factory=list)
    expired_overrides: list[str] = field(default_factory=list)
    state_written: bool = False
    # The audit records of the changes and failures (redacted), for the state's history.
    audit_lines: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def transient(self) -> bool:
        """True when some error may pass on its own (throttling, 5xx, network, deadline)."""
        return any(error.get("transient") for error in self.errors)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for decision in self.decisions:
            counts[decision.action] = counts.get(decision.action, 0) + 1
        return counts

    def to_dict(self, *, decisions: bool = True) -> dict[str, Any]:
        """JSON-ready; ``decisions=False`` leaves out the unchanged ('none') decisions."""
        shown = [d for d in self.decisions if decisions or d.action != "none"]
        return {
            "ok": self.ok,
            "now": self.now.isoformat(),
            "dry_run": self.dry_run,
            "shard": [list(pair) for pair in self.shard] if self.shard is not None else None,
            "observed": self.observed,
            "counts": self.counts(),
            "decisions": [d.to_dict() for d in shown],
            "operations": list(self.operations),
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "shards": list(self.shards),
            "expired_overrides": list(self.expired_overrides),
            "state_written": self.state_written,
        }


def reconcile(
    runtime: Runtime,
    *,
    now: datetime | None = None,
    deadline: Deadline | None = None,
    shard: Sequence[Pair] | None = None,
    queues: Iterable[QueueKey | str] | None = None,
    dry_run: bool | None = None,
    actor: str = SCHEDULER_ACTOR,
    context: Any = None,
    progress: Callable[[str], None] | None = None,
) -> ReconcileReport:
    """One tick. ``shard``: only these (bucket, region) pairs (a worker; never re-shards).
    ``queues``: only these queues (never shards). ``dry_run`` (default: ``settings.dry_run``):
    decide and report, change nothing. ``progress``: told how far the tick is, as a short text
    (scopes read, queues changed), for a person watching; it changes nothing.
    """
    config = runtime.config
    if config is None:
        raise InvalidInput("config", "no schedule config is loaded (set CIQUEUE_CONFIG to a file)")
    now = now or runtime.clock()
    if now.tzinfo is None or now.utcoffset() is None:
        raise InvalidInput("now", "must carry a UTC offset")
    dry = config.settings.dry_run if dry_run is None else dry_run
    pairs = [(str(b), str(r)) for b, r in shard] if shard is not None else None
    only = {str(q) for q in queues} if queues is not None else None
    report = ReconcileReport(now=now, dry_run=dry, shard=pairs)

    is_covered = _coverage(config)
    scopes = _scopes(config, pairs, only)
    fan_out = None  # a scheduler that can fan out dispatches shards while it still lists
    if pairs is None and only is None and runtime.invoker is not None and runtime.worker_function:
        fan_out = _FanOut(runtime, runtime.invoker, config, scopes, is_covered, now, dry, report)
    # A tick that will not fan out (a worker's shard, named queues, no invoker) needs the state
    # whatever it observes: read it while the listings are in flight instead of after them.
    loading = None if fan_out is not None else _background(runtime.state.load)
    # A tick that changes queues here starts each scope's changes as soon as its listing is
    # decided, while the other scopes are still being listed (``_Streamed``).
    streamed = None
    on_scope = fan_out.listed if fan_out is not None else None
    if loading is not None and not dry:
        streamed = _Streamed(
            runtime, config, now, deadline, actor, context, loading, is_covered, only, progress
        )
        on_scope = streamed.listed
    try:
        observed = _observe(runtime, config, scopes, deadline, report, progress, on_scope)
    finally:
        if streamed is not None:
            streamed.close()  # on an error, the changes already started end before it is raised
    if only is not None:
        observed = [q for q in observed if q.key.text in only]
    covered = [q for q in observed if is_covered(q)]
    report.observed = len(covered)

    if fan_out is not None and fan_out.started:
        fan_out.finish(deadline)
        return report
    if pairs is None and only is None and len(covered) > config.settings.shard_size:
        report.warnings.append(
            f"{len(covered)} queues exceed shard_size {config.settings.shard_size} but no fan-out "
            "is configured (CIQUEUE_INVOKER=scf and CIQUEUE_WORKER_FUNCTION); reconciling them all here"
        )

    if fan_out is not None:
        fan_out.close()
    doc, _ = loading.result() if loading is not None else runtime.state.load()
    overrides = doc.engine_overrides()
    report.expired_overrides = [o.id for o in overrides if not o.active_at(now)]
    if streamed is not None:
        # Decided scope by scope as listed: the same decisions (each queue's are its own), put in
        # the order deciding them all at once gives (by queue, state before callback).
        report.decisions = sorted(streamed.decisions, key=lambda d: d.key)
    else:
        last_applied = doc.engine_last_applied(q.key.text for q in covered)  # the shard's, not the fleet's
        report.decisions = decide(config, now, covered, overrides, last_applied)

    carried: dict[QueueKey, list[Decision]] = {}
    for decision in report.decisions:
        if decision.action == "skip":
            _audit_skip(decision, actor, context)
        elif decision.action == "none":
            carried.setdefault(decision.key, []).append(decision)
    if not dry:
        for key, done in _apply(runtime, report, deadline, actor, context, progress, streamed).items():
            carried.setdefault(key, []).extend(done)
        _remember(runtime, doc, carried, now, report)
    return report


def _background(task: Callable[[], T]) -> Future[T]:
    """``task`` started on a thread of its own; its result (or its exception) from ``result()``."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(task())
        except BaseException as exc:  # handed to the caller, raised where it asks for the result
            future.set_exception(exc)

    threading.Thread(target=run, name="ciqueue-state-load", daemon=True).start()
    return future


def handle_shard(event: Any, runtime: Runtime, *, context: Any = None) -> dict[str, Any]:
    """The worker's work: ``{"shard": [[bucket, region], ...], "now": iso, "dry_run": bool}``.

    The shard is decided at the scheduler's ``now``, or at the worker's own clock when that is
    later: SCF may deliver a failed invocation again minutes or hours later, and deciding at the
    old instant would undo what the schedule has done since (re-pause after a window closed).
    """
    from ciqueue.app.runtime import actor_from_context, deadline_from_context

    pairs, now, dry_run = parse_shard_event(event)
    if now is not None:
        now = max(now, runtime.clock())
    report = reconcile(
        runtime,
        now=now,
        shard=pairs,
        dry_run=dry_run,
        deadline=deadline_from_context(context),
        actor=actor_from_context(context, "worker"),
        context=context,
    )
    return report.to_dict(decisions=False)


def parse_shard_event(event: Any) -> tuple[list[Pair], datetime | None, bool | None]:
    """Judge a worker payload; InvalidInput naming the field otherwise."""
    import json

    if isinstance(event, (str, bytes)):  # a payload JSON-encoded once too often still works
        try:
            event = json.loads(event)
        except ValueError:
            raise InvalidInput("event", "must be a JSON object with shard") from None
    if not isinstance(event, Mapping):
        raise InvalidInput("event", "must be an object with shard: [[bucket, region], ...]")
    raw = event.get("shard")
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("shard", "must be a non-empty list of [bucket, region] pairs")
    pairs: list[Pair] = []
    for index, item in enumerate(raw):
        if isinstance(item, Mapping):
            item = [item.get("bucket"), item.get("region")]
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(p, str) and p for p in item)):
            raise InvalidInput(f"shard[{index}]", "must be a [bucket, region] pair of strings")
        pairs.append((item[0], item[1]))
    now = None
    if event.get("now") is not None:
        text = event["now"]
        try:
            now = parse_instant(str(text))
        except ValueError:
            now = None
        if now is None or now.tzinfo is None:
            raise InvalidInput("now", f"must be an ISO time with a UTC offset (got {str(text)[:40]!r})")
    dry_run = event.get("dry_run")
    if dry_run is not None and not isinstance(dry_run, bool):
        raise InvalidInput("dry_run", "must be true or false")
    return pairs, now, dry_run


def error_entry(exc: BaseException, **where: Any) -> dict[str, Any]:
    """An error as a report entry: ``errors.describe``'s code, message and fields, plus its
    ``status`` and ``transient``, plus where it happened (``stage``, ``scope``, ``queue``...)."""
    report = describe(exc)
    if not report.expected:
        log.error("unhandled %s in the tick", type(exc).__name__, exc_info=exc)
    return {**report.to_dict(), "status": report.status, "transient": report.transient, **where}


class ShardPacker:
    """Whole (bucket, region) groups packed into shards of at most ``shard_size`` queues as they
    are listed, so that the first shards go out while the scheduler still lists the rest.

    ``add(pair, size)`` places a group first-fit into the open shards (a group of ``shard_size``
    or more is a shard of its own) and returns the shards it closed: a shard closes when it is
    full or, ``eager``, when its room is smaller than every group seen so far (no group of a size
    seen would fit; a smaller one coming later then starts a shard of its own: the price of not
    waiting for the whole listing). ``rest()`` closes every open shard."""

    def __init__(self, shard_size: int, *, eager: bool = True) -> None:
        self.shard_size = shard_size
        self.eager = eager
        self._open: list[tuple[list[Pair], int]] = []
        self._smallest: int | None = None  # the smallest group seen (eager)

    def add(self, pair: Pair, size: int) -> list[list[Pair]]:
        if self.eager:
            self._smallest = size if self._smallest is None else min(self._smallest, size)
        least = max(1, self._smallest or 1)  # a shard with less room than this closes
        if size >= self.shard_size:
            return [[pair]]
        for index, (members, load) in enumerate(self._open):
            if load + size <= self.shard_size:
                members.append(pair)
                self._open[index] = (members, load + size)
                break
        else:
            self._open.append(([pair], size))
        closed = [m for m, load in self._open if self.shard_size - load < least]
        self._open = [(m, load) for m, load in self._open if self.shard_size - load >= least]
        return closed

    def rest(self) -> list[list[Pair]]:
        closed = [members for members, _ in self._open]
        self._open = []
        return closed


def pack_shards(sizes: Mapping[Pair, int], shard_size: int) -> list[list[Pair]]:
    """Whole (bucket, region) groups packed first-fit, largest first, into shards of <= shard_size
    queues (``ShardPacker``, closing only full shards); a group larger than shard_size is a shard
    of its own."""
    packer = ShardPacker(shard_size, eager=False)
    shards: list[list[Pair]] = []
    for pair, size in sorted(sizes.items(), key=lambda item: (-item[1], item[0])):
        shards.extend(packer.add(pair, size))
    return shards + packer.rest()


# --- observe --------------------------------------------------------------------------------------


def _scopes(config: Config, pairs: Sequence[Pair] | None, only: set[str] | None) -> list[Scope]:
    wanted_pairs = set(pairs) if pairs is not None else None
    wanted = None
    if only is not None:
        keys = [QueueKey.from_text(text) for text in only]
        wanted = {(k.bucket, k.region, k.kind) for k in keys}
    grouped: dict[tuple[str, str, str], list[str] | None] = {}
    for target in config.targets.values():
        triple = (target.bucket, target.region, target.kind)
        if wanted_pairs is not None and triple[:2] not in wanted_pairs:
            continue
        if wanted is not None and triple not in wanted:
            continue
        if target.queue_ids is None or (triple in grouped and grouped[triple] is None):
            grouped[triple] = None  # a name pattern: list them all
        else:
            ids = grouped.setdefault(triple, [])
            assert ids is not None
            ids.extend(i for i in target.queue_ids if i not in ids)
    return [Scope(b, r, k, tuple(ids) if ids is not None else None) for (b, r, k), ids in grouped.items()]


def _observe(
    runtime: Runtime,
    config: Config,
    scopes: list[Scope],
    deadline: Deadline | None,
    report: ReconcileReport,
    progress: Callable[[str], None] | None = None,
    on_scope: Callable[[Scope, list[ObservedQueue]], None] | None = None,
) -> list[ObservedQueue]:
    """Every scope's queues, listed ``settings.concurrency`` at a time; ``on_scope`` is told each
    scope's queues (none when its listing failed) as soon as it and the scopes before it are read."""

    def read(scope: Scope) -> list[ObservedQueue]:
        client = _tick_client(runtime, scope.bucket, scope.region)
        category = "CateAll" if scope.kind == QueueKind.MEDIA.value and scope.queue_ids is None else None
        listing = client.list_queues(
            scope.kind, queue_ids=scope.queue_ids, deadline=deadline, category=category
        )
        for missing in listing.missing:
            where = f"{scope.bucket}/{scope.region}/{scope.kind}/{missing}"
            report.warnings.append(f"queue {where} named in the config does not exist")
        return [
            ObservedQueue(
                scope.bucket, scope.region, scope.kind, q.queue_id or "", q.name, q.state, q.notify_config
            )
            for q in listing.queues
            if q.queue_id
        ]

    observed: list[ObservedQueue] = []
    if not scopes:
        return observed
    with ThreadPoolExecutor(max_workers=min(config.settings.concurrency, len(scopes))) as pool:
        futures = [(scope, pool.submit(read, scope)) for scope in scopes]
        for done, (scope, future) in enumerate(futures, 1):
            queues: list[ObservedQueue] = []
            try:
                queues = future.result()
            except Exception as exc:  # one bucket's failure must not stop the others
                where = f"{scope.bucket}/{scope.region}/{scope.kind}"
                report.errors.append(error_entry(exc, stage="observe", scope=where))
                log.warning("observing %s/%s/%s failed: %s", scope.bucket, scope.region, scope.kind, exc)
            observed.extend(queues)
            if on_scope is not None:
                on_scope(scope, queues)
            if progress is not None:
                progress(f"read {done}/{len(scopes)} scopes, {len(observed)} queues")
    return observed


def observe(
    runtime: Runtime, *, deadline: Deadline | None = None
) -> tuple[list[ObservedQueue], ReconcileReport]:
    """Read every queue the config's targets cover (as a tick would), without deciding anything.

    The report carries what could not be read (``errors``) and ids the config names that do not
    exist (``warnings``).
    """
    config = runtime.config
    if config is None:
        raise InvalidInput("config", "no schedule config is loaded (set CIQUEUE_CONFIG to a file)")
    report = ReconcileReport(now=runtime.clock(), dry_run=True)
    observed = _observe(runtime, config, _scopes(config, None, None), deadline, report)
    is_covered = _coverage(config)
    return [q for q in observed if is_covered(q)], report


def _coverage(config: Config) -> Callable[[ObservedQueue], bool]:
    """Whether a queue belongs to some target (``Target.matches``, the rule ``match_targets``
    applies), with the targets indexed once by (bucket, region, kind): a queue is matched only
    against its own bucket's targets, so 10,000 queues under 200 targets cost 10,000 matches,
    not 2,000,000 (measured: 12 s of a loaded tick's listing phase before)."""
    by_scope: dict[tuple[str, str, str], list[Target]] = {}
    for target in config.targets.values():
        by_scope.setdefault((target.bucket, target.region, target.kind), []).append(target)

    def covered(queue: ObservedQueue) -> bool:
        kind = queue.key.kind
        candidates = by_scope.get((queue.bucket, queue.region, kind), ())
        return any(
            t.matches(queue.bucket, queue.region, kind, queue.queue_id, queue.name) for t in candidates
        )

    return covered


# --- fan out --------------------------------------------------------------------------------------


class _FanOut:
    """A tick's shards, dispatched while its listings are still being read.

    ``listed`` is told each scope's queues in scope order (``_observe``). A (bucket, region) is
    complete once all its scopes are listed (a failed listing counts: the worker lists the bucket
    again itself). Until the covered queues outnumber ``settings.shard_size`` the tick may still
    reconcile inline, so complete groups wait; from then on (``started``) they go, the waiting ones
    largest first, through a ``ShardPacker``, and each shard it closes is dispatched at once,
    ``settings.concurrency`` Invokes in flight (each waits for its answer: sent one after the
    other, the last of 50 shards would start 50 answers late). ``finish`` dispatches the rest,
    lists the shards in the report in the order they were packed whatever order the answers came
    in, and waits for shards run in this process (``LocalInvoker``)."""

    def __init__(
        self,
        runtime: Runtime,
        invoker: Invoker,
        config: Config,
        scopes: Sequence[Scope],
        is_covered: Callable[[ObservedQueue], bool],
        now: datetime,
        dry_run: bool,
        report: ReconcileReport,
    ) -> None:
        self.invoker, self.function = invoker, runtime.worker_function or ""
        self.shard_size, self.concurrency = config.settings.shard_size, config.settings.concurrency
        self.is_covered, self.now, self.dry_run, self.report = is_covered, now, dry_run, report
        self.scopes_left: dict[Pair, int] = {}
        for scope in scopes:
            pair = (scope.bucket, scope.region)
            self.scopes_left[pair] = self.scopes_left.get(pair, 0) + 1
        self.sizes: dict[Pair, int] = {}
        self.waiting: list[Pair] = []
        self.total = 0
        self.started = False
        self.packer = ShardPacker(self.shard_size)
        self.pool: ThreadPoolExecutor | None = None
        self.sent: list[Future[dict[str, Any]]] = []

    def listed(self, scope: Scope, queues: list[ObservedQueue]) -> None:
        pair = (scope.bucket, scope.region)
        count = sum(1 for q in queues if self.is_covered(q))
        self.sizes[pair] = self.sizes.get(pair, 0) + count
        self.total += count
        self.scopes_left[pair] -= 1
        if self.scopes_left[pair] == 0 and self.sizes[pair] > 0:
            self.waiting.append(pair)
        if not self.started and self.total > self.shard_size:
            self.started = True
            self.waiting.sort(key=lambda p: (-self.sizes[p], p))
        if self.started:
            for waiting in self.waiting:
                for shard in self.packer.add(waiting, self.sizes[waiting]):
                    self._send(shard)
            self.waiting = []

    def _send(self, pairs: list[Pair]) -> None:
        if self.pool is None:
            self.pool = ThreadPoolExecutor(
                max_workers=max(1, self.concurrency), thread_name_prefix="ciqueue-dispatch"
            )
        self.sent.append(self.pool.submit(self._invoke, pairs))

    def _invoke(self, pairs: list[Pair]) -> dict[str, Any]:
        shard = [list(p) for p in pairs]
        payload = {"shard": shard, "now": self.now.isoformat(), "dry_run": self.dry_run}
        entry: dict[str, Any] = {
            "function": self.function,
            "shard": [list(p) for p in pairs],
            "queues": sum(self.sizes[p] for p in pairs),
        }
        try:
            entry["invocation"] = self.invoker.invoke_async(self.function, payload)
        except Exception as exc:
            error = error_entry(exc, stage="dispatch", shard=entry["shard"])
            self.report.errors.append(error)
            entry["error"] = error["code"]
        return entry

    def finish(self, deadline: Deadline | None) -> None:
        for shard in self.packer.rest():
            self._send(shard)
        self.report.shards.extend(future.result() for future in self.sent)
        self.close()
        if isinstance(self.invoker, LocalInvoker):
            _finish_local_shards(self.invoker, self.report, deadline)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)


def _finish_local_shards(invoker: LocalInvoker, report: ReconcileReport, deadline: Deadline | None) -> None:
    """Wait for every shard started in this process and fold its outcome into the tick's report:
    its ``result`` (ok, observed, counts) on the shard entry, its operations, errors (each naming
    the shard) and warnings in the tick's lists; a shard that raised or did not finish by the
    deadline is an error of stage ``shard``. Nothing is left running unseen when the tick returns."""
    for entry in report.shards:
        invocation = entry.get("invocation")
        if "error" in entry or not invocation:
            continue
        shard = entry["shard"]
        try:
            timeout = deadline.remaining() if deadline is not None else None
            try:
                result = invoker.finish(str(invocation), timeout)
            except TimeoutError:
                raise DeadlineExceeded(f"shard {invocation} did not finish by the tick's deadline") from None
        except Exception as exc:
            error = error_entry(exc, stage="shard", shard=shard)
            report.errors.append(error)
            entry["error"] = error["code"]
            continue
        if not isinstance(result, Mapping):
            continue
        entry["result"] = {
            "ok": bool(result.get("ok")),
            "observed": result.get("observed"),
            "counts": dict(result.get("counts") or {}),
            "state_written": result.get("state_written"),
        }
        report.operations.extend(result.get("operations") or [])
        report.errors.extend({**error, "shard": shard} for error in result.get("errors") or [])
        report.warnings.extend(result.get("warnings") or [])


# --- apply ----------------------------------------------------------------------------------------


class _Streamed:
    """Decides each scope as its listing comes in and starts the scope's first change of each
    queue at once (a ``_Batched`` round running while the other scopes are listed); ``close``
    waits for them. Only a tick that changes queues itself uses it (not a dry run, not a scheduler
    that may fan out); later rounds (a queue's second change) run after the listing, in ``_apply``.
    """

    def __init__(
        self,
        runtime: Runtime,
        config: Config,
        now: datetime,
        deadline: Deadline | None,
        actor: str,
        context: Any,
        loading: Future[Any],
        is_covered: Callable[[ObservedQueue], bool],
        only: set[str] | None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.runtime, self.config, self.now, self.deadline = runtime, config, now, deadline
        self.progress = progress
        self.actor, self.context, self.loading = actor, context, loading
        self.is_covered, self.only = is_covered, only
        self.decisions: list[Decision] = []
        self.outcomes: list[tuple[Decision, Any]] = []
        self.accounted: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._started: set[QueueKey] = set()
        self._round: _Batched | None = None
        self._overrides: list[Any] | None = None
        self._memo: dict[tuple[str, ...], Any] = {}  # the windows' answers, shared by every scope

    def listed(self, scope: Scope, queues: list[ObservedQueue]) -> None:
        doc, _ = self.loading.result()
        if self._overrides is None:
            self._overrides = doc.engine_overrides()
        mine = [q for q in queues if (self.only is None or q.key.text in self.only) and self.is_covered(q)]
        if not mine:
            return
        last_applied = doc.engine_last_applied(q.key.text for q in mine)
        decided = decide(self.config, self.now, mine, self._overrides, last_applied, memo=self._memo)
        self.decisions.extend(decided)
        first = []
        for decision in decided:
            if decision.changes and decision.key not in self._started:
                self._started.add(decision.key)
                first.append(decision)
        if not first:
            return
        if self._round is None:
            actor, context, accounted = self.actor, self.context, self.accounted
            self._round = _Batched(
                self.runtime,
                self.deadline,
                actor,
                lambda d, o: _account(d, o, actor, context, accounted),
                workers=self.runtime.concurrency,
            )
            self._round.stream()
        self._round.add(first)
        if self.progress is not None:
            self.progress(f"changing {len(self._started)} queues while listing")

    def close(self) -> None:
        if self._round is not None:
            self.outcomes = self._round.finish()
            self._round = None


def _apply(
    runtime: Runtime,
    report: ReconcileReport,
    deadline: Deadline | None,
    actor: str,
    context: Any,
    progress: Callable[[str], None] | None = None,
    streamed: _Streamed | None = None,
) -> dict[QueueKey, list[Decision]]:
    """Carry out the changing decisions in batches (``_carry_out_batched``); returns those that
    succeeded. A queue with two changing decisions (its state and its callback) has them carried
    out one after the other: round k holds every queue's k-th decision, so two writes of one
    queue never race and each starts from a fresh read.

    Each outcome is audited (its line emitted) as soon as its batch is done, on the worker that
    finished it, while other batches wait on CI: the lines go out in the order the changes
    finished, and the report lists them (and its operations and errors) in decision order."""
    per_queue: dict[QueueKey, list[Decision]] = {}
    for decision in report.decisions:
        if decision.changes:
            per_queue.setdefault(decision.key, []).append(decision)
    done: dict[QueueKey, list[Decision]] = {}
    if not per_queue:
        return done
    outcome_of: dict[int, Any] = {}
    # id(decision): (entry, line), filled as batches finish (those started while listing too)
    accounted = streamed.accounted if streamed is not None else {}
    if streamed is not None:
        outcome_of.update((id(d), o) for d, o in streamed.outcomes)
    total = sum(len(decisions) for decisions in per_queue.values())
    for round_number in range(max(len(decisions) for decisions in per_queue.values())):
        wave = [decisions[round_number] for decisions in per_queue.values() if len(decisions) > round_number]
        wave = [d for d in wave if id(d) not in outcome_of]  # round 0 may have run while listing
        if not wave:
            continue
        if progress is not None:
            progress(f"changing {len(wave)} queues ({len(outcome_of)}/{total} changes done)")
        for decision, outcome in _carry_out_batched(
            runtime, wave, deadline, actor, on_outcome=lambda d, o: _account(d, o, actor, context, accounted)
        ):
            outcome_of[id(decision)] = outcome
    if progress is not None:
        progress(f"{total}/{total} changes done")
    for decisions in per_queue.values():
        for decision in decisions:
            outcome = outcome_of[id(decision)]
            entry, line = accounted.get(id(decision)) or _account(decision, outcome, actor, context)
            report.audit_lines.append(line)
            if isinstance(outcome, BaseException):
                report.errors.append(entry)
                continue
            report.operations.append(entry)
            done.setdefault(decision.key, []).append(decision)
    return done


def _account(
    decision: Decision,
    outcome: Any,
    actor: str,
    context: Any,
    into: dict[int, tuple[dict[str, Any], dict[str, Any]]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report entry (an operation, or an error) of one outcome and its audit line, emitted now;
    kept in ``into`` under the decision's id when given."""
    from ciqueue.app.audit import audit_failure, audit_operation

    key = decision.key
    if isinstance(outcome, BaseException):
        # An UnverifiedWrite's entry carries written/verified/diff (errors.describe); it is not
        # remembered as carried out, so the next tick reads the queue again.
        entry = error_entry(outcome, stage="apply", queue=key.text, action=decision.action)
        line = audit_failure(
            outcome,
            actor=actor,
            queue=key.text,
            action=decision.action,
            reason=decision.reason,
            context=context,
        )
    else:
        result: OperationResult = outcome
        entry = {
            "queue": key.text,
            "action": decision.action,
            "changed": result.changed,
            "reason": decision.reason,
            "diff": [change.to_dict() for change in result.diff],
            "request_ids": [i for i in result.request_ids if i],
        }
        line = audit_operation(
            result,
            actor,
            decision.reason,
            context,
            bucket=key.bucket,
            region=key.region,
            source=decision.source,
            source_type=decision.source_type,
        )
    if into is not None:
        into[id(decision)] = (entry, line)
    return entry, line


def _carry_out_batched(
    runtime: Runtime,
    decisions: list[Decision],
    deadline: Deadline | None,
    actor: str,
    on_outcome: Callable[[Decision, Any], object] | None = None,
) -> list[tuple[Decision, Any]]:
    """At most one decision per queue; each with its outcome (an OperationResult or the error).
    ``on_outcome`` is told each batch's outcomes on the worker that finished the batch.

    Queues of one (bucket, region, kind) go in batches of up to 10 (``operations.BatchChange``:
    one read right before the writes, the PUTs concurrently, one verifying read), each batch cut
    when it starts by what the bucket's rate has room for (``operations.batch_size``: its
    requests reserved together, so a batch never waits for the rate between its read and its
    writes, nor a worker for its verify). The buckets take turns, and ``_Pipeline`` runs
    ``settings.concurrency`` requests at a time, a batch's verify before its PUTs before new reads:
    a read's PUTs go out as soon as it is answered.
    """
    run = _Batched(
        runtime, deadline, actor, on_outcome, workers=min(runtime.concurrency, max(1, len(decisions)))
    )
    run.add(decisions)
    run.pipeline.run()
    return run.collect()


class _Batched:
    """One round of changes carried out in batches (``_carry_out_batched``), to which changes may
    also be added while it runs (``stream``, ``add``, ``finish``): a tick starts a bucket's changes
    as soon as its listing is decided, while the other buckets are still being listed."""

    def __init__(
        self,
        runtime: Runtime,
        deadline: Deadline | None,
        actor: str,
        on_outcome: Callable[[Decision, Any], object] | None = None,
        *,
        workers: int,
    ) -> None:
        self.runtime, self.deadline, self.actor, self.on_outcome = runtime, deadline, actor, on_outcome
        self.pipeline = _Pipeline(workers, on_done=self._finished)
        self.outcomes: list[tuple[Decision, Any]] = []  # those no batch gives (client or Change failed)
        self.streaming = False

    def _finished(self, batch: BatchChange, members: list[Decision]) -> None:
        if self.on_outcome is not None:
            for decision, outcome in _outcomes(batch, members):
                self.on_outcome(decision, outcome)

    def add(self, decisions: list[Decision]) -> None:
        """Queue ``decisions`` (at most one per queue), grouped by (bucket, region, kind)."""
        from ciqueue.ci.operations import Change

        groups: dict[tuple[str, str, str], list[Decision]] = {}
        for decision in decisions:
            key = decision.key
            groups.setdefault((key.bucket, key.region, key.kind), []).append(decision)
        for (bucket, region, kind), members in groups.items():
            try:
                client = _tick_client(self.runtime, bucket, region)
            except Exception as exc:  # e.g. a client that cannot be built: every queue says so
                self.outcomes.extend((d, exc) for d in members)
                continue
            pending: list[tuple[Decision, Change]] = []
            for decision in members:
                try:
                    pending.append(
                        (decision, Change(decision.key.queue_id, decision.action, _notify_for(decision)))
                    )
                except Exception as exc:  # its callback cannot be built: this queue says so
                    self.outcomes.append((decision, exc))
            if pending:
                self.pipeline.add_group(_Group(client, kind, pending, self.deadline, self.actor))

    def stream(self) -> None:
        """Start the workers now; they wait for what ``add`` brings until ``finish``."""
        self.streaming = True
        self.pipeline.hold()
        self.pipeline.start()

    def finish(self) -> list[tuple[Decision, Any]]:
        """Wait for everything added (after ``stream``); every decision with its outcome."""
        if self.streaming:
            self.streaming = False
            self.pipeline.release()
            self.pipeline.join()
        return self.collect()

    def collect(self) -> list[tuple[Decision, Any]]:
        found = list(self.outcomes)
        found.extend(self.pipeline.failed)
        for batch, members in self.pipeline.batches:
            found.extend(_outcomes(batch, members))
        return found


def _outcomes(batch: BatchChange, members: list[Decision]) -> list[tuple[Decision, Any]]:
    """Each member's outcome in ``batch`` (a RuntimeError when a bug left it without one)."""
    found = []
    for decision in members:
        outcome = batch.outcomes.get(decision.key.queue_id)
        if outcome is None:  # a bug left it without one: said, never silent
            outcome = RuntimeError(f"no outcome for queue {decision.key.text}")
        found.append((decision, outcome))
    return found


def _tick_client(runtime: Runtime, bucket: str, region: str) -> CIClient:
    """The bucket's client, patient with throttling: each request waits out up to
    ``ratelimit.TICK_PATIENCE`` throttled answers at the bucket's slowed rate (every worker on
    the bucket waits with it) before failing (see ``ci.ratelimit``)."""
    from ciqueue.ci.ratelimit import TICK_PATIENCE

    client = runtime.client_for(bucket, region)
    if client.rate is not None:
        client.rate.patience = max(client.rate.patience, TICK_PATIENCE)
    return client


@dataclass
class _Group:
    """One (bucket, region, kind)'s changes not yet in a batch, in order."""

    client: CIClient
    kind: str
    pending: list[tuple[Decision, Change]]
    deadline: Deadline | None
    actor: str
    after_whole: bool = False  # its last batch was a whole one (``operations.batch_size``)


class _Pipeline:
    """``workers`` threads, each sending one request at a time, over every bucket's batches.

    Every step is one task: a batch's read (then its PUTs are queued), each PUT (the last one
    queues the verify), the verify. Verifies and PUTs run first (in the order queued); a read
    starts only while the PUTs queued or expected from reads in flight are fewer than twice the
    workers, so a read's PUTs start within about two round trips of its answer (the window in
    which someone else's change could be overwritten), and no worker waits on another task (no
    deadlock). The buckets take turns: a read takes the next batch of the bucket whose turn it is,
    cut by what its rate has room for (``operations.batch_size``; a smaller batch only when no
    other bucket's read is ready, so splitting never costs requests where the workers have other
    work); a bucket at its rate waits aside (until the batch fits) while the workers run other
    buckets' work. A step that fails
    unexpectedly gives every queue of its batch without an outcome that error.
    """

    def __init__(
        self, workers: int, on_done: Callable[[BatchChange, list[Decision]], None] | None = None
    ) -> None:
        self.workers = workers
        self.on_done = on_done  # told each batch once it is done (verified, or nothing to write)
        self.batches: list[tuple[BatchChange, list[Decision]]] = []
        self._members: dict[int, list[Decision]] = {}
        self._threads: list[threading.Thread] = []
        self.failed: list[tuple[Decision, BaseException]] = []  # a batch that could not be built
        self._steps: list[tuple[int, int, Callable[[], None]]] = []
        # (ready at, turn, a bucket's changes or a batch waiting for its rate)
        self._reads: list[tuple[float, int, _Group | BatchChange]] = []
        self._groups = 0
        self._sequence = itertools.count()
        self._open = 0
        self._backlog = 0  # PUTs queued or expected from reads in flight, not started
        self._cond = threading.Condition()

    def add_group(self, group: _Group) -> None:
        with self._cond:
            self._reads.append((0.0, self._groups, group))
            self._groups += 1
            self._open += 1
            self._cond.notify()

    def run(self) -> None:
        self.start()
        self.join()

    def start(self) -> None:
        """Start the workers (none when there is nothing to do and nothing held open)."""
        if self._open == 0:
            return
        self._threads = [
            threading.Thread(target=self._work, name=f"ciqueue-apply-{n}", daemon=True)
            for n in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join()

    def hold(self) -> None:
        """Keep the workers waiting for groups still to come (``add_group``) until ``release``."""
        with self._cond:
            self._open += 1

    def release(self) -> None:
        with self._cond:
            self._open -= 1
            self._cond.notify_all()

    def _step(self, priority: int, task: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._steps, (priority, next(self._sequence), task))
            self._open += 1
            self._cond.notify()

    def _aside(self, ready_at: float, turn: int, item: _Group | BatchChange, expected: int) -> None:
        """Put a bucket's changes or a batch back among the reads (its expected PUTs with it)."""
        with self._cond:
            self._backlog -= expected
            self._reads.append((ready_at, turn, item))
            self._open += 1
            self._cond.notify()

    def _next(self) -> Callable[[], None] | None:
        from ciqueue.limits import MAX_QUEUE_IDS_PER_REQUEST

        with self._cond:
            while True:
                if self._steps:
                    return heapq.heappop(self._steps)[2]
                if self._open == 0:
                    return None
                now = time.monotonic()
                timeout: float | None = None
                if self._reads and self._backlog < 2 * self.workers:
                    entry = min(self._reads, key=lambda item: (item[0] > now, item[1]))
                    ready_at, turn, item = entry
                    if ready_at <= now:
                        self._reads.remove(entry)
                        if isinstance(item, _Group):
                            expected = min(MAX_QUEUE_IDS_PER_REQUEST, len(item.pending))
                        else:
                            expected = len(item.changes)
                        self._backlog += expected
                        # A bucket at its rate splits a batch only when no other bucket's read
                        # is ready: otherwise its turn passes to work that needs no waiting.
                        alone = not any(other[0] <= now for other in self._reads)
                        return functools.partial(self._read, item, turn, expected, alone)
                    timeout = min(item[0] for item in self._reads) - now
                self._cond.wait(timeout)

    def _work(self) -> None:
        while True:
            task = self._next()
            if task is None:
                return
            try:
                task()
            finally:
                with self._cond:
                    self._open -= 1
                    self._cond.notify_all()

    def _cut(self, group: _Group, turn: int, expected: int, alone: bool) -> BatchChange | None:
        """The group's next batch, sized by its bucket's rate now (the rest back in the turns);
        None when it waits aside for the rate or could not be built."""
        from ciqueue.ci.operations import BatchChange, batch_size

        rate = group.client.rate
        size, whole, slots = batch_size(len(group.pending), rate, after_whole=group.after_whole and alone)
        deadline = group.deadline
        if size == 0:
            wait = rate.wait_for(slots) if rate is not None else 0.0
            if wait > 0 and (deadline is None or wait < deadline.remaining()):
                self._aside(time.monotonic() + wait, turn, group, expected)
                return None
            size = whole  # the wait outlasts the deadline (read() then says so), or room came
        group.after_whole = size == whole
        taken = group.pending[:size]
        del group.pending[:size]
        members = [decision for decision, _ in taken]
        try:
            batch = BatchChange(
                group.client,
                group.kind,
                [change for _, change in taken],
                deadline=deadline,
                actor=group.actor,
            )
            batch.reserve()  # before the bucket's next batch is sized by what is left
        except Exception as exc:  # a bug: said for each queue, never silent
            log.error("batch could not be built", exc_info=exc)
            batch = None
            with self._cond:
                self.failed.extend((decision, exc) for decision in members)
        with self._cond:
            self._backlog += (size if batch is not None else 0) - expected
            if batch is not None:
                self.batches.append((batch, members))
                self._members[id(batch)] = members
        if group.pending:  # its next batch after the other buckets' turns
            self._aside(0.0, turn + self._groups, group, 0)
        return batch

    def _read(self, item: _Group | BatchChange, turn: int, expected: int, alone: bool) -> None:
        if isinstance(item, _Group):
            batch = self._cut(item, turn, expected, alone)
            if batch is None:
                return
            expected = len(batch.changes)
        else:
            batch = item
        try:
            # A bucket at its rate: run other buckets' work and come back, rather than block a
            # worker (unless the wait outlasts the deadline: read() then says so for the batch).
            wait = batch.reserve()
            deadline = batch.deadline
            if wait > 0 and (deadline is None or wait < deadline.remaining()):
                self._aside(time.monotonic() + wait, turn, batch, expected)
                return
            to_write = batch.read()
        except Exception as exc:
            to_write = []
            _fail_rest(batch, exc)
        with self._cond:
            self._backlog -= expected - len(to_write)
        if not to_write:  # nothing to write (or the read failed): the batch is done
            self._done(batch)
            return
        left = [len(to_write)]

        def put(queue_id: str) -> None:
            with self._cond:
                self._backlog -= 1
            try:
                batch.write(queue_id)
            except Exception as exc:
                batch.outcomes.setdefault(queue_id, exc)
            with self._cond:
                left[0] -= 1
                last = left[0] == 0
            if last:
                self._step(0, lambda: self._verify(batch))

        for queue_id in to_write:
            self._step(1, functools.partial(put, queue_id))

    def _verify(self, batch: BatchChange) -> None:
        try:
            batch.verify()
        except Exception as exc:
            _fail_rest(batch, exc)
        self._done(batch)

    def _done(self, batch: BatchChange) -> None:
        members = self._members.get(id(batch))
        if self.on_done is None or members is None:
            return
        try:
            self.on_done(batch, members)
        except Exception as exc:  # a bug in the caller's accounting: said, the batch stays done
            log.error("accounting for a finished batch failed", exc_info=exc)


def _fail_rest(batch: BatchChange, exc: BaseException) -> None:
    log.error("batch step failed unexpectedly", exc_info=exc)
    for queue_id in batch.changes:
        batch.outcomes.setdefault(queue_id, exc)


def _notify_for(decision: Decision) -> NotifyConfig | None:
    """A set_callback decision's NotifyConfig, built from its fields; None for other actions."""
    if decision.action != "set_callback" or decision.desired_callback is None:
        return None
    from ciqueue.ci.models import requested_notify_config

    wanted = {NOTIFY_ATTRS[name]: value for name, value in decision.desired_callback.items() if value}
    return requested_notify_config(
        state=wanted.get("state", "On"),
        type=wanted.get("type"),
        url=wanted.get("url"),
        event=wanted.get("event"),
        result_format=wanted.get("result_format"),
        mq_mode=wanted.get("mq_mode"),
        mq_region=wanted.get("mq_region"),
        mq_name=wanted.get("mq_name"),
        kind=decision.key.kind,
    )


def carry_out(runtime: Runtime, decision: Decision, deadline: Deadline | None, actor: str) -> OperationResult:
    """The operation a changing decision asks for, alone (``operations.change_queue``: read,
    change one aspect, write, verify); a set_callback decision's NotifyConfig is built from its
    fields. The tick itself batches (``_carry_out_batched``)."""
    from ciqueue.ci.operations import change_queue

    if not decision.changes:
        raise ValueError(f"decision {decision.action!r} changes nothing")
    key = decision.key
    client = runtime.client_for(key.bucket, key.region)
    return change_queue(
        client,
        key.kind,
        key.queue_id,
        decision.action,
        notify=_notify_for(decision),
        deadline=deadline,
        actor=actor,
    )


def _audit_skip(decision: Decision, actor: str, context: Any) -> None:
    from ciqueue.app.audit import QUEUE_SKIPPED, audit

    audit(
        QUEUE_SKIPPED,
        actor=actor,
        queue=decision.key.text,
        action=decision.aspect,
        reason=decision.reason,
        changed=False,
        source=decision.source,
        context=context,
    )


# --- remember -------------------------------------------------------------------------------------


def _remember(
    runtime: Runtime,
    loaded: StateDocument,
    carried: Mapping[QueueKey, list[Decision]],
    now: datetime,
    report: ReconcileReport,
) -> None:
    """One state update: drop expired overrides, record what was carried out (when it differs),
    add the tick's changes, failures and expired overrides to the history."""
    from ciqueue.app.audit import OVERRIDE_EXPIRED, audit, emit_record, history_entry
    from ciqueue.state.document import LastAppliedRecord, prune_expired, record_all_applied, record_changes

    def merged(doc: StateDocument, key: QueueKey, decisions: list[Decision]) -> LastApplied | None:
        stored = doc.last_applied.get(key.text)
        before = stored.to_engine() if stored is not None else None
        after = before
        for decision in decisions:
            after = merge_last_applied(after, decision)
        return after if after != before else None

    entries = [e for e in (history_entry(line, now) for line in report.audit_lines) if e is not None]
    if (
        not report.expired_overrides
        and not entries
        and not any(merged(loaded, k, d) for k, d in carried.items())
    ):
        return

    expired: list[dict[str, Any]] = []

    def mutate(doc: StateDocument) -> StateDocument:
        expired[:] = [
            audit(
                OVERRIDE_EXPIRED,
                actor=SCHEDULER_ACTOR,
                queue=o.key,
                override_id=o.id,
                reason=o.reason,
                changed=False,
                emit=False,
            )
            for o in doc.overrides
            if not o.active_at(now)
        ]
        doc = prune_expired(doc, now)
        records: dict[str, LastAppliedRecord] = {}
        for key, decisions in carried.items():
            record = merged(doc, key, decisions)
            if record is not None:
                records[key.text] = LastAppliedRecord.from_engine(record, decided_at=now)
        doc = record_all_applied(doc, records)
        ended = [e for e in (history_entry(line, now) for line in expired) if e is not None]
        return record_changes(doc, [*entries, *ended], now)

    try:
        before = loaded.updated_at
        saved = runtime.state.update(mutate)
        report.state_written = saved.updated_at != before
    except Exception as exc:  # the queues are right; only the memory of it failed
        report.errors.append(error_entry(exc, stage="state"))
        return
    for line in expired:
        emit_record(line)

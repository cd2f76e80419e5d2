"""The state store: overrides people set and the decisions last carried out, in one JSON document.

A store is versioned: ``load`` returns the document and a version token, ``save`` writes only if
the stored version still equals the one read (else ``StateConflict``), and ``update`` runs
load -> mutate -> save and, on a conflict, reloads and re-applies the mutation. Two writers racing
therefore never lose each other's change.

What an update costs is what it changes, not the document's size (one last-applied record per
queue makes that the fleet's): the records are frozen, so ``update`` hands the mutator a working
copy sharing them (``working_copy``: own lists and dict, no deep copy) and ``same_content``
compares field by field, where a record left alone is the same object; an update that changes
nothing writes nothing. A store keeps the document of the version it read or wrote last, so
reading that version again (the reload of ``update``, the next tick of a warm instance) parses
nothing; the version token still comes from the stored bytes or object, so the conditional write
guards exactly as before. ``to_json`` is compact, by pydantic's compiled writer.

Backends: ``ciqueue.state.file`` (local file, the test
fake) and ``ciqueue.state.cos`` (one COS object, conditional writes); this module imports neither,
and ``ciqueue.state.location`` is the one place that chooses and builds one.

``changes`` is the recent history: the audit records of what changed (or failed to), newest last,
kept within ``limits.MAX_HISTORY_CHANGES`` entries and ``limits.MAX_HISTORY_AGE`` by
``record_changes``, the one place that adds to it. The entries arrive already shaped and redacted by
``ciqueue.app.audit.history_entry`` (the one redaction); this module only stores and bounds them.
A failure that repeats the newest entry of its queue (same event, action, actor and error code)
updates that entry (``at``, ``result``, ``repeats``, ``first_at``) instead of adding one, so a CI
outage that fails every tick does not push the real changes out. ``recent_changes`` reads them.

The persisted shapes mirror ``engine.Override`` and ``engine.LastApplied`` (``to_engine`` /
``from_engine`` convert); ``engine`` is imported lazily so that adding an override stays a cheap
import for the HTTP function.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from ciqueue.ci.identifiers import bucket_problem, parse_kind, queue_id_problem, region_problem
from ciqueue.ci.retry import Clock, Rand, Sleep, full_jitter
from ciqueue.constants import QUEUE_STATES
from ciqueue.errors import InvalidInput, Problem, StateConflict, StateCorrupt
from ciqueue.limits import MAX_ACTOR_LENGTH, MAX_HISTORY_AGE, MAX_HISTORY_CHANGES, MAX_REASON_LENGTH

if TYPE_CHECKING:
    from ciqueue.schedule import engine

log = logging.getLogger("ciqueue.state")

SCHEMA_VERSION = 1
DEFAULT_UPDATE_ATTEMPTS = 5
# Backoff between conflicting attempts: writers that collided once should not collide again.
CONFLICT_BACKOFF_BASE_S = 0.05
CONFLICT_BACKOFF_CAP_S = 1.0

_OVERRIDE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

QueueStateName = Literal["Active", "Paused"]


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


def queue_key(bucket: str, region: str, kind: str, queue_id: str) -> str:
    """The text key of a queue, ``bucket/region/kind/queue_id`` (as ``engine.QueueKey.text``)."""
    return f"{bucket}/{region}/{kind}/{queue_id}"


class OverrideRecord(BaseModel):
    """A stored override: a person pins a queue's State until ``expires_at`` (None: until cancelled)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(pattern=_OVERRIDE_ID.pattern)
    bucket: str
    region: str
    kind: str
    queue_id: str
    state: QueueStateName
    reason: str | None = None
    actor: str | None = None
    created_at: AwareDatetime
    expires_at: AwareDatetime | None = None

    @field_validator("created_at", "expires_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value) if value is not None else None

    @property
    def key(self) -> str:
        return queue_key(self.bucket, self.region, self.kind, self.queue_id)

    def active_at(self, now: datetime) -> bool:
        return self.expires_at is None or _utc(now) < self.expires_at

    def to_engine(self) -> engine.Override:
        from ciqueue.schedule import engine

        return engine.Override(
            id=self.id,
            bucket=self.bucket,
            region=self.region,
            kind=self.kind,
            queue_id=self.queue_id,
            state=self.state,
            reason=self.reason,
            actor=self.actor,
            created_at=self.created_at,
            expires_at=self.expires_at,
        )

    @classmethod
    def from_engine(cls, override: engine.Override) -> OverrideRecord:
        return cls(
            id=override.id,
            bucket=override.bucket,
            region=override.region,
            kind=str(getattr(override.kind, "value", override.kind)),
            queue_id=override.queue_id,
            state=override.state,  # type: ignore[arg-type]  # validated by pydantic
            reason=override.reason,
            actor=override.actor,
            created_at=override.created_at,
            expires_at=override.expires_at,
        )


class LastAppliedRecord(BaseModel):
    """What the engine last carried out for a queue (``engine.LastApplied``) and when it decided."""

    model_config = ConfigDict(extra="allow", frozen=True)

    desired_state: QueueStateName | None = None
    edge_at: AwareDatetime | None = None
    source: str | None = None
    callback_index: int | None = None
    callback_edge_at: AwareDatetime | None = None
    callback_source: str | None = None
    decided_at: AwareDatetime | None = None

    @field_validator("edge_at", "callback_edge_at", "decided_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value) if value is not None else None

    def to_engine(self) -> engine.LastApplied:
        from ciqueue.schedule import engine

        return engine.LastApplied(
            desired_state=self.desired_state,
            edge_at=self.edge_at,
            source=self.source,
            callback_index=self.callback_index,
            callback_edge_at=self.callback_edge_at,
            callback_source=self.callback_source,
        )

    @classmethod
    def from_engine(
        cls, applied: engine.LastApplied, decided_at: datetime | None = None
    ) -> LastAppliedRecord:
        return cls(
            desired_state=applied.desired_state,  # type: ignore[arg-type]  # validated by pydantic
            edge_at=applied.edge_at,
            source=applied.source,
            callback_index=applied.callback_index,
            callback_edge_at=applied.callback_edge_at,
            callback_source=applied.callback_source,
            decided_at=decided_at,
        )


class ChangeRecord(BaseModel):
    """One entry of the recent history: who (``actor``) did what (``event``, ``action``, the changed
    fields ``before``/``after``) to which ``queue``, why (``reason``), when (``at``: the instant of
    the command or tick) and how it went (``result``: ``{"status": "ok"}`` or the error's code and
    message). Other audit fields (``override_id``, ``expires_at``, ``written``...) are kept as given.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    at: AwareDatetime
    event: str
    actor: str | None = None
    queue: str | None = None
    action: str | None = None
    reason: str | None = None
    changed: bool | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    result: dict[str, Any] = Field(default_factory=lambda: {"status": "ok"})

    @field_validator("at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return _utc(value)

    @property
    def failed(self) -> bool:
        return self.result.get("status") == "error"


class StateDocument(BaseModel):
    """Everything the functions remember between invocations. Unknown fields are kept as they are."""

    model_config = ConfigDict(extra="allow")

    version: int = SCHEMA_VERSION
    overrides: list[OverrideRecord] = Field(default_factory=list)
    last_applied: dict[str, LastAppliedRecord] = Field(default_factory=dict)
    updated_at: AwareDatetime | None = None
    changes: list[ChangeRecord] = Field(default_factory=list)

    def to_json(self) -> bytes:
        """Stable compact bytes: fields in declared order, ``last_applied`` sorted by queue key.

        Serialised by pydantic's own (compiled) JSON writer, the same field forms as
        ``model_dump(mode="json")``; compact, since the file is machine-written and one record per
        queue makes its size the fleet's (any JSON form loads)."""
        ordered = self.model_copy(update={"last_applied": dict(sorted(self.last_applied.items()))})
        return ordered.model_dump_json().encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes | str, where: str) -> StateDocument:
        """Parse a stored document; StateCorrupt naming ``where`` and the bad field otherwise."""
        if not data.strip():
            return cls()
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StateCorrupt(f"state {where} is not JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise StateCorrupt(f"state {where} must be a JSON object")
        schema = raw.get("version", SCHEMA_VERSION)
        if isinstance(schema, int) and schema > SCHEMA_VERSION:
            raise StateCorrupt(
                f"state {where} has schema version {schema}, written by a newer ciqueue "
                f"(this one reads {SCHEMA_VERSION})"
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            path = ".".join(str(part) for part in first["loc"]) or "(document)"
            raise StateCorrupt(f"state {where}: {path}: {first['msg']}") from None

    def same_content(self, other: StateDocument) -> bool:
        """True when the two differ at most in ``updated_at``.

        Field by field: records are frozen, so a record a mutator left alone is the same object and
        compares at once; the cost is the records that changed, not the fleet's."""
        mine, theirs = dict(self.__dict__), dict(other.__dict__)
        mine.pop("updated_at", None)
        theirs.pop("updated_at", None)
        return mine == theirs and (self.model_extra or {}) == (other.model_extra or {})

    def working_copy(self) -> StateDocument:
        """A copy whose lists and dict are its own (the records, frozen, are shared): what a
        mutator may change in place without touching this document."""
        return self.model_copy(
            update={
                "overrides": list(self.overrides),
                "last_applied": dict(self.last_applied),
                "changes": list(self.changes),
            }
        )

    def override(self, override_id: str) -> OverrideRecord | None:
        return next((o for o in self.overrides if o.id == override_id), None)

    def engine_overrides(self) -> list[engine.Override]:
        return [o.to_engine() for o in self.overrides]

    def engine_last_applied(self, keys: Iterable[str] | None = None) -> dict[str, engine.LastApplied]:
        """The records as the engine's, only those of ``keys`` when given (a shard's queues)."""
        if keys is None:
            return {key: record.to_engine() for key, record in self.last_applied.items()}
        found = ((key, self.last_applied.get(key)) for key in keys)
        return {key: record.to_engine() for key, record in found if record is not None}


Mutator = Callable[[StateDocument], StateDocument]


class StateStore(Protocol):
    """A versioned home for the StateDocument."""

    def load(self) -> tuple[StateDocument, str | None]:
        """The document and its version token (None: nothing stored yet, an empty document)."""
        ...

    def save(self, doc: StateDocument, expected_version: str | None) -> str:
        """Write ``doc`` if the stored version is still ``expected_version``; the new version.

        Raises StateConflict when someone else wrote in between.
        """
        ...

    def update(self, mutator: Mutator, attempts: int = DEFAULT_UPDATE_ATTEMPTS) -> StateDocument:
        """Load, apply ``mutator``, save; on a conflict reload and re-apply. The document saved."""
        ...


class VersionedStateStore(ABC):
    """``update`` built on a backend's ``load`` and conditional ``_write``."""

    def __init__(
        self, *, clock: Clock = time.time, sleep: Sleep = time.sleep, rand: Rand = random.random
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._known: tuple[str, StateDocument] | None = None

    def _keep(self, version: str, doc: StateDocument) -> None:
        """Remember the document stored at ``version`` (one read or written last)."""
        self._known = (version, doc)

    def _recall(self, version: str | None) -> StateDocument | None:
        """A working copy of the document kept at ``version`` (None: not the one kept)."""
        known = self._known
        if version is None or known is None or known[0] != version:
            return None
        return known[1].working_copy()

    @abstractmethod
    def load(self) -> tuple[StateDocument, str | None]: ...

    @abstractmethod
    def _write(self, doc: StateDocument, expected_version: str | None) -> str:
        """The conditional write; called inside ``_exclusive()``."""

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Held around read-modify-write; backends that can lock (a local file) do so here."""
        yield

    def save(self, doc: StateDocument, expected_version: str | None) -> str:
        with self._exclusive():
            version = self._write(doc, expected_version)
        self._keep(version, doc)
        return version

    def update(self, mutator: Mutator, attempts: int = DEFAULT_UPDATE_ATTEMPTS) -> StateDocument:
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise InvalidInput("attempts", "must be an integer of 1 or more")
        for attempt in range(1, attempts + 1):
            with self._exclusive():
                doc, version = self.load()
                changed = mutator(doc.working_copy())
                if not isinstance(changed, StateDocument):
                    raise TypeError("a state mutator must return the StateDocument")
                if changed.same_content(doc):
                    return doc  # nothing to write: no needless version bump
                changed = changed.model_copy(
                    update={"updated_at": datetime.fromtimestamp(self._clock(), timezone.utc)}
                )
                try:
                    self._keep(self._write(changed, version), changed)
                    return changed
                except StateConflict:
                    log.debug("state conflict on attempt %d of %d; reloading", attempt, attempts)
            if attempt < attempts:
                self._sleep(
                    full_jitter(attempt - 1, CONFLICT_BACKOFF_BASE_S, CONFLICT_BACKOFF_CAP_S, self._rand)
                )
        raise StateConflict(
            f"the state changed under us {attempts} times in a row; nothing was written (try again)"
        )


# --- helpers: pure, each returns a new document ---------------------------------------------------


def new_override(
    *,
    bucket: str,
    region: str,
    kind: str,
    queue_id: str,
    state: str,
    now: datetime,
    reason: str | None = None,
    actor: str | None = None,
    expires_at: datetime | None = None,
    override_id: str | None = None,
) -> OverrideRecord:
    """An override from a user's request; InvalidInput naming every broken field."""
    problems = [p for p in (bucket_problem(bucket), region_problem(region)) if p]
    kind_text = str(kind)
    try:
        kind_text = parse_kind(kind, "kind").value
    except InvalidInput as exc:
        problems.extend(exc.problems)
    problem = queue_id_problem(queue_id)
    if problem is not None:
        problems.append(problem)
    if state not in QUEUE_STATES:
        problems.append(Problem("state", f"must be Active or Paused (got {state!r})"))
    problems += _text_problems("reason", reason, MAX_REASON_LENGTH)
    problems += _text_problems("actor", actor, MAX_ACTOR_LENGTH)
    if now.tzinfo is None or now.utcoffset() is None:
        problems.append(Problem("now", "must be a timezone-aware time"))
    if expires_at is not None:
        if expires_at.tzinfo is None or expires_at.utcoffset() is None:
            problems.append(Problem("expires_at", "must include a timezone (e.g. 2025-01-01T08:00:00+08:00)"))
        elif now.tzinfo is not None and expires_at <= now:
            problems.append(Problem("expires_at", "must be in the future"))
    if override_id is not None and (
        not isinstance(override_id, str) or not _OVERRIDE_ID.fullmatch(override_id)
    ):
        problems.append(Problem("id", "must be 1-64 letters, digits, '_', '.', ':' or '-'"))
    if problems:
        raise InvalidInput(problems)
    return OverrideRecord(
        id=override_id or f"ovr-{secrets.token_hex(6)}",
        bucket=bucket,
        region=region,
        kind=kind_text,
        queue_id=queue_id,
        state=state,  # type: ignore[arg-type]  # checked above
        reason=reason,
        actor=actor,
        created_at=now,
        expires_at=expires_at,
    )


def _text_problems(name: str, value: str | None, limit: int) -> list[Problem]:
    if value is None:
        return []
    if not isinstance(value, str):
        return [Problem(name, "must be text")]
    if len(value) > limit:
        return [Problem(name, f"must be at most {limit} characters (got {len(value)})")]
    if _CONTROL.search(value):
        return [Problem(name, "must not contain control characters")]
    return []


def add_override(doc: StateDocument, override: OverrideRecord) -> StateDocument:
    """``doc`` with ``override`` added; one with the same id is replaced (so a retry adds it once)."""
    kept = [o for o in doc.overrides if o.id != override.id]
    return doc.model_copy(update={"overrides": [*kept, override]})


def cancel_override(doc: StateDocument, override_id: str) -> StateDocument:
    """``doc`` without the override; InvalidInput when no override has that id."""
    if doc.override(override_id) is None:
        raise InvalidInput("override_id", f"no override has id {override_id!r}")
    return doc.model_copy(update={"overrides": [o for o in doc.overrides if o.id != override_id]})


def expired_overrides(doc: StateDocument, now: datetime) -> list[OverrideRecord]:
    """The overrides whose time is up at ``now``."""
    return [o for o in doc.overrides if not o.active_at(now)]


def prune_expired(doc: StateDocument, now: datetime) -> StateDocument:
    """``doc`` without the overrides whose time is up at ``now``."""
    return doc.model_copy(update={"overrides": [o for o in doc.overrides if o.active_at(now)]})


def record_applied(doc: StateDocument, key: str, record: LastAppliedRecord) -> StateDocument:
    """``doc`` with the last applied decision of queue ``key`` (``bucket/region/kind/queue_id``) set."""
    return doc.model_copy(update={"last_applied": {**doc.last_applied, key: record}})


def record_changes(
    doc: StateDocument, entries: Sequence[Mapping[str, Any] | ChangeRecord], now: datetime
) -> StateDocument:
    """``doc`` with ``entries`` (``app.audit.history_entry`` dicts) added to its history and the
    history bounded at ``now``: younger than MAX_HISTORY_AGE, at most MAX_HISTORY_CHANGES, newest
    last. A failure repeating its queue's newest entry updates that entry instead of adding one."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise InvalidInput("now", "must be a timezone-aware time")
    history = list(doc.changes)
    for raw in entries:
        entry = raw if isinstance(raw, ChangeRecord) else ChangeRecord.model_validate(dict(raw))
        previous = _newest_of(history, entry.queue)
        if previous is not None and _repeats(previous, entry):
            index = history.index(previous)
            extra = previous.model_extra or {}
            history[index] = entry.model_copy(
                update={
                    "repeats": int(extra.get("repeats", 1)) + 1,
                    "first_at": extra.get("first_at") or previous.at.isoformat(),
                }
            )
            history.append(history.pop(index))
            continue
        history.append(entry)
    oldest = _utc(now) - MAX_HISTORY_AGE
    kept = [entry for entry in history if entry.at >= oldest][-MAX_HISTORY_CHANGES:]
    return doc.model_copy(update={"changes": kept})


def recent_changes(
    doc: StateDocument, queue: str | None = None, limit: int = MAX_HISTORY_CHANGES
) -> list[ChangeRecord]:
    """The kept history, newest first; only ``queue``'s (a key ``bucket/region/kind/queue_id``)
    when given; at most ``limit`` (1 to MAX_HISTORY_CHANGES) entries. Read-only."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_HISTORY_CHANGES:
        raise InvalidInput("limit", f"must be a whole number from 1 to {MAX_HISTORY_CHANGES} (got {limit!r})")
    found = [entry for entry in reversed(doc.changes) if queue is None or entry.queue == queue]
    return found[:limit]


def _newest_of(history: Sequence[ChangeRecord], queue: str | None) -> ChangeRecord | None:
    return next((entry for entry in reversed(history) if entry.queue == queue), None)


def _repeats(previous: ChangeRecord, entry: ChangeRecord) -> bool:
    """The same failure again: same event, action and actor, and the same error code."""
    return (
        previous.failed
        and entry.failed
        and (previous.event, previous.action, previous.actor) == (entry.event, entry.action, entry.actor)
        and previous.result.get("code") == entry.result.get("code")
    )

"""Where a worker shard's time goes: timing hooks a benchmark preloads into its worker instances.

Rules:
- Measurement only, never shipped: ``bench_fleet_scale.py --phases`` has each
  ``dev.invoke.ProcessInvoker`` instance import this module (``preload``) with
  ``CIQUEUE_BENCH_PHASES`` naming a folder (``instance_started``); importing it changes nothing.
- It wraps, in the instance's own modules, the tick's phases (``app.reconcile``: listing, deciding,
  carrying out, the state update), the state store's reads and conditional writes (and the
  conflicts they meet), the document's parse and serialisation, the batches' rate reservations
  (deferred: the bucket's window had no room) and the client's requests; wall seconds summed over
  threads, CPU seconds of the calling thread where that thread does the work.
- Each ``handle_shard`` appends one JSON line to ``<folder>/<pid>.jsonl``: the shard's wall and
  process CPU, and per name ``[calls, wall s, thread CPU s]``; ``read`` collects them.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENV = "CIQUEUE_BENCH_PHASES"
PHASES = (
    ("observe", "listing its buckets"),
    ("state.load", "state reads (the first, and the update's reload)"),
    ("state.parse", "parsing the state object"),
    ("decide", "deciding"),
    ("apply", "carrying out the changes"),
    ("batch.deferred", "batch reservations deferred by the rate window"),
    ("remember", "the state update at the end"),
    ("state.to_json", "serialising the state object"),
    ("state.write", "conditional state writes"),
    ("state.conflict", "writes refused: another writer was first"),
)

_lock = threading.Lock()
_stats: dict[str, list[float]] = {}


def _add(name: str, wall: float, cpu: float = 0.0) -> None:
    with _lock:
        entry = _stats.setdefault(name, [0, 0.0, 0.0])
        entry[0] += 1
        entry[1] += wall
        entry[2] += cpu


def _timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            _add(name, time.perf_counter() - wall, time.thread_time() - cpu)

    return wrapper


def install(folder: str) -> None:
    from ciqueue.app import reconcile
    from ciqueue.ci import client, operations
    from ciqueue.errors import StateConflict
    from ciqueue.state import cos, document, file

    reconcile._observe = _timed("observe", reconcile._observe)  # type: ignore[assignment]
    reconcile.decide = _timed("decide", reconcile.decide)
    reconcile._apply = _timed("apply", reconcile._apply)  # type: ignore[assignment]
    reconcile._remember = _timed("remember", reconcile._remember)  # type: ignore[assignment]
    parse = document.StateDocument.from_json.__func__  # type: ignore[attr-defined]
    document.StateDocument.from_json = classmethod(_timed("state.parse", parse))  # type: ignore[assignment]
    document.StateDocument.to_json = _timed("state.to_json", document.StateDocument.to_json)  # type: ignore[method-assign]
    for store in (cos.CosStateStore, file.FileStateStore):
        store.load = _timed("state.load", store.load)  # type: ignore[method-assign]
        write = store._write

        def checked(self: Any, doc: Any, expected: Any, write: Any = write) -> Any:
            try:
                return write(self, doc, expected)
            except StateConflict:
                _add("state.conflict", 0.0)
                raise

        store._write = _timed("state.write", checked)  # type: ignore[method-assign]
    reserve = operations.BatchChange.reserve

    def counted(self: Any, *args: Any, **kwargs: Any) -> float:
        wait: float = reserve(self, *args, **kwargs)
        if wait > 0:
            _add("batch.deferred", 0.0)
        return wait

    operations.BatchChange.reserve = counted  # type: ignore[method-assign]
    request = client.CIClient.request

    def sent(self: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        wall = time.perf_counter()
        try:
            return request(self, method, *args, **kwargs)
        finally:
            _add(f"request.{self.service}.{method}", time.perf_counter() - wall)

    client.CIClient.request = sent  # type: ignore[method-assign]
    handle = reconcile.handle_shard

    def shard(event: Any, runtime: Any, *, context: Any = None) -> Any:
        with _lock:
            _stats.clear()
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return handle(event, runtime, context=context)
        finally:
            line = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "stats": _stats}
            with open(Path(folder) / f"{os.getpid()}.jsonl", "a", encoding="utf-8") as out:
                out.write(json.dumps(line) + "\n")

    reconcile.handle_shard = shard


def read(folder: str | Path) -> list[dict[str, Any]]:
    """Every shard's line, from every instance's file."""
    return [
        json.loads(line)
        for path in sorted(Path(folder).glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def instance_started() -> None:
    """Called by ``ProcessInvoker`` in each instance once its environment is set (``preload``)."""
    if os.environ.get(ENV):
        install(os.environ[ENV])

"""The state document in a local JSON file: local mode, and the store tests use as a fake.

The version is the SHA-256 of the file's bytes (None while there is no file). Writes go to a
temporary file that replaces the state atomically, under an exclusive ``flock`` on a sidecar
``<file>.lock``, so that threads and processes sharing the file never lose a write. Readers take
no lock: ``os.replace`` means they see the old or the new document, never half of one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ciqueue.ci.retry import Clock, Rand, Sleep
from ciqueue.errors import InvalidInput, StateConflict, StateCorrupt
from ciqueue.state.document import StateDocument, VersionedStateStore


def content_version(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileStateStore(VersionedStateStore):
    """A StateStore on ``path``; the directory is created on the first write."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        rand: Rand = random.random,
    ) -> None:
        super().__init__(clock=clock, sleep=sleep, rand=rand)
        self.path = Path(path)
        if not str(path) or self.path.name in ("", ".", ".."):
            raise InvalidInput("state", "must name a file, e.g. /tmp/ciqueue-state.json")
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def __repr__(self) -> str:
        return f"FileStateStore({str(self.path)!r})"

    def load(self) -> tuple[StateDocument, str | None]:
        data = self._read()
        if data is None:
            return StateDocument(), None
        version = content_version(data)
        known = self._recall(version)
        if known is not None:
            return known, version
        doc = StateDocument.from_json(data, f"file {self.path}")
        self._keep(version, doc)
        return doc.working_copy(), version

    def _read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise StateCorrupt(f"state file {self.path} is a directory") from None

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One open file description per acquisition: flock then excludes other threads too.
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _write(self, doc: StateDocument, expected_version: str | None) -> str:
        current = self._read()
        current_version = content_version(current) if current is not None else None
        if current_version != expected_version:
            raise StateConflict(f"state file {self.path} was changed by another writer since it was read")
        data = doc.to_json()
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        return content_version(data)

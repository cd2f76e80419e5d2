"""The ``ciqueue`` command as a shell pipeline sees it: output into a reader that stops early."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_output_into_a_closed_pipe_ends_quietly_with_141() -> None:
    # `ciqueue plan ... | head -1`: the reader takes one line and goes away. 400 days of plan are
    # far more than a pipe buffer, so the writes after the reader closed fail with EPIPE.
    ciqueue = str(Path(sys.executable).with_name("ciqueue"))  # the installed entry point itself
    command = [ciqueue, "plan", "--config", "examples/schedule.yaml"]
    command += ["--days", "400", "--from", "2026-05-01T00:00"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # what head does after its one line
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=60)
    assert first.startswith(b"WHEN ")
    assert err == ""  # no traceback, no "Exception ignored" at shutdown
    assert code == 141  # 128 + SIGPIPE, what a shell reports for `yes | head -1`

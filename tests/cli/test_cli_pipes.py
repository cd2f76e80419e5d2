"""The ``ciqueue`` command as a shell and a new user see it: a reader that stops early, --version,
the usage line."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import ciqueue
import pytest
from ciqueue.cli import main as cli

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


def test_version_is_the_installed_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--version"])
    out = capsys.readouterr().out
    # ciqueue.__version__ and the distribution's metadata (pyproject's version) are one number.
    assert (code, out) == (0, f"ciqueue {metadata.version('ciqueue')}\n")
    assert ciqueue.__version__ == metadata.version("ciqueue")


def test_usage_line_lists_every_command_the_parser_has(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--help"])
    out = capsys.readouterr().out
    commands = re.search(r"\{([a-z,]+)\}", out.split("\n\n")[0])
    assert code == 0 and commands is not None, out
    listed = commands.group(1).split(",")
    subparsers = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert listed == list(subparsers.choices)
    assert {"buckets", "token", "plan", "reconcile", "invoke", "local", "package"} <= set(listed)


def test_no_command_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main([])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: command: choose one of queues, buckets, ") and "token" in err

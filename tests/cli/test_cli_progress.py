"""Progress for a person: a status line on stderr only when stderr is a terminal and not --json;
piped output gets no extra byte. The terminal side runs the real CLI with stderr on a pty."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ciqueue.cli import main as cli
from ciqueue.cli.progress import ERASE, TerminalProgress, for_person
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.deploy import packaging
from ciqueue.emulator.server import EmulatorServer
from conftest import EmuAdmin, queue_id

BUCKET, REGION = "fleet-1250000000", "ap-guangzhou"
QUEUES = [queue_id(2000 + n) for n in range(30)]
SCHEDULE = f"""
version: 1
timezone: Asia/Shanghai
targets:
  all: {{bucket: {BUCKET}, region: {REGION}, kind: pic, name_pattern: "*"}}
windows:
  - {{name: nightly, targets: [all], start: "0 0 2 * * * *", duration: 2h}}
"""
NOW = "2030-03-05T02:30:00+08:00"  # inside the window: every queue is paused


def test_for_person_only_on_a_terminal_and_never_for_json() -> None:
    assert for_person("x", stream=io.StringIO()) is None  # a pipe or a file
    master, slave = pty.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            assert for_person("x", json=True, stream=tty) is None
            progress = for_person("x", stream=tty)
            assert isinstance(progress, TerminalProgress)
            progress("1/2 done")
            progress.close()
        written = os.read(master, 1000).decode()
    finally:
        os.close(master)
        os.close(slave)
    assert written == f"{ERASE}x: 1/2 done{ERASE}"


@pytest.fixture
def fleet(emulator: EmulatorServer, emu_admin: EmuAdmin, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    emu_admin.seed(
        [
            {
                "bucket": BUCKET,
                "region": REGION,
                "kinds": ["pic"],
                "queues": [{"kind": "pic", "queue_id": q, "name": f"q{n}"} for n, q in enumerate(QUEUES)],
            }
        ]
    )
    path = tmp_path / "schedule.yaml"
    path.write_text(SCHEDULE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIQUEUE_", "TENCENTCLOUD_"))}
    env.update(
        TENCENTCLOUD_SECRETID=DEMO_SECRET_ID,
        TENCENTCLOUD_SECRETKEY=DEMO_SECRET_KEY,
        CIQUEUE_ENDPOINT=emulator.endpoint,
        CIQUEUE_STATE_FILE=str(tmp_path / "state.json"),
    )
    return path, env


def _reconcile(config: Path, env: dict[str, str], *extra: str, tty: bool) -> tuple[int, str, str]:
    """The real CLI in a child; stderr on a pty (a person's terminal) or a pipe (a script)."""
    argv = [sys.executable, "-m", "ciqueue", "reconcile", "--config", str(config), "--now", NOW, *extra]
    if not tty:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout, done.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    err = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        err += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(master)
    return proc.returncode, out.decode(), err.decode()


def test_reconcile_on_a_terminal_shows_progress_on_stderr_only(
    fleet: tuple[Path, dict[str, str]], emu_admin: EmuAdmin
) -> None:
    config, env = fleet
    code, out, err = _reconcile(config, env, tty=True)

    assert code == 0, err
    assert "reconcile: read 1/1 scopes, 30 queues" in err
    assert "reconcile: changing 30 queues while listing" in err
    assert "reconcile: 30/30 changes done" in err
    assert err.endswith(ERASE)  # the line is erased when the tick is done
    assert "\r" not in out and "reconcile:" not in out  # stdout is the report alone
    assert out.splitlines()[-1].startswith("30 queues observed at 2030-03-05 Tue 02:30 CST: 30 pause")
    assert {emu_admin.queue(q)["State"] for q in QUEUES} == {"Paused"}


def test_reconcile_piped_or_json_adds_nothing_to_stderr(fleet: tuple[Path, dict[str, str]]) -> None:
    config, env = fleet
    code, out, err = _reconcile(config, env, "--dry-run", tty=False)
    assert code == 0, err
    assert "\r" not in err and "\033" not in err and "reconcile:" not in err

    code, out, err = _reconcile(config, env, "--dry-run", "--json", tty=True)
    assert code == 0, err
    assert "\r" not in err and "\033" not in err and "reconcile:" not in err
    assert json.loads(out)["observed"] == 30


def test_package_reports_each_line_pip_prints_and_keeps_its_stderr() -> None:
    seen: list[str] = []
    script = (
        "import sys; print('Collecting pydantic'); print('Downloading a.whl'); print('oops', file=sys.stderr)"
    )
    done = packaging._run_reporting([sys.executable, "-c", script], seen.append)
    assert seen == ["layer wheels: Collecting pydantic", "layer wheels: Downloading a.whl"]
    assert (done.returncode, done.stderr) == (0, "oops\n")


def test_package_piped_prints_no_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["package", "--out", str(tmp_path), "--skip-layer"]) == 0
    captured: Any = capsys.readouterr()
    assert "\r" not in captured.err and "\033" not in captured.err

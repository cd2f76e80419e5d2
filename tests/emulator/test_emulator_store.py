"""Emulator state: the SQLite store across restarts, the memory store, locking, and ``main()``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from ciqueue.ci.credentials import Credentials
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.emulator.server import EmulatorServer, main
from conftest import DEMO_BUCKET, PIC_CALLBACK_ID, EmuAdmin, demo_seed
from test_emulator import ci, update_body, xml


def test_sqlite_state_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "ci.sqlite"
    temp = Credentials("AKIDstoredkey00001", "stored-secret")
    with EmulatorServer(data=data) as emu:
        admin = EmuAdmin(emu.endpoint)
        admin.seed(demo_seed(), keys=[{"secret_id": temp.secret_id, "secret_key": temp.secret_key}])
        assert ci(emu, "POST", "/docbucket").status_code == 200
        put = ci(emu, "PUT", f"/picqueue/{PIC_CALLBACK_ID}", body=update_body(extra="<Kept>1</Kept>"))
        assert put.status_code == 200, put.text
        before = admin.state()
    with EmulatorServer(data=data) as emu:
        admin = EmuAdmin(emu.endpoint)
        assert admin.state() == before
        queue = admin.queue(PIC_CALLBACK_ID)
        assert (queue["Name"], queue["State"], queue["Kept"]) == ("renamed", "Paused", "1")
        listed = ci(emu, "GET", "/docqueue", creds=temp)  # the seeded key was kept too
        assert xml(listed)["Response"]["TotalCount"] == "1"
        # New queues after a restart still come after the old ones.
        assert ci(emu, "POST", "/asrbucket").status_code == 200
        kinds = [q["kind"] for q in admin.state()["buckets"][0]["queues"]]
        assert kinds == ["pic", "pic", "pic", "media", "media", "doc", "asr"]
        admin.reset()
    with EmulatorServer(data=data) as emu:
        state = EmuAdmin(emu.endpoint).state()
        assert state["buckets"] == [] and temp.secret_id in state["keys"]


def test_memory_state_is_gone_after_a_restart() -> None:
    with EmulatorServer() as emu:
        EmuAdmin(emu.endpoint).seed(demo_seed())
    with EmulatorServer() as emu:
        assert EmuAdmin(emu.endpoint).state()["buckets"] == []


def test_concurrent_activations_create_one_default_queue(
    emulator: EmulatorServer, emu_admin: EmuAdmin
) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: ci(emulator, "POST", "/picbucket").status_code, range(16)))
    assert statuses == [200] * 16
    (bucket,) = emu_admin.state()["buckets"]
    assert len(bucket["queues"]) == 1


def test_concurrent_updates_all_land(emulator: EmulatorServer, emu_admin: EmuAdmin) -> None:
    emu_admin.seed(demo_seed())
    names = [f"name-{i}" for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(
            pool.map(
                lambda n: ci(emulator, "PUT", f"/picqueue/{PIC_CALLBACK_ID}", body=update_body(name=n)), names
            )
        )
    assert [r.status_code for r in responses] == [200] * 16
    assert emu_admin.queue(PIC_CALLBACK_ID)["Name"] in names
    assert len([e for e in emu_admin.requests() if e["method"] == "PUT"]) == 16


def test_main_prints_the_endpoint_and_demo_key_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = dict(
        os.environ, TENCENTCLOUD_SECRETID="AKIDenvonly0000001", TENCENTCLOUD_SECRETKEY="env-secret-value"
    )
    env.pop("TENCENTCLOUD_SESSIONTOKEN", None)
    code = "import sys; from ciqueue.emulator.server import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0", "--data", str(tmp_path / "cli.sqlite")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("ciqueue emulator on http://127.0.0.1:")
        assert DEMO_SECRET_ID in line and DEMO_SECRET_KEY in line
        assert "env-secret-value" not in line and "AKIDenvonly" not in line
        endpoint = line.split()[3]
        state = requests.get(f"{endpoint}/_emulator/state", timeout=10).json()
        assert "AKIDenvonly0000001" in state["keys"]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        rest = process.communicate(timeout=10)
        assert "env-secret-value" not in rest[0] + rest[1]
        assert "Traceback" not in rest[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_main_reports_a_busy_port(emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", str(emulator.port)]) == 2
    assert capsys.readouterr().err.startswith(
        f"ciqueue emulator: --port: 127.0.0.1:{emulator.port} is in use"
    )


def test_admin_seed_queue_lists_in_order(emulator: EmulatorServer, emu_admin: EmuAdmin) -> None:
    emu_admin.seed(demo_seed())
    started = time.time()
    listed = ci(emulator, "GET", "/picqueue", now=started)
    assert [q["Name"] for q in xml(listed)["Response"]["QueueList"]] == [
        "queue-pic-process-1",
        "pic-callback",
        "pic-paused",
    ]
    assert emu_admin.state()["buckets"][0]["bucket"] == DEMO_BUCKET

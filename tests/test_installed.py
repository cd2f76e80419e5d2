"""The main job runs from an installed package, anywhere: no checkout needed.

The wheel is built from a copy of the checkout (``pip wheel --no-deps --no-build-isolation``, so
no network), installed with ``--no-deps`` into a fresh venv that sees the suite's third-party
packages through a ``.pth`` line (never the checkout's ``shared/``: ``ciqueue.__file__`` is
asserted inside the new venv), and every command runs from an empty working directory:
``--version``, ``demo``, ``invoke`` against an emulator this test starts, ``package`` (the layer
from the installed files and the suite's wheel cache, and the function zips) and ``local``
(started, then stopped with Ctrl-C).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ciqueue import __version__
from ciqueue.deploy.packaging import LAYER_EXCLUDED_SUBPACKAGES, LAYER_ZIP, default_cache_dir
from ciqueue.emulator.server import EmulatorServer
from conftest import EmuAdmin

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("shared", "functions", "serverless.yml", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md")
FUNCTIONS = ("automation", "http_toggle", "scheduler", "worker")
BUCKET, REGION, QUEUE = "night-1250000000", "ap-guangzhou", "p" + "b" * 32
SCHEDULE = f"""
version: 1
timezone: Asia/Shanghai
targets:
  all: {{bucket: {BUCKET}, region: {REGION}, kind: pic, queue_ids: [{QUEUE}]}}
windows:
  - {{name: nightly, targets: [all], start: "0 0 2 * * * *", duration: 2h}}
"""


@dataclass
class Installed:
    venv: Path
    env: dict[str, str]
    cwd: Path

    def run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "ciqueue"), *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("installed")
    source = base / "src"
    source.mkdir()
    junk = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=junk)
        else:
            shutil.copyfile(path, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    built = subprocess.run(
        [*pip, "wheel", ".", "--no-deps", "--no-build-isolation", "-w", str(base / "wheels")],
        cwd=source,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (base / "wheels").glob("ciqueue-*.whl")
    shutil.rmtree(source)  # nothing of the checkout copy is left to find

    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The suite's third-party packages (pydantic, requests, ...) without reinstalling them: a path
    # line is added to sys.path, and the .pth files there (the editable install's finder) are not run.
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site, "suite-packages.pth").write_text("\n".join(sorted(ours)) + "\n", encoding="utf-8")
    done = subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    cwd = base / "empty"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIQUEUE_", "TENCENTCLOUD_", "PYTHON"))}
    env.update(HOME=str(base / "home"), XDG_STATE_HOME=str(base / "state"), TMPDIR=str(base))
    yield Installed(venv, env, cwd)


@pytest.mark.slow
def test_the_package_imported_is_the_installed_one(installed: Installed) -> None:
    done = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c", "import ciqueue; print(ciqueue.__file__)"],
        cwd=installed.cwd,
        env=installed.env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(done.stdout.strip()).is_relative_to(installed.venv)
    version = installed.run("--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"ciqueue {__version__}")


@pytest.mark.slow
def test_the_demo_runs_from_anywhere(installed: Installed) -> None:
    done = installed.run("demo", timeout=60)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    held = [line for line in done.stdout.splitlines() if "expectations held" in line]
    assert held, done.stdout[-2000:]
    count, total = held[-1].split()[0].split("/")
    assert count == total and int(total) > 0
    assert list(installed.cwd.iterdir()) == []  # nothing written where it ran


@pytest.mark.slow
def test_invoke_runs_the_installed_scheduler_against_an_emulator(
    installed: Installed, emulator: EmulatorServer, emu_admin: EmuAdmin, tmp_path: Path
) -> None:
    emu_admin.seed(
        [
            {
                "bucket": BUCKET,
                "region": REGION,
                "kinds": ["pic"],
                "queues": [{"kind": "pic", "queue_id": QUEUE, "name": "q"}],
            }
        ]
    )
    config = tmp_path / "schedule.yaml"
    config.write_text(SCHEDULE, encoding="utf-8")
    done = installed.run(
        "invoke",
        "scheduler",
        "--sample",
        "timer",
        "--endpoint",
        emulator.endpoint,
        "--config",
        str(config),
        "--now",
        "2026-03-02T02:00:00+08:00",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["ok"] is True and result["action"] == "reconcile"
    assert emu_admin.queue(QUEUE)["State"] == "Paused"  # the window opened at the simulated 02:00
    assert "window 'nightly' opened at 02:00" in done.stderr  # the audit line, on stderr


@pytest.mark.slow
def test_package_builds_every_function_zip_from_the_installed_copy(
    installed: Installed, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    # The suite's wheel cache (tests/deploy fills it; a cold one is filled from the index).
    cache = str(default_cache_dir())
    done = installed.run("package", "--out", str(out), "--cache-dir", cache, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "installed package carries" in done.stdout
    with zipfile.ZipFile(out / LAYER_ZIP) as zf:
        layer = zf.namelist()
    # The installed ciqueue and the dependencies its copy of pyproject.toml names; never the tooling.
    assert "ciqueue/handlers/scheduler.py" in layer and any(n.startswith("pydantic/") for n in layer)
    tooling = {("ciqueue", name) for name in LAYER_EXCLUDED_SUBPACKAGES}
    assert not [n for n in layer if tuple(n.split("/")[:2]) in tooling]
    for name in FUNCTIONS:
        with zipfile.ZipFile(out / f"{name}.zip") as zf:
            # index.py, and its 3.10 bytecode when packaging found a 3.10 interpreter (a 3.10 run does).
            names = zf.namelist()
            assert [n for n in names if not n.startswith("__pycache__/")] == ["index.py"]
            compiled = [n for n in names if n.startswith("__pycache__/")]
            assert compiled in ([], ["__pycache__/index.cpython-310.pyc"])
            index = zf.read("index.py").decode()
        assert f"from ciqueue.handlers.{name} import " in index
        assert index == (ROOT / "functions" / name / "index.py").read_text(encoding="utf-8")
    # Without --out it builds into ./dist of where it runs, never among the installed files.
    here = installed.run("package", "--skip-layer")
    assert here.returncode == 0, here.stdout + here.stderr
    assert sorted(p.name for p in (installed.cwd / "dist").glob("*.zip")) == [f"{n}.zip" for n in FUNCTIONS]
    shutil.rmtree(installed.cwd / "dist")


@pytest.mark.slow
def test_local_starts_and_stops_from_anywhere(installed: Installed) -> None:
    helped = installed.run("local", "--help")
    assert helped.returncode == 0 and "--speed" in helped.stdout
    proc = subprocess.Popen(
        [
            str(installed.venv / "bin" / "ciqueue"),
            "local",
            "--port",
            "0",
            "--http-port",
            "0",
            "--speed",
            "60",
        ],
        cwd=installed.cwd,
        env=installed.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops" in line:
                break
        assert any("Ctrl-C stops" in line for line in lines), "".join(lines)
        # The timers come from the scheduler's serverless.yml, the copy the package carries.
        assert any("timer scheduler/reconcile: cron '0 */5 * * * * *'" in line for line in lines), lines
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=15)
    assert proc.returncode in (0, 130, -signal.SIGINT), "".join(lines) + rest
    assert list(installed.cwd.iterdir()) == []

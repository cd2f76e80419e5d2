"""A cold start from the built zips as SCF runs them, with and without the bytecode they ship.

Run: .venv/bin/python bench/bench_layer_import.py   (about 40 s; needs a Python 3.10, found as
``ciqueue package`` finds it, and the wheel cache or network for the layer's wheels)

``ciqueue.deploy.packaging`` builds the layer and the scheduler's zip into a temporary folder and
both are unpacked twice, read-only like SCF's ``/opt`` and ``/var/user``: once as built (every
module with its unchecked-hash ``cpython-310.pyc``) and once with every ``.pyc`` removed (what the
zips carried before). Each sample is a fresh Python 3.10 (``-S -s``, ``PYTHONPATH=code:opt``,
``PYTHONDONTWRITEBYTECODE`` as SCF sets it, no PYTHONPYCACHEPREFIX) that imports ``index`` and
calls ``main_handler`` with a timer whose Message pauses one queue on the emulator (read, PUT,
verifying read; the same event and queue as bench_first_invocation.py). Pairs are interleaved
(with, without, ...) and the medians of 11 pairs compared: spawn-to-exit wall time, the child's
CPU time (steadier on a shared machine) and the ``import index`` time inside the child. Without
bytecode every module, ours and the dependencies', is compiled from source in every sample,
because nothing may be written next to it: that is what an SCF cold start paid.
"""

from __future__ import annotations

import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import bench_first_invocation as first
from _emulator import Emulator
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.deploy import packaging

PAIRS = 11
FUNCTION = "scheduler"


def unpack(built: Path, where: Path, *, keep_pyc: bool) -> tuple[Path, Path]:
    """The layer at ``where/opt`` and the function at ``where/var_user``, read-only."""
    opt, code = where / "opt", where / "var_user"
    for zip_name, folder in ((packaging.LAYER_ZIP, opt), (f"{FUNCTION}.zip", code)):
        with zipfile.ZipFile(built / zip_name) as zf:
            zf.extractall(folder)
    if not keep_pyc:
        for pyc in where.rglob("*.pyc"):
            pyc.unlink()
    for folder in (opt, code):
        for path in sorted(folder.rglob("*"), reverse=True):
            path.chmod(0o555 if path.is_dir() else 0o444)
        folder.chmod(0o555)
    return opt, code


class Tree:
    """One unpacked layer + function, run by a fresh Python 3.10 per sample."""

    def __init__(self, name: str, python: str, opt: Path, code: Path, emulator: Emulator, tmp: Path) -> None:
        self.name, self.python, self.code = name, python, code
        self.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp),
            "TMPDIR": str(tmp),
            "PYTHONPATH": f"{code}:{opt}",
            "PYTHONDONTWRITEBYTECODE": "x",
            "TZ": "Asia/Shanghai",
            "TENCENTCLOUD_SECRETID": DEMO_SECRET_ID,
            "TENCENTCLOUD_SECRETKEY": DEMO_SECRET_KEY,
            "TENCENTCLOUD_REGION": first.REGION,
            "CIQUEUE_ENDPOINT": emulator.endpoint,
            "CIQUEUE_STATE_FILE": str(tmp / f"{name}-state.json"),
            "CIQUEUE_LOG_LEVEL": "WARNING",
        }
        self.given = json.dumps(first.timer_input())

    def run(self) -> tuple[float, float, float]:
        """(wall seconds spawn to exit, CPU seconds of the child, import index ms)."""
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_before = usage.ru_utime + usage.ru_stime
        started = time.perf_counter()
        done = subprocess.run(
            [self.python, "-S", "-s", "-c", first.OURS],
            input=self.given,
            env=self.env,
            cwd=self.code,
            capture_output=True,
            text=True,
            timeout=60,
        )
        wall = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"{self.name} failed (exit {done.returncode}): {done.stderr[-2000:]}")
        reply: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        if not reply["result"].get("ok"):
            raise SystemExit(f"{self.name} answered {json.dumps(reply['result'])[:400]}")
        return wall, usage.ru_utime + usage.ru_stime - cpu_before, float(reply["import_ms"])


def sample(emulator: Emulator, tree: Tree) -> tuple[float, float, float]:
    first.seed(emulator)
    measured = tree.run()
    state = first.queue_state(emulator)
    if state != "Paused":
        raise SystemExit(f"{tree.name} left the queue {state}")
    return measured


def main() -> int:
    started = time.monotonic()
    runtime = packaging.find_runtime_python()
    if runtime.executable is None:
        print(f"bench_layer_import: {runtime.note}; nothing to compare", file=sys.stderr)
        return 0
    python = runtime.executable
    emulator = Emulator()
    tmp = Path(tempfile.mkdtemp(prefix="ciqueue-bench-layer-"))
    try:
        built = tmp / "dist"
        packaging.build_layer(built, runtime_python=runtime)
        packaging.build_function(FUNCTION, built, runtime_python=runtime)
        trees = [
            Tree(name, python, *unpack(built, tmp / name, keep_pyc=keep), emulator, tmp)
            for name, keep in (("with", True), ("without", False))
        ]
        for tree in trees:  # warm the disk cache once
            sample(emulator, tree)
        walls: dict[str, list[float]] = {t.name: [] for t in trees}
        cpus: dict[str, list[float]] = {t.name: [] for t in trees}
        imports: dict[str, list[float]] = {t.name: [] for t in trees}
        for _ in range(PAIRS):
            for tree in trees:
                wall, cpu, imported = sample(emulator, tree)
                walls[tree.name].append(wall * 1000)
                cpus[tree.name].append(cpu * 1000)
                imports[tree.name].append(imported)
        wall_m = {k: statistics.median(v) for k, v in walls.items()}
        cpu_m = {k: statistics.median(v) for k, v in cpus.items()}
        imp_m = {k: statistics.median(v) for k, v in imports.items()}
        print(
            f"{FUNCTION} cold start from the read-only unpacked zips, {python} "
            f"({PAIRS} interleaved pairs of fresh interpreters, median)"
        )
        for name, label in (("with", "with shipped .pyc"), ("without", "without .pyc (compiles)")):
            print(
                f"  {label:<24} {wall_m[name]:6.1f} ms spawn-to-exit, CPU {cpu_m[name]:6.1f} ms, "
                f"import index {imp_m[name]:6.1f} ms"
            )
        print(
            f"  ratio without/with: {wall_m['without'] / wall_m['with']:.2f}x wall, "
            f"{cpu_m['without'] / cpu_m['with']:.2f}x CPU, {imp_m['without'] / imp_m['with']:.2f}x import; "
            f"the bytecode saves {cpu_m['without'] - cpu_m['with']:.0f} ms of CPU per cold start"
        )
    finally:
        emulator.stop()
        for path in sorted(tmp.rglob("*"), reverse=True):  # read-only trees: writable to remove
            if path.is_dir():
                path.chmod(0o755)
        tmp.chmod(0o755)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(first.PYCACHE, ignore_errors=True)  # bench_first_invocation's, made at import
    print(f"(total {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

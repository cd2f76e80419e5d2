"""Packaging: dependency list, deterministic zips, function zips, and the layer run as SCF runs it.

The end-to-end test builds the layer exactly as shipped (cp310 manylinux2014 x86_64 wheels, from
the wheel cache ~/.cache/ciqueue/wheels; the first run downloads them from PyPI), unpacks it to
``opt/`` and each function to ``var_user/<name>/``, and calls every handler in a fresh Python
3.10 that sees nothing but those two folders, as SCF's ``PYTHONPATH=/var/user:/opt`` does.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from ciqueue import limits
from ciqueue.deploy import packaging
from ciqueue.errors import InvalidInput, Problem
from ciqueue.limits import SCF_MAX_ZIP_BYTES

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("automation", "http_toggle", "scheduler", "worker")
PLACEHOLDER_MARK = "ciqueue-placeholder"
RUNTIME_MODULES = (
    "ciqueue",
    "pydantic",
    "pydantic_core",
    "requests",
    "urllib3",
    "charset_normalizer",
    "idna",
    "certifi",
    "xmltodict",
    "yaml",
    "tzdata",
)


# --- dependencies ---------------------------------------------------------------------------


def test_read_dependencies_matches_tomllib() -> None:
    tomllib = pytest.importorskip("tomllib")
    with open(ROOT / "pyproject.toml", "rb") as fh:
        expected = tomllib.load(fh)["project"]["dependencies"]
    assert packaging.read_dependencies(ROOT / "pyproject.toml") == expected


def test_the_layer_carries_the_scf_extra_as_tomllib_reads_it() -> None:
    tomllib = pytest.importorskip("tomllib")
    with open(ROOT / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    expected = project["dependencies"] + project["optional-dependencies"]["scf"]
    assert packaging.LAYER_EXTRAS == ("scf",)
    assert packaging.read_dependencies(ROOT / "pyproject.toml", packaging.LAYER_EXTRAS) == expected
    assert any(r.startswith("tencentcloud-sdk-python-scf") for r in expected)


def test_read_dependencies_of_an_extra_skip_the_project_itself(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["requests"]\n'
        "[project.optional-dependencies]\n"
        'scf = [\n    "sdk-a>=1",  # why\n    "sdk-b",\n]\n'
        'dev = ["ciqueue[scf]", "pytest"]\n'
    )
    assert packaging.read_dependencies(pyproject, ("scf",)) == ["requests", "sdk-a>=1", "sdk-b"]
    assert packaging.read_dependencies(pyproject, ("dev",)) == ["requests", "pytest"]
    with pytest.raises(InvalidInput, match=r"optional-dependencies.nope: is not defined"):
        packaging.read_dependencies(pyproject, ("nope",))


def test_read_dependencies_handles_comments_extras_and_other_sections(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        "[tool.other]\n"
        'dependencies = ["not-this"]\n'
        "[project]\n"
        'name = "x"\n'
        "dependencies = [\n"
        "    # a comment with ] in it\n"
        '    "requests[socks]>=2.28",  # trailing comment\n'
        "    'xmltodict>=0.13', \"pydantic>=2.5,<3\",\n"
        "]\n"
        "[project.optional-dependencies]\n"
        'dev = ["pytest"]\n'
    )
    assert packaging.read_dependencies(pyproject) == [
        "requests[socks]>=2.28",
        "xmltodict>=0.13",
        "pydantic>=2.5,<3",
    ]


def test_read_dependencies_without_any_is_invalid(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\n')
    with pytest.raises(InvalidInput) as info:
        packaging.read_dependencies(pyproject)
    assert info.value.problems == [Problem("pyproject.toml.project.dependencies", "found no dependencies")]


# --- zips -------------------------------------------------------------------------------------


def test_write_zip_is_deterministic(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "b").mkdir(parents=True)
    (tree / "b" / "z.py").write_text("z = 1\n")
    (tree / "a.py").write_text("a = 1\n")
    (tree / "run.sh").write_text("#!/bin/sh\n")
    (tree / "run.sh").chmod(0o755)
    first = packaging.write_zip(tree, tmp_path / "one.zip").read_bytes()
    os.utime(tree / "a.py", (1_700_000_000, 1_700_000_000))  # a different mtime changes nothing
    second = packaging.write_zip(tree, tmp_path / "two.zip").read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "one.zip") as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == ["a.py", "b/z.py", "run.sh"]
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        modes = {i.filename: stat.S_IMODE(i.external_attr >> 16) for i in infos}
        assert modes == {"a.py": 0o644, "b/z.py": 0o644, "run.sh": 0o755}
        assert zf.read("b/z.py") == b"z = 1\n"


def test_build_function_puts_folder_contents_at_zip_root(tmp_path: Path) -> None:
    root = tmp_path / "checkout"
    (root / "shared" / "ciqueue").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "ciqueue"\n')
    source = root / "functions" / "worker"
    (source / "__pycache__").mkdir(parents=True)
    (source / "__pycache__" / "index.cpython-311.pyc").write_bytes(b"junk")
    (source / "index.py").write_text("def main_handler(event, context):\n    return {}\n")
    (source / "serverless.yml").write_text("component: scf\n")
    (source / "helpers").mkdir()
    (source / "helpers" / "text.py").write_text("X = 1\n")
    config = tmp_path / "my-config.yml"
    config.write_text("version: 1\n")

    no_bytecode = packaging.RuntimePython("3.10", None)  # the shipped pyc: tests further down
    path = packaging.build_function(
        "worker", tmp_path / "out", root=root, config=config, runtime_python=no_bytecode
    )

    assert path == tmp_path / "out" / "worker.zip"
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["ciqueue.yml", "helpers/text.py", "index.py"]
        assert zf.read("ciqueue.yml") == b"version: 1\n"
        assert zf.read("index.py") == (source / "index.py").read_bytes()
    # The unpacked copy is what functions/worker/serverless.yml's src points at.
    staged = tmp_path / "out" / "functions" / "worker"
    assert sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()) == [
        "ciqueue.yml",
        "helpers/text.py",
        "index.py",
    ]


def test_build_function_unknown_name_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        packaging.build_function("nope", tmp_path)
    assert info.value.problems == [Problem("functions.nope", "functions/nope/index.py does not exist")]


def test_oversized_zip_fails_and_leaves_nothing_to_deploy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "SCF_MAX_ZIP_BYTES", 100)
    out = tmp_path / "out"
    with pytest.raises(InvalidInput) as info:
        packaging.package_all(out, skip_layer=True)
    sizes = {p.field: p.rule for p in info.value.problems}
    assert sorted(sizes) == [f"package.{name}" for name in FUNCTIONS]
    for rule in sizes.values():
        assert rule.startswith("zip is ") and rule.endswith(" bytes; SCF accepts at most 100 bytes")
    assert not list(out.glob("*.zip"))
    assert not list((out / "functions").iterdir())


def test_package_main_prints_size_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert packaging.main(["--out", str(tmp_path), "--skip-layer"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["artifact", "zip", "unpacked"]
    assert [line.split()[0] for line in lines[1:5]] == list(FUNCTIONS)
    for name in FUNCTIONS:
        assert (tmp_path / f"{name}.zip").is_file()


# --- the layer, run as SCF runs it ------------------------------------------------------------


def _python310() -> str | None:
    """A working CPython 3.10 (the wheels are cp310; pydantic_core is compiled)."""
    candidates = [os.environ.get("CIQUEUE_PYTHON310"), shutil.which("python3.10")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10*/bin/python3.10")))
    for exe in candidates:
        if not exe:
            continue
        probe = subprocess.run(
            [exe, "-c", "import sys; print(sys.version_info[:2] == (3, 10))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return exe
    return None


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    packaging.build_layer(out)
    for name in FUNCTIONS:
        packaging.build_function(name, out)
    return out


@pytest.mark.slow
def test_layer_holds_packages_at_its_root(built: Path) -> None:
    layer_zip = built / packaging.LAYER_ZIP
    assert layer_zip.stat().st_size < SCF_MAX_ZIP_BYTES
    with zipfile.ZipFile(layer_zip) as zf:
        names = zf.namelist()
    tops = {n.split("/", 1)[0] for n in names}
    for module in ("ciqueue", "pydantic", "pydantic_core", "requests", "yaml", "tzdata", "tencentcloud"):
        assert module in tops
    assert "python" not in tops and "bin" not in tops
    assert "ciqueue/__init__.py" in names
    for left_out in ("emulator", "dev", "deploy", "cli"):
        assert not [n for n in names if n.startswith(f"ciqueue/{left_out}/")], left_out
    assert "ciqueue/__main__.py" not in names
    for shipped in ("ci", "schedule", "state", "envelopes", "app", "api"):
        assert f"ciqueue/{shipped}/__init__.py" in names
    assert not [n for n in names if n.endswith(".dist-info/RECORD")]
    native = [n for n in names if n.endswith(".so")]
    assert any(n.startswith("pydantic_core/") for n in native)
    assert all(n.endswith(".cpython-310-x86_64-linux-gnu.so") for n in native), native


def _pyc_of(name: str) -> str:
    folder, _, module = name.rpartition("/")
    return f"{folder}/__pycache__/{module[:-3]}.cpython-310.pyc".lstrip("/")


@pytest.mark.slow
def test_the_layer_and_functions_carry_unchecked_hash_bytecode_of_python310(built: Path) -> None:
    python = _python310()
    if python is None:
        pytest.skip("no CPython 3.10 interpreter (set CIQUEUE_PYTHON310): nothing compiles the bytecode")
    magic = subprocess.run(
        [python, "-c", "import importlib.util; print(importlib.util.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for artifact in (packaging.LAYER_ZIP, *(f"{name}.zip" for name in FUNCTIONS)):
        with zipfile.ZipFile(built / artifact) as zf:
            names = zf.namelist()
            sources = [n for n in names if n.endswith(".py")]
            pycs = sorted(n for n in names if n.endswith(".pyc"))
            # One pyc for every module, in the place the 3.10 loader looks, and nothing else.
            assert sources and pycs == sorted(_pyc_of(n) for n in sources), artifact
            assert names == sorted(names, key=lambda n: n.split("/")), artifact  # still sorted, by folder
            for name in pycs:
                header = zf.read(name)[:16]
                assert header[:4].hex() == magic, name
                # PEP 552 flags: 0b01 = hash-based, check_source off (unchecked).
                assert int.from_bytes(header[4:8], "little") == 0b01, name
                assert zf.getinfo(name).date_time == (1980, 1, 1, 0, 0, 0)


@pytest.mark.slow
def test_bytecode_is_reproducible_and_records_scf_paths(built: Path, tmp_path: Path) -> None:
    python = _python310()
    if python is None:
        pytest.skip("no CPython 3.10 interpreter (set CIQUEUE_PYTHON310)")
    again = tmp_path / "again"
    packaging.build_function("scheduler", again)
    assert (again / "scheduler.zip").read_bytes() == (built / "scheduler.zip").read_bytes()
    pyc = built / "functions" / "scheduler" / "__pycache__" / "index.cpython-310.pyc"
    shown = subprocess.run(
        [
            python,
            "-c",
            "import marshal, sys; print(marshal.loads(open(sys.argv[1], 'rb').read()[16:]).co_filename)",
            str(pyc),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert shown == "/var/user/index.py"


@pytest.mark.slow
def test_python310_imports_the_read_only_layer_without_compiling(built: Path, tmp_path: Path) -> None:
    """A cold start as on SCF (read-only /opt and /var/user, -B off) loads every module of ours
    and of the dependencies from the shipped pyc: the source compiler is never called. The same
    layer without its pyc files compiles each one, so the probe does see compiling."""
    python = _python310()
    if python is None:
        pytest.skip("no CPython 3.10 interpreter (set CIQUEUE_PYTHON310)")
    shipped = _import_probe(python, built, tmp_path / "shipped", strip_pyc=False)
    assert shipped["compiled"] == []
    assert shipped["loaded"] > 100  # Python modules of ciqueue, pydantic, requests, ... from the zips
    assert shipped["index_cached"] == str(
        tmp_path / "shipped" / "var_user" / "__pycache__" / "index.cpython-310.pyc"
    )
    stripped = _import_probe(python, built, tmp_path / "stripped", strip_pyc=True)
    assert "index" in stripped["compiled"] and "ciqueue.ci.client" in stripped["compiled"]
    # Without them every loaded module compiles (and one more that an import dropped again).
    assert len(stripped["compiled"]) >= shipped["loaded"] == stripped["loaded"]


def _import_probe(python: str, built: Path, where: Path, *, strip_pyc: bool) -> dict[str, Any]:
    opt, code = where / "opt", where / "var_user"
    for zip_name, folder in ((packaging.LAYER_ZIP, opt), ("scheduler.zip", code)):
        with zipfile.ZipFile(built / zip_name) as zf:
            zf.extractall(folder)
    if strip_pyc:
        for pyc in where.rglob("*.pyc"):
            pyc.unlink()
    _make_read_only(opt)
    _make_read_only(code)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(where), "PYTHONPATH": f"{code}:{opt}"}
    result = subprocess.run(
        [python, "-S", "-s", "-c", _COMPILE_PROBE, str(where)],
        cwd=code,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    assert report["dont_write_bytecode"] is False  # -B off: only read-only folders keep it from writing
    return report


_COMPILE_PROBE = """
import importlib, importlib._bootstrap_external as ext, json, pkgutil, sys
compiled = []
original = ext.SourceLoader.source_to_code
def counting(self, data, path, *, _optimize=-1):
    compiled.append(self.name)
    return original(self, data, path, _optimize=_optimize)
ext.SourceLoader.source_to_code = counting
import index
import ciqueue
for info in pkgutil.walk_packages(ciqueue.__path__, "ciqueue."):
    importlib.import_module(info.name)
for name in ("pydantic", "requests", "yaml", "xmltodict"):
    importlib.import_module(name)
where = sys.argv[1]
files = [getattr(m, "__file__", None) or "" for m in list(sys.modules.values())]
loaded = sorted({f for f in files if f.startswith(where) and f.endswith(".py")})  # not the .so
print(json.dumps({"compiled": compiled, "loaded": len(loaded), "index_cached": index.__cached__,
                  "dont_write_bytecode": sys.dont_write_bytecode}))
"""


@pytest.mark.slow
def test_every_handler_runs_from_the_layer_in_python310(built: Path, tmp_path: Path) -> None:
    python = _python310()
    if python is None:
        pytest.skip("no CPython 3.10 interpreter (set CIQUEUE_PYTHON310): the layer's wheels are cp310")
    opt = tmp_path / "opt"
    with zipfile.ZipFile(built / packaging.LAYER_ZIP) as zf:
        zf.extractall(opt)
    home = tmp_path / "home"
    home.mkdir()
    event = {"Type": "Timer", "TriggerName": "reconcile", "Time": "2024-05-01T02:00:00Z", "Message": ""}
    for name in FUNCTIONS:
        code = tmp_path / "var_user" / name
        with zipfile.ZipFile(built / f"{name}.zip") as zf:
            zf.extractall(code)
        _make_read_only(code)  # /var/user is read-only on SCF
        context = {
            "request_id": "00000000-0000-0000-0000-000000000000",
            "function_name": f"ciqueue-{name}-dev",
            "function_version": "$LATEST",
            "namespace": "default",
            "memory_limit_in_mb": 256,
            "time_limit_in_ms": 3000,
            "tencentcloud_region": "ap-guangzhou",
            "environ": "SCF_NAMESPACE=default",
        }
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "TMPDIR": str(tmp_path),
            "PYTHONPATH": f"{code}:{opt}",
            "PYTHONDONTWRITEBYTECODE": "x",
            "TZ": "Asia/Shanghai",
        }
        result = subprocess.run(
            [
                python,
                "-S",
                "-s",
                "-c",
                _PROBE,
                json.dumps(event),
                json.dumps(context),
                json.dumps(RUNTIME_MODULES),
            ],
            cwd=code,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, f"{name}: {result.stderr[-2000:]}"
        report = json.loads(result.stdout.splitlines()[-1])
        assert report["version"] == [3, 10]
        assert report["index"] == str(code / "index.py")
        for module in RUNTIME_MODULES:
            assert report["modules"][module].startswith(str(opt) + "/"), (name, module)
        # Every module the layer carries imports there: nothing needs what was left out.
        assert report["import_errors"] == {}
        if PLACEHOLDER_MARK in (ROOT / "functions" / name / "index.py").read_text():
            assert report["result"] == {"ok": True, "function": name}
        else:
            assert isinstance(report["result"], dict), (name, report["result"])


# --- without a Python 3.10 ---------------------------------------------------------------------


def _fake_python(tmp_path: Path, version: str) -> Path:
    fake = tmp_path / f"fake-python{version}"
    fake.write_text(f"#!/bin/sh\necho {version}\n")
    fake.chmod(0o755)
    return fake


def test_a_runtime_python_of_another_version_builds_without_bytecode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = _fake_python(tmp_path, "3.9")
    out = tmp_path / "out"
    assert packaging.main(["--out", str(out), "--skip-layer", "--runtime-python", str(fake)]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"ciqueue package: --runtime-python {fake} is Python 3.9, not 3.10: built without bytecode "
        "(SCF compiles every module from source on each cold start)"
    ]
    for name in FUNCTIONS:
        with zipfile.ZipFile(out / f"{name}.zip") as zf:
            assert "index.py" in zf.namelist()
            assert not [n for n in zf.namelist() if n.endswith(".pyc") or "__pycache__" in n]


def test_no_python310_anywhere_builds_without_bytecode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # This interpreter is "3.11", PATH holds no python3.10 and ~ no pyenv.
    monkeypatch.setattr(sys, "executable", str(_fake_python(tmp_path, "3.11")))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path))
    found = packaging.find_runtime_python()
    assert found.executable is None
    out = tmp_path / "out"
    assert packaging.main(["--out", str(out), "--skip-layer"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "ciqueue package: no Python 3.10 interpreter found (python3.10 on PATH, ~/.pyenv, or "
        "--runtime-python PATH): built without bytecode (SCF compiles every module from source on each "
        "cold start)"
    ]
    with zipfile.ZipFile(out / "scheduler.zip") as zf:
        assert zf.namelist() == ["index.py"]


@pytest.mark.slow
def test_the_layer_without_python310_carries_no_bytecode(tmp_path: Path) -> None:
    none = packaging.RuntimePython("3.10", None, "no interpreter")
    with zipfile.ZipFile(packaging.build_layer(tmp_path, runtime_python=none)) as zf:
        names = zf.namelist()
    assert "ciqueue/__init__.py" in names
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]


def _make_read_only(folder: Path) -> None:
    for path in folder.rglob("*"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    folder.chmod(0o555)


_PROBE = """
import importlib, json, pkgutil, sys
event, context, wanted = (json.loads(arg) for arg in sys.argv[1:4])
import index
result = index.main_handler(event, context)
import ciqueue
modules = {m: importlib.import_module(m).__file__ for m in wanted}
errors = {}
for info in pkgutil.walk_packages(ciqueue.__path__, "ciqueue."):
    if info.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        errors[info.name] = f"{type(exc).__name__}: {exc}"
report = {"result": result, "modules": modules, "import_errors": errors,
          "index": index.__file__, "version": list(sys.version_info[:2])}
print(json.dumps(report, default=str))
"""

"""Build what SCF runs: the layer zip (ciqueue, its dependencies and the extras in
``LAYER_EXTRAS``) and one zip per function.

The layer holds packages at its ROOT because SCF unpacks layers to ``/opt`` and runs Python
with ``PYTHONPATH=/var/user:/opt``. Dependencies come from wheels for the SCF platform
(CPython 3.10, manylinux2014 x86_64), never from the build machine's interpreter. Zips are
deterministic: sorted entries, fixed timestamps and permissions, so an unchanged input gives
the same bytes. Each zip is also unpacked next to it (``dist/layer/``, ``dist/functions/<name>/``),
the folders the serverless.yml ``src`` entries point at. The layer's ``ciqueue`` leaves out the
tooling and the emulator (``LAYER_EXCLUDED_SUBPACKAGES``): it carries only what functions run.
The files it builds from (serverless.yml, functions/, pyproject.toml, the package) are
``ciqueue.deploy.project``'s: a checkout's, or the copy an installed package carries, whose build
goes to ``./dist`` (never among the installed files).

Both zips ship bytecode: on SCF ``/opt`` and ``/var/user`` are read-only (and
``PYTHONDONTWRITEBYTECODE`` is set), so a module without a ``.pyc`` is compiled from source on every
cold start. Every ``.py`` gets ``__pycache__/<mod>.cpython-310.pyc`` compiled by the runtime's own
minor version (bytecode is version-specific) as an *unchecked-hash* pyc (PEP 552): the loader
trusts it without looking at the source's mtime, which the zip fixes at 1980 anyway. The compiler
is ``--runtime-python``, else the packaging interpreter if it is the runtime's version, else
``python3.10`` on PATH or under ~/.pyenv; with none, the zips carry no bytecode and one line on
stderr says so (the package still builds). Compiling is reproducible too: ``PYTHONHASHSEED=0``
(set constants keep one order) and source paths recorded as ``/opt/...`` and ``/var/user/...``,
never the build folder.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ciqueue import limits
from ciqueue.deploy.project import find_project
from ciqueue.errors import CiQueueError, InvalidInput, PackagingError, Problem
from ciqueue.records import dataclass, field

# Told how a long build goes, as a short text (the CLI shows it on a terminal only).
Progress = Callable[[str], None]

LAYER_ZIP = "ciqueue-layer.zip"
DEFAULT_PLATFORM = "manylinux2014_x86_64"
DEFAULT_PYTHON_VERSION = "3.10"
CONFIG_NAME = "ciqueue.yml"  # where a bundled config lands in a function (/var/user/ciqueue.yml)
# The layer carries only what the functions run: the tooling (local runtime, packaging, the
# command line) and the emulator, which stands in for CI in tests and local mode, stay out.
# Nothing a function imports may need them (tests/deploy/test_packaging.py imports every module of the
# built layer in a clean interpreter, and none may fail).
LAYER_EXCLUDED_SUBPACKAGES = ("cli", "deploy", "dev", "emulator")
# ``python -m ciqueue`` is the command line (ciqueue.cli), which the layer does not carry.
LAYER_EXCLUDED_MODULES = ("__main__.py",)
# Extras the layer carries beside [project] dependencies: ``scf`` is what the scheduler's fan-out
# (CIQUEUE_INVOKER=scf, set by its serverless.yml) imports. It is imported only when a shard is
# dispatched, so carrying it costs the other functions disk space, not cold-start time.
LAYER_EXTRAS = ("scf",)
_JUNK_DIRS = {"__pycache__", "tests", "test", ".pytest_cache", ".mypy_cache"}
_JUNK_SUFFIXES = (".pyc", ".pyo")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold
_QUOTED_RE = re.compile(r"\"([^\"]*)\"|'([^']*)'")
LAYER_ROOT = "/opt"  # where SCF unpacks layers: the path the layer's bytecode records
CODE_ROOT = "/var/user"  # where SCF unpacks a function's code


@dataclass(frozen=True)
class RuntimePython:
    """The interpreter that compiles the zips' bytecode (``executable``), or why there is none
    (``note``, one line: the zips then carry no ``.pyc``)."""

    version: str
    executable: str | None
    note: str | None = None


@dataclass
class PackageReport:
    """What ``package_all`` built: zip sizes and unpacked sizes in bytes, by artifact name."""

    out_dir: Path
    sizes: dict[str, int] = field(default_factory=dict)
    unpacked: dict[str, int] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    bytecode: RuntimePython | None = None  # who compiled the .pyc files, or why none were

    def table(self) -> str:
        rows = [("artifact", "zip", "unpacked")]
        rows += [(name, _size(self.sizes[name]), _size(self.unpacked[name])) for name in sorted(self.sizes)]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}" for r in rows]
        return "\n".join(lines)


def read_dependencies(pyproject: Path, extras: Sequence[str] = ()) -> list[str]:
    """``[project] dependencies`` of a pyproject.toml, then those of each named extra in
    ``[project.optional-dependencies]``, read without tomllib (3.11+ only).

    Handles the list form this project uses: one quoted requirement per line, comments allowed.
    A requirement naming this project itself (``ciqueue[scf]`` in ``dev``) is left out.
    """
    wanted = {("project", "dependencies")} | {("project.optional-dependencies", e) for e in extras}
    lists: dict[tuple[str, str], list[str]] = {}
    section = ""
    collecting: tuple[str, str] | None = None
    for raw in pyproject.read_text(encoding="utf-8").splitlines():
        line = _strip_comment(raw)
        if collecting is None:
            if line.startswith("[") and line.endswith("]"):
                section = line.strip("[]").strip()
                continue
            match = re.match(r"([A-Za-z0-9_.-]+)\s*=\s*\[", line)
            if match is None or (section, match.group(1)) not in wanted:
                continue
            collecting = (section, match.group(1))
            lists[collecting] = []
            line = line.split("[", 1)[1]
        lists[collecting] += [a or b for a, b in _QUOTED_RE.findall(line)]
        if _closes_list(line):
            collecting = None
    found = lists.get(("project", "dependencies"), [])
    if not found:
        raise InvalidInput("pyproject.toml.project.dependencies", "found no dependencies")
    for extra in extras:
        if ("project.optional-dependencies", extra) not in lists:
            raise InvalidInput(f"pyproject.toml.project.optional-dependencies.{extra}", "is not defined")
        found += [r for r in lists[("project.optional-dependencies", extra)] if not r.startswith("ciqueue")]
    return found


def build_layer(
    out_dir: str | Path,
    python_version: str = DEFAULT_PYTHON_VERSION,
    platform: str = DEFAULT_PLATFORM,
    *,
    root: Path | None = None,
    cache_dir: Path | None = None,
    refresh: bool = False,
    progress: Progress | None = None,
    runtime_python: RuntimePython | None = None,
) -> Path:
    """Build ``out_dir/ciqueue-layer.zip`` (and ``out_dir/layer/``) for the SCF Python runtime,
    with bytecode compiled by ``runtime_python`` (default: ``find_runtime_python(python_version)``);
    ``progress`` (optional) is told each wheel pip collects while it downloads."""
    project = find_project(root)
    out = Path(out_dir).resolve()
    stage = out / "layer"
    _reset(stage)
    requirements = read_dependencies(project.root / "pyproject.toml", LAYER_EXTRAS)
    cache = (cache_dir or default_cache_dir()).expanduser()
    _install_wheels(requirements, stage, cache, python_version, platform, refresh, progress)
    _prune(stage)
    _copy_tree(
        project.package,
        stage / "ciqueue",
        exclude_top=(*LAYER_EXCLUDED_SUBPACKAGES, *LAYER_EXCLUDED_MODULES),
    )
    _check_native_modules(stage, python_version)
    compile_bytecode(stage, runtime_python or find_runtime_python(python_version), LAYER_ROOT)
    return write_zip(stage, out / LAYER_ZIP)


def build_function(
    name: str,
    out_dir: str | Path,
    *,
    root: Path | None = None,
    config: Path | None = None,
    runtime_python: RuntimePython | None = None,
) -> Path:
    """Build ``out_dir/<name>.zip`` (and ``out_dir/functions/<name>/``): the function folder's
    contents at the zip root, without serverless.yml and caches, plus ``config`` as ciqueue.yml,
    and bytecode as in ``build_layer``."""
    source = find_project(root).functions_dir / name
    if not (source / "index.py").is_file():
        raise InvalidInput(f"functions.{name}", f"functions/{name}/index.py does not exist")
    out = Path(out_dir).resolve()
    stage = out / "functions" / name
    _reset(stage)
    _copy_tree(source, stage, exclude_top=("serverless.yml",))
    if config is not None:
        if not config.is_file():
            raise InvalidInput("config", f"{config} is not a file")
        shutil.copyfile(config, stage / CONFIG_NAME)
    compile_bytecode(stage, runtime_python or find_runtime_python(), CODE_ROOT)
    return write_zip(stage, out / f"{name}.zip")


def package_all(
    out_dir: str | Path,
    *,
    root: Path | None = None,
    skip_layer: bool = False,
    config: Path | None = None,
    cache_dir: Path | None = None,
    refresh: bool = False,
    progress: Progress | None = None,
    runtime_python: str | Path | None = None,
) -> PackageReport:
    """Check serverless.yml, then build the layer and every function it declares, their bytecode
    compiled by ``runtime_python`` or the interpreter ``find_runtime_python`` finds (``report.bytecode``).

    Raises InvalidInput when the descriptor breaks a rule or a zip exceeds SCF's 50 MB upload
    limit (or a function plus the layer exceeds 500 MB unpacked).
    """
    from ciqueue.deploy import scfyml

    project = find_project(root)
    dep = scfyml.load_serverless(project.root, environ=os.environ)
    scfyml.require_valid(dep)
    out = Path(out_dir).resolve()
    report = PackageReport(out_dir=out, bytecode=find_runtime_python(explicit=runtime_python))
    if config is None and project.checkout and (project.root / CONFIG_NAME).is_file():
        config = project.root / CONFIG_NAME
    if not project.checkout:
        report.notes.append(
            f"built from the deployment files this installed package carries ({project.root}); "
            "`scf deploy` reads the serverless.yml files beside dist/: deploy from a checkout, or "
            "run `ciqueue package` in a copy of that folder and deploy there"
        )
    if config is None:
        report.notes.append(f"no {CONFIG_NAME} bundled: pass --config FILE (functions read $CIQUEUE_CONFIG)")
    else:
        check_config(config)  # a config the scheduler would refuse on every tick is never bundled
    for fn in dep.functions:
        if fn.unresolved_env:
            names = ", ".join(sorted(set(fn.unresolved_env)))
            report.notes.append(f"{fn.key}: set {names} in the deploying shell before `scf deploy`")

    if not skip_layer:
        _record(
            report,
            "layer",
            build_layer(
                out,
                root=root,
                cache_dir=cache_dir,
                refresh=refresh,
                progress=progress,
                runtime_python=report.bytecode,
            ),
            out / "layer",
        )
    for fn in dep.functions:
        path = build_function(fn.key, out, root=root, config=config, runtime_python=report.bytecode)
        _record(report, fn.key, path, out / "functions" / fn.key)

    problems = _size_problems(report, [fn.key for fn in dep.functions])
    if problems:
        # Leave nothing `scf deploy` could pick up from a rejected build.
        for name, path in report.paths.items():
            path.unlink(missing_ok=True)
            shutil.rmtree(out / "layer" if name == "layer" else out / "functions" / name, ignore_errors=True)
        raise InvalidInput(problems)
    return report


def check_config(path: Path) -> None:
    """InvalidInput with ``config check``'s problems (the same loader) when ``path`` is no valid config."""
    from datetime import datetime, timezone

    from ciqueue.schedule.load import load_config

    if not path.is_file():
        raise InvalidInput("config", f"{path} is not a file")
    load_config(path.read_text(encoding="utf-8"), now=datetime.now(timezone.utc))


def _size_problems(report: PackageReport, functions: list[str]) -> list[Problem]:
    zip_limit = limits.SCF_MAX_ZIP_BYTES
    problems = [
        Problem(f"package.{name}", f"zip is {size} bytes; SCF accepts at most {zip_limit} bytes")
        for name, size in sorted(report.sizes.items())
        if size > zip_limit
    ]
    unpacked_limit = limits.SCF_MAX_UNZIPPED_BYTES
    for key in functions:
        total = report.unpacked[key] + report.unpacked.get("layer", 0)
        if total > unpacked_limit:
            rule = f"{total} bytes unpacked with the layer; SCF allows at most {unpacked_limit} bytes"
            problems.append(Problem(f"package.{key}", rule))
    return problems


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ciqueue" / "wheels"


def find_runtime_python(
    version: str = DEFAULT_PYTHON_VERSION, explicit: str | Path | None = None
) -> RuntimePython:
    """The interpreter of the runtime's minor ``version`` that compiles the bytecode: ``explicit``
    (``--runtime-python``) alone when given, else the first that is that version of: this
    interpreter, ``python<version>`` on PATH, ``~/.pyenv/versions/<version>*/bin/python<version>``.
    None found (or ``explicit`` is another version): no executable and a note saying so."""
    if explicit is not None:
        found = _python_version(str(explicit))
        if found == version:
            return RuntimePython(version, str(explicit))
        what = "does not run" if found is None else f"is Python {found}"
        return RuntimePython(version, None, f"--runtime-python {explicit} {what}, not {version}: {_NO_PYC}")
    candidates = [sys.executable, shutil.which(f"python{version}")]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python{version}")))
    for exe in candidates:
        if exe and _python_version(exe) == version:
            return RuntimePython(version, exe)
    return RuntimePython(
        version,
        None,
        f"no Python {version} interpreter found (python{version} on PATH, ~/.pyenv, or "
        f"--runtime-python PATH): {_NO_PYC}",
    )


_NO_PYC = "built without bytecode (SCF compiles every module from source on each cold start)"


def compile_bytecode(stage: Path, runtime: RuntimePython, recorded_root: str) -> bool:
    """Compile every ``.py`` under ``stage`` to an unchecked-hash ``__pycache__`` pyc with
    ``runtime``'s interpreter, recording source paths under ``recorded_root`` (where SCF unpacks
    it). False, compiling nothing, when ``runtime`` has no interpreter. A module the runtime
    cannot compile raises PackagingError: it would fail on SCF as well."""
    if runtime.executable is None:
        return False
    cmd = [
        runtime.executable,
        "-m",
        "compileall",
        "-q",
        "-f",
        "--invalidation-mode",
        "unchecked-hash",
        "-s",
        str(stage),
        "-p",
        recorded_root,
        str(stage),
    ]
    # A clean environment: nothing of the build shell's PYTHONPATH, one hash seed for every build.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONHASHSEED": "0"}
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        raise PackagingError(
            f"compiling bytecode with {runtime.executable} failed: {_tail(result.stdout + result.stderr)}"
        )
    return True


def write_zip(folder: Path, target: Path) -> Path:
    """Zip ``folder``'s contents (paths relative to it) deterministically into ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    tmp = target.with_name(target.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the permission bits below are honoured
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    tmp.replace(target)
    return target


def main(argv: Sequence[str] | None = None, progress: Progress | None = None) -> int:
    """``ciqueue package [--out DIR] [--skip-layer] [--config FILE] [--refresh]``."""
    parser = argparse.ArgumentParser(
        prog="ciqueue package", description="Build the SCF layer and function zips."
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <checkout>/dist)")
    parser.add_argument("--skip-layer", action="store_true", help="build the function zips only")
    parser.add_argument("--config", type=Path, default=None, help=f"config file bundled as {CONFIG_NAME}")
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="wheel cache (default ~/.cache/ciqueue/wheels)"
    )
    parser.add_argument(
        "--refresh", action="store_true", help="download wheels again instead of using the cache"
    )
    parser.add_argument(
        "--runtime-python",
        default=None,
        metavar="PATH",
        help=f"Python {DEFAULT_PYTHON_VERSION} that compiles the zips' bytecode "
        "(default: this interpreter, or one on PATH or under ~/.pyenv)",
    )
    args = parser.parse_args(argv)
    if args.config is not None:
        try:
            check_config(args.config)
        except InvalidInput as exc:  # the lines ``ciqueue config check`` prints, and nothing built
            for problem in exc.problems:
                print(f"{args.config}: {problem}", file=sys.stderr)
            return 2
    try:
        project = find_project()
        # An installed package's copy lives among its files: its build goes to ./dist instead.
        out = args.out or (project.root if project.checkout else Path.cwd()) / "dist"
        report = package_all(
            out,
            root=project.root if project.checkout else None,
            skip_layer=args.skip_layer,
            config=args.config,
            cache_dir=args.cache_dir,
            refresh=args.refresh,
            progress=progress,
            runtime_python=args.runtime_python,
        )
    except InvalidInput as exc:
        print("ciqueue package: invalid input:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except CiQueueError as exc:
        print(f"ciqueue package: {exc}", file=sys.stderr)
        return 1
    if report.bytecode is not None and report.bytecode.note:
        print(f"ciqueue package: {report.bytecode.note}", file=sys.stderr)
    print(report.table())
    for note in report.notes:
        print(f"note: {note}")
    print(f"built in {report.out_dir}")
    return 0


# ---------------------------------------------------------------------------------------------


def _install_wheels(
    requirements: list[str],
    stage: Path,
    cache: Path,
    python_version: str,
    platform: str,
    refresh: bool,
    progress: Progress | None = None,
) -> None:
    """pip-install wheels for the target platform into ``stage``, fetching into ``cache`` only
    when the cache cannot satisfy the requirements (so warm builds need no network)."""
    target = [
        "--only-binary=:all:",
        "--platform",
        platform,
        "--python-version",
        python_version,
        "--implementation",
        "cp",
    ]
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    install = [*pip, "install", "--quiet", "--target", str(stage), "--no-compile", *target]
    offline = [*install, "--no-index", "--find-links", str(cache), *requirements]
    cache.mkdir(parents=True, exist_ok=True)
    if not refresh and _run(offline).returncode == 0:
        return
    _reset(stage)
    if progress is None:
        result = _run([*pip, "download", "--quiet", "--dest", str(cache), *target, *requirements])
    else:  # pip's own lines (Collecting x, Downloading x.whl), one at a time, as they come
        result = _run_reporting([*pip, "download", "--dest", str(cache), *target, *requirements], progress)
    if result.returncode != 0:
        raise PackagingError(f"pip download for {platform} cp{python_version} failed: {_tail(result.stderr)}")
    result = _run(offline)
    if result.returncode != 0:
        raise PackagingError(f"pip install from the wheel cache failed: {_tail(result.stderr)}")


def _python_version(exe: str) -> str | None:
    """``major.minor`` of the interpreter ``exe``, or None when it does not run."""
    try:
        probe = subprocess.run(
            [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return probe.stdout.strip() if probe.returncode == 0 else None


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _run_reporting(cmd: list[str], progress: Progress) -> subprocess.CompletedProcess[str]:
    """``_run``, telling ``progress`` each line ``cmd`` prints on stdout while it runs (stderr is
    kept whole in a file, so neither pipe can fill and stall the other)."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as errors:
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True) as proc:
            assert proc.stdout is not None
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if line.strip():
                    progress(f"layer wheels: {line.strip()}")
        errors.seek(0)
        return subprocess.CompletedProcess(cmd, proc.returncode, "".join(lines), errors.read())


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "(no output)"


def _prune(stage: Path) -> None:
    """Drop what the runtime never reads: console scripts (their shebangs name the build
    machine's python), caches, bundled test suites, and RECORD files (they list removed files)."""
    shutil.rmtree(stage / "bin", ignore_errors=True)
    for path in sorted(stage.rglob("*"), reverse=True):
        if path.is_dir() and path.name in _JUNK_DIRS:
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and (
            path.suffix in _JUNK_SUFFIXES
            or (path.name == "RECORD" and path.parent.name.endswith(".dist-info"))
        ):
            path.unlink()


def _copy_tree(source: Path, dest: Path, exclude_top: Iterable[str] = ()) -> None:
    skip_top = set(exclude_top)

    def ignore(folder: str, names: list[str]) -> set[str]:
        dropped = {
            n for n in names if n in _JUNK_DIRS or n.endswith(_JUNK_SUFFIXES) or n.endswith(".egg-info")
        }
        if Path(folder).resolve() == source.resolve():
            dropped |= skip_top & set(names)
        return dropped

    shutil.copytree(source, dest, ignore=ignore, dirs_exist_ok=True)


def _check_native_modules(stage: Path, python_version: str) -> None:
    """Refuse extension modules built for another interpreter (a host wheel slipping in)."""
    tag = "cpython-" + python_version.replace(".", "")
    wrong = [
        p.relative_to(stage).as_posix()
        for p in stage.rglob("*.so")
        if (".cpython-" in p.name and tag not in p.name) or "darwin" in p.name
    ]
    if wrong:
        raise PackagingError(
            f"extension modules for another platform in the layer: {', '.join(sorted(wrong)[:5])}"
        )


def _record(report: PackageReport, name: str, zip_path: Path, folder: Path) -> None:
    report.paths[name] = zip_path
    report.sizes[name] = zip_path.stat().st_size
    report.unpacked[name] = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _reset(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def _strip_comment(line: str) -> str:
    # A '#' inside quotes (e.g. a URL fragment) is not a comment.
    out, quote = [], ""
    for ch in line:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        out.append(ch)
    return "".join(out).strip()


def _closes_list(line: str) -> bool:
    unquoted = _QUOTED_RE.sub("", line)
    return "]" in unquoted


def _size(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.2f} MB"


if __name__ == "__main__":
    raise SystemExit(main())

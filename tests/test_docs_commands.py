"""Docs that cannot drift: every shell command README.md and docs/*.md show is run as written.

The convention (what a doc writer needs to know):

- **Runnable blocks** are fenced ```` ```sh ````, ```` ```bash ```` or ```` ```console ````. In sh and bash
  every line is a command (a trailing ``\\`` or an open ``(`` group continues it, ``# ...``
  outside quotes is a comment, a line that is only a comment is dropped). In console blocks only
  ``$ `` lines are commands; the lines after one, up to the next ``$ `` line or the block's end,
  are its expected output.
- **Illustrative blocks** are everything else: ```` ```text ````, ```` ```json ````, ```` ```yaml ````,
  ```` ```python ```` and unmarked fences (output samples, trees, payloads). They are never run.
- **A synopsis** (a line with ``[--opt]``, ``[A|B]`` or ``(A | B)`` grammar) cannot run as written;
  for ``ciqueue`` synopses the test checks that the subcommand exists and that every ``--flag``
  shown is in its ``--help``, so a renamed or removed option still fails here.
- **Where it runs**: in a temporary copy of the checkout's ``examples/``, ``functions/`` and
  ``serverless.yml`` (a fresh clone's root, where files may be written), with ``.venv``'s
  ``bin`` first on ``PATH`` (so ``ciqueue`` and ``python`` are this checkout's), the demo key pair
  in the environment and ``XDG_STATE_HOME``/``HOME`` in the temp dir (no state leaks to the user).
  ``make`` targets run in the checkout itself (they name its ``.venv``).
- **Ports**: the docs use 9000 (emulator), 9001 and 9080 (``ciqueue local``). Tests share the
  machine, so each documented port is replaced by a free one, the same one for the whole block;
  ``ciqueue local`` without ``--http-port`` gets a free one too (its default, 9080, could be taken).
- **Servers** (``ciqueue emulator``, ``ciqueue local``) are started, the test waits for their
  start-up line, runs the rest of the block against them, then stops them with Ctrl-C (SIGINT)
  and expects a clean exit. A block that dials ``127.0.0.1:9000`` without starting an emulator
  gets one started first, as its text says ("an emulator started with ``ciqueue emulator``").
- ``export NAME=...`` and ``NAME=...`` lines set the environment of the block's later commands
  (with the block's ports replaced, as in its commands).
- **Success** is exit 0, within ``COMMAND_TIMEOUT`` seconds. **Output** (console blocks) is compared
  line by line after stripping trailing blanks; in the expected text ``…`` stands for any run of
  characters (request ids, times, paths), the only placeholder.
- **Skipped** commands are in ``SKIP`` below (pattern → reason), each needing something this
  machine must not or cannot do: a cloud account, the network, root, minutes, or running the
  suite itself. Nothing else is skipped.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = {"sh", "bash", "console"}
# seconds: a hang guard, not a timing test (make demo takes ~9 s alone, over 20 s on a loaded 2-core box)
COMMAND_TIMEOUT = 90.0
SERVER_START_TIMEOUT = 15.0
DOC_PORTS = ("9000", "9001", "9080")
BIN = Path(sys.executable).parent

# Command (a regular expression matched at its start) → why it is not run here. Keep it short.
SKIP: dict[str, str] = {
    r"make test\b": "it is the suite this test is part of (it would run itself)",
    r"make lint\b": "the lint gate; `make lint` runs beside `make test`, not from inside it",
    r"make bench\b": "minutes of benchmarks; not a docs check",
    r"pip install\b": "installs into the environment and needs the package index (network)",
    r"apt-get\b": "needs root and the network",
    r"(cd functions && )?scf deploy\b": "needs a Tencent Cloud account",
    r"ciqueue package\b": "downloads the layer's manylinux wheels (network); tests/deploy/ covers it offline",
    r"curl .*\$URL": "dials a deployed function's URL",
}


@dataclass
class Command:
    text: str
    line: int
    expected: list[str] | None = None  # console blocks: the output the doc shows


@dataclass
class Block:
    doc: str
    line: int
    lang: str
    commands: list[Command] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def _strip_comment(line: str) -> str:
    """The line without a trailing ``# comment`` (a ``#`` inside quotes is kept)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def _sh_commands(body: list[str], first_line: int) -> list[Command]:
    commands: list[Command] = []
    pending = ""
    start = first_line
    for offset, raw in enumerate(body):
        line = _strip_comment(raw)
        if not line.strip():
            continue
        if not pending:
            start = first_line + offset
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        if (pending + line).count("(") > (pending + line).count(")"):  # a synopsis's open group
            pending += line.strip() + " "
            continue
        commands.append(Command((pending + line.strip()).strip(), start))
        pending = ""
    if pending:
        commands.append(Command(pending.strip(), start))
    return commands


def _console_commands(body: list[str], first_line: int) -> list[Command]:
    commands: list[Command] = []
    for offset, raw in enumerate(body):
        if raw.startswith("$ "):
            commands.append(Command(_strip_comment(raw[2:]).strip(), first_line + offset, []))
        elif commands and commands[-1].expected is not None:
            commands[-1].expected.append(raw.rstrip())
    for command in commands:
        while command.expected and not command.expected[-1]:
            command.expected.pop()
    return commands


def doc_blocks() -> list[Block]:
    blocks: list[Block] = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            match = re.match(r"^```(\w*)\s*$", lines[i])
            if not match:
                i += 1
                continue
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            lang, body = match.group(1), lines[i + 1 : end]
            if lang in RUNNABLE:
                block = Block(str(path.relative_to(ROOT)), i + 1, lang)
                parse = _console_commands if lang == "console" else _sh_commands
                block.commands = parse(body, i + 2)
                blocks.append(block)
            i = end + 1
    return blocks


def is_synopsis(command: str) -> bool:
    return bool(re.search(r"\[-|\[[^\]]*\|[^\]]*\]|\([^)]*\|", command))


def skip_reason(command: str) -> str | None:
    for pattern, reason in SKIP.items():
        if re.match(pattern, command):
            return reason
    return None


def expected_matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line; ``…`` in the doc stands for any run of characters."""
    if len(expected) != len(actual):
        return False
    for want, got in zip(expected, actual, strict=True):
        pattern = ".*".join(re.escape(part) for part in want.rstrip().split("…"))
        if not re.fullmatch(pattern, got.rstrip()):
            return False
    return True


def _free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def _check_synopsis(command: str, env: dict[str, str]) -> None:
    words = shlex.split(command.replace("(", " ").replace(")", " ").replace("|", " "))
    if words[0] != "ciqueue":
        return
    sub = []
    for word in words[1:]:
        if not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        sub.append(word)
    done = subprocess.run(
        ["ciqueue", *sub, "--help"], env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
    )
    assert done.returncode == 0, f"`ciqueue {' '.join(sub)} --help` failed: {done.stderr}"
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", command))
    for name in re.findall(r"--\[no-\]([a-z-]+)", command):
        flags |= {f"--{name}", f"--no-{name}"}
    missing = sorted(f for f in flags if not re.search(rf"{re.escape(f)}(?![\w-])", done.stdout))
    assert not missing, f"`ciqueue {' '.join(sub)}` has no {', '.join(missing)} (synopsis: {command})"


class Server:
    """A documented long-running command: started, awaited, stopped with Ctrl-C."""

    def __init__(self, command: str, env: dict[str, str], cwd: Path, ready: str) -> None:
        self.command = command
        self.proc = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if ready in line:
                return
        self.proc.kill()
        raise AssertionError(f"`{command}` never printed {ready!r}: {''.join(self.output)}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            rest, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"`{self.command}` did not stop on Ctrl-C") from None
        assert self.proc.returncode in (0, -signal.SIGINT, 130), (
            f"`{self.command}` stopped with {self.proc.returncode}: {''.join(self.output)}{rest}"
        )


def _server_ready_line(command: str) -> str | None:
    if command.startswith("ciqueue emulator"):
        return "ciqueue emulator on http://"
    if command.startswith("ciqueue local"):
        return "Ctrl-C stops"
    return None


BLOCKS = doc_blocks()


def test_the_docs_have_runnable_commands() -> None:
    """Guards the parser: if it finds nothing, every other check here passes vacuously."""
    assert len(BLOCKS) >= 8
    assert sum(len(b.commands) for b in BLOCKS) >= 20


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_documented_commands_run_as_written(block: Block, tmp_path: Path) -> None:
    work = tmp_path / "checkout"
    work.mkdir()
    shutil.copytree(ROOT / "examples", work / "examples")
    shutil.copytree(ROOT / "functions", work / "functions", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "serverless.yml", work / "serverless.yml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIQUEUE_", "TENCENTCLOUD_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(tmp_path),
        XDG_STATE_HOME=str(tmp_path / "state"),
        TENCENTCLOUD_SECRETID=DEMO_SECRET_ID,
        TENCENTCLOUD_SECRETKEY=DEMO_SECRET_KEY,
    )
    ports = {port: _free_port() for port in DOC_PORTS}

    def localise(command: str) -> str:
        for doc_port, port in ports.items():
            command = re.sub(rf"(?<!\d){doc_port}(?!\d)", port, command)
        if command.startswith("ciqueue local") and "--http-port" not in command:
            command += f" --http-port {_free_port()}"
        return command

    commands = list(block.commands)
    dials = any(":9000" in c.text for c in commands)
    starts = any(c.text.startswith("ciqueue emulator") and not is_synopsis(c.text) for c in commands)
    if dials and not starts:
        commands.insert(0, Command("ciqueue emulator --port 9000", block.line))

    servers: list[Server] = []
    try:
        for command in commands:
            where = f"{block.doc}:{command.line}: `{command.text}`"
            if skip_reason(command.text) is not None:
                continue
            if is_synopsis(command.text):
                _check_synopsis(command.text, env)
                continue
            assign = re.fullmatch(r"(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)", command.text)
            if assign:
                # The block's ports are replaced here too (export CIQUEUE_ENDPOINT=http://127.0.0.1:9000).
                value = shlex.split(assign.group(2))[0] if assign.group(2) else ""
                env[assign.group(1)] = localise(value)
                continue
            local = localise(command.text)
            ready = _server_ready_line(command.text)
            if ready is not None:
                servers.append(Server(local, env, work, ready))
                continue
            cwd = ROOT if command.text.startswith("make ") else work
            try:
                done = subprocess.run(
                    ["bash", "-c", local],
                    env=env,
                    cwd=cwd,
                    capture_output=True,
                    text=True,
                    timeout=COMMAND_TIMEOUT,
                )
            except subprocess.TimeoutExpired:
                pytest.fail(f"{where} took more than {COMMAND_TIMEOUT:g} s")
            assert done.returncode == 0, (
                f"{where} exited {done.returncode}\n"
                f"stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}"
            )
            if command.expected is not None:
                actual = done.stdout.rstrip("\n").splitlines()
                assert expected_matches(command.expected, actual), (
                    f"{where} printed\n{done.stdout}\nbut the doc shows\n" + "\n".join(command.expected)
                )
    finally:
        for server in reversed(servers):
            server.stop()


def test_the_skip_list_names_only_documented_commands() -> None:
    """A skip entry no documented command uses is stale; remove it so the list stays honest."""
    commands = [c.text for b in BLOCKS for c in b.commands]
    stale = [pattern for pattern in SKIP if not any(re.match(pattern, c) for c in commands)]
    assert not stale, f"SKIP entries no doc uses: {stale}"


def test_console_output_placeholder() -> None:
    """The one placeholder, ``…``, matches any run of characters and nothing else is loose."""
    assert expected_matches(["ok (…)", "id …"], ["ok (3 targets)", "id NmIw"])
    assert not expected_matches(["ok (…)"], ["ok (3 targets)", "extra line"])
    assert not expected_matches(["ok (3 targets)"], ["ok (4 targets)"])

"""``ciqueue completion bash|zsh``: the script is generated from the parser (shtab), is valid shell,
and completes what the parser has: ``ciqueue qu<TAB>`` gives ``queues``, every command is offered."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ciqueue.cli import main as cli


def _script(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main(["completion", shell]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


def _complete(script: Path, *words: str) -> list[str]:
    """What bash offers for the command line ``words`` (the last one being completed)."""
    line = " ".join(words)
    driver = (
        f'source "{script}"\n'
        f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n"
        '_shtab_ciqueue ciqueue "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(["bash", "-c", driver], capture_output=True, text=True, check=True, timeout=20)
    return sorted(filter(None, done.stdout.splitlines()))


def _commands() -> list[str]:
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(commands.choices)


def test_the_bash_script_is_valid_and_completes_commands_and_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "ciqueue.bash"
    script.write_text(_script("bash", capsys), encoding="utf-8")
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=20)

    assert _complete(script, "ciqueue", "qu") == ["queues"]
    assert _complete(script, "ciqueue", "") == _commands()
    assert _complete(script, "ciqueue", "queues", "") == ["list", "pause", "resume", "set-callback", "show"]
    assert "--dry-run" in _complete(script, "ciqueue", "queues", "pause", "--")
    assert _complete(script, "ciqueue", "completion", "") == ["bash", "zsh"]


def test_every_command_and_subcommand_of_the_parser_is_in_both_scripts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = cli.build_parser()
    names: list[str] = []

    def walk(node: argparse.ArgumentParser) -> None:
        for action in node._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    names.append(name)
                    walk(sub)

    walk(parser)
    assert {"queues", "token", "completion", "set-callback", "schema"} <= set(names)
    for shell in ("bash", "zsh"):
        script = _script(shell, capsys)
        missing = [name for name in names if name not in script]
        assert not missing, f"{shell} script lacks {missing}"


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed here")
def test_the_zsh_script_is_valid_zsh(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "_ciqueue"
    script.write_text(_script("zsh", capsys), encoding="utf-8")
    subprocess.run(["zsh", "-n", str(script)], check=True, timeout=20)


def test_an_unknown_shell_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["completion", "fish"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: argument shell: invalid choice: 'fish'")


def test_without_shtab_the_command_says_how_to_get_it() -> None:
    # A fresh interpreter in which shtab cannot be imported (the package without its extra).
    code = (
        "import sys; sys.modules['shtab'] = None\n"
        "from ciqueue.cli.main import main\n"
        "sys.exit(main(['completion', 'bash']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "error: completion needs shtab: pip install 'ciqueue[completion]'\n"

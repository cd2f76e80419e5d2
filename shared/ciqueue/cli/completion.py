"""``ciqueue completion bash|zsh``: a shell completion script generated from the parser itself.

The script is shtab's (a small, well-kept library that turns an argparse parser into bash and zsh
completion), so every command, subcommand and option the parser has is completed and none can
drift from it. shtab is the optional ``completion`` extra: without it the command says how to get
it (exit 1, as for any missing part of the environment) and nothing else changes. The script goes
to stdout only; install it as README.md shows.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

SHELLS = ("bash", "zsh")
INSTALL_HINT = "pip install 'ciqueue[completion]'"


def add_completion_command(commands: Any) -> None:
    completion = commands.add_parser(
        "completion", help="print a shell completion script (bash or zsh) generated from the parser"
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell the script is for")


def run_completion_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """The completion script of ``parser`` for ``args.shell`` on stdout; 1 when shtab is missing."""
    try:
        import shtab
    except ImportError:
        print(f"error: completion needs shtab: {INSTALL_HINT}", file=sys.stderr)
        return 1
    sys.stdout.write(shtab.complete(parser, shell=args.shell))
    return 0

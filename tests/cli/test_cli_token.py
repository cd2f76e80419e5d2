"""`ciqueue token new|hash`: entries for CIQUEUE_API_TOKENS that the HTTP API then accepts.

``token new`` prints the token alone on stdout (``TOKEN=$(ciqueue token new alice)``), the entry
and the CIQUEUE_API_TOKENS value (a JSON list, what ``auth.load_tokens`` reads) on stderr;
``--json`` is one JSON object on stdout and nothing on stderr."""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys

import pytest
from ciqueue.api import auth
from ciqueue.cli import main as cli


def _value_line(err: str) -> str:
    """The ``CIQUEUE_API_TOKENS='[...]'`` line of stderr, as a shell would read its value."""
    (line,) = [x for x in err.splitlines() if x.startswith("CIQUEUE_API_TOKENS=")]
    (assignment,) = shlex.split(line)
    return assignment.split("=", 1)[1]


def test_new_prints_the_token_alone_on_stdout_and_the_entry_and_list_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["token", "new", "oncall"]) == 0
    captured = capsys.readouterr()
    token = captured.out.strip()
    assert captured.out == f"{token}\n"
    assert token not in captured.err
    entry = {"name": "oncall", "sha256": auth.hash_token(token), "scopes": ["operate", "read"]}
    assert json.dumps(entry) in captured.err.splitlines()
    # The value shown is what the HTTP API reads from the environment, and it accepts the token.
    tokens = auth.load_tokens({"CIQUEUE_API_TOKENS": _value_line(captured.err)})
    principal = auth.authenticate({"authorization": f"Bearer {token}"}, tokens, "operate")
    assert principal.name == "oncall"


def test_new_in_command_substitution_captures_only_the_token() -> None:
    script = 'TOKEN=$("$0" -m ciqueue token new alice --scopes read 2>/dev/null); printf %s "$TOKEN"'
    done = subprocess.run(["bash", "-c", script, sys.executable], capture_output=True, text=True, check=True)
    token = done.stdout
    tokens = auth.parse_tokens([auth.token_entry("alice", token, ["read"])])
    assert auth.authenticate({"authorization": f"Bearer {token}"}, tokens, "read").name == "alice"


def test_new_json_is_one_object_with_token_entry_and_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["token", "new", "ci-bot", "--scopes", "read", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    data = json.loads(captured.out)
    assert sorted(data) == ["CIQUEUE_API_TOKENS", "entry", "name", "token"]
    assert data["name"] == "ci-bot"
    assert data["entry"] == {"name": "ci-bot", "sha256": auth.hash_token(data["token"]), "scopes": ["read"]}
    assert json.loads(data["CIQUEUE_API_TOKENS"]) == [data["entry"]]
    tokens = auth.load_tokens({"CIQUEUE_API_TOKENS": data["CIQUEUE_API_TOKENS"]})
    assert auth.authenticate({"authorization": f"Bearer {data['token']}"}, tokens, "read").name == "ci-bot"


def test_hash_reads_the_token_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-token-value\n"))
    assert cli.main(["token", "hash", "deploy-bot", "--scopes", "read"]) == 0
    captured = capsys.readouterr()
    entry = {"name": "deploy-bot", "sha256": auth.hash_token("s3cret-token-value"), "scopes": ["read"]}
    assert json.loads(captured.out) == entry
    assert json.loads(_value_line(captured.err)) == [entry]
    assert "s3cret-token-value" not in captured.out + captured.err


def test_bad_scope_exits_2_naming_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["token", "new", "oncall", "--scopes", "read,admin"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == "error: scopes: must be a non-empty list of read, operate"

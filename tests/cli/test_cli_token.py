"""`ciqueue token new|hash`: entries for CIQUEUE_API_TOKENS that the HTTP API then accepts."""

from __future__ import annotations

import io
import json

import pytest
from ciqueue.api import auth
from ciqueue.cli import main as cli


def test_new_prints_the_token_once_and_an_entry_holding_only_its_digest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["token", "new", "oncall"]) == 0
    first, second = capsys.readouterr().out.splitlines()
    token = first.rsplit(": ", 1)[1]
    entry = json.loads(second)
    assert entry == {"name": "oncall", "sha256": auth.hash_token(token), "scopes": ["operate", "read"]}
    assert token not in second
    # The entry, as CIQUEUE_API_TOKENS, authenticates the token it was made for.
    tokens = auth.parse_tokens([entry])
    principal = auth.authenticate({"authorization": f"Bearer {token}"}, tokens, "operate")
    assert principal.name == "oncall"


def test_hash_reads_the_token_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-token-value\n"))
    assert cli.main(["token", "hash", "deploy-bot", "--scopes", "read"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == {
        "name": "deploy-bot",
        "sha256": auth.hash_token("s3cret-token-value"),
        "scopes": ["read"],
    }
    assert "s3cret-token-value" not in out


def test_bad_scope_exits_2_naming_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["token", "new", "oncall", "--scopes", "read,admin"]) == 2
    assert capsys.readouterr().err.strip() == "error: scopes: must be a non-empty list of read, operate"

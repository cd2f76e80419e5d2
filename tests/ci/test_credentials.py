"""Credentials from the environment under SCF's names or tccli's: each name, the precedence, no
mixing of two sets, the message naming every variable read; and a real call signed with each."""

from __future__ import annotations

from typing import Any

import pytest
from ciqueue.ci.client import CIClient
from ciqueue.ci.credentials import Credentials, credentials_in_env
from ciqueue.cli import main as cli
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.errors import CredentialsMissing, describe
from conftest import DEMO_BUCKET, DEMO_REGION, EmulatorServer

SCF = ("TENCENTCLOUD_SECRETID", "TENCENTCLOUD_SECRETKEY", "TENCENTCLOUD_SESSIONTOKEN")
TCCLI = ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_TOKEN")
EVERY_NAME = (*SCF, *TCCLI)
MESSAGE = (
    "must be set: credentials are read from "
    "TENCENTCLOUD_SECRETID and TENCENTCLOUD_SECRETKEY (SCF's names; TENCENTCLOUD_SESSIONTOKEN too for "
    "temporary keys) or TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY (tccli's names; "
    "TENCENTCLOUD_TOKEN too for temporary keys), the first pair set wins; or pass credentials"
)


@pytest.mark.parametrize("names", [SCF, TCCLI], ids=["scf", "tccli"])
def test_each_set_of_names_gives_its_pair_and_its_token(names: tuple[str, str, str]) -> None:
    secret_id, secret_key, token = names
    pair = {secret_id: "AKIDone", secret_key: " key1 "}
    assert Credentials.from_env(pair) == Credentials("AKIDone", "key1")
    env = {secret_id: "AKIDone", secret_key: "key1", token: "tok1"}
    assert Credentials.from_env(env) == Credentials("AKIDone", "key1", "tok1")


def test_scf_names_come_first_and_a_token_stays_with_its_own_pair() -> None:
    both = {SCF[0]: "AKIDscf", SCF[1]: "scfkey", TCCLI[0]: "AKIDcli", TCCLI[1]: "clikey", TCCLI[2]: "clitok"}
    assert Credentials.from_env(both) == Credentials("AKIDscf", "scfkey", None)  # not tccli's token
    # SCF's pair incomplete (blank counts as unset): tccli's complete pair, with its own token.
    half = {**both, SCF[1]: "  ", SCF[2]: "scftok"}
    assert Credentials.from_env(half) == Credentials("AKIDcli", "clikey", "clitok")


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({}, "TENCENTCLOUD_SECRETID"),
        ({"TENCENTCLOUD_SECRETID": "AKIDx"}, "TENCENTCLOUD_SECRETKEY"),
        ({"TENCENTCLOUD_SECRET_KEY": "k"}, "TENCENTCLOUD_SECRET_ID"),
        ({"TENCENTCLOUD_SECRET_ID": "AKIDx", "TENCENTCLOUD_SECRETKEY": "k"}, "TENCENTCLOUD_SECRETID"),
        ({"TENCENTCLOUD_TOKEN": "t", "TENCENTCLOUD_SESSIONTOKEN": "t"}, "TENCENTCLOUD_SECRETID"),
    ],
)
def test_no_complete_pair_names_every_variable_read(env: dict[str, str], field: str) -> None:
    with pytest.raises(CredentialsMissing) as missing:
        Credentials.from_env(env)
    assert str(missing.value) == f"{field}: {MESSAGE}"
    assert describe(missing.value).status == 500
    for name in EVERY_NAME:
        assert name in str(missing.value)


def test_credentials_in_env_sees_any_key_name_of_either_set() -> None:
    assert not credentials_in_env({"TENCENTCLOUD_TOKEN": "t", "TENCENTCLOUD_SESSIONTOKEN": "t"})
    for name in (*SCF[:2], *TCCLI[:2]):
        assert credentials_in_env({name: "x"})


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in EVERY_NAME:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("names", [SCF, TCCLI], ids=["scf", "tccli"])
def test_a_client_signs_with_keys_under_either_set_of_names(
    names: tuple[str, str, str],
    no_credentials: None,
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorServer,
    demo_bucket: Any,
) -> None:
    monkeypatch.setenv(names[0], DEMO_SECRET_ID)
    monkeypatch.setenv(names[1], DEMO_SECRET_KEY)
    client = CIClient(DEMO_BUCKET, DEMO_REGION, endpoint=emulator.endpoint)
    assert len(client.list_queues("pic").queues) == 3  # the emulator checked the signature


def test_the_cli_with_tccli_names_lists_and_without_any_names_them_all(
    no_credentials: None,
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorServer,
    demo_bucket: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    where = ["--bucket", DEMO_BUCKET, "--region", DEMO_REGION, "--endpoint", emulator.endpoint, "--json"]
    assert cli.main(["queues", "list", *where]) == 2
    assert capsys.readouterr().err == f"error: TENCENTCLOUD_SECRETID: {MESSAGE}\n"
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", DEMO_SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", DEMO_SECRET_KEY)
    assert cli.main(["queues", "list", *where]) == 0
    assert '"queues"' in capsys.readouterr().out

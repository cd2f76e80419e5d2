"""Credentials: explicit, or from the environment, under SCF's names or tccli's.

The rule (the one home of it; ``constants.CREDENTIAL_ENV_SETS`` names the variables):

- Two sets of names are read, in this order: SCF's (``TENCENTCLOUD_SECRETID``,
  ``TENCENTCLOUD_SECRETKEY``, ``TENCENTCLOUD_SESSIONTOKEN``: what SCF sets for a function with a
  role) and tccli's (``TENCENTCLOUD_SECRET_ID``, ``TENCENTCLOUD_SECRET_KEY``,
  ``TENCENTCLOUD_TOKEN``: a shell set up for Tencent Cloud's CLI).
- The first set whose SecretId and SecretKey are both set (blank counts as unset) gives the
  credentials, with that set's own token: a session token is bound to its key pair, so the names of
  two sets are never mixed.
- No set complete: CredentialsMissing naming every variable read, its field the first name missing
  of the first set partly given (SCF's SecretId when none is).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ciqueue.constants import CREDENTIAL_ENV_SETS
from ciqueue.errors import CredentialsMissing
from ciqueue.records import dataclass


def missing_rule() -> str:
    """What CredentialsMissing says: every name read, in precedence order."""
    sets = " or ".join(
        f"{secret_id} and {secret_key} ({whose} names; {token} too for temporary keys)"
        for secret_id, secret_key, token, whose in CREDENTIAL_ENV_SETS
    )
    return f"must be set: credentials are read from {sets}, the first pair set wins; or pass credentials"


@dataclass(frozen=True, repr=False)
class Credentials:
    """A key pair and optional session token. Its repr never shows the secret or the token."""

    secret_id: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:
        token = "'***'" if self.token else "None"
        return f"Credentials(secret_id={mask(self.secret_id)!r}, secret_key='***', token={token})"

    __str__ = __repr__

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Credentials:
        """The first complete set of names in ``env`` (SCF's, then tccli's), or CredentialsMissing."""
        env = os.environ if env is None else env
        field = CREDENTIAL_ENV_SETS[0][0]
        partial = False
        for id_name, key_name, token_name, _ in CREDENTIAL_ENV_SETS:
            secret_id = env.get(id_name, "").strip()
            secret_key = env.get(key_name, "").strip()
            if secret_id and secret_key:
                return cls(secret_id, secret_key, env.get(token_name, "").strip() or None)
            if (secret_id or secret_key) and not partial:
                partial = True
                field = key_name if secret_id else id_name
        raise CredentialsMissing(field, missing_rule())


def credentials_in_env(env: Mapping[str, str]) -> bool:
    """Whether ``env`` names any SecretId or SecretKey ``Credentials.from_env`` reads (a tool that
    would supply the demo pair must not when the user gave keys of their own, even half a pair)."""
    return any(
        env.get(name, "").strip()
        for id_name, key_name, _, _ in CREDENTIAL_ENV_SETS
        for name in (id_name, key_name)
    )


def mask(secret_id: str) -> str:
    """Show enough of a SecretId to recognise it in logs, never the whole value."""
    if len(secret_id) <= 8:
        return "***"
    return f"{secret_id[:4]}***{secret_id[-4:]}"

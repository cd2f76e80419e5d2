"""Credentials: explicit, or from the environment SCF sets for a function with a role."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ciqueue.constants import ENV_SECRET_ID, ENV_SECRET_KEY, ENV_SESSION_TOKEN
from ciqueue.errors import CredentialsMissing, Problem


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
        """Read TENCENTCLOUD_SECRETID / _SECRETKEY / _SESSIONTOKEN, or raise CredentialsMissing."""
        env = os.environ if env is None else env
        secret_id = env.get(ENV_SECRET_ID, "").strip()
        secret_key = env.get(ENV_SECRET_KEY, "").strip()
        missing = [
            Problem(name, "must be set (or pass credentials explicitly)")
            for name, value in ((ENV_SECRET_ID, secret_id), (ENV_SECRET_KEY, secret_key))
            if not value
        ]
        if missing:
            raise CredentialsMissing(missing)
        token = env.get(ENV_SESSION_TOKEN, "").strip() or None
        return cls(secret_id, secret_key, token)


def mask(secret_id: str) -> str:
    """Show enough of a SecretId to recognise it in logs, never the whole value."""
    if len(secret_id) <= 8:
        return "***"
    return f"{secret_id[:4]}***{secret_id[-4:]}"

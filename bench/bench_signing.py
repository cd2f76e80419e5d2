"""Signatures per second: ciqueue.ci.signing.authorize vs the Python SDK's CosS3Auth, side by side.

Run: .venv/bin/python bench/bench_signing.py   (about 5 s; the goal is ours >= 2x the SDK)

Both sides sign the same CI requests (a describe GET with params, an update PUT with
content-length, content-type, host and x-ci-security-token) the way each is used per request:
the SDK builds a CosS3Auth and applies it to the prepared request; we call authorize().
Rounds alternate between the two and the best round of each counts.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import SimpleNamespace
from unittest import mock

import requests
from ciqueue.ci.credentials import Credentials
from ciqueue.ci.signing import authorize, security_headers
from qcloud_cos import CosConfig, cos_auth

HOST = "examplebucket-1250000000.ci.ap-beijing.myqcloud.com"
QUEUE_ID = "p8366c460c67b4c65a9bf81b41eaa3c4b"
# Demo values only: the documented example key pair and a made-up session token.
CREDENTIALS = Credentials(
    "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q",
    "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz",
    "demo-session-token-" + "0123456789abcdef" * 8,
)
BODY = (
    b"<Request><Name>My-Queue-Pic</Name><State>Paused</State>"
    b"<NotifyConfig><State>Off</State></NotifyConfig></Request>"
)
ROUNDS = 7
ROUND_SECONDS = 0.2


def _requests() -> list[tuple[str, str, dict[str, str], dict[str, str]]]:
    """(method, path, params, headers) as the client sends them, unsigned headers included."""
    common = {
        "Host": HOST,
        "User-Agent": "ciqueue/0.1.0",
        "Accept-Encoding": "gzip, deflate",
        "Accept": "*/*",
        "Connection": "keep-alive",
        **security_headers(CREDENTIALS),
    }
    describe = {"queueIds": QUEUE_ID, "state": "Active", "pageNumber": "1", "pageSize": "10"}
    update = {"Content-Length": str(len(BODY)), "Content-Type": "application/xml"}
    return [
        ("GET", "/picqueue", describe, dict(common)),
        ("PUT", f"/picqueue/{QUEUE_ID}", {}, {**common, **update}),
    ]


def _ours(reqs: list[tuple[str, str, dict[str, str], dict[str, str]]]) -> Callable[[], object]:
    def run() -> object:
        now = time.time()
        return [authorize(CREDENTIALS, m, p, q, h, now) for m, p, q, h in reqs]

    return run


def _sdk(reqs: list[tuple[str, str, dict[str, str], dict[str, str]]]) -> Callable[[], object]:
    conf = CosConfig(
        Region="ap-beijing",
        SecretId=CREDENTIALS.secret_id,
        SecretKey=CREDENTIALS.secret_key,
        Token=CREDENTIALS.token,
    )
    prepared = [
        (p, q, requests.Request(m, f"https://{HOST}{p}", headers=h, params=q).prepare())
        for m, p, q, h in reqs
    ]

    def run() -> object:
        out = []
        for path, params, request in prepared:
            auth = cos_auth.CosS3Auth(conf, path, params=params, expire=600)
            out.append(auth(request).headers["Authorization"])
        return out

    return run


def _check_same_output(reqs: list[tuple[str, str, dict[str, str], dict[str, str]]]) -> None:
    """Both sides must produce the same Authorization, or the comparison means nothing."""
    now = 1_700_000_000
    with mock.patch.object(cos_auth, "time", SimpleNamespace(time=lambda: now)):
        sdk_values = _sdk(reqs)()
    ours = [authorize(CREDENTIALS, m, p, q, h, now) for m, p, q, h in reqs]
    if ours != sdk_values:
        sys.exit("signing bench: our Authorization differs from the SDK's; not benchmarking")


def _batch_size(run: Callable[[], object], per_call: int) -> int:
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < 0.05:
        run()
        calls += 1
    rate = calls / (time.perf_counter() - start)
    return max(1, int(rate * ROUND_SECONDS))


def _timed(run: Callable[[], object], calls: int, per_call: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        run()
    return calls * per_call / (time.perf_counter() - start)


def main() -> int:
    reqs = _requests()
    _check_same_output(reqs)
    ours, sdk = _ours(reqs), _sdk(reqs)
    per_call = len(reqs)
    ours_calls, sdk_calls = _batch_size(ours, per_call), _batch_size(sdk, per_call)
    best_ours = best_sdk = 0.0
    for _ in range(ROUNDS):
        best_ours = max(best_ours, _timed(ours, ours_calls, per_call))
        best_sdk = max(best_sdk, _timed(sdk, sdk_calls, per_call))
    ratio = best_ours / best_sdk
    print(f"requests: {', '.join(f'{m} {p}' for m, p, _, _ in reqs)}; best of {ROUNDS} interleaved rounds")
    print(f"signing: ours {best_ours:,.0f}/s, sdk {best_sdk:,.0f}/s, ratio {ratio:.2f}x (goal >= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

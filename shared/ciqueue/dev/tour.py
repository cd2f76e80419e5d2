"""``ciqueue demo --cli``: a guided tour of the CLI against an in-process CI emulator.

(Plain ``ciqueue demo`` runs the maintenance-night rehearsal, ``ciqueue.dev.rehearsal``.)

Each step prints what it shows, the command it runs, the command's own output, and then checks
the emulator's state, so the demo fails (exit 1) if anything did not behave as promised.
Uses the public demo key pair from ``constants`` (never a real key) and touches no network.
The tour runs the command line it is given (``run(cli_main)``; ``ciqueue demo --cli`` passes its
own entry point), so it never imports the CLI module.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import requests

from ciqueue.constants import (
    DEMO_APPID,
    DEMO_SECRET_ID,
    DEMO_SECRET_KEY,
    ENV_ENDPOINT,
    ENV_SECRET_ID,
    ENV_SECRET_KEY,
    ENV_SESSION_TOKEN,
)
from ciqueue.dev.invoke import scoped_env

BUCKET = f"demo-{DEMO_APPID}"
REGION = "ap-guangzhou"
STANDBY_URL = "https://standby.example.com/ci-callback"
PRIVATE_URL = "http://10.0.0.8/ci-callback"


# The command line's entry point: argv (without the program name) -> exit code.
CliMain = Callable[[Sequence[str]], int]


class DemoFailed(Exception):
    """A step did not behave as the demo says it does."""


class Tour:
    """The emulator, its admin API and the steps' bookkeeping."""

    def __init__(self, endpoint: str, out: Any, cli_main: CliMain) -> None:
        self.endpoint = endpoint
        self.out = out
        self.cli_main = cli_main
        self.http = requests.Session()
        self.step = 0

    def admin(self, method: str, name: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.endpoint}/_emulator/{name}", json=body, timeout=5)
        if response.status_code != 200:
            raise DemoFailed(f"admin {method} {name}: HTTP {response.status_code} {response.text}")
        return response.json()

    def queue(self, queue_id: str) -> dict[str, Any]:
        for bucket in self.admin("GET", "state")["buckets"]:
            for queue in bucket["queues"]:
                if queue["QueueId"] == queue_id:
                    return dict(queue)
        raise DemoFailed(f"queue {queue_id} is gone from the emulator")

    def methods_seen(self) -> list[str]:
        return [entry["method"] for entry in self.admin("GET", "requests")]

    def run(
        self,
        title: str,
        explain: str,
        args: Sequence[str],
        expect_exit: int,
        check: Callable[[], str | None] | None = None,
    ) -> None:
        """One step: header, the command line, its output, then the check (None = as expected)."""
        self.step += 1
        print(f"\n== {self.step}. {title}", file=self.out)
        print(f"   {explain}", file=self.out)
        print(f"$ ciqueue {' '.join(args)}", file=self.out, flush=True)
        self.admin("DELETE", "requests")
        code = self.cli_main(list(args))
        sys.stderr.flush()
        if code != expect_exit:
            raise DemoFailed(f"step {self.step} ({title}) exited {code}, expected {expect_exit}")
        problem = check() if check is not None else None
        if problem:
            raise DemoFailed(f"step {self.step} ({title}): {problem}")
        print(f"   ok: exit {code} as expected", file=self.out, flush=True)


def demo_environment(endpoint: str) -> AbstractContextManager[None]:
    """The demo key pair and the emulator endpoint in the environment, restored afterwards."""
    return scoped_env(
        {
            ENV_SECRET_ID: DEMO_SECRET_ID,
            ENV_SECRET_KEY: DEMO_SECRET_KEY,
            ENV_ENDPOINT: endpoint,
            ENV_SESSION_TOKEN: None,
        }
    )


def run(cli_main: CliMain, out: Any = None) -> int:
    """Run the tour of ``cli_main`` (``ciqueue.cli.main.main``); 0 when every step behaved as
    described, 1 otherwise."""
    from ciqueue.ci.client import CIClient
    from ciqueue.ci.credentials import Credentials
    from ciqueue.emulator.server import EmulatorServer

    out = out or sys.stdout
    with EmulatorServer() as server, demo_environment(server.endpoint):
        tour = Tour(server.endpoint, out, cli_main)
        try:
            print(f"ciqueue demo: a CI emulator is listening on {server.endpoint}", file=out)
            print(
                f"   {ENV_ENDPOINT}={server.endpoint} points the CLI at it; the demo key pair "
                f"(SecretId {DEMO_SECRET_ID}) is in {ENV_SECRET_ID}/{ENV_SECRET_KEY}.",
                file=out,
            )
            client = CIClient(BUCKET, REGION, Credentials(DEMO_SECRET_ID, DEMO_SECRET_KEY), server.endpoint)
            client.activate("pic")
            thumbs, events = _seed(tour)
            _tour(tour, thumbs, events)
        except DemoFailed as exc:
            print(f"\ndemo FAILED: {exc}", file=sys.stderr)
            return 1
        except Exception as exc:  # a broken demo must still say which step and why, in one line
            print(f"\ndemo FAILED at step {tour.step}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    print("\nDemo complete: every step behaved as described.", file=out)
    return 0


def _seed(tour: Tour) -> tuple[str, str]:
    """Two more pic queues with callbacks, added behind the client's back as another operator would."""
    thumbs, events = f"p{uuid.uuid4().hex}", f"p{uuid.uuid4().hex}"
    tour.admin(
        "POST",
        "seed",
        {
            "buckets": [
                {
                    "bucket": BUCKET,
                    "region": REGION,
                    "kinds": ["pic"],
                    "queues": [
                        {
                            "kind": "pic",
                            "queue_id": thumbs,
                            "name": "thumbnails",
                            "notify_config": {
                                "State": "On",
                                "Type": "Url",
                                "Url": "https://primary.example.com/ci-callback",
                                "Event": "TaskFinish",
                                "ResultFormat": "JSON",
                            },
                        },
                        {
                            "kind": "pic",
                            "queue_id": events,
                            "name": "watermarks",
                            "notify_config": {
                                "State": "On",
                                "Type": "TDMQ",
                                "MqMode": "Topic",
                                "MqRegion": "gz",
                                "MqName": "ci-events",
                                "Event": "TaskFinish,WorkflowFinish",
                            },
                        },
                    ],
                }
            ]
        },
    )
    return thumbs, events


def _tour(tour: Tour, thumbs: str, events: str) -> None:
    where = ["--bucket", BUCKET, "--region", REGION]
    original = tour.queue(thumbs)

    def expect(state: str, url: str, *, writes: bool) -> Callable[[], str | None]:
        def check() -> str | None:
            queue = tour.queue(thumbs)
            if queue["State"] != state:
                return f"State is {queue['State']}, expected {state}"
            if queue["NotifyConfig"].get("Url") != url:
                return f"NotifyConfig.Url is {queue['NotifyConfig'].get('Url')}, expected {url}"
            wrote = "PUT" in tour.methods_seen()
            if wrote != writes:
                return "a PUT was sent" if wrote else "no PUT was sent"
            return None

        return check

    primary = original["NotifyConfig"]["Url"]
    tour.run(
        "List the bucket's pic queues",
        "The default queue (from activation) and two queues with callbacks: a Url and a TDMQ topic.",
        ["queues", "list", *where],
        0,
    )
    tour.run(
        "Pause a queue",
        "Reads the queue, changes only State, writes it back, re-reads to verify. The diff shows one field.",
        ["queues", "pause", thumbs, *where],
        0,
        expect("Paused", primary, writes=True),
    )
    tour.run(
        "Pause it again",
        "Already Paused: nothing is written (no PUT), and the exit code is still 0.",
        ["queues", "pause", thumbs, *where],
        0,
        expect("Paused", primary, writes=False),
    )
    tour.run(
        "Resume it",
        "State goes back to Active; the callback was never touched.",
        ["queues", "resume", thumbs, *where],
        0,
        expect("Active", primary, writes=True),
    )
    tour.run(
        "Move the callback to the standby endpoint",
        "Only NotifyConfig.Url changes; State is left as it is.",
        ["queues", "set-callback", thumbs, *where, "--url", STANDBY_URL],
        0,
        expect("Active", STANDBY_URL, writes=True),
    )

    def refused() -> str | None:
        if tour.methods_seen():
            return "requests were sent for a refused command"
        return expect("Active", STANDBY_URL, writes=False)()

    tour.run(
        "Try a private callback address",
        "CI refuses private-network callbacks; ciqueue refuses first (exit 2, the rule named, nothing sent).",
        ["queues", "set-callback", thumbs, *where, "--url", PRIVATE_URL],
        2,
        refused,
    )

    def untouched() -> str | None:
        queue = tour.queue(events)
        return (
            None
            if queue["State"] == "Active" and queue["NotifyConfig"]["MqName"] == "ci-events"
            else ("the TDMQ queue changed")
        )

    tour.run(
        "List again",
        "The standby callback is in place; the other queues were never touched.",
        ["queues", "list", *where],
        0,
        untouched,
    )

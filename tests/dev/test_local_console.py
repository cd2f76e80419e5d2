"""``ciqueue local`` serves the ops console on its Function URL port and prints the sign-in URL.

Runs the real command in a child process (ports chosen by the OS), reads its banner, signs in over
real HTTP on loopback with the token from the private file it names, and stops it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def test_ciqueue_local_prints_a_sign_in_url_that_serves_the_console(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CIQUEUE_API_TOKENS", "CIQUEUE_SESSION_KEY")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ciqueue",
            "local",
            "--port",
            "0",
            "--http-port",
            "0",
            "--config",
            str(ROOT / "examples" / "schedule.yaml"),
            "--state",
            str(tmp_path / "state.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        banner: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            banner.append(line)
            if "ops console:" in line or not line:
                break
        text = "".join(banner)
        found = re.search(
            r"ops console: open (http://127\.0\.0\.1:\d+/ui/signin) and sign in with the token in (\S+)", text
        )
        assert found, text
        url, token_file = found.group(1), found.group(2)
        token = Path(token_file).read_text().strip()
        assert token not in text  # the token stays in its file

        form = requests.get(url, timeout=10)
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert form.status_code == 200 and csrf
        origin = url.split("/ui/")[0]
        # The cookie is Secure: requests keeps it to https, browsers also send it to loopback.
        cookie = form.headers["Set-Cookie"].split(";")[0]
        signed = requests.post(
            url,
            data={"csrf": csrf.group(1), "token": token},
            headers={"Origin": origin, "Cookie": cookie},
            timeout=10,
            allow_redirects=False,
        )
        assert signed.status_code == 303 and "HttpOnly" in signed.headers["Set-Cookie"]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

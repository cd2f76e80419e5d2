"""The ops console in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by Selenium against ``ciqueue local``'s stack (the emulator seeded with
the demo's queues, http_toggle on a loopback Function URL).

An operator signs in, sees the demo's queues, pauses one for 2 h with a reason, finds it Paused in
the emulator with its override listed, cancels it and signs out; a read-only token cannot act; a
POST without the CSRF token is refused. Screenshots of the overview and the week (desktop and
phone widths) are written to ``tmp/artifacts/console/`` (or ``$CIQUEUE_ARTIFACTS/console``), named
in the test output. Without a browser the module is skipped with one line saying how to get one.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - the dev extra installs it
    webdriver = None  # type: ignore[assignment]
if CHROMIUM is None or CHROMEDRIVER is None or webdriver is None:
    pytest.skip(
        "browser tests need Chromium: apt-get install -y chromium chromium-driver (selenium: make venv)",
        allow_module_level=True,
    )

from ciqueue.api.auth import token_entry  # noqa: E402
from ciqueue.dev import rehearsal  # noqa: E402
from ciqueue.dev.clock import SimClock  # noqa: E402
from ciqueue.dev.stack import LocalStack  # noqa: E402
from conftest import ARTIFACTS  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OPERATE_TOKEN = "browser-oncall-token-0123456789abcdef"
READ_TOKEN = "browser-viewer-token-0123456789abcdef"
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo(rehearsal.ZONE))  # the window is closed: Active
THUMBNAILS = rehearsal.QUEUES["thumbnails"]
DESKTOP, PHONE = (1280, 1000), (390, 844)


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = ARTIFACTS / "console"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nconsole screenshots: {folder}")
    return folder


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    config = tmp_path / "schedule.yaml"
    config.write_text(rehearsal.SCHEDULE, encoding="utf-8")
    tokens = [token_entry("oncall", OPERATE_TOKEN), token_entry("viewer", READ_TOKEN, ["read"])]
    local = LocalStack(
        SimClock(NOW, speed=0),
        io.StringIO(),
        config_path=str(config),
        port=0,
        http_port=0,
        api_tokens=json.dumps(tokens),
        state_file=str(tmp_path / "state.json"),
        session_key="browser-test-session-key-0123456789abcdef",
        root=ROOT,
        tick_interval=3600,
    ).start()
    try:
        assert local.emulator is not None
        local.emulator.model.seed(
            {
                "buckets": [
                    {
                        "bucket": rehearsal.BUCKET,
                        "region": rehearsal.REGION,
                        "kinds": ["pic"],
                        "queues": [
                            {"kind": "pic", "queue_id": q, "name": n} for n, q in rehearsal.QUEUES.items()
                        ],
                    }
                ]
            }
        )
        yield local
    finally:
        local.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def queue_state(stack: LocalStack) -> str:
    from ciqueue.ci.kinds import QueueKind

    assert stack.emulator is not None
    queue = stack.emulator.model.queue(rehearsal.BUCKET, rehearsal.REGION, QueueKind.PIC, THUMBNAILS)
    assert queue is not None
    return str(queue.state)


def overrides(stack: LocalStack) -> list[dict[str, Any]]:
    assert stack.state_file is not None
    path = Path(stack.state_file)
    return json.loads(path.read_text())["overrides"] if path.exists() else []  # type: ignore[no-any-return]


def sign_in(browser: Any, stack: LocalStack, token: str) -> None:
    browser.get(stack.console_url)
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    heading(browser, "Queues")


def heading(browser: Any, expected: str) -> None:
    """Wait for the page whose h1 is ``expected`` (a click starts a navigation; it may not be done)."""

    def shown(driver: Any) -> bool:
        return bool(driver.find_element(By.TAG_NAME, "h1").text == expected)

    WebDriverWait(browser, 15, ignored_exceptions=(StaleElementReferenceException,)).until(shown)


def text_shown(browser: Any, text: str) -> None:
    WebDriverWait(browser, 15).until(lambda driver: text in driver.page_source)


def shot(browser: Any, folder: Path, name: str, size: tuple[int, int]) -> Path:
    browser.set_window_size(*size)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(size[0], max(size[1], min(int(height) + 120, 6000)))
    path = folder / f"{name}.png"
    browser.save_screenshot(str(path))
    browser.set_window_size(*DESKTOP)
    assert path.stat().st_size > 10_000
    return path


def test_an_operator_pauses_a_demo_queue_for_2h_and_cancels_it(
    browser: Any, stack: LocalStack, artifacts: Path
) -> None:
    sign_in(browser, stack, OPERATE_TOKEN)
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".queue-name")]
    assert sorted(names) == sorted(rehearsal.QUEUES)
    assert "Target group night-batch" in browser.page_source.replace("<em>", "").replace("</em>", "")
    shot(browser, artifacts, "overview-desktop", DESKTOP)
    shot(browser, artifacts, "overview-phone", PHONE)

    browser.find_element(By.LINK_TEXT, "thumbnails").click()
    text_shown(browser, "Pause or resume")
    browser.find_element(By.CSS_SELECTOR, "input[name=length][value='2h']").click()
    browser.find_element(By.ID, "reason").send_keys("resizer deploy")
    browser.find_element(By.XPATH, "//button[normalize-space()='Pause…']").click()

    text_shown(browser, "Confirm pause")
    cells = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "table.diff td")]
    assert cells[1:] == ["State", "Active", "Paused"]
    assert queue_state(stack) == "Active"  # a dry run so far
    browser.find_element(By.XPATH, "//button[normalize-space()='Confirm pause']").click()
    text_shown(browser, "Paused.")

    assert "Paused." in browser.find_element(By.CSS_SELECTOR, ".alert-ok").text
    assert queue_state(stack) == "Paused"
    [override] = overrides(stack)
    assert (override["reason"], override["expires_at"]) == ("resizer deploy", "2026-03-02T04:00:00Z")
    listed = browser.find_element(By.CSS_SELECTOR, ".overrides").text
    assert override["id"] in listed and "Mon 02 Mar 12:00 CST" in listed and "resizer deploy" in listed
    shot(browser, artifacts, "queue-paused-phone", PHONE)

    browser.find_element(By.XPATH, f"//button[contains(., 'Cancel override {override['id']}')]").click()
    text_shown(browser, "Confirm cancel")
    browser.find_element(By.XPATH, "//button[normalize-space()='Confirm cancel']").click()
    text_shown(browser, "Override cancelled")
    assert "Override cancelled" in browser.find_element(By.CSS_SELECTOR, ".alert-ok").text
    assert overrides(stack) == [] and queue_state(stack) == "Active"

    browser.find_element(By.LINK_TEXT, "Week").click()
    heading(browser, "The week")
    shot(browser, artifacts, "week-desktop", DESKTOP)
    shot(browser, artifacts, "week-phone", PHONE)

    browser.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    heading(browser, "Sign in")
    browser.get(stack.console_url.removesuffix("signin"))
    heading(browser, "Sign in")


def test_a_read_only_token_cannot_act_and_a_post_without_csrf_is_refused(
    browser: Any, stack: LocalStack
) -> None:
    sign_in(browser, stack, READ_TOKEN)
    browser.find_element(By.LINK_TEXT, "thumbnails").click()
    text_shown(browser, "read scope only")
    assert browser.find_elements(By.XPATH, "//button[normalize-space()='Pause…']") == []
    assert "read scope only" in browser.page_source
    csrf = browser.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")

    # A hand-made form with this session's CSRF token: the scope still refuses it.
    post(browser, "pause", {"csrf": csrf, "length": "2h", "reason": "x", "confirm": "yes"})
    heading(browser, "Refused")
    assert "lacks the scope 'operate'" in browser.page_source
    assert queue_state(stack) == "Active" and overrides(stack) == []

    browser.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    heading(browser, "Sign in")
    sign_in(browser, stack, OPERATE_TOKEN)
    browser.find_element(By.LINK_TEXT, "thumbnails").click()
    text_shown(browser, "Pause or resume")
    post(browser, "pause", {"length": "2h", "reason": "no csrf", "confirm": "yes"})
    heading(browser, "Refused")
    assert "CSRF token is missing" in browser.page_source
    assert queue_state(stack) == "Active" and overrides(stack) == []


def post(browser: Any, action: str, fields: dict[str, str]) -> None:
    """Submit a same-origin form built in the page (as a tampered page would) to the queue's action."""
    browser.execute_script(
        "const f = document.createElement('form'); f.method = 'post';"
        "f.action = location.pathname.replace(/\\/$/, '') + '/' + arguments[0];"
        "for (const [k, v] of Object.entries(arguments[1])) {"
        "  const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v;"
        "  f.appendChild(i); }"
        "document.body.appendChild(f); f.submit();",
        action,
        fields,
    )

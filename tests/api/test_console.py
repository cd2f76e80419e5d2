"""The ops console under /ui: SCF-shaped Function URL / API Gateway events into the http_toggle
handler, over real HTTP to the emulator seeded with the demo's queues (``ciqueue demo``'s schedule).

A small cookie jar stands in for the browser; the security properties (cookie flags, CSP, CSRF,
Origin, forged and expired cookies, not signed in) and the pause -> confirm -> Paused -> cancel
flow are checked on the answers, the emulator's queues, its request log and the state file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import pytest
from ciqueue.api.auth import hash_token
from ciqueue.api.ui.session import COOKIE_NAME, SessionKey
from ciqueue.constants import DEMO_SECRET_ID, DEMO_SECRET_KEY
from ciqueue.dev import rehearsal
from conftest import EmuAdmin, load_function

ROOT = Path(__file__).resolve().parents[2]
OPERATE_TOKEN = "oncall-console-token-0123456789"
READ_TOKEN = "viewer-console-token-0123456789"
SESSION_KEY = "console-test-session-key-0123456789abcdef"
HOST = "fn-1250000000.ap-guangzhou.tencentscf.com"
ORIGIN = f"https://{HOST}"
# 10:00 in Shanghai: the nightly window (02:00-04:00) is closed, the demo's queues are Active.
NOW = "2026-03-02T10:00:00+08:00"
THUMBNAILS = rehearsal.QUEUES["thumbnails"]
QUEUE_PAGE = f"/ui/queues/{rehearsal.BUCKET}/{rehearsal.REGION}/pic/{THUMBNAILS}"
# A callback whose query carries a secret: the pages show it redacted, never the value.
SECRET_NOTIFY = {
    "State": "On",
    "Type": "Url",
    "Url": "https://hooks.example.com/ci?token=s3cr3t-hook-value&v=2",
    "Event": "TaskFinish",
    "ResultFormat": "JSON",
}
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, emulator: Any, emu_admin: EmuAdmin) -> Path:
    """A deployed http_toggle's environment with the console on, aimed at the demo's queues."""
    tokens = [
        {"name": "oncall", "sha256": hash_token(OPERATE_TOKEN), "scopes": ["read", "operate"]},
        {"name": "viewer", "sha256": hash_token(READ_TOKEN), "scopes": ["read"]},
    ]
    config = tmp_path / "ciqueue.yml"
    config.write_text(rehearsal.SCHEDULE)
    for name in ("CIQUEUE_STATE_BUCKET", "TENCENTCLOUD_SESSIONTOKEN", "CIQUEUE_TRUST_CAM", "CIQUEUE_INVOKER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CIQUEUE_CONSOLE_ORIGIN", raising=False)
    monkeypatch.setenv("CIQUEUE_API_TOKENS", json.dumps(tokens))
    monkeypatch.setenv("CIQUEUE_ENDPOINT", emulator.endpoint)
    monkeypatch.setenv("TENCENTCLOUD_SECRETID", DEMO_SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRETKEY", DEMO_SECRET_KEY)
    monkeypatch.setenv("CIQUEUE_CONFIG", str(config))
    monkeypatch.setenv("CIQUEUE_STATE_FILE", str(tmp_path / "state.json"))
    monkeypatch.setenv("CIQUEUE_NOW", NOW)
    monkeypatch.setenv("CIQUEUE_SESSION_KEY", SESSION_KEY)
    emu_admin.seed(
        [
            {
                "bucket": rehearsal.BUCKET,
                "region": rehearsal.REGION,
                "kinds": ["pic"],
                "queues": [
                    {
                        "kind": "pic",
                        "queue_id": q,
                        "name": n,
                        **({"notify_config": SECRET_NOTIFY} if n == "watermarks" else {}),
                    }
                    for n, q in rehearsal.QUEUES.items()
                ],
            }
        ]
    )
    emu_admin.clear_requests()
    return tmp_path / "state.json"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str

    @property
    def csrf(self) -> str:
        found = CSRF_RE.search(self.body)
        assert found, "the page has no form with a CSRF token"
        return found.group(1)

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")


@dataclass
class Browser:
    """Function URL events with a cookie jar, as a browser on ``ORIGIN`` sends them."""

    module: ModuleType
    cookies: dict[str, str] = field(default_factory=dict)
    apigw: bool = False

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.send("GET", path, **kwargs)

    def post(self, path: str, form: dict[str, str] | None = None, **kwargs: Any) -> Answer:
        return self.send("POST", path, form=form or {}, **kwargs)

    def send(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, str] | None = None,
        origin: str | None = ORIGIN,
        query: dict[str, str] | None = None,
    ) -> Answer:
        headers = {"host": HOST, "user-agent": "test"}
        if origin is not None:
            headers["origin"] = origin
        if form is not None:
            headers["content-type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        event: dict[str, Any] = {
            "httpMethod": method,
            "path": path,
            "headers": headers,
            "queryString": query or {},
            "body": urlencode(form) if form is not None else "",
            "isBase64Encoded": False,
        }
        if self.apigw:
            event["requestContext"] = {"serviceId": "service-f94sy04v", "stage": "release"}
        result = self.module.main_handler(event, {"request_id": "ctx-1", "time_limit_in_ms": 30000})
        answer = Answer(result["statusCode"], result["headers"], result["body"])
        cookie = answer.headers.get("Set-Cookie")
        if cookie:
            name, _, value = cookie.split(";")[0].partition("=")
            if "Max-Age=0" in cookie:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return answer

    def sign_in(self, token: str = OPERATE_TOKEN) -> Answer:
        form = self.get("/ui/signin")
        return self.post("/ui/signin", {"csrf": form.csrf, "token": token})


@pytest.fixture
def browser(env: Path) -> Browser:
    return Browser(load_function("http_toggle"))


def signed_in(browser: Browser, token: str = OPERATE_TOKEN) -> Browser:
    answer = browser.sign_in(token)
    assert (answer.status, answer.location) == (303, "./")
    return browser


def state(admin: EmuAdmin) -> str:
    return str(admin.queue(THUMBNAILS)["State"])


def puts(admin: EmuAdmin) -> list[dict[str, Any]]:
    return [r for r in admin.requests() if r["method"] == "PUT"]


# --- not signed in ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ui", "/ui/", QUEUE_PAGE, "/ui/changes", "/ui/week", "/ui/no-such-page"])
def test_a_caller_not_signed_in_is_sent_to_sign_in_and_nothing_is_read(
    browser: Browser, emu_admin: EmuAdmin, path: str
) -> None:
    answer = browser.get(path)

    assert answer.status == 303
    assert answer.location is not None and answer.location.endswith("signin")
    assert emu_admin.requests() == []


def test_a_post_not_signed_in_is_401_and_changes_nothing(browser: Browser, emu_admin: EmuAdmin) -> None:
    csrf = browser.get("/ui/signin").csrf  # a sign-in form's session: valid CSRF, nobody signed in

    answer = browser.post(
        QUEUE_PAGE + "/pause", {"csrf": csrf, "length": "2h", "reason": "x", "confirm": "yes"}
    )

    assert answer.status == 401
    assert "sign in" in answer.body.lower()
    assert emu_admin.requests() == [] and state(emu_admin) == "Active"


def test_the_links_are_relative_to_the_page(browser: Browser) -> None:
    assert browser.get("/ui").location == "ui/signin"  # "/release/ui" -> "/release/ui/signin"
    assert browser.get("/ui/").location == "./signin"
    assert browser.get(QUEUE_PAGE).location == "../../../../signin"


# --- sign in, the cookie, the headers -----------------------------------------------------------


def test_sign_in_sets_a_signed_httponly_secure_strict_cookie_with_no_token(browser: Browser) -> None:
    form = browser.get("/ui/signin")
    answer = browser.post("/ui/signin", {"csrf": form.csrf, "token": OPERATE_TOKEN})

    cookie = answer.headers["Set-Cookie"]
    assert answer.status == 303 and answer.location == "./"
    assert cookie.startswith(f"{COOKIE_NAME}=")
    for flag in ("Path=/", "Max-Age=28800", "HttpOnly", "Secure", "SameSite=Strict"):
        assert f"; {flag}" in cookie
    value = cookie.split(";")[0].partition("=")[2]
    assert OPERATE_TOKEN not in value and hash_token(OPERATE_TOKEN) not in value
    session = SessionKey(SESSION_KEY).open(value, datetime.now(timezone.utc))
    assert session is not None and (session.name, session.scopes) == ("oncall", {"read", "operate"})
    assert browser.get("/ui/").status == 200


def test_a_wrong_token_is_refused_and_signs_nobody_in(browser: Browser) -> None:
    answer = browser.sign_in("not-a-configured-token")

    assert answer.status == 401
    assert "unknown or revoked token" in answer.body
    assert "not-a-configured-token" not in answer.body
    assert browser.get("/ui/").status == 303


def test_every_page_has_the_csp_and_no_inline_script_or_style(browser: Browser) -> None:
    signed_in(browser)
    pages = [browser.get(p) for p in ("/ui/", QUEUE_PAGE, "/ui/week", "/ui/changes")]
    pages.append(browser.get("/ui/static/console.css"))

    for page in pages:
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp and "default-src 'none'" in csp
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert page.headers["Referrer-Policy"] == "same-origin"
    for page in pages[:-1]:
        assert page.status == 200
        assert page.headers["Cache-Control"] == "no-store"
        assert "<script" not in page.body and " style=" not in page.body and "<style" not in page.body
        # No third-party asset: the only absolute URLs are the SVG namespace and callback targets shown.
        body = page.body.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "http://" not in body
        for shown in (
            "https://primary.example.com",
            "https://standby.example.com",
            "https://hooks.example.com",
        ):
            body = body.replace(shown, "")
        assert "https://" not in body
        assert "src=" not in body.replace('src="../../../../static/', "").replace('src="./static/', "")


def test_sign_out_ends_the_session(browser: Browser) -> None:
    page = signed_in(browser).get("/ui/")

    answer = browser.post("/ui/signout", {"csrf": page.csrf})

    assert answer.status == 303 and answer.location == "./signin"
    assert "Max-Age=0" in answer.headers["Set-Cookie"]
    assert browser.get("/ui/").status == 303


def test_a_forged_or_expired_cookie_is_sent_to_sign_in(browser: Browser) -> None:
    key = SessionKey(SESSION_KEY)
    long_ago = datetime.now(timezone.utc) - timedelta(hours=9)
    expired = key.seal(key.new_session(long_ago, "oncall", ["read", "operate"]))
    forged = SessionKey("another-key-0123456789abcdef-0123456789").seal(
        key.new_session(datetime.now(timezone.utc), "oncall", ["read", "operate"])
    )

    for value in (expired, forged, "garbage"):
        browser.cookies = {COOKIE_NAME: value}
        answer = browser.get("/ui/")
        assert (answer.status, answer.location) == (303, "./signin")


def test_a_session_ends_when_its_token_is_no_longer_configured(
    browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_in(browser)
    tokens = [{"name": "viewer", "sha256": hash_token(READ_TOKEN), "scopes": ["read"]}]
    monkeypatch.setenv("CIQUEUE_API_TOKENS", json.dumps(tokens))
    browser.module = load_function("http_toggle")  # a new container reads the new token list

    assert browser.get("/ui/").status == 303


def test_without_a_session_key_the_console_says_what_to_set_and_the_api_still_works(
    browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CIQUEUE_SESSION_KEY")
    browser.module = load_function("http_toggle")

    page = browser.get("/ui/")
    api = browser.module.main_handler(
        {"httpMethod": "GET", "path": "/health", "headers": {"authorization": f"Bearer {OPERATE_TOKEN}"}},
        {"request_id": "r"},
    )

    assert page.status == 503 and "CIQUEUE_SESSION_KEY" in page.body
    assert api["statusCode"] == 200


# --- CSRF and Origin ------------------------------------------------------------------------------


@pytest.mark.parametrize("csrf", [None, "", "not-the-token"])
def test_a_post_without_this_session_s_csrf_token_is_refused(
    browser: Browser, emu_admin: EmuAdmin, csrf: str | None
) -> None:
    signed_in(browser)
    form = {"length": "2h", "reason": "deploy", "confirm": "yes"}
    if csrf is not None:
        form["csrf"] = csrf

    answer = browser.post(QUEUE_PAGE + "/pause", form)

    assert answer.status == 403 and "CSRF" in answer.body
    assert puts(emu_admin) == [] and state(emu_admin) == "Active"


def test_a_csrf_token_of_another_session_is_refused(browser: Browser, env: Path, emu_admin: EmuAdmin) -> None:
    other = signed_in(Browser(browser.module))
    stolen = other.get("/ui/").csrf
    signed_in(browser)

    answer = browser.post(
        QUEUE_PAGE + "/pause", {"csrf": stolen, "length": "2h", "reason": "x", "confirm": "yes"}
    )

    assert answer.status == 403
    assert puts(emu_admin) == []


@pytest.mark.parametrize("origin", [None, "null", "https://evil.example", f"http://{HOST}"])
def test_a_post_from_another_origin_is_refused(
    browser: Browser, emu_admin: EmuAdmin, origin: str | None
) -> None:
    csrf = signed_in(browser).get(QUEUE_PAGE).csrf

    answer = browser.post(
        QUEUE_PAGE + "/pause", {"csrf": csrf, "length": "2h", "reason": "x", "confirm": "yes"}, origin=origin
    )

    assert answer.status == 403 and "Origin" in answer.body
    assert puts(emu_admin) == [] and state(emu_admin) == "Active"


def test_sign_in_itself_needs_the_form_s_csrf_token_and_origin(browser: Browser) -> None:
    csrf = browser.get("/ui/signin").csrf

    assert browser.post("/ui/signin", {"token": OPERATE_TOKEN}).status == 403
    assert browser.post("/ui/signin", {"csrf": csrf, "token": OPERATE_TOKEN}, origin=None).status == 403
    assert browser.get("/ui/").status == 303


# --- pages ----------------------------------------------------------------------------------------


def test_the_overview_shows_the_demo_s_queues_why_until_and_next(
    browser: Browser, emu_admin: EmuAdmin
) -> None:
    page = signed_in(browser).get("/ui/")

    assert page.status == 200
    assert "Target group <em>night-batch</em>" in page.body
    for name in rehearsal.QUEUES:
        assert f">{name}</a>" in page.body
    assert "Asia/Shanghai (CST, UTC+08:00)" in page.body
    assert "Tue 03 Mar 02:00 CST" in page.body  # the next change: the window opens tonight
    assert "window &#39;nightly&#39; opens" in page.body
    assert [r["method"] for r in emu_admin.requests()] == ["GET"]  # one listing, nothing written


def test_a_callback_target_is_shown_redacted(browser: Browser) -> None:
    page = signed_in(browser).get("/ui/").body

    assert "https://hooks.example.com/ci?token=***&amp;v=***" in page
    assert "s3cr3t-hook-value" not in page


def test_an_operator_pauses_for_2h_confirms_sees_it_paused_and_cancels(
    browser: Browser, emu_admin: EmuAdmin, env: Path
) -> None:
    page = signed_in(browser).get(QUEUE_PAGE)
    assert 'action="../../../../queues/' in page.body and "Pause…" in page.body

    confirm = browser.post(
        QUEUE_PAGE + "/pause", {"csrf": page.csrf, "length": "2h", "reason": "resizer deploy"}
    )

    assert confirm.status == 200 and "Confirm pause" in confirm.body
    assert re.search(r"<td>State</td><td>Active</td><td>Paused</td>", confirm.body)
    assert puts(emu_admin) == [] and state(emu_admin) == "Active"  # the dry run wrote nothing
    command_id = re.search(r'name="id" value="(ui-[0-9a-f]+)"', confirm.body)
    assert command_id is not None

    form = {"csrf": confirm.csrf, "length": "2h", "reason": "resizer deploy", "confirm": "yes"}
    done = browser.post(QUEUE_PAGE + "/pause", {**form, "id": command_id.group(1)})
    again = browser.post(QUEUE_PAGE + "/pause", {**form, "id": command_id.group(1)})  # a double submit

    assert done.status == 303 and done.location is not None and done.location.endswith("?done=pause")
    assert again.status == 303
    assert state(emu_admin) == "Paused" and len(puts(emu_admin)) == 1
    overrides = json.loads(env.read_text())["overrides"]
    assert len(overrides) == 1
    override = overrides[0]
    assert (override["state"], override["reason"], override["actor"]) == (
        "Paused",
        "resizer deploy",
        "token:oncall",
    )
    assert override["expires_at"] == "2026-03-02T04:00:00Z"  # 10:00 CST + 2 h

    shown = browser.get(QUEUE_PAGE, query={"done": "pause"})
    assert "Paused." in shown.body and override["id"] in shown.body
    assert "Mon 02 Mar 12:00 CST" in shown.body and "resizer deploy" in shown.body

    cancel_path = f"/ui/overrides/{override['id']}/cancel"
    ask = browser.post(cancel_path, {"csrf": shown.csrf})
    assert ask.status == 200 and "Confirm cancel" in ask.body
    assert json.loads(env.read_text())["overrides"] != []
    gone = browser.post(cancel_path, {"csrf": shown.csrf, "confirm": "yes"})

    assert gone.status == 303 and gone.location is not None and gone.location.endswith("?done=cancel")
    assert json.loads(env.read_text())["overrides"] == []
    assert state(emu_admin) == "Active"  # reconciled: the window is closed at 10:00


def test_the_form_s_mistakes_are_named_and_change_nothing(browser: Browser, emu_admin: EmuAdmin) -> None:
    csrf = signed_in(browser).get(QUEUE_PAGE).csrf

    no_reason = browser.post(QUEUE_PAGE + "/pause", {"csrf": csrf, "length": "2h", "reason": " "})
    past = browser.post(
        QUEUE_PAGE + "/pause", {"csrf": csrf, "length": "until", "until": "2026-03-01T08:00", "reason": "x"}
    )
    garbage = browser.post(
        QUEUE_PAGE + "/pause", {"csrf": csrf, "length": "until", "until": "tomorrow", "reason": "x"}
    )

    assert no_reason.status == 400 and "reason: is required" in no_reason.body
    assert past.status == 400 and "until: must be in the future" in past.body
    assert garbage.status == 400 and "until: must be an ISO 8601 time" in garbage.body
    assert puts(emu_admin) == [] and state(emu_admin) == "Active"


def test_until_a_time_is_read_in_the_config_s_zone(browser: Browser, env: Path) -> None:
    csrf = signed_in(browser).get(QUEUE_PAGE).csrf
    form = {"csrf": csrf, "length": "until", "until": "2026-03-02T13:30", "reason": "x", "confirm": "yes"}

    assert browser.post(QUEUE_PAGE + "/pause", form).status == 303

    assert json.loads(env.read_text())["overrides"][0]["expires_at"] == "2026-03-02T05:30:00Z"


def test_a_read_only_token_sees_everything_and_no_action(browser: Browser, emu_admin: EmuAdmin) -> None:
    page = signed_in(browser, READ_TOKEN).get(QUEUE_PAGE)

    assert page.status == 200 and "thumbnails" in page.body
    assert "Pause…" not in page.body and "/pause" not in page.body
    assert "read scope only" in page.body

    answer = browser.post(
        QUEUE_PAGE + "/pause", {"csrf": page.csrf, "length": "2h", "reason": "x", "confirm": "yes"}
    )

    assert answer.status == 403 and "operate" in answer.body
    assert puts(emu_admin) == [] and state(emu_admin) == "Active"


def test_an_api_gateway_event_behind_a_stage_gets_the_same_pages(browser: Browser) -> None:
    browser.apigw = True
    signed_in(browser)

    page = browser.get(QUEUE_PAGE)

    assert page.status == 200 and 'href="../../../../static/console.css"' in page.body


def test_with_no_schedule_the_overview_says_what_to_do(
    browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CIQUEUE_CONFIG")
    browser.module = load_function("http_toggle")

    page = signed_in(browser).get("/ui/")

    assert page.status == 200 and "No schedule is deployed" in page.body and "CIQUEUE_CONFIG" in page.body


def test_when_ci_cannot_be_reached_the_overview_says_so_and_what_to_do(
    browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIQUEUE_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    browser.module = load_function("http_toggle")

    page = signed_in(browser).get("/ui/")

    assert page.status in (502, 503, 504)
    assert "CI did not answer" in page.body and "reload" in page.body


def test_a_json_route_never_imports_the_console_or_jinja2(env: Path) -> None:
    index = str(ROOT / "functions" / "http_toggle" / "index.py")
    event = {"httpMethod": "GET", "path": "/health", "headers": {"authorization": f"Bearer {OPERATE_TOKEN}"}}
    script = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('idx', {index!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        f"r = m.main_handler({event!r}, {{'request_id': 'r'}})\n"
        "assert r['statusCode'] == 200, r\n"
        "found = [k for k in sys.modules if k.startswith(('jinja2', 'markupsafe', 'ciqueue.api.ui'))]\n"
        "print(json.dumps(sorted(found)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )

    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_until_cancelled_pins_the_queue_with_no_end(browser: Browser, emu_admin: EmuAdmin, env: Path) -> None:
    csrf = signed_in(browser).get(QUEUE_PAGE).csrf
    form = {"csrf": csrf, "length": "cancelled", "reason": "incident 42", "confirm": "yes"}

    assert browser.post(QUEUE_PAGE + "/pause", form).status == 303

    [override] = json.loads(env.read_text())["overrides"]
    assert override["expires_at"] is None and state(emu_admin) == "Paused"
    page = browser.get(QUEUE_PAGE).body
    assert "until cancelled" in page and "the override has no end" in page


def test_the_week_is_drawn_per_queue_on_the_overview_and_per_group_on_the_week_page(browser: Browser) -> None:
    signed_in(browser)

    overview, week = browser.get("/ui/").body, browser.get("/ui/week").body

    for body in (overview, week):
        assert body.count("<svg ") == 1 and 'role="img"' in body
        assert "<script" not in body.split("<svg ")[1].split("</svg>")[0]
    assert "thumbnails (night-batch)" in overview  # one lane per queue
    assert "night-batch" in week and "Coming changes" in week


def test_a_change_made_from_the_page_is_in_the_recent_changes_and_the_picture(browser: Browser) -> None:
    csrf = signed_in(browser).get(QUEUE_PAGE).csrf
    form = {"csrf": csrf, "length": "2h", "reason": "resizer deploy", "confirm": "yes"}
    assert browser.post(QUEUE_PAGE + "/pause", form).status == 303

    queue, fleet, overview = (
        browser.get(QUEUE_PAGE).body,
        browser.get("/ui/changes").body,
        browser.get("/ui/").body,
    )

    for body in (queue, fleet):
        assert "paused: State Active → Paused" in body
        assert "by token:oncall" in body and "resizer deploy" in body
        assert "Mon 02 Mar 10:00 CST" in body
    assert "override created" in fleet
    # The override is in the picture.
    assert (
        "override" in overview and "pins Paused by token:oncall until Mon 12:00: resizer deploy" in overview
    )


# -- a basic accessibility check -----------------------------------------------------------------


class _A11yAudit(HTMLParser):
    """A basic accessibility check of one page, read as HTML (no script runs): the language, a title
    and one h1, headings that do not skip a level, a label for every form control, a name for every
    button and link, a title for every picture, no positive tabindex, a phone viewport."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.lang = ""
        self.viewport = False
        self.title = ""
        self.h1 = 0
        self.last_heading = 0
        self.label_for: set[str] = set()
        self.controls: list[tuple[str, str, bool]] = []  # (tag, id, labelled inside or by aria)
        self.open: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []  # the text of each element still open (a button's, a link's)
        self.svg_titles: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang", "")
        if tag == "meta" and a.get("name") == "viewport":
            self.viewport = "width=device-width" in a.get("content", "")
        if re.fullmatch(r"h[1-6]", tag):
            level = int(tag[1])
            self.h1 += level == 1
            if self.last_heading and level > self.last_heading + 1:
                self.problems.append(f"<{tag}> follows <h{self.last_heading}>: a heading level is skipped")
            self.last_heading = level
        if tag == "label" and a.get("for"):
            self.label_for.add(a["for"])
        if int(a.get("tabindex", "0") or 0) > 0:
            self.problems.append(f"<{tag}> has tabindex {a['tabindex']}: keyboard order follows the page")
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit", "button"):
            inside = any(t == "label" for t, _ in self.open) or bool(a.get("aria-label"))
            self.controls.append((tag, a.get("id", ""), inside))
        if tag == "img" and not a.get("alt"):
            self.problems.append("<img> without alt text")
        if tag == "svg":
            self.svg_titles.append(False)
        if tag == "title" and self.open and any(t == "svg" for t, _ in self.open):
            self.svg_titles[-1] = True
        if tag not in ("input", "meta", "link", "br", "img", "hr"):
            self.open.append((tag, a))
            self.text.append(a.get("aria-label", ""))

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            opened, attrs = self.open.pop()
            text = self.text.pop().strip()
            if self.text:
                self.text[-1] += " " + text
            if opened in ("button", "a") and not text:
                self.problems.append(f"<{opened} {attrs}> has no name a screen reader can say")
            if opened == "title" and not any(t == "svg" for t, _ in self.open):
                self.title = text
            if opened == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.text:
            self.text[-1] += data

    def verdict(self) -> list[str]:
        problems = list(self.problems)
        if not self.lang:
            problems.append("<html> has no lang")
        if not self.viewport:
            problems.append("no viewport meta for phones")
        if not self.title:
            problems.append("the page has no <title>")
        if self.h1 != 1:
            problems.append(f"the page has {self.h1} <h1> (one names the page)")
        for tag, ident, inside in self.controls:
            if not inside and ident not in self.label_for:
                problems.append(f"<{tag} id={ident!r}> has no label")
        problems += ["an <svg> has no <title>" for titled in self.svg_titles if not titled]
        return problems


def test_every_page_passes_a_basic_accessibility_check(browser: Browser, emu_admin: EmuAdmin) -> None:
    pages = {"sign-in": browser.get("/ui/signin")}
    signed_in(browser)
    pages |= {
        name: browser.get(path)
        for name, path in (
            ("overview", "/ui/"),
            ("queue", QUEUE_PAGE),
            ("week", "/ui/week"),
            ("changes", "/ui/changes"),
        )
    }
    queue = pages["queue"]
    pages["confirm"] = browser.post(
        QUEUE_PAGE + "/pause", {"csrf": queue.csrf, "length": "2h", "reason": "a11y"}
    )
    for name, page in pages.items():
        assert page.status == 200, (name, page.status)
        audit = _A11yAudit()
        audit.feed(page.body)
        assert audit.verdict() == [], name
    assert puts(emu_admin) == []


def test_the_accessibility_check_finds_what_it_looks_for() -> None:
    audit = _A11yAudit()
    audit.feed(
        "<html><head><title>x</title></head><body><h1>a</h1><h3>b</h3>"
        '<input id="q" name="q"><button></button><a href="/"></a><svg></svg>'
        '<span tabindex="2">z</span></body></html>'
    )
    assert audit.verdict() == [
        "<h3> follows <h1>: a heading level is skipped",
        "<button {}> has no name a screen reader can say",
        "<a {'href': '/'}> has no name a screen reader can say",
        "<span> has tabindex 2: keyboard order follows the page",
        "<html> has no lang",
        "no viewport meta for phones",
        "<input id='q'> has no label",
        "an <svg> has no <title>",
    ]

"""The ops console: server-rendered pages under ``/ui``, served by the http_toggle function itself.

Imported only for ``/ui`` paths (ciqueue.handlers.http_toggle), so Jinja2 never weighs on the JSON
API's cold start. Every page works without JavaScript.

Rules:
- One rule, one home: a page reads through the HTTP API's own route handlers (``HttpApi.list_queues``,
  ``show_queue``, ``pause``, ``resume``, ``cancel_override``) with the signed-in token's principal,
  so a form is judged by ``commands.parse_command`` and carried out by ``executor.execute`` exactly
  as ``POST /queues/.../pause`` is, with the same messages and the same audit lines
  (actor ``token:<name>``).
- Sign in once with an API token (``auth.authenticate``); the session is the signed cookie of
  ``session.py``. A session whose token is no longer configured has ended; its scopes are never
  more than the token's today.
- Nothing is read or written for a caller that is not signed in: a GET redirects to the sign-in
  page (303) whatever the path, a POST is 401. Only the stylesheet is served to anyone.
- Every POST: ``Origin`` first (403), then the session's CSRF token (403), then the session (401)
  and its scope (403), then the form. Changes go in two steps: the form shows the dry run's diff on
  a confirm page; only the confirm button (``confirm=yes``, with the command id the dry run used,
  so a double submit creates nothing twice) changes anything.
- Every answer carries a Content-Security-Policy without inline script or style
  (``default-src 'none'``; scripts, styles, images and forms only from the console itself;
  ``frame-ancestors 'none'``), ``no-store`` for pages, ``nosniff`` and ``Referrer-Policy:
  same-origin`` (which keeps the ``Origin`` of same-origin form posts).
- Links and redirects are relative to the page, so the console works on a bare Function URL and
  behind an API Gateway stage prefix (``/release/ui``) alike.
- Without ``CIQUEUE_SESSION_KEY`` (or with a bad one) every page is a 503 that says what to set.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from ciqueue.api.auth import SCOPES, Principal, authenticate
from ciqueue.api.http import (
    BadRequest,
    Forbidden,
    HttpResponse,
    MethodNotAllowed,
    NotFound,
    Router,
    Unauthorized,
)
from ciqueue.api.routes import Call, HttpApi, queue_ref
from ciqueue.api.ui import views
from ciqueue.api.ui.session import (
    Session,
    SessionKey,
    clear_cookie,
    configured_origins,
    cookie_value,
    origin_problem,
    set_cookie,
)
from ciqueue.constants import CONSOLE_PATH, ENV_SESSION_KEY
from ciqueue.envelopes.http import HttpRequest
from ciqueue.errors import InvalidInput, Problem, describe
from ciqueue.limits import MAX_REASON_LENGTH
from ciqueue.records import dataclass, replace
from ciqueue.timefmt import parse_instant

if TYPE_CHECKING:
    from ciqueue.ci.retry import Deadline

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
HTML = "text/html; charset=utf-8"
# What the form's "for how long" offers, and what each becomes in the command.
LENGTHS = {
    "30m": "for 30 minutes",
    "2h": "for 2 hours",
    "until": "until a time",
    "cancelled": "until cancelled",
    "once": "once (the schedule may change it at its next edge)",
}
# ?done=... on a queue page: a fixed sentence per action, never text from the request.
NOTICES = {
    "pause": "Paused.",
    "resume": "Resumed.",
    "cancel": "Override cancelled; the queue follows the schedule again.",
}
PLAN_DAYS = 7


@dataclass(frozen=True)
class Page:
    """One console request as a page handler sees it."""

    request: HttpRequest
    session: Session | None
    deadline: Deadline | None
    now: datetime  # wall clock (sessions); the runtime's clock is the schedule's "now"
    form: Mapping[str, str]

    @property
    def root(self) -> str:
        return root_of(self.request.path)

    def call(
        self, body: Mapping[str, Any] | None = None, path: str = "/", query: Mapping[str, str] | None = None
    ) -> Call:
        """The HTTP API call this page makes for its signed-in token."""
        assert self.session is not None and self.session.name is not None
        principal = Principal(self.session.name, self.session.scopes, via="token")
        data = json.dumps(dict(body)).encode("utf-8") if body is not None else b""
        method = "POST" if body is not None else "GET"
        request = HttpRequest(method=method, path=path, query=dict(query or {}), body=data)
        return Call(request, principal, self.deadline)


def root_of(path: str) -> str:
    """The relative link from the page at ``path`` to the console's root (``/ui/``)."""
    parts = path.split("/")
    if len(parts) <= 2:  # "/ui": the browser resolves links against the parent folder
        return CONSOLE_PATH.strip("/") + "/"
    return "../" * (len(parts) - 3) or "./"


@lru_cache(maxsize=1)
def templates() -> jinja2.Environment:
    """The template environment (autoescaped, undefined names are errors), built once per process."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["q"] = lambda text: quote(str(text), safe="")
    return env


class Console:
    """The console's pages bound to the HTTP API. ``handle(request)`` never raises."""

    def __init__(
        self,
        api: HttpApi,
        env: Mapping[str, str],
        *,
        wall_clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.api = api
        self.wall_clock = wall_clock or (lambda: datetime.now(timezone.utc))
        self.key: SessionKey | None = None
        self.origins: tuple[str, ...] = ()
        self.setup_problem: str | None = None
        try:
            self.key = SessionKey.from_env(env)
            self.origins = configured_origins(env)
        except InvalidInput as exc:
            self.key, self.setup_problem = None, str(exc)
        if self.key is None and self.setup_problem is None:
            self.setup_problem = f"{ENV_SESSION_KEY} is not set"
        self.router = Router()
        base = CONSOLE_PATH
        queue = base + "/queues/{bucket}/{region}/{kind}/{queue_id}"
        self.router.add("GET", base, self.overview)
        self.router.add("GET", base + "/signin", self.signin_form)
        self.router.add("POST", base + "/signin", self.signin)
        self.router.add("POST", base + "/signout", self.signout)
        self.router.add("GET", queue, self.queue_page)
        self.router.add("POST", queue + "/{action}", self.toggle)
        self.router.add("POST", base + "/overrides/{override_id}/cancel", self.cancel)
        self.router.add("GET", base + "/changes", self.changes)
        self.router.add("GET", base + "/week", self.week)
        self.public = {(base + "/signin", "GET"), (base + "/signin", "POST")}

    # -- dispatch ---------------------------------------------------------------------------------

    def handle(self, request: HttpRequest, *, deadline: Deadline | None = None) -> HttpResponse:
        """The page for ``request`` with the security headers; every failure is a page too."""
        try:
            response = self._handle(request, deadline)
        except Exception as exc:
            response = self._failure(request, exc)
        headers = {**response.headers, **SECURITY_HEADERS}
        headers.setdefault("Cache-Control", "no-store")
        return replace(response, headers=headers)

    def _handle(self, request: HttpRequest, deadline: Deadline | None) -> HttpResponse:
        if request.method == "GET" and request.path.startswith(CONSOLE_PATH + "/static/"):
            return static_file(request.path.removeprefix(CONSOLE_PATH + "/static/"))
        if self.key is None:
            return self.render(
                request, "message.html", 503, title="The console is off", problem=self.setup_problem
            )
        now = self.wall_clock()
        session = self._session(request, now)
        try:
            return self._route(request, deadline, session, now)
        except Exception as exc:  # the failure page still shows who is signed in
            return self._failure(request, exc, session)

    def _route(
        self, request: HttpRequest, deadline: Deadline | None, session: Session | None, now: datetime
    ) -> HttpResponse:
        assert self.key is not None
        try:
            route, params = self.router.match(request.method, request.path)
        except (NotFound, MethodNotAllowed):
            if session is None or not session.signed_in:
                return self._not_signed_in(request)
            raise
        public = (route.pattern, route.method) in self.public
        form: dict[str, str] = {}
        if request.method == "POST":
            problem = origin_problem(request.headers, self.origins)
            if problem is not None:
                raise Forbidden(f"refused: {problem}", field="Origin")
            form = parse_form(request.body)
            if session is None or not self.key.csrf_ok(session, form.get("csrf")):
                raise Forbidden(
                    "refused: the form's CSRF token is missing or not this session's "
                    "(reload the page and try again)",
                    field="csrf",
                )
        if not public and (session is None or not session.signed_in):
            return self._not_signed_in(request)
        page = Page(request, session, deadline, now, form)
        result: HttpResponse = route.handler(page, **params)
        return result

    def _session(self, request: HttpRequest, now: datetime) -> Session | None:
        """The cookie's session; a signed-in one only while its token is still configured."""
        assert self.key is not None
        session = self.key.open(cookie_value(request.headers), now)
        if session is None or not session.signed_in:
            return session
        token = next((t for t in self.api.tokens if t.name == session.name), None)
        if token is None:
            return None
        return replace(session, scopes=session.scopes & token.scopes)

    def _not_signed_in(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET":
            return redirect(root_of(request.path) + "signin")
        return self.render(
            request,
            "message.html",
            401,
            title="Not signed in",
            problem="Your session has ended or was never started: sign in again.",
        )

    def _failure(self, request: HttpRequest, exc: Exception, session: Session | None = None) -> HttpResponse:
        report = describe(exc)
        if not report.expected:
            import logging

            logging.getLogger("ciqueue.console").error(
                "unhandled %s on %s %s", type(exc).__name__, request.method, request.path, exc_info=exc
            )
        titles = {401: "Not signed in", 403: "Refused", 404: "Not found", 405: "Not allowed"}
        signed_in = session if session is not None and session.signed_in else None
        page = Page(request, signed_in, None, self.wall_clock(), {})
        return self.render(
            request,
            "message.html",
            report.status,
            page=page,
            title=titles.get(report.status, "Something went wrong"),
            problem=report.message,
            advice=advice_for(report.status, report.code, report.transient),
        )

    # -- rendering --------------------------------------------------------------------------------

    def render(
        self,
        request: HttpRequest,
        template: str,
        status: int = 200,
        *,
        page: Page | None = None,
        headers: Mapping[str, str] | None = None,
        **values: Any,
    ) -> HttpResponse:
        session = page.session if page is not None else None
        signed_in = session is not None and session.signed_in
        context = {
            "root": root_of(request.path),
            "signed_in": signed_in,
            "who": session.name if signed_in and session else None,
            "scopes": sorted(session.scopes) if signed_in and session else [],
            "can_operate": bool(session and session.may("operate")),
            "csrf": self.key.csrf_token(session) if self.key and session else "",
            "problem": None,
            "advice": None,
            **values,
        }
        text = templates().get_template(template).render(context)
        return HttpResponse(status, text, {"Content-Type": HTML, **(headers or {})})

    # -- sign in / out ----------------------------------------------------------------------------

    def signin_form(self, page: Page, problem: str | None = None, status: int = 200) -> HttpResponse:
        assert self.key is not None
        session = page.session
        if session is not None and session.signed_in and problem is None:
            return redirect(page.root)
        if session is None or session.signed_in:
            session = self.key.new_session(page.now)
        cookie = set_cookie(self.key.seal(session), session.expires_at, page.now)
        return self.render(
            page.request,
            "signin.html",
            status,
            page=replace(page, session=session),
            headers={"Set-Cookie": cookie},
            title="Sign in",
            problem=problem,
        )

    def signin(self, page: Page) -> HttpResponse:
        assert self.key is not None
        token = page.form.get("token", "").strip()
        try:
            principal = token_principal(token, self.api)
        except (Unauthorized, Forbidden) as exc:
            return self.signin_form(page, problem=exc.message, status=401)
        session = self.key.new_session(page.now, principal.name, principal.scopes)
        cookie = set_cookie(self.key.seal(session), session.expires_at, page.now)
        return redirect(page.root, {"Set-Cookie": cookie})

    def signout(self, page: Page) -> HttpResponse:
        return redirect(page.root + "signin", {"Set-Cookie": clear_cookie()})

    # -- pages ------------------------------------------------------------------------------------

    def overview(self, page: Page) -> HttpResponse:
        runtime = self.api.runtime
        times = self._times()
        now = runtime.clock()
        base: dict[str, Any] = {"title": "Queues", "zone": times.describe_zone(now), "now": times.stamp(now)}
        if runtime.config is None or not runtime.config.targets:
            return self.render(page.request, "overview.html", page=page, groups=[], empty="no-config", **base)
        try:
            listing = self.api.list_queues(page.call(path="/queues"))
        except Exception as exc:
            report = describe(exc)
            return self.render(
                page.request,
                "overview.html",
                report.status,
                page=page,
                groups=[],
                empty="unreachable",
                problem=report.message,
                advice=advice_for(report.status, report.code, report.transient),
                **base,
            )
        rows = [views.queue_row(v, times) for v in listing["queues"]]
        groups = views.grouped(rows, list(runtime.config.targets))
        return self.render(
            page.request,
            "overview.html",
            page=page,
            groups=groups,
            empty=None if rows else "no-queues",
            targets=list(runtime.config.targets),
            history=self._history(page, times, limit=10),
            picture=self._picture(now, listing["queues"]),
            **base,
        )

    def queue_page(
        self,
        page: Page,
        bucket: str,
        region: str,
        kind: str,
        queue_id: str,
        *,
        problems: list[Problem] | None = None,
        status: int = 200,
    ) -> HttpResponse:
        runtime = self.api.runtime
        times = self._times()
        now = runtime.clock()
        view = self.api.show_queue(page.call(path="/queue"), bucket, region, kind, queue_id)
        row = views.queue_row(view, times)
        done = page.request.query.get("done")
        return self.render(
            page.request,
            "queue.html",
            status,
            page=page,
            title=row["name"],
            row=row,
            zone=times.describe_zone(now),
            now=times.stamp(now),
            lengths=LENGTHS,
            form=page.form,
            problems=problems or [],
            notice=NOTICES.get(done or ""),
            history=self._history(page, times, key=row["key"]),
            max_reason=MAX_REASON_LENGTH,
        )

    def changes(self, page: Page) -> HttpResponse:
        runtime = self.api.runtime
        times = self._times()
        now = runtime.clock()
        return self.render(
            page.request,
            "changes.html",
            page=page,
            title="Recent changes",
            zone=times.describe_zone(now),
            history=self._history(page, times),
        )

    def week(self, page: Page) -> HttpResponse:
        runtime = self.api.runtime
        times = self._times()
        now = runtime.clock()
        return self.render(
            page.request,
            "week.html",
            page=page,
            title="The week",
            zone=times.describe_zone(now),
            now=times.stamp(now),
            configured=runtime.config is not None,
            picture=self._picture(now, None),
            transitions=views.transition_rows(self._transitions(now), times),
        )

    # -- actions ----------------------------------------------------------------------------------

    def toggle(
        self, page: Page, bucket: str, region: str, kind: str, queue_id: str, action: str
    ) -> HttpResponse:
        if action not in ("pause", "resume"):
            raise NotFound(f"no action {action!r} (pause or resume)", field="action")
        self._require_operate(page)
        ref = queue_ref(bucket, region, kind, queue_id)
        runtime = self.api.runtime
        zone = runtime.config.timezone if runtime.config else "UTC"
        try:
            body = toggle_body(page.form, zone)
        except InvalidInput as exc:
            return self.queue_page(page, bucket, region, kind, queue_id, problems=exc.problems, status=400)
        confirmed = page.form.get("confirm") == "yes"
        body["id"] = command_id(page.form.get("id"))
        body["dry_run"] = not confirmed
        handler = self.api.pause if action == "pause" else self.api.resume
        try:
            response = handler(page.call(body, path="/toggle"), bucket, region, kind, queue_id)
        except BadRequest as exc:
            return self.queue_page(page, bucket, region, kind, queue_id, problems=exc.problems, status=400)
        outcome = response.body
        path = queue_path(ref.bucket, ref.region, ref.kind.value, ref.queue_id)
        if confirmed and outcome.get("ok"):
            return redirect(f"{page.root}{path}?done={action}")
        times = views.Times(zone)
        return self.render(
            page.request,
            "confirm.html",
            response.status if not outcome.get("ok") else 200,
            page=page,
            title=f"{action.capitalize()} {ref.queue_id}?",
            action=action,
            confirmed=confirmed,
            outcome=outcome,
            diff=views.diff_rows(outcome),
            override=views.override_row(outcome["override"], times) if outcome.get("override") else None,
            fields={k: v for k, v in page.form.items() if k in ("reason", "length", "until")},
            command_id=body["id"],
            form_action=f"{page.root}{path}/{action}",
            back=page.root + path,
            error=outcome.get("error"),
        )

    def cancel(self, page: Page, override_id: str) -> HttpResponse:
        from ciqueue.app import executor
        from ciqueue.app.commands import parse_command

        self._require_operate(page)
        runtime = self.api.runtime
        times = self._times()
        doc, _ = runtime.state.load()
        record = doc.override(override_id)
        if record is None:
            raise NotFound(f"no override has id {override_id!r} (it may have ended)", field="override_id")
        path = queue_path(record.bucket, record.region, record.kind, record.queue_id)
        if page.form.get("confirm") != "yes":
            command = parse_command({"action": "cancel_override", "override_id": override_id})
            preview = executor.execute(
                command, runtime, actor=page.call().actor, deadline=page.deadline, dry_run=True
            )
            return self.render(
                page.request,
                "confirm.html",
                preview.status,
                page=page,
                title=f"Cancel override {override_id}?",
                action="cancel",
                confirmed=False,
                outcome=preview.to_dict(),
                diff=[],
                override=views.override_row({**record.model_dump(mode="json"), "key": record.key}, times),
                fields={},
                command_id="",
                form_action=f"{page.root}overrides/{quote(override_id, safe='')}/cancel",
                back=page.root + path,
                error=preview.error,
            )
        response = self.api.cancel_override(page.call(path="/cancel"), override_id)
        outcome = response.body
        if outcome.get("ok"):
            return redirect(f"{page.root}{path}?done=cancel")
        return self.render(
            page.request,
            "confirm.html",
            response.status,
            page=page,
            title=f"Cancel override {override_id}",
            action="cancel",
            confirmed=True,
            outcome=outcome,
            diff=views.diff_rows(outcome),
            override=None,
            fields={},
            command_id="",
            form_action="",
            back=page.root + path,
            error=outcome.get("error"),
        )

    # -- helpers ----------------------------------------------------------------------------------

    def _require_operate(self, page: Page) -> None:
        if page.session is None or not page.session.may("operate"):
            name = page.session.name if page.session else "?"
            raise Forbidden(
                f"{name!r} lacks the scope 'operate': this token may look, not act", field="scope"
            )

    def _transitions(self, now: datetime) -> list[dict[str, Any]]:
        config = self.api.runtime.config
        if config is None:
            return []
        from ciqueue.schedule.plan import plan

        doc, _ = self.api.runtime.state.load()
        return [t.to_dict() for t in plan(config, now, PLAN_DAYS, overrides=doc.engine_overrides())]

    def _times(self) -> views.Times:
        """Times in the config's zone (UTC without a config): one zone per page."""
        config = self.api.runtime.config
        return views.Times(config.timezone if config else None)

    def _history(
        self, page: Page, times: views.Times, key: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Recent changes, newest first, through ``GET /changes`` (one queue's when ``key``)."""
        query = {"limit": str(limit), **({"queue": key} if key else {})}
        listing = self.api.list_changes(page.call(path="/changes", query=query))
        return [views.change_row(change, times) for change in listing["changes"]]

    def _picture(self, now: datetime, views_of_queues: Sequence[Mapping[str, Any]] | None) -> Markup | None:
        """The week as SVG (``schedule.timeline``), per queue when their views are given, else per
        target group, with the active overrides; None without a schedule."""
        config = self.api.runtime.config
        if config is None:
            return None
        from ciqueue.schedule.engine import ObservedQueue
        from ciqueue.schedule.timeline import week_svg

        doc, _ = self.api.runtime.state.load()
        pins = [o.to_engine() for o in doc.overrides if o.active_at(now)]
        observed = None
        if views_of_queues is not None:
            observed = [
                ObservedQueue(
                    v["bucket"],
                    v["region"],
                    v["kind"],
                    v["queue_id"],
                    v["queue"].get("Name"),
                    v["queue"].get("State"),
                )
                for v in views_of_queues
            ]
        # The renderer escapes every text it draws and emits no script, style or link.
        return Markup(week_svg(config, now, observed=observed, overrides=pins))


# --- helpers ----------------------------------------------------------------------------------------


def token_principal(token: str, api: HttpApi) -> Principal:
    """Who an API token is, whatever its scopes (Unauthorized when it is no configured token)."""
    headers = {"authorization": f"Bearer {token}"}
    forbidden: Forbidden | None = None
    for scope in SCOPES:
        try:
            return authenticate(headers, api.tokens, scope)
        except Forbidden as exc:
            forbidden = exc
    assert forbidden is not None
    raise forbidden


def toggle_body(form: Mapping[str, str], zone: str) -> dict[str, Any]:
    """The JSON body of ``POST /queues/.../pause`` for the console's form (its fields named as the
    form names them; the command's own rules judge the values)."""
    problems = []
    reason = form.get("reason", "").strip()
    if not reason:
        problems.append(Problem("reason", "is required: say why, for the audit trail and the next on-call"))
    length = form.get("length", "")
    if length not in LENGTHS:
        problems.append(Problem("length", f"must be one of {', '.join(LENGTHS)}"))
    body: dict[str, Any] = {"reason": reason}
    if length in ("30m", "2h"):
        body["for"] = length
    elif length == "until":
        text = form.get("until", "").strip()
        if not text:
            problems.append(Problem("until", f"is required: a time in {zone}, like 2026-03-02T14:00"))
        body["until"] = local_instant(text, zone)
    elif length == "cancelled":
        body["until"] = "cancelled"
    if problems:
        raise InvalidInput(problems)
    return body


def local_instant(text: str, zone: str) -> str:
    """A ``datetime-local`` value (no offset) as ISO 8601 in ``zone``; other text as it is, for the
    command's own rule to judge."""
    try:
        moment = parse_instant(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.isoformat()


def command_id(presented: str | None) -> str:
    """The command id a confirm carries back (so a double submit creates one override), else new."""
    if presented and presented.startswith("ui-") and len(presented) <= 40 and presented[3:].isalnum():
        return presented
    return "ui-" + secrets.token_hex(12)


def queue_path(bucket: str, region: str, kind: str, queue_id: str) -> str:
    return "queues/" + "/".join(quote(part, safe="") for part in (bucket, region, kind, queue_id))


def parse_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body; a repeated field keeps its last value."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qs(text, keep_blank_values=True, max_num_fields=32)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("body", "must be a form (application/x-www-form-urlencoded, UTF-8)") from None
    return {key: values[-1] for key, values in pairs.items()}


def redirect(location: str, headers: Mapping[str, str] | None = None) -> HttpResponse:
    return HttpResponse(303, None, {"Location": location, **(headers or {})})


def static_file(name: str) -> HttpResponse:
    """A file of static/ (only names of files that are there, of a known type)."""
    path = STATIC / name
    if "/" in name or name.startswith(".") or path.suffix not in STATIC_TYPES or not path.is_file():
        raise NotFound("no such file", field="path")
    return HttpResponse(
        200,
        path.read_text(encoding="utf-8"),
        {"Content-Type": STATIC_TYPES[path.suffix], "Cache-Control": "public, max-age=300"},
    )


def advice_for(status: int, code: str, transient: bool) -> str | None:
    """What a person can do about a failure, by its kind."""
    if status in (502, 504) or transient:
        return (
            "CI did not answer as it should. Check the function's network and CIQUEUE_ENDPOINT, "
            "and CI's status; then reload this page. Nothing was changed by this page."
        )
    if code == "Misconfigured":
        return "The function's settings are broken: fix them in its environment (see docs/deploy.md)."
    if status == 403:
        return "Go back, reload the page and try again; acting needs a token with the operate scope."
    return None

"""The console's Starlette application: pages, sign-in, CSRF, roles, audited actions.

Server-rendered with jinja2 (no JavaScript build step). Sessions are signed cookies
(HttpOnly, SameSite=Lax, Secure unless turned off for plain-HTTP development) holding the
username and the session's CSRF token; every POST must carry that token. A request outside the
user's role is answered 403 and changes nothing.
"""

from __future__ import annotations

import asyncio
import csv
import hmac
import io
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from activities.mail.links import ApprovalLinks, LinkClaim, LinkRefused
from activities.store.projector import Projector
from activities.store.readmodel import RmPlanItemRow
from schemas.learning import EmployeeLearningState
from talentloop.console import auth, email_links, queries
from talentloop.console.auth import User
from talentloop.service.metrics import CONSOLE_DECISIONS, CONSOLE_LINK_REFUSALS, CONSOLE_REQUESTS

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
SESSION_COOKIE = "talentloop_session"


class DecisionRefused(Exception):
    """The employee's workflow refused the decision (the message says why)."""


class Decider(Protocol):
    """Takes approval decisions on employees' workflows and reads their plans."""

    async def decide(
        self, employee_id: str, course_id: str, approver_id: str, approve: bool, comment: str
    ) -> str:
        """Send the decision; the item's new status. Raises `DecisionRefused` when refused."""

    async def state(self, employee_id: str) -> EmployeeLearningState | None:
        """The employee workflow's ``state`` answer, or None when it cannot be had."""


@dataclass(frozen=True)
class ConsoleConfig:
    """How the console application behaves.

    Attributes:
        secret_key: Signs the session cookies (keep it secret; rotate to end all sessions).
        secure_cookies: Mark cookies Secure (only sent over HTTPS; browsers also send them to
            http://localhost). Turn off only for plain-HTTP development on another host.
        session_hours: How long a session lasts.
        sla_days: The approval SLA, for "past SLA" counts.
        funnel_days: The default period of the overview's funnel.
        signin_limit: Failed sign-ins per username in 5 minutes (4 times as many per
            client address).
        heatmap_cache_seconds: How long a computed coverage heatmap is served again (it
            aggregates the whole directory and evidence; it changes slowly).
        trusted_user_header: SSO behind a reverse proxy: the request header naming the
            signed-in user (who must be an active console user). None (the default): only
            the console's own sign-in counts, and such a header is ignored.
        metrics: Serve Prometheus ``/metrics`` (no sign-in: counts only, no personal data;
            keep it off the public route at the proxy).
    """

    secret_key: str
    secure_cookies: bool = True
    session_hours: float = 8.0
    sla_days: int = 5
    funnel_days: int = 30
    signin_limit: int = 5
    heatmap_cache_seconds: float = 60.0
    trusted_user_header: str | None = None
    metrics: bool = True


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["urlencode"] = urlencode
    return env


def _csv(name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else _csv_safe(v) for v in row])
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _csv_safe(value: Any) -> str:
    """A cell as text, with a leading formula character neutralised (CSV injection)."""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _page(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        return 1


def create_app(
    sessions: sessionmaker[Session], config: ConsoleConfig, decider: Decider | None = None
) -> Starlette:
    """The console application over the app database behind `sessions`.

    Args:
        sessions: Session factory on the app database (migrated, read model included).
        config: Cookies, SLA and throttle settings.
        decider: How decisions reach the employees' workflows; None: the console is read-only
            (deciding answers 503).

    Returns:
        The ASGI application.
    """
    env = _env()
    throttle = auth.Throttle(limit=config.signin_limit)
    projector = Projector(sessions)
    links = ApprovalLinks(config.secret_key, "")
    heatmaps: dict[tuple[str, str], tuple[float, queries.Heatmap]] = {}

    async def read(fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn(session, *args)` on a worker thread (queries never block the event loop)."""

        def run() -> Any:
            with sessions() as s:
                return fn(s, *args)

        return await asyncio.to_thread(run)

    def render(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("user", request.state.user if hasattr(request.state, "user") else None)
        ctx["csrf_token"] = _csrf(request)
        ctx["flash"] = request.session.pop("flash", None)
        ctx["path"] = request.url.path
        html = env.get_template(template).render(**ctx)
        return HTMLResponse(html, status_code=status)

    def _csrf(request: Request) -> str:
        token = request.session.get("csrf")
        if not isinstance(token, str):
            token = secrets.token_urlsafe(32)
            request.session["csrf"] = token
        return token

    async def form_checked(request: Request) -> FormData:
        form = await request.form()
        sent = form.get("csrf_token")
        expected = request.session.get("csrf")
        if (
            not isinstance(sent, str)
            or not isinstance(expected, str)
            or not hmac.compare_digest(sent, expected)
        ):
            raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the page")
        return form

    def current(request: Request) -> User | None:
        if config.trusted_user_header:
            proxied = request.headers.get(config.trusted_user_header)
            if proxied:
                return auth.load_user(sessions, proxied.strip())
        name = request.session.get("user")
        if not isinstance(name, str):
            return None
        started = request.session.get("at", 0)
        if not isinstance(started, int | float) or (
            datetime.now(UTC).timestamp() - started > config.session_hours * 3600
        ):
            request.session.clear()
            return None
        user = auth.load_user(sessions, name)
        if user is None:
            request.session.clear()
        return user

    Handler = Callable[[Request, User], Awaitable[Response]]

    def page(
        handler: Handler, *, hr_only: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            user = current(request)
            if user is None:
                nxt = request.url.path
                return RedirectResponse(f"/login?{urlencode({'next': nxt})}", status_code=303)
            request.state.user = user
            if hr_only and not user.sees_all:
                raise HTTPException(403, "this page is for HR")
            return await handler(request, user)

        return endpoint

    # -- sign-in -------------------------------------------------------------------------------

    async def login_form(request: Request) -> Response:
        return render(request, "login.html", next=request.query_params.get("next", "/"), error="")

    async def login(request: Request) -> Response:
        form = await form_checked(request)
        username = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        nxt = str(form.get("next", "/"))
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/"
        client = request.client.host if request.client else "?"
        keys = (f"user:{username}", f"addr:{client}")
        if throttle.blocked(*keys):
            auth.record(sessions, username or "?", "signin", "", "", "throttled")
            return render(
                request,
                "login.html",
                status=429,
                next=nxt,
                error="Too many failed sign-ins: wait a few minutes.",
            )
        user = auth.verify(sessions, username, password)
        if user is None:
            throttle.failed(*keys)
            auth.record(sessions, username or "?", "signin", "", "", "failed")
            return render(
                request, "login.html", status=401, next=nxt, error="Wrong username or password."
            )
        throttle.succeeded(keys[0])
        request.session.clear()  # a fresh session (and CSRF token) on sign-in
        request.session["user"] = user.username
        request.session["at"] = datetime.now(UTC).timestamp()
        request.session["csrf"] = secrets.token_urlsafe(32)
        auth.record(sessions, user.username, "signin", "", "", "ok")
        return RedirectResponse(nxt, status_code=303)

    async def logout(request: Request) -> Response:
        await form_checked(request)
        name = request.session.get("user")
        request.session.clear()
        if isinstance(name, str):
            auth.record(sessions, name, "signout", "", "", "ok")
        return RedirectResponse("/login", status_code=303)

    # -- pages ---------------------------------------------------------------------------------

    async def overview(request: Request, user: User) -> Response:
        try:
            days = min(max(int(request.query_params.get("days", config.funnel_days)), 1), 3660)
        except ValueError:
            days = config.funnel_days
        period = queries.Period.last_days(days)
        numbers = await read(queries.overview, user, period, config.sla_days, datetime.now(UTC))
        return render(request, "overview.html", o=numbers, period=period, days=days)

    def item_filter(request: Request) -> queries.ItemFilter:
        p = request.query_params
        return queries.ItemFilter(
            q=p.get("q", "").strip()[:100],
            state=p.get("state", "") if p.get("state", "") in queries.ALL_STATES else "",
            department=p.get("department", "")[:128],
            role=p.get("role", "")[:128],
            overdue=p.get("overdue") == "1",
            past_sla=p.get("past_sla") == "1",
            failed_notice=p.get("failed_notice") == "1",
            approver=p.get("approver", "")[:128],
        )

    async def items(request: Request, user: User) -> Response:
        f = item_filter(request)
        now = datetime.now(UTC)
        if request.query_params.get("format") == "csv":
            rows = await read(queries.items_all, user, f, config.sla_days, now)
            auth.record(sessions, user.username, "export", "items", urlencode(f.as_params()), "ok")
            return _csv("plan-items", queries.ITEM_COLUMNS, rows)
        page_no = _page(request)

        def listing(s: Session) -> tuple[list[Any], int, list[str], list[str]]:
            rows, total = queries.items(s, user, f, page_no, config.sla_days, now)
            return rows, total, queries.departments(s, user), queries.roles(s, user)

        rows, total, depts, roles = await read(listing)
        return render(
            request,
            "items.html",
            rows=rows,
            total=total,
            page=page_no,
            pages=max(1, -(-total // queries.PAGE_SIZE)),
            f=f,
            params=f.as_params(),
            departments=depts,
            roles=roles,
            states=queries.ALL_STATES,
            title="Plan items",
        )

    async def approvals(request: Request, user: User) -> Response:
        f = item_filter(request)
        f.state = "awaiting_approval"
        if user.role == "manager":
            f.approver = user.employee_id or "-"
        now = datetime.now(UTC)
        if request.query_params.get("format") == "csv":
            rows = await read(queries.items_all, user, f, config.sla_days, now)
            return _csv("approvals", queries.ITEM_COLUMNS, rows)
        page_no = _page(request)
        rows, total = await read(queries.items, user, f, page_no, config.sla_days, now)
        return render(
            request,
            "approvals.html",
            rows=rows,
            total=total,
            page=page_no,
            pages=max(1, -(-total // queries.PAGE_SIZE)),
            params=f.as_params(),
            sla_days=config.sla_days,
            now=now,
        )

    async def heatmap(request: Request, user: User) -> Response:
        today = datetime.now(UTC).date()
        key = ("*" if user.sees_all else f"team:{user.employee_id}", today.isoformat())
        cached = heatmaps.get(key)
        if cached is not None and time.monotonic() - cached[0] < config.heatmap_cache_seconds:
            h = cached[1]
        else:
            with sessions() as s:
                h = await asyncio.to_thread(queries.heatmap, s, user, today)
            heatmaps[key] = (time.monotonic(), h)
        if request.query_params.get("format") == "csv":
            rows = [
                (d, k, *h.cells[(d, k)])
                for d in h.departments
                for k, _ in h.skills
                if (d, k) in h.cells
            ]
            return _csv("coverage", ("department", "skill", "share", "employees", "change"), rows)
        return render(request, "heatmap.html", h=h)

    async def employee(request: Request, user: User) -> Response:
        emp_id = request.path_params["employee_id"]
        with sessions() as s:
            if not queries.may_read_employee(s, user, emp_id):
                raise HTTPException(403, "this employee is not in your team")
            data = queries.employee_page(s, emp_id)
            deciding = {
                i.course_id
                for i in data.items
                if user.can_act and queries.may_decide(s, user, emp_id, i.course_id)
            }
        if data.employee is None and not data.items:
            raise HTTPException(404, "no such employee")
        return render(request, "employee.html", d=data, emp_id=emp_id, deciding=deciding)

    async def decide(request: Request, user: User) -> Response:
        form = await form_checked(request)
        emp_id = str(form.get("employee_id", ""))
        course = str(form.get("course_id", ""))
        approve = form.get("decision") == "approve"
        comment = str(form.get("comment", "")).strip()[:1000]
        action = "approve" if approve else "reject"
        target = f"{emp_id}/{course}"
        with sessions() as s:
            on_behalf = queries.may_decide(s, user, emp_id, course) if user.can_act else None
        if on_behalf is None:
            CONSOLE_DECISIONS.labels("page", "forbidden").inc()
            auth.record(sessions, user.username, action, target, comment, "forbidden")
            raise HTTPException(403, "you may not decide this item")
        if decider is None:
            raise HTTPException(503, "the console has no connection to the workflows")
        try:
            status = await decider.decide(emp_id, course, on_behalf, approve, comment)
        except DecisionRefused as err:
            CONSOLE_DECISIONS.labels("page", "refused").inc()
            auth.record(sessions, user.username, action, target, comment, f"refused: {err}")
            request.session["flash"] = f"Refused: {err}"
        else:
            CONSOLE_DECISIONS.labels("page", "ok").inc()
            behalf = "" if on_behalf == user.employee_id else f" (for {on_behalf})"
            auth.record(sessions, user.username, action, target, comment, f"{status}{behalf}")
            request.session["flash"] = f"{course}: {status}"
            state = await decider.state(emp_id)
            if state is not None:
                projector.apply_plan(state)
        back = str(form.get("back", ""))
        if not back.startswith("/") or back.startswith("//"):
            back = f"/employees/{emp_id}"
        return RedirectResponse(back, status_code=303)

    # -- approve from the email (signed, single-use links; no sign-in: the link is the key) --

    def link_refused(request: Request, why: str, status: int) -> Response:
        return render(request, "link_refused.html", status=status, why=why)

    def checked_link(request: Request, token: str) -> LinkClaim | Response:
        emp_id = request.path_params["employee_id"]
        course = request.path_params["course_id"]
        try:
            claim = links.verify(token, emp_id, course)
        except LinkRefused as err:
            CONSOLE_LINK_REFUSALS.labels(err.reason).inc()
            return link_refused(request, str(err), 410 if err.reason == "expired" else 400)
        spent = email_links.used(sessions, claim.link_id)
        if spent is not None:
            CONSOLE_LINK_REFUSALS.labels("used").inc()
            return link_refused(
                request,
                f"This link was used already ({spent.decision}, {spent.used_at:%Y-%m-%d %H:%M}"
                f" UTC: {spent.outcome}). Each approval email decides once.",
                410,
            )
        return claim

    async def link_confirm(request: Request) -> Response:
        token = request.query_params.get("t", "")
        claim = checked_link(request, token)
        if isinstance(claim, Response):
            return claim
        with sessions() as s:
            item = s.get(RmPlanItemRow, (claim.employee_id, claim.course_id))
            title = item.title if item is not None else claim.course_id
        return render(request, "link_confirm.html", c=claim, token=token, title=title)

    async def link_decide(request: Request) -> Response:
        form = await form_checked(request)
        token = str(form.get("t", ""))
        comment = str(form.get("comment", "")).strip()[:1000]
        claim = checked_link(request, token)
        if isinstance(claim, Response):
            return claim
        if decider is None:
            raise HTTPException(503, "the console has no connection to the workflows: try later")
        if not email_links.claim(sessions, claim):
            CONSOLE_LINK_REFUSALS.labels("used").inc()
            return link_refused(request, "This link was used already.", 410)
        actor = f"email:{claim.approver_id}"
        target = f"{claim.employee_id}/{claim.course_id}"
        try:
            status = await decider.decide(
                claim.employee_id, claim.course_id, claim.approver_id, claim.approve, comment
            )
        except DecisionRefused as err:
            outcome, ok = f"refused: {err}", False
        except Exception as err:
            email_links.release(sessions, claim.link_id)
            log.warning("deciding through an approval link failed: %s", type(err).__name__)
            raise HTTPException(
                503, "the decision could not be sent: try the link again later"
            ) from err
        else:
            outcome, ok = status, True
        email_links.finish(sessions, claim.link_id, outcome)
        CONSOLE_DECISIONS.labels("email", "ok" if ok else "refused").inc()
        auth.record(sessions, actor, claim.decision, target, comment, outcome)
        if ok:
            state = await decider.state(claim.employee_id)
            if state is not None:
                projector.apply_plan(state)
        return render(
            request, "link_result.html", status=200 if ok else 409, c=claim, ok=ok, outcome=outcome
        )

    async def dead_letter_list(request: Request, user: User) -> Response:
        reason = request.query_params.get("reason", "")[:64]
        with sessions() as s:
            if request.query_params.get("format") == "csv":
                rows, _ = queries.dead_letters(s, reason, 1)
                return _csv(
                    "dead-letters",
                    ("partition", "offset", "at", "reason", "detail", "source"),
                    [
                        (
                            r.partition,
                            r.offset,
                            r.at,
                            r.reason,
                            r.detail,
                            f"{r.source_topic}/{r.source_partition}@{r.source_offset}",
                        )
                        for r in rows
                    ],
                )
            page_no = _page(request)
            rows, total = queries.dead_letters(s, reason, page_no)
            reasons = queries.dead_letter_reasons(s)
        return render(
            request,
            "dead_letters.html",
            rows=rows,
            total=total,
            page=page_no,
            pages=max(1, -(-total // queries.PAGE_SIZE)),
            reason=reason,
            reasons=reasons,
            params={"reason": reason} if reason else {},
        )

    async def audit_page(request: Request, user: User) -> Response:
        page_no = _page(request)
        with sessions() as s:
            rows, total = queries.audit_lines(s, user, page_no)
        if request.query_params.get("format") == "csv":
            return _csv(
                "audit",
                ("at", "actor", "action", "target", "reason", "outcome"),
                [(r.at, r.actor, r.action, r.target, r.reason, r.outcome) for r in rows],
            )
        return render(
            request,
            "audit.html",
            rows=rows,
            total=total,
            page=page_no,
            pages=max(1, -(-total // queries.PAGE_SIZE)),
            params={},
        )

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def metrics_page(_request: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 403 and request.method == "POST":
            log.info("refused %s %s: %s", request.method, request.url.path, exc.status_code)
        return render(
            request,
            "error.html",
            status=exc.status_code,
            status_code=exc.status_code,
            detail=exc.detail,
        )

    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        CONSOLE_REQUESTS.labels(request.method, str(response.status_code)).inc()
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; style-src 'self' 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'"
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    from starlette.middleware.base import BaseHTTPMiddleware

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", page(overview)),
        Route("/items", page(items)),
        Route("/approvals", page(approvals)),
        Route("/heatmap", page(heatmap)),
        Route("/employees/{employee_id}", page(employee)),
        Route("/decide", page(decide), methods=["POST"]),
        Route("/approval-link/{employee_id}/{course_id}", link_confirm, methods=["GET"]),
        Route("/approval-link/{employee_id}/{course_id}", link_decide, methods=["POST"]),
        Route("/dead-letters", page(dead_letter_list, hr_only=True)),
        Route("/audit", page(audit_page)),
        Route("/healthz", healthz),
        *([Route("/metrics", metrics_page)] if config.metrics else []),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(BaseHTTPMiddleware, dispatch=security_headers),
            Middleware(
                SessionMiddleware,
                secret_key=config.secret_key,
                session_cookie=SESSION_COOKIE,
                max_age=int(config.session_hours * 3600),
                same_site="lax",
                https_only=config.secure_cookies,
            ),
        ],
        exception_handlers={HTTPException: http_error},
    )

"""Operator sessions as HMAC-signed cookies, CSRF tokens, login with lock-out, logout."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

import db.logins
import db.people
from db.models import utcnow
from gateway.channels.console.passwords import hash_password, verify_password
from gateway.settings import Settings

SESSION_COOKIE = "doorstep_console"
LOGIN_COOKIE = "doorstep_console_login"
PREFIX = "/console"
# Paths anyone may fetch: the login form, static files and the language switch.
PUBLIC = ("/console/login", "/console/static/", "/console/lang")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Scripts and everything else from the console itself; inline styles only for chart colours.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; media-src 'self'; connect-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")

# Verifying against this when the username is unknown keeps both answers equally slow.
_DUMMY_HASH = hash_password(secrets.token_hex(16))

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def load_secret(settings: Settings) -> bytes:
    """The configured secret, or one generated once and kept in data_dir (restarts keep sessions)."""
    if settings.console_secret:
        return settings.console_secret.encode()
    path = Path(settings.data_dir) / "console-secret"
    try:
        return path.read_text(encoding="ascii").strip().encode()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(value + "\n")
    return value.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _fingerprint(password_hash: str) -> str:
    """Changes when the password does, so a password reset ends every old session."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class OperatorSession:
    sid: str
    operator_id: int
    username: str
    expires: float
    fingerprint: str
    issued: float = 0.0  # time.time() at login

    @property
    def actor(self) -> str:
        """How the operator appears in order events."""
        return f"operator:{self.username}"


class Sessions:
    """Signs and checks session cookies; remembers logged-out sessions until they expire."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.secret = load_secret(settings)
        self.secure = settings.public_url.startswith("https://")
        self.max_age = int(settings.console_session_hours * 3600)
        self._revoked: dict[str, float] = {}
        # Failed logins for usernames that do not exist, counted like real accounts' so the
        # lock-out answer does not tell which usernames exist.

    def _sign(self, message: str) -> str:
        return hmac.new(self.secret, message.encode(), hashlib.sha256).hexdigest()

    def issue(self, operator_id: int, username: str, password_hash: str) -> tuple[str, OperatorSession]:
        now = time.time()
        sess = OperatorSession(sid=secrets.token_urlsafe(16), operator_id=operator_id,
                               username=username, expires=now + self.max_age,
                               fingerprint=_fingerprint(password_hash), issued=now)
        body = _b64(json.dumps({"sid": sess.sid, "uid": operator_id, "u": username,
                                "exp": sess.expires, "fp": sess.fingerprint, "iat": now},
                               separators=(",", ":")).encode())
        return f"{body}.{self._sign('session|' + body)}", sess

    def read(self, cookie: str | None) -> OperatorSession | None:
        if not cookie or "." not in cookie:
            return None
        body, sig = cookie.rsplit(".", 1)
        if not hmac.compare_digest(sig, self._sign("session|" + body)):
            return None
        try:
            data = json.loads(_unb64(body))
            sess = OperatorSession(sid=str(data["sid"]), operator_id=int(data["uid"]),
                                   username=str(data["u"]), expires=float(data["exp"]),
                                   fingerprint=str(data["fp"]), issued=float(data.get("iat", 0)))
        except (ValueError, KeyError, TypeError):
            return None
        if sess.expires < time.time() or sess.sid in self._revoked:
            return None
        return sess

    def revoke(self, sess: OperatorSession) -> None:
        now = time.time()
        self._revoked = {k: v for k, v in self._revoked.items() if v > now}
        self._revoked[sess.sid] = sess.expires

    def csrf_token(self, sess: OperatorSession) -> str:
        return self._sign("csrf|" + sess.sid)

    def login_token(self, nonce: str) -> str:
        return self._sign("login|" + nonce)

    def set_cookie(self, response: web.StreamResponse, name: str, value: str,
                   max_age: int | None = None) -> None:
        response.set_cookie(name, value, path=PREFIX, httponly=True, samesite="Lax",
                            secure=self.secure, max_age=max_age)

    def clear(self, response: web.StreamResponse) -> None:
        response.del_cookie(SESSION_COOKIE, path=PREFIX)


SESSIONS = web.AppKey("console_sessions", Sessions)
OPERATOR = web.RequestKey("console_operator", OperatorSession)


def sessions_of(request: web.Request) -> Sessions:
    return request.app[SESSIONS]


def current(request: web.Request) -> OperatorSession:
    """The logged-in operator (the middleware guarantees one on non-public pages)."""
    return request[OPERATOR]


def safe_next(value: str | None) -> str:
    """Only a path inside the console may be a redirect target."""
    if value and value.startswith(PREFIX + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return PREFIX + "/orders"


async def _submitted_token(request: web.Request) -> str:
    header = request.headers.get("X-CSRF-Token")
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await request.post()
        except ValueError:  # a body that is not a form (e.g. not UTF-8): no token
            return ""
        value = form.get("csrf")
        return value if isinstance(value, str) else ""
    return ""


@web.middleware
async def console_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Login required under /console (except PUBLIC), and a valid CSRF token on every POST."""
    path = request.path
    if not (path == PREFIX or path.startswith(PREFIX + "/")):
        return await handler(request)
    sessions = sessions_of(request)
    sess = sessions.read(request.cookies.get(SESSION_COOKIE))
    if sess is not None and not await operator_still_valid(request, sess):
        sess = None
    if sess is not None:
        request[OPERATOR] = sess
    is_public = path.startswith(PUBLIC)
    if sess is None and not is_public:
        if request.method in SAFE_METHODS and "json" not in request.headers.get("Accept", ""):
            raise web.HTTPSeeOther(f"{PREFIX}/login?next={request.rel_url.path_qs}")
        return web.json_response({"error": "login required"}, status=401)
    if request.method not in SAFE_METHODS:
        given = await _submitted_token(request)
        if path == PREFIX + "/login":
            nonce = request.cookies.get(LOGIN_COOKIE, "")
            expected = sessions.login_token(nonce) if nonce else ""
        else:
            expected = sessions.csrf_token(sess) if sess is not None else ""
        if not expected or not given or not hmac.compare_digest(given, expected):
            return web.Response(status=403, text="invalid or missing CSRF token; reload the page")
    response = await handler(request)
    if not path.startswith(PREFIX + "/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


@dataclass
class LoginResult:
    ok: bool
    locked_until: Any = None
    operator: Any = None


def client_address(request: web.Request, settings: Settings) -> str:
    """The client's address: the peer, or the last X-Forwarded-For hop a trusted proxy added."""
    peer = request.remote or "?"
    trusted = {a.strip() for a in settings.console_trusted_proxies.split(",") if a.strip()}
    if peer in trusted:
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
        for hop in reversed([h for h in hops if h]):
            if hop not in trusted:
                return hop[:64]
    return peer[:64]


async def check_login(request: web.Request, username: str, password: str) -> LoginResult:
    """Take an attempt slot (per user name and address, and per address) before the password
    is checked, so however many guesses arrive at once at most the limit is evaluated; known
    and unknown names take the same path and the same time; a name is locked only for the
    address its failures came from."""
    from gateway.services import services_of

    services = services_of(request)
    settings = services.settings
    name = username.strip()
    address = client_address(request, settings)
    user_key, address_key = f"u:{name}|{address}", f"a:{address}"
    window = timedelta(minutes=settings.console_lockout_minutes)
    now = utcnow()
    async with services.db.session() as s:  # committed before the slow check
        await db.logins.forget_expired(s, window, now)
        per_user = await db.logins.take(s, user_key, settings.console_max_failed_logins,
                                        window, now)
        per_address = await db.logins.take(s, address_key,
                                           settings.console_max_logins_per_address, window, now)
        if per_user is None or per_address is None:
            start = await db.logins.window_of(s, user_key if per_user is None else address_key)
            return LoginResult(False, locked_until=(start or now) + window)
        op = await db.people.operator_by_username(s, name)
        stored = op.password_hash if op is not None else _DUMMY_HASH
    good = await asyncio.to_thread(verify_password, stored, password)
    if good and op is not None:
        async with services.db.session() as s:
            await db.logins.clear(s, user_key)
            op = await db.people.operator_by_username(s, name)
        if op is not None:
            return LoginResult(True, operator=op)
    (user_count, user_start), (address_count, address_start) = per_user, per_address
    if user_count >= settings.console_max_failed_logins:
        return LoginResult(False, locked_until=user_start + window)
    if address_count >= settings.console_max_logins_per_address:
        return LoginResult(False, locked_until=address_start + window)
    return LoginResult(False)


async def operator_still_valid(request: web.Request, sess: OperatorSession) -> bool:
    """False once the operator is deleted, the password has changed since login, or the
    operator logged out after this session began (on any device, before a restart too)."""
    from gateway.services import services_of

    async with services_of(request).db.session() as s:
        op = await db.people.operator_by_username(s, sess.username)
        if op is None or op.id != sess.operator_id or \
                _fingerprint(op.password_hash) != sess.fingerprint:
            return False
        revoked = op.sessions_revoked_at
        return revoked is None or sess.issued > revoked.timestamp()


async def end_sessions(request: web.Request, sess: OperatorSession) -> None:
    """Log out: this session now, and every other one of the operator issued before now."""
    from gateway.services import services_of

    sessions_of(request).revoke(sess)
    async with services_of(request).db.session() as s:
        op = await db.people.operator_by_username(s, sess.username)
        if op is not None and op.id == sess.operator_id:
            op.sessions_revoked_at = utcnow()

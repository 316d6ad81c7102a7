"""A small stand-in for Twilio's Messages API on loopback, for the outbound SMS tests.

It speaks `POST/GET /2010-04-01/Accounts/{sid}/Messages.json` with basic auth, records every
message it accepts, and can be told to fail (`fail_next`), to be slow (`delay`), or to accept a
message and then hang (`hang_after_accept`: the ambiguous time-out case).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class Sent:
    sid: str
    to: str
    from_: str
    body: str
    at: datetime


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    messages: list[Sent] = field(default_factory=list)
    requests: int = 0
    failures: list[tuple[int, int]] = field(default_factory=list)  # (status, code) queue
    delay: float = 0.0
    hang_after_accept: int = 0  # how many of the next accepted messages hang before answering
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    server: TestServer | None = None

    def fail_next(self, n: int = 1, status: int = 500, code: int = 20500) -> None:
        self.failures.extend([(status, code)] * n)

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def _authorised(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    def _json(self, m: Sent) -> dict[str, Any]:
        return {"sid": m.sid, "account_sid": self.account_sid, "to": m.to, "from": m.from_,
                "body": m.body, "status": "queued", "num_segments": "1", "direction":
                "outbound-api", "date_created": format_datetime(m.at),
                "date_sent": format_datetime(m.at), "date_updated": format_datetime(m.at),
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{m.sid}.json"}

    async def create(self, request: web.Request) -> web.Response:
        self.requests += 1
        if not self._authorised(request) or request.match_info["sid"] != self.account_sid:
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401},
                                     status=401)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            status, code = self.failures.pop(0)
            return web.json_response({"code": code, "message": "simulated failure",
                                      "status": status}, status=status)
        form = await request.post()
        to, body = str(form.get("To", "")), str(form.get("Body", ""))
        if not to:
            return web.json_response({"code": 21604, "message": "A 'To' phone number is "
                                      "required.", "status": 400}, status=400)
        m = Sent(f"SM{next(self._ids):032d}", to, str(form.get("From", "")), body,
                 datetime.now(timezone.utc))
        self.messages.append(m)
        if self.hang_after_accept:
            self.hang_after_accept -= 1
            await asyncio.sleep(3600)
        return web.json_response(self._json(m), status=201)

    async def list(self, request: web.Request) -> web.Response:
        self.requests += 1
        if not self._authorised(request):
            return web.json_response({"code": 20003, "status": 401}, status=401)
        to = request.query.get("To")
        found = [self._json(m) for m in reversed(self.messages) if to is None or m.to == to]
        return web.json_response({"messages": found, "next_page_uri": None, "page": 0,
                                  "page_size": 50, "uri": request.rel_url.path_qs})

    async def start(self) -> FakeTwilio:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create)
        app.router.add_get("/2010-04-01/Accounts/{sid}/Messages.json", self.list)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    def bodies_to(self, phone: str) -> list[str]:
        return [m.body for m in self.messages if m.to == phone]

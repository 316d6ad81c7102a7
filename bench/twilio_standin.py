"""A stand-in for Twilio's Messages and Calls APIs on loopback, shared by the tests and benches.

It speaks `POST/GET /2010-04-01/Accounts/{sid}/Messages.json` as Twilio does (201 with the
message resource; the list filtered by `To`), records every message it accepts, and can be told
to check basic auth (`account_sid`, `auth_token`), to fail (`fail_next`), to be slow (`delay`),
to accept a message and then hang (`hang_after_accept`: the ambiguous time-out case), to answer
503 (`down`), or to go away and come back on the same port (`stop()`, `start()`).

Calls: `POST /2010-04-01/Accounts/{sid}/Calls.json` records each call it is asked to place (to,
from, url or twiml, status callback) and answers 201 with the call resource and a CallSid;
`GET Calls.json` lists them (filtered by `To`), `GET Calls/{CallSid}.json` reads one back with the
status a test set (`set_status`). `fail_next_call` makes the next call requests fail,
`hang_after_call` places the call and never answers the request. The stand-in
never calls the webhooks itself: tests play Twilio's side with signed requests.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sent:
    sid: str
    to: str
    from_: str
    body: str
    at: datetime


@dataclass
class PlacedCall:
    sid: str
    to: str
    from_: str
    url: str
    twiml: str
    status_callback: str
    status_callback_method: str
    timeout: str
    at: datetime
    status: str = "queued"
    duration: int = 0
    answered_by: str = ""
    machine_detection: str = ""  # the request's MachineDetection ("Enable", or none)


class TwilioStandIn:
    def __init__(self, account_sid: str | None = None, auth_token: str | None = None,
                 port: int | None = None) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.port = port or free_port()
        self.messages: list[Sent] = []
        self.requests = 0
        self.refused = 0  # requests answered 503 while `down`
        self.down = False
        self.delay = 0.0
        self.hang_after_accept = 0  # how many of the next accepted messages hang
        self.failures: list[tuple[int, int]] = []  # (status, code) queue
        self.calls: list[PlacedCall] = []
        self.call_failures: list[tuple[int, int]] = []  # (status, code) queue for calls
        self.hang_after_call = 0  # how many of the next placed calls hang (ambiguous)
        self._hanging: asyncio.Event | None = None
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    base_url = url

    def fail_next(self, n: int = 1, status: int = 500, code: int = 20500) -> None:
        self.failures.extend([(status, code)] * n)

    def fail_next_call(self, n: int = 1, status: int = 500, code: int = 20500) -> None:
        self.call_failures.extend([(status, code)] * n)

    def calls_to(self, phone: str) -> list[PlacedCall]:
        return [c for c in self.calls if c.to == phone]

    def set_status(self, sid: str, status: str, duration: int = 0, answered_by: str = "") -> None:
        """What `GET Calls/{sid}.json` says of a call from now on."""
        for c in self.calls:
            if c.sid == sid:
                c.status, c.duration, c.answered_by = status, duration, answered_by

    def bodies_to(self, phone: str) -> list[str]:
        return [m.body for m in self.messages if m.to == phone]

    def _refusal(self, request: web.Request) -> web.Response | None:
        self.requests += 1
        if self.down:
            self.refused += 1
            return web.json_response({"code": 20503, "message": "Service unavailable",
                                      "status": 503}, status=503)
        if self.auth_token is None:
            return None
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}" or \
                request.match_info["account"] != self.account_sid:
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401},
                                     status=401)
        return None

    @staticmethod
    def _resource(m: Sent, account: str) -> dict[str, Any]:
        at = format_datetime(m.at, usegmt=True)
        return {"sid": m.sid, "account_sid": account, "to": m.to, "from": m.from_,
                "body": m.body, "status": "queued", "num_segments": "1",
                "direction": "outbound-api", "api_version": "2010-04-01", "date_created": at,
                "date_updated": at, "date_sent": at, "error_code": None, "error_message": None,
                "price": None, "price_unit": "USD", "num_media": "0", "subresource_uris": {},
                "messaging_service_sid": None,
                "uri": f"/2010-04-01/Accounts/{account}/Messages/{m.sid}.json"}

    async def _before_create(self, request: web.Request,
                             failures: list[tuple[int, int]]) -> web.Response | None:
        """What a create request meets first: bad credentials, the set delay, and the next
        simulated failure of `failures` (status, Twilio code), as Twilio answers them."""
        refused = self._refusal(request)
        if refused is not None:
            return refused
        if self.delay:
            await asyncio.sleep(self.delay)
        if failures:
            status, code = failures.pop(0)
            return web.json_response({"code": code, "message": "simulated failure",
                                      "status": status}, status=status)
        return None

    async def _create(self, request: web.Request) -> web.Response:
        early = await self._before_create(request, self.failures)
        if early is not None:
            return early
        form = await request.post()
        to = str(form.get("To", ""))
        if not to:
            return web.json_response({"code": 21604, "message": "A 'To' phone number is "
                                      "required.", "status": 400}, status=400)
        m = Sent(f"SM{next(self._ids):032d}", to, str(form.get("From", "")),
                 str(form.get("Body", "")), datetime.now(UTC))
        self.messages.append(m)
        if self.hang_after_accept:
            self.hang_after_accept -= 1
            await asyncio.sleep(3600)
        return web.json_response(self._resource(m, request.match_info["account"]), status=201)

    async def _list(self, request: web.Request) -> web.Response:
        """GET Messages.json?To=…: what the sender checks before retrying an ambiguous send."""
        refused = self._refusal(request)
        if refused is not None:
            return refused
        to = request.query.get("To")
        found = [self._resource(m, request.match_info["account"]) for m in reversed(self.messages)
                 if to is None or m.to == to][:int(request.query.get("PageSize", "50"))]
        return web.json_response({"messages": found, "end": max(0, len(found) - 1),
                                  "first_page_uri": request.path_qs, "next_page_uri": None,
                                  "page": 0, "page_size": len(found), "previous_page_uri": None,
                                  "start": 0, "uri": request.path_qs})

    @staticmethod
    def _call_resource(c: PlacedCall, account: str) -> dict[str, Any]:
        at = format_datetime(c.at, usegmt=True)
        return {"sid": c.sid, "account_sid": account, "to": c.to, "to_formatted": c.to,
                "from": c.from_, "from_formatted": c.from_, "status": c.status,
                "direction": "outbound-api", "api_version": "2010-04-01",
                "date_created": at, "date_updated": at, "start_time": None, "end_time": None,
                "duration": str(c.duration) if c.status == "completed" else None,
                "answered_by": c.answered_by or None, "parent_call_sid": None,
                "phone_number_sid": None, "price": None, "price_unit": "USD",
                "forwarded_from": None, "group_sid": None, "caller_name": None,
                "queue_time": "0", "trunk_sid": None, "subresource_uris": {},
                "uri": f"/2010-04-01/Accounts/{account}/Calls/{c.sid}.json"}

    async def _create_call(self, request: web.Request) -> web.Response:
        early = await self._before_create(request, self.call_failures)
        if early is not None:
            return early
        form = await request.post()
        to, from_ = str(form.get("To", "")), str(form.get("From", ""))
        url, twiml = str(form.get("Url", "")), str(form.get("Twiml", ""))
        if not to or not from_:
            return web.json_response({"code": 21201, "message": "No 'To' or 'From' number "
                                      "is specified", "status": 400}, status=400)
        if not url and not twiml:
            return web.json_response({"code": 21205, "message": "Url parameter is required.",
                                      "status": 400}, status=400)
        c = PlacedCall(f"CA{next(self._ids):032d}", to, from_, url, twiml,
                       str(form.get("StatusCallback", "")),
                       str(form.get("StatusCallbackMethod", "POST")),
                       str(form.get("Timeout", "")), datetime.now(UTC),
                       machine_detection=str(form.get("MachineDetection", "")))
        self.calls.append(c)
        if self.hang_after_call:
            self.hang_after_call -= 1
            self._hanging = self._hanging or asyncio.Event()
            try:  # until stop(): a hanging handler would hold up the server's shutdown
                await asyncio.wait_for(self._hanging.wait(), 3600)
            except TimeoutError:
                pass
        return web.json_response(self._call_resource(c, request.match_info["account"]),
                                 status=201)

    async def _list_calls(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        to = request.query.get("To")
        found = [self._call_resource(c, request.match_info["account"])
                 for c in reversed(self.calls)
                 if to is None or c.to == to][:int(request.query.get("PageSize", "50"))]
        return web.json_response({"calls": found, "end": max(0, len(found) - 1),
                                  "first_page_uri": request.path_qs, "next_page_uri": None,
                                  "page": 0, "page_size": len(found), "previous_page_uri": None,
                                  "start": 0, "uri": request.path_qs})

    async def _fetch_call(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        for c in self.calls:
            if c.sid == request.match_info["sid"]:
                return web.json_response(self._call_resource(c, request.match_info["account"]))
        return web.json_response({"code": 20404, "message": "not found", "status": 404},
                                 status=404)

    async def start(self) -> TwilioStandIn:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._create)
        app.router.add_get("/2010-04-01/Accounts/{account}/Messages.json", self._list)
        app.router.add_post("/2010-04-01/Accounts/{account}/Calls.json", self._create_call)
        app.router.add_get("/2010-04-01/Accounts/{account}/Calls.json", self._list_calls)
        app.router.add_get("/2010-04-01/Accounts/{account}/Calls/{sid}.json", self._fetch_call)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._hanging is not None:
            self._hanging.set()
            self._hanging = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

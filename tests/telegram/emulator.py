"""A small Telegram Bot API emulator on loopback, for running the real bot in tests.

It answers the methods aiogram calls (getMe, sendMessage, editMessageText,
editMessageReplyMarkup, answerCallbackQuery, sendVoice, sendDocument, deleteMessage, getUpdates, setWebhook,
deleteWebhook, ...), keeps each chat's messages as they are after edits, records every call,
and lets a test play users: text, locations, button presses. Updates go to the webhook when
one is set, otherwise to getUpdates (long polling). `flood()` answers the next sends with 429
and `down` answers everything with 502, like an outage behind Telegram's front end.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

BOT_ID = 777000111
SEND_METHODS = {"sendmessage", "sendvoice", "senddocument", "editmessagetext", "editmessagereplymarkup",
                "deletemessage"}


@dataclass
class Call:
    """One Bot API call the bot made, and whether it succeeded."""

    method: str
    params: dict[str, Any]
    ok: bool
    result: Any = None
    at: float = field(default_factory=time.monotonic)

    @property
    def chat_id(self) -> int | None:
        v = self.params.get("chat_id")
        return int(v) if v is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def buttons(self) -> list[str]:
        markup = self.params.get("reply_markup") or {}
        return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


def _parse(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class BotApiEmulator:
    def __init__(self, token: str = "123456:TEST-doorstep-token",
                 username: str = "doorstep_bot") -> None:
        self.token = token
        self.username = username
        self.calls: list[Call] = []
        self.chats: dict[int, dict[int, dict[str, Any]]] = {}  # chat -> message id -> message
        self.answers: dict[str, dict[str, Any]] = {}
        self.pending: list[dict[str, Any]] = []
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_target: str | None = None  # where to post instead of webhook_url
        self.webhook_responses: list[int] = []
        self.down = False
        # Telegram's limits: 4,096 UTF-16 units a text, 1,024 a caption (always enforced);
        # with `per_chat_per_second` set, a chat that gets more than that in a second is
        # answered 429 with retry_after, as Telegram does for a chat flooded by a bot.
        self.per_chat_per_second: float | None = None
        self._sent_at: dict[int, list[float]] = {}
        self._flood: list[int] = []
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(500001)
        self._new_update = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.port = 0

    # -- server ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port or self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if self._http is None:
            self._http = aiohttp.ClientSession()

    async def stop(self, *, keep_client: bool = False) -> None:
        """Stop listening (connections are refused until `start()` again on the same port)."""
        self._new_update.set()  # release long polls
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if not keep_client and self._http is not None:
            await self._http.close()
            self._http = None

    def flood(self, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` sends with 429 Too Many Requests."""
        self._flood.extend([retry_after] * times)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.match_info["method"]
        params: dict[str, Any] = {}
        if request.method == "POST" and request.can_read_body:
            form = await request.post()
            for k, v in form.items():
                params[k] = {"filename": v.filename, "size": len(v.file.read())} \
                    if isinstance(v, web.FileField) else _parse(v)
        if self.down:
            return web.Response(status=502, text="Bad Gateway")
        key = method.lower()
        if key in SEND_METHODS and self._flood:
            retry = self._flood.pop(0)
            self.calls.append(Call(method, params, False))
            return self._error(429, f"Too Many Requests: retry after {retry}",
                               parameters={"retry_after": retry})
        if key in SEND_METHODS and (refusal := self._limits(key, params)) is not None:
            self.calls.append(Call(method, params, False, refusal.text))
            return refusal
        fn = getattr(self, f"_m_{key}", None)
        if fn is None:
            return self._error(404, "Not Found: method not found")
        try:
            result = await fn(params)
        except _ApiError as exc:
            self.calls.append(Call(method, params, False, exc.description))
            return self._error(exc.code, exc.description)
        self.calls.append(Call(method, params, True, result))
        return web.json_response({"ok": True, "result": result})

    def _limits(self, key: str, params: dict[str, Any]) -> web.Response | None:
        def units(text: Any) -> int:
            return len(str(text).encode("utf-16-le")) // 2

        if key in ("sendmessage", "editmessagetext"):
            text = params.get("text")
            if not text or not str(text).strip():
                return self._error(400, "Bad Request: message text is empty")
            if units(text) > 4096:
                return self._error(400, "Bad Request: message is too long")
        if params.get("caption") and units(params["caption"]) > 1024:
            return self._error(400, "Bad Request: message caption is too long")
        if self.per_chat_per_second and key in ("sendmessage", "sendvoice", "senddocument") \
                and params.get("chat_id") is not None:
            now = time.monotonic()
            recent = [t for t in self._sent_at.get(int(params["chat_id"]), []) if now - t < 1.0]
            if len(recent) >= self.per_chat_per_second:
                return self._error(429, "Too Many Requests: retry after 1",
                                   parameters={"retry_after": 1})
            self._sent_at[int(params["chat_id"])] = [*recent, now]
        return None

    @staticmethod
    def _error(code: int, description: str, **extra: Any) -> web.Response:
        return web.json_response({"ok": False, "error_code": code, "description": description,
                                  **extra}, status=code)

    # -- Bot API methods ---------------------------------------------------------------------

    def _bot_user(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Doorstep", "username": self.username}

    def _new_message(self, chat_id: int, **content: Any) -> dict[str, Any]:
        mid = next(self._ids)
        msg = {"message_id": mid, "date": int(time.time()), "from": self._bot_user(),
               "chat": self._chat(chat_id), **{k: v for k, v in content.items() if v}}
        self.chats.setdefault(chat_id, {})[mid] = msg
        return msg

    @staticmethod
    def _chat(chat_id: int) -> dict[str, Any]:
        return {"id": chat_id, "type": "private", "first_name": "User"} if chat_id > 0 else \
            {"id": chat_id, "type": "supergroup", "title": "Operators"}

    def _find(self, params: dict[str, Any]) -> dict[str, Any]:
        msg = self.chats.get(int(params["chat_id"]), {}).get(int(params["message_id"]))
        if msg is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return msg

    async def _m_getme(self, p: dict[str, Any]) -> Any:
        return self._bot_user()

    async def _m_sendmessage(self, p: dict[str, Any]) -> Any:
        return self._new_message(int(p["chat_id"]), text=p["text"],
                                 reply_markup=p.get("reply_markup"))

    async def _m_sendvoice(self, p: dict[str, Any]) -> Any:
        voice = {"file_id": f"voice-{len(self.calls)}", "file_unique_id": f"u{len(self.calls)}",
                 "duration": int(p.get("duration") or 1)}
        return self._new_message(int(p["chat_id"]), voice=voice, caption=p.get("caption"))

    async def _m_senddocument(self, p: dict[str, Any]) -> Any:
        doc = {"file_id": f"doc-{len(self.calls)}", "file_unique_id": f"d{len(self.calls)}"}
        return self._new_message(int(p["chat_id"]), document=doc, caption=p.get("caption"))

    async def _m_editmessagetext(self, p: dict[str, Any]) -> Any:
        msg = self._find(p)
        markup = p.get("reply_markup")
        if msg.get("text") == p["text"] and msg.get("reply_markup") == markup:
            raise _ApiError(400, "Bad Request: message is not modified")
        msg["text"] = p["text"]
        msg.pop("reply_markup", None)
        if markup:
            msg["reply_markup"] = markup
        return msg

    async def _m_editmessagereplymarkup(self, p: dict[str, Any]) -> Any:
        msg = self._find(p)
        msg.pop("reply_markup", None)
        if p.get("reply_markup"):
            msg["reply_markup"] = p["reply_markup"]
        return msg

    async def _m_deletemessage(self, p: dict[str, Any]) -> Any:
        if self.chats.get(int(p["chat_id"]), {}).pop(int(p["message_id"]), None) is None:
            raise _ApiError(400, "Bad Request: message to delete not found")
        return True

    async def _m_answercallbackquery(self, p: dict[str, Any]) -> Any:
        self.answers[str(p["callback_query_id"])] = p
        return True

    async def _m_setwebhook(self, p: dict[str, Any]) -> Any:
        self.webhook_url, self.webhook_secret = p["url"], p.get("secret_token")
        return True

    async def _m_deletewebhook(self, p: dict[str, Any]) -> Any:
        self.webhook_url = self.webhook_secret = None
        return True

    async def _m_getwebhookinfo(self, p: dict[str, Any]) -> Any:
        return {"url": self.webhook_url or "", "has_custom_certificate": False,
                "pending_update_count": len(self.pending)}

    async def _m_setmycommands(self, p: dict[str, Any]) -> Any:
        return True

    async def _m_getupdates(self, p: dict[str, Any]) -> Any:
        offset = int(p.get("offset") or 0)
        self.pending = [u for u in self.pending if u["update_id"] >= offset]
        if not self.pending:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), float(p.get("timeout") or 0))
            except TimeoutError:
                pass
        return list(self.pending[:100])

    # -- playing users -----------------------------------------------------------------------

    def user(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}",
                "language_code": "zh-hans"}

    async def deliver(self, update: dict[str, Any]) -> dict[str, Any]:
        """Hand an update to the bot: POST to the webhook, or queue it for getUpdates."""
        update.setdefault("update_id", next(self._update_ids))
        target = self.webhook_target or self.webhook_url
        if self.webhook_url is not None and target is not None:
            assert self._http is not None
            headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook_secret or ""}
            async with self._http.post(target, json=update, headers=headers) as r:
                self.webhook_responses.append(r.status)
        else:
            self.pending.append(update)
            self._new_update.set()
        return update

    def _incoming(self, user_id: int, chat_id: int | None, **content: Any) -> dict[str, Any]:
        chat = chat_id if chat_id is not None else user_id
        return {"message_id": next(self._ids), "date": int(time.time()), "from": self.user(user_id),
                "chat": self._chat(chat), **content}

    async def send_text(self, user_id: int, text: str, *, chat_id: int | None = None
                        ) -> dict[str, Any]:
        msg = self._incoming(user_id, chat_id, text=text)
        if text.startswith("/"):
            msg["entities"] = [{"type": "bot_command", "offset": 0,
                                "length": len(text.split()[0])}]
        return await self.deliver({"message": msg})

    async def send_location(self, user_id: int, lat: float, lon: float) -> dict[str, Any]:
        return await self.deliver({"message": self._incoming(
            user_id, None, location={"latitude": lat, "longitude": lon})})

    async def press(self, user_id: int, message: dict[str, Any], button_text: str
                    ) -> str:
        """Press the button labelled `button_text` on `message`; returns the callback id."""
        data = next(b["callback_data"] for row in message["reply_markup"]["inline_keyboard"]
                    for b in row if b["text"] == button_text)
        return await self.press_data(user_id, message, data)

    async def press_data(self, user_id: int, message: dict[str, Any], data: str) -> str:
        cb_id = f"cb{next(self._ids)}"
        await self.deliver({"callback_query": {
            "id": cb_id, "from": self.user(user_id), "message": message,
            "chat_instance": str(message["chat"]["id"]), "data": data}})
        return cb_id

    # -- looking at what the bot did ---------------------------------------------------------

    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The chat as the user sees it now (after edits and deletions), oldest first."""
        return list(self.chats.get(chat_id, {}).values())

    def texts(self, chat_id: int) -> list[str]:
        return [m.get("text", "") for m in self.messages(chat_id)]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {predicate}")
            await asyncio.sleep(0.02)

    async def wait_for_async(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {predicate}")
            await asyncio.sleep(0.02)

    async def wait_message(self, chat_id: int, contains: str, *, timeout: float = 10.0,
                           buttons: bool | None = None) -> dict[str, Any]:
        """The newest message in the chat whose text contains `contains`."""
        def find() -> dict[str, Any] | None:
            for m in reversed(self.messages(chat_id)):
                if contains in (m.get("text") or "") and (
                        buttons is None or bool(m.get("reply_markup")) == buttons):
                    return m
            return None
        return await self.wait_for(find, timeout)

    async def wait_answer(self, callback_id: str, timeout: float = 10.0) -> dict[str, Any]:
        return await self.wait_for(lambda: self.answers.get(callback_id), timeout)


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description

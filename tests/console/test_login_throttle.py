"""Issue 15, item 1: 40 parallel wrong passwords for one operator were all evaluated (401, none
429), the right one in the same burst logged in, real and unknown names answered differently,
and 5 guesses from anywhere locked the operator out everywhere. Now a guess takes a slot
atomically before its password is checked (per name and address, and per address)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import gateway.channels.console.auth as auth
from tests.console.conftest import PASSWORD, USER, add_operator, csrf_of

PROXY = "127.0.0.1"  # the test client's peer, trusted as a proxy so X-Forwarded-For names
A, B, C = "203.0.113.5", "198.51.100.7", "192.0.2.44"  # the clients


@pytest.fixture
async def gate(demo_database: Any, make_settings: Callable[..., Any], make_app: Any,
               make_client: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    await add_operator(demo_database)
    settings = make_settings(public_url="http://127.0.0.1:8080", console_secret="s",
                             console_trusted_proxies=PROXY)
    client = await make_client(make_app(settings))
    checked: list[str] = []
    real_verify = auth.verify_password

    def counting_verify(stored: str, password: str) -> bool:
        checked.append(password)
        return real_verify(stored, password)

    monkeypatch.setattr(auth, "verify_password", counting_verify)
    client.checked = checked
    return client


async def attempt(client: Any, address: str, username: str = USER,
                  password: str = "wrong password") -> int:
    headers = {"X-Forwarded-For": address}
    page = await client.get("/console/login", headers=headers)
    token = csrf_of(await page.text())
    r = await client.post("/console/login", headers=headers, allow_redirects=False, data={
        "username": username, "password": password, "csrf": token, "next": "/console/orders"})
    return r.status


async def test_a_parallel_burst_gets_at_most_the_limit_evaluated(gate: Any) -> None:
    wrong = [attempt(gate, A) for _ in range(40)]
    statuses = await asyncio.gather(*wrong)
    assert len(gate.checked) <= 5, f"{len(gate.checked)} guesses were evaluated"
    assert statuses.count(401) <= 4 and set(statuses) <= {401, 429}
    assert await attempt(gate, A, password=PASSWORD) == 429  # locked from that address...
    assert len(gate.checked) <= 5
    assert await attempt(gate, B, password=PASSWORD) == 303  # ...but not from the operator's


async def test_the_right_password_inside_a_burst_is_one_of_the_limited_guesses(gate: Any) -> None:
    burst = [attempt(gate, A) for _ in range(20)] + [attempt(gate, A, password=PASSWORD)] + \
        [attempt(gate, A) for _ in range(20)]
    statuses = await asyncio.gather(*burst)
    assert len(gate.checked) <= 5
    # It got in only if it was among the five guesses evaluated.
    assert statuses[20] == (303 if PASSWORD in gate.checked else 429)


async def test_unknown_and_real_names_get_the_same_answers(gate: Any) -> None:
    real = [await attempt(gate, A, USER) for _ in range(7)]
    unknown = [await attempt(gate, B, "nobody") for _ in range(7)]
    assert real == unknown == [401] * 4 + [429] * 3
    assert len(gate.checked) == 10  # the unknown name is checked against a dummy hash too


async def test_one_address_is_throttled_whatever_the_names(gate: Any) -> None:
    statuses = [await attempt(gate, C, f"user{i}") for i in range(22)]
    assert statuses == [401] * 19 + [429] * 3  # 20 guesses per address and window
    assert await attempt(gate, A, password=PASSWORD) == 303


async def test_without_a_trusted_proxy_the_header_is_ignored(
        demo_database: Any, make_settings: Callable[..., Any], make_app: Any,
        make_client: Any) -> None:
    await add_operator(demo_database)
    settings = make_settings(public_url="http://127.0.0.1:8080", console_secret="s")
    client = await make_client(make_app(settings))
    statuses = [await attempt(client, f"10.0.0.{i}") for i in range(6)]
    assert statuses == [401] * 4 + [429, 429]  # a forged header does not earn fresh slots

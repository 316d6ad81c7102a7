"""/healthz and /readyz on the real app with a real worker pool: loading, ready, failed, off."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from tests.voice.calls import start
from voice.pool import EngineSpec, WorkerPool


def gated(gate: Path, locales: list[str], fail: list[str] | None = None) -> EngineSpec:
    return EngineSpec("tests.voice.gated:GatedEngine",
                      {"gate": str(gate), "locales": locales, "fail": fail or []})


async def get(client: Any, path: str) -> tuple[int, dict[str, Any]]:
    r = await client.get(path)
    return r.status, await r.json()


async def test_not_ready_until_every_engine_has_loaded(
        make_client: Callable[..., Any], settings: Any, database: Any, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    pool = WorkerPool(gated(gate, ["zh-CN", "ko-KR"]), size=1)
    await pool.start()
    try:
        client, _ = await start(make_client, settings, database, pool)
        status, body = await get(client, "/readyz")
        assert status == 503 and body["voice"] == {"zh-CN": "loading", "ko-KR": "loading"}
        assert body["waiting_for"] == ["ko-KR", "zh-CN"]
        status, body = await get(client, "/healthz")  # alive while loading, and says so
        assert status == 200 and body["status"] == "ok" and body["database"] == "ok"
        assert body["voice"] == {"zh-CN": "loading", "ko-KR": "loading"}
        gate.touch()
        assert await pool.wait_ready(30)
        status, body = await get(client, "/readyz")
        assert status == 200 and body["status"] == "ready"
        assert body["voice"] == {"zh-CN": "ready", "ko-KR": "ready"}
        assert (await get(client, "/healthz"))[1]["voice"]["zh-CN"] == "ready"
    finally:
        await pool.close()


async def test_a_failed_engine_keeps_it_not_ready_and_off_is_fine(
        make_client: Callable[..., Any], settings: Any, database: Any, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    pool = WorkerPool(gated(gate, ["zh-CN"], fail=["zh-CN"]), size=1)
    await pool.start()
    try:
        assert await pool.wait_ready(30)
        client, _ = await start(make_client, settings, database, pool)
        status, body = await get(client, "/readyz")
        assert status == 503 and body["voice"] == {"zh-CN": "failed", "ko-KR": "off"}
        assert body["waiting_for"] == ["zh-CN"]
    finally:
        await pool.close()
    pool = WorkerPool(gated(gate, ["ko-KR"]), size=1)
    await pool.start()
    try:
        assert await pool.wait_ready(30)
        client, _ = await start(make_client, settings, database, pool)
        status, body = await get(client, "/readyz")
        assert status == 200 and body["voice"] == {"zh-CN": "off", "ko-KR": "ready"}
        assert pool.engine_of("ko-KR") == "fake" and pool.engine_of("zh-CN") == ""
    finally:
        await pool.close()


async def test_no_recogniser_at_all_is_ready_with_voice_off(
        make_client: Callable[..., Any], settings: Any, database: Any) -> None:
    client, _ = await start(make_client, settings, database, None)
    status, body = await get(client, "/readyz")
    assert status == 200 and body["voice"] == {"zh-CN": "off", "ko-KR": "off"}


async def test_a_worker_that_keeps_dying_while_loading_is_failed(
        make_client: Callable[..., Any], settings: Any, database: Any) -> None:
    import asyncio

    # An engine that cannot be built: the worker exits before it is ready, again and again.
    spec = EngineSpec("voice.recognizer:FakeEngine", {"locales": ["zh-CN"], "no_such": 1})
    pool = WorkerPool(spec, size=1)
    await pool.start()
    try:
        client, _ = await start(make_client, settings, database, pool)
        for _ in range(300):
            if pool.state("zh-CN") == "failed":
                break
            assert pool.state("zh-CN") == "loading"
            await asyncio.sleep(0.05)
        status, body = await get(client, "/readyz")
        assert status == 503 and body["voice"]["zh-CN"] == "failed"
    finally:
        await pool.close()

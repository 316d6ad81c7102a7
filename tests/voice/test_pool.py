"""The supervised worker pool: real subprocesses, crashes, kills, hangs and restarts."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Callable

import pytest

from voice.audio import read_wav
from voice.pool import EngineSpec, WorkerPool
from voice.recognizer import EngineUnavailable, RecognitionTimeout, WorkerCrashed

pytestmark = pytest.mark.slow


def fake(texts: list[str], **kw: object) -> EngineSpec:
    return EngineSpec("voice.recognizer:FakeEngine", {"texts": texts, **kw})


async def until(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    for _ in range(int(timeout * 20)):
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def test_streams_are_served_concurrently() -> None:
    async with WorkerPool(fake(["네", "예"], known_words=["네"]), size=2) as pool:
        assert await pool.wait_ready(30)
        await until(lambda: len([w for w in pool.workers if w.ready.is_set()]) == 2)
        streams = [await pool.open("ko-KR", ["네"]) for _ in range(20)]
        for i, st in enumerate(streams):
            await st.feed(b"\x00" * (16000 * (i % 2) + 320))
        results = await asyncio.gather(*(st.finish() for st in streams))
        assert [r[0].text for r in results] == ["네", "예"] * 10
        assert {len(w.streams) for w in pool.workers} == {0}
        assert await pool.known("ko-KR", ["네", "쌀"]) == {"네"}


async def test_a_crashing_worker_fails_its_stream_and_is_restarted() -> None:
    async with WorkerPool(fake(["네", "!crash"]), size=1, finish_timeout=5) as pool:
        assert await pool.wait_ready(30)
        first_pid = pool.workers[0].pid
        bystander = await pool.open("zh-CN")
        await bystander.feed(b"\x00" * 320)
        doomed = await pool.open("zh-CN")
        await doomed.feed(b"\x00" * 16000)
        with pytest.raises(WorkerCrashed):
            await doomed.finish()
        with pytest.raises(WorkerCrashed):  # every stream of that worker hears about it
            await bystander.finish()
        await until(lambda: pool.workers[0].ready.is_set() and pool.workers[0].pid != first_pid)
        st = await pool.open("zh-CN")
        await st.feed(b"\x00" * 320)
        assert (await st.finish())[0].text == "네"
        assert pool.restarts == 1


async def test_a_hanging_worker_times_out_and_is_replaced() -> None:
    async with WorkerPool(fake(["!hang"]), size=1, finish_timeout=0.5) as pool:
        assert await pool.wait_ready(30)
        st = await pool.open("zh-CN")
        with pytest.raises(RecognitionTimeout):
            await st.finish()
        await until(lambda: pool.restarts == 1 and pool.workers[0].ready.is_set())


async def test_unknown_locale_and_not_ready() -> None:
    pool = WorkerPool(fake(["네"], locales=["zh-CN"]), size=1)
    await pool.start()
    try:
        with pytest.raises(EngineUnavailable, match="starting"):
            await pool.open("zh-CN")
        assert await pool.wait_ready(30)
        with pytest.raises(EngineUnavailable, match="ko-KR"):
            await pool.open("ko-KR")
    finally:
        await pool.close()


async def test_vosk_worker_killed_mid_stream(ko_model_path: Path,
                                             say: Callable[..., Path]) -> None:
    spec = EngineSpec.vosk({"ko-KR": str(ko_model_path)})
    async with WorkerPool(spec, size=1, finish_timeout=10) as pool:
        assert await pool.wait_ready(60)
        pcm = read_wav(say("예"))
        st = await pool.open("ko-KR", ["예", "아니요"])
        await st.feed(pcm[: len(pcm) // 2])
        os.kill(pool.workers[0].pid, signal.SIGKILL)
        with pytest.raises(WorkerCrashed):
            for _ in range(100):
                await st.feed(pcm[len(pcm) // 2:])
                await asyncio.sleep(0.02)
            await st.finish()
        await until(lambda: pool.restarts == 1 and pool.workers[0].ready.is_set(), timeout=60)
        st = await pool.open("ko-KR", ["예", "아니요"])
        await st.feed(pcm)
        assert [a.text for a in await st.finish()][0] == "예"

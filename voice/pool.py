"""A supervised pool of recognition worker processes behind an asyncio API.

Kaldi aborts the whole process on an assertion, so recognition never runs in the gateway:
each worker is a child process that loads its models once and multiplexes many streams.
When a worker dies, its streams fail with WorkerCrashed (the call falls back to a recorded
message) and the worker is restarted with a back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from voice.messages import (
    Audio, Cancel, Failed, Finish, Known, KnownWords, ProtocolError, Ready, Reply, Request,
    Result, Start, reply_from_wire,
)
from voice.recognizer import (
    PREROLL_S, Alternative, EngineUnavailable, RecognitionError, RecognitionTimeout, Words, WorkerCrashed,
    split_words,
)
from voice.worker import HEADER, MAX_BODY, MAX_HEADER, encode

log = logging.getLogger(__name__)

FEED_BATCH = 1600  # bytes of PCM16 (100 ms) per pipe message
FAILED_STARTS = 3  # a worker dying this many times in a row before it is ready: "failed"
_ids = itertools.count(1)

# Per-locale voice state, as /healthz and /readyz show it.
LOADING, READY, OFF, FAILED = "loading", "ready", "off", "failed"


@dataclass
class EngineSpec:
    """Which engine the workers build: `factory` is "module:callable", `kwargs` JSON data."""

    factory: str = "voice.vosk_engine:VoskEngine"
    kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def vosk(cls, models: dict[str, str], **kw: Any) -> EngineSpec:
        return cls("voice.vosk_engine:VoskEngine", {"models": models, **kw})

    @classmethod
    def engines(cls, plan: dict[str, dict[str, Any]], **kw: Any) -> EngineSpec:
        """One engine per locale (`voice.engines.MultiEngine`): locale -> {"engine": "vosk" or
        "whisper", "path": ..., "sha256": ...}."""
        return cls("voice.engines:MultiEngine", {"plan": plan, **kw})

    def configured(self) -> list[str]:
        """The locales this spec is meant to serve (for the readiness report)."""
        for key in ("plan", "models"):
            value = self.kwargs.get(key)
            if isinstance(value, dict):
                return list(value)
        locales = self.kwargs.get("locales")
        return list(locales) if isinstance(locales, (list, tuple)) else []


class _Worker:
    def __init__(self, pool: WorkerPool, index: int) -> None:
        self.pool, self.index = pool, index
        self.proc: asyncio.subprocess.Process | None = None
        self.reader: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        self.locales: list[str] = []
        self.failed: dict[str, str] = {}  # locale -> why its engine did not load
        self.engines: dict[str, str] = {}
        self.pending: dict[str, asyncio.Future[Any]] = {}
        self.streams: dict[str, PoolStream] = {}
        self.started_at = 0.0
        self.pid = 0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        self.ready.clear()
        self.started_at = time.monotonic()
        self.proc = await asyncio.create_subprocess_exec(
            self.pool.python, "-m", "voice.worker", json.dumps(self.pool.spec.__dict__),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=None, env=self.pool.env)
        self.pid = self.proc.pid
        self.reader = asyncio.create_task(self._read(self.proc), name=f"voice-worker-{self.index}")

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while True:
                head = await proc.stdout.readexactly(HEADER.size)
                hlen, blen = HEADER.unpack(head)
                if hlen > MAX_HEADER or blen > MAX_BODY:
                    raise ValueError("oversized frame from worker")
                header = json.loads(await proc.stdout.readexactly(hlen))
                body = await proc.stdout.readexactly(blen) if blen else b""
                try:
                    msg = reply_from_wire(header, body)
                except (ProtocolError, TypeError, AttributeError):
                    continue
                self._dispatch(msg)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            code = await proc.wait()
            self._died(code)

    def _dispatch(self, msg: Reply) -> None:
        if isinstance(msg, Ready):
            self.locales = list(msg.locales)
            self.failed = dict(msg.failed)
            self.engines = dict(msg.engines)
            self.pool._failed_starts = 0
            self.ready.set()
            log.info("voice worker %d ready (pid %s): %s", self.index, msg.pid,
                     ", ".join(self.locales) or "no models")
            for locale, why in self.failed.items():
                log.error("voice worker %d: no engine for %s: %s", self.index, locale, why)
            return
        sid = msg.id
        fut = self.pending.pop(sid, None)
        self.streams.pop(sid, None)
        if fut is None or fut.done():
            return
        if isinstance(msg, Failed):
            cls = EngineUnavailable if msg.kind == "unavailable" else RecognitionError
            fut.set_exception(cls(msg.message))
        else:
            fut.set_result(msg)

    def _died(self, code: int) -> None:
        if not self.ready.is_set():
            self.pool._failed_starts += 1
        self.ready.clear()
        err = f"voice worker {self.index} (pid {self.pid}) exited with code {code}"
        for sid, fut in list(self.pending.items()):
            if not fut.done():
                fut.set_exception(WorkerCrashed(err))
        for st in list(self.streams.values()):
            st.error = WorkerCrashed(err)
        self.pending.clear()
        self.streams.clear()
        if not self.pool.closing:
            log.error("%s; restarting it", err)
            self.pool._restart_later(self)

    def send(self, msg: Request) -> None:
        if not self.alive or self.proc is None or self.proc.stdin is None:
            raise WorkerCrashed(f"voice worker {self.index} is not running")
        self.proc.stdin.write(encode(*msg.to_wire()))

    async def drain(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            try:
                await self.proc.stdin.drain()
            except (ConnectionError, BrokenPipeError) as exc:
                raise WorkerCrashed(f"voice worker {self.index}: {exc}") from None

    async def request(self, msg: Request, timeout: float) -> Reply:
        sid = msg.id
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[sid] = fut
        try:
            self.send(msg)
            await self.drain()
            return await asyncio.wait_for(asyncio.shield(fut), timeout)  # type: ignore[no-any-return]
        except asyncio.TimeoutError:
            self.pending.pop(sid, None)
            log.error("voice worker %d did not answer in %.1f s; killing it", self.index, timeout)
            self.kill()
            raise RecognitionTimeout(f"voice worker {self.index} timed out") from None
        except WorkerCrashed:
            self.pending.pop(sid, None)
            raise

    def kill(self) -> None:
        if self.alive and self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            with contextlib.suppress(Exception):
                self.proc.stdin.close()
        if self.proc is not None and self.proc.returncode is None:
            try:
                await asyncio.wait_for(self.proc.wait(), 3)
            except asyncio.TimeoutError:
                self.kill()
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader


class PoolStream:
    """One utterance on one worker; audio is batched into 100 ms pipe messages."""

    def __init__(self, worker: _Worker, sid: str, timeout: float, preroll_s: float = 0.0) -> None:
        self.worker, self.id, self.timeout = worker, sid, timeout
        self.preroll_s = preroll_s
        self.error: RecognitionError | None = None
        self._buf = bytearray()
        self._closed = False

    def _check(self) -> None:
        if self.error is not None:
            raise self.error
        if self._closed:
            raise RecognitionError("stream already finished")

    async def feed(self, pcm: bytes) -> None:
        self._check()
        self._buf += pcm
        if len(self._buf) >= FEED_BATCH:
            chunk, self._buf = bytes(self._buf), bytearray()
            self.worker.send(Audio(self.id, chunk))
            await self.worker.drain()

    async def finish(self) -> list[Alternative]:
        self._check()
        self._closed = True
        if self._buf:
            self.worker.send(Audio(self.id, bytes(self._buf)))
            self._buf.clear()
        reply = await self.worker.request(Finish(self.id), self.timeout)
        return list(reply.alternatives) if isinstance(reply, Result) else []

    async def cancel(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.worker.streams.pop(self.id, None)
        if self.error is None and self.worker.alive:
            with contextlib.suppress(RecognitionError):
                self.worker.send(Cancel(self.id))


class WorkerPool:
    """`size` worker processes building the engine described by `spec`."""

    def __init__(self, spec: EngineSpec, size: int = 1, *, finish_timeout: float = 10.0,
                 ready_timeout: float = 60.0, python: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.spec = spec
        self.size = max(1, size)
        self.finish_timeout = finish_timeout
        self.ready_timeout = ready_timeout
        self.python = python or sys.executable
        self.env = env if env is not None else dict(os.environ)
        self.workers: list[_Worker] = []
        self.closing = False
        self.restarts = 0
        self._backoff: dict[int, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._failed_starts = 0

    async def start(self) -> None:
        self.workers = [_Worker(self, i) for i in range(self.size)]
        for w in self.workers:
            await w.start()

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """True once at least one worker has loaded its models."""
        waits = [asyncio.create_task(w.ready.wait()) for w in self.workers]
        try:
            done, _ = await asyncio.wait(waits, timeout=timeout or self.ready_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            return bool(done)
        finally:
            for t in waits:
                t.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def close(self) -> None:
        self.closing = True
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(w.stop() for w in self.workers), return_exceptions=True)

    async def __aenter__(self) -> WorkerPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def locales(self) -> list[str]:
        out: list[str] = []
        for w in self.workers:
            if w.ready.is_set():
                out.extend(x for x in w.locales if x not in out)
        return out

    def _pick(self, locale: str) -> _Worker:
        ready = [w for w in self.workers if w.alive and w.ready.is_set() and locale in w.locales]
        if not ready:
            if any(w.alive and not w.ready.is_set() for w in self.workers) or not self.workers:
                raise EngineUnavailable("the voice workers are still starting")
            raise EngineUnavailable(f"no voice worker has a model for {locale}")
        return min(ready, key=lambda w: len(w.streams) + len(w.pending))

    async def open(self, locale: str, words: Words = None) -> PoolStream:
        worker = self._pick(locale)
        sid = f"s{next(_ids)}"
        stream = PoolStream(worker, sid, self.finish_timeout,
                            PREROLL_S.get(worker.engines.get(locale, ""), 0.0))
        worker.streams[sid] = stream
        plain, hints = split_words(words)
        worker.send(Start(sid, locale, tuple(plain) if plain else None,
                          hints.prompt if hints else "",
                          {k: tuple(v) for k, v in hints.phrases.items()} if hints else None))
        await worker.drain()
        return stream

    async def known(self, locale: str, words: Sequence[str]) -> set[str]:
        worker = self._pick(locale)
        reply = await worker.request(Known(f"k{next(_ids)}", locale, tuple(words)),
                                     self.finish_timeout)
        return set(reply.words) if isinstance(reply, KnownWords) else set()

    def state(self, locale: str) -> str:
        """loading | ready | off | failed: whether calls in `locale` can be heard now."""
        if locale not in self.spec.configured() or not self.workers:
            return OFF
        if any(w.alive and w.ready.is_set() and locale in w.locales for w in self.workers):
            return READY
        if any(w.ready.is_set() and locale in w.failed for w in self.workers):
            return FAILED
        if self._failed_starts >= FAILED_STARTS or self.closing:
            return FAILED
        return LOADING

    def states(self) -> dict[str, str]:
        return {locale: self.state(locale) for locale in self.spec.configured()}

    def engine_of(self, locale: str) -> str:
        """The engine serving `locale` ("vosk", "whisper"; "" when none is ready)."""
        for w in self.workers:
            if w.ready.is_set() and locale in w.locales:
                return w.engines.get(locale, "")
        return ""

    def _restart_later(self, worker: _Worker) -> None:
        # Back off when a worker dies right after starting (a bad model), not after long service.
        lived = time.monotonic() - worker.started_at
        delay = 0.2 if lived > 60 else min(30.0, self._backoff.get(worker.index, 0.1) * 2)
        self._backoff[worker.index] = delay
        task = asyncio.get_running_loop().create_task(self._restart(worker, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _restart(self, worker: _Worker, delay: float) -> None:
        await asyncio.sleep(delay)
        if self.closing:
            return
        self.restarts += 1
        await worker.start()

    def stats(self) -> dict[str, Any]:
        return {"workers": [{"pid": w.pid, "alive": w.alive, "ready": w.ready.is_set(),
                             "streams": len(w.streams)} for w in self.workers],
                "restarts": self.restarts}

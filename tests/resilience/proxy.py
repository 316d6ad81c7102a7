"""A TCP proxy on loopback that a test can cut and restore, to lose the database without
restarting the shared PostgreSQL server."""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target`. `cut()` drops every connection and refuses new
    ones (as a restarting server does); `restore()` listens again on the same port."""

    def __init__(self, target_host: str = "127.0.0.1", target_port: int = 5432,
                 port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.port = port
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        self._writers.update((client_w, server_w))
        a = asyncio.create_task(self._pipe(client_r, server_w))
        b = asyncio.create_task(self._pipe(server_r, client_w))
        self._tasks.update((a, b))
        try:
            await asyncio.gather(a, b, return_exceptions=True)
        finally:
            self._tasks.difference_update((a, b))
            self._writers.difference_update((client_w, server_w))

    async def cut(self) -> None:
        """Stop listening and reset every open connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for w in list(self._writers):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._writers.clear()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        await self.cut()

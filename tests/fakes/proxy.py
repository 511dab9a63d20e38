"""A loopback TCP proxy that can go silent: the way a NAT or a dead link loses a connection without a word.

`blackhole()` stops forwarding on every open connection (both ways) and keeps them open, so neither side
learns anything; new connections are forwarded as usual. `release()` then closes the blackholed ones, so the
server learns of the loss late, as it does when TCP finally gives up.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    silent: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class SilentProxy:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.target_port = target_port
        self.port = 0
        self.links: list[_Link] = []
        self._server: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> SilentProxy:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in self.links:
            await self._close(link)

    def blackhole(self) -> None:
        for link in self.links:
            link.silent = True

    async def release(self) -> None:
        for link in [link for link in self.links if link.silent]:
            await self._close(link)

    async def _close(self, link: _Link) -> None:
        for task in link.tasks:
            task.cancel()
        for writer in (link.client, link.upstream):
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        if link in self.links:
            self.links.remove(link)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        link = _Link(writer, up_writer)
        self.links.append(link)
        link.tasks = [
            asyncio.create_task(self._pipe(reader, up_writer, link)),
            asyncio.create_task(self._pipe(up_reader, writer, link)),
        ]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                if not link.silent:
                    writer.write(data)
                    await writer.drain()
        if not link.silent:
            writer.close()

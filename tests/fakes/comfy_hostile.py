"""How a hostile (or badly broken) ComfyUI answers, for the fake's faults: a reply far larger than any real one,
a reply that never ends, a file sent a byte at a time. Each streams, as a server would; none buffers its
whole answer in the test process."""

from __future__ import annotations

import asyncio
import struct

from aiohttp import web

CHUNK = b'{"padding": "' + b"x" * 65_000 + b'", '


async def huge(request: web.Request, size: int) -> web.StreamResponse:
    """`size` bytes of something JSON-like, with no Content-Length: the reader only learns its size by reading."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    sent = 0
    while sent < size:
        await response.write(CHUNK)
        sent += len(CHUNK)
    await response.write_eof()
    return response


async def endless(request: web.Request) -> web.StreamResponse:
    """A reply that goes on until the reader hangs up."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    while True:
        await response.write(CHUNK)
        await asyncio.sleep(0)


async def steady(request: web.Request, chunk: int, delay: float) -> web.StreamResponse:
    """A file that never ends, `chunk` bytes every `delay` seconds: above any minimum rate, so only a bound on
    time stops the reader."""
    response = web.StreamResponse(headers={"Content-Type": "image/png"})
    await response.prepare(request)
    while True:
        await response.write(b"\x89PNG" + b"\0" * (chunk - 4))
        await asyncio.sleep(delay)  # the pace of the stream, not a synchronisation


async def trickle(request: web.Request, answer: web.StreamResponse, delay: float) -> web.StreamResponse:
    """The real answer's body, one byte every `delay` seconds."""
    body = answer.body if isinstance(answer, web.Response) and isinstance(answer.body, bytes) else b""
    response = web.StreamResponse(status=answer.status, headers={"Content-Type": answer.content_type})
    await response.prepare(request)
    for index in range(len(body)):
        await response.write(body[index : index + 1])
        await asyncio.sleep(delay)
    await response.write_eof()
    return response


async def huge_frame(transport: asyncio.BaseTransport | None, size: int) -> None:
    """One WebSocket text frame of `size` bytes, written straight to the socket a piece at a time (the header
    announces the whole length first, as RFC 6455 frames do): nothing of its size is held here."""
    if not isinstance(transport, asyncio.WriteTransport):
        return
    transport.write(b"\x81\x7f" + struct.pack("!Q", size))  # FIN + text, 64-bit length, unmasked (server)
    piece = b"x" * 65536
    sent = 0
    while sent < size and not transport.is_closing():
        transport.write(piece[: size - sent])
        sent += len(piece)
        while transport.get_write_buffer_size() > 1 << 20 and not transport.is_closing():  # noqa: ASYNC110 - a raw transport gives no event to wait on
            await asyncio.sleep(0.001)

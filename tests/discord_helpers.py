"""Running the real discord.py bot against the loopback fake Discord."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.bot import ComfyBot


@asynccontextmanager
async def running(bot: ComfyBot, token: str = "test-token") -> AsyncIterator[ComfyBot]:
    """Start the bot, wait until it is ready (surfacing any start-up exception), and close it after."""
    task = asyncio.create_task(bot.start(token))
    ready = asyncio.create_task(bot.wait_until_ready())
    done, _ = await asyncio.wait({task, ready}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        ready.cancel()
        task.result()  # raises what made start() fail
        raise AssertionError("the bot stopped before it was ready")
    if ready not in done:
        raise AssertionError("the bot did not become ready")
    try:
        yield bot
    finally:
        await bot.close()
        await asyncio.gather(task, return_exceptions=True)

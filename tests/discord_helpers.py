"""Running the real discord.py bot against the loopback fake Discord."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bot.__main__ import App, assemble
from bot.bot import ComfyBot
from bot.settings import (
    BackendSettings,
    ComfySettings,
    DatabaseSettings,
    DiscordSettings,
    LimitSettings,
    Settings,
    TemplateSettings,
)


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


def settings_between(
    comfy_url: str, discord_api: str, folder: Path, *, limits: LimitSettings | None = None, **discord: Any
) -> Settings:
    """Settings for a bot between the fake ComfyUI (named gpu1) and the fake Discord; data and workflows in
    `folder`."""
    return Settings(
        _env_file=None,
        discord=DiscordSettings(token="test-token", api_base=discord_api, **discord),
        comfy=ComfySettings(backends=[BackendSettings(url=comfy_url, name="gpu1")], retries=1),
        database=DatabaseSettings(path=folder / "data" / "bot.sqlite3"),
        templates=TemplateSettings(dir=folder / "workflows"),
        limits=limits or LimitSettings(),
    )


@asynccontextmanager
async def assembled(settings: Settings) -> AsyncIterator[App]:
    """The bot as `python -m bot` builds it, running and ready; closed after."""
    async with aiohttp.ClientSession() as session:
        app = await assemble(settings, session, guild_ready_timeout=0.05)
        try:
            await app.start("test-token")
            async with running(app.bot):
                yield app
        finally:
            await app.close()

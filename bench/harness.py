"""The bot assembled as `python -m bot` does, against the loopback fakes of ComfyUI and Discord (for benches)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bot.__main__ import App, assemble
from bot.settings import BackendSettings, ComfySettings, DatabaseSettings, DiscordSettings, Settings, TemplateSettings
from tests.discord_helpers import running
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.discord_api import FakeDiscord

ROOT = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def bot_between_fakes(comfy: FakeComfy, discord: FakeDiscord, **discord_settings: Any) -> AsyncIterator[App]:
    checkpoints = comfy.object_info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
    checkpoints.append("v1-5-pruned-emaonly.safetensors")
    with tempfile.TemporaryDirectory() as folder:
        shutil.copytree(ROOT / "workflows", Path(folder) / "workflows")
        settings = Settings(
            _env_file=None,
            discord=DiscordSettings(token="bench", api_base=discord.api_base, **discord_settings),
            comfy=ComfySettings(backends=[BackendSettings(url=comfy.base_url, name="fake")]),
            database=DatabaseSettings(path=Path(folder) / "data" / "bot.sqlite3"),
            templates=TemplateSettings(dir=Path(folder) / "workflows"),
        )
        async with aiohttp.ClientSession() as session:
            app = await assemble(settings, session, guild_ready_timeout=0.05)
            try:
                async with running(app.bot):
                    yield app
            finally:
                await app.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

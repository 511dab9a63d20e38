"""The bot assembled as `python -m bot` does, against the loopback fakes of ComfyUI and Discord (for benches)."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.process.app import App
from tests.discord_helpers import assembled, settings_between
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.discord_api import FakeDiscord
from tests.stack import SHIPPED, checkpoints, with_workflows


@asynccontextmanager
async def bot_between_fakes(comfy: FakeComfy, discord: FakeDiscord, **discord_settings: Any) -> AsyncIterator[App]:
    checkpoints(comfy).append(SHIPPED)
    with tempfile.TemporaryDirectory() as name:
        folder = with_workflows(Path(name))
        async with assembled(settings_between(comfy.base_url, discord.api_base, folder, **discord_settings)) as app:
            yield app


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

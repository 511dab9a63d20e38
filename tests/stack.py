"""A bot assembled between fake ComfyUI servers and the fake Discord, with the shipped workflows (for tests
that run the whole stack)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import App
from tests.discord_helpers import assembled, settings_between
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.discord_api import FakeDiscord

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
SHIPPED = "v1-5-pruned-emaonly.safetensors"


def checkpoints(comfy: FakeComfy) -> list[str]:
    names: list[str] = comfy.object_info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
    return names


@dataclass
class Stack:
    comfys: list[FakeComfy]
    discord: FakeDiscord
    folder: Path

    def start(self, **options: Any) -> AbstractAsyncContextManager[App]:
        backends = [(c.base_url, f"gpu{n}") for n, c in enumerate(self.comfys, start=1)]
        options.setdefault("channel_window", 1.0)  # Discord's 5-per-5 s rule compressed 5x (the fake's too)
        options.setdefault("edit_interval", 0.3)
        return assembled(settings_between(backends, self.discord.api_base, self.folder, **options))

    def ran(self, comfy: FakeComfy) -> list[str]:
        """The prompts (node 6 text) a ComfyUI ran, in the order it ran them."""
        return [entry["prompt"][2]["6"]["inputs"]["text"] for entry in comfy.history.values()]


async def make_stack(count: int, tmp_path: Path) -> Stack:
    comfys = []
    for _ in range(count):
        comfy = await FakeComfy(step_delay=0.01).start()
        checkpoints(comfy).append(SHIPPED)
        comfys.append(comfy)
    shutil.copytree(WORKFLOWS, tmp_path / "workflows")
    return Stack(comfys, await FakeDiscord(window=1.0).start(), tmp_path)


async def stacked(count: int, tmp_path: Path) -> AsyncIterator[Stack]:
    made = await make_stack(count, tmp_path)
    yield made
    await made.discord.stop()
    for comfy in made.comfys:
        await comfy.stop()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async for made in stacked(1, tmp_path):
        yield made


@pytest.fixture
async def stack3(tmp_path: Path) -> AsyncIterator[Stack]:
    async for made in stacked(3, tmp_path):
        yield made

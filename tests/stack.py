"""The bot between fake ComfyUI servers and the fake Discord, with the shipped workflows: assembled in this
process (`Stack`, for tests that run the whole stack), or as a real `python -m bot` process
(`process_environment`, for tests and benchmarks that signal or kill it). The one place both are set up."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.process.app import App
from tests.discord_helpers import assembled, settings_between
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.discord_api import FakeDiscord

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
SHIPPED = "v1-5-pruned-emaonly.safetensors"


def checkpoints(comfy: FakeComfy) -> list[str]:
    """The checkpoints a fake server offers (its recorded object_info has none of the shipped workflows')."""
    names: list[str] = comfy.object_info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
    return names


async def shipped_comfy(**options: Any) -> FakeComfy:
    """A fake ComfyUI, started, offering the checkpoint the shipped workflows use."""
    comfy = await FakeComfy(**({"step_delay": 0.01} | options)).start()
    checkpoints(comfy).append(SHIPPED)
    return comfy


def with_workflows(folder: Path) -> Path:
    """`folder` with a copy of the shipped workflows in `workflows/`."""
    shutil.copytree(WORKFLOWS, folder / "workflows", dirs_exist_ok=True)
    return folder


def process_environment(
    folder: Path, comfys: Sequence[FakeComfy], discord: FakeDiscord, **settings: str
) -> dict[str, str]:
    """The environment of `python -m bot` between these fakes, its data and workflows in `folder`; `settings`
    (as `LIMITS__JOBS_PER_USER="1"`) add to it or override it. Nothing of the caller's own bot settings leaks in."""
    backends = [{"url": c.base_url, "name": f"gpu{n}"} for n, c in enumerate(comfys, start=1)]
    keep = {k: v for k, v in os.environ.items() if "__" not in k}
    return (
        keep
        | {
            "PYTHONPATH": str(ROOT),
            "DISCORD__TOKEN": "test-token",
            "DISCORD__API_BASE": discord.api_base,
            "DISCORD__GATEWAY_URL": discord.gateway_url,
            "DISCORD__BUCKET_WINDOW": "1.0",  # Discord's 5-per-5 s rule compressed 5x, as the fake's is
            "DISCORD__EDIT_INTERVAL": "0.3",
            "COMFY__BACKENDS": json.dumps(backends),
            "DATABASE__PATH": str(folder / "data" / "bot.sqlite3"),
            "TEMPLATES__DIR": str(folder / "workflows"),
            "LOGGING__LEVEL": "WARNING",
        }
        | settings
    )


@dataclass
class Stack:
    comfys: list[FakeComfy]
    discord: FakeDiscord
    folder: Path

    def start(self, **options: Any) -> AbstractAsyncContextManager[App]:
        backends = [(c.base_url, f"gpu{n}") for n, c in enumerate(self.comfys, start=1)]
        options.setdefault("bucket_window", 1.0)  # Discord's 5-per-5 s rule compressed 5x (the fake's too)
        options.setdefault("edit_interval", 0.3)
        return assembled(settings_between(backends, self.discord.api_base, self.folder, **options))

    def ran(self, comfy: FakeComfy) -> list[str]:
        """The prompts (node 6 text) a ComfyUI ran, in the order it ran them."""
        return [entry["prompt"][2]["6"]["inputs"]["text"] for entry in comfy.history.values()]


async def make_stack(count: int, tmp_path: Path) -> Stack:
    comfys = [await shipped_comfy() for _ in range(count)]
    return Stack(comfys, await FakeDiscord(window=1.0).start(), with_workflows(tmp_path))


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

"""SIGTERM (docker stop, systemd): the bot, as a real process, takes no new work, flushes, closes in order and
exits 0 within its bound; a job running meanwhile is delivered once after the restart."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.discord_helpers import done_edits, final, imagine
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.discord_api import FakeDiscord
from tests.stack import ROOT, Stack, process_environment, shipped_comfy, with_workflows


def environment(folder: Path, comfy: FakeComfy, discord: FakeDiscord) -> dict[str, str]:
    return process_environment(with_workflows(folder), [comfy], discord, DISCORD__SHUTDOWN_TIMEOUT="10")


@asynccontextmanager
async def bot_process(env: dict[str, str], discord: FakeDiscord) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m bot`, running and connected to the fake Discord; killed if a test leaves it running."""
    sessions = len(discord.identified)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=env, cwd=ROOT, stderr=asyncio.subprocess.PIPE
    )
    try:
        await discord.until(lambda: len(discord.identified) > sessions and bool(discord.gateways), within=30)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_sigterm_exits_zero_within_its_bound_and_the_job_is_delivered_once_after(tmp_path: Path) -> None:
    comfy = await shipped_comfy()
    discord = await FakeDiscord(window=1.0, latency=0.02).start()
    env = environment(tmp_path, comfy, discord)
    try:
        comfy.hold()
        async with bot_process(env, discord) as first:
            asked = await imagine(discord, "a fox through a restart")
            await comfy.until(lambda: comfy.running is not None, within=30)
            first.send_signal(signal.SIGTERM)
            began = time.monotonic()
            code = await asyncio.wait_for(first.wait(), 20)
            took = time.monotonic() - began
            stderr = (await first.stderr.read()).decode() if first.stderr else ""
        assert code == 0 and took < 10, (code, took, stderr[-2000:])
        assert "SIGTERM" in stderr and "Traceback" not in stderr
        async with bot_process(env, discord) as second:
            comfy.release()
            await discord.until(final(discord, asked), within=60)
            second.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(second.wait(), 20) == 0
        shown = done_edits(discord, asked)
        assert len(shown) == 1 and discord.original(asked).embeds[0]["title"] == "Done"
    finally:
        await discord.stop()
        await comfy.stop()


async def test_a_command_during_shutdown_is_told_the_bot_is_restarting(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start() as app:
        app.bot.stopping = True  # as SIGTERM sets it
        asked = await imagine(discord, "a fox")
        await discord.until(lambda: asked.message_id in discord.messages)
    told = discord.original(asked)
    assert told.ephemeral and told.content.startswith("⚠️ The bot is restarting") and not comfy.history

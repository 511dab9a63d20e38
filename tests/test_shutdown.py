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

import aiohttp
import pytest

from bot.__main__ import assemble
from bot.settings import LimitSettings
from tests.discord_helpers import button, deliver, done_edits, final, imagine, settings_between
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_payloads import LOADING
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


async def test_interactions_in_the_sigterm_window_are_all_answered_before_the_session_closes(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """A Vary pressed just before SIGTERM (its result still downloading) is answered before Discord's session
    closes; a button and a form used after it are told the bot is restarting. Nothing is left loading."""
    comfy, discord = stack.comfys[0], stack.discord
    backends = [(comfy.base_url, "gpu1")]
    settings = settings_between(
        backends,
        discord.api_base,
        stack.folder,
        limits=LimitSettings(reroll_cooldown=0),
        bucket_window=1.0,
        shutdown_timeout=20,
    )
    terminated = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        app = await assemble(settings, session, guild_ready_timeout=0.05)
        try:
            await app.login("test-token")
            await app.start()
            life = asyncio.create_task(app.until_terminated(terminated))
            await app.bot.wait_until_ready()
            _, result = await deliver(discord, "a fox")
            edit = await discord.click(result, button(result, "edit"))
            await discord.until(lambda: edit.callback_type == 9)
            discord.attachment_delay = 4.0  # the result takes a while to download
            vary = await discord.click(result, button(result, "vary", 1))
            await discord.until(lambda: vary.callback_type == 5)  # deferred: the bot is on it
            terminated.set()
            async with asyncio.timeout(5):  # the flag is the bot's, no event of the fake's: yield until it is set
                while not app.bot.stopping:  # noqa: ASYNC110 - a flag of the bot's, with no event to wait on
                    await asyncio.sleep(0)
            late = await discord.click(result, button(result, "reroll"))
            form = await discord.submit_modal((edit.callback_data or {})["custom_id"], {"prompt": "x"}, message=result)
            await discord.until(lambda: late.callback_type is not None and form.callback_type is not None)
            assert vary.message_id is not None and discord.original(vary).flags & LOADING  # still downloading
            await asyncio.wait_for(life, 20)
        finally:
            await app.close()
    logged = caplog.text
    async with stack.start():  # the Vary was taken as a job before the exit: shown, here or by the next process
        await discord.until(final(discord, vary))
    assert discord.original(vary).embeds[0]["title"] == "Done"
    for asked in (late, form):
        assert asked.message_id is not None and not discord.original(asked).flags & LOADING, asked
    assert discord.original(late).content.startswith("⚠️ The bot is restarting")
    assert discord.original(form).content.startswith("⚠️ The bot is restarting")
    assert "Session is closed" not in logged and "never retrieved" not in logged and "Traceback" not in logged

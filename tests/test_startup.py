"""The first mistakes an operator makes, each said in one line that names the problem and what to do, with no
traceback, and the process ends non-zero (a token Discord refuses, Discord out of reach, a database path that
cannot be created; for the bot and for `sync`). A ComfyUI that does not answer is said once, and the bot waits
for it. Once connected, one line says the bot is ready: who, where, on which servers, with which templates."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cli import closed_port, run_cli
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.discord_api import FakeDiscord
from tests.processes import BotProcess, stopped
from tests.stack import process_environment, shipped_comfy, with_workflows

TOKEN_REFUSED = "Discord refused the token (DISCORD__TOKEN): copy it again from https://discord.com/developers"


@pytest.fixture
async def discord() -> AsyncIterator[FakeDiscord]:
    fake = await FakeDiscord(token="test-token").start()
    yield fake
    await fake.stop()


@pytest.fixture
async def comfy() -> AsyncIterator[FakeComfy]:
    fake = await shipped_comfy()
    yield fake
    await fake.stop()


def environment(tmp_path: Path, comfy: FakeComfy, discord: FakeDiscord, **settings: str) -> dict[str, str]:
    return process_environment(with_workflows(tmp_path), [comfy], discord, **settings)


@pytest.mark.parametrize("command", [(), ("sync",)], ids=["start", "sync"])
@pytest.mark.parametrize("problem", ["token", "unreachable", "database"])
async def test_each_first_mistake_is_one_line_and_no_traceback(
    tmp_path: Path, comfy: FakeComfy, discord: FakeDiscord, problem: str, command: tuple[str, ...]
) -> None:
    env = environment(tmp_path, comfy, discord)
    if problem == "token":
        env["DISCORD__TOKEN"] = "a-token-from-another-bot"
        expected = TOKEN_REFUSED
    elif problem == "unreachable":
        env["DISCORD__API_BASE"] = f"http://127.0.0.1:{closed_port()}/api/v10"
        expected = "Discord cannot be reached at 127.0.0.1: the connection failed ("
    else:
        (tmp_path / "taken").write_text("a file where the database's folder should be")
        env["DATABASE__PATH"] = str(tmp_path / "taken" / "bot.sqlite3")
        expected = f"the database {tmp_path / 'taken' / 'bot.sqlite3'} cannot be created: "
    code, out, err = await asyncio.wait_for(run_cli(*command, env=env, cwd=tmp_path), 60)
    lines = err.strip().splitlines()
    assert code == 1 and "Traceback" not in err + out, err
    assert len(lines) == 1 and expected in lines[0], err  # (the test's log level: warnings and errors)
    assert "another-bot" not in err + out


async def test_a_comfyui_that_does_not_answer_is_named_once_and_the_bot_says_when_it_is_ready(
    tmp_path: Path, comfy: FakeComfy, discord: FakeDiscord
) -> None:
    port = closed_port()
    env = environment(tmp_path, comfy, discord, LOGGING__LEVEL="INFO")
    env["COMFY__BACKENDS"] = (
        f'[{{"url": "{comfy.base_url}", "name": "gpu1"}}, {{"url": "http://127.0.0.1:{port}", "name": "gpu2"}}]'
    )
    bot = await BotProcess.start(env)
    try:
        down = await bot.saw("ComfyUI server gpu2 does not answer at")
        ready = await bot.saw("ready: ")
        bot.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(bot.process.wait(), 30)
    finally:
        await stopped([bot], discord, comfy)
    assert f"at http://127.0.0.1:{port} (" in down and "is ComfyUI running there? Jobs wait until it does" in down
    assert "ready: comfybot" in ready and "in 1 server(s)" in ready
    assert "gpu1 (ComfyUI 0.3.64, cpu)" in ready and f"gpu2 not answering at http://127.0.0.1:{port}" in ready
    assert "4 template(s): img2img, quick, txt2img, upscale" in ready
    assert code == 0 and not any("voice will NOT be supported" in line for line in bot.lines)
    assert not any("Traceback" in line for line in bot.lines)

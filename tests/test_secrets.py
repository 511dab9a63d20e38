"""A password in a backend's URL, and interaction tokens, never leave the bot: not in `check`, `/status`, any
other Discord message, the metrics, or the logs at DEBUG. Members see a backend's name, never its address."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import aiohttp
import pytest

from bot.process.logs import configure_logging
from tests.cli import run_cli
from tests.discord_helpers import ask, assembled, final, imagine, settings_between
from tests.stack import Stack
from tests.test_cli import configured

SECRET = "s3cretpass"


def with_password(url: str) -> str:
    return url.replace("http://", f"http://admin:{SECRET}@")


@pytest.fixture
def bot_logging() -> Iterator[io.StringIO]:
    """The bot's own logging set-up, at DEBUG (discord.py and aiohttp included), writing into a buffer; the
    test runner's after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("DEBUG", "plain")
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    yield buffer
    root.handlers[:], root.level = handlers, level


async def test_a_backend_password_and_interaction_tokens_appear_nowhere(stack: Stack, bot_logging: io.StringIO) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    address = f"127.0.0.1:{comfy.port}"
    unnamed = [(with_password(comfy.base_url), None)]  # named after its place, then: comfy1
    settings = settings_between(unnamed, discord.api_base, stack.folder, metrics=True)
    async with assembled(settings) as app:
        asked = await imagine(discord, "a fox")
        await discord.until(final(discord, asked), within=30)
        answers = [await ask(discord, name) for name in ("status", "queue", "models")]
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{app.metrics_port}/metrics") as r:
            metrics = await r.text()
    logged = bot_logging.getvalue()
    env = configured(stack.folder, with_password(comfy.base_url)) | {"LOGGING__LEVEL": "DEBUG"}
    env["DISCORD__API_BASE"] = discord.api_base
    _, checked, check_log = await run_cli("check", env=env, cwd=stack.folder)  # `check`, a process of its own
    assert "backend comfy1 (http://127.0.0.1:" in checked
    sent = json.dumps([r.json for r in discord.requests if r.json is not None])
    shown = json.dumps([(m.content, m.embeds) for m in discord.messages.values()])
    assert comfy.headers_seen and all("Authorization" in h for h in comfy.headers_seen)  # the password is used
    assert "comfy1" in shown  # the backend is named, not addressed
    for where in (logged, sent, shown, metrics, checked, check_log):
        assert SECRET not in where
    assert address not in sent and address not in shown and address not in metrics
    assert "DEBUG" in logged and "/interactions/" in logged  # discord.py's routes are logged...
    tokens = [i.token for i in [asked, *answers]]
    assert not any(token in logged for token in tokens)  # ...without the tokens in them

"""/status, /models, /workflows and /history, through the loopback Discord API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.i18n import catalogue
from bot.jobs.store import records
from tests.discord_helpers import ask, final, imagine
from tests.fakes.discord_api import GUILD_ID, USER_ID, FakeDiscord, Interaction
from tests.stack import Stack, checkpoints, make_stack


async def answer(
    discord: FakeDiscord, name: str, options: list[dict[str, Any]] | None = None, **extra: Any
) -> tuple[Interaction, dict[str, Any]]:
    asked = await discord.interact(name, options, **extra)
    await discord.until(lambda: asked.message_id is not None and asked.message_id in discord.messages)
    message = discord.messages[asked.message_id or 0]
    return asked, (message.embeds[0] if message.embeds else {"content": message.content})


async def test_status_models_workflows_and_history_with_two_backends(tmp_path: Path) -> None:
    stack = await make_stack(2, tmp_path)
    discord = stack.discord
    checkpoints(stack.comfys[1]).append("sdxl.safetensors")
    try:
        async with stack.start() as app:
            made = [await imagine(discord, f"status {n}", user=USER_ID) for n in range(2)]
            for interaction in made:
                await discord.until(final(discord, interaction))
            await app.engine.wait_idle()
            await stack.comfys[1].stop()  # one server goes away
            await app.pool.check_all()
            await app.pool.check_all()
            asked, status = await answer(discord, "status")
            _, models = await answer(discord, "models")
            _, workflows = await answer(discord, "workflows")
            _, refused = await answer(discord, "workflows", [{"name": "reload", "type": 5, "value": True}])
            _, history = await answer(discord, "history")
    finally:
        await discord.stop()
        await stack.comfys[0].stop()
    assert asked.ephemeral
    fields = {f["name"]: f["value"] for f in status["fields"]}
    assert fields["Queue"] == "0 waiting, 0 open"
    assert fields["Last 24 hours"].startswith("2 jobs; median wait ") and "median run " in fields["Last 24 hours"]
    assert fields["gpu1: up"].startswith("0 prompt(s)") and "cpu: " in fields["gpu1: up"]
    assert "\nloaded: v1-5-pruned-emaonly.safetensors; a model load takes " in fields["gpu1: up"]  # what is warm
    assert any(name.startswith("gpu2: down") for name in fields)
    assert models["title"] == "Models (page 1 of 1)"
    assert models["description"].splitlines() == [
        "`sd15-random.safetensors`",
        "`sdxl.safetensors`",
        "`v1-5-pruned-emaonly.safetensors`",
    ]
    assert "txt2img: Text to image (manifest)" in workflows["content"] and "prompt" in workflows["content"]
    assert (
        refused["content"]
        == "⚠️ Only the bot's operators can reload the workflows: every server the bot is in shares them."
    )
    links = history["description"].splitlines()
    assert len(links) == 2 and all(f"https://discord.com/channels/{GUILD_ID}/3000/" in line for line in links)
    assert {m.id for m in discord.messages.values() if m.embeds and m.embeds[0].get("title") == "Done"} == {
        int(line.rsplit("/", 1)[1].rstrip(")")) for line in links
    }


async def test_a_command_that_fails_tells_the_member_in_their_language(stack: Stack, monkeypatch: Any) -> None:
    async def broken(*_: Any) -> list[Any]:
        raise RuntimeError("the database is on fire")

    monkeypatch.setattr(records, "recent_results", broken)
    async with stack.start():
        english = await ask(stack.discord, "history")
        chinese = await ask(stack.discord, "history", locale="zh-CN")
    assert english.ephemeral and stack.discord.messages[english.message_id or 0].content == (
        "⚠️ Something went wrong on our side (it has been logged). Please try again in a moment."
    )
    assert stack.discord.messages[chinese.message_id or 0].content == "⚠️ " + catalogue("zh-CN")["errors.command"]

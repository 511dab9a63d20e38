"""The bot connects to Discord (the loopback fake) with the fewest intents and syncs commands only on change."""

from __future__ import annotations

from pathlib import Path

import discord
from discord import app_commands
from discord.ext import commands

from bot.__main__ import use_discord_api
from bot.bot import ComfyBot
from bot.settings import DiscordSettings
from tests.discord_helpers import running
from tests.fakes.discord_api import GUILD_ID, FakeDiscord


class Hello(commands.Cog):
    def __init__(self, description: str = "Say hello") -> None:
        self.hello.description = description

    @app_commands.command(name="hello", description="Say hello")
    async def hello(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("hello")


def make_bot(fake: FakeDiscord, state: Path, cog: commands.Cog, **settings: object) -> ComfyBot:
    config = DiscordSettings(token="test-token", api_base=fake.api_base, **settings)
    use_discord_api(fake.api_base)
    bot = ComfyBot(config, sync_state=state, guild_ready_timeout=0.05)
    bot.serve([cog])
    return bot


async def test_connects_with_the_fewest_intents_and_syncs_once(discord_fake: FakeDiscord, tmp_path: Path) -> None:
    state = tmp_path / "commands.sha256"
    async with running(make_bot(discord_fake, state, Hello())) as bot:
        assert bot.get_guild(GUILD_ID) is not None
        identify = discord_fake.identified[-1]
        assert identify["intents"] == (1 << 0) | (1 << 10)  # guilds, guild message reactions
        assert identify["shard"] == [0, 1]
        assert [c["name"] for c in discord_fake.commands["global"]] == ["hello"]
    assert discord_fake.command_puts == 1

    async with running(make_bot(discord_fake, state, Hello())):
        pass
    assert discord_fake.command_puts == 1  # unchanged: not synced again

    async with running(make_bot(discord_fake, state, Hello("Say hello nicely"))):
        pass
    assert discord_fake.command_puts == 2  # changed: synced


async def test_development_guilds_get_the_commands(discord_fake: FakeDiscord, tmp_path: Path) -> None:
    bot = make_bot(discord_fake, tmp_path / "state", Hello(), dev_guild_ids=[GUILD_ID])
    async with running(bot):
        assert [c["name"] for c in discord_fake.commands[str(GUILD_ID)]] == ["hello"]
        assert "global" not in discord_fake.commands


async def test_a_slash_command_round_trip(discord_fake: FakeDiscord, tmp_path: Path) -> None:
    async with running(make_bot(discord_fake, tmp_path / "state", Hello())):
        interaction = await discord_fake.interact("hello")
        await discord_fake.until(lambda: interaction.callback_type is not None)
        assert interaction.callback_type == 4
        assert discord_fake.original(interaction).content == "hello"


async def test_the_gateway_url_can_be_set(discord_fake: FakeDiscord, tmp_path: Path) -> None:
    bot = make_bot(discord_fake, tmp_path / "state", Hello(), gateway_url=discord_fake.gateway_url)
    async with running(bot):
        assert discord_fake.identified

"""/settings: a member's own defaults for /imagine (template, aspect ratio, negative prompt)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.jobs.store import SqliteJobStore
from bot.templates.errors import TemplateError
from bot.templates.library import TemplateLibrary

from .flags import FlagError, parse_aspect

OPTIONS = {
    "template": "the template /imagine uses when none is given",
    "aspect": "the aspect ratio when none is given (like 16:9)",
    "negative": "the negative prompt when none is given",
}


class SettingsCog(commands.GroupCog, group_name="settings", group_description="Your defaults for /imagine"):
    def __init__(self, store: SqliteJobStore, library: TemplateLibrary) -> None:
        self.store, self.library = store, library
        super().__init__()

    @app_commands.command(name="show", description="Your defaults for /imagine")
    async def show(self, interaction: discord.Interaction) -> None:
        mine = await self.store.member_settings(interaction.user.id)
        text = "\n".join(f"{key}: {mine.get(key, '(not set)')}" for key in OPTIONS)
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="set", description="Set one of your defaults ('none' clears it)")
    @app_commands.choices(option=[app_commands.Choice(name=f"{k}: {v}"[:100], value=k) for k, v in OPTIONS.items()])
    async def set_(self, interaction: discord.Interaction, option: str, value: str) -> None:
        cleared = value.strip().lower() == "none"
        try:
            if option == "template" and not cleared:
                self.library.get(value.strip())
            if option == "aspect" and not cleared:
                parse_aspect(value)
        except (FlagError, TemplateError) as exc:
            await interaction.response.send_message(f"⚠️ {exc}", ephemeral=True)
            return
        await self.store.set_member_setting(interaction.user.id, option, None if cleared else value.strip())
        text = f"Your default {option} is cleared." if cleared else f"Your default {option} is now {value.strip()!r}."
        await interaction.response.send_message(text, ephemeral=True)

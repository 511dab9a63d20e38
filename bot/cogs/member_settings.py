"""/settings: a member's own defaults for /imagine (template, aspect ratio, negative prompt, private results)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import Joined, Text, excerpt, text_of
from bot.jobs.admission import Admission
from bot.jobs.controls import Controls
from bot.jobs.flags import FlagError, parse_aspect
from bot.jobs.policy import Policies
from bot.templates.errors import TemplateError
from bot.templates.library import TemplateLibrary

from .config import ConfigValueError, parse_switch
from .replies import tell

OPTIONS = {
    "template": "the template /imagine uses when none is given",
    "aspect": "the aspect ratio when none is given (like 16:9)",
    "negative": "the negative prompt when none is given",
    "private": "results only you see, where the server allows it (on or off)",
}


class SettingsCog(commands.GroupCog, group_name="settings", group_description="Your defaults for /imagine"):
    def __init__(self, controls: Controls, library: TemplateLibrary, policies: Policies, admission: Admission) -> None:
        self.controls, self.library, self.policies, self.admission = controls, library, policies, admission
        super().__init__()

    @app_commands.command(name="show", description="Your defaults for /imagine")
    async def show(self, interaction: discord.Interaction) -> None:
        mine = await self.controls.defaults(interaction.user.id)
        lines = [
            Text("settings.line", option=key, value=excerpt(mine.get(key) or "") or Text("settings.unset"))
            for key in OPTIONS
        ]
        await tell(interaction, Joined(lines + self._not_here(interaction, mine.get("private")), "\n"))

    @app_commands.command(name="set", description="Set one of your defaults ('none' clears it)")
    @app_commands.describe(option="The default to set", value="Its value ('none' clears it)")
    @app_commands.choices(option=[app_commands.Choice(name=f"{k}: {v}"[:100], value=k) for k, v in OPTIONS.items()])
    async def set_(self, interaction: discord.Interaction, option: str, value: str) -> None:
        cleared = value.strip().lower() == "none"
        stored = value.strip()
        problem = None if cleared else self.admission.default_problem(option, stored)
        if problem is not None:
            await tell(interaction, problem, warn=True)
            return
        try:
            if option == "template" and not cleared:
                self.library.get(stored)
            if option == "aspect" and not cleared:
                parse_aspect(stored)
            if option == "private" and not cleared:
                stored = "on" if parse_switch(stored) else "off"
        except (FlagError, TemplateError, ConfigValueError) as exc:
            await tell(interaction, text_of(exc), warn=True)
            return
        await self.controls.set_default(interaction.user.id, option, None if cleared else stored)
        if cleared:
            await tell(interaction, "settings.cleared", option=option)
            return
        saved = Text("settings.saved", option=option, value=excerpt(stored))
        await tell(
            interaction, Joined([saved, *self._not_here(interaction, stored if option == "private" else None)], "\n")
        )

    def _not_here(self, interaction: discord.Interaction, private: str | None) -> list[Text]:
        """Said with a member's choice of private results where this server does not allow them."""
        allowed = self.policies.of(interaction.guild_id).allow_private
        return [Text("settings.private_not_here")] if private == "on" and not allowed else []

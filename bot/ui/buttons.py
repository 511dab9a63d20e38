"""Persistent buttons: custom ids carry the job id, so they work on any message, across restarts."""

from __future__ import annotations

from typing import Any

import discord
from discord.ext import commands

CANCEL_PREFIX = "job:cancel:"


class CancelButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"job:cancel:(?P<job>[0-9a-f-]{36})"):
    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cancel", emoji="❌", style=discord.ButtonStyle.secondary, custom_id=CANCEL_PREFIX + job_id
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> CancelButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        client = interaction.client
        cog = client.get_cog("QueueCog") if isinstance(client, commands.bot.BotBase) else None
        if cog is None:
            await interaction.response.send_message("Cancelling is not available right now.", ephemeral=True)
            return
        await cog.cancel_for(interaction, self.job_id)  # type: ignore[attr-defined]


def progress_view(job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id))
    return view

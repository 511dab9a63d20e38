"""Persistent buttons: custom ids carry the job id, so they work on any message, across restarts."""

from __future__ import annotations

from typing import Any

import discord
from discord.ext import commands

from bot.i18n import Text

CANCEL_PREFIX = "job:cancel:"


async def _cog(interaction: discord.Interaction, name: str) -> Any:
    """The cog that handles a button, or None after telling the member it is not available."""
    client = interaction.client
    cog = client.get_cog(name) if isinstance(client, commands.bot.BotBase) else None
    if cog is None:
        text = Text("buttons.unavailable").render(str(interaction.locale))
        await interaction.response.send_message(text, ephemeral=True)
    return cog


class CancelButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"job:cancel:(?P<job>[0-9a-f-]{36})"):
    def __init__(self, job_id: str, locale: str | None = None) -> None:
        label = Text("buttons.cancel").render(locale)
        super().__init__(
            discord.ui.Button(
                label=label, emoji="❌", style=discord.ButtonStyle.secondary, custom_id=CANCEL_PREFIX + job_id
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> CancelButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = await _cog(interaction, "QueueCog")
        if cog is not None:
            await cog.cancel_for(interaction, self.job_id)


def progress_view(job_id: str, locale: str | None = None) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id, locale))
    return view


RESULT_ACTIONS = {  # action -> (emoji, style); the label is the catalogue's "buttons.<action>"
    "reroll": ("🔄", discord.ButtonStyle.primary),
    "vary": (None, discord.ButtonStyle.secondary),
    "upscale": (None, discord.ButtonStyle.secondary),
    "edit": ("✏️", discord.ButtonStyle.secondary),
    "info": ("\u2139\ufe0f", discord.ButtonStyle.secondary),
    "delete": ("🗑️", discord.ButtonStyle.danger),
}


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"job:(?P<action>reroll|vary|upscale|edit|info|delete):(?P<job>[0-9a-f-]{36})(?::(?P<index>\d{1,2}))?",
):
    """A button on a delivered result. `index` (1-based) picks one image of a batch: U1..Un, V1..Vn."""

    def __init__(self, action: str, job_id: str, index: int | None = None, locale: str | None = None) -> None:
        emoji, style = RESULT_ACTIONS[action]
        label = Text(f"buttons.{action}").render(locale)
        if index is not None:
            label = f"{'U' if action == 'upscale' else 'V'}{index}"
            emoji = None
        custom_id = f"job:{action}:{job_id}" + (f":{index}" if index is not None else "")
        super().__init__(discord.ui.Button(label=label, emoji=emoji, style=style, custom_id=custom_id))
        self.action, self.job_id, self.index = action, job_id, index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> ResultButton:
        index = int(match["index"]) if match["index"] else None
        return cls(match["action"], match["job"], index)

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = await _cog(interaction, "ResultsCog")
        if cog is not None:
            await cog.on_button(interaction, self.action, self.job_id, self.index)


def result_view(
    job_id: str, images: int, *, can_vary: bool, can_upscale: bool, locale: str | None = None
) -> discord.ui.View:
    """Buttons under a result: per-image U and V rows for a batch, then Reroll, Edit, Info, Delete."""
    view = discord.ui.View(timeout=None)
    rows: list[list[ResultButton]] = []
    if images > 1:
        for action, allowed in (("upscale", can_upscale), ("vary", can_vary)):
            if allowed:
                buttons = [ResultButton(action, job_id, n, locale) for n in range(1, min(images, 10) + 1)]
                rows += [buttons[i : i + 5] for i in range(0, len(buttons), 5)]
    actions = ["reroll"] + (["vary"] if images == 1 and can_vary else [])
    actions += (["upscale"] if images == 1 and can_upscale else []) + ["edit", "info"]
    rows.append([ResultButton(a, job_id, 1 if a in ("vary", "upscale") else None, locale) for a in actions])
    rows.append([ResultButton("delete", job_id, locale=locale)])
    for number, row in enumerate(rows[:5]):
        for button in row:
            button.item.row = number
            view.add_item(button)
    return view

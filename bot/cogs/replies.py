"""Answers in the member's language: the interaction's locale picks the catalogue."""

from __future__ import annotations

from typing import Any

import discord

from bot.i18n import Joined, Listed, Text, supported
from bot.ui.fit import fit_content, fit_embed


def locale_of(interaction: discord.Interaction) -> str:
    return supported(str(interaction.locale))


def say(interaction: discord.Interaction, text: Text | Joined | Listed | str, /, **params: Any) -> str:
    """`text` (a Text, or a catalogue key with `params`) in the member's language."""
    message = Text(text, **params) if isinstance(text, str) else text
    return message.render(locale_of(interaction))


async def tell(
    interaction: discord.Interaction, text: Text | Joined | str, /, *, warn: bool = False, **params: Any
) -> None:
    """An answer only the member sees, in their language (⚠️ first when it is a refusal)."""
    content = fit_content(("⚠️ " if warn else "") + say(interaction, text, **params))
    if interaction.response.is_done():
        await interaction.followup.send(content, ephemeral=True)
    else:
        await interaction.response.send_message(content, ephemeral=True)


async def show(interaction: discord.Interaction, embed: discord.Embed) -> None:
    """An embed only the member sees, fitted to Discord's limits (a blank value reads "(none)" in their
    language)."""
    fitted = fit_embed(embed, say(interaction, "result.none"))
    if interaction.response.is_done():
        await interaction.followup.send(embed=fitted, ephemeral=True)
    else:
        await interaction.response.send_message(embed=fitted, ephemeral=True)

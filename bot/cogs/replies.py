"""Answers in the member's language: the interaction's locale picks the catalogue."""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.i18n import Joined, Listed, Text, supported
from bot.ui.fit import fit_content, fit_embed

log = logging.getLogger(__name__)


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
    await _answer(interaction, content=content)


async def show(interaction: discord.Interaction, embed: discord.Embed) -> None:
    """An embed only the member sees, fitted to Discord's limits (a blank value reads "(none)" in their
    language)."""
    await _answer(interaction, embed=fit_embed(embed, say(interaction, "result.none")))


async def _answer(interaction: discord.Interaction, **message: Any) -> None:
    """Only for the member: the reply; after a deferral with a loading message, that message filled in by an
    edit; else a follow-up. A follow-up is a webhook message created in the channel, and Discord limits those per
    channel (about 30 a minute, every webhook there together: discord/discord-api-docs#367, #3763), so one is
    made only when nothing can be edited instead."""
    if not interaction.response.is_done():
        await interaction.response.send_message(ephemeral=True, **message)
    elif interaction.response.type is discord.InteractionResponseType.deferred_channel_message and not (
        interaction.extras.get("filled")
    ):
        interaction.extras["filled"] = True
        await interaction.edit_original_response(**message)
    else:
        await interaction.followup.send(ephemeral=True, **message)


async def loading(interaction: discord.Interaction, *, ephemeral: bool) -> int | None:
    """Acknowledge with a loading message ("thinking") and return that message's id: from the callback's answer,
    or, since Discord's spec marks both `resource` and `interaction.response_message_id` optional
    (InteractionCallbackResponse), from `@original` (None when even that cannot be read: the token still edits
    it)."""
    callback = await interaction.response.defer(thinking=True, ephemeral=ephemeral)  # Discord allows 3 seconds
    message_id: int | None = getattr(callback, "message_id", None)
    if message_id is None:
        try:
            message_id = (await interaction.original_response()).id
        except discord.HTTPException as exc:
            log.warning("could not read the id of an interaction's loading message: %s", exc)
    return message_id

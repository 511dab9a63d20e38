"""The embeds that answer commands (/queue, /status, /models, /history, a result's Info): a title, an optional
description and fields, in the bot's colour. The cogs say what is in them; they are built here, and fitted to
Discord's limits when sent (`cogs.replies.show`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import discord

COLOUR = discord.Colour.blurple()


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    value: str
    inline: bool = True


def panel(title: str, *, description: str | None = None, fields: Iterable[Field] = ()) -> discord.Embed:
    embed = discord.Embed(title=title, description=description, colour=COLOUR)
    for field in fields:
        embed.add_field(name=field.name, value=field.value, inline=field.inline)
    return embed

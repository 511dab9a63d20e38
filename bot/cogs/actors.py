"""Who is asking, as Discord described them (an interaction, or a reaction's member): the one `Asker` every rule
in `jobs/` reads."""

from __future__ import annotations

from typing import Any

import discord

from bot.jobs.access import Asker

from .replies import locale_of


def asker(interaction: discord.Interaction) -> Asker:
    """From the interaction: Discord computed the member's permissions in this channel (`permissions`)."""
    permissions = interaction.permissions
    return Asker(
        interaction.user.id,
        interaction.guild_id,
        interaction.channel_id or 0,
        locale_of(interaction),
        frozenset(role.id for role in getattr(interaction.user, "roles", [])),
        bool(getattr(interaction.channel, "nsfw", False)),
        interaction.guild_id is not None and (permissions.manage_guild or permissions.administrator),
    )


def reacting(payload: Any, locale: str, *, nsfw: bool) -> Asker:
    """From a reaction: the member's roles, and their server-wide permissions from those roles. A reaction
    carries no language (`locale`: the result's) and no channel (`nsfw`: from the cache)."""
    member = payload.member
    if not isinstance(member, discord.Member):
        return Asker(payload.user_id, payload.guild_id, payload.channel_id, locale, channel_nsfw=nsfw)
    permissions = member.guild_permissions
    roles = frozenset(role.id for role in member.roles)
    manages = permissions.manage_guild or permissions.administrator
    return Asker(payload.user_id, payload.guild_id, payload.channel_id, locale, roles, nsfw, manages)


def bot_permissions(interaction: discord.Interaction) -> int | None:
    """What the bot may do where it is asked, as Discord computed it for the interaction (`app_permissions`)."""
    return interaction.app_permissions.value if interaction.guild_id is not None else None

"""Who is asking, as Discord described them (an interaction, or a reaction's member): an `Actor` for
`jobs.access`, an `Asker` for `jobs.admission`."""

from __future__ import annotations

from typing import Any

import discord

from bot.jobs.access import Actor
from bot.jobs.admission import Asker

from .replies import locale_of


def actor(interaction: discord.Interaction) -> Actor:
    """From the interaction: Discord computed the member's permissions in this channel (`permissions`)."""
    permissions = interaction.permissions
    return Actor(
        interaction.user.id,
        interaction.guild_id,
        frozenset(role.id for role in getattr(interaction.user, "roles", [])),
        interaction.guild_id is not None and (permissions.manage_guild or permissions.administrator),
    )


def reacting(payload: Any) -> Actor:
    """From a reaction: the member's roles, and their server-wide permissions from those roles."""
    member = payload.member
    if not isinstance(member, discord.Member):
        return Actor(payload.user_id, payload.guild_id)
    permissions = member.guild_permissions
    roles = frozenset(role.id for role in member.roles)
    return Actor(payload.user_id, payload.guild_id, roles, permissions.manage_guild or permissions.administrator)


def asker_of(interaction: discord.Interaction) -> Asker:
    asking = actor(interaction)
    return Asker(
        interaction.user.id,
        interaction.guild_id,
        interaction.channel_id or 0,
        locale_of(interaction),
        asking.roles,
        bool(getattr(interaction.channel, "nsfw", False)),
        asking.manages_guild,
    )

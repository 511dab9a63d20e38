"""Who is asking, as Discord described them (an interaction, or a reaction's member), for `jobs.access`."""

from __future__ import annotations

from typing import Any

import discord

from bot.jobs.access import Actor


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

"""Whether the bot may show a result where it was asked for: what it lacks in this channel, from the
interaction's `app_permissions` (the list of what it needs is `bot/permissions.py`'s)."""

from __future__ import annotations

import discord

from bot import permissions
from bot.i18n import Joined, Text


def missing_permissions(interaction: discord.Interaction, *, private: bool) -> Text | None:
    """Said before any job runs; a private result needs nothing of the channel."""
    if private or interaction.guild_id is None:
        return None
    lacking = permissions.missing(interaction.app_permissions.value)
    if not lacking:
        return None
    return Text("permission.missing", permissions=Joined([Text(f"permission.{name}") for name in lacking], ", "))

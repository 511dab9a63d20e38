"""Who a message may ping: nobody, except the member being answered
(docs.discord.com/developers/resources/message#allowed-mentions-object)."""

from __future__ import annotations

import discord

NOBODY = discord.AllowedMentions.none()


def only_them(user_id: int) -> discord.AllowedMentions:
    return discord.AllowedMentions(everyone=False, roles=False, replied_user=False, users=[discord.Object(user_id)])

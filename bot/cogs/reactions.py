"""Reactions on results: 🔄 rerolls, ❌ deletes a result or cancels a running job. A reaction carries no
interaction to answer privately, so a refusal goes to that member by direct message; only where their direct
messages are closed is it a short message in the channel (pinging only them, deleting itself), and the same
refusal is said once in a while, however many reactions. A member whose results are private gets their reroll
by direct message, with nothing in the channel."""

from __future__ import annotations

import logging
import time
from typing import Any

import discord
from discord.ext import commands

from bot.i18n import Text
from bot.jobs.admission import Admission, Knock
from bot.jobs.controls import Controls
from bot.jobs.errors import RefusedRequest
from bot.jobs.model import FINISHED, Job, JobState
from bot.ui.fit import fit_content
from bot.ui.job_messages import JobMessages
from bot.ui.mentions import only_them

from .actors import reacting
from .results import note_of

log = logging.getLogger(__name__)
REROLL, CROSS, CHECK = "🔄", "❌", "✅"
DEDUP_SECONDS = 60.0
REFUSAL_SECONDS = 15.0


class ReactionsCog(commands.Cog, name="ReactionsCog"):
    def __init__(self, admission: Admission, controls: Controls, messages: JobMessages) -> None:
        self.admission, self.controls, self.messages = admission, controls, messages
        self._seen: dict[tuple[int, int, str], float] = {}  # (message, member, emoji) -> when: one job per add
        self._told: dict[tuple[int, str], float] = {}  # (member, refusal) -> when it was said

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        bot = self.messages.client
        emoji = str(payload.emoji)
        if emoji not in (REROLL, CROSS) or bot is None or bot.user is None or payload.user_id == bot.user.id:
            return
        key, now = (payload.message_id, payload.user_id, emoji), time.monotonic()
        if now - self._seen.get(key, -DEDUP_SECONDS) < DEDUP_SECONDS:
            return  # the same reaction again (removed and added, or delivered twice): one job per reaction
        self._seen = {k: t for k, t in self._seen.items() if now - t < DEDUP_SECONDS}
        self._seen[key] = now
        job = await self.controls.result_on(payload.message_id)
        if job is None:
            return
        channel = bot.get_partial_messageable(payload.channel_id, guild_id=payload.guild_id)
        try:
            await self._react(job, channel, payload, emoji)
        except RefusedRequest as refused:  # no interaction to answer: that member is told, in the result's language
            await self._say_to(channel, payload, emoji, refused.text.render(job.request.locale))
        except Exception:  # the one error path, as for commands and buttons: logged, the member told
            log.exception("a %s reaction on job %s failed", emoji, job.id)
            await self._say_to(channel, payload, emoji, Text("errors.command").render(job.request.locale))

    async def _react(self, job: Job, channel: discord.PartialMessageable, payload: Any, emoji: str) -> None:
        # a reaction carries no language: the result's is used
        asking = reacting(payload, job.request.locale, nsfw=self._nsfw(payload))
        if emoji == CROSS:
            self.admission.may_delete(asking, job)
            await self._cross(job, channel, payload)
            await self._acknowledge(payload, emoji)
            return
        if job.state is not JobState.DELIVERED:
            return
        knock = Knock(asking, "reroll", job, bot_permissions=self._bot_permissions(payload))
        with self.admission.open(knock) as ticket:
            new = await ticket.reroll(note_of(payload.guild_id, payload.channel_id, payload.message_id))
            if ticket.private:  # no interaction to answer privately: nothing in the channel, the result by DM
                self.messages.attach_direct(new, payload.channel_id)
                await ticket.accept(new, None, None)
            else:
                rerolling = Text("results.rerolling").render(asking.locale)
                message = await channel.send(
                    f"<@{payload.user_id}> 🔄 {rerolling}", allowed_mentions=only_them(payload.user_id)
                )
                self.messages.attach_channel(new, payload.channel_id, message.id)
                await ticket.accept(new, message.id, None)
        await self._acknowledge(payload, emoji)

    async def _cross(self, job: Job, channel: discord.PartialMessageable, payload: Any) -> None:
        if self.controls.running(job):
            await self.controls.cancel(job.id, Text("by.reaction"))
        elif job.state in FINISHED:
            await channel.get_partial_message(payload.message_id).delete()

    async def _say_to(self, channel: discord.PartialMessageable, payload: Any, emoji: str, text: str) -> None:
        """A refusal for the member who reacted: by direct message, else briefly in the channel; once per
        REFUSAL_SECONDS for the same refusal."""
        user_id, now = payload.user_id, time.monotonic()
        if now - self._told.get((user_id, text), -REFUSAL_SECONDS) < REFUSAL_SECONDS:
            return
        self._told = {k: t for k, t in self._told.items() if now - t < REFUSAL_SECONDS}
        self._told[(user_id, text)] = now
        client = self.messages.client
        link = note_of(payload.guild_id, payload.channel_id, payload.message_id)
        try:
            if client is not None:
                direct = await client.create_dm(discord.Object(user_id))
                await direct.send(fit_content(f"⚠️ {emoji} {link}\n{text}"))
                return
        except discord.HTTPException as exc:  # 50007: they accept no direct messages from the bot
            log.info("could not tell member %s by direct message: %s", user_id, exc)
        content = fit_content(f"<@{user_id}> ⚠️ {text}")
        await channel.send(content, delete_after=REFUSAL_SECONDS, allowed_mentions=only_them(user_id))

    def _bot_permissions(self, payload: Any) -> int | None:
        """The bot's permissions in the channel, from the cache (None when not known)."""
        client = self.messages.client
        guild = client.get_guild(payload.guild_id) if client is not None and payload.guild_id else None
        channel = guild.get_channel(payload.channel_id) if guild is not None else None
        me = guild.me if guild is not None else None  # (None while the bot's own member is not cached)
        if me is None or not isinstance(channel, discord.abc.GuildChannel):
            return None
        return channel.permissions_for(me).value

    def _nsfw(self, payload: Any) -> bool:
        client = self.messages.client
        channel = client.get_channel(payload.channel_id) if client is not None else None
        return bool(getattr(channel, "nsfw", False))

    async def _acknowledge(self, payload: Any, emoji: str) -> None:
        """Remove the member's reaction, or add ✅, where the bot may; say nothing where it may not."""
        bot = self.messages.client
        guild = bot.get_guild(payload.guild_id) if bot is not None and payload.guild_id else None
        channel = guild.get_channel(payload.channel_id) if guild is not None else None
        if guild is None or channel is None or not isinstance(channel, discord.abc.GuildChannel):
            return
        permissions = channel.permissions_for(guild.me)
        message = discord.PartialMessage(channel=channel, id=payload.message_id)  # type: ignore[arg-type]
        try:
            if permissions.manage_messages:
                await message.remove_reaction(emoji, discord.Object(payload.user_id))
            elif permissions.add_reactions:
                await message.add_reaction(CHECK)
        except discord.HTTPException as exc:
            log.info("could not acknowledge a reaction: %s", exc)

"""Follow-ups on delivered results: buttons (Reroll, Vary, Upscale, Edit, Info, Delete; U1..Un, V1..Vn) and
reactions (🔄 rerolls, ❌ deletes a result or cancels a running job), on any result ever made: jobs are looked
up in the database by id or message id, so everything works after a restart. Follow-ups go through the same
queue, caps and fairness as /imagine, and their result links to its parent."""

from __future__ import annotations

import logging
import time
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import Text, text_of
from bot.jobs.engine import JobEngine
from bot.jobs.followups import Asker, FollowUpError, FollowUps
from bot.jobs.model import FINISHED, Job, JobRequest, JobState
from bot.jobs.policy import Policies
from bot.jobs.store import SqliteJobStore, StoredReply
from bot.settings import LimitSettings
from bot.templates.errors import TemplateError
from bot.templates.params import ImageData
from bot.ui.fit import fit_content
from bot.ui.job_messages import JobMessages
from bot.ui.mentions import only_them

from .admission import admission_problem, missing_permissions
from .replies import locale_of, show, tell

log = logging.getLogger(__name__)
REROLL, CROSS, CHECK = "🔄", "❌", "✅"
DEDUP_SECONDS = 60.0
REFUSAL_SECONDS = 15.0


def _id(message: discord.Message | None) -> int | None:
    return message.id if message is not None else None


def jump_link(guild_id: int | None, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def _note(guild_id: int | None, channel_id: int, message_id: int | None) -> str | None:
    """What a follow-up's result links back to."""
    return jump_link(guild_id, channel_id, message_id) if message_id is not None else None


class EditModal(discord.ui.Modal):
    def __init__(self, cog: ResultsCog, job: Job, message: discord.Message | None, locale: str) -> None:
        super().__init__(title=Text("edit.title").render(locale), timeout=600)
        self.cog, self.job, self.message = cog, job, message
        values = job.request.bound.values
        self.prompt: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
            label=Text("edit.prompt").render(locale),
            style=discord.TextStyle.paragraph,
            default=str(values.get("prompt") or "")[:4000],
            max_length=4000,
        )
        self.negative: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
            label=Text("edit.negative").render(locale),
            style=discord.TextStyle.paragraph,
            required=False,
            default=str(values.get("negative") or "")[:4000],
            max_length=4000,
        )
        self.add_item(self.prompt)
        self.add_item(self.negative)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.cog.run_edit(interaction, self.job, self.message, self.prompt.value, self.negative.value)


class ResultsCog(commands.Cog, name="ResultsCog"):
    def __init__(
        self,
        engine: JobEngine,
        store: SqliteJobStore,
        messages: JobMessages,
        followups: FollowUps,
        limits: LimitSettings,
        moderator_roles: list[int],
        policies: Policies,
    ) -> None:
        self.policies = policies
        self.engine, self.store, self.messages, self.followups = engine, store, messages, followups
        self.limits = limits
        self.moderator_roles = set(moderator_roles)
        self._seen: dict[tuple[int, int, str], float] = {}  # (message, member, emoji) -> when: one job per add
        self._last: dict[int, float] = {}  # member -> their last follow-up

    # ---- who may -----------------------------------------------------------------------------------------

    async def _refusal(self, job: Job, user_id: int, roles: set[int], admin: bool, action: str) -> Text | None:
        if user_id == job.user_id or admin or roles & self.moderator_roles:
            return None
        guild = job.request.guild_id
        if action != "delete" and guild is not None and await self.store.guild_setting(guild, "rerolls") == "everyone":
            return None
        return Text("results.not_yours", action=Text(f"verb.{action}"))

    def _policy(self, guild_id: int | None, channel_id: int, roles: set[int], text: str) -> Text | None:
        """The server's rules (channel, roles, banned words) apply to follow-ups as to /imagine."""
        policy = self.policies.of(guild_id)
        return policy.refusal(in_dm=guild_id is None, channel_id=channel_id, roles=roles, text=text)

    def _cooldown(self, user_id: int) -> Text | None:
        left = self._last.get(user_id, 0.0) + self.limits.reroll_cooldown - time.monotonic()
        if left > 0:
            return Text("results.cooldown", seconds=f"{left:.0f}")
        self._last[user_id] = time.monotonic()
        return None

    @staticmethod
    def _member_facts(member: Any, permissions: discord.Permissions | None = None) -> tuple[set[int], bool]:
        """A member's roles, and whether they administer the server: from what Discord computed for the
        interaction (`permissions`) when there is one, else from the member's roles (a reaction)."""
        if not isinstance(member, discord.Member):
            return set(), False
        permissions = permissions if permissions is not None else member.guild_permissions
        return {role.id for role in member.roles}, permissions.manage_guild or permissions.administrator

    # ---- buttons -----------------------------------------------------------------------------------------

    async def on_button(self, interaction: discord.Interaction, action: str, job_id: str, index: int | None) -> None:
        job = await self.store.get(job_id)
        if job is None:
            await tell(interaction, "results.unknown")
            return
        if action == "info":
            await show(interaction, self._info(job, locale_of(interaction)))
            return
        roles, admin = self._member_facts(interaction.user, interaction.permissions)
        refusal = await self._refusal(job, interaction.user.id, roles, admin, action)
        if refusal is not None:
            await tell(interaction, refusal)
            return
        if action == "delete":
            await self._delete(interaction)
            return
        prompt = str(job.request.bound.values.get("prompt") or "")
        refusal = self._policy(interaction.guild_id, interaction.channel_id or 0, roles, prompt)
        private = self._private(interaction.guild_id, interaction.user.id)
        refusal = (
            refusal
            or missing_permissions(interaction, private=private)
            or self._cooldown(interaction.user.id)
            or admission_problem(self.engine, self.limits, interaction.user.id)
        )
        if refusal is not None:
            await tell(interaction, refusal)
            return
        if action == "edit":
            await interaction.response.send_modal(EditModal(self, job, interaction.message, locale_of(interaction)))
            return
        asker = self._asker(interaction)
        note = _note(interaction.guild_id, interaction.channel_id or 0, _id(interaction.message))
        try:
            if action == "reroll":
                request = self.followups.reroll(job, asker, note)
            else:
                image = await self._result_image(interaction.message, index or 1)
                make = self.followups.vary if action == "vary" else self.followups.upscale
                request = make(job, asker, image, note)
        except (FollowUpError, TemplateError) as exc:
            await tell(interaction, text_of(exc), warn=True)
            return
        except discord.HTTPException as exc:
            await tell(interaction, "results.unreadable", warn=True, error=str(exc))
            return
        await self._start_from_interaction(interaction, request)

    @staticmethod
    async def _delete(interaction: discord.Interaction) -> None:
        """Through the interaction, which reaches the result whether it is public or ephemeral: a deferred
        update makes @original the message whose button was pressed; then the member is told what happened."""
        await interaction.response.defer()
        try:
            await interaction.delete_original_response()
        except discord.HTTPException as exc:
            log.info("could not delete a result: %s", exc)
            await tell(interaction, "results.not_deleted", warn=True)
            return
        await tell(interaction, "results.deleted")

    async def run_edit(
        self, interaction: discord.Interaction, job: Job, message: discord.Message | None, prompt: str, negative: str
    ) -> None:
        roles, _ = self._member_facts(interaction.user, interaction.permissions)
        refusal = self._policy(interaction.guild_id, interaction.channel_id or 0, roles, f"{prompt}\n{negative}")
        if refusal is not None:
            await tell(interaction, refusal, warn=True)
            return
        asker = self._asker(interaction)
        note = _note(interaction.guild_id, interaction.channel_id or 0, _id(message))
        try:
            request = self.followups.edit(job, asker, prompt, negative, note)
        except (FollowUpError, TemplateError) as exc:
            await tell(interaction, text_of(exc), warn=True)
            return
        await self._start_from_interaction(interaction, request)

    async def _start_from_interaction(self, interaction: discord.Interaction, request: JobRequest) -> None:
        callback = await interaction.response.defer(thinking=True, ephemeral=request.private)  # its own message
        message_id = getattr(callback, "message_id", None)
        job = Job(request)
        self.messages.attach(job, interaction, message_id)
        await self.engine.accept(job, StoredReply(request.channel_id, message_id, interaction.token))

    def _private(self, guild_id: int | None, user_id: int) -> bool:
        """Whether this member's new job is private: their setting now, where the server allows it."""
        return self.policies.of(guild_id).allow_private and self.store.wants_private(user_id)

    def _asker(self, interaction: discord.Interaction) -> Asker:
        return Asker(
            interaction.user.id,
            interaction.guild_id,
            interaction.channel_id or 0,
            locale_of(interaction),
            self.policies.of(interaction.guild_id),
            bool(getattr(interaction.channel, "nsfw", False)),
            self._private(interaction.guild_id, interaction.user.id),
        )

    @staticmethod
    async def _result_image(message: discord.Message | None, index: int) -> ImageData:
        attachments = message.attachments if message is not None else []
        if not 1 <= index <= len(attachments):
            raise FollowUpError("results.no_image", index=index)
        attachment = attachments[index - 1]
        return ImageData(await attachment.read(), attachment.filename)

    @staticmethod
    def _info(job: Job, locale: str) -> discord.Embed:
        values = job.request.bound.values
        embed = discord.Embed(title=Text("info.title").render(locale), colour=discord.Colour.blurple())
        empty = Text("info.empty").render(locale)
        for name, value in values.items():
            embed.add_field(name=name, value=str(value)[:1000] or empty, inline=name in ("seed", "steps", "cfg"))
        options = " ".join(f"{k}:{v}" for k, v in values.items() if k != "prompt" and isinstance(v, int | float))
        line = f"/imagine prompt:{values.get('prompt', '')} {options} template:{job.request.bound.template}"
        embed.add_field(name=Text("info.again").render(locale), value=f"```{line[:1000]}```", inline=False)
        return embed

    # ---- reactions ---------------------------------------------------------------------------------------

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
        job = await self.store.by_message(payload.message_id)
        if job is None:
            return
        channel = bot.get_partial_messageable(payload.channel_id, guild_id=payload.guild_id)
        roles, admin = self._member_facts(payload.member)
        action = "reroll" if emoji == REROLL else "delete"
        refusal = await self._refusal(job, payload.user_id, roles, admin, action)
        if refusal is None and action == "reroll":
            prompt = str(job.request.bound.values.get("prompt") or "")
            refusal = self._policy(payload.guild_id, payload.channel_id, roles, prompt)
            refusal = refusal or self._cooldown(payload.user_id)
            refusal = refusal or admission_problem(self.engine, self.limits, payload.user_id)
        if refusal is not None:  # no interaction to answer: a short message for that member, in the result's language
            await self._say_to(channel, payload.user_id, refusal.render(job.request.locale))
            return
        if action == "delete":
            await self._cross(job, channel, payload)
        else:
            await self._reroll_from_reaction(job, channel, payload)
        await self._acknowledge(payload, emoji)

    async def _cross(self, job: Job, channel: discord.PartialMessageable, payload: Any) -> None:
        if job.id in self.engine.active:
            await self.engine.cancel(job.id, Text("by.reaction"))
        elif job.state in FINISHED:
            await channel.get_partial_message(payload.message_id).delete()

    async def _reroll_from_reaction(self, job: Job, channel: discord.PartialMessageable, payload: Any) -> None:
        if job.state is not JobState.DELIVERED:
            return
        locale = job.request.locale  # a reaction carries no language: the result's is used
        policy = self.policies.of(payload.guild_id)
        private = self._private(payload.guild_id, payload.user_id)
        asker = Asker(
            payload.user_id, payload.guild_id, payload.channel_id, locale, policy, self._nsfw(payload), private
        )
        note = _note(payload.guild_id, payload.channel_id, payload.message_id)
        try:
            request = self.followups.reroll(job, asker, note)
        except (FollowUpError, TemplateError) as exc:
            await self._say_to(channel, payload.user_id, "⚠️ " + text_of(exc).render(locale))
            return
        new = Job(request)
        assert self.messages.client is not None
        if private:  # no interaction to answer privately: nothing in the channel, the result by direct message
            self.messages.attach_direct(new, self.messages.client, payload.channel_id)
            await self.engine.accept(new, StoredReply(payload.channel_id, None, None))
            return
        rerolling = Text("results.rerolling").render(locale)
        message = await channel.send(
            f"<@{payload.user_id}> 🔄 {rerolling}", allowed_mentions=only_them(payload.user_id)
        )
        self.messages.attach_channel(new, self.messages.client, payload.channel_id, message.id)
        await self.engine.accept(new, StoredReply(payload.channel_id, message.id, None))

    @staticmethod
    async def _say_to(channel: discord.PartialMessageable, user_id: int, text: str) -> None:
        """A short message for one member where there is no interaction to answer (it pings only them)."""
        content = fit_content(f"<@{user_id}> {text}")
        await channel.send(content, delete_after=REFUSAL_SECONDS, allowed_mentions=only_them(user_id))

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

    # ---- per-server policy -------------------------------------------------------------------------------

    @app_commands.command(name="rerolls", description="Who may reroll or vary others' results here (admins)")
    @app_commands.describe(who="owners: only the member who made it, and moderators; everyone: any member")
    @app_commands.choices(
        who=[
            app_commands.Choice(name="owners and moderators", value="owners"),
            app_commands.Choice(name="everyone", value="everyone"),
        ]
    )
    @app_commands.default_permissions(manage_guild=True)
    async def rerolls(self, interaction: discord.Interaction, who: str) -> None:
        _, admin = self._member_facts(interaction.user, interaction.permissions)
        if not admin or interaction.guild_id is None:
            await tell(interaction, "rerolls.admins")
            return
        await self.store.set_guild_setting(interaction.guild_id, "rerolls", who)
        await tell(interaction, "rerolls.everyone" if who == "everyone" else "rerolls.owners")

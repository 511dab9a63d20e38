"""Whether a member may follow up on a result now (who may is `jobs.access`'s, here with the server's "everyone
rerolls" setting); the server's rules; a member's cooldown; whether their new job is private. Shared by the
buttons and the reactions."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager

from discord.ext import commands

from bot.i18n import Text
from bot.jobs.access import Access, Actor
from bot.jobs.engine import JobEngine
from bot.jobs.followups import FollowUps
from bot.jobs.model import Job
from bot.jobs.policy import Policies
from bot.jobs.store import SqliteJobStore
from bot.settings import LimitSettings
from bot.ui.job_messages import JobMessages

from .admission import admitted


def jump_link(guild_id: int | None, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def note_of(guild_id: int | None, channel_id: int, message_id: int | None) -> str | None:
    """What a follow-up's result links back to."""
    return jump_link(guild_id, channel_id, message_id) if message_id is not None else None


class FollowUpRules:
    def __init__(
        self,
        engine: JobEngine,
        store: SqliteJobStore,
        policies: Policies,
        limits: LimitSettings,
        access: Access,
    ) -> None:
        self.engine, self.store, self.policies, self.limits = engine, store, policies, limits
        self.access = access
        self._last: dict[int, float] = {}  # member -> their last follow-up

    def admitted(self, user_id: int) -> AbstractContextManager[Text | None]:
        """The member's caps checked and their place reserved in one step (see admission.admitted)."""
        return admitted(self.engine, self.limits, user_id)

    async def not_yours(self, job: Job, asking: Actor, action: str) -> Text | None:
        guild = job.request.guild_id
        everyone = guild is not None and await self.store.guild_setting(guild, "rerolls") == "everyone"
        if self.access.may_act_on(asking, job, action, everyone_follows_up=everyone):
            return None
        return Text("results.not_yours", action=Text(f"verb.{action}"))

    def policy(self, guild_id: int | None, channel_id: int, roles: frozenset[int], text: str) -> Text | None:
        """The server's rules (channel, roles, banned words) apply to follow-ups as to /imagine."""
        policy = self.policies.of(guild_id)
        return policy.refusal(in_dm=guild_id is None, channel_id=channel_id, roles=roles, text=text)

    def cooldown(self, user_id: int) -> Text | None:
        left = self._last.get(user_id, 0.0) + self.limits.reroll_cooldown - time.monotonic()
        if left > 0:
            return Text("results.cooldown", seconds=f"{left:.0f}")
        self._last[user_id] = time.monotonic()
        return None

    def private(self, guild_id: int | None, user_id: int) -> bool:
        """Whether this member's new job is private: their setting now, where the server allows it."""
        return self.policies.of(guild_id).allow_private and self.store.wants_private(user_id)


class FollowUpCog(commands.Cog):
    """What the cogs that follow up on results (buttons, reactions) work with."""

    def __init__(
        self,
        engine: JobEngine,
        store: SqliteJobStore,
        messages: JobMessages,
        followups: FollowUps,
        rules: FollowUpRules,
    ) -> None:
        self.engine, self.store, self.messages, self.followups, self.rules = engine, store, messages, followups, rules
        self.policies = rules.policies

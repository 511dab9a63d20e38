"""Who may follow up on a result (`jobs.access`, with the server's "everyone rerolls" setting), and what the
cogs that follow up on results (buttons, reactions) work with."""

from __future__ import annotations

from discord.ext import commands

from bot.i18n import Text
from bot.jobs.access import Access, Actor
from bot.jobs.admission import Admission
from bot.jobs.engine import JobEngine
from bot.jobs.model import Job
from bot.jobs.store import JobStore
from bot.ui.job_messages import JobMessages


def jump_link(guild_id: int | None, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def note_of(guild_id: int | None, channel_id: int, message_id: int | None) -> str | None:
    """What a follow-up's result links back to."""
    return jump_link(guild_id, channel_id, message_id) if message_id is not None else None


class FollowUpRules:
    def __init__(self, store: JobStore, access: Access) -> None:
        self.store, self.access = store, access

    async def not_yours(self, job: Job, asking: Actor, action: str) -> Text | None:
        guild = job.request.guild_id
        everyone = guild is not None and await self.store.guild_setting(guild, "rerolls") == "everyone"
        if self.access.may_act_on(asking, job, action, everyone_follows_up=everyone):
            return None
        return Text("results.not_yours", action=Text(f"verb.{action}"))


class FollowUpCog(commands.Cog):
    """What the cogs that follow up on results (buttons, reactions) work with."""

    def __init__(
        self,
        engine: JobEngine,
        store: JobStore,
        messages: JobMessages,
        admission: Admission,
        rules: FollowUpRules,
    ) -> None:
        self.engine, self.store, self.messages, self.admission, self.rules = engine, store, messages, admission, rules

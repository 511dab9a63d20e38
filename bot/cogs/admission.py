"""Whether a member may queue another job now: the same caps for /imagine, buttons and reactions, and whether
the bot may show a result where it was asked for."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import discord

from bot import permissions
from bot.i18n import Joined, Text
from bot.jobs.engine import JobEngine
from bot.settings import LimitSettings


def admission_problem(engine: JobEngine, limits: LimitSettings, user_id: int) -> Text | None:
    """Why a member's new job cannot be queued (over their cap, or the queue is full), or None. Jobs being made
    (reserved by `admitted`) count as queued."""
    mine = engine.jobs_of(user_id)
    count = len(mine) + engine.reservations.of(user_id)
    if count >= limits.jobs_per_user:
        positions = sorted(p for j in mine if (p := engine.position(j)) is not None)
        where = Text("admission.where", positions=", ".join(f"#{p}" for p in positions)) if positions else ""
        return Text("admission.over_cap", count=count, limit=limits.jobs_per_user, where=where)
    if len(engine.scheduler) + engine.reservations.total() >= limits.queue_max:
        return Text("admission.queue_full", limit=limits.queue_max)
    return None


@contextmanager
def admitted(engine: JobEngine, limits: LimitSettings, user_id: int) -> Iterator[Text | None]:
    """Check the caps and, when they allow it, reserve the member's place in the same step (nothing can run in
    between: no await), held until the block ends, by which time the job is accepted (or refused). Yields the
    reason when the caps do not allow it."""
    problem = admission_problem(engine, limits, user_id)
    if problem is not None:
        yield problem
        return
    engine.reservations.add(user_id)
    try:
        yield None
    finally:
        engine.reservations.remove(user_id)


def missing_permissions(interaction: discord.Interaction, *, private: bool) -> Text | None:
    """What the bot lacks in this channel to show a result there (from the interaction's `app_permissions`),
    said before any job runs; a private result needs nothing of the channel."""
    if private or interaction.guild_id is None:
        return None
    lacking = permissions.missing(interaction.app_permissions.value)
    if not lacking:
        return None
    return Text("permission.missing", permissions=Joined([Text(f"permission.{name}") for name in lacking], ", "))

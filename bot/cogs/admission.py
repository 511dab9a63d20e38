"""Whether a member may queue another job now: the same caps for /imagine, buttons and reactions."""

from __future__ import annotations

from bot.i18n import Text
from bot.jobs.engine import JobEngine
from bot.settings import LimitSettings


def admission_problem(engine: JobEngine, limits: LimitSettings, user_id: int) -> Text | None:
    """Why a member's new job cannot be queued (over their cap, or the queue is full), or None."""
    mine = engine.jobs_of(user_id)
    if len(mine) >= limits.jobs_per_user:
        positions = sorted(p for j in mine if (p := engine.position(j)) is not None)
        where = Text("admission.where", positions=", ".join(f"#{p}" for p in positions)) if positions else ""
        return Text("admission.over_cap", count=len(mine), limit=limits.jobs_per_user, where=where)
    if len(engine.scheduler) >= limits.queue_max:
        return Text("admission.queue_full", limit=limits.queue_max)
    return None

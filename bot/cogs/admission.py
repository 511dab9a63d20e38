"""Whether a member may queue another job now: the same caps for /imagine, buttons and reactions."""

from __future__ import annotations

from bot.jobs.engine import JobEngine
from bot.settings import LimitSettings


def admission_problem(engine: JobEngine, limits: LimitSettings, user_id: int) -> str | None:
    """Why a member's new job cannot be queued (over their cap, or the queue is full), or None."""
    mine = engine.jobs_of(user_id)
    if len(mine) >= limits.jobs_per_user:
        positions = sorted(p for j in mine if (p := engine.position(j)) is not None)
        where = f" Yours in the queue are at {', '.join(f'#{p}' for p in positions)}." if positions else ""
        return (
            f"You already have {len(mine)} jobs queued or running (the limit is {limits.jobs_per_user}).{where} "
            "Wait for one to finish, or /cancel one."
        )
    if len(engine.scheduler) >= limits.queue_max:
        return f"The queue is full ({limits.queue_max} jobs); try again in a little while."
    return None

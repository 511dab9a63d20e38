"""Each member's GPU time against their server's budget: used today and this week, and what happens past it.

A server's admins set (with `/config budget`) a daily and/or a weekly budget of GPU time per member, and what
happens past it: **relax** (the member's jobs wait for a GPU nothing else wants: the scheduler's relaxed lane) or
**refuse** (a new job is refused, saying when the budget resets). Used time is the jobs' measured GPU seconds
(`jobs/cost.py`: model loads are the fleet's, not the member's), charged to the UTC day and the week (from Monday
00:00 UTC) the job started in. It is kept in memory, read from the store at start (and by a process that takes
over on PostgreSQL: the store is what every process shares), so the door checks it within Discord's 3 seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.i18n import Text

from .policy import Policy
from .store import JobStore, records

DAY = 86400.0
WEEK = 7 * DAY
MONDAY = 4 * DAY  # the Unix epoch was a Thursday: weeks start 4 days after it


def day_start(now: float) -> float:
    return now // DAY * DAY


def week_start(now: float) -> float:
    return (now - MONDAY) // WEEK * WEEK + MONDAY


@dataclass(frozen=True, slots=True)
class Usage:
    """A member's GPU seconds in the current day and week, and the budgets they are held to (0: none)."""

    today: float
    week: float
    daily: float
    weekly: float
    over_budget: str  # relax or refuse

    @property
    def over(self) -> bool:
        return bool(self.daily and self.today >= self.daily) or bool(self.weekly and self.week >= self.weekly)

    def resets(self, now: float) -> float:
        """When the member is under budget again (the later of the exceeded budgets' resets)."""
        weekly = self.weekly and self.week >= self.weekly
        return week_start(now) + WEEK if weekly else day_start(now) + DAY


class Budgets:
    def __init__(
        self, policy_of: Callable[[int | None], Policy] | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._policy_of = policy_of or (lambda guild: Policy())
        self.clock = clock  # (a test moves it a day on)
        self._used: dict[tuple[int, int], list[float]] = {}  # (guild, member) -> [day, seconds, week, seconds]
        self._period = day_start(clock())

    async def load(self, store: JobStore) -> None:
        """What every member used this week and today, from the store (whichever process ran their jobs)."""
        now = self.clock()
        today, week = day_start(now), week_start(now)
        self._used = {
            key: [today, 0.0, week, seconds] for key, seconds in (await records.usage_since(store, week)).items()
        }
        for key, seconds in (await records.usage_since(store, today)).items():
            self._used.setdefault(key, [today, 0.0, week, 0.0])[1] = seconds

    def used(self, guild_id: int | None, user_id: int, seconds: float, started: float | None = None) -> bool:
        """A job of the member's measured `seconds` (charged to the day it started); whether they are now past
        their budget where they were not."""
        if guild_id is None:
            return False
        before = self.usage(guild_id, user_id).over
        at = started if started is not None else self.clock()
        entry = self._entry(guild_id, user_id)
        if day_start(at) == entry[0]:
            entry[1] += seconds
        if week_start(at) == entry[2]:
            entry[3] += seconds
        return not before and self.usage(guild_id, user_id).over

    def _entry(self, guild_id: int, user_id: int) -> list[float]:
        now = self.clock()
        today, week = day_start(now), week_start(now)
        entry = self._used.setdefault((guild_id, user_id), [today, 0.0, week, 0.0])
        if entry[0] != today:
            entry[0:2] = [today, 0.0]
        if entry[2] != week:
            entry[2:4] = [week, 0.0]
        return entry

    def usage(self, guild_id: int | None, user_id: int) -> Usage:
        policy = self._policy_of(guild_id)
        if guild_id is None:
            return Usage(0.0, 0.0, 0.0, 0.0, policy.over_budget)
        entry = self._entry(guild_id, user_id)
        return Usage(entry[1], entry[3], policy.daily_budget, policy.weekly_budget, policy.over_budget)

    def tier(self, guild_id: int | None, roles: Iterable[int]) -> tuple[float, int | None]:
        """A member's weight in their server's turns, and the role that gives it (`Policy.tier`)."""
        return self._policy_of(guild_id).tier(roles)

    def members(self, guild_id: int) -> list[tuple[int, Usage]]:
        """The server's members who used GPU time this week, most first."""
        found = [(user, self.usage(guild, user)) for guild, user in list(self._used) if guild == guild_id]
        return sorted(((u, usage) for u, usage in found if usage.week > 0), key=lambda item: -item[1].week)

    def _past(self, guild_id: int | None, user_id: int, mode: str) -> Usage | None:
        """The member's use, when their server has a budget, does `mode` past it, and they are past it. A server
        without a budget is answered from its policy alone (every queued job asks)."""
        policy = self._policy_of(guild_id)
        if guild_id is None or policy.over_budget != mode or not (policy.daily_budget or policy.weekly_budget):
            return None
        usage = self.usage(guild_id, user_id)
        return usage if usage.over else None

    def relaxed(self, guild_id: int | None, user_id: int) -> bool:
        """Whether the member's jobs wait for idle GPUs (past their budget, where the server relaxes)."""
        return self._past(guild_id, user_id, "relax") is not None

    def refusal(self, guild_id: int | None, user_id: int) -> Text | None:
        """Why a new job of the member's is refused (past their budget, where the server refuses), or None."""
        usage = self._past(guild_id, user_id, "refuse")
        if usage is None:
            return None
        return Text("budget.refused", resets=f"<t:{int(usage.resets(self.clock()))}:R>")

    def new_period(self) -> bool:
        """Whether a new day (and with it, maybe, a week) began since last asked: every budget may have reset."""
        today = day_start(self.clock())
        if today == self._period:
            return False
        self._period = today
        return True

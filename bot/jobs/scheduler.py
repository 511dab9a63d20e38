"""Fair order: the least recently served guild first, within it the least recently served member, each
member's jobs in the order they asked. One member's batch of 20 does not hold up everyone else."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TypeVar

from .model import Job

T = TypeVar("T")


class FairScheduler:
    def __init__(self) -> None:
        self._jobs: dict[tuple[int, int], deque[Job]] = {}  # (guild, user) -> their queued jobs, oldest first
        self._served_guild: dict[int, int] = {}
        self._served_user: dict[tuple[int, int], int] = {}
        self._tick = 0

    @staticmethod
    def _key(job: Job) -> tuple[int, int]:
        return job.request.guild_id or 0, job.user_id

    def __len__(self) -> int:
        return sum(len(jobs) for jobs in self._jobs.values())

    def push(self, job: Job, *, front: bool = False) -> None:
        """Queue a job; `front` puts it first among its member's (a job that must be retried)."""
        jobs = self._jobs.setdefault(self._key(job), deque())
        if front:
            jobs.appendleft(job)
        else:
            jobs.append(job)

    def remove(self, job_id: str) -> Job | None:
        for key, jobs in self._jobs.items():
            for job in jobs:
                if job.id == job_id:
                    jobs.remove(job)
                    if not jobs:
                        del self._jobs[key]
                    return job
        return None

    def jobs_of(self, user_id: int) -> list[Job]:
        return [job for (_, user), jobs in self._jobs.items() if user == user_id for job in jobs]

    def _candidates(self) -> list[tuple[int, int]]:
        """Members with queued jobs, in the order they are owed a turn."""

        def owed(key: tuple[int, int]) -> tuple[int, int, int]:
            guild = key[0]
            oldest = self._jobs[key][0].seq
            return self._served_guild.get(guild, 0), self._served_user.get(key, 0), oldest

        return sorted(self._jobs, key=owed)

    def pop(self, place: Callable[[Job], T | None]) -> tuple[Job, T] | None:
        """The next job by fairness that `place` finds a place for (a backend that can run it now, its member
        under the running cap), with that place; or None."""
        for key in self._candidates():
            job = self._jobs[key][0]
            found = place(job)
            if found is None:
                continue
            self._jobs[key].popleft()
            if not self._jobs[key]:
                del self._jobs[key]
            self._tick += 1
            self._served_guild[key[0]] = self._tick
            self._served_user[key] = self._tick
            return job, found
        return None

    def ordered(self) -> list[Job]:
        """Every queued job in the order it would be dispatched, for queue positions."""
        copy = FairScheduler()
        copy._jobs = {key: deque(jobs) for key, jobs in self._jobs.items()}
        copy._served_guild = dict(self._served_guild)
        copy._served_user = dict(self._served_user)
        copy._tick = self._tick
        order = []
        while (popped := copy.pop(lambda job: True)) is not None:
            order.append(popped[0])
        return order

"""Every unfinished job, by id and by member: what a member has open is read on every request they make, so it
costs their own jobs, not the whole bot's."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

from .model import Job


class ActiveJobs(MutableMapping[str, Job]):
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._by_user: dict[int, dict[str, Job]] = {}

    def __getitem__(self, job_id: str) -> Job:
        return self._jobs[job_id]

    def __setitem__(self, job_id: str, job: Job) -> None:
        self.pop(job_id, None)
        self._jobs[job_id] = job
        self._by_user.setdefault(job.user_id, {})[job_id] = job

    def __delitem__(self, job_id: str) -> None:
        job = self._jobs.pop(job_id)
        mine = self._by_user[job.user_id]
        del mine[job_id]
        if not mine:
            del self._by_user[job.user_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._jobs)

    def __len__(self) -> int:
        return len(self._jobs)

    def of(self, user_id: int) -> list[Job]:
        return list(self._by_user.get(user_id, {}).values())

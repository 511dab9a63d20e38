"""The engine's port to the presentation: what it tells about a job, and what it expects back."""

from __future__ import annotations

from typing import Protocol

from .events import JobEvent
from .model import Job
from .store import StoredReply


class JobListener(Protocol):
    def job_changed(self, job: Job, event: JobEvent) -> None:
        """An intermediate state (position, progress): shown when the edit budget allows."""

    async def job_finished(self, job: Job, event: JobEvent) -> None:
        """The final state (results, failure, cancel): returns once it is shown; raises if it could not be."""

    def restore(self, job: Job, reply: StoredReply) -> None:
        """A job taken up again after a restart: where its message is."""

"""What queued members are told of their place, in work that does not grow with the queue: a newly queued job
its place (or why it waits, when no backend can run it); when what the fleet can run changed, every queued job
whether it waits; and when any place moved, the presentation once (it reads the places it shows,
`position()`, when its edit budget lets it show them)."""

from __future__ import annotations

from collections.abc import Iterable

from bot.i18n import Text

from .events import Queued, WaitingForBackend, waiting_reason
from .model import Job
from .ports import Fleet, JobListener
from .scheduler import FairScheduler


class QueuePlaces:
    def __init__(self, scheduler: FairScheduler, pool: Fleet, listener: JobListener) -> None:
        self.scheduler, self.pool, self.listener = scheduler, pool, listener
        self._fresh: list[Job] = []  # queued since the last announcement: to be told their place once
        self._waiting: dict[str, Text] = {}  # queued jobs no backend can run now, and why
        self._told_version = -1  # the scheduler's version places were last announced at
        self._fleet_condition: object = None

    def queued(self, job: Job) -> None:
        self._fresh.append(job)

    def left(self, job_id: str) -> None:
        """The job left the queue (dispatched, cancelled, ended)."""
        self._waiting.pop(job_id, None)

    def position(self, job: Job) -> int | None:
        """Its place in the fair queue (1 = next), counted now; None once it left the queue, or while no
        backend can run it."""
        return None if job.id in self._waiting else self.scheduler.position(job.id)

    def place(self, job: Job) -> tuple[int, float] | None:
        """Its place and the expected GPU-seconds of the jobs ahead of it; None as for `position`."""
        return None if job.id in self._waiting else self.scheduler.place(job.id)

    def announce(self, active: Iterable[Job]) -> None:
        condition = self.pool.condition()
        fresh = {job.id for job in self._fresh}
        if condition != self._fleet_condition:
            self._fleet_condition = condition
            for job in active:
                if job.id in self.scheduler:
                    self._tell(job, new=job.id in fresh)
        else:
            for job in self._fresh:
                if job.id in self.scheduler:
                    self._tell(job, new=True)
        self._fresh.clear()
        if self.scheduler.version != self._told_version:
            self._told_version = self.scheduler.version
            self.listener.queue_moved(self)

    def _tell(self, job: Job, *, new: bool) -> None:
        graph = job.request.bound.graph
        if not self.pool.able(graph):
            reason = waiting_reason(self.pool.why_not(graph))
            if self._waiting.get(job.id) != reason:
                self._waiting[job.id] = reason
                self.listener.job_changed(job, WaitingForBackend(reason))
        elif self._waiting.pop(job.id, None) is not None or new:
            self.listener.job_changed(job, Queued(self.scheduler.position(job.id) or 1))

"""How a job ends, for the engine: failed and cancelled are written, then told; delivered is written once the
result is shown; an end the database refuses is told anyway and written later (late_writes.py); a job past
its deadline, or one the database cannot keep, is taken off its server first. The member always hears of it."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.comfy.errors import ComfyError
from bot.i18n import Text

from .active import ActiveJobs
from .events import Failed, JobEvent
from .late_writes import LateWrites
from .model import Job, JobState
from .places import QueuePlaces
from .ports import Backend, JobListener
from .store import JobStore, StoreError

log = logging.getLogger("bot.jobs.engine")


def on_a_backend(job: Job) -> bool:
    """Submitted and not ended: dispatched (waiting in ComfyUI's queue) or running. A function, not an inline
    test, because the state changes across awaits and a checker would narrow it once for the whole method."""
    return job.state in (JobState.DISPATCHED, JobState.RUNNING)


class JobEndings:
    """The engine's endings: the engine owns one and calls it; `left` tells the engine a job is no longer
    active (its dispatcher wakes, `wait_idle` returns once none is)."""

    def __init__(
        self,
        listener: JobListener,
        store: JobStore,
        late_writes: LateWrites,
        active: ActiveJobs,
        places: QueuePlaces,
        *,
        deadline: float,
        left: Callable[[], None],
    ) -> None:
        self.listener, self.store, self.late_writes, self.active, self.places = (
            listener,
            store,
            late_writes,
            active,
            places,
        )
        self.deadline, self._left = deadline, left

    async def past_deadline(self, job: Job, backend: Backend) -> None:
        log.warning("job %s: past its deadline of %.0f s; stopped", job.id, self.deadline, extra=job.log_context())
        if job.prompt_id and on_a_backend(job):
            try:
                await backend.cancel(job.prompt_id)
            except ComfyError as error:
                log.warning("job %s: its prompt could not be stopped on %s: %s", job.id, backend.name, error)
        if job.finished is None:
            limit = f"{self.deadline / 60:.0f} min" if self.deadline >= 120 else f"{self.deadline:.0f} s"
            await self.finish(job, JobState.FAILED, Failed(Text("failed.deadline", limit=limit)))

    async def unsaveable(self, job: Job, exc: StoreError, backend: Backend | None = None) -> None:
        """The database refused a step of a job that has not ended: a job the bot cannot keep is not run on
        (a restart could not take it up); its prompt is taken off the backend and the member told."""
        log.error("job %s: %s; it is stopped", job.id, exc, extra=job.log_context())
        if backend is not None and job.prompt_id and job.state in (JobState.DISPATCHED, JobState.RUNNING):
            try:  # that prompt only; a GPU must not go on with work nobody will see
                await backend.cancel(job.prompt_id)
            except ComfyError as error:
                log.warning("job %s: its prompt could not be stopped on %s: %s", job.id, backend.name, error)
        if job.finished is None:
            await self.finish(job, JobState.FAILED, Failed(Text("failed.store")))

    async def _record(self, job: Job, state: JobState, *, stored: bool = True) -> None:
        """An end is final: the member is told even when the database refuses it, and it is written later."""
        job.move(state)
        log.info("job %s is %s", job.id, state.value, extra=job.log_context())
        if not stored:
            return
        try:
            await self.store.save(job)
        except StoreError as exc:
            log.error("job %s: its end is written later: %s", job.id, exc)
            self.late_writes.add(job)

    async def finish(self, job: Job, state: JobState, event: JobEvent, *, stored: bool = True) -> None:
        """Failed and cancelled are written first, then told; delivered is written once the result is shown
        (delivering was written before it started, so a restart shows it again rather than never)."""
        if isinstance(event, Failed):
            job.error = event.message.render()
        if state is not JobState.DELIVERED:
            await self._record(job, state, stored=stored)
        try:
            await self.listener.job_finished(job, event)
        except Exception as exc:
            log.warning("job %s: the final message could not be shown: %s", job.id, exc)
            if state is JobState.DELIVERED:
                job.error = f"the result could not be shown: {exc}"
                state = JobState.FAILED
        if state in (JobState.DELIVERED, JobState.FAILED) and job.state is JobState.DELIVERING:
            await self._record(job, state)
        self.active.pop(job.id, None)
        self.places.left(job.id)
        self._left()

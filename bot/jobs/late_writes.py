"""Final states the database refused (locked past its busy timeout, a full disk): the member has already been
told; the state is written as soon as the database takes it again, tried every few seconds and once more at
shutdown, so a restart does not take up a job that has ended."""

from __future__ import annotations

import asyncio
import logging

from .model import Job
from .store import JobStore, StoreError

log = logging.getLogger(__name__)


class LateWrites:
    def __init__(self, store: JobStore, *, interval: float = 5.0) -> None:
        self.store = store
        self.interval = interval
        self._jobs: dict[str, Job] = {}
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._jobs)

    def add(self, job: Job) -> None:
        self._jobs[job.id] = job
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._retry_forever(), name="late-writes")

    async def flush(self) -> bool:
        """Write what waits, oldest first; False when the database still refuses."""
        for job_id, job in list(self._jobs.items()):
            try:
                await self.store.save(job)
            except StoreError as exc:
                log.warning("%d job end(s) still not written: %s", len(self._jobs), exc)
                return False
            del self._jobs[job_id]
            log.info("job %s: its end (%s) is written now", job_id, job.state.value)
        return True

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._jobs and not await self.flush():
            log.error("%d job end(s) could not be written before shutdown", len(self._jobs))

    async def _retry_forever(self) -> None:
        while self._jobs:
            await asyncio.sleep(self.interval)
            await self.flush()

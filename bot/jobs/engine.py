"""The engine: accept jobs, queue them, dispatch to a backend that has room, follow them, deliver.

Each backend holds its running prompt plus at most one waiting in ComfyUI's own queue, so the GPU never idles
between jobs while the queue (and later fairness and cancel) stays here. A backend that cannot be reached
puts the job back at the head of the queue; members see "waiting for a backend" until one answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Protocol

from bot.comfy.backend import ComfyBackend
from bot.comfy.errors import ComfyError, ComfyUnavailable, PromptRejected
from bot.comfy.events import Executing, ExecutionStart, PreviewImage, Progress
from bot.comfy.run import RunFailed, RunInterrupted, RunLost, RunSucceeded

from .events import Cancelled, Delivered, Failed, JobEvent, Queued, ResultImage, Running, WaitingForBackend
from .model import Job, JobRequest, JobState

log = logging.getLogger(__name__)
MAX_RESULT_BYTES = 64 * 2**20


class JobListener(Protocol):
    def job_changed(self, job: Job, event: JobEvent) -> None:
        """An intermediate state (position, progress): shown when the edit budget allows."""

    async def job_finished(self, job: Job, event: JobEvent) -> None:
        """The final state (results, failure, cancel): returns once it is shown; raises if it could not be."""


def rejection_message(exc: PromptRejected) -> str:
    nodes = "; ".join(node.summary() for node in exc.node_errors.values())
    return f"ComfyUI refused the workflow: {nodes or exc.error.message}. An admin should check this template."


class JobEngine:
    def __init__(
        self,
        backends: Sequence[ComfyBackend],
        listener: JobListener,
        *,
        per_backend: int = 2,
        retry_delay: float = 2.0,
    ) -> None:
        self.backends = list(backends)
        self.listener = listener
        self.per_backend = per_backend
        self.retry_delay = retry_delay
        self.jobs: dict[str, Job] = {}
        self._queue: deque[Job] = deque()
        self._in_flight: dict[str, int] = {b.name: 0 for b in self.backends}
        self._resting: dict[str, float] = {}  # backend -> until when it is not tried
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._dispatcher: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._dispatcher is None:
            self._dispatcher = asyncio.create_task(self._dispatch_forever(), name="job-dispatcher")

    async def close(self) -> None:
        tasks = [t for t in (self._dispatcher, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def create(self, request: JobRequest) -> Job:
        """A new job, not yet queued (so the caller can attach its message first)."""
        job = Job(request)
        self.jobs[job.id] = job
        return job

    def enqueue(self, job: Job) -> None:
        self._queue.append(job)
        self._announce_positions()
        self._wake.set()

    def submit(self, request: JobRequest) -> Job:
        job = self.create(request)
        self.enqueue(job)
        return job

    def queued(self) -> list[Job]:
        return list(self._queue)

    def active_jobs_of(self, user_id: int) -> int:
        return sum(1 for job in self.jobs.values() if job.user_id == user_id and job.finished is None)

    # ---- dispatch --------------------------------------------------------------------------------------

    def _announce_positions(self) -> None:
        for position, job in enumerate(self._queue, start=1):
            self.listener.job_changed(job, Queued(position))

    def _free_backend(self) -> ComfyBackend | None:
        now = time.monotonic()
        usable = [
            b
            for b in self.backends
            if b.stream.connected and self._resting.get(b.name, 0) <= now and self._in_flight[b.name] < self.per_backend
        ]
        return min(usable, key=lambda b: self._in_flight[b.name], default=None)

    async def _dispatch_forever(self) -> None:
        waiting_shown = False
        while True:
            while self._queue and (backend := self._free_backend()) is not None:
                job = self._queue.popleft()
                self._in_flight[backend.name] += 1
                task = asyncio.create_task(self._run(job, backend))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                self._announce_positions()
                waiting_shown = False
            if self._queue and not any(b.stream.connected for b in self.backends) and not waiting_shown:
                for job in self._queue:
                    self.listener.job_changed(job, WaitingForBackend("no ComfyUI server is reachable right now"))
                waiting_shown = True
            self._wake.clear()
            try:  # also wake now and then: a backend may have come back
                async with asyncio.timeout(1.0 if self._queue else None):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _requeue(self, job: Job, backend: ComfyBackend, reason: str) -> None:
        job.move(JobState.QUEUED)
        self._queue.appendleft(job)
        self._resting[backend.name] = time.monotonic() + self.retry_delay
        self.listener.job_changed(job, WaitingForBackend(reason))

    async def _run(self, job: Job, backend: ComfyBackend) -> None:
        try:
            await self._follow(job, backend)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never lose a job to a bug: tell the member
            log.exception("job %s failed unexpectedly", job.id)
            if job.finished is None:
                await self._finish(
                    job, JobState.FAILED, Failed(f"Something went wrong on our side ({type(exc).__name__}).")
                )
        finally:
            self._in_flight[backend.name] -= 1
            self._wake.set()

    async def _follow(self, job: Job, backend: ComfyBackend) -> None:
        job.move(JobState.DISPATCHED)
        job.backend, job.attempts = backend.name, job.attempts + 1
        try:
            bound = job.request.bound
            graph = await bound.upload_images(backend.client, job.id) if bound.images else bound.graph
            run = await backend.submit(graph, prompt_id=f"{job.id}-{job.attempts}")
        except PromptRejected as exc:
            await self._finish(job, JobState.FAILED, Failed(rejection_message(exc)))
            return
        except ComfyUnavailable as exc:
            log.warning("job %s: %s unavailable: %s", job.id, backend.name, exc)
            self._requeue(job, backend, f"{backend.name} is not answering; your job will run when a server is back")
            return
        except ComfyError as exc:
            await self._finish(job, JobState.FAILED, Failed(f"ComfyUI could not take the job: {exc}"))
            return
        job.prompt_id = run.prompt_id
        node, preview = None, None
        async for item in run:
            if isinstance(item, ExecutionStart | Progress) and job.state is JobState.DISPATCHED:
                job.move(JobState.RUNNING)
            if isinstance(item, Executing) and item.node is not None:
                node = bound.graph.get(item.node, {}).get("class_type", item.node)
            elif isinstance(item, PreviewImage):
                preview = item
            elif isinstance(item, Progress):
                elapsed = time.monotonic() - (job.started or time.monotonic())
                self.listener.job_changed(
                    job,
                    Running(
                        item.value,
                        item.max,
                        node,
                        elapsed,
                        preview.image if preview else None,
                        preview.mime if preview else "image/jpeg",
                    ),
                )
            elif isinstance(item, RunSucceeded):
                await self._deliver(job, backend, item)
            elif isinstance(item, RunFailed):
                await self._finish(job, JobState.FAILED, Failed(f"The workflow failed in {item.message}."))
            elif isinstance(item, RunInterrupted):
                await self._finish(job, JobState.CANCELLED, Cancelled("an interrupt on the server"))
            elif isinstance(item, RunLost):
                if job.attempts < 2:
                    self._requeue(job, backend, "the server lost the job (it restarted?); trying again")
                else:
                    await self._finish(job, JobState.FAILED, Failed(f"The job was lost twice: {item.reason}."))

    async def _deliver(self, job: Job, backend: ComfyBackend, outcome: RunSucceeded) -> None:
        job.move(JobState.DELIVERING)
        refs = outcome.results(job.request.bound.output_nodes)
        try:
            images = tuple(
                [ResultImage(ref.filename, await backend.client.view(ref, max_bytes=MAX_RESULT_BYTES)) for ref in refs]
            )
        except ComfyError as exc:
            await self._finish(job, JobState.FAILED, Failed(f"The images could not be fetched from ComfyUI: {exc}"))
            return
        if not images:
            await self._finish(job, JobState.FAILED, Failed("The workflow finished without saving an image."))
            return
        seconds = time.monotonic() - (job.started or job.created)
        await self._finish(job, JobState.DELIVERED, Delivered(images, seconds, backend.name))

    async def _finish(self, job: Job, state: JobState, event: JobEvent) -> None:
        if state is JobState.FAILED and isinstance(event, Failed):
            job.error = event.message
        try:
            await self.listener.job_finished(job, event)
        except Exception as exc:
            log.warning("job %s: the final message could not be shown: %s", job.id, exc)
            job.move(JobState.FAILED if state is JobState.DELIVERED else state)
            job.error = job.error or f"could not be shown: {exc}"
            return
        job.move(state)

"""The engine: accept jobs, keep them in SQLite, queue them fairly, dispatch, follow, deliver, recover.

Each backend holds its running prompt plus at most one waiting in ComfyUI's own queue (`per_backend` = 2), so
the GPU never idles between jobs while the queue, fairness and cancel stay here. Every transition is written to
the store before anyone is told of it. At start-up every unfinished job is taken up again: queued ones keep
their order, dispatched and running ones are followed again on their backend (ComfyUI reconciles them with
/history and /queue), lost ones are queued once more and then failed with a message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from bot.comfy.errors import ComfyError, ComfyUnavailable, PromptRejected
from bot.comfy.events import ExecutionStart, Progress
from bot.comfy.run import PromptRun, RunFailed, RunInterrupted, RunLost, RunSucceeded
from bot.i18n import Text

from .active import ActiveJobs
from .budgets import Budgets
from .cost import CostEstimates, CostMeter
from .delivery import Stopped, fetch_results, within
from .endings import JobEndings, on_a_backend
from .events import (
    Cancelled,
    Delivered,
    Failed,
    Starting,
    WaitingForBackend,
    rejection_message,
)
from .late_writes import LateWrites
from .model import Job, JobState
from .places import QueuePlaces
from .ports import Backend, Fence, Fleet, JobListener, Unfenced
from .progress import ProgressTracker
from .reservations import Reservations
from .scheduler import FairScheduler
from .store import JobStore, StoredReply, StoreError, records

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 2


class JobEngine:
    def __init__(
        self,
        pool: Fleet,
        store: JobStore,
        listener: JobListener,
        *,
        per_backend: int = 2,
        running_per_user: int = 2,
        max_file_bytes: int = 64 * 2**20,
        max_job_bytes: int = 256 * 2**20,
        deadline: float = 30 * 60,
        delivery_timeout: float = 300.0,
        guild_shares: Mapping[int, float] | None = None,
        budgets: Budgets | None = None,
        fair_by_gpu_time: bool = True,
    ) -> None:
        self.pool = pool
        self.store = store
        self.listener = listener
        self.per_backend = per_backend
        self.running_per_user = running_per_user
        # Bounds against a server that sends too much or never finishes: per result file, per job, and the
        # time from dispatch to the end (the job is then stopped on its server and failed with a message).
        self.max_file_bytes, self.max_job_bytes, self.deadline = max_file_bytes, max_job_bytes, deadline
        self.delivery_timeout = delivery_timeout  # fetching a job's results: a server streaming forever is given up
        self.costs = CostEstimates()  # each template's expected GPU seconds per server, from the jobs measured
        shares = dict(guild_shares or {})  # the operator's: each server's share of the fleet (1 unless set)
        self.fair_by_gpu_time = fair_by_gpu_time  # false: a turn per job, whatever it costs (as before)
        self.scheduler = FairScheduler(cost=self._estimate, share=lambda g: shares.get(g, 1.0))
        self.budgets = budgets or Budgets()  # each member's GPU time today and this week, against their server's
        self.active = ActiveJobs()  # every unfinished job
        self.reservations = Reservations()  # jobs being made: checked, not yet accepted
        self.late_writes = LateWrites(store)  # ends the database refused, written when it takes them
        # not fresh while this process cannot prove it holds the dispatcher lease (PostgreSQL): nothing new then
        # goes to ComfyUI, and no result to Discord, until it is proven again, or the process stops
        self.fence: Fence = Unfenced()
        self._runs: dict[str, PromptRun] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancelled_by: dict[str, Text] = {}
        self._fetching: dict[str, asyncio.Event] = {}  # jobs whose results are being fetched -> set to stop it
        self.places = QueuePlaces(self.scheduler, pool, listener)
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._user_in_flight: dict[int, int] = {}  # counted when dispatched, not when the task gets to run
        self._holding: set[str] = set()  # jobs holding a place on a backend: from dispatch to ComfyUI's outcome
        self._idle = asyncio.Event()
        self.endings = JobEndings(
            listener, store, self.late_writes, self.active, self.places, deadline=deadline, left=self._job_left
        )
        pool.on_down = self._backend_down
        pool.on_up = lambda backend: self._wake.set()

    # ---- lifecycle -------------------------------------------------------------------------------------

    def _estimate(self, job: Job) -> float:
        """A queued job's expected GPU seconds: its template's, as measured (1 each where turns count jobs)."""
        bound = job.request.bound
        return self.costs.estimate(bound.template, expected=bound.expected_seconds) if self.fair_by_gpu_time else 1.0

    def _job_left(self) -> None:
        if not self.active:
            self._idle.set()
        self._wake.set()

    async def start(self) -> None:
        await self._recover()
        self._dispatcher = asyncio.create_task(self._dispatch_forever(), name="job-dispatcher")

    async def close(self) -> None:
        tasks = [t for t in (self._dispatcher, *self._tasks.values(), *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.late_writes.close()

    async def _recover(self) -> None:
        self.costs.seed(await records.costs(self.store))  # what the jobs measured before this start cost
        await self.budgets.load(self.store)  # what each member used today and this week, whichever process ran it
        for job, reply in await self.store.unfinished():
            self.active[job.id] = job
            self.listener.restore(job, reply)
            backend = self.pool.get(job.backend) if job.backend else None
            if job.state is JobState.QUEUED:
                self._queue(job)
            elif backend is not None and job.prompt_id is not None:
                log.info("job %s: following %s on %s again", job.id, job.prompt_id, backend.name)
                self._start(job, backend, backend.follow(job.prompt_id))
            else:
                await self._requeue(job, Text("requeue.unconfigured"))
        self._wake.set()

    # ---- accepting and asking --------------------------------------------------------------------------

    async def wait_idle(self) -> None:
        """Until no job is open (for an orderly shutdown, and tests)."""
        if self.active:
            self._idle.clear()
            await self._idle.wait()

    async def accept(self, job: Job, reply: StoredReply) -> None:
        """Store the job and queue it; a database that refuses it ends it at once, the member told why."""
        try:
            await self.store.add(job, reply)
        except StoreError as exc:
            log.error("job %s could not be stored: %s", job.id, exc, extra=job.log_context())
            await self.endings.finish(job, JobState.FAILED, Failed(Text("failed.store")), stored=False)
            return
        if self.late_writes:  # the database takes writes again: what it refused before goes in now
            await self.late_writes.flush()
        self.active[job.id] = job
        self._queue(job)

    def jobs_of(self, user_id: int) -> list[Job]:
        return self.active.of(user_id)

    def position(self, job: Job) -> int | None:
        return self.places.position(job)

    def place(self, job: Job) -> tuple[int, float] | None:
        """Its place in the queue (1 = next) and the GPU-seconds expected of the jobs ahead of it."""
        return self.places.place(job)

    async def cancel(self, job_id: str, by: Text) -> Text:
        """Cancel a job: a queued one leaves the queue, one waiting in ComfyUI is deleted from its queue, a
        running one is interrupted on its backend for that prompt only. Returns what happened, for a person."""
        job = self.active.get(job_id)
        if job is None:
            return Text("cancel.ended")
        if job.state is JobState.QUEUED:
            self._unqueue(job)
            await self.endings.finish(job, JobState.CANCELLED, Cancelled(by))
            return Text("cancel.not_started")
        if job.id in self._fetching:  # its results are being fetched: stop that, the member asked
            self._cancelled_by[job.id] = by
            self._fetching[job.id].set()
            return Text("cancel.delivery_stopped")
        if on_a_backend(job) and job.backend and job.prompt_id:
            backend = self.pool.get(job.backend)
            if backend is None:
                return Text("cancel.server_gone")
            self._cancelled_by[job.id] = by
            try:
                if await backend.cancel(job.prompt_id):
                    return Text("cancel.stopping")  # interrupted: its run ends, and with it the job
            except ComfyError as exc:
                return Text("cancel.no_answer", error=str(exc))
            if not on_a_backend(job):  # it finished while ComfyUI was asked (the awaits above let it)
                return Text("cancel.too_late") if job.finished is None else Text("cancel.ended")
            self._stop_following(job)  # deleted from ComfyUI's queue: no event will ever come for it
            await self.endings.finish(job, JobState.CANCELLED, Cancelled(by))
            return Text("cancel.not_started")
        return Text("cancel.too_late")

    async def clear_queue(self, by: Text, guild_id: int | None) -> int:
        """Cancel every job of one server that has not started (its admins), or of every server (None: the
        bot's operators)."""
        queued = [j for j in self.scheduler.ordered() if guild_id is None or j.request.guild_id == guild_id]
        for job in queued:
            self._unqueue(job)
            await self.endings.finish(job, JobState.CANCELLED, Cancelled(by))
        return len(queued)

    # ---- dispatch --------------------------------------------------------------------------------------

    def _queue(self, job: Job, *, front: bool = False) -> None:
        self.scheduler.push(job, front=front, relaxed=self.budgets.relaxed(job.request.guild_id, job.user_id))
        self.places.queued(job)
        self._wake.set()

    def _unqueue(self, job: Job) -> None:
        self.scheduler.remove(job.id)
        self.places.left(job.id)

    def _next(self) -> tuple[Job, Backend] | None:
        """The next job by fairness that can run now, and where: a backend with room that has what it needs,
        its member under the cap.

        Past a job that is next by fairness but whose member is at their running cap, a job goes only to a
        backend with nothing to do, never into ComfyUI's next place behind a running prompt: else on one
        backend the member at the cap would wait behind every other member's job, and two members would take
        turns by jobs whatever their jobs cost. A relaxed job (its member past their budget) likewise goes only
        to an idle backend, so a member under budget waits for at most the one job it runs."""
        held_back = False  # a job ahead in this pop waits for its member's running cap

        def place(job: Job, relaxed: bool) -> Backend | None:
            nonlocal held_back
            if self._user_in_flight.get(job.user_id, 0) >= self.running_per_user:
                held_back = True
                return None
            idle_only = relaxed or held_back
            return self.pool.choose(job.request.bound.graph, 1 if idle_only else self.per_backend)

        return self.scheduler.pop(place)

    def rebudget(self) -> None:
        """Budgets or their days changed: each queued member's jobs go to the lane their use now says."""
        for relaxed in (False, True):
            for guild_id, user_id in self.scheduler.members(relaxed=relaxed):
                if self.budgets.relaxed(guild_id or None, user_id) != relaxed:
                    self.scheduler.move((guild_id, user_id), relaxed=not relaxed)
        self._wake.set()

    async def _dispatch_forever(self) -> None:
        while True:
            if self.budgets.new_period():
                self.rebudget()
            # while some backend has room (else no job could be placed: none is tried)
            while self.fence.fresh() and self.pool.room(self.per_backend) and (placed := self._next()) is not None:
                job, backend = placed
                self.places.left(job.id)
                self._start(job, backend, None)
            self.places.announce(self.active.values())
            self._wake.clear()
            try:  # also wake now and then: a backend may have come back
                async with asyncio.timeout(1.0 if len(self.scheduler) else None):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _free(self, job: Job, backend: Backend) -> None:
        """The job no longer holds a place on its backend (nor against its member's running cap); once."""
        if job.id in self._holding:
            self._holding.discard(job.id)
            # its measured cost replaces its estimate in its member's and server's turns
            self.scheduler.settle(job, job.gpu_seconds if self.fair_by_gpu_time else None)
            self.pool.release(backend.name)
            self._user_in_flight[job.user_id] -= 1
            self._wake.set()

    def _start(self, job: Job, backend: Backend, run: PromptRun | None) -> None:
        self._holding.add(job.id)
        self.pool.take(backend.name, job.request.bound.graph)  # counted by the pool at once: the next choice sees it
        self._user_in_flight[job.user_id] = self._user_in_flight.get(job.user_id, 0) + 1
        task = asyncio.create_task(self._run(job, backend, run), name=f"job {job.id}")
        self._tasks[job.id] = task

    def _stop_following(self, job: Job) -> None:
        run = self._runs.pop(job.id, None)
        if run is not None:
            run.discard()
        task = self._tasks.get(job.id)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def _backend_down(self, backend: Backend) -> None:
        """Its jobs are queued again (to go elsewhere); a prompt ComfyUI still runs there is abandoned."""
        stranded = [
            job
            for job in self.active.values()
            if job.backend == backend.name and job.state in (JobState.DISPATCHED, JobState.RUNNING)
        ]
        for job in stranded:
            self._stop_following(job)
            task = asyncio.create_task(self._requeue(job, Text("requeue.backend_down", backend=backend.name)))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _move(self, job: Job, state: JobState) -> None:
        job.move(state)
        await self.store.save(job)
        log.info("job %s is %s", job.id, state.value, extra=job.log_context())

    async def _requeue(self, job: Job, reason: Text) -> None:
        if job.attempts >= MAX_ATTEMPTS:
            await self.endings.finish(job, JobState.FAILED, Failed(Text("failed.lost_twice", reason=reason)))
            return
        job.prompt_id = None
        try:
            if job.state is not JobState.QUEUED:
                await self._move(job, JobState.QUEUED)
            else:
                await self.store.save(job)
        except StoreError as exc:
            await self.endings.unsaveable(job, exc)
            return
        self._queue(job, front=True)
        self.listener.job_changed(job, WaitingForBackend(reason))

    async def _run(self, job: Job, backend: Backend, run: PromptRun | None) -> None:
        deadline = asyncio.timeout(self.deadline)
        try:
            succeeded = None
            async with deadline:  # the deadline is ComfyUI's time: showing the result is not held to it
                if run is None:
                    run = await self._submit(job, backend)
                if run is not None:
                    self._runs[job.id] = run
                    succeeded = await self._follow(job, backend, run)
            if succeeded is not None:
                await self.fence.until_fresh()  # (a process that lost the lease stops here: the holder delivers it)
                if job.state is not JobState.DELIVERING:  # (a job taken up again after a restart already is)
                    await self._move(job, JobState.DELIVERING)  # written first: a restart shows it, never reruns it
                self._free(job, backend)  # the GPU's slot goes to the next job now, not once Discord shows this one
                await self._deliver(job, backend, succeeded)
        except asyncio.CancelledError:
            raise
        except StoreError as exc:
            await self.endings.unsaveable(job, exc, backend)
        except Exception as exc:  # the deadline; or a bug, which must not lose the job either: tell the member
            if isinstance(exc, TimeoutError) and deadline.expired():
                await self.endings.past_deadline(job, backend)
            else:
                log.exception("job %s failed unexpectedly", job.id)
                if job.finished is None:
                    await self.endings.finish(
                        job, JobState.FAILED, Failed(Text("failed.bug", error=type(exc).__name__))
                    )
        finally:
            self._free(job, backend)
            self._runs.pop(job.id, None)
            if self._tasks.get(job.id) is asyncio.current_task():
                del self._tasks[job.id]
            self._wake.set()

    async def _submit(self, job: Job, backend: Backend) -> PromptRun | None:
        job.backend, job.attempts = backend.name, job.attempts + 1
        job.prompt_id = f"{job.id}-{job.attempts}"
        await self._move(job, JobState.DISPATCHED)  # saved with its prompt id before ComfyUI hears of it
        self.listener.job_changed(job, Starting(backend.name))
        try:
            bound = job.request.bound
            graph = await bound.upload_images(backend, job.id) if bound.images else bound.graph
            return await backend.submit(graph, prompt_id=job.prompt_id)
        except PromptRejected as exc:
            await self.endings.finish(job, JobState.FAILED, Failed(rejection_message(exc)))
        except ComfyUnavailable as exc:
            log.warning("job %s: %s unavailable: %s", job.id, backend.name, exc)
            job.attempts -= 1  # it never reached the server
            await self._requeue(job, Text("requeue.unavailable", backend=backend.name))
        except ComfyError as exc:
            await self.endings.finish(job, JobState.FAILED, Failed(Text("failed.not_taken", error=str(exc))))
        return None

    async def _follow(self, job: Job, backend: Backend, run: PromptRun) -> RunSucceeded | None:
        """ComfyUI's part of the job, to its outcome: the success to deliver, or None when it ended otherwise."""
        tracker: ProgressTracker | None = None
        meter = CostMeter(job.request.bound.graph)
        async for item in run:
            if isinstance(item, ExecutionStart | Progress) and job.state is JobState.DISPATCHED:
                # Not written on its own: a restart follows a DISPATCHED prompt exactly as a RUNNING one, and the
                # start time is written with the job's next state (one transaction a job fewer)
                job.move(JobState.RUNNING)
                log.info("job %s is %s", job.id, JobState.RUNNING.value, extra=job.log_context())
            if isinstance(item, RunSucceeded):
                job.gpu_seconds, job.load_seconds = meter.gpu_seconds(), meter.load_seconds
                if job.gpu_seconds is not None:
                    self.costs.record(job.request.bound.template, backend.name, job.gpu_seconds)
                    if self.budgets.used(job.request.guild_id, job.user_id, job.gpu_seconds, job.started):
                        self.rebudget()  # past their budget now: their queued jobs wait for idle GPUs
                if meter.loads:
                    self.pool.loaded(backend.name, meter.load_seconds)
                return item
            elif isinstance(item, RunFailed):
                await self.endings.finish(
                    job, JobState.FAILED, Failed(Text("failed.stopped", error=item.message.rstrip(".")))
                )
            elif isinstance(item, RunInterrupted):
                by = self._cancelled_by.pop(job.id, Text("by.server"))
                await self.endings.finish(job, JobState.CANCELLED, Cancelled(by))
            elif isinstance(item, RunLost):
                await self._requeue(job, Text("requeue.lost"))
            else:
                meter.see(item)
                tracker = tracker or ProgressTracker(job.request.bound.graph, job.started)
                if (running := tracker.see(item)) is not None:
                    self.listener.job_changed(job, running)
        return None

    async def _deliver(self, job: Job, backend: Backend, outcome: RunSucceeded) -> None:
        """The delivery stage (the job is DELIVERING and its backend's slot already free)."""
        output_nodes = job.request.bound.output_nodes
        refs, texts = outcome.results(output_nodes), outcome.result_texts(output_nodes)
        stop = self._fetching[job.id] = asyncio.Event()
        try:
            images = await within(
                fetch_results(
                    backend,
                    refs,
                    job.request.bound.template,
                    max_file_bytes=self.max_file_bytes,
                    max_job_bytes=self.max_job_bytes,
                    texts=bool(texts),
                ),
                stop,
                self.delivery_timeout,
            )
        except Stopped:
            await self.endings.finish(job, JobState.CANCELLED, Cancelled(self._cancelled_by.pop(job.id)))
            return
        except TimeoutError:
            slow = Text("failed.delivery_slow", seconds=self.delivery_timeout)
            await self.endings.finish(job, JobState.FAILED, Failed(slow))
            return
        finally:
            del self._fetching[job.id]
        if isinstance(images, Text):
            await self.endings.finish(job, JobState.FAILED, Failed(images))
            return
        seconds = time.time() - (job.started or job.created)
        self.pool.finished(backend.name, seconds - (job.load_seconds or 0.0))  # loads: counted apart (pool.loaded)
        job.outputs = [image.filename for image in images]
        await self.endings.finish(job, JobState.DELIVERED, Delivered(images, seconds, backend.name, texts))

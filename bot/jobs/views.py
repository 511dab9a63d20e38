"""Read models: what members and admins see of the queue, the ComfyUI servers and their own history, as frozen
snapshots taken at one moment (a reply reads one consistent state, and the cogs hold no store, pool or engine)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.comfy.pool import BackendPool, BackendState

from .access import Asker
from .budgets import Usage
from .engine import JobEngine
from .model import Job, JobState
from .store import JobStore, held, records
from .store.held import HeldFile

DAY = 24 * 3600


@dataclass(frozen=True, slots=True)
class Device:
    name: str
    vram_free: int
    vram_total: int


@dataclass(frozen=True, slots=True)
class Backend:
    """One ComfyUI server as `/queue` and `/status` show it."""

    name: str
    healthy: bool
    paused: bool
    error: str | None
    in_flight: int
    seconds_per_job: float
    devices: tuple[Device, ...]
    warm: tuple[str, ...] = ()  # the model files its last prompt loaded
    load_seconds: float | None = None  # what loading models there takes, as measured

    @staticmethod
    def of(name: str, state: BackendState) -> Backend:
        devices = tuple(Device(d.name, d.vram_free, d.vram_total) for d in (state.stats.devices if state.stats else ()))
        warm = tuple(sorted(model.split(":", 1)[1] for model in state.warm))
        return Backend(
            name,
            state.healthy,
            state.paused,
            state.error,
            state.in_flight,
            state.seconds_per_job,
            devices,
            warm,
            state.load_seconds,
        )


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """One of a member's unfinished jobs: its place and expected wait, or what runs it since when."""

    id: str
    prompt: str  # or the template's name, for a job without a prompt
    state: JobState
    position: int | None  # in the queue (1 is next), while queued
    wait: float  # seconds, expected, while queued
    backend: str | None
    started: float | None


@dataclass(frozen=True, slots=True)
class QueueView:
    mine: tuple[QueuedJob, ...]
    waiting: int  # jobs in the queue, everyone's
    backends: tuple[Backend, ...]


@dataclass(frozen=True, slots=True)
class StatusView:
    waiting: int
    open: int  # every unfinished job
    today: int  # jobs asked for in the last 24 hours
    waits: tuple[float, ...]  # their seconds in the queue
    runs: tuple[float, ...]  # the delivered ones' seconds from start to result
    backends: tuple[Backend, ...]


@dataclass(frozen=True, slots=True)
class PastResult:
    job_id: str
    guild_id: int | None
    channel_id: int
    message_id: int | None
    prompt: str


@dataclass(frozen=True, slots=True)
class HistoryView:
    results: tuple[PastResult, ...]
    held: tuple[tuple[str, tuple[HeldFile, ...]], ...]  # results that could not be posted: (job id, files)


@dataclass(frozen=True, slots=True)
class UsageView:
    """A member's GPU time and budget here, their tier, and (for an admin) every member's this week."""

    mine: Usage
    weight: float
    role: int | None  # the role that gives the weight; None: every member's
    resets: float  # when the budget they are past resets (a Unix time)
    members: tuple[tuple[int, Usage], ...]  # most first; empty unless an admin asked


class Views:
    def __init__(self, engine: JobEngine, pool: BackendPool, store: JobStore) -> None:
        self._engine, self._pool, self._store = engine, pool, store

    def backends(self) -> tuple[Backend, ...]:
        return tuple(Backend.of(name, state) for name, state in self._pool.states.items())

    def backend_names(self) -> list[str]:
        return list(self._pool.states)

    def jobs_of(self, user_id: int) -> tuple[Job, ...]:
        """The member's unfinished jobs, oldest first."""
        return tuple(self._engine.jobs_of(user_id))

    def choices(self, node_type: str, input_name: str) -> list[str]:
        """What the servers offer for a node's input now (checkpoints, LoRAs)."""
        return self._pool.choices(node_type, input_name)

    def queue(self, user_id: int) -> QueueView:
        engine, states = self._engine, self._pool.states.values()
        slots = max(1, sum(1 for s in states if s.healthy and not s.paused))
        mine = []
        for job in engine.jobs_of(user_id):
            place = engine.place(job) if job.state is JobState.QUEUED else None
            position, ahead = place if place is not None else (None, 0.0)
            prompt = str(job.request.bound.values.get("prompt") or job.request.bound.template)
            wait = ahead / slots  # the GPU time of the jobs ahead (each its template's measured cost), shared out
            mine.append(QueuedJob(job.id, prompt, job.state, position, wait, job.backend, job.started))
        return QueueView(tuple(mine), len(engine.scheduler), self.backends())

    def usage(self, asker: Asker, *, admin: bool) -> UsageView:
        budgets = self._engine.budgets
        mine = budgets.usage(asker.guild_id, asker.user_id)
        weight, role = budgets.tier(asker.guild_id, asker.roles)
        members = tuple(budgets.members(asker.guild_id)) if admin and asker.guild_id is not None else ()
        return UsageView(mine, weight, role, mine.resets(budgets.clock()), members)

    async def status(self) -> StatusView:
        today = await records.since(self._store, time.time() - DAY)
        waits = tuple(s - c for _, c, s, _ in today if s is not None)
        runs = tuple(f - s for state, _, s, f in today if state == "delivered" and s is not None and f is not None)
        engine = self._engine
        return StatusView(len(engine.scheduler), len(engine.active), len(today), waits, runs, self.backends())

    async def history(self, user_id: int) -> HistoryView:
        results = tuple(PastResult(*row) for row in await records.recent_results(self._store, user_id))
        kept = await held.held(self._store, user_id)
        return HistoryView(results, tuple((job_id, tuple(files)) for job_id, files in kept.items()))

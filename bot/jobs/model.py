"""A job and its state machine: queued -> dispatched -> running -> delivering -> delivered | failed | cancelled."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from bot.templates.template import BoundWorkflow

from .errors import IllegalTransition


class JobState(StrEnum):
    QUEUED = "queued"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


ALLOWED = {
    JobState.QUEUED: {JobState.DISPATCHED, JobState.FAILED, JobState.CANCELLED},
    JobState.DISPATCHED: {JobState.RUNNING, JobState.DELIVERING, JobState.QUEUED, JobState.FAILED, JobState.CANCELLED},
    JobState.RUNNING: {JobState.DELIVERING, JobState.QUEUED, JobState.FAILED, JobState.CANCELLED},
    # cancelled: while its results are fetched (a Cancel stops the fetch)
    JobState.DELIVERING: {JobState.DELIVERED, JobState.FAILED, JobState.QUEUED, JobState.CANCELLED},
    JobState.DELIVERED: set(),
    JobState.FAILED: set(),
    JobState.CANCELLED: set(),
}
FINISHED = {JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED}


@dataclass(frozen=True, slots=True)
class JobRequest:
    user_id: int
    guild_id: int | None
    channel_id: int
    bound: BoundWorkflow
    kind: str = "imagine"  # imagine, reroll, vary, upscale, edit
    parent_id: str | None = None  # the result this one comes from
    note: str | None = None  # the jump link of the result this one comes from
    spoiler: bool = False  # results shown as spoilers (the server's rule, outside age-restricted channels)
    locale: str = "en-US"  # the member's language: the job's messages are written in it
    private: bool = False  # only the member sees the job (an ephemeral reply), where the server allows it
    weight: float = 1.0  # the member's share of their server's GPU time (the server's role weights)


@dataclass
class Job:
    request: JobRequest
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: JobState = JobState.QUEUED
    backend: str | None = None
    prompt_id: str | None = None
    created: float = field(default_factory=time.time)  # wall clock: these outlive the process
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    attempts: int = 0
    seq: int = 0  # the order jobs were accepted in (fairness breaks ties by it)
    outputs: list[str] = field(default_factory=list)  # the delivered files
    gpu_seconds: float | None = None  # its prompt's execution on the GPU, model loads excluded (jobs/cost.py)
    load_seconds: float | None = None  # the time its model loaders read files (not answered from cache)

    def move(self, to: JobState) -> None:
        if to not in ALLOWED[self.state]:
            raise IllegalTransition(f"job {self.id}: {self.state} -> {to} is not allowed")
        self.state = to
        if to is JobState.RUNNING and self.started is None:
            self.started = time.time()
        if to in FINISHED:
            self.finished = time.time()

    @property
    def user_id(self) -> int:
        return self.request.user_id

    def log_context(self) -> dict[str, object]:
        """What structured logs carry about the job."""
        return {
            "job_id": self.id,
            "prompt_id": self.prompt_id,
            "user_id": self.user_id,
            "guild_id": self.request.guild_id,
            "backend": self.backend,
        }

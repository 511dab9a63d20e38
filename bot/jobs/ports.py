"""The engine's ports: what it tells the presentation about a job, what it needs of the ComfyUI servers, and
whether it may use them now (its fence). The real ones are `ui.job_messages.JobMessages` (through
`metrics.Metrics`), `comfy.backend.ComfyBackend`, `comfy.pool.BackendPool` and `store.lease.DispatcherLease`;
engine tests use in-memory ones, with no network."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from bot.comfy.events import FileRef
from bot.comfy.models import UploadedFile
from bot.comfy.run import PromptRun

from .events import JobEvent
from .model import Job
from .store import StoredReply


class Fence(Protocol):
    """Whether this process may send work to ComfyUI and results to Discord: always, on SQLite (one process per
    file); on PostgreSQL, while it can prove it holds the dispatcher lease (`store.lease.DispatcherLease`)."""

    def fresh(self) -> bool: ...

    async def until_fresh(self) -> None:
        """Return once `fresh()`; a process that lost the lease waits here until it is stopped."""
        ...


class Unfenced:
    """The fence of a process that is the only one on its database."""

    def fresh(self) -> bool:
        return True

    async def until_fresh(self) -> None:
        return None


class QueuePositions(Protocol):
    def position(self, job: Job) -> int | None:
        """A queued job's place now (1 = next), or None."""
        ...


class JobListener(Protocol):
    def job_changed(self, job: Job, event: JobEvent) -> None:
        """An intermediate state (position, progress): shown when the edit budget allows."""

    def queue_moved(self, queue: QueuePositions) -> None:
        """Places in the queue moved: queued jobs' messages show `queue.position(job)` when the budget allows
        (read then: the engine does not tell each job its new place)."""

    async def job_finished(self, job: Job, event: JobEvent) -> None:
        """The final state (results, failure, cancel): returns once it is shown; raises if it could not be."""

    def restore(self, job: Job, reply: StoredReply) -> None:
        """A job taken up again after a restart: where its message is."""


class Backend(Protocol):
    """One ComfyUI server. Its methods raise `comfy.errors.ComfyError` (`PromptRejected`, `ComfyUnavailable`)."""

    @property
    def name(self) -> str: ...

    async def submit(self, graph: Mapping[str, Any], *, prompt_id: str) -> PromptRun:
        """Queue the graph under this id and follow it: events, then one outcome."""
        ...

    def follow(self, prompt_id: str) -> PromptRun:
        """Follow a prompt submitted before a restart."""
        ...

    async def upload_image(
        self, data: bytes, filename: str, *, subfolder: str, overwrite: bool, content_type: str
    ) -> UploadedFile: ...

    async def fetch(self, ref: FileRef, *, max_bytes: int) -> bytes: ...

    async def cancel(self, prompt_id: str) -> bool:
        """Off the server: True when it was running and is being interrupted, False when it was removed."""
        ...


class Fleet(Protocol):
    """The servers together: which can run a graph now, and how many prompts each holds (its own count)."""

    on_down: Callable[[Any], None]  # a backend stopped answering: its jobs must go elsewhere
    on_up: Callable[[Any], None]  # a backend answers again (or was resumed): queued jobs may go to it

    def get(self, name: str) -> Backend | None: ...

    def choose(self, graph: Mapping[str, Any], per_backend: int) -> Backend | None:
        """The backend that would run `graph` soonest with fewer than `per_backend` prompts, or None."""
        ...

    def room(self, per_backend: int) -> bool:
        """Whether any usable backend holds fewer than `per_backend` prompts (else nothing can be placed)."""
        ...

    def condition(self) -> object:
        """Changes whenever what the fleet can run changes (a backend up, down, paused, or its models read)."""
        ...

    def take(self, name: str, graph: Mapping[str, Any] | None = None) -> None:
        """A prompt is held there; `graph`'s models are then the ones warm there."""
        ...

    def loaded(self, name: str, seconds: float) -> None:
        """A prompt there read its models from disk in `seconds`."""
        ...

    def release(self, name: str) -> None: ...

    def finished(self, name: str, seconds: float) -> None:
        """A job ran for `seconds` there (the estimate of waits)."""
        ...

    def able(self, graph: Mapping[str, Any]) -> list[str]:
        """The backends that could run `graph` at all, busy or not."""
        ...

    def why_not(self, graph: Mapping[str, Any]) -> list[tuple[str, str, str]]: ...

    def never_runnable(self, graph: Mapping[str, Any]) -> str | None: ...

    def choices(self, node_type: str, input_name: str) -> list[str]:
        """The values an input accepts on any backend (LoRAs, checkpoints), sorted."""
        ...

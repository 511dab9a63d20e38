"""The engine's ports in memory (`bot/jobs/ports.py`): ComfyUI servers that hold each prompt until the test
moves it on, a fleet that chooses among them, and a listener that records what members would be shown. No
network, no sleeps: every change pulses one event that `Pulse.until` waits on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from bot.comfy.errors import ComfyUnavailable
from bot.comfy.events import ExecutionStart, FileRef
from bot.comfy.models import UploadedFile
from bot.comfy.run import PromptRun, RunFailed, RunInterrupted, RunLost, RunSucceeded
from bot.jobs.events import JobEvent
from bot.jobs.model import Job
from bot.jobs.ports import QueuePositions
from bot.jobs.store import StoredReply


class Pulse:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def __call__(self) -> None:
        self._event.set()

    async def until(self, predicate: Callable[[], object], within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self._event.clear()
                await self._event.wait()


class MemoryBackend:
    """One ComfyUI server: runs one prompt at a time, the rest wait in its queue, as ComfyUI's own."""

    def __init__(self, name: str, pulse: Pulse) -> None:
        self.name = name
        self.pulse = pulse
        self.up = True
        self.submitted: list[str] = []  # prompt ids, in the order they were queued
        self.waiting: list[str] = []
        self.running: str | None = None
        self.runs: dict[str, PromptRun] = {}
        self.graphs: dict[str, Mapping[str, Any]] = {}
        self.files: dict[str, bytes] = {}

    async def submit(self, graph: Mapping[str, Any], *, prompt_id: str) -> PromptRun:
        if not self.up:
            raise ComfyUnavailable(f"{self.name}: not answering")
        run = self.follow(prompt_id)
        self.submitted.append(prompt_id)
        self.graphs[prompt_id] = graph
        self.waiting.append(prompt_id)
        self._next()
        return run

    def follow(self, prompt_id: str) -> PromptRun:
        run = self.runs.get(prompt_id)
        if run is None:
            run = PromptRun(prompt_id, self._history, lambda run: None, connection=lambda: 0)  # one feed, never cut
            run.submitted = True
            self.runs[prompt_id] = run
        return run

    async def _history(self, prompt_id: str) -> None:
        return None

    def _next(self) -> None:
        if self.running is None and self.waiting:
            self.running = self.waiting.pop(0)
            self.runs[self.running].push(ExecutionStart(self.running))
        self.pulse()

    def _end(self, prompt_id: str, outcome: RunSucceeded | RunFailed | RunInterrupted | RunLost) -> None:
        self.runs[prompt_id].push(outcome)
        if self.running == prompt_id:
            self.running = None
        self._next()

    def finish(self, prompt_id: str | None = None, *, node: str = "9") -> str:
        """The running prompt (or this one) saves an image and succeeds."""
        prompt_id = prompt_id or self.running
        assert prompt_id is not None, f"{self.name} runs nothing"
        filename = f"{prompt_id}.png"
        self.files[filename] = b"\x89PNG " + prompt_id.encode()
        self._end(prompt_id, RunSucceeded(prompt_id, {node: (FileRef(filename),)}))
        return prompt_id

    def fail(self, message: str) -> None:
        assert self.running is not None
        self._end(self.running, RunFailed(self.running, "3", "KSampler", "RuntimeError", message))

    async def cancel(self, prompt_id: str) -> bool:
        if prompt_id in self.waiting:  # deleted from the queue: ComfyUI sends nothing for it, ever
            self.waiting.remove(prompt_id)
            self.pulse()
            return False
        if self.running == prompt_id:
            self._end(prompt_id, RunInterrupted(prompt_id))
            return True
        return False

    async def fetch(self, ref: FileRef, *, max_bytes: int) -> bytes:
        return self.files[ref.filename][:max_bytes]

    async def upload_image(
        self, data: bytes, filename: str, *, subfolder: str, overwrite: bool, content_type: str
    ) -> UploadedFile:
        return UploadedFile(filename, subfolder)


class MemoryFleet:
    """The servers together: the one holding the fewest prompts is chosen, as the pool does with equal speeds."""

    def __init__(self, *backends: MemoryBackend) -> None:
        self.backends = {b.name: b for b in backends}
        self.held = dict.fromkeys(self.backends, 0)
        self.on_down: Callable[[Any], None] = lambda backend: None
        self.on_up: Callable[[Any], None] = lambda backend: None

    def get(self, name: str) -> MemoryBackend | None:
        return self.backends.get(name)

    def choose(self, graph: Mapping[str, Any], per_backend: int) -> MemoryBackend | None:
        free = [b for b in self.backends.values() if b.up and self.held[b.name] < per_backend]
        return min(free, key=lambda b: self.held[b.name], default=None)

    def room(self, per_backend: int) -> bool:
        return any(b.up and self.held[b.name] < per_backend for b in self.backends.values())

    def condition(self) -> object:
        return tuple(b.up for b in self.backends.values())

    def take(self, name: str, graph: Mapping[str, Any] | None = None) -> None:
        self.held[name] += 1

    def loaded(self, name: str, seconds: float) -> None:
        pass

    def release(self, name: str) -> None:
        self.held[name] -= 1

    def finished(self, name: str, seconds: float) -> None:
        pass

    def able(self, graph: Mapping[str, Any]) -> list[str]:
        return [b.name for b in self.backends.values() if b.up]

    def why_not(self, graph: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        return [(b.name, "unreachable", "") for b in self.backends.values() if not b.up]

    def never_runnable(self, graph: Mapping[str, Any]) -> str | None:
        return None

    def choices(self, node_type: str, input_name: str) -> list[str]:
        return []

    def down(self, name: str) -> None:
        self.backends[name].up = False
        self.on_down(self.backends[name])


class Recorder:
    """What members would be shown: every event of every job, in order."""

    def __init__(self, pulse: Pulse) -> None:
        self.pulse = pulse
        self.events: dict[str, list[JobEvent]] = {}
        self.finished: dict[str, JobEvent] = {}
        self.restored: list[str] = []
        self.queue: QueuePositions | None = None

    def job_changed(self, job: Job, event: JobEvent) -> None:
        self.events.setdefault(job.id, []).append(event)
        self.pulse()

    async def job_finished(self, job: Job, event: JobEvent) -> None:
        self.events.setdefault(job.id, []).append(event)
        self.finished[job.id] = event
        self.pulse()

    def restore(self, job: Job, reply: StoredReply) -> None:
        self.restored.append(job.id)

    def queue_moved(self, queue: QueuePositions) -> None:
        self.queue = queue
        self.pulse()

"""One prompt followed on a backend: its events, ending in exactly one terminal outcome.

Completion is event-driven: `execution_error` and `execution_interrupted` end the run at once; success ends at
`executing {node: null}` (the frame ComfyUI sends after writing history). When every frame since the prompt's
`execution_start` came on one socket, its outputs are the `executed` frames: ComfyUI sends one per output node,
for cached nodes too with their old files (recorded, PROTOCOL.md 1.6), so `/history` is not read (one request a
job fewer). Otherwise (a reconnect since, or a prompt followed after it started) they are read once from
`/history`, falling back to the `executed` events if history cannot be read.
After a reconnect or a long silence the stream settles runs from `/history` and `/queue` instead.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field, replace

from .errors import ComfyError, NodeRejection
from .events import (
    Event,
    Executed,
    Executing,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionStart,
    ExecutionSuccess,
    FileRef,
    NodeText,
    PreviewImage,
    Progress,
    ProgressState,
)
from .models import HistoryEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunSucceeded:
    prompt_id: str
    outputs: Mapping[str, tuple[FileRef, ...]]  # by output node id
    from_history: bool = True
    # Output branches ComfyUI dropped at submission (a 200 with node_errors).
    dropped: Mapping[str, NodeRejection] = field(default_factory=dict)
    texts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # text outputs, by node

    def result_texts(self, output_nodes: Collection[str]) -> tuple[str, ...]:
        return tuple(text for node in output_nodes for text in self.texts.get(node, ()))

    def results(self, output_nodes: Collection[str] | None = None) -> tuple[FileRef, ...]:
        """The result files: those of `output_nodes` when given; else saved files (type `output`), and only
        when there are none, temp files (PreviewImage). Live previews are never results."""
        if output_nodes is not None:
            return tuple(ref for node in output_nodes for ref in self.outputs.get(node, ()))
        files = [ref for refs in self.outputs.values() for ref in refs]
        saved = tuple(ref for ref in files if ref.type == "output")
        return saved or tuple(files)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # control characters but tab and newline


@dataclass(frozen=True, slots=True)
class RunFailed:
    prompt_id: str
    node_id: str | None
    node_type: str | None
    exception_type: str
    exception_message: str

    @property
    def message(self) -> str:
        where = f"{self.node_type or 'a node'} (node {self.node_id})" if self.node_id else "the workflow"
        detail = self.exception_message.strip() or self.exception_type or "unknown error"
        return _CONTROL.sub("\ufffd", f"{where} failed: {detail}")  # a NUL or an escape is shown as such, not sent


@dataclass(frozen=True, slots=True)
class RunInterrupted:
    prompt_id: str
    node_id: str | None = None
    node_type: str | None = None


@dataclass(frozen=True, slots=True)
class RunLost:
    """ComfyUI no longer knows the prompt: it restarted, or the prompt was deleted from its queue."""

    prompt_id: str
    reason: str


Outcome = RunSucceeded | RunFailed | RunInterrupted | RunLost
DROPPABLE = (PreviewImage, ProgressState, Progress, NodeText)


def failed(event: ExecutionError) -> RunFailed:
    return RunFailed(event.prompt_id, event.node_id, event.node_type, event.exception_type, event.exception_message)


def outcome_from_history(entry: HistoryEntry) -> Outcome:
    if entry.status == "success":
        return RunSucceeded(entry.prompt_id, entry.outputs, texts=entry.texts)
    if entry.interrupted is not None:
        return RunInterrupted(entry.prompt_id, entry.interrupted.node_id, entry.interrupted.node_type)
    if entry.error is not None:
        return failed(entry.error)
    return RunFailed(entry.prompt_id, None, None, "", f"ComfyUI recorded the prompt as {entry.status or 'unknown'}")


HistoryReader = Callable[[str], Awaitable[HistoryEntry | None]]


class PromptRun:
    """Async-iterate for events; the last item is the `Outcome`. Or `await run.outcome()`."""

    def __init__(
        self,
        prompt_id: str,
        read_history: HistoryReader,
        on_done: Callable[[PromptRun], None],
        *,
        connection: Callable[[], int],
        max_pending: int = 512,
    ) -> None:
        self.prompt_id = prompt_id
        self.submitted = False
        self.dropped_branches: Mapping[str, NodeRejection] = {}
        self.dropped_events = 0
        self._read_history = read_history
        self._on_done = on_done
        self._max_pending = max_pending
        self._items: deque[Event | Outcome] = deque()
        self._ready = asyncio.Event()
        self._outcome: Outcome | None = None
        self._next_outcome: Outcome | None = None
        self._success_seen = False
        self._executed: dict[str, tuple[FileRef, ...]] = {}
        self._texts: dict[str, tuple[str, ...]] = {}
        self._connection = connection  # which socket of the stream's is open now (its count of connections)
        self._started_on: int | None = None  # the socket `execution_start` came on

    @property
    def done(self) -> bool:
        return self._outcome is not None

    @property
    def result(self) -> Outcome | None:
        return self._outcome

    # ---- fed by the stream -----------------------------------------------------------------------------

    def push(self, item: Event | Outcome) -> None:
        if self.done:
            return
        if isinstance(item, ExecutionStart):  # noted as it arrives: a reconnect may come before it is read
            self._started_on = self._connection()
        if len(self._items) >= self._max_pending:
            self._drop_one()
        self._items.append(item)
        self._ready.set()

    def _drop_one(self) -> None:
        """A slow consumer loses intermediate progress and previews, never anything that matters."""
        for index, queued in enumerate(self._items):
            if isinstance(queued, DROPPABLE):
                del self._items[index]
                self.dropped_events += 1
                return

    def discard(self) -> None:
        """The submission failed: stop routing events here. The caller has the exception, not an outcome."""
        self._items.clear()
        self._on_done(self)

    # ---- consumed by the caller ------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Event | Outcome]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event | Outcome]:
        while not self.done:
            if self._next_outcome is not None:
                yield self._settle(self._next_outcome)
                return
            while not self._items:
                self._ready.clear()
                await self._ready.wait()
            item = self._items.popleft()
            if isinstance(item, RunSucceeded | RunFailed | RunInterrupted | RunLost):
                yield self._settle(item)
                return
            self._next_outcome = await self._interpret(item)
            yield item

    async def outcome(self) -> Outcome:
        """Consume the remaining events and return the terminal outcome."""
        async for _ in self:
            pass
        assert self._outcome is not None
        return self._outcome

    def _settle(self, outcome: Outcome) -> Outcome:
        if isinstance(outcome, RunSucceeded) and self.dropped_branches:
            outcome = replace(outcome, dropped=self.dropped_branches)
        self._outcome = outcome
        self._items.clear()
        self._on_done(self)
        return outcome

    async def _interpret(self, event: Event) -> Outcome | None:
        if isinstance(event, Executed):
            self._executed[event.node] = event.files
            if event.texts:
                self._texts[event.node] = event.texts
        elif isinstance(event, ExecutionSuccess):
            self._success_seen = True
        elif isinstance(event, ExecutionError):
            return failed(event)
        elif isinstance(event, ExecutionInterrupted):
            return RunInterrupted(event.prompt_id, event.node_id, event.node_type)
        elif isinstance(event, Executing) and event.prompt_finished:
            return await self._finish()
        return None

    async def _finish(self) -> Outcome:
        """`executing null`: history is written. The outputs are the `executed` frames when none can have been
        missed; else read from history, or the events if history cannot be read."""
        if self._success_seen and self._started_on == self._connection():
            return RunSucceeded(self.prompt_id, dict(self._executed), from_history=False, texts=dict(self._texts))
        try:
            entry = await self._read_history(self.prompt_id)
        except ComfyError as exc:
            log.warning("prompt %s finished but /history failed: %s", self.prompt_id, exc)
            entry = None
        if entry is not None:
            return outcome_from_history(entry)
        if self._success_seen:
            return RunSucceeded(self.prompt_id, dict(self._executed), from_history=False, texts=dict(self._texts))
        return RunLost(self.prompt_id, "ComfyUI finished the prompt but kept no result for it")

"""Progress is a latest-state cell per message, flushed within an edit budget.

Each message keeps only its newest state. A loop sends it when both budgets allow: at most one edit per
`message_interval` seconds per message, and at most `channel_edits` edits per `channel_window` seconds per
channel (Discord allows about 5 per 5 s; staying under it means Discord never has to answer 429). Discord counts
an edit when it arrives, which is somewhere before our request completes, so a channel has one edit in flight at
a time and each edit is counted from its completion: no window of arrivals can then hold more than the budget.
Intermediate states are skipped; a final state is never skipped, goes before progress, and `show_final()`
returns when it has been sent (or raises what sending it raised).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

Send = Callable[[Any], Awaitable[None]]


@dataclass
class _Cell:
    channel: int
    send: Send
    state: Any = None
    dirty: bool = False
    final: bool = False
    busy: bool = False
    last_sent: float = -math.inf
    sent: int = 0
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class ProgressPresenter:
    def __init__(self, *, message_interval: float = 1.5, channel_edits: int = 4, channel_window: float = 5.0) -> None:
        self.message_interval = message_interval
        self.channel_edits = channel_edits
        self.channel_window = channel_window
        self.edits = 0
        self._cells: dict[str, _Cell] = {}
        self._windows: dict[int, deque[float]] = {}  # completion times of recent edits, per channel
        self._channel_busy: set[int] = set()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._run(), name="progress-presenter")

    async def close(self) -> None:
        tasks = [t for t in (self._loop_task, *self._sends) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def show(self, key: str, channel: int, send: Send, state: Any, *, final: bool = False) -> None:
        """Make `state` the newest for message `key`; `send` will be called with whatever is newest then."""
        cell = self._cells.get(key)
        if cell is None or cell.done.done():
            cell = self._cells[key] = _Cell(channel, send)
        if cell.final:
            return  # the final state is set: nothing may replace it
        cell.send, cell.state, cell.dirty, cell.final = send, state, True, final
        self._wake.set()

    async def show_final(self, key: str, channel: int, send: Send, state: Any) -> None:
        """Show a final state and return once it has been sent (raising what sending it raised)."""
        self.show(key, channel, send, state, final=True)
        try:
            await asyncio.shield(self._cells[key].done)
        finally:
            self._cells.pop(key, None)

    async def drain(self) -> None:
        """Return once every final state shown so far has been sent (progress is not waited for)."""
        pending = [c.done for c in self._cells.values() if c.final and not c.done.done()]
        await asyncio.gather(*(asyncio.shield(f) for f in pending), return_exceptions=True)

    def edits_of(self, key: str) -> int:
        cell = self._cells.get(key)
        return cell.sent if cell else 0

    # ---- the loop --------------------------------------------------------------------------------------

    def _channel_wait(self, channel: int, now: float) -> float:
        window = self._windows.setdefault(channel, deque())
        while window and now - window[0] >= self.channel_window:
            window.popleft()
        return 0.0 if len(window) < self.channel_edits else window[0] + self.channel_window - now

    async def _run(self) -> None:
        while True:
            now = time.monotonic()
            wake_in = math.inf
            ready = [c for c in self._cells.values() if c.dirty and not c.busy]
            for cell in sorted(ready, key=lambda c: (not c.final, c.last_sent)):
                if cell.channel in self._channel_busy:
                    continue  # woken again when that edit completes
                message_wait = 0.0 if cell.final else cell.last_sent + self.message_interval - now
                wait = max(message_wait, self._channel_wait(cell.channel, now))
                if wait > 0:
                    wake_in = min(wake_in, wait)
                    continue
                self._channel_busy.add(cell.channel)
                cell.busy, cell.dirty, cell.last_sent = True, False, now
                task = asyncio.create_task(self._send(cell, cell.state, cell.final))
                self._sends.add(task)
                task.add_done_callback(self._sends.discard)
            self._wake.clear()
            try:
                async with asyncio.timeout(None if wake_in == math.inf else wake_in):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _send(self, cell: _Cell, state: Any, final: bool) -> None:
        try:
            await cell.send(state)
            self.edits += 1
            cell.sent += 1
            if final and not cell.done.done():
                cell.done.set_result(None)
        except Exception as exc:
            log.warning("a message update failed: %s", exc)
            if final and not cell.done.done():
                cell.done.set_exception(exc)
        finally:
            self._windows.setdefault(cell.channel, deque()).append(time.monotonic())
            self._channel_busy.discard(cell.channel)
            cell.busy = False
            self._wake.set()

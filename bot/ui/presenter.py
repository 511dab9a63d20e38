"""Each message keeps only its newest state; a loop sends it when Discord's rate limits allow, people first.

Discord limits each route per top-level resource: a channel's bot-token routes share a bucket, while an
interaction's webhook (the token behind a member's reply) is a bucket of its own and is not bound to the global
limit (docs.discord.com/developers/topics/rate-limits; discord.py keys its buckets the same way, by channel,
guild, webhook id and token: `http.Route.major_parameters`). So the budget is kept per bucket: at most
`bucket_edits` edits per `bucket_window` seconds in each, one in flight at a time, counted from its completion
(Discord counts an edit when it arrives, somewhere before our request completes: no window of arrivals can then
hold more than the budget). A message is edited at most once per `message_interval` seconds, and progress of all
messages together at most `progress_per_second` times a second (a thousand queued members need not see their
place move every second).

People first: a final state (a result, an error) is never skipped and goes before any progress in its bucket;
then a running job's progress; a queued job's place last, and a place is read when it is sent (`show_live`), so
one move of the queue costs one call (`refresh_live`), not one per queued job, and a message whose place did not
change is not edited. Acknowledgements never come here: the cogs answer interactions at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

log = logging.getLogger(__name__)

Send = Callable[[Any], Awaitable[None]]
BucketOf = Callable[[], Hashable]  # the rate-limit bucket the message's next edit will count against
LIVE_READS_PER_SEND = 8  # places read per place sent, at most: reading one costs little, but not nothing


class Urgency(IntEnum):
    FINAL = 0
    RUNNING = 1
    QUEUED = 2


_NOTHING = object()


@dataclass(eq=False)
class _Cell:
    bucket: BucketOf
    send: Send
    urgency: Urgency = Urgency.RUNNING
    state: Any = None
    current: Callable[[], Any] | None = None  # a live cell: its state is read when it is sent
    busy: bool = False
    shown: Any = _NOTHING
    seen: int = -1  # the live generation it was last read at
    ringed: bool = False  # in the ring of live cells
    last_sent: float = -math.inf
    sent: int = 0
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    @property
    def final(self) -> bool:
        return self.urgency is Urgency.FINAL


class ProgressPresenter:
    def __init__(
        self,
        *,
        message_interval: float = 1.5,
        bucket_edits: int = 4,
        bucket_window: float = 5.0,
        progress_per_second: float = 20.0,
    ) -> None:
        self.message_interval = message_interval
        self.bucket_edits = bucket_edits
        self.bucket_window = bucket_window
        self.progress_per_second = progress_per_second
        self.edits = 0
        self._cells: dict[str, _Cell] = {}
        self._finals: dict[str, _Cell] = {}  # waiting to be sent, in the order they were shown
        self._progress: dict[str, _Cell] = {}  # pushed progress waiting to be sent
        self._live: deque[_Cell] = deque()  # queued jobs' cells, read in turn
        self._generation = 0
        self._stale = False  # a live cell may not have been read since the last refresh
        self._allowance = progress_per_second
        self._refilled = time.monotonic()
        self._windows: dict[Hashable, deque[float]] = {}  # completion times of recent edits, per bucket
        self._busy: set[Hashable] = set()  # buckets with an edit in flight
        self._swept = time.monotonic()
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

    def _cell(self, key: str, bucket: BucketOf, send: Send) -> _Cell | None:
        cell = self._cells.get(key)
        if cell is None or cell.done.done():
            cell = self._cells[key] = _Cell(bucket, send)
        if cell.final:
            return None  # the final state is set: nothing may replace it
        cell.bucket, cell.send = bucket, send
        return cell

    def show(self, key: str, bucket: BucketOf, send: Send, state: Any, *, urgency: Urgency = Urgency.RUNNING) -> None:
        """Make `state` the newest for message `key`; `send` will be called with whatever is newest then."""
        cell = self._cell(key, bucket, send)
        if cell is None:
            return
        cell.state, cell.urgency, cell.current = state, urgency, None
        if urgency is Urgency.FINAL:
            self._progress.pop(key, None)
            self._finals[key] = cell
        else:
            self._progress[key] = cell
        self._wake.set()

    def show_live(self, key: str, bucket: BucketOf, send: Send, current: Callable[[], Any]) -> None:
        """A queued job's message: `current()` is its state now (None: nothing to show), read when there is
        budget for it after every final and every running job's progress, and sent when it differs from what
        the message shows."""
        cell = self._cell(key, bucket, send)
        if cell is None:
            return
        self._progress.pop(key, None)
        cell.urgency, cell.seen, cell.current = Urgency.QUEUED, -1, current
        if not cell.ringed:
            cell.ringed = True
            self._live.append(cell)
        self._stale = True
        self._wake.set()

    def refresh_live(self) -> None:
        """What live cells read has changed (the queue moved)."""
        self._generation += 1
        self._stale = bool(self._live)
        self._wake.set()

    async def show_final(self, key: str, bucket: BucketOf, send: Send, state: Any) -> None:
        """Show a final state and return once it has been sent (raising what sending it raised)."""
        self.show(key, bucket, send, state, urgency=Urgency.FINAL)
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

    def _bucket_wait(self, bucket: Hashable, now: float) -> float:
        window = self._windows.get(bucket)
        if window is None:
            return 0.0
        while window and now - window[0] >= self.bucket_window:
            window.popleft()
        if not window:
            del self._windows[bucket]
            return 0.0
        return 0.0 if len(window) < self.bucket_edits else window[0] + self.bucket_window - now

    def _wait(self, cell: _Cell, now: float) -> float:
        """Seconds until this cell may be sent (0: now; inf: when its bucket's edit in flight completes)."""
        bucket = cell.bucket()
        if bucket in self._busy:
            return math.inf  # woken again when that edit completes
        message_wait = 0.0 if cell.final else cell.last_sent + self.message_interval - now
        return max(message_wait, self._bucket_wait(bucket, now))

    def _forget_windows(self, now: float) -> None:
        """Drop the windows of buckets with no edit in the last window (one per interaction token ever edited
        would otherwise stay for the life of the process); at most once a window."""
        if now - self._swept < self.bucket_window:
            return
        self._swept = now
        for bucket in [b for b, times in self._windows.items() if not times or now - times[-1] >= self.bucket_window]:
            del self._windows[bucket]

    def _refill(self, now: float) -> None:
        self._allowance = min(
            self.progress_per_second, self._allowance + (now - self._refilled) * self.progress_per_second
        )
        self._refilled = now

    async def _run(self) -> None:
        while True:
            now = time.monotonic()
            self._refill(now)
            self._forget_windows(now)
            wake_in = min(
                self._send_pushed(self._finals, now, metered=False),
                self._send_pushed(self._progress, now, metered=True),
                self._read_live(now),
                math.inf if self._allowance >= 1 else (1 - self._allowance) / self.progress_per_second,
            )
            self._wake.clear()
            try:
                async with asyncio.timeout(None if wake_in == math.inf else wake_in):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _send_pushed(self, cells: dict[str, _Cell], now: float, *, metered: bool) -> float:
        """Send what waits in `cells` as its buckets allow: finals in the order they came; progress (`metered`,
        drawing on the allowance) running jobs' first, the longest unsent first."""
        wake_in = math.inf
        if metered and self._allowance < 1:
            return wake_in  # woken when the allowance refills
        waiting = list(cells.items())
        if metered:
            waiting.sort(key=lambda item: (item[1].urgency, item[1].last_sent))
        for key, cell in waiting:
            if metered and self._allowance < 1:
                break
            if cell.busy:
                continue
            if (wait := self._wait(cell, now)) > 0:
                wake_in = min(wake_in, wait)
                continue
            del cells[key]
            if metered:
                self._allowance -= 1
            self._launch(cell, cell.state, now)
        return wake_in

    def _read_live(self, now: float) -> float:
        """Read queued jobs' places in turn while the allowance lasts; send those that changed."""
        wake_in = math.inf
        if not self._stale or self._allowance < 1:
            return wake_in  # (pushed progress that could go has gone first, this pass)
        reads = max(1, int(self._allowance)) * LIVE_READS_PER_SEND
        unread = False
        for _ in range(len(self._live)):
            if self._allowance < 1 or reads <= 0:
                return wake_in
            cell = self._live.popleft()
            if cell.current is None or cell.done.done():
                cell.ringed = False
                continue  # it left the queue (or shows something else now): no longer live
            self._live.append(cell)
            if cell.seen == self._generation:
                continue
            if cell.busy or (wait := self._wait(cell, now)) > 0:
                unread = True
                if not cell.busy:
                    wake_in = min(wake_in, wait)
                continue
            cell.seen = self._generation
            reads -= 1
            state = cell.current()
            if state is None or state == cell.shown:
                continue
            self._allowance -= 1
            self._launch(cell, state, now)
        self._stale = unread
        return wake_in

    def _launch(self, cell: _Cell, state: Any, now: float) -> None:
        bucket = cell.bucket()
        self._busy.add(bucket)
        cell.busy, cell.last_sent = True, now
        task = asyncio.create_task(self._send(cell, bucket, state, cell.final))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send(self, cell: _Cell, bucket: Hashable, state: Any, final: bool) -> None:
        try:
            await cell.send(state)
            self.edits += 1
            cell.sent += 1
            cell.shown = state
            if final and not cell.done.done():
                cell.done.set_result(None)
        except Exception as exc:
            log.warning("a message update failed: %s", exc)
            if final and not cell.done.done():
                cell.done.set_exception(exc)
        finally:
            self._windows.setdefault(bucket, deque()).append(time.monotonic())
            self._busy.discard(bucket)
            cell.busy = False
            self._wake.set()

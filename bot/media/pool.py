"""Media work (a member's attachment decoded and re-encoded, a result re-encoded to fit Discord's limit) in worker
processes of the bot's own, never on the event loop nor in asyncio's shared thread pool:

- a few workers (`LIMITS__MEDIA_WORKERS`), each a process (`python -m bot.media.worker`) capped in memory
  (`LIMITS__MEDIA_MEMORY`, its address space): a file that decodes to more fails in its worker with a
  MemoryError, and the bot is untouched;
- each call has a time limit (`LIMITS__MEDIA_SECONDS`): a worker still busy past it is killed and replaced, and
  the caller told (`MediaTimeout`), so a file crafted to decode for minutes holds a worker for the limit at most;
- turns are fair between members: each member's work waits in a queue of its own, and a free worker goes to the
  waiting member served longest ago, so one member's six sounds never keep another member's image waiting
  behind all six.

Workers start on first use and again after one is killed. What a worker answers is unpickled with only the
bot's own classes and Python's allowed, so even a worker taken over by a hostile file cannot make the bot run
code through its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import pickle
import sys
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class MediaTimeout(Exception):
    """The work took longer than its limit; its worker was stopped."""


class MediaCrashed(Exception):
    """The worker died during the work (killed by the system, or a crash in a codec), or answered nonsense."""


PLAIN = frozenset({"bytes", "bytearray", "str", "int", "float", "bool", "tuple", "list", "dict", "set", "frozenset"})
REBUILDERS = frozenset({("bot.i18n.text", "_localized")})  # how a LocalizedError is pickled


class _BotsOwn(pickle.Unpickler):
    """Only plain values, Python's exceptions, the bot's own classes (its results, its errors) and the bot's own
    rebuilders: no function a pickle could call with arguments of its choosing."""

    def find_class(self, module: str, name: str) -> Any:
        found = super().find_class(module, name) if module == "builtins" or module.startswith("bot.") else None
        if module == "builtins" and (name in PLAIN or (isinstance(found, type) and issubclass(found, BaseException))):
            return found
        if module.startswith("bot.") and (isinstance(found, type) or (module, name) in REBUILDERS):
            return found
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a media worker's answer")


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, memory: int) -> _Worker:
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.media.worker",
                str(memory),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
        except OSError as exc:  # no process to be had (the system's limits): as a worker that died
            raise MediaCrashed(f"a media worker cannot be started: {exc}") from None
        return cls(process)

    async def call(
        self, work: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], seconds: float
    ) -> Any:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        payload = pickle.dumps((work, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            async with asyncio.timeout(seconds):
                stdin.write(len(payload).to_bytes(8, "big") + payload)
                await stdin.drain()
                size = int.from_bytes(await stdout.readexactly(8), "big")
                kind, value = _BotsOwn(io.BytesIO(await stdout.readexactly(size))).load()
        except TimeoutError:
            raise MediaTimeout(f"took more than {seconds:g} s") from None
        except (asyncio.IncompleteReadError, ConnectionError, pickle.UnpicklingError, ValueError, EOFError) as exc:
            raise MediaCrashed(f"the media worker stopped ({self.process.returncode}): {exc!r}") from None
        if kind == "raised" and isinstance(value, BaseException):
            raise value
        return value

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()

    async def stop(self) -> None:
        """Its input closed: it reads the end and exits."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            await self.kill()


class MediaPool:
    def __init__(self, workers: int = 2, memory: int = 3 * 2**30) -> None:
        self.workers, self.memory = workers, memory
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._free = workers  # turns not given out
        self._waiting: dict[int, deque[asyncio.Future[None]]] = {}  # member -> their turns, in order
        self._served: dict[int, int] = {}  # member -> when their last turn was given (a counter)
        self._turns = 0
        self._running: dict[int, int] = {}  # member -> turns they hold
        self.per_member = max(1, workers - 1)  # so one member's files always leave a worker for the others

    async def run(self, member: int, seconds: float, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`work(*args, **kwargs)` in a worker, in `member`'s turn, within `seconds`: what it returns or raised,
        `MediaTimeout`, or `MediaCrashed`."""
        await self._turn(member)
        worker: _Worker | None = None
        try:
            worker = self._idle.pop() if self._idle else await _Worker.start(self.memory)
            self._busy.add(worker)
            result: T = await worker.call(work, args, kwargs, seconds)
        except BaseException as exc:
            if worker is not None and not _answered(exc):  # the worker's state is unknown: it goes
                self._busy.discard(worker)
                log.warning("a media worker was stopped: %r", exc)
                await asyncio.shield(worker.kill())
                worker = None
            raise
        finally:
            if worker is not None:
                self._busy.discard(worker)
                self._idle.append(worker)
            self._give_back(member)
        return result

    async def _turn(self, member: int) -> None:
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(member, deque()).append(turn)
        self._hand_out()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._give_back(member)  # given, and not taken
            else:
                self._forget(member, turn)
            raise

    def _forget(self, member: int, turn: asyncio.Future[None]) -> None:
        queue = self._waiting.get(member)
        if queue is not None and turn in queue:
            queue.remove(turn)
            if not queue:
                del self._waiting[member]

    def _give_back(self, member: int) -> None:
        self._free += 1
        self._running[member] -= 1
        if not self._running[member]:
            del self._running[member]
        self._hand_out()

    def _hand_out(self) -> None:
        """Free turns go to the waiting member served longest ago (or never) among those under their share, so
        a member with many files waits behind everyone else's next one, never the other way round."""
        while self._free > 0:
            eligible = [m for m in self._waiting if self._running.get(m, 0) < self.per_member]
            if not eligible:
                return
            member = min(eligible, key=lambda m: self._served.get(m, 0))
            queue = self._waiting[member]
            turn = queue.popleft()
            if not queue:
                del self._waiting[member]
            if turn.done():
                continue
            self._free -= 1
            self._running[member] = self._running.get(member, 0) + 1
            self._turns += 1
            self._served[member] = self._turns
            if len(self._served) > 10_000:  # members long gone: the oldest half forgotten
                for gone in sorted(self._served, key=self._served.__getitem__)[:5_000]:
                    del self._served[gone]
            turn.set_result(None)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        busy, self._busy = list(self._busy), set()
        await asyncio.gather(*(w.stop() for w in idle), *(w.kill() for w in busy), return_exceptions=True)


def _answered(exc: BaseException) -> bool:
    """The worker answered (the work raised this): it is ready for the next call."""
    return not isinstance(exc, MediaTimeout | MediaCrashed | asyncio.CancelledError)

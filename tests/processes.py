"""Real `python -m bot` processes for the tests that need several: their log lines are read as they come (so a
full pipe never stalls them), and a test waits for the line that says a process got where it must."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from typing import Any

from tests.stack import ROOT


class BotProcess:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._new = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, env: dict[str, str]) -> BotProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", env=env, cwd=ROOT, stderr=asyncio.subprocess.PIPE
        )
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self.lines.append(line.decode(errors="replace"))
            self._new.set()
        self._new.set()

    async def saw(self, text: str, within: float = 30.0) -> str:
        """The first log line that holds `text`, once the process has written it."""
        try:
            async with asyncio.timeout(within):
                while True:
                    found = next((line for line in self.lines if text in line), None)
                    if found is not None:
                        return found
                    if self._reader.done():
                        raise AssertionError(f"the process ended without saying {text!r}:\n{''.join(self.lines)}")
                    self._new.clear()
                    await self._new.wait()
        except TimeoutError:
            raise AssertionError(f"the process did not say {text!r} in {within} s:\n{''.join(self.lines)}") from None

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        await self._reader


async def stopped(processes: Iterable[BotProcess | None], *fakes: Any) -> None:
    """The end of a test: its bot processes killed (a stopped one too: SIGKILL ends it), then its fakes."""
    for process in processes:
        if process is not None:
            await process.kill()
    for fake in fakes:
        await fake.stop()

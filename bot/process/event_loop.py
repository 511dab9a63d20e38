"""The event loop every command runs on: uvloop where it is installed (Linux and macOS), else asyncio's own.

uvloop is asyncio's loop rewritten on libuv (MagicStack/uvloop). The bot is network-bound: every job is a
WebSocket stream of ~50 frames, five or six HTTP requests and a gateway dispatch. With uvloop the loop's own
work (selecting, scheduling callbacks, transport reads and writes) costs a fraction of the pure-Python loop's,
measured in `bench/scale.py` (README, "Benchmarks"). discord.py and aiohttp run on it unchanged; Windows, which
uvloop does not support, keeps the standard loop (the dependency is not installed there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

try:
    import uvloop
except ImportError:  # Windows, or a checkout installed without it
    uvloop = None  # type: ignore[assignment]

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    return None if uvloop is None else uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)

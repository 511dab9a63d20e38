"""The delivery stage's first half: a finished prompt's result files fetched from its server, each within the
per-file cap and all within the per-job cap, under safe names, and all within a time (a server that streams just
above the minimum rate and never ends is given up), unless the member cancels first. The backend's slot is already
free by then."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from bot.comfy.errors import ComfyError
from bot.comfy.events import FileRef
from bot.i18n import Text

from .events import ResultFile
from .ports import Backend


async def fetch_results(
    backend: Backend,
    refs: Sequence[FileRef],
    stem: str,
    *,
    max_file_bytes: int,
    max_job_bytes: int,
    texts: bool = False,
) -> tuple[ResultFile, ...] | Text:
    """The files, or why they cannot be shown (a Text for the member). No file is a result too when the
    workflow's results are `texts` only."""
    fetched: list[ResultFile] = []
    total = 0
    try:
        for index, ref in enumerate(refs, start=1):
            data = await backend.fetch(ref, max_bytes=max_file_bytes)
            total += len(data)
            if total > max_job_bytes:
                limit = f"{max_job_bytes / 2**20:.0f} MiB" if max_job_bytes >= 2**20 else f"{max_job_bytes:,} bytes"
                return Text("failed.too_much", limit=limit)
            fetched.append(ResultFile(ref.safe_name(f"{stem}-{index}"), data))
    except ComfyError as exc:
        return Text("failed.fetch", error=str(exc))
    return tuple(fetched) if fetched or texts else Text("failed.no_image")


T = TypeVar("T")


class Stopped(Exception):
    """The member cancelled the job while its results were being fetched."""


async def within(work: Awaitable[T], stop: asyncio.Event, seconds: float) -> T:
    """`work`'s result; `TimeoutError` past `seconds`, `Stopped` once `stop` is set (the work is then
    cancelled, and awaited, either way)."""
    task, stopped = asyncio.ensure_future(work), asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({task, stopped}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stopped):
            pending.cancel()
        await asyncio.gather(task, stopped, return_exceptions=True)
    if task in done:
        return task.result()
    raise Stopped if stopped in done else TimeoutError

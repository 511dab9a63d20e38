"""The delivery stage's first half: a finished prompt's result files fetched from its server, each within the
per-file cap and all within the per-job cap, under safe names. The backend's slot is already free by then."""

from __future__ import annotations

from collections.abc import Sequence

from bot.comfy.errors import ComfyError
from bot.comfy.events import FileRef
from bot.i18n import Text

from .events import ResultImage
from .ports import Backend


async def fetch_results(
    backend: Backend,
    refs: Sequence[FileRef],
    stem: str,
    *,
    max_file_bytes: int,
    max_job_bytes: int,
    texts: bool = False,
) -> tuple[ResultImage, ...] | Text:
    """The files, or why they cannot be shown (a Text for the member). No file is a result too when the
    workflow's results are `texts` only."""
    fetched: list[ResultImage] = []
    total = 0
    try:
        for index, ref in enumerate(refs, start=1):
            data = await backend.fetch(ref, max_bytes=max_file_bytes)
            total += len(data)
            if total > max_job_bytes:
                limit = f"{max_job_bytes / 2**20:.0f} MiB" if max_job_bytes >= 2**20 else f"{max_job_bytes:,} bytes"
                return Text("failed.too_much", limit=limit)
            fetched.append(ResultImage(ref.safe_name(f"{stem}-{index}"), data))
    except ComfyError as exc:
        return Text("failed.fetch", error=str(exc))
    return tuple(fetched) if fetched or texts else Text("failed.no_image")

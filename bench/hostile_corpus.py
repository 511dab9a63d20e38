"""What each hostile file costs the bot: the generated corpus of workflows (`tests/hostile_workflows.py`) and of
media (`tests/hostile_media.py`), each handled in a fresh process of its own, printing how long it took, the
longest the event loop stalled meanwhile, the bot process's peak RSS (what Python and the bot's modules take at
rest is ~100 MiB of it), and the outcome. Then how long another member's image waits behind six slow files of two
members.

Baseline beside each figure, in the same run: the same work done the way the bot did it before this change (a
workflow read with `TemplateLibrary.reload()` on the event loop; a file decoded with `asyncio.to_thread` in the
bot's own process), then the way it does it now (`TemplateLibrary.refresh()` in a worker thread; the media pool's
worker processes, capped at `LIMITS__MEDIA_MEMORY` and `LIMITS__MEDIA_SECONDS`). The algorithms are the current
ones in both columns: what the old ones cost is in the issue ("32 s", "never finishes", "4.7 GiB").

    .venv/bin/python -m bench.hostile_corpus
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
from typing import Any

from bot.jobs.admission import ATTACHMENT_SECONDS
from bot.media.attachments import still_image
from bot.media.pool import MediaPool
from bot.settings import LimitSettings
from tests import hostile_media
from tests.hostile_workflows import CASES, timed

WITHIN = 60.0  # seconds a case may take before it is reported as not finishing
LIMITS = LimitSettings()


def _one_media(name: str, pooled: bool) -> dict[str, Any]:
    make, kind, filename, _ = hostile_media.CASES[name]
    call, kwargs = hostile_media.call(kind, make(), filename)

    async def run() -> tuple[Any, float, float]:
        if not pooled:
            return await timed(lambda: asyncio.to_thread(*call, **kwargs))
        pool = MediaPool(1, LIMITS.media_memory)
        try:
            await pool.run(0, 30, len, b"")  # the worker started, as in a running bot
            return await timed(lambda: pool.run(1, LIMITS.media_seconds, *call, **kwargs))
        finally:
            await pool.close()

    found, took, stall = asyncio.run(run())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"took": took, "stall": stall, "rss_mib": rss, "outcome": hostile_media.outcome(found)}


def _behind_six(pooled: bool) -> dict[str, Any]:
    """Members 1 and 2 attach three slow files each (4000x4000 images: about a second each to re-encode), then
    member 3 a plain image: how long member 3's image takes, in asyncio's shared threads as before, or in the
    media pool."""
    slow, plain = hostile_media.plain_png(4000), hostile_media.plain_png()
    limit = LIMITS.attachment_max_pixels

    async def run() -> tuple[Any, float, float]:
        pool = MediaPool(LIMITS.media_workers, LIMITS.media_memory)

        async def decode(member: int, data: bytes) -> Any:
            if pooled:
                return await pool.run(member, 15, still_image, data, "file.png", max_pixels=limit)
            return await asyncio.to_thread(still_image, data, "file.png", max_pixels=limit)

        try:
            if pooled:
                await asyncio.gather(*(pool.run(m, 30, len, b"") for m in (0, 0)))  # workers started
            others = [asyncio.create_task(decode(member, slow)) for member in (1, 2) for _ in range(3)]
            await asyncio.sleep(0.1)
            found = await timed(lambda: decode(3, plain))
            await asyncio.gather(*others, return_exceptions=True)
            return found
        finally:
            await pool.close()

    found, took, stall = asyncio.run(run())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"took": took, "stall": stall, "rss_mib": rss, "outcome": hostile_media.outcome(found)}


def _measure(argv: list[str]) -> dict[str, Any]:
    kind, name, mode = argv
    if kind == "media":
        return _one_media(name, mode == "now")
    if kind == "fairness":
        return _behind_six(mode == "now")
    out = subprocess.run(
        [sys.executable, "-m", "tests.hostile_workflows", name, *(["--on-loop"] if mode == "before" else [])],
        capture_output=True,
        text=True,
        timeout=WITHIN,
        check=True,
    )
    found: dict[str, Any] = json.loads(out.stdout)
    found["outcome"] = "loaded" if found["loaded"] else f"refused: {found['error'].split(': ', 1)[-1][:60]}"
    return found


def _case(kind: str, name: str, mode: str) -> dict[str, Any] | None:
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench.hostile_corpus", "--one", kind, name, mode],
            capture_output=True,
            text=True,
            timeout=WITHIN + 10,
            check=True,
        )
    except (subprocess.TimeoutExpired, subprocess.CalledProcessError):
        return None
    found: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    return found


def main() -> None:
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(_measure(sys.argv[2:])))
        return
    print("case                                        took (s)   loop stall (s)   peak RSS MiB    outcome")
    print("                                          before   now   before   now    before   now")
    rows = [("workflow", name) for name, _, _ in CASES] + [("media", name) for name in hostile_media.CASES]
    rows.append(("fairness", "another member's image behind 6 slow files"))
    for kind, name in rows:
        before, now = _case(kind, name, "before"), _case(kind, name, "now")
        if before is None or now is None:
            print(f"{name:40} did not finish within {WITHIN:g} s")
            continue
        print(
            f"{name:40} {before['took']:6.2f} {now['took']:6.2f}   {before['stall']:6.3f} {now['stall']:6.3f}"
            f"   {before['rss_mib']:6.0f} {now['rss_mib']:6.0f}   {now['outcome']}"
        )
    print(
        f"bounds: workflow files 8 MiB, 5,000 nodes (subgraphs expanded), 64 levels of JSON, 32 of subgraphs; media "
        f"workers {LIMITS.media_workers} x {LIMITS.media_memory // 2**20} MiB, {LIMITS.media_seconds:g} s a result, "
        f"{ATTACHMENT_SECONDS:g} s an attachment, a member holding at most {max(1, LIMITS.media_workers - 1)}; "
        f"animations 2**27 pixels x frames; sound and video decoded to 1.25 x their declared length + 2 s"
    )


if __name__ == "__main__":
    main()

"""Nothing slow stands between a member and Discord's 3 seconds: not a large result being fitted under the upload
limit (CPU work runs off the event loop), not a Vary or Upscale's download of the result image (the press is
acknowledged first)."""

from __future__ import annotations

import asyncio
import logging
import time

from tests.discord_helpers import button, final, imagine
from tests.fakes.discord_api import USER_ID
from tests.stack import Stack


class LoopWatch:
    """The longest the event loop (the bot's and the fakes': one loop in these tests) went without running a
    task: while it is blocked, no interaction can be acknowledged. A measurement, not a synchronisation."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            self.longest, last = max(self.longest, now - last), now

    def __enter__(self) -> LoopWatch:
        self._task = asyncio.create_task(self._watch())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def test_another_member_is_acknowledged_while_a_large_result_is_fitted(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.output_side, comfy.output_noise = 1024, True  # 3 MiB of noise: seconds of re-encoding to fit 100 KB
    discord.upload_limit, discord.ack_deadline = 100_000, 1.0
    fetched = asyncio.Event()
    comfy.fail_next("GET", "/view", "gated", gate=fetched)
    async with stack.start():
        large = await imagine(discord, "noise")
        await comfy.until(lambda: any(path == "/view" for _, path, _ in comfy.requests))
        with LoopWatch() as watch:
            fetched.set()  # the result arrives; fitting it (seconds of CPU) begins
            other = await imagine(discord, "a fox", user=USER_ID + 1)
            await discord.until(lambda: other.callback_type is not None or bool(other.refused))
            await discord.until(final(discord, large), within=60)
    assert other.callback_type == 5 and not other.refused
    assert watch.longest < discord.ack_deadline, f"the event loop was blocked for {watch.longest:.1f} s"
    assert len(discord.original(large).files[0].data) <= 100_000


async def test_vary_is_acknowledged_before_the_result_image_is_downloaded(stack: Stack) -> None:
    discord = stack.discord
    async with stack.start():
        asked = await imagine(discord, "a fox")
        await discord.until(final(discord, asked))
        result = discord.original(asked)
        discord.attachment_delay = 2.0  # the CDN is slow today
        discord.ack_deadline = 1.0
        vary = await discord.click(result, button(result, "vary", 1))
        await discord.until(final(discord, vary), within=30)
    assert vary.callback_type == 5 and not vary.refused
    assert discord.original(vary).embeds[0]["title"] == "Done"


async def test_results_finished_while_the_bot_was_down_are_delivered_once_with_discord_far_away(
    stack: Stack,
) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.hold()
    async with stack.start():
        first = await imagine(discord, "first while down")
        second = await imagine(discord, "second while down", user=USER_ID + 1)
        await comfy.until(lambda: comfy.running is not None and len(comfy.pending) == 1)
    comfy.release()  # both finish while no bot runs
    await comfy.until(lambda: len(comfy.history) == 2 and comfy.running is None)
    discord.latency = 0.05  # from now on Discord is 50 ms away (±50 %)
    async with stack.start() as app:
        await discord.until(lambda: all(final(discord, i)() for i in (first, second)), within=60)
        await app.engine.wait_idle()
    for asked in (first, second):
        shown = [r for r in discord.requests if asked.token in r.path and r.files and r.status == 200]
        assert len(shown) == 1 and discord.original(asked).embeds[0]["title"] == "Done"


async def test_after_an_outage_the_job_runs_as_soon_as_comfyui_answers_not_after_the_backoff(stack: Stack) -> None:
    """The outage lasts until the socket's backoff has grown past 4 s (it starts at 0.05 s here: the same doubling
    as in production, quicker); ComfyUI then answers again, and the job must not wait out that backoff."""
    comfy, discord = stack.comfys[0], stack.discord
    long_backoff = asyncio.Event()

    class Backoffs(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "WebSocket connect failed" in record.msg and record.args and float(record.args[-1]) >= 4.0:  # type: ignore[arg-type, index]
                long_backoff.set()

    watcher = Backoffs()
    logging.getLogger("bot.comfy.stream").addHandler(watcher)
    try:
        async with stack.start(health_interval=0.5, comfy_settings={"reconnect_delay": 0.05}) as app:
            await comfy.stop()
            await asyncio.wait_for(long_backoff.wait(), 30)  # the outage: until the next try is 4 s or more away
            await comfy.start()  # the same address again
            back = time.monotonic()
            asked = await imagine(discord, "after the outage")
            await discord.until(final(discord, asked), within=40)
            took = time.monotonic() - back
            await app.engine.wait_idle()
    finally:
        logging.getLogger("bot.comfy.stream").removeHandler(watcher)
    assert discord.original(asked).embeds[0]["title"] == "Done"
    assert took < 3.0, f"delivered {took:.1f} s after ComfyUI answered again"  # the health interval bounds it

"""The GPU never waits for Discord: a backend's place goes to the next job as soon as ComfyUI reports a prompt
done; fetching and showing its result is a stage of its own. Measured in the fake ComfyUI's own timestamps."""

from __future__ import annotations

import itertools

from bot.jobs.model import JobState
from bot.settings import LimitSettings
from tests.discord_helpers import done, final, imagine
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.discord_api import USER_ID
from tests.fakes.discord_payloads import Request
from tests.stack import Stack

SERVER_GAP = 0.15  # seconds between one prompt's end and the next one's start that is ComfyUI's, not ours


def title_of(request: Request) -> str | None:
    embeds = (request.json or {}).get("embeds") or [{}]
    title = embeds[0].get("title")
    return title if isinstance(title, str) else None


def idle_gaps(comfy: FakeComfy) -> list[float]:
    """Between each prompt's end and the next one's start, in the order the server ran them."""
    ran = sorted(comfy.started_at, key=comfy.started_at.__getitem__)
    return [comfy.started_at[b] - comfy.finished_at[a] for a, b in itertools.pairwise(ran)]


async def test_back_to_back_jobs_to_one_channel_keep_comfyui_busy(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.step_delay = 0.05  # 20 steps: one-second jobs
    real_budget = {"bucket_window": 5.0, "edit_interval": 1.5}  # production's: 4 edits per 5 s in a channel
    async with stack.start(limits=LimitSettings(jobs_per_user=3, running_per_user=2), **real_budget) as app:
        asked = [await imagine(discord, f"fox {n}", user=USER_ID + n % 2) for n in range(6)]  # Discord 20-60 ms away
        await discord.until(done(discord, *asked), within=60)
        await app.engine.wait_idle()
    gaps = idle_gaps(comfy)
    assert len(gaps) == 5 and max(gaps) < SERVER_GAP, [f"{g:.2f}" for g in gaps]
    assert all(discord.original(i).embeds[0]["title"] == "Done" for i in asked)


async def test_a_discord_outage_during_delivery_leaves_the_gpu_working(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.step_delay = 0.02
    async with stack.start(limits=LimitSettings(jobs_per_user=4, running_per_user=2)) as app:
        asked = [await imagine(discord, f"fox {n}") for n in range(4)]
        await discord.until(lambda: all(i.message_id for i in asked))
        await comfy.until(lambda: bool(comfy.finished_at), within=30)
        discord.faults.extend([503] * 10_000)  # Discord fails every request until every job has run
        await comfy.until(lambda: len(comfy.finished_at) == 4, within=30)
        outage_over = discord.requests[-1].at
        discord.faults.clear()
        await discord.until(done(discord, *asked), within=45)
        await app.engine.wait_idle()
    assert discord.faulted[503] > 0  # the outage was met: results were refused while the GPU ran
    shown = [r.at for r in discord.requests if r.status == 200 and r.files and title_of(r) == "Done"]
    assert max(comfy.finished_at.values()) < min(shown) and outage_over < min(shown)
    assert max(idle_gaps(comfy)) < SERVER_GAP
    assert all(discord.original(i).embeds[0]["title"] == "Done" for i in asked)


async def test_a_restart_while_a_result_is_being_shown_delivers_it_once(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start() as app:
        asked = await imagine(discord, "a fox")
        await discord.until(lambda: asked.message_id is not None)
        discord.faults.extend([503] * 50)  # Discord refuses the result for as long as this bot runs
        await discord.until(lambda: any(j.state is JobState.DELIVERING for j in app.engine.active.values()), within=30)
        await comfy.until(lambda: len(comfy.history) == 1)  # ComfyUI is done; only showing it is left
    assert not [r for r in discord.requests if asked.token in r.path and r.files and r.status == 200]
    discord.faults.clear()
    async with stack.start() as app:  # taken up again: DELIVERING was written before the slot was freed
        await discord.until(final(discord, asked), within=60)
        await app.engine.wait_idle()
    shown = [r for r in discord.requests if asked.token in r.path and r.files and r.status == 200]
    assert len(shown) == 1 and discord.original(asked).embeds[0]["title"] == "Done"
    assert len(comfy.history) == 1  # not run again

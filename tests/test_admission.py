"""Admission is atomic: a member's cap and the queue's limit are checked and reserved in one step, so a burst of
simultaneous requests (with Discord tens of milliseconds away) admits exactly what the limits allow."""

from __future__ import annotations

import asyncio

from bot.settings import LimitSettings
from tests.discord_helpers import imagine
from tests.fakes.discord_api import USER_ID, FakeDiscord, Interaction
from tests.stack import Stack


def settled(discord: FakeDiscord, asked: Interaction) -> bool:
    """Accepted (its message shows the queue) or refused (its message says why)."""
    message = discord.messages.get(asked.message_id or 0)
    return message is not None and bool(message.embeds or message.content)


async def burst(discord: FakeDiscord, users: list[int]) -> list[Interaction]:
    asked = await asyncio.gather(*(imagine(discord, f"burst {n}", user=user) for n, user in enumerate(users)))
    await discord.until(lambda: all(settled(discord, a) for a in asked), within=30)
    return list(asked)


async def test_a_burst_from_one_member_admits_exactly_their_cap(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    discord.latency, discord.jitter = 0.03, 0.0  # all arrive together, and all their acknowledgements too
    comfy.hold()
    async with stack.start(limits=LimitSettings(jobs_per_user=3)) as app:
        asked = await burst(discord, [USER_ID] * 10)
        accepted = [a for a in asked if discord.original(a).embeds]
        refused = [a for a in asked if discord.original(a).content.startswith("⚠️ You already have 3 jobs")]
        assert len(app.engine.jobs_of(USER_ID)) == 3
        comfy.release()
    assert len(accepted) == 3 and len(refused) == 7


async def test_a_burst_past_the_queue_limit_admits_exactly_the_limit(stack: Stack) -> None:
    discord = stack.discord
    discord.latency = 0.03
    async with stack.start(limits=LimitSettings(queue_max=4)) as app:
        app.pool.pause("gpu1")  # nothing leaves the queue meanwhile
        asked = await burst(discord, [USER_ID + n for n in range(7)])
        queued = len(app.engine.scheduler)
        refused = [a for a in asked if discord.original(a).content.startswith("⚠️ The queue is full")]
        app.pool.resume("gpu1")
        await app.engine.wait_idle()
    assert queued == 4 and len(refused) == 3

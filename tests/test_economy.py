"""A fair GPU economy, through Discord (latency on): turns counted in GPU time across members and servers, role
weights, budgets with their reset, relax against refuse, and `/usage` for a member and an admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.settings import LimitSettings
from tests.discord_helpers import answer, ask, deliver, final, imagine, set_option
from tests.fakes.discord_api import FakeDiscord, Interaction
from tests.fakes.discord_payloads import GUILD_ID, HELPER_ROLE_ID, OTHER_CHANNEL_ID, OTHER_GUILD_ID
from tests.stack import Stack

MANAGE_GUILD = {"permissions": str(1 << 5)}
ELSEWHERE: dict[str, Any] = {"guild_id": OTHER_GUILD_ID, "channel_id": OTHER_CHANNEL_ID}
SLOW, QUICK = "--steps 20", "--steps 2"  # 1 s and 0.1 s of sampling on the fake (a video, an image)
VIDEO_MAKER, IMAGE_MAKER = 301, 302


def queued(discord: FakeDiscord, *asked: Interaction) -> Callable[[], bool]:
    """Each job's message is there (the job was accepted)."""
    return lambda: all(i.message_id in discord.messages and discord.original(i).embeds for i in asked)


async def all_final(discord: FakeDiscord, asked: list[Interaction]) -> None:
    for interaction in asked:
        await discord.until(final(discord, interaction), within=60)


async def learn_costs(discord: FakeDiscord) -> None:
    """One job of each template, so the bot has measured what each costs."""
    await deliver(discord, f"warm slow {SLOW}", user=900)
    await deliver(discord, f"warm quick {QUICK}", user=901, template="quick")


@pytest.mark.parametrize("where", ["one server", "two servers"])
@pytest.mark.parametrize("by_gpu_time", [True, False])
async def test_a_member_of_slow_jobs_waits_for_quick_ones_by_gpu_time(
    stack: Stack, where: str, by_gpu_time: bool
) -> None:
    """A member making 1 s jobs asks for three, then one making 0.1 s jobs asks for three, on one ComfyUI: by GPU
    time, the quick member's three run after the first slow one, before the slow member's next (turns per job,
    as before, alternate them), between two members of a server and between two servers alike."""
    comfy, discord = stack.comfys[0], stack.discord
    comfy.step_delay = 0.05
    other = ELSEWHERE if where == "two servers" else {}
    async with stack.start(limits=LimitSettings(fair_by_gpu_time=by_gpu_time)) as app:
        await learn_costs(discord)
        slow = [await imagine(discord, f"slow {n} {SLOW}", user=VIDEO_MAKER) for n in range(3)]
        await discord.until(queued(discord, *slow))
        quick = [
            await imagine(discord, f"quick {n} {QUICK}", user=IMAGE_MAKER, template="quick", **other) for n in range(3)
        ]
        await all_final(discord, slow + quick)
        await app.engine.wait_idle()
    ran = [prompt.split()[0] for prompt in stack.ran(comfy) if not prompt.startswith("warm")]
    if by_gpu_time:
        assert ran == ["slow", "quick", "quick", "quick", "slow", "slow"]
    else:
        assert ran == ["slow", "quick", "slow", "quick", "slow", "quick"]


async def places(discord: FakeDiscord, user: int, **who: Any) -> list[str]:
    """The places `/queue` shows the member for their queued jobs ("#2"), in their order."""
    asked = await ask(discord, "queue", user_id=user, **who)
    embed = discord.messages[asked.message_id or 0].embeds[0]
    mine = next(f["value"] for f in embed["fields"] if f["name"] == "Your jobs").splitlines()
    return [line.split("#")[1].split(",")[0] for line in mine if "#" in line]


@pytest.mark.parametrize("weighted", [True, False])
async def test_a_roles_weight_gives_its_members_more_turns(stack: Stack, weighted: bool) -> None:
    """An admin gives a role weight 2 (`/config set role_weights`): its member's next two jobs both go before the
    other member's next (without the weight, they take turns)."""
    comfy, discord = stack.comfys[0], stack.discord
    booster = {"roles": [str(HELPER_ROLE_ID)]}
    comfy.hold()
    async with stack.start(limits=LimitSettings(jobs_per_user=4)):
        if weighted:
            saved = await set_option(discord, "config", "role_weights", f"<@&{HELPER_ROLE_ID}>=2", member=MANAGE_GUILD)
            assert f"role_weights: <@&{HELPER_ROLE_ID}>: 2" in await answer(discord, saved)
        mine = [await imagine(discord, f"boost {n}", user=VIDEO_MAKER, member=booster) for n in range(3)]
        await discord.until(queued(discord, *mine))
        theirs = [await imagine(discord, f"plain {n}", user=IMAGE_MAKER) for n in range(3)]
        await discord.until(queued(discord, *theirs))
        shown = await places(discord, VIDEO_MAKER, member=booster)
        comfy.release()
        await all_final(discord, mine + theirs)
    assert shown == (["1", "2"] if weighted else ["1", "3"])


async def test_past_a_refusing_budget_a_member_is_told_when_it_resets_and_may_ask_again_after(stack: Stack) -> None:
    """A daily budget of 0.001 GPU minutes, refusing past it: the member's first job runs; their next is refused
    with when the budget resets (as Discord shows a time), in their language; the next day it runs."""
    comfy, discord = stack.comfys[0], stack.discord
    comfy.step_delay = 0.05
    async with stack.start() as app:
        await set_option(discord, "config", "daily_budget", "0.001", member=MANAGE_GUILD)
        saved = await set_option(discord, "config", "over_budget", "refuse", member=MANAGE_GUILD)
        assert "over_budget: refuse" in await answer(discord, saved)
        await deliver(discord, f"first {QUICK}", user=VIDEO_MAKER)
        refused = await imagine(discord, f"second {QUICK}", user=VIDEO_MAKER)
        told = await answer(discord, refused)
        chinese = await answer(discord, await imagine(discord, f"二 {QUICK}", user=VIDEO_MAKER, locale="zh-CN"))
        other = await deliver(discord, f"theirs {QUICK}", user=IMAGE_MAKER)  # another member: under budget
        budgets = app.engine.budgets
        today = budgets.clock
        budgets.clock = lambda: today() + 86400  # the next day
        _, next_day = await deliver(discord, f"next day {QUICK}", user=VIDEO_MAKER)
    assert told.startswith("⚠️ You have used your GPU time on this server; it resets <t:")
    assert ":R>" in told and len(told) <= 2000
    assert "你在本服务器的 GPU 时间已用完" in chinese
    assert other[1].embeds[0]["title"] == "Done" and next_day.embeds[0]["title"] == "Done"
    assert [p for p in stack.ran(comfy) if "second" in p or "二" in p] == []


@pytest.mark.parametrize("budget", [True, False])
async def test_past_a_relaxing_budget_a_members_job_waits_for_an_idle_gpu(stack: Stack, budget: bool) -> None:
    """Relax (the default past a budget): the member past it may still ask, but their job waits until the GPU
    would otherwise be idle: a member under budget who asks after them goes first, delayed only by the job that
    was running. Without the budget the first to ask goes first."""
    comfy, discord = stack.comfys[0], stack.discord
    comfy.step_delay = 0.02
    async with stack.start() as app:
        await deliver(discord, f"spent {QUICK}", user=VIDEO_MAKER)  # before any budget: 0.04 s and more
        if budget:
            await set_option(discord, "config", "daily_budget", "0.0001", member=MANAGE_GUILD)
        comfy.hold()
        running = await imagine(discord, f"running {QUICK}", user=900)
        await discord.until(lambda: comfy.running is not None)
        relaxed = await imagine(discord, f"relaxed {QUICK}", user=VIDEO_MAKER)
        await discord.until(queued(discord, relaxed))
        under = await imagine(discord, f"under {QUICK}", user=IMAGE_MAKER)
        await discord.until(queued(discord, under))
        comfy.release()
        await all_final(discord, [running, relaxed, under])
        assert app.engine.scheduler.relaxed == 0
    ran = [p.split()[0] for p in stack.ran(comfy)]
    assert ran == ["spent", "running", *(["under", "relaxed"] if budget else ["relaxed", "under"])]


async def test_usage_shows_a_member_their_time_and_an_admin_every_member_in_both_languages(stack: Stack) -> None:
    """`/usage`: a member sees their GPU time today and this week, the budgets and their tier; an admin sees the
    server's members, the most first, twenty of them and how many more, within Discord's limits; in Chinese
    for a member using Discord in Chinese. It holds across a restart (the store)."""
    discord = stack.discord
    async with stack.start() as app:
        await set_option(discord, "config", "weekly_budget", "600", member=MANAGE_GUILD)
        await set_option(discord, "config", "role_weights", f"<@&{HELPER_ROLE_ID}>=2", member=MANAGE_GUILD)
        await deliver(discord, f"mine {QUICK}", user=VIDEO_MAKER)
        used = app.engine.budgets.usage(GUILD_ID, VIDEO_MAKER)
        for n in range(30):  # thirty members of the server have used GPU time this week
            app.engine.budgets.used(GUILD_ID, 5000 + n, 60.0 * (n + 1))
        member = await ask(discord, "usage", user_id=VIDEO_MAKER, member={"roles": [str(HELPER_ROLE_ID)]})
        admin = await ask(discord, "usage", user_id=IMAGE_MAKER, member=MANAGE_GUILD, locale="zh-CN")
    async with stack.start() as app:
        after_restart = app.engine.budgets.usage(GUILD_ID, VIDEO_MAKER)
    mine = discord.messages[member.message_id or 0].embeds[0]
    assert mine["title"] == "GPU time"
    assert f"Today: {used.today:.1f} s (budget: none)" in mine["description"]
    assert "This week:" in mine["description"] and "(budget: 600.0 min)" in mine["description"]
    assert f"Your share: \u00d72 (<@&{HELPER_ROLE_ID}>)" in mine["description"]
    assert "Members this week" not in mine["description"]
    listing = discord.messages[admin.message_id or 0].embeds[0]
    assert listing["title"] == "GPU 时间" and "本周的成员" in listing["description"]
    lines = listing["description"].splitlines()
    assert lines[lines.index("**本周的成员**") + 1] == "<@5029>\uff1a本周 30.0 分钟\uff0c今天 30.0 分钟"
    assert sum(line.startswith("<@50") for line in lines) == 20 and "……还有 11 位。" in lines
    assert len(listing["description"]) <= 4096
    assert used.today > 0 and after_restart.today == pytest.approx(used.today)

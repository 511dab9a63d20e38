"""Two bot processes sharing one bot on one PostgreSQL: each connects one of its two gateway shards, and Discord
sends each server's events to its shard only. The holder of the dispatcher lease runs every job; the other
relays what its members do. A member's burst across both admits exactly the cap, each job runs once on ComfyUI,
a result's buttons and reactions work through either process, a reroll's cooldown holds across both, and when
the holder dies the other takes the lease and delivers the prompt in flight once."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from bot.jobs.store.lease import LOCK_KEY
from tests.discord_helpers import answer, button, done_edits, final, option
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.discord_api import CHANNEL_ID, MODERATOR_ROLE_ID, USER_ID, FakeDiscord, Interaction
from tests.processes import BotProcess, stopped
from tests.stack import process_environment, shipped_comfy, with_workflows

SHARD_GUILD_ID = (1 << 22) | 2000  # (id >> 22) % 2 == 1: on shard 1 of 2 (topics/gateway#sharding)
SHARD_CHANNEL_ID = 3200
TAKEOVER_BOUND = 10.0
ADMIN = {"permissions": "32"}  # Manage Server


async def two_shards(
    tmp_path: Path, postgres_url: str, **settings: str
) -> tuple[FakeComfy, FakeDiscord, dict[str, str]]:
    comfy = await shipped_comfy()
    discord = FakeDiscord(window=1.0, latency=0.02)
    discord.add_guild(SHARD_GUILD_ID, SHARD_CHANNEL_ID)
    await discord.start()
    env = process_environment(
        with_workflows(tmp_path),
        [comfy],
        discord,
        DATABASE__URL=postgres_url,
        DATABASE__LEASE_RETRY="0.5",
        DISCORD__SHARD_COUNT="2",
        LOGGING__LEVEL="INFO",
        **settings,
    )
    return comfy, discord, env


async def holder_and_relay(env: dict[str, str], discord: FakeDiscord) -> tuple[BotProcess, BotProcess]:
    holder = await BotProcess.start(env | {"DISCORD__SHARD_IDS": "0"})
    await holder.saw(") holds the dispatcher lease")
    relay = await BotProcess.start(env | {"DISCORD__SHARD_IDS": "1"})
    await relay.saw("relaying to it")
    await discord.until(lambda: {tuple(ws["shard"]) for ws in discord.gateways} == {(0, 2), (1, 2)}, within=30)
    return holder, relay


async def imagine_in(discord: FakeDiscord, channel_id: int, prompt: str, **who: Any) -> Interaction:
    return await discord.interact("imagine", [option("prompt", prompt)], channel_id=channel_id, **who)


def prompts_run(comfy: FakeComfy) -> int:
    return len([path for _, path, _ in comfy.requests if path == "/prompt"])


async def test_a_burst_across_two_processes_admits_exactly_the_cap_and_buttons_work_through_either(
    tmp_path: Path, postgres_url: str
) -> None:
    comfy, discord, env = await two_shards(
        tmp_path, postgres_url, LIMITS__JOBS_PER_USER="3", DISCORD__MODERATOR_ROLE_IDS=str(MODERATOR_ROLE_ID)
    )
    processes: list[BotProcess] = []
    try:
        processes.extend(await holder_and_relay(env, discord))
        database = await asyncpg.connect(postgres_url)  # what `check` lists: each process and its part
        roles = sorted(r["role"] for r in await database.fetch("SELECT role FROM bot_processes"))
        await database.close()
        assert roles == ["holder", "relaying shard(s) 1"]
        comfy.hold()
        channels = [CHANNEL_ID, SHARD_CHANNEL_ID] * 4  # one member, in a server on each shard, all at once
        asked = await asyncio.gather(*(imagine_in(discord, c, f"a fox {n}") for n, c in enumerate(channels)))
        said = [await answer(discord, a) for a in asked]
        accepted = [a for a in asked if discord.original(a).embeds]
        refused = [s for s in said if s.startswith("⚠️ You already have 3 jobs")]
        assert len(accepted) == 3 and len(refused) == 5, said
        assert not [r for r in discord.requests if r.code == 10062]  # every member answered in time
        comfy.release()
        await discord.until(lambda: all(final(discord, a)() for a in accepted), within=60)
        assert prompts_run(comfy) == 3  # each accepted job ran once
        assert all(len(done_edits(discord, a)) == 1 for a in accepted)

        # a result in the relaying process's server: its buttons are relayed to the holder, and work
        there = await imagine_in(discord, SHARD_CHANNEL_ID, "an owl on shard one")
        await discord.until(final(discord, there), within=60)
        result = discord.original(there)
        assert result.guild_id == SHARD_GUILD_ID and result.embeds[0]["title"] == "Done"
        here = discord.original(await _delivered_in(discord, CHANNEL_ID, "a hare on shard zero"))  # the holder's
        # the same member rerolls in both servers at once: the cooldown is one, whichever process got the press
        clicks = await asyncio.gather(
            discord.click(result, button(result, "reroll")),
            discord.click(here, button(here, "reroll")),
        )
        outcomes = [await answer(discord, c) for c in clicks]
        rerolled = [c for c in clicks if discord.original(c).embeds]
        assert len(rerolled) == 1 and sum(o.startswith("⚠️ Please wait") for o in outcomes) == 1, outcomes
        await discord.until(final(discord, rerolled[0]), within=60)

        # a moderator's 🔄 on the relaying process's server: the member's roles travel with the reaction
        before = prompts_run(comfy)
        await discord.react(result, "🔄", user_id=USER_ID + 7, roles=[MODERATOR_ROLE_ID])
        await comfy.until(lambda: prompts_run(comfy) == before + 1, within=30)

        # another moderator's Edit there: the button opens the form, and the form's submission is relayed too
        moderator = {"roles": [str(MODERATOR_ROLE_ID)]}
        edit = await discord.click(result, button(result, "edit"), user_id=USER_ID + 8, member=moderator)
        await discord.until(lambda: edit.callback_type == 9, within=10)  # the modal
        form = edit.callback_data
        inputs = [c["custom_id"] for row in form["components"] for c in row.get("components", [row])]
        submitted = await discord.submit_modal(
            form["custom_id"],
            {inputs[0]: "an owl, edited", inputs[1]: ""},
            user_id=USER_ID + 8,
            message=result,
            member=moderator,  # Discord sends the member's roles with the submission: the door checks them again
        )
        await discord.until(final(discord, submitted), within=60)
        assert discord.original(submitted).embeds[0]["title"] == "Done"
        assert len({ws for ws in comfy.client_ids_seen}) == 1  # one dispatcher, under one client id
    finally:
        await stopped(processes, discord, comfy)


async def _delivered_in(discord: FakeDiscord, channel_id: int, prompt: str) -> Interaction:
    asked = await imagine_in(discord, channel_id, prompt)
    await discord.until(final(discord, asked), within=60)
    return asked


async def test_when_the_holder_is_killed_the_relaying_process_takes_over_and_delivers_its_prompt_once(
    tmp_path: Path, postgres_url: str
) -> None:
    comfy, discord, env = await two_shards(tmp_path, postgres_url)
    processes: list[BotProcess] = []
    try:
        holder, relay = await holder_and_relay(env, discord)
        processes.extend((holder, relay))
        options = [option("option", "banned_words"), option("value", "wolf")]  # a rule, set through the relay
        rule = await discord.interact(
            "config", [{"name": "set", "type": 1, "options": options}], channel_id=SHARD_CHANNEL_ID, member=ADMIN
        )
        await answer(discord, rule)
        comfy.hold()
        asked = await imagine_in(discord, SHARD_CHANNEL_ID, "a fox through a failover")  # relayed, run by the holder
        await comfy.until(lambda: comfy.running is not None, within=30)
        await holder.kill()
        died = time.monotonic()
        await relay.saw(") holds the dispatcher lease", within=TAKEOVER_BOUND)
        took = time.monotonic() - died
        comfy.release()
        await discord.until(final(discord, asked), within=60)
        print(f"takeover after SIGKILL: {took:.2f} s")
        assert took < TAKEOVER_BOUND, took
        assert len(done_edits(discord, asked)) == 1 and discord.original(asked).embeds[0]["title"] == "Done"
        assert prompts_run(comfy) == 1 and len(set(comfy.client_ids_seen)) == 1  # followed again, not rerun
        again = await imagine_in(discord, SHARD_CHANNEL_ID, "and then an owl")  # the new holder handles its own
        await discord.until(final(discord, again), within=60)
        assert discord.original(again).embeds[0]["title"] == "Done"
        # what the first holder wrote holds under the new one: the server's rule, the jobs' order
        refused = await imagine_in(discord, SHARD_CHANNEL_ID, "a grey wolf")
        assert (await answer(discord, refused)).startswith("⚠️ Your prompt has a word this server does not allow")
        rerolled = await discord.click(discord.original(again), button(discord.original(again), "reroll"))
        await discord.until(final(discord, rerolled), within=60)
        assert discord.original(rerolled).embeds[0]["title"] == "Done"
    finally:
        await stopped(processes, discord, comfy)


async def test_an_interaction_no_process_can_take_is_answered_within_discords_deadline(
    tmp_path: Path, postgres_url: str
) -> None:
    comfy, discord, env = await two_shards(tmp_path, postgres_url)
    hung = await asyncpg.connect(postgres_url)  # a holder that takes nothing (the lease held, nobody serving)
    await hung.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
    relay = None
    try:
        relay = await BotProcess.start(env | {"DISCORD__SHARD_IDS": "1"})
        await relay.saw("relaying to it")
        await relay.saw("has connected to Gateway")
        asked = await imagine_in(discord, SHARD_CHANNEL_ID, "a fox nobody runs", locale="zh-CN")
        said = await answer(discord, asked)
        assert said.startswith("⚠️ 机器人正在重启") and discord.original(asked).ephemeral
        assert not [r for r in discord.requests if r.code == 10062] and prompts_run(comfy) == 0
    finally:
        await hung.close()
        await stopped([relay], discord, comfy)


async def test_a_relaying_host_whose_clock_is_behind_the_holders_loses_no_interaction(
    tmp_path: Path, postgres_url: str
) -> None:
    """A relaying process whose wall clock is 3 s behind the holder's used to have every interaction dropped as
    late (0 of 5 answered). Ages are read on the database's clock: all five are answered."""
    behind = tmp_path / "clock"
    behind.mkdir()
    (behind / "sitecustomize.py").write_text(  # this process's host: its wall clock 3 s behind the holder's
        "import time\n_real = time.time\ntime.time = lambda: _real() - 3.0\n"
    )
    comfy, discord, env = await two_shards(tmp_path, postgres_url)
    processes: list[BotProcess] = []
    try:
        holder = await BotProcess.start(env | {"DISCORD__SHARD_IDS": "0"})
        processes.append(holder)
        await holder.saw(") holds the dispatcher lease")
        relay = await BotProcess.start(
            env | {"DISCORD__SHARD_IDS": "1", "PYTHONPATH": f"{behind}{os.pathsep}{env['PYTHONPATH']}"}
        )
        processes.append(relay)
        await relay.saw("relaying to it")
        await discord.until(lambda: len(discord.gateways) == 2, within=30)
        asked = [await imagine_in(discord, SHARD_CHANNEL_ID, f"a fox {n}", user_id=USER_ID + n) for n in range(5)]
        answers = [await answer(discord, one) for one in asked]
    finally:
        await stopped(processes, discord, comfy)
    assert all(not text.startswith("⚠️") for text in answers), answers
    assert not any("dropped" in line for line in relay.lines + holder.lines)


async def test_a_relayed_reaction_is_acted_on_with_what_discord_says_not_what_the_row_claims(
    tmp_path: Path, postgres_url: str
) -> None:
    """A ❌ written into the relay table for a user in no server, claiming the server's moderator role, used to
    cancel another member's job. The holder asks Discord who the member is: not a member, dropped."""
    comfy, discord, env = await two_shards(tmp_path, postgres_url, DISCORD__MODERATOR_ROLE_IDS=str(MODERATOR_ROLE_ID))
    processes: list[BotProcess] = []
    try:
        holder, relay = await holder_and_relay(env, discord)
        processes.extend((holder, relay))
        comfy.hold()
        asked = await imagine_in(discord, SHARD_CHANNEL_ID, "a fox no stranger may stop")
        await comfy.until(lambda: comfy.running is not None, within=30)
        stranger = USER_ID + 99  # in no server
        forged = {
            "user_id": str(stranger),
            "channel_id": str(SHARD_CHANNEL_ID),
            "message_id": str(asked.message_id),
            "guild_id": str(SHARD_GUILD_ID),
            "member": {"user": {"id": str(stranger), "username": "x"}, "roles": [str(MODERATOR_ROLE_ID)]},
            "emoji": {"id": None, "name": "❌"},
            "burst": False,
            "type": 0,
            "guild": {"id": str(SHARD_GUILD_ID), "owner_id": str(stranger), "roles": []},
        }
        database = await asyncpg.connect(postgres_url)
        try:
            await database.execute(
                "WITH r AS (INSERT INTO relayed (event, data, at, sender) VALUES ($1, $2, "
                "extract(epoch FROM clock_timestamp()), 'forger') RETURNING id) "
                "SELECT pg_notify('comfybot_relay', r.id::text) FROM r",
                "MESSAGE_REACTION_ADD",
                json.dumps(forged),
            )
        finally:
            await database.close()
        await holder.saw(f"by user {stranger}, who is not a member of server {SHARD_GUILD_ID}: dropped")
        comfy.release()
        await discord.until(final(discord, asked), within=60)
    finally:
        await stopped(processes, discord, comfy)
    assert discord.original(asked).embeds[0]["title"] == "Done"


async def test_a_members_budget_holds_across_processes_and_a_takeover(tmp_path: Path, postgres_url: str) -> None:
    """A server refusing past a daily budget, set through the relaying process: the member's job (run by the
    holder) spends it; when the holder dies and the relaying process takes over, it reads what was spent from
    PostgreSQL, so the member's next job is refused with when the budget resets, and `/usage` shows the time."""
    comfy, discord, env = await two_shards(tmp_path, postgres_url)
    comfy.step_delay = 0.02
    processes: list[BotProcess] = []
    try:
        holder, relay = await holder_and_relay(env, discord)
        processes.extend((holder, relay))
        for name, value in (("daily_budget", "0.0001"), ("over_budget", "refuse")):
            options = [option("option", name), option("value", value)]
            rule = await discord.interact(
                "config", [{"name": "set", "type": 1, "options": options}], channel_id=SHARD_CHANNEL_ID, member=ADMIN
            )
            await answer(discord, rule)
        spent = await _delivered_in(discord, SHARD_CHANNEL_ID, "a fox --steps 3")
        assert discord.original(spent).embeds[0]["title"] == "Done"
        await holder.kill()
        await relay.saw(") holds the dispatcher lease", within=TAKEOVER_BOUND)
        refused = await imagine_in(discord, SHARD_CHANNEL_ID, "an owl")
        told = await answer(discord, refused)
        usage = await discord.interact("usage", channel_id=SHARD_CHANNEL_ID)
        await discord.until(lambda: usage.message_id in discord.messages)
        shown = discord.original(usage).embeds[0]["description"]
    finally:
        await stopped(processes, discord, comfy)
    assert told.startswith("⚠️ You have used your GPU time on this server; it resets <t:"), told
    assert prompts_run(comfy) == 1
    today = float(shown.split("Today: ")[1].split(" s")[0])
    assert today > 0 and "(budget: 0.0 s)" in shown  # (0.006 s, shown to a tenth)

"""Who may do what (`bot/jobs/access.py`), through the whole stack: a server's admins and moderators act on
that server's jobs only; the ComfyUI servers every server shares belong to the bot's operators; an id that does
not exist and one that is not yours get the same answer."""

from __future__ import annotations

from typing import Any

from bot.settings import LimitSettings
from tests.discord_helpers import answer, done, final, imagine, job_id, option, set_option
from tests.fakes.discord_payloads import (
    HELPER_ROLE_ID,
    MODERATOR_ROLE_ID,
    OTHER_CHANNEL_ID,
    OTHER_GUILD_ID,
    OWNER_ID,
    USER_ID,
)
from tests.stack import Stack

MANAGE_GUILD = {"permissions": str(1 << 5)}
ELSEWHERE: dict[str, Any] = {"guild_id": OTHER_GUILD_ID, "channel_id": OTHER_CHANNEL_ID}
UNKNOWN = "You have no job with that id."


def backend(action: str, name: str = "gpu1") -> list[dict[str, Any]]:
    return [{"name": action, "type": 1, "options": [option("name", name)]}]


async def test_another_servers_admin_cannot_see_cancel_or_clear_jobs_nor_pause_a_backend(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    admin = USER_ID + 50  # Manage Server in their own server, where the bot also is
    comfy.hold()
    async with stack.start():
        running = await imagine(discord, "running here")
        queued = await imagine(discord, "queued here")
        await discord.until(lambda: all(i.message_id and discord.original(i).components for i in (running, queued)))
        queued_id = job_id(discord.original(queued))
        asks = {
            "exact id": await discord.interact(
                "cancel", [option("job", queued_id)], user_id=admin, member=MANAGE_GUILD, **ELSEWHERE
            ),
            "one character": await discord.interact(
                "cancel", [option("job", queued_id[0])], user_id=admin, member=MANAGE_GUILD, **ELSEWHERE
            ),
            "clear": await discord.interact("clearqueue", user_id=admin, member=MANAGE_GUILD, **ELSEWHERE),
            "clear all": await discord.interact(
                "clearqueue", [option("everywhere", True)], user_id=admin, member=MANAGE_GUILD, **ELSEWHERE
            ),
            "pause": await discord.interact(
                "backend", backend("pause"), user_id=admin, member=MANAGE_GUILD, **ELSEWHERE
            ),
            "queue": await discord.interact("queue", user_id=admin, member=MANAGE_GUILD, **ELSEWHERE),
        }
        answers = {name: await answer(discord, asked) for name, asked in asks.items()}
        shown = discord.original(asks["queue"]).embeds[0]
        comfy.release()
        await discord.until(done(discord, running, queued), within=30)
    assert answers["exact id"] == answers["one character"] == UNKNOWN
    assert answers["clear"] == "Cleared 0 queued job(s)."
    assert answers["clear all"] == "⚠️ Only the bot's operators can clear every server's queue."
    assert answers["pause"].startswith("⚠️ Only the bot's operators can pause or resume ComfyUI servers")
    assert "running here" not in str(shown) and "queued here" not in str(shown)
    assert all(discord.original(i).embeds[0]["title"] == "Done" for i in (running, queued))


async def test_a_missing_job_and_someone_elses_get_the_same_answer(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.hold()
    async with stack.start():
        theirs = await imagine(discord, "someone else's", user=USER_ID + 1)
        await discord.until(lambda: theirs.message_id is not None and bool(discord.original(theirs).components))
        their_id = job_id(discord.original(theirs))
        probes = [their_id, their_id[:1], their_id[:8], "ffffffff", "0"]
        answers = [await answer(discord, await discord.interact("cancel", [option("job", p)])) for p in probes]
        comfy.release()
        await discord.until(final(discord, theirs), within=30)
    assert set(answers) == {UNKNOWN}
    assert discord.original(theirs).embeds[0]["title"] == "Done"


async def test_moderator_roles_and_the_servers_admin_roles_cancel_by_command_and_button(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    helper_role = HELPER_ROLE_ID  # made an admin role of this server with /config
    comfy.hold()
    async with stack.start(moderator_role_ids=[MODERATOR_ROLE_ID], limits=LimitSettings(jobs_per_user=5)):
        await set_option(discord, "config", "admin_roles", str(helper_role), member=MANAGE_GUILD)
        jobs = [await imagine(discord, f"job {n}") for n in range(3)]
        await discord.until(lambda: all(i.message_id and discord.original(i).components for i in jobs))
        ids = [job_id(discord.original(i)) for i in jobs]
        moderator = {"roles": [str(MODERATOR_ROLE_ID)]}
        helper = {"roles": [str(helper_role)]}
        by_command = await discord.interact("cancel", [option("job", ids[2])], user_id=USER_ID + 2, member=moderator)
        by_role = await discord.interact("cancel", [option("job", ids[1])], user_id=USER_ID + 3, member=helper)
        answers = [await answer(discord, by_command), await answer(discord, by_role)]
        await discord.click(discord.original(jobs[0]), f"job:cancel:{ids[0]}", user_id=USER_ID + 2, member=moderator)
        comfy.release()
        await discord.until(done(discord, *jobs), within=30)
    assert answers == ["Cancelled; it had not started.", "Cancelled; it had not started."]
    assert all(discord.original(i).content.startswith("🚫") for i in jobs[1:]), [
        discord.original(i).content for i in jobs
    ]
    assert discord.original(jobs[0]).content.startswith("🚫")


async def test_the_applications_owner_and_configured_operators_pause_backends_and_a_server_admin_cannot(
    stack: Stack,
) -> None:
    discord = stack.discord
    operator = USER_ID + 60
    async with stack.start(operator_ids=[operator]):
        asked = {
            "owner": await discord.interact("backend", backend("pause"), user_id=OWNER_ID),
            "operator": await discord.interact("backend", backend("resume"), user_id=operator),
            "admin": await discord.interact("backend", backend("pause"), user_id=USER_ID, member=MANAGE_GUILD),
        }
        answers = {who: await answer(discord, interaction) for who, interaction in asked.items()}
    assert answers["owner"].startswith("gpu1 is paused")
    assert answers["operator"] == "gpu1 takes jobs again."
    assert answers["admin"].startswith("⚠️ Only the bot's operators")

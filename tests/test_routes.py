"""Each Discord route has its own rules, and no result is lost to one: private batches, deleting a private
result, upload limits by route, closed direct messages, missing permissions, a member's privacy now, pings."""

from __future__ import annotations

from bot.settings import LimitSettings
from tests.discord_helpers import ask, button, final, imagine, set_option, wait_until_older_than
from tests.fakes.discord_api import CHANNEL_ID, DM_CHANNEL_ID, USER_ID, FakeDiscord, Interaction, Message
from tests.fakes.discord_payloads import ATTACH_FILES, EMBED_LINKS
from tests.stack import Stack

OTHER = USER_ID + 1


async def private_on(discord: FakeDiscord) -> None:
    await set_option(discord, "settings", "private", "on")


async def outliving_its_token(stack: Stack, prompt: str) -> Interaction:
    """A job held in ComfyUI until its interaction token has expired (the test releases it)."""
    stack.comfys[0].hold()
    asked = await imagine(stack.discord, prompt)
    await stack.discord.until(lambda: asked.message_id is not None)
    await wait_until_older_than(asked, 1.1)
    return asked


def dm_path(user_id: int = USER_ID) -> str:
    return f"/channels/{DM_CHANNEL_ID + user_id}/messages"


async def test_a_private_batch_of_twelve_arrives_whole_and_private(stack: Stack) -> None:
    discord = stack.discord
    async with stack.start() as app:
        await private_on(discord)
        asked = await imagine(discord, "many secret foxes", template="quick", count=12)
        await discord.until(lambda: bool(discord.sent("POST", f"/webhooks/1000/{asked.token}")))
        await app.engine.wait_idle()
        job = await app.store.by_message(asked.message_id or 0)
    original = discord.original(asked)
    [more] = [m for m in discord.messages.values() if m.id != original.id and len(m.files) == 2]
    assert original.ephemeral and len(original.files) == 10 and more.ephemeral
    assert job is not None and job.state.value == "delivered"


async def test_deleting_a_private_result_deletes_it_and_says_so(stack: Stack) -> None:
    discord = stack.discord
    async with stack.start():
        await private_on(discord)
        asked = await imagine(discord, "a secret fox")
        await discord.until(final(discord, asked))
        result = discord.original(asked)
        delete = await discord.click(result, button(result, "delete"))
        await discord.until(lambda: result.id in discord.deleted)
        await discord.until(lambda: any(m.content == "Deleted." for m in discord.messages.values()))
    told = next(m for m in discord.messages.values() if m.content == "Deleted.")
    assert told.ephemeral and delete.callback_type == 6
    assert not discord.sent("DELETE", f"/channels/{CHANNEL_ID}/messages/{result.id}")  # not the channel route


async def test_a_result_past_the_token_fits_the_channels_limit_not_the_members_nitro(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.output_side, comfy.output_noise = 1920, True  # an 11 MiB PNG: over the guild's 10, under Nitro's 25
    discord.attachment_size_limit = 25 * 2**20  # the member has Nitro
    discord.token_lifetime = 1.0
    async with stack.start(token_handoff=0.5):
        asked = await outliving_its_token(stack, "noise")
        comfy.release()
        await discord.until(final(discord, asked))
    [sent] = discord.original(asked).files
    assert len(sent.data) <= 10 * 2**20 and "re-encoded as" in discord.original(asked).embeds[0]["footer"]["text"]
    assert not [r for r in discord.requests if r.status == 413]


async def test_a_private_result_with_closed_direct_messages_is_held_for_history(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    discord.token_lifetime = 1.0
    discord.dms_closed.add(USER_ID)
    async with stack.start(token_handoff=0.5) as app:
        await private_on(discord)
        slow = await outliving_its_token(stack, "a slow secret")
        comfy.release()
        await discord.until(lambda: any("/history" in m.content for m in discord.messages.values()))
        await app.engine.wait_idle()
        job = await app.store.by_message(slow.message_id or 0)
        history = await ask(discord, "history")
        await discord.until(lambda: any(m.files and m.ephemeral for m in discord.messages.values()))
        again = await ask(discord, "history")
    [notice] = [m for m in discord.messages.values() if "/history" in m.content]
    assert notice.content.startswith(f"<@{USER_ID}> Your private result is ready") and not notice.files
    assert notice.pinged == [USER_ID]
    [shown] = [m for m in discord.messages.values() if m.files and m.ephemeral]
    assert shown.files[0].data[:4] == b"\x89PNG" and discord.messages[history.message_id or 0].ephemeral
    assert "could not reach you" in discord.messages[history.message_id or 0].embeds[0]["description"]
    assert "could not reach you" not in (discord.messages[again.message_id or 0].embeds[0]["description"] or "")
    assert job is not None and job.state.value == "delivered"


async def test_missing_permissions_are_told_before_the_job_runs(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    await discord.deny(CHANNEL_ID, ATTACH_FILES | EMBED_LINKS)
    async with stack.start():
        asked = await ask(discord, "imagine", [{"name": "prompt", "type": 3, "value": "a fox"}])
    told = discord.messages[asked.message_id or 0]
    assert told.ephemeral and told.content.startswith("⚠️ The bot cannot show results in this channel")
    assert "Embed Links, Attach Files" in told.content and not comfy.history


async def test_permissions_lost_during_a_long_job_send_the_result_by_direct_message(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    discord.token_lifetime = 1.0
    async with stack.start(token_handoff=0.5):
        await outliving_its_token(stack, "a slow fox")
        await discord.deny(CHANNEL_ID, ATTACH_FILES)  # an admin changed the channel meanwhile
        comfy.release()
        await discord.until(lambda: any(r.path == dm_path() and r.status == 200 for r in discord.requests))
    [dm] = [m for m in discord.messages.values() if m.channel_id == DM_CHANNEL_ID + USER_ID]
    assert dm.files and f"may not post in <#{CHANNEL_ID}>" in dm.embeds[0]["description"]


async def followup_of_old_result(stack: Stack, action: str) -> tuple[Interaction, Message]:
    discord = stack.discord
    asked = await imagine(discord, "a public fox")
    await discord.until(final(discord, asked))
    result = discord.original(asked)
    await private_on(discord)
    return await discord.click(result, button(result, action)), result


async def test_a_member_now_private_rerolls_and_edits_an_old_public_result_privately(stack: Stack) -> None:
    discord = stack.discord
    async with stack.start(limits=LimitSettings(reroll_cooldown=0)):
        reroll, result = await followup_of_old_result(stack, "reroll")
        await discord.until(final(discord, reroll))
        edit = await discord.click(result, button(result, "edit"))
        await discord.until(lambda: edit.callback_type == 9)
        modal = edit.callback_data
        inputs = [row["components"][0]["custom_id"] for row in modal["components"]]
        submitted = await discord.submit_modal(modal["custom_id"], {inputs[0]: "a wolf", inputs[1]: ""})
        await discord.until(final(discord, submitted))
    assert reroll.ephemeral and discord.original(reroll).ephemeral and discord.original(reroll).files
    assert submitted.ephemeral and discord.original(submitted).ephemeral


async def test_replies_ping_only_the_member_answered(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    discord.token_lifetime = 1.0
    async with stack.start(token_handoff=0.5):
        slow = await outliving_its_token(stack, "<@5555> @everyone <@&7777> a fox")
        del discord.messages[slow.message_id or 0]  # a moderator deleted it: the result is posted anew
        comfy.release()
        await discord.until(lambda: any(m.files and m.content.startswith("<@") for m in discord.messages.values()))
        posted = next(m for m in discord.messages.values() if m.files and m.content.startswith("<@"))
        discord.dms_closed.add(OTHER)  # so the refusal is a short message in the channel, pinging them alone
        await discord.react(posted, "🔄", user_id=OTHER)  # not theirs: refused
        await discord.until(lambda: any(m.content.startswith(f"<@{OTHER}>") for m in discord.messages.values()))
    assert posted.pinged == [USER_ID]
    [refusal] = [m for m in discord.messages.values() if m.content.startswith(f"<@{OTHER}>")]
    assert refusal.pinged == [OTHER]
    created = [r for r in discord.requests if r.method == "POST" and r.path.startswith("/channels/")]
    assert created and all(r.json.get("allowed_mentions", {}).get("parse") == [] for r in created)

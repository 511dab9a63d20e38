"""Rerolls and follow-ups on results, through the loopback Discord API: reactions and buttons make new jobs
with the expected parameters, keep working after a restart, and refusals reach the member."""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import replace
from typing import Any

from PIL import Image

from bot.settings import LimitSettings
from tests.discord_helpers import button, deliver, direct_messages, final, imagine
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.discord_api import (
    CHANNEL_ID,
    GUILD_ID,
    MODERATOR_ROLE_ID,
    USER_ID,
    FakeDiscord,
    Message,
)
from tests.stack import Stack

OTHER = USER_ID + 50


def graph_of(comfy: FakeComfy, n: int) -> dict[str, Any]:
    """The n-th prompt ComfyUI ran (0-based)."""
    graph: dict[str, Any] = list(comfy.history.values())[n]["prompt"][2]
    return graph


def pixels(data: bytes) -> bytes:
    """An image's pixels, whatever file holds them (a result given to Vary goes on as a PNG the bot encoded)."""
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGBA").tobytes()


def done_messages(discord: FakeDiscord) -> list[Message]:
    return [m for m in discord.messages.values() if m.embeds and m.embeds[0].get("title") == "Done"]


async def test_a_reroll_reaction_makes_one_job_with_the_same_parameters_and_a_new_seed(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start():
        _, result = await deliver(discord, "a fox --seed 7 --steps 5")
        await discord.react(result, "🔄")
        await discord.react(result, "🔄")  # a double reaction
        await discord.react(result, "🔄", bot=True)  # the bot's own reaction is ignored
        await discord.until(lambda: len(done_messages(discord)) == 2)
    assert len(comfy.history) == 2  # one new job, not two
    first, reroll = graph_of(comfy, 0), graph_of(comfy, 1)
    assert reroll["6"]["inputs"]["text"] == "a fox" and reroll["3"]["inputs"]["steps"] == 5
    assert first["3"]["inputs"]["seed"] == 7 and reroll["3"]["inputs"]["seed"] != 7
    [rerolled] = [m for m in done_messages(discord) if m.id != result.id]
    assert rerolled.embeds[0]["description"] == f"Reroll of https://discord.com/channels/{GUILD_ID}/3000/{result.id}"
    acknowledged = [r for r in discord.reactions if r[1] == result.id]
    assert acknowledged in ([("DELETE", result.id, "🔄", str(USER_ID))], [("PUT", result.id, "✅", "@me")])


async def test_a_result_over_the_attachment_limits_is_neither_varied_nor_upscaled(stack: Stack) -> None:
    """Every image that reaches ComfyUI passes the checks a member's attachment does, results included."""
    comfy, discord = stack.comfys[0], stack.discord
    comfy.output_side = 120  # 14,400 pixels, past the limit below
    async with stack.start(limits=LimitSettings(reroll_cooldown=0, attachment_max_pixels=100 * 100)):
        _, result = await deliver(discord, "a fox")
        clicks = [await discord.click(result, button(result, action, 1)) for action in ("vary", "upscale")]
        await discord.until(lambda: all(final(discord, click)() for click in clicks))
    told = {discord.original(click).content for click in clicks}
    assert told == {
        "⚠️ This result is 120x120 pixels; this server takes images up to 10,000 pixels, so it cannot be varied "
        "or upscaled here."
    }
    assert [path for _, path, _ in comfy.requests if path in ("/upload/image", "/prompt")] == ["/prompt"]


async def test_each_button_makes_the_expected_job(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start(limits=LimitSettings(reroll_cooldown=0)):
        _, result = await deliver(discord, "a fox --seed 7")
        png = result.files[0].data

        reroll = await discord.click(result, button(result, "reroll"))
        await discord.until(final(discord, reroll))
        assert graph_of(comfy, 1)["6"]["inputs"]["text"] == "a fox"
        assert graph_of(comfy, 1)["3"]["inputs"]["seed"] != 7

        vary = await discord.click(result, button(result, "vary", 1))
        await discord.until(final(discord, vary))
        varied = graph_of(comfy, 2)
        assert varied["3"]["inputs"]["denoise"] == 0.35 and varied["6"]["inputs"]["text"] == "a fox"
        assert pixels(comfy.files[("input", "discord-bot", varied["10"]["inputs"]["image"].split("/")[1])]) == pixels(
            png
        )

        upscale = await discord.click(result, button(result, "upscale", 1))
        await discord.until(final(discord, upscale))
        upscaled = graph_of(comfy, 3)
        assert upscaled["2"]["class_type"] == "ImageScaleBy"
        assert pixels(comfy.files[("input", "discord-bot", upscaled["1"]["inputs"]["image"].split("/")[1])]) == pixels(
            png
        )

        edit = await discord.click(result, button(result, "edit"))
        await discord.until(lambda: edit.callback_type == 9)  # a modal
        modal = edit.callback_data
        inputs = [c["custom_id"] for row in modal["components"] for c in row.get("components", [row])]
        await discord.submit_modal(modal["custom_id"], {inputs[0]: "a wolf", inputs[1]: "fog"})
        await discord.until(lambda: len(comfy.history) == 5)
        edited = graph_of(comfy, 4)
        assert edited["6"]["inputs"]["text"] == "a wolf" and edited["7"]["inputs"]["text"] == "fog"
        assert edited["3"]["inputs"]["seed"] == 7  # only the words changed

        info = await discord.click(result, button(result, "info"))
        await discord.until(lambda: info.message_id in discord.messages)
        shown = discord.messages[info.message_id or 0].embeds[0]
        assert info.ephemeral and shown["title"] == "How this was made"
        assert "/imagine prompt:a fox" in shown["fields"][-1]["value"] and "seed:7" in shown["fields"][-1]["value"]

        delete = await discord.click(result, button(result, "delete"))
        await discord.until(lambda: result.id in discord.deleted)
        await discord.until(lambda: any(m.content == "Deleted." and m.ephemeral for m in discord.messages.values()))
        assert delete.callback_type == 6  # through the interaction: it reaches a private result too


async def test_refusals_are_told_to_the_member(stack: Stack) -> None:
    discord = stack.discord
    async with stack.start(limits=LimitSettings(reroll_cooldown=60)):
        _, result = await deliver(discord, "a fox")
        stranger = await discord.click(result, button(result, "reroll"), user_id=OTHER)
        await discord.until(lambda: stranger.message_id in discord.messages)
        await discord.react(result, "🔄", user_id=OTHER)
        await discord.until(lambda: bool(direct_messages(discord, OTHER)))

        first = await discord.click(result, button(result, "reroll"))
        await discord.until(lambda: first.message_id in discord.messages)
        again = await discord.click(result, button(result, "reroll"))
        await discord.until(lambda: again.message_id in discord.messages)

        admin = await discord.interact(
            "rerolls", [{"name": "who", "type": 3, "value": "everyone"}], member={"permissions": "32"}
        )
        await discord.until(lambda: admin.message_id in discord.messages)
        allowed = await discord.click(result, button(result, "reroll"), user_id=OTHER)
        await discord.until(final(discord, allowed))

    refusal = "⚠️ Only the member who made this, or a moderator, can reroll it."
    assert discord.messages[stranger.message_id or 0].content == refusal and stranger.ephemeral
    assert discord.messages[again.message_id or 0].content.startswith("⚠️ Please wait ")
    assert discord.original(allowed).embeds[0]["title"] == "Done"


async def test_buttons_and_reactions_on_an_old_result_work_after_a_restart(stack: Stack, store_url: str | None) -> None:
    """On either database (SQLite, or a real PostgreSQL: `store_url`)."""
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start(database_url=store_url):
        _, result = await deliver(discord, "before the restart --seed 3")

    async with stack.start(limits=LimitSettings(reroll_cooldown=0), database_url=store_url):  # the same database
        clicked = await discord.click(result, button(result, "reroll"))
        await discord.until(final(discord, clicked))
        await discord.react(result, "🔄")
        await discord.until(lambda: len(done_messages(discord)) == 3)
        gone = f"job:reroll:{uuid.uuid4()}"  # a button whose job the database does not know
        orphan = replace(result, components=[{"type": 1, "components": [{"type": 2, "style": 1, "custom_id": gone}]}])
        unknown = await discord.click(orphan, gone)
        await discord.until(lambda: unknown.message_id in discord.messages)

    assert [graph_of(comfy, n)["6"]["inputs"]["text"] for n in range(3)] == ["before the restart"] * 3
    assert len({graph_of(comfy, n)["3"]["inputs"]["seed"] for n in range(3)}) == 3
    assert discord.messages[unknown.message_id or 0].content.startswith("This result is no longer known")
    assert json.dumps(discord.original(clicked).embeds[0]["description"]).count(str(result.id)) == 1


async def test_a_batch_gets_per_image_buttons(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start(limits=LimitSettings(reroll_cooldown=0)):
        _, result = await deliver(discord, "two foxes --count 2")
        labels = [c["label"] for row in result.components for c in row["components"]]
        assert labels[:4] == ["U1", "U2", "V1", "V2"]
        second = await discord.click(result, button(result, "vary", 2))
        await discord.until(final(discord, second))
    varied = graph_of(comfy, 1)
    sent = comfy.files[("input", "discord-bot", varied["10"]["inputs"]["image"].split("/")[1])]
    assert pixels(sent) == pixels(result.files[1].data) != pixels(result.files[0].data)


async def test_a_cross_deletes_a_result_or_cancels_a_running_job(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start():
        _, result = await deliver(discord, "to delete")
        await discord.react(result, "❌", user_id=OTHER)  # not theirs: refused, nothing deleted
        await discord.until(lambda: bool(direct_messages(discord, OTHER)))
        await discord.react(result, "❌")
        await discord.until(lambda: result.id in discord.deleted)
        comfy.hold()
        running = await imagine(discord, "to stop")
        await comfy.until(lambda: comfy.running is not None)
        await discord.until(lambda: bool(discord.original(running).embeds))
        await discord.react(discord.original(running), "❌")
        await discord.until(lambda: any(path == "/interrupt" for _, path, _ in comfy.requests))
        comfy.release()
        await discord.until(final(discord, running))
    assert discord.original(running).content == "🚫 Cancelled by a ❌ reaction."


async def test_a_moderator_role_may_reroll_anyones_result(stack: Stack) -> None:
    discord = stack.discord
    moderators = MODERATOR_ROLE_ID
    async with stack.start(moderator_role_ids=[moderators], limits=LimitSettings(reroll_cooldown=0)):
        _, result = await deliver(discord, "a fox")
        await discord.react(result, "🔄", user_id=OTHER, roles=[moderators])
        await discord.until(lambda: len(done_messages(discord)) == 2)
    assert not direct_messages(discord, OTHER)


async def test_the_servers_rules_apply_to_follow_ups(stack: Stack) -> None:
    discord = stack.discord
    admin = {"permissions": "32"}
    async with stack.start(limits=LimitSettings(reroll_cooldown=0)):
        _, result = await deliver(discord, "a fox")
        options = [
            {"name": "option", "type": 3, "value": "banned_words"},
            {"name": "value", "type": 3, "value": "wolf"},
        ]
        rule = await discord.interact("config", [{"name": "set", "type": 1, "options": options}], member=admin)
        await discord.until(lambda: rule.message_id in discord.messages)
        edit = await discord.click(result, button(result, "edit"))
        await discord.until(lambda: edit.callback_type == 9)
        modal = edit.callback_data
        inputs = [c["custom_id"] for row in modal["components"] for c in row.get("components", [row])]
        submitted = await discord.submit_modal(modal["custom_id"], {inputs[0]: "a grey Wolf", inputs[1]: ""})
        await discord.until(lambda: submitted.message_id in discord.messages)
    assert discord.messages[submitted.message_id or 0].content == (
        "⚠️ Your prompt has a word this server does not allow. Please rephrase it."
    )
    assert len(done_messages(discord)) == 1  # no new job


async def test_refused_reactions_are_told_to_that_member_alone_and_once(stack: Stack) -> None:
    """16 reactions by someone who may not reroll: one direct message, nothing in the channel; a member whose
    direct messages are closed gets one short message in the channel that pings only them."""
    discord = stack.discord
    closed = OTHER + 1
    discord.dms_closed.add(closed)
    async with stack.start():
        _, result = await deliver(discord, "a fox")
        in_channel = {m.id for m in discord.messages.values() if m.channel_id == CHANNEL_ID}
        for _ in range(8):
            await discord.react(result, "🔄", user_id=OTHER)
            await discord.react(result, "❌", user_id=OTHER)
        await discord.until(lambda: len(direct_messages(discord, OTHER)) >= 2)
        for _ in range(4):
            await discord.react(result, "🔄", user_id=closed)
        await discord.until(lambda: any(m.pinged == [closed] for m in discord.messages.values()))
        await discord.react(result, "🔄")  # the owner's, after all of those: handled in order
        await discord.until(lambda: len([m for m in discord.messages.values() if m.channel_id == CHANNEL_ID]) > 2)
    told = direct_messages(discord, OTHER)
    assert [m.content.splitlines()[1] for m in told] == [
        "Only the member who made this, or a moderator, can reroll it.",
        "Only the member who made this, or a moderator, can delete it.",
    ]
    assert told[0].content.startswith(f"⚠️ 🔄 https://discord.com/channels/{GUILD_ID}/{CHANNEL_ID}/{result.id}")
    public = [m for m in discord.messages.values() if m.channel_id == CHANNEL_ID and m.id not in in_channel]
    assert [m.pinged for m in public if m.pinged != [USER_ID]] == [[closed]]
    assert public[0].content == f"<@{closed}> ⚠️ Only the member who made this, or a moderator, can reroll it."


async def test_an_edit_form_opened_before_a_restart_is_answered_after_it(stack: Stack) -> None:
    """Forms are as durable as buttons: the bot that gets the submission need not be the one that opened it."""
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start():
        _, result = await deliver(discord, "a fox --seed 7")
        edit = await discord.click(result, button(result, "edit"))
        await discord.until(lambda: edit.callback_type == 9)  # the form is open on the member's screen
    form = edit.callback_data or {}
    async with stack.start(limits=LimitSettings(reroll_cooldown=0)):  # a new process
        submitted = await discord.submit_modal(
            form["custom_id"], {"prompt": "a fox in the rain", "negative": ""}, message=result
        )
        await discord.until(final(discord, submitted))
    assert discord.original(submitted).embeds[0]["title"] == "Done"
    assert graph_of(comfy, 1)["6"]["inputs"]["text"] == "a fox in the rain"


async def test_many_delete_presses_at_once_delete_once_and_each_member_is_told(stack: Stack) -> None:
    discord = stack.discord
    async with stack.start():
        _, result = await deliver(discord, "a fox")
        for _ in range(12):
            await discord.click(result, button(result, "delete"))

        def answers() -> list[str]:  # what the members were told, only to them
            return [m.content for m in discord.messages.values() if m.flags & 64 and m.content]

        await discord.until(lambda: len(answers()) == 12)
        told = answers()
    assert discord.deleted.count(result.id) == 1
    assert sorted(set(told)) == ["Deleted.", "This result is already deleted."], told
    assert told.count("Deleted.") == 1

"""Per-server rules set with /config, enforced on /imagine: each refusal is ephemeral, says why, and makes no job."""

from __future__ import annotations

from typing import Any

from tests.discord_helpers import final, imagine
from tests.fakes.discord_api import MODERATOR_ROLE_ID, USER_ID, FakeDiscord, Interaction
from tests.stack import Stack

ADMIN = {"permissions": "32"}


async def configure(discord: FakeDiscord, option: str, value: str, **who: Any) -> Interaction:
    options = [{"name": "option", "type": 3, "value": option}, {"name": "value", "type": 3, "value": value}]
    asked = await discord.interact("config", [{"name": "set", "type": 1, "options": options}], **who)
    await discord.until(lambda: asked.message_id is not None and asked.message_id in discord.messages)
    return asked


async def refused(discord: FakeDiscord, prompt: str, **who: Any) -> tuple[Interaction, str]:
    asked = await discord.interact("imagine", [{"name": "prompt", "type": 3, "value": prompt}], **who)
    await discord.until(lambda: asked.message_id is not None and asked.message_id in discord.messages)
    return asked, discord.messages[asked.message_id or 0].content


async def test_each_rule_refuses_with_a_reason_and_makes_no_job(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start():
        denied = await configure(discord, "channels", "<#999999>")  # not an admin
        assert discord.messages[denied.message_id or 0].content == "Only this server's admins can change its rules."

        await configure(discord, "channels", "<#999999>", member=ADMIN)
        channel, channel_text = await refused(discord, "a fox")
        await configure(discord, "channels", "all", member=ADMIN)

        await configure(discord, "roles", f"<@&{MODERATOR_ROLE_ID}>", member=ADMIN)
        role, role_text = await refused(discord, "a fox")
        allowed = await imagine(discord, "a fox", member={"roles": [str(MODERATOR_ROLE_ID)]})
        await discord.until(final(discord, allowed))
        await configure(discord, "roles", "all", member=ADMIN)

        await configure(discord, "banned_words", "dragon, wyrm", member=ADMIN)
        word, word_text = await refused(discord, "a Dragon, sleeping")
    assert channel.ephemeral and channel_text == "⚠️ Images are made in <#999999> on this server."
    assert role.ephemeral and role_text == f"⚠️ Making images here needs one of these roles: <@&{MODERATOR_ROLE_ID}>."
    assert word.ephemeral and word_text == "⚠️ Your prompt has a word this server does not allow. Please rephrase it."
    assert "dragon" not in word_text.lower()
    assert [e["prompt"][2]["6"]["inputs"]["text"] for e in comfy.history.values()] == ["a fox"]  # only the allowed one
    assert discord.original(allowed).embeds[0]["title"] == "Done"


async def test_results_are_spoilered_outside_age_restricted_channels(stack: Stack) -> None:
    discord = stack.discord
    async with stack.start():
        await configure(discord, "spoiler_outside_nsfw", "on", member=ADMIN)
        interaction = await imagine(discord, "a fox", user=USER_ID)
        await discord.until(final(discord, interaction))
    assert all(f.filename.startswith("SPOILER_") for f in discord.original(interaction).files)


async def test_personal_defaults_are_used_when_an_option_is_not_given(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord

    async def setting(option: str, value: str) -> None:
        options = [{"name": "option", "type": 3, "value": option}, {"name": "value", "type": 3, "value": value}]
        asked = await discord.interact("settings", [{"name": "set", "type": 1, "options": options}])
        await discord.until(lambda: asked.message_id is not None and asked.message_id in discord.messages)

    async with stack.start():
        await setting("template", "quick")
        await setting("aspect", "16:9")
        await setting("negative", "blurry, text")
        mine = await imagine(discord, "a harbour at night")
        await discord.until(final(discord, mine))
        given = await imagine(discord, "a harbour at noon", template="txt2img", negative="fog")
        await discord.until(final(discord, given))
    defaulted, explicit = (entry["prompt"][2] for entry in comfy.history.values())
    assert defaulted["9"]["inputs"]["filename_prefix"] == "discord/quick"  # the member's template
    assert defaulted["7"]["inputs"]["text"] == "blurry, text"
    assert (defaulted["5"]["inputs"]["width"], defaulted["5"]["inputs"]["height"]) == (832, 448)
    assert explicit["9"]["inputs"]["filename_prefix"] == "discord/txt2img" and explicit["7"]["inputs"]["text"] == "fog"

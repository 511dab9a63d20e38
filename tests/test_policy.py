"""Per-server rules set with /config, enforced on /imagine: each refusal is ephemeral, says why, and makes no job."""

from __future__ import annotations

from typing import Any

from tests.discord_helpers import ask, final, imagine, set_option, wait_until_older_than
from tests.fakes.discord_api import (
    CHANNEL_ID,
    DM_CHANNEL_ID,
    MODERATOR_ROLE_ID,
    USER_ID,
    FakeDiscord,
    Interaction,
)
from tests.stack import Stack

ADMIN = {"permissions": "32"}


async def configure(discord: FakeDiscord, option: str, value: str, **who: Any) -> Interaction:
    return await set_option(discord, "config", option, value, **who)


async def refused(discord: FakeDiscord, prompt: str, **who: Any) -> tuple[Interaction, str]:
    asked = await ask(discord, "imagine", [{"name": "prompt", "type": 3, "value": prompt}], **who)
    return asked, discord.messages[asked.message_id or 0].content


async def test_each_rule_refuses_with_a_reason_and_makes_no_job(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start():
        denied = await configure(discord, "channels", "<#999999>")  # not an admin
        assert discord.messages[denied.message_id or 0].content == "⚠️ Only this server's admins can change its rules."

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
        await set_option(discord, "settings", option, value)

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


async def test_private_results_are_seen_only_by_the_member_where_the_server_allows_it(stack: Stack) -> None:
    discord = stack.discord
    async with stack.start():
        chosen = await set_option(discord, "settings", "private", "on")
        private = await imagine(discord, "a secret fox")
        await discord.until(final(discord, private))
        await configure(discord, "allow_private", "off", member=ADMIN)
        public = await imagine(discord, "a public fox")
        await discord.until(final(discord, public))
        shown = await ask(discord, "settings", [{"name": "show", "type": 1, "options": []}])
    assert discord.messages[chosen.message_id or 0].content == "Your default private is now 'on'."
    assert private.ephemeral and discord.original(private).flags & 64 and discord.original(private).files
    assert not public.ephemeral and not discord.original(public).flags & 64 and discord.original(public).files
    assert "private: on" in discord.messages[shown.message_id or 0].content
    assert "does not allow private results" in discord.messages[shown.message_id or 0].content


async def test_a_private_result_outliving_its_token_goes_by_direct_message(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    discord.token_lifetime = 1.0
    dm = f"/channels/{DM_CHANNEL_ID + USER_ID}/messages"
    async with stack.start(token_handoff=0.5):
        await set_option(discord, "settings", "private", "on")
        comfy.hold()
        slow = await imagine(discord, "a slow secret")
        await discord.until(lambda: slow.message_id is not None)
        await wait_until_older_than(slow, 1.1)
        comfy.release()
        await discord.until(lambda: any(r.path == dm and r.files for r in discord.requests))
    assert slow.ephemeral
    [sent] = discord.sent("POST", dm)
    assert sent.json and sent.json["embeds"][0]["title"] == "Done"
    in_channel = [r for r in discord.requests if r.path.startswith(f"/channels/{CHANNEL_ID}/") and r.files]
    assert in_channel == []  # never shown where others could see it


async def test_a_template_marked_nsfw_is_spoilered_outside_age_restricted_channels(stack: Stack) -> None:
    discord, workflows = stack.discord, stack.folder / "workflows"
    (workflows / "spicy.json").write_text((workflows / "txt2img.json").read_text())
    (workflows / "spicy.toml").write_text("nsfw = true\n" + (workflows / "txt2img.toml").read_text())
    async with stack.start():
        marked = await imagine(discord, "a fox", template="spicy")
        await discord.until(final(discord, marked))
        plain = await imagine(discord, "a fox", template="txt2img")
        await discord.until(final(discord, plain))
    assert all(f.filename.startswith("SPOILER_") for f in discord.original(marked).files)
    assert not any(f.filename.startswith("SPOILER_") for f in discord.original(plain).files)


async def test_a_server_has_no_direct_messages_switch_of_its_own(stack: Stack) -> None:
    """Direct messages are no server's: POLICY__DMS (the operator's) decides, and /config offers no switch that
    would seem to decide it and be ignored."""
    async with stack.start():
        asked = await configure(stack.discord, "dms", "on", member={"permissions": "32"})
        shown = await ask(stack.discord, "config", [{"name": "show", "type": 1, "options": []}])
    assert discord_content(stack, asked).startswith("⚠️ dms:")
    assert "dms" not in discord_content(stack, shown)


def discord_content(stack: Stack, asked: Interaction) -> str:
    return stack.discord.messages[asked.message_id or 0].content


async def test_a_banned_word_joined_with_underscores_or_digits_is_still_refused(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start():
        await configure(discord, "banned_words", "wolf", member=ADMIN)
        texts = [(await refused(discord, prompt))[1] for prompt in ("a_wolf_ howling", "wolf2 at night", "2wolf")]
        allowed = await imagine(discord, "wolfram the owl")  # a longer word is another word
        await discord.until(final(discord, allowed))
    assert set(texts) == {"⚠️ Your prompt has a word this server does not allow. Please rephrase it."}
    assert [e["prompt"][2]["6"]["inputs"]["text"] for e in comfy.history.values()] == ["wolfram the owl"]

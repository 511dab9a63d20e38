"""Every message the bot sends fits Discord's limits, on every path, whatever members typed or ComfyUI said:
each case through the whole stack against the strict fake Discord (which refuses what Discord refuses)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.settings import LimitSettings
from tests.discord_helpers import ask, assembled, fields, final, imagine, set_option, settings_between
from tests.fakes.discord_api import FakeDiscord, Interaction, Message
from tests.stack import Stack

ADMIN = {"permissions": "32"}


def no_refusals(discord: FakeDiscord) -> None:
    refused = [(r.method, r.path, r.status, r.code) for r in discord.refused() if r.code not in (10062,)]
    assert not refused, refused


def answer(discord: FakeDiscord, asked: Interaction) -> Message:
    return discord.messages[asked.message_id or 0]


@pytest.mark.parametrize(
    ("prompt", "options"),
    [("a fox", {"seed": 0}), ("a fox --seed 0", {})],
    ids=["seed option", "seed flag"],
)
async def test_a_seed_of_zero_is_shown_as_zero_and_the_result_delivered(
    stack: Stack, prompt: str, options: dict[str, Any]
) -> None:
    discord = stack.discord
    async with stack.start() as app:
        asked = await imagine(discord, prompt, **options)
        await discord.until(final(discord, asked))
        await app.engine.wait_idle()
        job = await app.store.by_message(asked.message_id or 0)
    result = discord.original(asked)
    assert result.embeds[0]["title"] == "Done" and result.files and fields(result)["Seed"] == "0"
    assert job is not None and job.state.value == "delivered"
    no_refusals(discord)


async def test_a_blank_negative_is_not_an_empty_field(stack: Stack) -> None:
    discord = stack.discord
    async with stack.start():
        asked = await imagine(discord, "a fox", negative=" ")
        await discord.until(final(discord, asked))
    result = discord.original(asked)
    assert result.embeds[0]["title"] == "Done" and result.files
    assert all(f["value"].strip() for f in result.embeds[0]["fields"])
    no_refusals(discord)


async def test_a_long_comfyui_error_is_cut_to_fit_and_the_member_told(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    dump = "RuntimeError: Error(s) in loading state_dict: size mismatch for " + "weight [320, 4, 3, 3] " * 180
    comfy.failures["KSampler"] = ("RuntimeError", dump)
    async with stack.start():
        asked = await imagine(discord, "a fox")
        await discord.until(final(discord, asked))
    told = discord.original(asked).content
    assert told.startswith("❌ The workflow stopped: ") and len(told) <= 2000 and told.endswith("…")
    no_refusals(discord)


async def test_a_server_rule_with_ninety_channels_fits_its_confirmation_and_its_refusals(stack: Stack) -> None:
    discord = stack.discord
    channels = " ".join(f"<#{1_000_000_000_000_000_000 + n}>" for n in range(90))
    async with stack.start():
        saved = await set_option(discord, "config", "channels", channels, member=ADMIN)
        refused = await ask(discord, "imagine", [{"name": "prompt", "type": 3, "value": "a fox"}])
    confirmation, refusal = answer(discord, saved).content, answer(discord, refused).content
    assert len(confirmation) <= 2000 and "more" in confirmation and "<#1000000000000000000>" in confirmation
    assert refusal.startswith("⚠️ Images are made in <#1000000000000000000>") and len(refusal) <= 2000
    assert "and " in refusal and " more" in refusal
    no_refusals(discord)


async def test_queue_with_many_jobs_fits_its_field(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.hold()
    async with stack.start(limits=LimitSettings(jobs_per_user=20)):
        asked = [await imagine(discord, f"a very detailed picture of fox number {n} " + "x" * 40) for n in range(12)]
        await discord.until(lambda: all(a.message_id and discord.original(a).embeds for a in asked))  # accepted
        queue = await ask(discord, "queue")
        comfy.release()
    shown = answer(discord, queue).embeds[0]["fields"][0]["value"]
    assert len(shown) <= 1024 and shown.endswith("more")
    no_refusals(discord)


async def test_status_with_a_long_backend_error_fits(stack: Stack) -> None:
    discord = stack.discord
    far = stack.comfys[0].base_url.replace("http://", "https://")  # https to a plain-http server: a TLS error
    name = "gpu2-rtx4090-donated-by-a-member-in-frankfurt-behind-the-reverse-proxy-of-1"
    backends = [(stack.comfys[0].base_url, "gpu1"), (far, name)]
    settings = settings_between(backends, discord.api_base, stack.folder, bucket_window=1.0, edit_interval=0.3)
    async with assembled(settings):
        status = await ask(discord, "status")
    names = [f["name"] for f in answer(discord, status).embeds[0]["fields"]]
    assert any(shown.startswith("gpu2") and "SSL" in shown for shown in names)
    assert all(len(shown) <= 256 for shown in names)
    no_refusals(discord)


async def test_long_member_values_are_quoted_short(stack: Stack) -> None:
    discord = stack.discord
    async with stack.start():
        long_model = await imagine(discord, "a fox", model="m" * 2200)
        aspect = await imagine(discord, "a fox --ar 16:9 " + "very " * 400)
        negative = await set_option(discord, "settings", "negative", "blurry " * 214)  # 1,498: within the limit
        await discord.until(final(discord, long_model))
        await discord.until(final(discord, aspect))
    for asked in (long_model, aspect):
        told = discord.original(asked).content
        assert told.startswith("⚠️") and len(told) < 600, told
    confirmation = answer(discord, negative).content
    assert confirmation.startswith("Your default negative is now") and len(confirmation) < 300
    no_refusals(discord)


async def test_a_batch_of_eight_keeps_every_control_within_five_rows(stack: Stack) -> None:
    discord = stack.discord
    async with stack.start():
        asked = await imagine(discord, "many foxes", template="quick", count=8)
        await discord.until(final(discord, asked))
        result = discord.original(asked)
        rows = result.components
        custom_ids = [c.get("custom_id", "") for row in rows for c in row["components"]]
        assert len(rows) <= 5 and any(i.startswith("job:delete:") for i in custom_ids)
        picker = next(i for i in custom_ids if i.startswith("job:pick:upscale:"))
        picked = await discord.click(result, picker, values=["8"])
        await discord.until(final(discord, picked))
    upscaled = discord.original(picked)
    assert upscaled.embeds[0]["title"] == "Done" and "Upscale of" in upscaled.embeds[0]["description"]
    no_refusals(discord)


async def test_the_progress_of_a_prompt_at_discords_option_limit_fits(stack: Stack) -> None:
    discord = stack.discord
    async with stack.start(limits=LimitSettings(prompt_max_length=6000)):
        asked = await imagine(discord, "x" * 6000)
        await discord.until(final(discord, asked))
    assert discord.original(asked).embeds[0]["title"] == "Done"
    no_refusals(discord)

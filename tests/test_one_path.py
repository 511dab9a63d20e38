"""One admission path (`bot/jobs/admission.py`): the same request through `/imagine`, the Reroll button, the
Edit form and a 🔄 reaction meets the same rules and gets the same answer. Each case makes a result under the
default rules, then the server's rules change (a restart with new limits, a banned word, a model gone) and the
same request is asked for again, four ways."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.jobs.admission import CHECKS, Knock
from bot.settings import LimitSettings
from tests.discord_helpers import answer, button, deliver, direct_messages, imagine, set_option
from tests.fakes.discord_api import FakeDiscord, Message
from tests.fakes.discord_payloads import USER_ID
from tests.stack import SHIPPED, Stack, checkpoints

MANAGE_GUILD = {"permissions": str(1 << 5)}
PATHS = ("imagine", "button", "edit form", "reaction")


async def ask_again(discord: FakeDiscord, path: str, result: Message, prompt: str, options: dict[str, Any]) -> str:
    """The same request again, one way; the refusal's text as the member reads it (without the ⚠️)."""
    if path == "imagine":
        asked = await imagine(discord, prompt, **options)
        return (await answer(discord, asked)).removeprefix("⚠️ ")
    if path == "button":
        pressed = await discord.click(result, button(result, "reroll"))
        return (await answer(discord, pressed)).removeprefix("⚠️ ")
    if path == "edit form":
        pressed = await discord.click(result, button(result, "edit"))
        await discord.until(lambda: pressed.callback_type is not None)
        if pressed.callback_type != 9:  # refused before the form opens (a banned word)
            return (await answer(discord, pressed)).removeprefix("⚠️ ")
        modal = pressed.callback_data
        inputs = [c["custom_id"] for row in modal["components"] for c in row.get("components", [row])]
        submitted = await discord.submit_modal(modal["custom_id"], {inputs[0]: prompt, inputs[1]: ""}, message=result)
        return (await answer(discord, submitted)).removeprefix("⚠️ ")
    told = len(direct_messages(discord, USER_ID))
    await discord.react(result, "🔄")
    await discord.until(lambda: len(direct_messages(discord, USER_ID)) > told)
    return direct_messages(discord, USER_ID)[-1].content.splitlines()[1].removeprefix("⚠️ ")


async def banned_fox(discord: FakeDiscord, stack: Stack) -> None:
    await set_option(discord, "config", "banned_words", "fox", member=MANAGE_GUILD)


async def model_gone(discord: FakeDiscord, stack: Stack) -> None:
    checkpoints(stack.comfys[0]).remove(SHIPPED)  # the result's model is no longer on any server


Change = Callable[[FakeDiscord, Stack], Awaitable[None]] | None
CASES: dict[str, tuple[str, dict[str, Any], LimitSettings, Change, str]] = {
    "prompt length": (
        "a red fox in the snow",
        {},
        LimitSettings(prompt_max_length=10, reroll_cooldown=0),
        None,
        "Your prompt is 21 characters; the limit is 10. Shorten it.",
    ),
    "steps": ("a fox", {"steps": 30}, LimitSettings(steps_max=20, reroll_cooldown=0), None, "steps must be at most 20"),
    "size": ("a fox", {}, LimitSettings(image_max_side=256, reroll_cooldown=0), None, "width must be at most 256"),
    "batch": ("a fox", {"count": 2}, LimitSettings(batch_max=1, reroll_cooldown=0), None, "A job may make at most 1"),
    "banned word hidden by invisible characters": (
        "a f\u200bo\u00adx",  # a zero-width space and a soft hyphen inside the word
        {},
        LimitSettings(reroll_cooldown=0),
        banned_fox,
        "Your prompt has a word this server does not allow. Please rephrase it.",
    ),
    "no server can run it": ("a fox", {}, LimitSettings(reroll_cooldown=0), model_gone, "No server can run this job"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_the_same_request_meets_the_same_rules_on_every_path(stack: Stack, case: str) -> None:
    prompt, options, limits, change, expected = CASES[case]
    discord = stack.discord
    async with stack.start():
        _, result = await deliver(discord, prompt, **options)
    if change is model_gone:
        await change(discord, stack)  # before the bot starts: it learns the servers' models at start
    async with stack.start(limits=limits) as app:
        if change is banned_fox:
            await change(discord, stack)
        answers = {path: await ask_again(discord, path, result, prompt, options) for path in PATHS}
        assert not app.engine.active
    assert all(text.startswith(expected) for text in answers.values()), answers
    assert len(set(answers.values())) == 1, answers


async def test_every_batch_is_held_to_the_servers_limit(stack: Stack) -> None:
    """`--count` inline (the slash option stops at 16, a flag did not), and a workflow without a manifest whose own
    batch is 64: both refused under LIMITS__BATCH_MAX (16)."""
    discord = stack.discord
    workflow = json.loads((stack.folder / "workflows" / "txt2img.json").read_text())
    next(n for n in workflow.values() if n["class_type"] == "EmptyLatentImage")["inputs"]["batch_size"] = 64
    (stack.folder / "workflows" / "big.json").write_text(json.dumps(workflow))  # no manifest: no bounds of its own
    async with stack.start() as app:
        inline = await answer(discord, await imagine(discord, "a fox --count 64"))
        big = await answer(discord, await imagine(discord, "a fox", template="big"))
        assert not app.engine.active
    assert inline == big == "⚠️ A job may make at most 16 images on this server (got 64)."


async def test_the_negative_prompt_is_held_to_the_length_limit_however_it_is_given(stack: Stack) -> None:
    discord = stack.discord
    long = "blurry, " * 9 + "ugly"  # 76 characters
    async with stack.start(limits=LimitSettings(prompt_max_length=40)) as app:
        answers = [
            await answer(discord, await imagine(discord, f"a fox --no {long}")),
            await answer(discord, await imagine(discord, "a fox", negative=long)),
        ]
        answers.append(await answer(discord, await set_option(discord, "settings", "negative", long)))  # when saved
        nul = await answer(discord, await set_option(discord, "settings", "negative", "blurry\x00"))
        assert not app.engine.active
    assert set(answers) == {"⚠️ Your negative prompt is 76 characters; the limit is 40. Shorten it."}, answers
    assert nul == "⚠️ That value holds a character the bot cannot keep (a NUL); type it again without it."


async def test_banned_words_are_found_however_they_are_written_and_in_the_negative(stack: Stack) -> None:
    discord = stack.discord
    refused = "⚠️ Your prompt has a word this server does not allow. Please rephrase it."
    async with stack.start(limits=LimitSettings(jobs_per_user=20)) as app:
        await set_option(discord, "config", "banned_words", "fox", member=MANAGE_GUILD)
        written: list[tuple[str, dict[str, Any]]] = [
            ("a \uff46\uff4f\uff58 in snow", {}),  # full-width letters
            ("a FOX", {}),
            ("a f\u200do\u200bx", {}),  # a zero-width joiner and space
            ("a fo\u00adx", {}),  # a soft hyphen
            ("a cat", {"negative": "fox"}),
            ("a cat --no fox", {}),
        ]
        answers = [await answer(discord, await imagine(discord, prompt, **options)) for prompt, options in written]
        fine = await imagine(discord, "a foxglove meadow")  # a word that merely starts the same
        await discord.until(lambda: fine.message_id is not None and bool(discord.original(fine).files))
        await app.engine.wait_idle()
    assert answers == [refused] * len(written)


async def test_edit_forms_opened_earlier_are_held_to_the_cap_when_submitted(stack: Stack) -> None:
    """Five forms opened while the member had no job; submitted together, only the cap's worth run."""
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start(limits=LimitSettings(jobs_per_user=2, reroll_cooldown=0)) as app:
        _, result = await deliver(discord, "a fox")
        comfy.hold()
        forms = []
        for _ in range(5):
            pressed = await discord.click(result, button(result, "edit"))
            await discord.until(lambda: pressed.callback_type == 9)  # noqa: B023 - awaited at once
            forms.append(pressed.callback_data)
        submitted = []
        for n, modal in enumerate(forms):
            inputs = [c["custom_id"] for row in modal["components"] for c in row.get("components", [row])]
            values = {inputs[0]: f"a wolf {n}", inputs[1]: ""}
            submitted.append(await discord.submit_modal(modal["custom_id"], values, message=result))
        answers = [await answer(discord, s) for s in submitted]
        running = len(app.engine.active)
        comfy.release()
        await app.engine.wait_idle()
    assert running == 2
    assert sum(a.startswith("⚠️ You already have 2 jobs") for a in answers) == 3, answers


async def ask_and_start(discord: FakeDiscord, path: str, result: Message, prompt: str) -> None:
    """The same request again, one way, as a member whom every rule lets through."""
    if path == "imagine":
        await imagine(discord, prompt)
    elif path == "button":
        await discord.click(result, button(result, "reroll"))
    elif path == "edit form":
        pressed = await discord.click(result, button(result, "edit"))
        await discord.until(lambda: pressed.callback_type == 9)
        modal = pressed.callback_data
        inputs = [c["custom_id"] for row in modal["components"] for c in row.get("components", [row])]
        await discord.submit_modal(modal["custom_id"], {inputs[0]: prompt, inputs[1]: ""}, message=result)
    else:
        await discord.react(result, "🔄")


@pytest.mark.parametrize("path", PATHS)
async def test_every_path_passes_the_same_checks_in_the_same_order(stack: Stack, path: str) -> None:
    """The door (`Admission.open`) runs every check, in `CHECKS`' order, whichever way the member asks; the Edit
    form is checked when its button is pressed (the form opens only if the door would) and again when sent."""
    discord = stack.discord
    async with stack.start(limits=LimitSettings(reroll_cooldown=0)) as app:
        _, result = await deliver(discord, "a red fox")
        recorded: list[str] = []

        def recording(name: str, check: Callable[[Knock], object]) -> Callable[[Knock], object]:
            def checked(knock: Knock) -> object:
                recorded.append(name)
                return check(knock)

            return checked

        app.admission.checks = tuple((name, recording(name, check)) for name, check in app.admission.checks)  # type: ignore[misc]
        await ask_and_start(discord, path, result, "a red fox")
        passes = 2 if path == "edit form" else 1
        await discord.until(lambda: recorded.count(CHECKS[-1]) == passes and len(stack.ran(stack.comfys[0])) == 2)
        await app.engine.wait_idle()
    assert recorded == list(CHECKS) * passes
    assert stack.ran(stack.comfys[0]) == ["a red fox"] * 2  # and the request ran
    assert CHECKS == ("access", "policy", "permissions", "cooldown", "caps")

"""Any message the bot can build, from any member input within the slash options' own limits (and any text
ComfyUI can send), is one the strict fake Discord accepts. Derandomized (tests/conftest.py); found examples are
pinned with @example."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.i18n import Text
from bot.jobs.events import Delivered, Failed, Queued, ResultFile, Running
from bot.media.fit import FittedResult
from bot.settings import LimitSettings
from bot.ui.render import Rendered, ResultActions, render_final, render_progress
from tests.discord_helpers import button, final, imagine, option
from tests.fakes.discord_api import FakeDiscord, Interaction
from tests.fakes.discord_rules import check_message, check_not_empty
from tests.test_fuzz_discord import running_stack

MANY = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
OVER_THE_WIRE = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
LOCALES = st.sampled_from(["en-US", "zh-CN"])
# what Discord lets a member type into a string option (up to 6000) or a text input (up to 4000)
typed = st.text(max_size=300) | st.text(min_size=1000, max_size=6000) | st.sampled_from(["", " ", "\n", "0"])
values = st.fixed_dictionaries(
    {},
    optional={
        "prompt": typed,
        "negative": typed,
        "seed": st.integers(0, 2**53) | st.just(0),
        "steps": st.integers(1, 1000),
        "cfg": st.floats(0, 100),
        "model": typed,
        "width": st.integers(0, 4096),
        "height": st.integers(0, 4096),
    },
)


def accepted(rendered: Rendered) -> None:
    """What discord.py would send for `rendered`, held to the fake's rules."""
    payload: dict[str, Any] = {"content": rendered.content}
    if rendered.embed is not None:
        payload["embeds"] = [rendered.embed.to_dict()]
    if rendered.view is not None:
        payload["components"] = rendered.view.to_components()
    check_message(payload)
    check_not_empty(rendered.content, payload.get("embeds", []), len(rendered.files), payload.get("components", []))


@MANY
@given(values, typed, LOCALES, st.integers(1, 16), st.booleans())
@example({"seed": 0, "negative": " "}, "", "en-US", 1, False)
def test_every_progress_and_final_message_fits(
    values: dict[str, Any], error: str, locale: str, images: int, vary: bool
) -> None:
    job_id = "00000000-0000-0000-0000-000000000000"
    for event in (Queued(3), Running(5, 20, "KSampler", 1.0)):
        accepted(render_progress(event, values, job_id, locale))
    actions = ResultActions(job_id, can_vary=vary, can_upscale=True, kind="edit", note=error[:200], locale=locale)
    note = Text("media.reencoded", format="WebP", quality=80, limit="10 MiB")
    fitted = [FittedResult(b"png", f"{n}.png", 3, note) for n in range(images)]
    delivered = Delivered(tuple(ResultFile(f"{n}.png", b"png") for n in range(images)), 1.0, error[:120] or "gpu")
    accepted(render_final(delivered, values, error[:100] or "txt2img", fitted, actions))
    failed = Failed(Text("failed.stopped", error=error))
    accepted(render_final(failed, values, "txt2img", [], actions, notes=[Text("delivery.held")]))


def answered(discord: FakeDiscord, asked: Interaction) -> bool:
    message = discord.messages.get(asked.message_id or 0)
    return message is not None and not message.flags & 128  # there, and no longer "thinking"


def test_settings_config_edit_and_comfyui_errors_are_answered_within_discords_rules(tmp_path: Path) -> None:
    limits = LimitSettings(reroll_cooldown=0, jobs_per_user=100, prompt_max_length=6000)  # every Edit form runs
    with running_stack(tmp_path, limits=limits) as (runner, stack, app):
        discord, comfy = stack.discord, stack.comfys[0]
        first = runner.run(imagine(discord, "a fox"))
        runner.run(discord.until(final(discord, first)))
        result = discord.original(first)

        def ask(group: str, option_name: str, value: str, member: dict[str, Any] | None = None) -> None:
            chosen = [option("option", option_name), option("value", value)]
            asked = runner.run(discord.interact(group, [{"name": "set", "type": 1, "options": chosen}], member=member))
            runner.run(discord.until(lambda: answered(discord, asked)))

        @OVER_THE_WIRE
        @given(st.sampled_from(["template", "aspect", "negative", "private"]), typed.filter(str.strip))
        def member_settings(name: str, value: str) -> None:
            ask("settings", name, value)

        @OVER_THE_WIRE
        @given(
            st.sampled_from(["channels", "roles", "admin_roles", "banned_words", "spoiler_outside_nsfw"]),
            typed.filter(str.strip) | st.lists(st.integers(10**17, 10**19).map(str), max_size=120).map(" ".join),
        )
        def server_rules(name: str, value: str) -> None:
            ask("config", name, value, member={"permissions": "32"})
            ask("config", "channels", "all", member={"permissions": "32"})  # keep /imagine allowed everywhere

        @OVER_THE_WIRE
        @given(st.text(min_size=1, max_size=4000), st.text(max_size=4000))
        def edit_form(prompt: str, negative: str) -> None:
            pressed = runner.run(discord.click(result, button(result, "edit")))
            runner.run(discord.until(lambda: pressed.callback_type is not None))
            if pressed.callback_type != 9:
                return  # refused (a banned word from the rules above, say): answered, nothing to submit
            modal = pressed.callback_data
            inputs = [row["components"][0]["custom_id"] for row in modal["components"]]
            submitted = runner.run(discord.submit_modal(modal["custom_id"], {inputs[0]: prompt, inputs[1]: negative}))
            runner.run(discord.until(final(discord, submitted), within=30))
            runner.run(asyncio.wait_for(app.engine.wait_idle(), 30))

        @OVER_THE_WIRE
        @given(st.text(max_size=6000))
        def comfyui_error(message: str) -> None:
            comfy.failures["KSampler"] = ("RuntimeError", message)
            try:
                asked = runner.run(imagine(discord, "a fox"))
                runner.run(discord.until(final(discord, asked), within=30))
                runner.run(asyncio.wait_for(app.engine.wait_idle(), 30))
            finally:
                comfy.failures.clear()

        for check in (member_settings, server_rules, edit_form, comfyui_error):
            check()
        refused = [(r.method, r.path, r.status, r.code) for r in discord.refused()]
        assert not refused, refused[:5]

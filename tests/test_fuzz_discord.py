"""Fuzzing what members send, over the wire: /imagine with any option values Discord lets through (any text,
inline flags, numbers across their whole declared ranges, unknown templates and models) and presses on buttons
whose ids name any job. Each gets an answer (a result, or a reason), no job is left open, and the bot keeps
answering the next one."""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.process.app import App
from bot.templates.template import SEED_MAX
from tests.discord_helpers import final, option
from tests.fakes.discord_api import FakeDiscord, Interaction
from tests.stack import Stack, make_stack

ONCE = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
ASPECTS = ["1:1", "3:2", "2:3", "4:3", "3:4", "16:9", "9:16"]

flag_text = st.lists(
    st.sampled_from(
        [
            "a fox",
            " --ar ",
            "16:9",
            "9:1",
            " --seed ",
            "42",
            "-1",
            " --no ",
            "text",
            " --steps ",
            "0",
            "999",
            " --cfg ",
            "nan",
            " --n ",
            "2",
            " --template ",
            "nope",
            "{}",
            '"',
            "\\",
            "🦊",
            "\n",
        ]
    ),
    min_size=1,
    max_size=12,
).map("".join)
prompts = st.text(min_size=1, max_size=300).filter(str.strip) | flag_text | st.just("x" * 6000)
imagine_options = st.fixed_dictionaries(
    {"prompt": prompts},
    optional={
        "negative": st.text(max_size=100),
        "aspect": st.sampled_from(ASPECTS),
        "seed": st.integers(-1, SEED_MAX),
        "steps": st.integers(1, 1000),
        "cfg": st.floats(0.0, 100.0),
        "count": st.integers(1, 16),
        "template": st.sampled_from(["txt2img", "quick", "img2img", "upscale", "", "../etc", "NOPE"]),
        "model": st.text(max_size=40) | st.just("v1-5-pruned-emaonly.safetensors"),
    },
)


@contextmanager
def running_stack(tmp_path: Path, **options: Any) -> Iterator[tuple[asyncio.Runner, Stack, App]]:
    """One bot for all the examples (starting one per example would take minutes)."""
    with asyncio.Runner() as runner:
        stack = runner.run(make_stack(1, tmp_path))
        started = stack.start(**options)
        app = runner.run(started.__aenter__())
        try:
            yield runner, stack, app
        finally:
            runner.run(started.__aexit__(None, None, None))
            runner.run(stack.discord.stop())
            runner.run(stack.comfys[0].stop())


async def answered(discord: FakeDiscord, interaction: Interaction, app: App) -> str:
    """What the member finally sees; also waits until no job is open."""
    await discord.until(final(discord, interaction), within=30)
    await asyncio.wait_for(app.engine.wait_idle(), 30)
    message = discord.original(interaction)
    return message.content or str(message.embeds[0]["title"])


def test_any_imagine_options_get_an_answer_and_leave_no_job_open(tmp_path: Path) -> None:
    with running_stack(tmp_path) as (runner, stack, app):
        seen: list[str] = []

        @ONCE
        @given(imagine_options)
        @example(options={"prompt": "--AR{"})  # found: the member's own brace is echoed, rightly
        def one(options: dict[str, Any]) -> None:
            choices = [option(name, value) for name, value in options.items()]
            interaction = runner.run(stack.discord.interact("imagine", choices))
            answer = runner.run(answered(stack.discord, interaction, app))
            assert answer == "Done" or answer.startswith(("⚠️ ", "❌ ")), answer
            assert "Traceback" not in answer and not re.search(r"\{[a-z_]+\}", answer)  # no unfilled placeholder
            seen.append(answer)

        one()
        assert any(a == "Done" for a in seen) and any(a.startswith("⚠️") for a in seen)  # both paths were fuzzed
        assert not app.engine.active


def test_presses_on_any_button_id_are_answered(tmp_path: Path) -> None:
    actions = st.sampled_from(["reroll", "vary", "upscale", "edit", "info", "delete", "cancel"])
    with running_stack(tmp_path) as (runner, stack, app):
        made = runner.run(stack.discord.interact("imagine", [option("prompt", "a fox")]))
        runner.run(answered(stack.discord, made, app))
        result = stack.discord.original(made)
        known = result.components[0]["components"][0]["custom_id"].split(":")[2]
        ids = itertools.count(10**15)

        @ONCE
        @given(actions, st.sampled_from([known, str(uuid.UUID(int=0)), str(uuid.uuid4())]), st.integers(1, 12))
        def one(action: str, job_id: str, index: int) -> None:
            custom_id = f"job:{action}:{job_id}" + (f":{index}" if action in ("vary", "upscale") else "")
            button = {"type": 2, "style": 2, "label": "x", "custom_id": custom_id}
            # Discord sends only presses of buttons a message has: a copy of the result carrying this one
            message = replace(result, id=next(ids), components=[{"type": 1, "components": [button]}])
            stack.discord.messages[message.id] = message
            pressed = runner.run(stack.discord.click(message, custom_id))
            runner.run(stack.discord.until(lambda: pressed.callback_type is not None, within=20))
            runner.run(asyncio.wait_for(app.engine.wait_idle(), 60))

        one()

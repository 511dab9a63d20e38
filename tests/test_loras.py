"""LoRAs end to end: `<lora:name:0.8>` in a prompt adds LoraLoaders after the model loader of a template whose
manifest allows it (`loras = 2`), and sets the LoRA parameters of a template that has a loader of its own;
what ComfyUI ran is read back from the fake's history."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from bot.process.app import App
from tests.discord_helpers import assembled, button, final, imagine, option, settings_between
from tests.fakes.comfy_server import FakeComfy, full_nodes
from tests.fakes.discord_api import FakeDiscord
from tests.stack import checkpoints

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
LORAS = ["fox.safetensors", "styles/ink.safetensors"]
STYLED_MANIFEST = """
name = "Styled"
loras = 2
[[parameters]]
name = "prompt"
type = "text"
targets = [{ node = "6", input = "text" }]
"""
Started = Callable[[], AbstractAsyncContextManager[App]]


@pytest.fixture
def start_bot(fake: FakeComfy, discord_fake: FakeDiscord, tmp_path: Path) -> Started:
    checkpoints(fake).append("v1-5-pruned-emaonly.safetensors")
    nodes = full_nodes("LoraLoader")
    nodes["LoraLoader"]["input"]["required"]["lora_name"][0][:] = LORAS  # what its loras folder holds
    fake.object_info.update(nodes)
    folder = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, folder)
    shipped = json.loads((WORKFLOWS / "txt2img.json").read_text())
    (folder / "styled.json").write_text(json.dumps(shipped))
    (folder / "styled.toml").write_text(STYLED_MANIFEST)
    own = copy.deepcopy(shipped)  # a LoRA of its own between the checkpoint and the sampler and prompts
    own["10"] = {
        "class_type": "LoraLoader",
        "inputs": {"model": ["4", 0], "clip": ["4", 1], "lora_name": LORAS[0], "strength_model": 1, "strength_clip": 1},
    }
    own["3"]["inputs"]["model"] = ["10", 0]
    own["6"]["inputs"]["clip"] = own["7"]["inputs"]["clip"] = ["10", 1]
    (folder / "ownlora.json").write_text(json.dumps(own))

    def start() -> AbstractAsyncContextManager[App]:
        return assembled(settings_between(fake.base_url, discord_fake.api_base, tmp_path))

    return start


def ran(comfy: FakeComfy) -> dict[str, Any]:
    [entry] = comfy.history.values()
    prompt: dict[str, Any] = entry["prompt"][2]
    return prompt


async def test_lora_tags_add_loaders_after_the_checkpoint(
    start_bot: Started, fake: FakeComfy, discord_fake: FakeDiscord
) -> None:
    async with start_bot():
        interaction = await imagine(discord_fake, "a fox <lora:ink:0.8> in the snow <lora:fox>", template="styled")
        await discord_fake.until(final(discord_fake, interaction))

    assert discord_fake.original(interaction).embeds[0]["title"] == "Done"
    graph = ran(fake)
    assert graph["lora-1"]["class_type"] == graph["lora-2"]["class_type"] == "LoraLoader"
    assert graph["lora-1"]["inputs"] == {
        "model": ["4", 0],
        "clip": ["4", 1],
        "lora_name": "styles/ink.safetensors",
        "strength_model": 0.8,
        "strength_clip": 0.8,
    }
    assert graph["lora-2"]["inputs"] == {
        "model": ["lora-1", 0],
        "clip": ["lora-1", 1],
        "lora_name": "fox.safetensors",
        "strength_model": 1.0,
        "strength_clip": 1.0,
    }
    assert graph["3"]["inputs"]["model"] == ["lora-2", 0]  # the sampler and both prompts go through them
    assert graph["6"]["inputs"]["clip"] == graph["7"]["inputs"]["clip"] == ["lora-2", 1]
    assert graph["6"]["inputs"]["text"] == "a fox in the snow"  # the tags left the prompt


async def test_a_lora_tag_sets_the_templates_own_lora_parameter(
    start_bot: Started, fake: FakeComfy, discord_fake: FakeDiscord
) -> None:
    async with start_bot():
        interaction = await imagine(discord_fake, "a fox <lora:FOX.safetensors:0.5>", template="ownlora")
        await discord_fake.until(final(discord_fake, interaction))

    graph = ran(fake)
    assert graph["10"]["inputs"]["lora_name"] == "fox.safetensors"
    assert graph["10"]["inputs"]["strength_model"] == graph["10"]["inputs"]["strength_clip"] == 0.5
    assert not [node for node in graph if node.startswith("lora-")]


async def test_an_unknown_lora_or_too_many_are_refused_saying_what_is_known(
    start_bot: Started, fake: FakeComfy, discord_fake: FakeDiscord
) -> None:
    async with start_bot():
        unknown = await imagine(discord_fake, "a fox <lora:owl>", template="styled")
        await discord_fake.until(final(discord_fake, unknown))
        many = await imagine(discord_fake, "a fox <lora:fox> <lora:ink> <lora:fox>", template="styled")
        await discord_fake.until(final(discord_fake, many))

    assert discord_fake.original(unknown).content == "⚠️ No ComfyUI server has a LoRA called owl. Known: fox, ink."
    assert discord_fake.original(many).content == (
        "⚠️ styled takes at most 2 LoRA(s); your prompt has 3. Remove some <lora:...> tags."
    )
    assert not fake.history


async def test_the_lora_option_adds_one_at_full_strength(
    start_bot: Started, fake: FakeComfy, discord_fake: FakeDiscord
) -> None:
    async with start_bot():
        interaction = await imagine(discord_fake, "a fox", template="styled", lora="ink")
        await discord_fake.until(final(discord_fake, interaction))

    graph = ran(fake)
    assert graph["lora-1"]["inputs"]["lora_name"] == "styles/ink.safetensors"
    assert graph["lora-1"]["inputs"]["strength_model"] == 1.0 and "lora-2" not in graph


async def test_a_reroll_keeps_the_added_loras(start_bot: Started, fake: FakeComfy, discord_fake: FakeDiscord) -> None:
    async with start_bot():
        asked = await imagine(discord_fake, "a fox <lora:ink:0.6>", template="styled")
        await discord_fake.until(final(discord_fake, asked))
        result = discord_fake.original(asked)
        reroll = await discord_fake.click(result, button(result, "reroll"))
        await discord_fake.until(final(discord_fake, reroll))

    first, again = (entry["prompt"][2] for entry in fake.history.values())
    assert again["lora-1"]["inputs"] == first["lora-1"]["inputs"]
    assert again["6"]["inputs"]["text"] == "a fox" and len(fake.history) == 2


async def test_the_lora_option_is_autocompleted_from_the_servers_loras(
    start_bot: Started, fake: FakeComfy, discord_fake: FakeDiscord
) -> None:
    async with start_bot():
        typed = await discord_fake.autocomplete(
            "imagine", [option("prompt", "a fox"), option("lora", "IN")], focused="lora"
        )
        await discord_fake.until(lambda: typed.callback_type == 8)

    assert typed.callback_data == {"choices": [{"name": "styles/ink.safetensors", "value": "styles/ink.safetensors"}]}

"""Held to the real peers, end to end: workflows as ComfyUI's own frontend saves and converts them, custom
output nodes as community workflows end, and what a member is told when a template cannot be used. Each test
runs the real bot between the fake ComfyUI and the fake Discord; assertions are on what went over the wire."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from bot.process.app import App
from tests.discord_helpers import assembled, button, final, imagine, settings_between
from tests.fakes.comfy_server import FakeComfy, full_nodes
from tests.fakes.discord_api import CHANNEL_ID, FakeDiscord, Interaction
from tests.stack import checkpoints
from tests.templates.ui_graphs import UiGraph, txt2img

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
Started = Callable[..., AbstractAsyncContextManager[App]]


@pytest.fixture
def comfy(fake: FakeComfy) -> FakeComfy:
    checkpoints(fake).append("v1-5-pruned-emaonly.safetensors")
    checkpoints(fake).append("sd15-random.safetensors")
    return fake


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copytree(WORKFLOWS, tmp_path / "workflows")
    return tmp_path / "workflows"


@pytest.fixture
def start_bot(comfy: FakeComfy, discord_fake: FakeDiscord, folder: Path) -> Started:
    def start(**options: Any) -> AbstractAsyncContextManager[App]:
        return assembled(settings_between(comfy.base_url, discord_fake.api_base, folder.parent, **options))

    return start


async def made(start_bot: Started, discord_fake: FakeDiscord, prompt: str, template: str) -> Interaction:
    """One /imagine with `template`, its message final, and the bot stopped."""
    async with start_bot():
        interaction = await imagine(discord_fake, prompt, template=template)
        await discord_fake.until(final(discord_fake, interaction))
    return interaction


def submitted(comfy: FakeComfy) -> list[dict[str, Any]]:
    return [json.loads(body)["prompt"] for _, path, body in comfy.requests if path == "/prompt"]


def default_export() -> dict[str, Any]:
    """ComfyUI's default workflow as `default.json` of comfyui-workflow-templates 0.1.95 saves it: the seed's
    control widget holds the older `true` (randomize), not "randomize"."""
    graph = UiGraph()
    nodes = txt2img(graph)
    nodes["sampler"]["widgets_values"] = [156680208700286, True, 20, 8, "euler", "normal", 1]
    return graph.export()


async def test_the_official_default_workflow_with_an_older_control_value_runs_as_the_frontend_converts_it(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord, folder: Path
) -> None:
    (folder / "default.json").write_text(json.dumps(default_export()))
    interaction = await made(start_bot, discord_fake, "a lighthouse at dusk", "default")

    [prompt] = submitted(comfy)
    sampler = {k: v for k, v in prompt["3"]["inputs"].items() if not isinstance(v, list)}
    del sampler["seed"]  # random per job
    assert sampler == {"steps": 20, "cfg": 8, "sampler_name": "euler", "scheduler": "normal", "denoise": 1}
    assert discord_fake.original(interaction).embeds[0]["title"] == "Done"


async def test_a_callback_answer_without_its_optional_fields_still_edits_the_loading_message_in_place(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord
) -> None:
    """Discord's spec marks `resource` and `interaction.response_message_id` optional: without them the bot
    reads `@original`, and progress and the result still land in the member's loading message."""
    discord_fake.sparse_callbacks = True
    comfy.step_delay = 0.2
    async with start_bot():
        interaction = await imagine(discord_fake, "a fox in the snow")
        await discord_fake.until(final(discord_fake, interaction))
        message = discord_fake.original(interaction)
        reroll = await discord_fake.click(message, button(message, "reroll"))
        await discord_fake.until(final(discord_fake, reroll))

    assert message.embeds[0]["title"] == "Done" and message.files
    assert discord_fake.original(reroll).embeds[0]["title"] == "Done"
    assert discord_fake.sent("POST", f"/channels/{CHANNEL_ID}/messages") == []  # nothing posted anew
    assert not discord_fake.refused()


VIDEO_COMBINE = {  # VideoHelperSuite's "Video Combine" as its server's /object_info describes it: a custom node
    "input": {
        "required": {
            "images": ["IMAGE"],
            "frame_rate": ["FLOAT", {"default": 8, "min": 1, "step": 1}],
            "loop_count": ["INT", {"default": 0, "min": 0, "max": 100, "step": 1}],
            "filename_prefix": ["STRING", {"default": "AnimateDiff"}],
            "format": [["image/gif", "image/webp", "video/h264-mp4"], {}],
            "pingpong": ["BOOLEAN", {"default": False}],
            "save_output": ["BOOLEAN", {"default": True}],
        },
        "optional": {"audio": ["AUDIO"]},
        "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO", "unique_id": "UNIQUE_ID"},
    },
    "input_order": {
        "required": ["images", "frame_rate", "loop_count", "filename_prefix", "format", "pingpong", "save_output"],
        "optional": ["audio"],
    },
    "output": ["VHS_FILENAMES"],
    "output_is_list": [False],
    "output_name": ["Filenames"],
    "name": "VHS_VideoCombine",
    "display_name": "Video Combine 🎥🅥🅗🅢",
    "description": "",
    "python_module": "custom_nodes.ComfyUI-VideoHelperSuite",
    "category": "Video Helper Suite 🎥🅥🅗🅢",
    "output_node": True,
}


def video_combine_workflow() -> dict[str, Any]:
    """The shipped txt2img graph ending in Video Combine instead of SaveImage, as community AnimateDiff and Wan
    workflows end."""
    graph: dict[str, Any] = json.loads((WORKFLOWS / "txt2img.json").read_text())
    [save] = [node_id for node_id, body in graph.items() if body["class_type"] == "SaveImage"]
    images = graph.pop(save)["inputs"]["images"]
    graph["20"] = {
        "class_type": "VHS_VideoCombine",
        "inputs": {
            "images": images,
            "frame_rate": 8,
            "loop_count": 0,
            "filename_prefix": "AnimateDiff",
            "format": "video/h264-mp4",
            "pingpong": False,
            "save_output": True,
        },
    }
    return graph


async def test_a_workflow_ending_in_a_custom_output_node_delivers_what_it_reports(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord, folder: Path
) -> None:
    comfy.object_info["VHS_VideoCombine"] = VIDEO_COMBINE
    (folder / "animate.json").write_text(json.dumps(video_combine_workflow()))
    interaction = await made(start_bot, discord_fake, "a fox running", "animate")

    message = discord_fake.original(interaction)
    assert message.embeds[0]["title"] == "Done"
    [sent] = message.files
    assert sent.filename == "AnimateDiff_00001.mp4"
    assert sent.data == comfy.files[("output", "", "AnimateDiff_00001.mp4")]  # the video, not its first frame


def refused_export() -> dict[str, Any]:
    """A UI export using a node the server does not have: refused when converted."""
    graph = UiGraph()
    nodes = txt2img(graph)
    nodes["decode"]["type"] = "VAEDecodeTiledExtra"
    return graph.export()


async def test_a_refused_template_is_told_as_refused_and_why_to_the_servers_admins(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord, folder: Path
) -> None:
    (folder / "broken.json").write_text(json.dumps(refused_export()))
    async with start_bot():
        member = await imagine(discord_fake, "a fox", template="broken")
        admin = await imagine(discord_fake, "a fox", template="broken", member={"permissions": str(1 << 5)})
        await discord_fake.until(lambda: all(final(discord_fake, i)() for i in (member, admin)))

    assert discord_fake.original(member).content == (
        "⚠️ The template broken cannot be used right now: its workflow was refused when the bot read it. "
        "The server's admins can see why."
    )
    assert discord_fake.original(admin).content == (
        "⚠️ The template broken cannot be used: broken.json: a UI-format export that cannot be converted: "
        "node 8 `VAEDecodeTiledExtra` is not installed on gpu1"
    )
    assert submitted(comfy) == []


async def test_a_ui_export_waiting_for_a_server_is_told_as_waiting(
    comfy: FakeComfy, discord_fake: FakeDiscord, folder: Path
) -> None:
    """No ComfyUI server has answered yet: a UI export cannot be converted, and the member is told so."""
    (folder / "default.json").write_text(json.dumps(default_export()))
    await comfy.stop()  # nothing answers at its address
    async with assembled(settings_between(comfy.base_url, discord_fake.api_base, folder.parent)):
        asked = await imagine(discord_fake, "a fox", template="default")
        await discord_fake.until(final(discord_fake, asked))

    assert discord_fake.original(asked).content == (
        "⚠️ The template default is a workflow saved from ComfyUI's editor: it becomes usable once a ComfyUI "
        "server answers, and none has yet. Try again in a minute."
    )


async def test_a_text_that_is_a_templates_only_result_is_shown(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord, folder: Path
) -> None:
    comfy.object_info.update(full_nodes("PrimitiveStringMultiline", "PreviewAny"))
    shown = {
        "1": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "hello"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }
    (folder / "shown.json").write_text(json.dumps(shown))
    (folder / "shown.toml").write_text(
        '[[parameters]]\nname = "prompt"\ntype = "text"\ntargets = [{ node = "1", input = "value" }]\n'
    )
    async with start_bot():
        asked = await imagine(discord_fake, "a lighthouse", template="shown")
        await discord_fake.until(
            lambda: (
                asked.message_id in discord_fake.messages
                and [e["title"] for e in discord_fake.original(asked).embeds] == ["Done"]
            )
        )

    message = discord_fake.original(asked)
    assert message.embeds[0]["title"] == "Done" and not message.files
    assert "a lighthouse" in json.dumps(message.embeds[0])

"""/imagine end to end: the fake Discord dispatches the command, the fake ComfyUI runs it, the real bot in
between. Assertions are on what went over the wire to Discord."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from bot.__main__ import run
from bot.process.app import App
from bot.settings import (
    DatabaseSettings,
    DiscordSettings,
    Settings,
    TemplateSettings,
)
from bot.settings.comfy import BackendSettings, ComfySettings
from tests.discord_helpers import (
    assembled,
    busiest_bucket,
    button,
    edits_of,
    fields,
    final,
    imagine,
    option,
    settings_between,
    wait_until_older_than,
)
from tests.fakes.comfy_exec import png
from tests.fakes.comfy_server import FakeComfy, full_nodes
from tests.fakes.discord_api import CHANNEL_ID, USER_ID, FakeDiscord, Message
from tests.stack import checkpoints

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
SHIPPED_CHECKPOINT = "v1-5-pruned-emaonly.safetensors"


@pytest.fixture
def comfy(fake: FakeComfy) -> FakeComfy:
    checkpoints(fake).append(SHIPPED_CHECKPOINT)
    fake.step_delay = 0.01
    return fake


Started = Callable[..., Any]


@pytest.fixture
def start_bot(comfy: FakeComfy, discord_fake: FakeDiscord, tmp_path: Path) -> Started:
    shutil.copytree(WORKFLOWS, tmp_path / "workflows")

    def start(**discord: Any) -> AbstractAsyncContextManager[App]:
        return assembled(settings_between(comfy.base_url, discord_fake.api_base, tmp_path, **discord))

    return start


async def test_imagine_defers_shows_progress_with_a_preview_and_attaches_the_exact_png(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord
) -> None:
    comfy.step_delay = 0.4  # long enough for progress edits between the budgeted flushes
    async with start_bot():
        interaction = await imagine(discord_fake, 'a "fox" in {snow} --ar 3:2 --steps 8 --seed 42')
        await discord_fake.until(final(discord_fake, interaction))

    assert interaction.callback_type == 5  # deferred at once
    edits = edits_of(discord_fake, interaction)
    progress = [e for e in edits if e.json["embeds"][0]["title"] == "Running"]
    assert progress, "no progress edit was sent"
    assert any(f.filename == "preview.jpg" and f.data == comfy.preview for e in progress for f in e.files)
    assert len(edits) < 8  # coalesced: far fewer edits than the 8 steps' progress events and queue moves

    message = discord_fake.original(interaction)
    [saved] = [key for key in comfy.files if key[0] == "output"]
    assert [f.filename for f in message.files] == [saved[2]]
    assert message.files[0].data == comfy.files[saved]  # byte for byte what /view served
    shown = fields(message)
    assert shown["Prompt"] == 'a "fox" in {snow}'
    assert shown["Seed"] == "42" and shown["Steps"] == "8" and shown["Size"] == "640x448"
    assert shown["Template"] == "txt2img" and shown["Backend"] == "gpu1" and shown["Model"] == SHIPPED_CHECKPOINT


async def test_twenty_concurrent_jobs_in_one_channel_all_arrive_without_a_429(
    start_bot: Started, discord_fake: FakeDiscord
) -> None:
    discord_fake.window = 1.0  # the same rule as Discord's 5 edits per 5 s, compressed 5x to keep the test short
    async with start_bot(bucket_window=1.0, edit_interval=0.3):
        interactions = [await imagine(discord_fake, f"picture {n}", user=USER_ID + n) for n in range(20)]
        for interaction in interactions:
            await discord_fake.until(final(discord_fake, interaction), within=60)

    assert discord_fake.rate_limited == 0
    for interaction in interactions:
        message = discord_fake.original(interaction)
        assert message.embeds and message.embeds[0]["title"] == "Done", message.content
    busiest = busiest_bucket(discord_fake, 1.0)
    assert busiest <= 4  # the bot's own budget in each of Discord's buckets, under Discord's 5
    per_job = [len(edits_of(discord_fake, i)) for i in interactions]
    print(
        f"\nedits per job: min {min(per_job)}, max {max(per_job)}, mean {sum(per_job) / 20:.1f}; "
        f"most edits in one bucket in any 1 s window (5 s compressed 5x): {busiest}"
    )


async def test_a_job_outliving_its_token_is_delivered_through_the_channel(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord
) -> None:
    discord_fake.token_lifetime = 1.0
    async with start_bot(token_handoff=0.5):
        comfy.hold()
        interaction = await imagine(discord_fake, "a slow one")
        await comfy.until(lambda: comfy.running is not None)
        await discord_fake.until(lambda: interaction.message_id is not None)
        await wait_until_older_than(interaction, 1.1)
        comfy.release()
        await discord_fake.until(final(discord_fake, interaction))

    message = discord_fake.original(interaction)
    assert message.embeds[0]["title"] == "Done" and message.files
    channel_edits = discord_fake.sent("PATCH", f"/channels/{CHANNEL_ID}/messages/{message.id}")
    assert channel_edits and channel_edits[-1].files  # the result went through the bot-token channel route


async def test_when_the_jobs_message_is_gone_a_new_message_mentions_the_member(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord
) -> None:
    discord_fake.token_lifetime = 1.0
    posts = f"/channels/{CHANNEL_ID}/messages"

    def result_posted() -> bool:
        return any(r.method == "POST" and r.path == posts and r.files for r in discord_fake.requests)

    async with start_bot(token_handoff=0.5):
        comfy.hold()
        interaction = await imagine(discord_fake, "a slow one")
        await discord_fake.until(lambda: interaction.message_id is not None)
        await wait_until_older_than(interaction, 1.1)
        del discord_fake.messages[interaction.message_id or 0]  # a moderator deleted it
        comfy.release()
        await discord_fake.until(result_posted)
    [post] = discord_fake.sent("POST", posts)  # one message with the result, not one per progress update
    [posted] = [m for m in discord_fake.messages.values() if m.id != interaction.message_id]
    assert posted.content.startswith(f"<@{USER_ID}>") and posted.embeds[0]["title"] == "Done" and posted.files
    assert post.files


async def test_more_than_ten_images_continue_in_a_follow_up(start_bot: Started, discord_fake: FakeDiscord) -> None:
    async with start_bot():
        interaction = await imagine(discord_fake, "many", template="quick", count=12)
        await discord_fake.until(lambda: bool(discord_fake.sent("POST", f"/webhooks/1000/{interaction.token}")))
    assert len(discord_fake.original(interaction).files) == 10
    [follow_up] = discord_fake.sent("POST", f"/webhooks/1000/{interaction.token}")
    assert len(follow_up.files) == 2


async def imagine_on_a_photo(start_bot: Started, discord_fake: FakeDiscord, prompt: str, template: str) -> Message:
    """/imagine with a photo attached as its image, once the job has ended: the member's message."""
    attachment_id, resolved = discord_fake.attachment("photo.png", png(7, 48))
    choices = [
        option("prompt", prompt),
        option("template", template),
        {"name": "image", "type": 11, "value": attachment_id},
    ]
    async with start_bot():
        interaction = await discord_fake.interact("imagine", choices, resolved=resolved)
        await discord_fake.until(final(discord_fake, interaction))
    return discord_fake.original(interaction)


async def test_an_attached_image_runs_img2img(start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord) -> None:
    photo = png(7, 48)  # a real image: what reaches ComfyUI is the bot's own PNG of it
    message = await imagine_on_a_photo(start_bot, discord_fake, "as a watercolor", "img2img")
    assert message.embeds[0]["title"] == "Done"
    uploaded = [key for key in comfy.files if key[0] == "input"]
    assert len(uploaded) == 1
    sent = Image.open(io.BytesIO(comfy.files[uploaded[0]]))
    assert sent.format == "PNG" and sent.tobytes() == Image.open(io.BytesIO(photo)).convert(sent.mode).tobytes()
    assert uploaded[0][1] == "discord-bot"


async def test_an_aspect_ratio_on_a_template_that_takes_an_image_and_a_size_is_bound_once(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord, tmp_path: Path
) -> None:
    """The size for `--ar` comes from the template's own width and height, read without binding it: binding a
    template that takes an image, with nothing, would refuse it for lacking the image the member attached."""
    folder = tmp_path / "workflows"
    graph = json.loads((folder / "img2img.json").read_text())
    graph["12"] = {
        "class_type": "ImageScale",
        "_meta": {"title": "Scale"},
        "inputs": {"image": ["10", 0], "upscale_method": "bilinear", "width": 512, "height": 512, "crop": "disabled"},
    }
    graph["11"]["inputs"]["pixels"] = ["12", 0]
    (folder / "rescale.json").write_text(json.dumps(graph))
    manifest = (folder / "img2img.toml").read_text() + "".join(
        f'\n[[parameters]]\nname = "{side}"\ntype = "int"\ntargets = [{{ title = "Scale", input = "{side}" }}]\n'
        for side in ("width", "height")
    )
    (folder / "rescale.toml").write_text(manifest)
    comfy.object_info.update(full_nodes("ImageScale"))  # as the real server defines it
    message = await imagine_on_a_photo(start_bot, discord_fake, "as a watercolor --ar 16:9", "rescale")
    assert message.embeds and message.embeds[0]["title"] == "Done", message.content
    [ran] = comfy.history.values()
    scale = ran["prompt"][2]["12"]["inputs"]
    assert scale["width"] / scale["height"] == pytest.approx(16 / 9, rel=0.05)
    assert scale["width"] * scale["height"] == pytest.approx(512 * 512, rel=0.1)  # the template's own area


async def test_the_fake_enforces_the_three_second_acknowledgement(discord_fake: FakeDiscord) -> None:
    discord_fake.ack_deadline = 0.0
    interaction = await discord_fake.interact("imagine", [option("prompt", "late")])
    async with aiohttp.ClientSession() as session:
        url = f"{discord_fake.api_base}/interactions/{interaction.id}/{interaction.token}/callback"
        async with session.post(url, json={"type": 5}) as response:
            assert response.status == 404 and (await response.json())["code"] == 10062


async def test_the_sync_command_pushes_the_commands(
    comfy: FakeComfy, discord_fake: FakeDiscord, tmp_path: Path
) -> None:
    settings = Settings(
        discord=DiscordSettings(token="test-token", api_base=discord_fake.api_base),
        comfy=ComfySettings(backends=[BackendSettings(url=comfy.base_url)]),
        database=DatabaseSettings(path=tmp_path / "bot.sqlite3"),
        templates=TemplateSettings(dir=WORKFLOWS),
    )
    await run(settings, sync_only=True)
    assert discord_fake.command_puts == 1
    commands = {command["name"]: command for command in discord_fake.commands["global"]}
    assert sorted(commands) == [
        "backend",
        "cancel",
        "clearqueue",
        "config",
        "history",
        "imagine",
        "models",
        "queue",
        "rerolls",
        "settings",
        "status",
        "usage",
        "workflows",
    ]
    imagine_command = commands["imagine"]
    assert [o["name"] for o in imagine_command["options"]][:3] == ["prompt", "negative", "aspect"]


async def test_an_oversize_result_is_reencoded_under_the_limit(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord
) -> None:
    comfy.output_side, comfy.output_noise = 256, True  # ~200 KB PNGs
    discord_fake.upload_limit = 100_000
    async with start_bot():
        interaction = await imagine(discord_fake, "noise")
        await discord_fake.until(final(discord_fake, interaction))

    message = discord_fake.original(interaction)
    [sent] = message.files
    [saved] = [key for key in comfy.files if key[0] == "output"]
    assert len(comfy.files[saved]) > 100_000 >= len(sent.data)
    assert sent.filename.endswith((".webp", ".jpg"))
    assert "re-encoded as" in message.embeds[0]["footer"]["text"]


@pytest.mark.parametrize(
    ("prompt", "options", "expected"),
    [
        ("a fox " + "very " * 400, {}, "⚠️ Your prompt is 2,005 characters; the limit is 1,500. Shorten it."),
        ("a fox --steps 100", {}, "⚠️ steps must be at most 60 on this server (got 100)."),
        ("a fox --cfg 50", {}, "⚠️ cfg must be from 1 to 20 (got 50)"),
        ("a fox", {"template": "nope"}, "⚠️ unknown template 'nope'; available: img2img, quick, txt2img, upscale"),
        (
            "a fox --size 3",
            {},
            "⚠️ Unknown flag --size. Known flags: --ar, --aspect, --seed, --no, --negative, "
            "--steps, --cfg, --count, --n, --model, --template, --fps, --length, --frames.",
        ),
        ("a fox", {"template": "img2img"}, "⚠️ img2img needs an image: attach one as 'image'"),
    ],
)
async def test_bad_requests_are_explained_in_place_of_the_progress(
    start_bot: Started, discord_fake: FakeDiscord, prompt: str, options: dict[str, Any], expected: str
) -> None:
    async with start_bot():
        interaction = await imagine(discord_fake, prompt, **options)
        await discord_fake.until(final(discord_fake, interaction))
    assert discord_fake.original(interaction).content == expected


async def test_a_missing_model_is_refused_with_what_is_missing(start_bot: Started, discord_fake: FakeDiscord) -> None:
    async with start_bot():
        interaction = await imagine(discord_fake, "a fox --model missing.safetensors")
        await discord_fake.until(final(discord_fake, interaction))
    assert discord_fake.original(interaction).content == (
        "⚠️ No server can run this job: gpu1: node 4: ckpt_name 'missing.safetensors' is not available. "
        "Pick another model or template."
    )


async def test_a_graph_comfyui_rejects_names_the_node_and_why(
    start_bot: Started, discord_fake: FakeDiscord, tmp_path: Path
) -> None:
    broken = json.loads((WORKFLOWS / "quick.json").read_text())
    del broken["3"]["inputs"]["model"]  # an admin's export with a required input missing
    (tmp_path / "workflows" / "broken.json").write_text(json.dumps(broken))
    async with start_bot():
        interaction = await imagine(discord_fake, "a fox", template="broken")
        await discord_fake.until(final(discord_fake, interaction))
    assert discord_fake.original(interaction).content == (
        "❌ ComfyUI refused the workflow: node 3 (KSampler): Required input is missing: model. "
        "An admin should check this template."
    )


async def test_a_backend_that_is_down_keeps_the_job_waiting(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord
) -> None:
    async with start_bot():
        await comfy.stop()
        interaction = await imagine(discord_fake, "patience")
        await discord_fake.until(
            lambda: (
                interaction.message_id in discord_fake.messages
                and any(e.get("title") == "Waiting for a backend" for e in discord_fake.original(interaction).embeds)
            )
        )
        await comfy.start()  # the same port: the server is back
        await discord_fake.until(final(discord_fake, interaction))
    assert discord_fake.original(interaction).embeds[0]["title"] == "Done"


async def test_an_inline_seed_of_minus_one_means_a_random_seed(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord
) -> None:
    """People type `--seed -1` for "random", as in ComfyUI and most front ends."""
    async with start_bot():
        interaction = await imagine(discord_fake, "a fox --seed -1")
        await discord_fake.until(final(discord_fake, interaction))
    [entry] = comfy.history.values()
    assert entry["prompt"][2]["3"]["inputs"]["seed"] >= 0
    assert discord_fake.original(interaction).embeds[0]["title"] == "Done"


async def test_a_masked_link_in_a_prompt_is_not_clickable_in_the_result_nor_in_info(
    start_bot: Started, discord_fake: FakeDiscord
) -> None:
    async with start_bot():
        interaction = await imagine(discord_fake, "[free nitro](https://evil.example) a **fox**")
        await discord_fake.until(final(discord_fake, interaction))
        result = discord_fake.original(interaction)
        info = await discord_fake.click(result, button(result, "info"))
        await discord_fake.until(lambda: info.message_id is not None)
    escaped = "\\[free nitro](https://evil.example) a \\*\\*fox\\*\\*"  # shown as typed, no link, no bold
    assert fields(result)["Prompt"] == fields(discord_fake.original(info))["prompt"] == escaped

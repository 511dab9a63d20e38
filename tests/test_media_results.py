"""Results of every kind, end to end through the fake ComfyUI (its Save nodes write what ComfyUI's write, as
recorded) and the fake Discord: a video from a UI-format export, attached as a playable MP4 and, over the
upload limit, re-encoded under it; a sound; a text output shown in the embed; a sound a member attaches, given
to LoadAudio as the bot's own FLAC."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import av
import pytest

from bot.process.app import App
from tests import hostile_media
from tests.discord_helpers import assembled, button, ended, final, imagine, option, settings_between
from tests.fakes import media
from tests.fakes.comfy_server import FakeComfy, full_nodes
from tests.fakes.discord_api import FakeDiscord, Interaction
from tests.stack import checkpoints
from tests.templates.ui_graphs import UiGraph, txt2img

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
Started = Callable[..., AbstractAsyncContextManager[App]]

SPOKEN = {  # a sound and a text: the prompt goes to a string primitive that PreviewAny shows
    "1": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "hello"}, "_meta": {"title": "Words"}},
    "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}, "_meta": {"title": "Shown"}},
    "3": {"class_type": "LoadAudio", "inputs": {"audio": "tone.wav"}, "_meta": {"title": "Sound"}},
    "4": {"class_type": "SaveAudio", "inputs": {"audio": ["3", 0], "filename_prefix": "audio/spoken"}},
}
ECHO_MANIFEST = """
name = "Echo"
[[parameters]]
name = "prompt"
type = "text"
targets = [{ node = "1", input = "value" }]
[[parameters]]
name = "voice"
type = "audio"
targets = [{ title = "Sound", input = "audio" }]
"""
SPOKEN_MANIFEST = """
name = "Spoken"
[[parameters]]
name = "prompt"
type = "text"
targets = [{ node = "1", input = "value" }]
"""


def video_export() -> dict[str, Any]:
    """The default workflow saved by ComfyUI's frontend, its images made into a video: CreateVideo (8 fps) and
    SaveVideo in place of SaveImage."""
    graph = UiGraph()
    nodes = txt2img(graph)
    graph.nodes.remove(nodes["save"])
    graph.links = [link for link in graph.links if link[3] != 9]
    create = graph.node(
        10,
        "CreateVideo",
        inputs=(("images", "IMAGE"), ("audio", "AUDIO")),
        outputs=(("VIDEO", "VIDEO"),),
        widgets=[8],
    )
    save = graph.node(11, "SaveVideo", inputs=(("video", "VIDEO"),), widgets=["video/fox", "mp4", "h264"])
    graph.link(nodes["decode"], 0, create, 0, "IMAGE")
    graph.link(create, 0, save, 0, "VIDEO")
    return graph.export()


@pytest.fixture
def comfy(fake: FakeComfy) -> FakeComfy:
    checkpoints(fake).append("v1-5-pruned-emaonly.safetensors")
    return fake


@pytest.fixture
def start_bot(comfy: FakeComfy, discord_fake: FakeDiscord, tmp_path: Path) -> Started:
    shutil.copytree(WORKFLOWS, tmp_path / "workflows")
    folder = tmp_path / "workflows"
    (folder / "video.json").write_text(json.dumps(video_export()))
    (folder / "spoken.json").write_text(json.dumps(SPOKEN))
    (folder / "spoken.toml").write_text(SPOKEN_MANIFEST)
    (folder / "echo.json").write_text(json.dumps(SPOKEN))
    (folder / "echo.toml").write_text(ECHO_MANIFEST)
    nodes = full_nodes("CreateVideo", "SaveVideo", "PrimitiveStringMultiline", "PreviewAny", "LoadAudio", "SaveAudio")
    comfy.object_info.update(nodes)
    comfy.files[("input", "", "tone.wav")] = media.sound("flac")  # a file in its input folder

    def start() -> AbstractAsyncContextManager[App]:
        return assembled(settings_between(comfy.base_url, discord_fake.api_base, tmp_path))

    return start


def decoded_frames(data: bytes) -> int:
    with av.open(io.BytesIO(data), "r") as video:
        assert video.streams.video[0].codec_context.name == "h264"
        return sum(1 for _ in video.decode(video=0))


async def test_a_ui_format_video_workflow_attaches_a_playable_mp4(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord
) -> None:
    async with start_bot():
        interaction = await imagine(discord_fake, "a fox in the snow --fps 12", template="video")
        await discord_fake.until(final(discord_fake, interaction))

    message = discord_fake.original(interaction)
    [(kind, subfolder, name)] = [key for key in comfy.files if key[0] == "output"]
    assert (subfolder, name) == ("video", "fox_00001_.mp4")
    [sent] = message.files
    assert sent.filename == "fox_00001_.mp4" and sent.data == comfy.files[(kind, subfolder, name)]
    assert decoded_frames(sent.data) == 8  # one second at 8 fps: it plays
    [prompt] = [json.loads(body)["prompt"] for method, path, body in comfy.requests if path == "/prompt"]
    assert prompt["10"]["inputs"]["fps"] == 12 and prompt["11"]["inputs"]["format"] == "mp4"  # --fps reached it
    labels = [c["label"] for row in message.components for c in row["components"]]
    assert "Vary" not in labels and "Upscale" not in labels  # a video is not varied as an image is


async def test_a_video_over_the_upload_limit_is_re_encoded_under_it(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord
) -> None:
    comfy.output_side, comfy.output_noise, comfy.media_seconds = 160, True, 2.0  # noise: ~1 MB, it does not shrink
    discord_fake.upload_limit = 200_000
    async with start_bot():
        interaction = await imagine(discord_fake, "a fox in the snow", template="video")
        await discord_fake.until(final(discord_fake, interaction))

    message = discord_fake.original(interaction)
    [saved] = [key for key in comfy.files if key[0] == "output"]
    [sent] = message.files
    assert len(comfy.files[saved]) > 200_000 >= len(sent.data)
    assert sent.filename == "fox_00001_.mp4" and decoded_frames(sent.data) == 16
    assert message.embeds[0]["footer"]["text"] == "re-encoded as an H.264 video to fit 0.2 MiB"


async def test_a_sound_is_attached_and_a_text_output_shown_in_the_embed(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord
) -> None:
    async with start_bot():
        interaction = await imagine(discord_fake, "a fox says hello", template="spoken")
        await discord_fake.until(final(discord_fake, interaction))

    message = discord_fake.original(interaction)
    assert message.embeds and message.embeds[0]["title"] == "Done", (message.content, message.embeds)
    [sent] = message.files
    assert sent.filename == "spoken_00001_.flac" and sent.data == comfy.files[("output", "audio", sent.filename)]
    with av.open(io.BytesIO(sent.data), "r") as sound:
        assert sound.streams.audio[0].codec_context.name == "flac"
    assert message.embeds[0]["description"] == "a fox says hello"  # what PreviewAny showed


async def test_a_video_result_rerolls_and_shows_its_info_like_an_image(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord
) -> None:
    async with start_bot():
        asked = await imagine(discord_fake, "a fox in the snow --fps 12 --seed 5", template="video")
        await discord_fake.until(final(discord_fake, asked))
        result = discord_fake.original(asked)
        reroll = await discord_fake.click(result, button(result, "reroll"))
        await discord_fake.until(final(discord_fake, reroll))
        info = await discord_fake.click(result, button(result, "info"))
        await discord_fake.until(lambda: info.callback_type == 4)

    first, again = [json.loads(body)["prompt"] for _, path, body in comfy.requests if path == "/prompt"]
    assert first["3"]["inputs"]["seed"] == 5 and again["3"]["inputs"]["seed"] != 5  # the same video, a new seed
    assert again["10"]["inputs"]["fps"] == 12
    rerolled = [m for m in discord_fake.messages.values() if m.files and m.id != result.id]
    assert [f.filename for m in rerolled for f in m.files] == ["fox_00002_.mp4"]
    assert "video" in json.dumps(info.callback_data)  # the Info answer names the template


async def with_sound(discord: FakeDiscord, filename: str, data: bytes) -> Interaction:
    attachment_id, resolved = discord.attachment(filename, data, "audio/mpeg")
    choices = [option("prompt", "say it back"), option("template", "echo")]
    choices.append({"name": "audio", "type": 11, "value": attachment_id})
    asked = await discord.interact("imagine", choices, resolved=resolved)
    await discord.until(final(discord, asked))
    return asked


async def test_an_attached_sound_goes_to_load_audio_as_the_bots_own_flac(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord
) -> None:
    async with start_bot():
        asked = await with_sound(discord_fake, "voice.mp3", media.sound("mp3", seconds=2))
        bad = await with_sound(discord_fake, "voice.mp3", b"just some words, not a sound\n")

    [graph] = [json.loads(body)["prompt"] for _, path, body in comfy.requests if path == "/prompt"]
    sent = graph["3"]["inputs"]["audio"]
    assert sent.startswith("discord-bot/") and sent.endswith("-voice.flac")
    uploaded = comfy.files[("input", "discord-bot", sent.split("/")[1])]
    with av.open(io.BytesIO(uploaded), "r") as sound:
        assert sound.streams.audio[0].codec_context.name == "flac"  # encoded by the bot, not the member's bytes
        assert 1.9 < (sound.duration or 0) / av.time_base < 2.1
    assert discord_fake.original(asked).embeds[0]["title"] == "Done"
    assert discord_fake.original(bad).content == (
        "⚠️ Your attachment is not a sound the bot can read. Attach a FLAC, MP3, WAV or Opus file."
    )


async def test_a_sound_at_a_very_high_sample_rate_goes_on_at_48_khz(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord
) -> None:
    """A FLAC may hold 655 kHz: a "tiny" sound at such a rate was re-encoded sample for sample (six of them held
    asyncio's threads for 20 s). The bot's FLAC is at most 48 kHz, what audio models take."""
    async with start_bot():
        asked = await with_sound(discord_fake, "bat.flac", media.sound("flac", seconds=1, rate=192_000))
        await discord_fake.until(final(discord_fake, asked))
    [graph] = [json.loads(body)["prompt"] for _, path, body in comfy.requests if path == "/prompt"]
    uploaded = comfy.files[("input", "discord-bot", graph["3"]["inputs"]["audio"].split("/")[1])]
    with av.open(io.BytesIO(uploaded), "r") as sound:
        assert sound.streams.audio[0].codec_context.sample_rate == 48_000
        assert 0.9 < (sound.duration or 0) / av.time_base < 1.1


async def test_a_sound_that_is_a_demuxer_script_reads_no_other_file_and_opens_no_socket(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord, tmp_path: Path
) -> None:
    """An FFmpeg concat script or an SDP description sent as a "sound" would make FFmpeg's probe read another
    member's stored file, or listen on UDP: the bot opens only the containers it knows, by their first bytes."""
    secret = tmp_path / "data" / "images" / "someone-elses.flac"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_bytes(media.sound("flac", seconds=2))
    concat = f"ffconcat version 1.0\nfile '{secret}'\n".encode()
    sdp = b"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 0.0.0.0\nt=0 0\nm=audio 5004 RTP/AVP 0\n"
    async with start_bot():
        read = await with_sound(discord_fake, "voice.mp3", concat)
        listened = await with_sound(discord_fake, "voice.wav", sdp)

    refused = "⚠️ Your attachment is not a sound the bot can read. Attach a FLAC, MP3, WAV or Opus file."
    assert discord_fake.original(read).content == discord_fake.original(listened).content == refused
    assert not [path for _, path, _ in comfy.requests if path in ("/upload/image", "/prompt")]


async def test_a_sound_that_holds_more_than_it_declares_is_not_decoded_past_it(
    start_bot: Started, comfy: FakeComfy, discord_fake: FakeDiscord
) -> None:
    """A result whose header says 0.4 s over two minutes of sound used to be decoded whole (one that held 4 h held
    a media slot for 8 minutes). Decoding stops past the declared length, and the member is told why."""
    comfy.output_data["spoken_00001_.flac"] = hostile_media.lying_mp3(120)
    discord_fake.upload_limit = 20_000  # smaller than the file: it must be re-encoded
    async with start_bot():
        interaction = await imagine(discord_fake, "a fox says hello", template="spoken")
        await discord_fake.until(ended(discord_fake, interaction))
    message = discord_fake.original(interaction)
    shown = json.dumps(message.embeds[0], ensure_ascii=False)
    assert message.embeds[0]["title"] == "Done" and not message.files
    assert "spoken_00001_.flac" in shown and "holds more than the 0.4 s its file declares" in shown, shown

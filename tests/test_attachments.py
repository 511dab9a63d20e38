"""What a member attaches is checked before anything of it reaches ComfyUI: too large (refused before it is
downloaded), not an image, a decompression bomb, an animation; each refused with a message that says what to
attach instead. A good image goes on as the bot's own PNG."""

from __future__ import annotations

import io
import sqlite3
import struct
import zlib

import pytest
from PIL import Image

from bot.settings import LimitSettings
from tests.discord_helpers import answer, button, final, option
from tests.fakes.comfy_exec import png
from tests.fakes.discord_api import FakeDiscord
from tests.stack import Stack

MiB = 2**20


def bomb() -> bytes:
    """A tiny, valid PNG whose header declares 50000x50000 pixels (2.5 gigapixels to decode)."""
    data = bytearray(png(1, 8))
    header = b"IHDR" + struct.pack("!II", 50_000, 50_000) + bytes(data[24:29])
    data[12:29] = header
    data[29:33] = struct.pack("!I", zlib.crc32(header))
    return bytes(data)


def animation() -> bytes:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ("red", "blue", "green")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def oversized() -> bytes:
    """A real, plain image of 5000x5000: under Pillow's own bomb guard, over this server's pixel limit."""
    buffer = io.BytesIO()
    Image.new("L", (5000, 5000)).save(buffer, "PNG")
    return buffer.getvalue()


CASES = {
    "too large": (
        "huge.png",
        b"\x89PNG" + bytes(11 * MiB),
        "Your attachment is 11.0 MiB; this server takes images up to 10 MiB.",
    ),
    "not an image": ("notes.txt", b"just some words\n", "Your attachment is not an image the bot can read."),
    "a bomb": ("small.png", bomb(), "Your attachment declares far more pixels than this server takes (16,777,216)."),
    "too many pixels": ("big.png", oversized(), "Your attachment is 5000x5000 pixels; this server takes images up to"),
    "an animation": (
        "moving.gif",
        animation(),
        "Your attachment is animated (3 frames); workflows take one still image.",
    ),
}


async def img2img(discord: FakeDiscord, filename: str, data: bytes) -> str:
    attachment_id, resolved = discord.attachment(filename, data, "image/png")
    choices = [option("prompt", "as a watercolor"), option("template", "img2img")]
    choices.append({"name": "image", "type": 11, "value": attachment_id})
    return await answer(discord, await discord.interact("imagine", choices, resolved=resolved))


@pytest.mark.parametrize("case", list(CASES))
async def test_a_bad_attachment_is_refused_before_anything_reaches_comfyui(stack: Stack, case: str) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    filename, data, expected = CASES[case]
    async with stack.start() as app:
        told = await img2img(discord, filename, data)
        assert not app.engine.active
    assert told.startswith(f"⚠️ {expected}"), told
    assert not [r for r in comfy.requests if r[1] in ("/upload/image", "/prompt")]
    if case == "too large":  # refused on the size Discord declares: never downloaded
        assert not discord.sent("GET", "/uploads/")


async def test_image_bytes_live_beside_the_database_and_a_reroll_after_a_restart_still_uses_them(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    photo = png(5, 40)
    async with stack.start():
        attachment_id, resolved = discord.attachment("photo.png", photo, "image/png")
        choices = [option("prompt", "as a watercolor"), option("template", "img2img")]
        choices.append({"name": "image", "type": 11, "value": attachment_id})
        first = await discord.interact("imagine", choices, resolved=resolved)
        await discord.until(final(discord, first), within=30)
    database = stack.folder / "data" / "bot.sqlite3"
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT data, file FROM job_images").fetchall()
        stored = [
            value
            for table in ("jobs", "job_images", "held_results")
            for row in db.execute(f"SELECT * FROM {table}")
            for value in row
        ]
    assert not [v for v in stored if isinstance(v, bytes) and v]  # no image bytes in any row
    [(_, file)] = rows
    assert (stack.folder / "data" / "images" / file).is_file()
    async with stack.start(limits=LimitSettings(reroll_cooldown=0)):  # a restart
        result = discord.original(first)
        again = await discord.click(result, button(result, "reroll"))
        await discord.until(final(discord, again), within=30)
    assert discord.original(again).embeds[0]["title"] == "Done"
    uploads = [data for (kind, _, _), data in comfy.files.items() if kind == "input"]
    assert len(uploads) == 2 and uploads[0] == uploads[1]  # the same image, read back from its file

"""Media work in the bot's own worker processes: a file that decodes for too long is stopped at the time limit
and the member told; a file that decodes to more memory than a worker may take fails in the worker, not in the
bot; members take turns, so one member's many files never hold another's back behind all of them."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.media.attachments import AttachmentError, still_image
from bot.media.pool import MediaPool, MediaTimeout
from bot.settings import LimitSettings
from tests import hostile_media
from tests.fakes.comfy_exec import png
from tests.stack import Stack
from tests.test_attachments import img2img


async def test_an_attachment_that_decodes_for_too_long_is_refused_at_the_time_limit(stack: Stack) -> None:
    """A file that takes long to decode (a 10 MiB GIF whose comment Pillow 12 joined block by block took 59 s)
    used to hold asyncio's shared threads as long as it took, then went on to ComfyUI. Decoding is stopped at the
    media time limit and the member told: here a limit of 0.05 s and a 4000x4000 image (~1 s to re-encode)."""
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start(limits=LimitSettings(media_seconds=0.05)) as app:
        told = await img2img(discord, "large.png", hostile_media.plain_png(4000))
        assert not app.engine.active
    assert told.startswith("⚠️ Your attachment could not be read within 0.05 seconds"), told
    assert not [r for r in comfy.requests if r[1] in ("/upload/image", "/prompt")]


async def test_a_worker_stopped_or_out_of_memory_leaves_the_pool_working() -> None:
    pool = MediaPool(workers=1, memory=1 * 2**30)
    try:
        try:
            await pool.run(1, 10, bytearray, 2 * 2**30)  # more than the worker's address space
        except MemoryError:
            pass
        else:
            raise AssertionError("a 2 GiB allocation passed a 1 GiB cap")
        try:
            await pool.run(1, 0.3, time.sleep, 30)  # work that takes longer than its limit
        except MediaTimeout:
            pass
        else:
            raise AssertionError("no time limit")
        try:
            await pool.run(1, 10, still_image, b"words", "notes.txt", max_pixels=64)
        except AttachmentError as exc:  # a member's mistake comes back as itself, in their language
            assert exc.text.key == "attachment.not_image"
        still = await pool.run(1, 10, still_image, png(3, 8), "photo.png", max_pixels=64)
        assert (still.width, still.height) == (8, 8)
    finally:
        await pool.close()


async def test_a_member_with_many_files_waits_behind_another_members_next_one() -> None:
    """One worker; member 1 sends three images, then member 2 one: member 2's is decoded second, not fourth."""
    pool = MediaPool(workers=1)
    order: list[str] = []

    async def decode(member: int, name: str) -> None:
        await pool.run(member, 30, still_image, png(len(name), 8), f"{name}.png", max_pixels=64)
        order.append(name)

    try:
        await asyncio.gather(decode(1, "a1"), decode(1, "a2"), decode(1, "a3"), decode(2, "b1"))
    finally:
        await pool.close()
    assert order == ["a1", "b1", "a2", "a3"]


async def test_one_members_slow_files_always_leave_a_worker_for_another_member() -> None:
    """Two workers; member 1 sends three files that take a while, then member 2 one quick image: member 1 holds
    one worker at most, so member 2's is done first, not after member 1's first two."""
    pool = MediaPool(workers=2)
    order: list[str] = []
    slow = hostile_media.plain_png(3000)  # ~0.5 s to re-encode

    async def decode(member: int, name: str, data: bytes) -> None:
        await pool.run(member, 30, still_image, data, f"{name}.png", max_pixels=16_000_000)
        order.append(name)

    try:
        await asyncio.gather(*(decode(1, f"a{n}", slow) for n in range(3)), decode(2, "b1", png(3, 8)))
    finally:
        await pool.close()
    assert order == ["b1", "a0", "a1", "a2"]


CORPUS_SECONDS = 15.0  # each file's bound: a member's attachment gets this much at most (ATTACHMENT_SECONDS)
CORPUS_MEMORY = 1536 * 2**20  # each worker's address space in this test: half the default


@pytest.mark.parametrize("name", list(hostile_media.CASES))
async def test_each_hostile_file_is_handled_in_a_bounded_worker(name: str) -> None:
    """Each generated hostile file (results and attachments) is accepted, refused or named as stated, in a worker
    capped at 1.5 GiB, within 15 s; `bench/hostile_corpus.py` prints what each costs."""
    make, kind, filename, expected = hostile_media.CASES[name]
    (work, *args), kwargs = hostile_media.call(kind, make(), filename)
    pool = MediaPool(workers=1, memory=CORPUS_MEMORY)
    try:
        try:
            found = await pool.run(1, CORPUS_SECONDS, work, *args, **kwargs)
        except Exception as exc:  # what it raised is the outcome
            found = exc
    finally:
        await pool.close()
    assert hostile_media.outcome(found) == expected

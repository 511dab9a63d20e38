"""A ComfyUI that misbehaves on purpose (tests/fakes/comfy_hostile.py): a huge or endless reply, a huge
WebSocket frame, a `/view` that trickles, files named to climb out of a folder. The bot stays bounded (the
memory this process allocates meanwhile, measured with tracemalloc, stays within a stated margin of the cap)
and the job ends with a message that names what happened."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from bot.settings import LimitSettings
from bot.settings.comfy import BackendSettings
from tests import hostile_media
from tests.discord_helpers import answer, assembled, ended, final, imagine, option, settings_between
from tests.stack import Stack

MiB = 2**20
CAPS = {"max_reply_bytes": 1 * MiB, "max_frame_bytes": 1 * MiB, "transfer_grace": 0.5, "min_transfer_rate": 4096}


@contextmanager
def peak_allocated() -> Iterator[list[int]]:
    """The most memory Python code in this process (the bot, and the fakes) held at once inside the block."""
    found = [0]
    tracemalloc.start()
    try:
        yield found
    finally:
        found[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


async def test_a_huge_reply_is_cut_at_the_cap_and_the_job_fails_saying_so(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start(comfy_settings=CAPS):
        comfy.fail_next("POST", "/prompt", "huge", size=80 * MiB)
        with peak_allocated() as peak:
            asked = await imagine(discord, "a fox")
            await discord.until(final(discord, asked), within=30)
    message = discord.original(asked).content
    assert message.startswith("❌ ComfyUI could not take the job: gpu1 POST /prompt: the reply is larger than")
    assert "1,048,576 bytes" in message
    assert peak[0] < 16 * MiB, f"{peak[0] / MiB:.1f} MiB"  # the reply was 80 MiB


async def test_an_endless_reply_is_cut_at_the_cap(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start(comfy_settings=CAPS):
        comfy.fail_next("POST", "/prompt", "endless")
        with peak_allocated() as peak:
            asked = await imagine(discord, "a fox")
            await discord.until(final(discord, asked), within=30)
    assert "the reply is larger than the limit of 1,048,576 bytes" in discord.original(asked).content
    assert peak[0] < 16 * MiB, f"{peak[0] / MiB:.1f} MiB"


async def test_a_huge_websocket_frame_drops_the_socket_and_the_job_still_arrives(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start(comfy_settings=CAPS) as app:
        comfy.hold()
        asked = await imagine(discord, "a fox")
        await comfy.until(lambda: comfy.running is not None, within=30)
        connects = comfy.ws_connects
        with peak_allocated() as peak:
            await comfy.inject_huge_frame(400 * MiB)  # 400 times the cap
            await comfy.until(lambda: comfy.ws_connects > connects, within=30)  # refused, the socket came back
        comfy.release()
        await discord.until(final(discord, asked), within=30)
        await app.engine.wait_idle()
    assert discord.original(asked).embeds[0]["title"] == "Done"
    assert peak[0] < 16 * MiB, f"{peak[0] / MiB:.1f} MiB"


async def test_a_trickling_view_is_given_up_and_the_job_fails_saying_so(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start(comfy_settings=CAPS):
        comfy.fail_next("GET", "/view", "trickle", delay=0.01, times=5)  # about 100 bytes a second
        asked = await imagine(discord, "a fox")
        await discord.until(final(discord, asked), within=60)
    message = discord.original(asked).content
    assert message.startswith("❌ The images could not be fetched from ComfyUI: gpu1 sends /view")
    assert "too slowly" in message and "at least 4096 B/s is needed" in message


async def test_a_view_that_streams_forever_above_the_minimum_rate_is_given_up_in_time(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start(comfy_settings={"delivery_timeout": 1.0}) as app:
        comfy.fail_next("GET", "/view", "steady", size=8192, delay=0.01)  # ~800 KiB/s, and it never ends
        asked = await imagine(discord, "a fox")
        await discord.until(final(discord, asked), within=30)
        await app.engine.wait_idle()
    assert discord.original(asked).content == (
        "❌ ComfyUI sent the results too slowly: they were not all here after 1 seconds, so the job was stopped. "
        "Try again; if it keeps happening, tell the bot's operator."
    )


async def test_cancel_stops_a_delivery_and_says_so(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start() as app:
        comfy.fail_next("GET", "/view", "steady", size=8192, delay=0.01)
        asked = await imagine(discord, "a fox")
        await comfy.until(lambda: any(path == "/view" for _, path, _ in comfy.requests), within=30)
        [job] = app.engine.active.values()
        cancel = await discord.interact("cancel", [option("job", job.id)])
        told = await answer(discord, cancel)
        await discord.until(final(discord, asked), within=30)
        await app.engine.wait_idle()
    assert told == "Stopped fetching its results from ComfyUI; the job is cancelled."
    assert discord.original(asked).content.startswith("🚫")
    assert not discord.original(asked).files


async def test_result_files_named_to_climb_out_are_attached_under_safe_names(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.output_names.append("../../../etc/passwd.png")
    async with stack.start():
        asked = await imagine(discord, "a fox")
        await discord.until(final(discord, asked), within=30)
    [attached] = discord.original(asked).files
    assert "/" not in attached.filename and ".." not in attached.filename and attached.filename.endswith(".png")


async def test_a_job_past_its_deadline_is_stopped_on_its_server_and_fails_saying_so(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.hold()  # a prompt that never finishes
    async with stack.start(limits=LimitSettings(job_deadline=1)) as app:
        asked = await imagine(discord, "a fox")
        await discord.until(final(discord, asked), within=30)
        await app.engine.wait_idle()
    assert discord.original(asked).content.startswith("❌ The job took longer than 1 s, the most this bot waits")
    assert any(path == "/interrupt" for _, path, _ in comfy.requests)  # that prompt, stopped on the GPU


async def test_an_output_that_is_not_an_image_ends_the_job_visibly_attached_as_a_file(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.output_names.append("notes.txt")
    comfy.output_data["notes.txt"] = b"an extension wrote words, not pixels\n"
    async with stack.start() as app:
        asked = await imagine(discord, "a fox")
        await discord.until(final(discord, asked), within=30)
        await app.engine.wait_idle()
    shown = discord.original(asked)
    assert shown.embeds and shown.embeds[0]["title"] == "Done"
    assert [f.filename for f in shown.files] == ["notes.txt"] and shown.files[0].data.startswith(b"an extension")


async def test_an_output_too_large_to_attach_and_not_an_image_is_named_and_the_job_ends(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.output_names.append("clip.mp4")
    comfy.output_data["clip.mp4"] = b"\x00\x00\x00\x18ftypmp42" + bytes(12 * MiB)  # past the 10 MiB upload limit
    async with stack.start() as app:
        asked = await imagine(discord, "a fox")
        await discord.until(lambda: asked.message_id is not None)
        await app.engine.wait_idle()
        await discord.until(lambda: (discord.original(asked).embeds or [{}])[0].get("title") == "Done", within=30)
    shown = discord.original(asked)
    footer = shown.embeds[0]["footer"]["text"]
    assert footer.startswith("clip.mp4 (12.0 MiB) is not a file the bot can shrink, and is larger than 10 MiB")
    assert not shown.files


async def test_a_job_whose_results_together_pass_the_cap_fails_saying_so(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.output_side, comfy.output_noise = 200, True  # noise: each image ~120 KB
    async with stack.start(comfy_settings={"max_job_bytes": 300_000}) as app:
        with peak_allocated() as peak:
            asked = await imagine(discord, "a fox --count 4")
            await discord.until(final(discord, asked), within=30)
            await app.engine.wait_idle()
    assert discord.original(asked).content == (
        "❌ The results are larger than this bot accepts for one job (300,000 bytes); try fewer or smaller images."
    )
    assert peak[0] < 16 * MiB, f"{peak[0] / MiB:.1f} MiB"


async def test_a_result_the_bot_cannot_re_encode_ends_the_job_saying_so(stack: Stack) -> None:
    """Over the upload limit, a result Pillow refuses to open (a decompression bomb) is named, not attached: the
    member is not left on "Starting"."""
    comfy, discord = stack.comfys[0], stack.discord
    comfy.output_names.append("bomb.png")
    comfy.output_data["bomb.png"] = hostile_media.bomb_png(100_000)
    discord.upload_limit = discord.attachment_size_limit = 60  # smaller than the file: it must be re-encoded
    async with stack.start() as app:
        asked = await imagine(discord, "a fox")
        await discord.until(ended(discord, asked), within=30)
        await app.engine.wait_idle()
    shown = json.dumps(discord.original(asked).embeds[0])
    assert "bomb.png" in shown and "stays on the ComfyUI server" in shown


async def test_the_websocket_handshake_follows_no_redirect_and_keeps_its_auth_header_home(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    seen: list[dict[str, str]] = []

    async def elsewhere(request: web.Request) -> web.Response:  # another host, which must learn nothing
        seen.append(dict(request.headers))
        return web.Response(status=404)

    other = web.Application()
    other.router.add_route("*", "/{tail:.*}", elsewhere)
    runner = web.AppRunner(other)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    comfy.fail_next("GET", "/ws", "redirect", body=f"http://127.0.0.1:{port}/ws", times=3)
    settings = settings_between(comfy.base_url, discord.api_base, stack.folder, bucket_window=1.0)
    backend = BackendSettings(url=comfy.base_url, name="gpu1", auth_header="X-Api-Key", auth_value="s3cret")
    settings = settings.model_copy(update={"comfy": settings.comfy.model_copy(update={"backends": [backend]})})
    try:
        async with assembled(settings):
            asked = await imagine(discord, "a fox")
            await discord.until(final(discord, asked), within=30)
    finally:
        await runner.cleanup()
    assert discord.original(asked).embeds[0]["title"] == "Done"
    assert seen == []  # no request at all reached the other host, so no auth header either


async def test_a_nul_in_a_comfyui_error_is_kept_on_postgresql_and_the_member_told(
    stack: Stack, postgres_url: str
) -> None:
    """PostgreSQL refuses NUL in text: a ComfyUI error holding one used to make the job's end unwritable for good
    (left `dispatched` across restarts, a warning every 5 s). It is written, with the NUL replaced."""
    comfy, discord = stack.comfys[0], stack.discord
    comfy.failures["KSampler"] = ("RuntimeError", "bad byte \x00 in the weights")
    async with stack.start(database_url=postgres_url) as app:
        asked = await imagine(discord, "a fox")
        await discord.until(final(discord, asked))
        job = await app.store.by_message(asked.message_id or 0)
    told = discord.original(asked).content
    assert told.startswith("❌ The workflow stopped: ") and "bad byte" in told and "\x00" not in told
    assert job is not None and job.state.value == "failed" and "\x00" not in (job.error or "")
    assert "bad byte \ufffd in the weights" in (job.error or "")


async def test_an_animation_of_gigabytes_of_frames_is_named_before_it_is_decoded(stack: Stack) -> None:
    """A GIF result of 160 KB holding 40 frames of 2048x2048 (640 MiB decoded; an 11 MiB one took the bot to
    4.7 GiB) is bounded by its pixels times its frames before any frame is decoded: named, not attached."""
    comfy, discord = stack.comfys[0], stack.discord
    comfy.output_names.append("long.gif")
    comfy.output_data["long.gif"] = hostile_media.many_frames_gif(2048, 40)
    discord.upload_limit = discord.attachment_size_limit = 60  # smaller than the file: it must be re-encoded
    async with stack.start():
        asked = await imagine(discord, "a fox")
        await discord.until(ended(discord, asked), within=30)
    shown = json.dumps(discord.original(asked).embeds[0])
    assert "long.gif" in shown and "holds 40 frames of 2048x2048" in shown and "stays on the ComfyUI server" in shown

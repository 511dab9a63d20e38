"""The job engine through the whole stack: fairness, caps, cancel, several backends, failures, restarts.

The fake ComfyUI servers are scripted (held, killed); the database is a temporary SQLite file; assertions are
on what members see in Discord and on what reached ComfyUI."""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path

from bot.jobs.model import JobState
from bot.jobs.store import JobStore
from bot.settings import LimitSettings
from tests.discord_helpers import answer, done, fields, final, imagine, job_id, option
from tests.fakes.comfy_exec import png
from tests.fakes.discord_api import USER_ID, FakeDiscord, Interaction
from tests.fakes.discord_payloads import OWNER_ID
from tests.stack import Stack, checkpoints, make_stack


async def test_one_members_batch_does_not_hold_up_another(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.hold()
    async with stack.start(limits=LimitSettings(jobs_per_user=20)):
        batch = [await imagine(discord, f"a{n}", user=USER_ID) for n in range(10)]
        await comfy.until(lambda: comfy.running is not None)
        late = await imagine(discord, "b", user=USER_ID + 1)
        comfy.release()
        await discord.until(done(discord, *batch, late), within=60)
    assert stack.ran(comfy)[:3] == ["a0", "b", "a1"]  # B's one job runs second


def shown(discord: FakeDiscord, asked: Interaction) -> bool:
    """Accepted: its message shows the job's state."""
    return asked.message_id in discord.messages and bool(discord.original(asked).embeds)


async def test_caps_are_explained_with_positions(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.hold()
    async with stack.start(limits=LimitSettings(jobs_per_user=3, queue_max=2)):
        for n in range(3):  # one after the other (simultaneous ones would each count as queued: test_admission)
            asked = await imagine(discord, f"a{n}", user=USER_ID)
            await discord.until(functools.partial(shown, discord, asked))
        await comfy.until(lambda: comfy.running is not None)
        over = await imagine(discord, "a3", user=USER_ID)
        await discord.until(final(discord, over))
        full = await imagine(discord, "b0", user=USER_ID + 1)
        await discord.until(final(discord, full))
        comfy.release()
    assert discord.original(over).content == (
        "⚠️ You already have 3 jobs queued or running (the limit is 3). Yours in the queue are at #1, #2. "
        "Wait for one to finish, or /cancel one."
    )
    assert discord.original(full).content == "⚠️ The queue is full (2 jobs); try again in a little while."


async def test_cancel_a_queued_a_waiting_and_a_running_job(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.hold()
    running_user, waiting_user, queued_user = USER_ID, USER_ID + 1, USER_ID + 2
    async with stack.start():
        running = await imagine(discord, "running", user=running_user)
        await comfy.until(lambda: comfy.running is not None)
        waiting = await imagine(discord, "waiting", user=waiting_user)
        await comfy.until(lambda: len(comfy.pending) == 1)  # in ComfyUI's own queue, behind the running one
        queued = await imagine(discord, "queued", user=queued_user)
        await discord.until(lambda: queued.message_id in discord.messages and bool(discord.original(queued).embeds))

        await discord.interact("cancel", user_id=queued_user)  # /cancel: the member's latest job
        await discord.until(final(discord, queued))
        message = discord.original(waiting)
        [button] = [c["custom_id"] for row in message.components for c in row["components"]]
        await discord.click(message, button, user_id=waiting_user)  # the ❌ on the progress message
        await discord.until(final(discord, waiting))
        await discord.interact("cancel", user_id=running_user)
        await discord.until(lambda: any(path == "/interrupt" for _, path, _ in comfy.requests))
        comfy.release()
        await discord.until(final(discord, running))

    for interaction in (queued, waiting, running):
        assert discord.original(interaction).content == "🚫 Cancelled by you."
    interrupts = [json.loads(body) for _, path, body in comfy.requests if path == "/interrupt"]
    deletes = [json.loads(body) for _, path, body in comfy.requests if path == "/queue" and body]
    running_prompt = next(e[1] for e in (entry["prompt"] for entry in comfy.history.values()))
    assert interrupts == [{"prompt_id": running_prompt}]  # only the running prompt was interrupted
    assert len(deletes) == 1 and deletes[0]["delete"][0] != running_prompt
    assert "queued" not in json.dumps([body.decode() for _, path, body in comfy.requests if path == "/prompt"])
    assert not comfy.pending and next(iter(comfy.history.values()))["status"]["status_str"] == "error"


async def test_someone_elses_job_cannot_be_cancelled_by_a_member(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.hold()
    async with stack.start():
        mine = await imagine(discord, "mine", user=USER_ID)
        await comfy.until(lambda: comfy.running is not None)
        try:
            await discord.until(lambda: bool(discord.original(mine).components), within=3)
        except TimeoutError:
            print(
                "REQUESTS",
                [
                    (r.method, r.path[-30:], r.status, sorted(r.json.keys()) if isinstance(r.json, dict) else None)
                    for r in discord.requests
                ],
            )
            raise
        message = discord.original(mine)
        [button] = [c["custom_id"] for row in message.components for c in row["components"]]
        click = await discord.click(message, button, user_id=USER_ID + 9)
        await discord.until(lambda: click.message_id is not None and click.message_id in discord.messages)
        comfy.release()
        await discord.until(final(discord, mine))
    assert discord.messages[click.message_id or 0].content == (
        "⚠️ Only the member who started a job, or a moderator, can cancel it."
    )
    assert discord.original(mine).embeds[0]["title"] == "Done"


async def test_a_typed_id_of_someone_elses_running_job_gets_the_same_true_answer_as_a_made_up_one(
    stack: Stack,
) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.hold()
    async with stack.start():
        mine = await imagine(discord, "mine", user=USER_ID)
        await comfy.until(lambda: comfy.running is not None)
        await discord.until(lambda: bool(discord.original(mine).components))
        theirs = job_id(discord.original(mine))
        asked = {
            typed: await discord.interact("cancel", [option("job", typed)], user_id=USER_ID + 9)
            for typed in (theirs, "0123456789abcdef")
        }
        answers = {typed: await answer(discord, interaction) for typed, interaction in asked.items()}
        comfy.release()
        await discord.until(final(discord, mine))
    assert set(answers.values()) == {"You have no job with that id."}
    assert discord.original(mine).embeds[0]["title"] == "Done"


async def test_jobs_go_to_the_backends_that_can_run_them(stack3: Stack) -> None:
    _, gpu2, gpu3 = stack3.comfys
    checkpoints(gpu2).append("sdxl.safetensors")
    checkpoints(gpu3).append("sdxl.safetensors")
    for name in ("LoadImage", "ImageScaleBy"):
        del gpu3.object_info[name]  # gpu3 cannot upscale
    discord = stack3.discord
    photo_id, resolved = discord.attachment("photo.png", png(3, 32))
    async with stack3.start():
        sdxl = [await imagine(discord, f"x{n} --model sdxl.safetensors", user=USER_ID + n) for n in range(3)]
        upscale = [
            await discord.interact(
                "imagine",
                [option("prompt", ""), option("template", "upscale"), {"name": "image", "type": 11, "value": photo_id}],
                user_id=USER_ID + 10 + n,
                resolved=resolved,
            )
            for n in range(3)
        ]
        await discord.until(done(discord, *sdxl, *upscale), within=60)
    assert {fields(discord.original(i))["Backend"] for i in sdxl} <= {"gpu2", "gpu3"}
    assert {fields(discord.original(i))["Backend"] for i in upscale} <= {"gpu1", "gpu2"}
    assert len({fields(discord.original(i))["Backend"] for i in (*sdxl, *upscale)}) >= 2  # the work was shared


async def test_a_backend_killed_mid_run_loses_nothing(tmp_path: Path) -> None:
    stack = await make_stack(2, tmp_path)
    gpu1, gpu2 = stack.comfys
    discord = stack.discord
    gpu1.hold()
    try:
        async with stack.start(health_interval=0.1):
            interaction = await imagine(discord, "survivor")
            await gpu1.until(lambda: gpu1.running is not None)
            await gpu1.stop()  # the server dies mid-run
            await discord.until(final(discord, interaction), within=30)
    finally:
        await discord.stop()
        await gpu2.stop()
    message = discord.original(interaction)
    assert message.embeds[0]["title"] == "Done" and fields(message)["Backend"] == "gpu2"
    assert sum(1 for r in discord.requests if r.files and any(f.filename.endswith(".png") for f in r.files)) == 1


async def test_a_restart_takes_up_jobs_in_every_state(stack: Stack, store_url: str | None) -> None:
    """On either database (SQLite, or a real PostgreSQL: `store_url`)."""
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start(database_url=store_url):
        delivered = await imagine(discord, "delivered", user=USER_ID + 1)
        await discord.until(final(discord, delivered))
        comfy.failures["KSampler"] = ("RuntimeError", "out of memory")
        failed = await imagine(discord, "failed --seed 5", user=USER_ID + 2)
        await discord.until(final(discord, failed))
        comfy.failures.clear()
        comfy.hold()
        running = await imagine(discord, "running", user=USER_ID + 3)
        await comfy.until(lambda: comfy.running is not None)
        waiting = await imagine(discord, "waiting", user=USER_ID + 4)
        await comfy.until(lambda: len(comfy.pending) == 1)
        queued = await imagine(discord, "queued", user=USER_ID + 5)
        cancelled = await imagine(discord, "cancelled", user=USER_ID + 6)
        await discord.until(  # both accepted: their messages show the queue
            lambda: all(i.message_id in discord.messages and discord.original(i).embeds for i in (queued, cancelled))
        )
        await discord.interact("cancel", user_id=USER_ID + 6)
        await discord.until(final(discord, cancelled))
    before = {i.token: len([r for r in discord.requests if i.token in r.path]) for i in (delivered, failed, cancelled)}

    async with stack.start(
        database_url=store_url
    ) as app:  # a new bot on the same database, ComfyUI still holding two prompts
        comfy.release()
        await discord.until(done(discord, running, waiting, queued), within=60)
        async with asyncio.timeout(10):
            await app.engine.wait_idle()

    for interaction in (running, waiting, queued):
        finals = [
            r
            for r in discord.requests
            if interaction.token in r.path
            and r.json
            and any(e.get("title") == "Done" for e in r.json.get("embeds") or [])
        ]
        assert len(finals) == 1, "delivered exactly once"
    assert discord.original(failed).content == "❌ The workflow stopped: KSampler (node 3) failed: out of memory."
    assert discord.original(cancelled).content == "🚫 Cancelled by you."
    after = {i.token: len([r for r in discord.requests if i.token in r.path]) for i in (delivered, failed, cancelled)}
    assert after == before  # finished jobs were left alone
    store = await JobStore(stack.folder / "data" / "bot.sqlite3", url=store_url).open()
    try:
        assert await store.unfinished() == []
        states = [row[0] for row in await store.database.fetch_all("SELECT state FROM jobs ORDER BY seq")]
    finally:
        await store.close()
    assert states == [
        s.value
        for s in (
            JobState.DELIVERED,
            JobState.FAILED,
            JobState.DELIVERED,
            JobState.DELIVERED,
            JobState.DELIVERED,
            JobState.CANCELLED,
        )
    ]


async def test_queue_shows_positions_and_servers(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.hold()
    async with stack.start(limits=LimitSettings(jobs_per_user=5)):
        jobs = [await imagine(discord, f"q{n}", user=USER_ID) for n in range(3)]
        await discord.until(lambda: all(i.message_id in discord.messages and discord.original(i).embeds for i in jobs))
        asked = await discord.interact("queue", user_id=USER_ID)
        await discord.until(lambda: asked.message_id is not None)
        comfy.release()
        await discord.until(done(discord, *jobs), within=30)
    shown = discord.messages[asked.message_id or 0]
    assert asked.ephemeral
    embed = shown.embeds[0]
    mine = next(f["value"] for f in embed["fields"] if f["name"] == "Your jobs").splitlines()
    assert "running on gpu1" in mine[0] or "dispatched on gpu1" in mine[0]
    assert "#1, starts" in mine[1] and "#2, starts" in mine[2]
    assert any(f["name"] == "Waiting" and f["value"] == "2 job(s) in the queue" for f in embed["fields"])
    server = next(f for f in embed["fields"] if f["name"] == "gpu1 (up)")
    assert server["value"].startswith("running 1, waiting 0\ncpu: ")


async def test_a_paused_backend_drains_and_takes_nothing_new(tmp_path: Path) -> None:
    stack = await make_stack(2, tmp_path)
    gpu1, gpu2 = stack.comfys
    discord = stack.discord
    try:
        async with stack.start():
            await discord.interact(  # the application's owner: an operator
                "backend", [{"name": "pause", "type": 1, "options": [option("name", "gpu1")]}], user_id=OWNER_ID
            )
            await discord.until(lambda: any("is paused" in m.content for m in discord.messages.values()))
            jobs = [await imagine(discord, f"p{n}", user=USER_ID + n) for n in range(4)]
            await discord.until(done(discord, *jobs), within=30)
            refused = await discord.interact(
                "backend", [{"name": "resume", "type": 1, "options": [option("name", "gpu1")]}], user_id=USER_ID + 7
            )
            await discord.until(lambda: refused.message_id is not None)
    finally:
        await discord.stop()
        for comfy in stack.comfys:
            await comfy.stop()
    assert {fields(discord.original(i))["Backend"] for i in jobs} == {"gpu2"}
    assert not gpu1.history and len(gpu2.history) == 4
    assert discord.messages[refused.message_id or 0].content.startswith("⚠️ Only the bot's operators can pause")


async def test_a_cancel_that_meets_the_end_of_the_job_leaves_the_result_delivered(stack: Stack) -> None:
    """Found by the soak: the job finished while the cancel was asking ComfyUI to drop it from its queue."""
    comfy, discord = stack.comfys[0], stack.discord
    comfy.hold()
    async with stack.start():
        first = await imagine(discord, "first", user=USER_ID)
        await comfy.until(lambda: comfy.running is not None)
        second = await imagine(discord, "second", user=USER_ID + 1)
        await comfy.until(lambda: len(comfy.pending) == 1)
        gate = asyncio.Event()
        comfy.fail_next("POST", "/queue", "gated", gate=gate)  # the cancel's delete reaches ComfyUI late
        asked = await discord.interact("cancel", user_id=USER_ID + 1)
        await comfy.until(lambda: any(m == "POST" and p == "/queue" for m, p, _ in comfy.requests))
        comfy.release()
        await discord.until(final(discord, second))
        gate.set()
        told = await answer(discord, asked)
        await discord.until(final(discord, first))
    assert told == "That job has already ended."
    result = discord.original(second)
    assert result.embeds[0]["title"] == "Done" and result.files


async def test_answers_after_a_deferral_fill_the_loading_message_instead_of_adding_webhook_messages(
    stack: Stack,
) -> None:
    """Discord limits the webhook messages made in one channel (follow-ups included) to about 30 a minute: 35
    admins' deferred commands at once are answered by editing their loading messages, none by a new message."""
    discord = stack.discord
    admin = {"permissions": str(1 << 5)}
    async with stack.start():
        asked = [await discord.interact("clearqueue", user_id=USER_ID + n, member=admin) for n in range(35)]
        told = [await answer(discord, interaction) for interaction in asked]
    assert set(told) == {"Cleared 0 queued job(s)."}
    assert discord.sent("POST", "/webhooks/") == [] and discord.limits.answered == {}

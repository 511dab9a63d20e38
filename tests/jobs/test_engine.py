"""The job engine against in-memory ComfyUI servers (tests/jobs/memory.py): dispatch, fairness, cancel in each
state, failover and recovery, in milliseconds. The socket-level behaviour is tested through the whole stack."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.i18n import Text
from bot.jobs.engine import JobEngine
from bot.jobs.events import Cancelled, Delivered, Queued, WaitingForBackend
from bot.jobs.model import Job, JobRequest, JobState
from bot.jobs.store import JobStore, StoredReply
from bot.templates.template import BoundWorkflow
from tests.jobs.memory import MemoryBackend, MemoryFleet, Pulse, Recorder

REPLY = StoredReply(10, None, None)
_users = itertools.count(1)


@dataclass
class World:
    pulse: Pulse
    a: MemoryBackend
    b: MemoryBackend
    store: JobStore
    recorder: Recorder

    def engine(self, *backends: MemoryBackend, per_backend: int = 2, running_per_user: int = 5) -> JobEngine:
        return JobEngine(MemoryFleet(*backends), self.store, self.recorder, per_backend=per_backend,
                         running_per_user=running_per_user)  # fmt: skip


@pytest.fixture
async def world(tmp_path: Path, store_url: str | None) -> AsyncIterator[World]:
    """The engine on either database (SQLite, or a real PostgreSQL: `store_url`)."""
    pulse = Pulse()
    store = await JobStore(tmp_path / "bot.sqlite3", url=store_url).open()
    yield World(pulse, MemoryBackend("a", pulse), MemoryBackend("b", pulse), store, Recorder(pulse))
    await store.close()


def job(user: int | None = None, guild: int = 1) -> Job:
    return Job(JobRequest(user or next(_users), guild, 10, BoundWorkflow("txt2img", {}, {"seed": 1}, ("9",))))


def prompt(made: Job) -> str:
    return f"{made.id}-{made.attempts}"


async def test_each_backend_holds_its_running_prompt_and_one_waiting_and_the_rest_wait_in_order(world: World) -> None:
    a, b, pulse, recorder = world.a, world.b, world.pulse, world.recorder
    engine = world.engine(a, b)
    await engine.start()
    jobs = [job() for _ in range(5)]
    for made in jobs:
        await engine.accept(made, REPLY)
    await pulse.until(lambda: len(a.submitted) + len(b.submitted) == 4)
    await pulse.until(lambda: recorder.events.get(jobs[4].id))
    assert len(a.submitted) == len(b.submitted) == 2
    assert jobs[4].state is JobState.QUEUED and recorder.events[jobs[4].id][-1] == Queued(1)
    finished = a.finish()
    await pulse.until(lambda: jobs[4].state is not JobState.QUEUED)
    first = next(j for j in jobs if prompt(j) == finished)
    await pulse.until(lambda: first.id in recorder.finished)
    delivered = recorder.finished[first.id]
    assert isinstance(delivered, Delivered) and delivered.files[0].data == a.files[f"{finished}.png"]
    assert jobs[4].backend == "a"
    async with asyncio.timeout(5):  # written once shown, by the store's next group commit
        while (await world.store.get(first.id)).state is not JobState.DELIVERED:  # type: ignore[union-attr]
            pass
    await engine.close()


async def test_one_members_batch_takes_turns_with_the_others(world: World) -> None:
    a, pulse = world.a, world.pulse
    engine = world.engine(a, per_backend=1)
    await engine.start()
    batch = [job(user=1) for _ in range(4)]
    for made in batch:
        await engine.accept(made, REPLY)
    await pulse.until(lambda: len(a.submitted) == 1)
    late = [job(user=2), job(user=3)]
    for made in late:
        await engine.accept(made, REPLY)
    order: list[Job] = []
    while len(order) < 6:
        await pulse.until(lambda: a.running is not None)
        order.append(next(j for j in batch + late if prompt(j) == a.running))
        a.finish()
    await engine.close()
    assert [j.user_id for j in order] == [1, 2, 3, 1, 1, 1]


async def test_cancel_in_each_state_answers_and_ends_the_job_once(world: World) -> None:
    a, pulse, recorder = world.a, world.pulse, world.recorder
    engine = world.engine(a)
    await engine.start()
    running, waiting, queued = job(), job(), job()
    for made in (running, waiting, queued):
        await engine.accept(made, REPLY)
    await pulse.until(lambda: a.running == prompt(running) and a.waiting == [prompt(waiting)])
    answers = [
        (await engine.cancel(queued.id, Text("by.you"))).key,  # still in the bot's queue
        (await engine.cancel(waiting.id, Text("by.you"))).key,  # waiting in ComfyUI's queue
        (await engine.cancel(running.id, Text("by.you"))).key,  # running on the GPU
    ]
    await pulse.until(lambda: all(j.id in recorder.finished for j in (running, waiting, queued)))
    again = (await engine.cancel(running.id, Text("by.you"))).key
    await engine.close()
    assert answers == ["cancel.not_started", "cancel.not_started", "cancel.stopping"] and again == "cancel.ended"
    assert all(isinstance(recorder.finished[j.id], Cancelled) for j in (running, waiting, queued))
    assert all(sum(isinstance(e, Cancelled) for e in recorder.events[j.id]) == 1 for j in (running, waiting, queued))
    assert prompt(queued) not in a.submitted and not a.waiting and a.running is None
    assert {j.state for j in (running, waiting, queued)} == {JobState.CANCELLED}


async def test_a_backend_that_goes_down_has_its_job_run_on_another(world: World) -> None:
    a, b, pulse, recorder = world.a, world.b, world.pulse, world.recorder
    fleet = MemoryFleet(a, b)
    engine = JobEngine(fleet, world.store, recorder, per_backend=1)
    await engine.start()
    first, second = job(), job()
    await engine.accept(first, REPLY)
    await pulse.until(lambda: a.running is not None)
    await engine.accept(second, REPLY)
    await pulse.until(lambda: b.running is not None)
    fleet.down("a")
    await pulse.until(lambda: any(isinstance(e, WaitingForBackend) for e in recorder.events.get(first.id, [])))
    b.finish()
    await pulse.until(lambda: b.running == prompt(first))
    b.finish()
    await pulse.until(lambda: first.id in recorder.finished)
    await engine.close()
    assert isinstance(recorder.finished[first.id], Delivered) and first.backend == "b" and first.attempts == 2
    assert isinstance(recorder.finished[second.id], Delivered)


async def test_after_a_restart_queued_jobs_keep_their_order_and_running_ones_are_followed_again(world: World) -> None:
    a, pulse = world.a, world.pulse
    before = world.engine(a, per_backend=1)
    await before.start()
    jobs = [job() for _ in range(3)]
    for made in jobs:
        await before.accept(made, REPLY)
    await pulse.until(lambda: a.running == prompt(jobs[0]))
    await before.close()  # the bot stops; ComfyUI keeps running the prompt

    recorder = Recorder(pulse)
    after = JobEngine(MemoryFleet(a), world.store, recorder, per_backend=1)
    await after.start()
    assert recorder.restored == [j.id for j in jobs]
    delivered: list[str] = []
    while len(delivered) < 3:
        await pulse.until(lambda: a.running is not None)
        delivered.append(a.finish())
    await pulse.until(lambda: len(recorder.finished) == 3)
    await after.close()
    assert delivered[0] == prompt(jobs[0]) and len(a.submitted) == 3  # followed, not submitted again
    assert [p.rsplit("-", 1)[0] for p in delivered] == [j.id for j in jobs]
    assert all(isinstance(e, Delivered) for e in recorder.finished.values())


class Lapsing:
    """A dispatcher lease whose proof lapses and comes back (a slow database), as the engine sees it."""

    def __init__(self, pulse: Pulse) -> None:
        self.pulse, self.proven, self.waiting = pulse, True, 0
        self._proof = asyncio.Event()

    def fresh(self) -> bool:
        return self.proven

    async def until_fresh(self) -> None:
        while not self.proven:
            self.waiting += 1
            self.pulse()
            await self._proof.wait()

    def prove(self) -> None:
        self.proven = True
        self._proof.set()


async def test_a_process_that_cannot_prove_its_lease_sends_nothing_new_to_comfyui_nor_to_discord(world: World) -> None:
    """Its lease unproven (a slow database, or it was frozen while another took over): a prompt that finishes is
    not shown, nor written DELIVERING, and a queued job is not dispatched; once proven again, both go on."""
    a, pulse, recorder = world.a, world.pulse, world.recorder
    engine = world.engine(a, per_backend=2)
    engine.fence = fence = Lapsing(pulse)
    await engine.start()
    running, waiting = job(), job()
    await engine.accept(running, REPLY)
    await pulse.until(lambda: len(a.submitted) == 1)
    fence.proven = False
    await engine.accept(waiting, REPLY)  # room for it on the backend: only the fence holds it
    a.finish()
    await pulse.until(lambda: fence.waiting == 1)  # the finished run waits at the fence
    for _ in range(5):  # the dispatcher, woken by the accepted job, takes its round first (asyncio's ready queue)
        await asyncio.sleep(0)
    assert running.id not in recorder.finished and len(a.submitted) == 1 and waiting.state is JobState.QUEUED
    stored = await world.store.get(running.id)
    assert stored is not None and stored.state is JobState.DISPATCHED  # a new holder follows it, and shows it once
    fence.prove()  # (the dispatcher's next round, within a second, sends the waiting job)
    await pulse.until(lambda: running.id in recorder.finished and len(a.submitted) == 2)
    assert isinstance(recorder.finished[running.id], Delivered) and a.submitted[-1] == prompt(waiting)
    await engine.close()

"""The SQLite store's data duties: retention of finished jobs, and exporting what is kept about a member."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

from bot.jobs.model import Job, JobRequest, JobState
from bot.jobs.store import SqliteJobStore, StoredReply, StoreError, records
from bot.templates.params import ImageData
from bot.templates.template import BoundWorkflow
from tests.cli import run_cli


def job(user: int, prompt: str, *, image: bool = False) -> Job:
    images = {"image": ImageData(b"\x89PNG", "in.png")} if image else {}
    bound = BoundWorkflow(
        "txt2img",
        {"9": {"class_type": "SaveImage", "inputs": {}}},
        {"prompt": prompt, "seed": 1},
        ("9",),
        images,
        {"image": (("1", "image"),)} if image else {},
    )
    return Job(JobRequest(user, 2000, 3000, bound))


async def test_finished_jobs_past_retention_are_forgotten_with_their_images(tmp_path: Path) -> None:
    store = await SqliteJobStore(tmp_path / "bot.sqlite3").open()
    try:
        old, recent, open_job = job(1, "old", image=True), job(1, "recent"), job(1, "still queued")
        for made in (old, recent, open_job):
            await store.add(made, StoredReply(3000, 42, None))
        for made in (old, recent):
            made.move(JobState.CANCELLED)
            await store.save(made)
        old.finished = time.time() - 100 * 86400
        await store.save(old)

        assert len(list((tmp_path / "images").iterdir())) == 1  # the old job's attachment, beside the database
        assert await records.prune(store, time.time() - 90 * 86400) == 1
        kept = {row[0] for row in await (await store.db.execute("SELECT id FROM jobs")).fetchall()}
        images = await (await store.db.execute("SELECT COUNT(*) FROM job_images")).fetchone()
    finally:
        await store.close()
    assert kept == {recent.id, open_job.id}
    assert images is not None and images[0] == 0
    assert not list((tmp_path / "images").iterdir())  # its file went with it


async def test_export_prints_what_is_kept_about_one_member(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    store = await SqliteJobStore(database).open()
    for made in (job(4000, "mine"), job(4001, "someone else's"), job(4000, "mine too")):
        await store.add(made, StoredReply(3000, 42, None))
    await store.close()
    code, out, _ = await run_cli(
        "export", "4000", env={"DISCORD__TOKEN": "t", "DATABASE__PATH": str(database)}, cwd=tmp_path
    )
    assert code == 0
    exported = json.loads(out)
    assert exported["user_id"] == 4000
    assert [j["params"]["prompt"] for j in exported["jobs"]] == ["mine", "mine too"]
    assert {"id", "state", "created", "template", "message_id", "channel_id"} <= set(exported["jobs"][0])


async def test_writes_made_at_once_all_land_in_order_and_a_refused_one_fails_alone(tmp_path: Path) -> None:
    """Writes that arrive together share a commit (`batch.py`): each is committed when its caller resumes, a
    job's insert still precedes its update in the same group, and a write the database refuses (here a job id
    that is taken) fails only its own caller."""
    database = tmp_path / "bot.sqlite3"
    store = await SqliteJobStore(database).open()
    first, second = job(1, "first"), job(2, "second")
    twin = job(3, "twin")
    twin.id = first.id
    first.move(JobState.CANCELLED)
    try:
        outcomes = await asyncio.gather(
            store.add(first, StoredReply(3000, 42, None)),
            store.save(first),
            store.add(second, StoredReply(3000, 43, None)),
            store.add(twin, StoredReply(3000, 44, None)),
            return_exceptions=True,
        )
        with sqlite3.connect(database) as other:  # another connection sees only what is committed
            rows = dict(other.execute("SELECT id, state FROM jobs").fetchall())
    finally:
        await store.close()
    assert list(outcomes[:3]) == [None, None, None]
    assert isinstance(outcomes[3], StoreError) and "could not be written" in str(outcomes[3])
    assert rows == {first.id: "cancelled", second.id: "queued"}

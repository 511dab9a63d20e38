"""The store's data duties on both databases (SQLite and a real PostgreSQL: `store_url`): retention of finished
jobs, exporting what is kept about a member, writes made at once, and migrations."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from bot.jobs.model import Job, JobRequest, JobState
from bot.jobs.store import JobStore, StoredReply, StoreError, held, records
from bot.jobs.store.migrations import MIGRATIONS
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


async def test_finished_jobs_past_retention_are_forgotten_with_their_images(
    tmp_path: Path, store_url: str | None
) -> None:
    store = await JobStore(tmp_path / "bot.sqlite3", url=store_url).open()
    try:
        old, recent, open_job = job(1, "old", image=True), job(1, "recent"), job(1, "still queued")
        for made in (old, recent, open_job):
            await store.add(made, StoredReply(3000, 42, None))
        for made in (old, recent):
            made.move(JobState.CANCELLED)
            await store.save(made)
        old.finished = time.time() - 100 * 86400
        await store.save(old)

        if store_url is None:
            assert len(list((tmp_path / "images").iterdir())) == 1  # the old job's attachment, beside the database
        else:  # in its row
            row = await store.database.fetch_one("SELECT data, file FROM job_images WHERE job_id = ?", (old.id,))
            assert row is not None and bytes(row[0]) == b"\x89PNG" and row[1] is None
        assert await records.prune(store, time.time() - 90 * 86400) == 1
        kept = {row[0] for row in await store.database.fetch_all("SELECT id FROM jobs")}
        images = await store.database.fetch_one("SELECT COUNT(*) FROM job_images")
    finally:
        await store.close()
    assert kept == {recent.id, open_job.id}
    assert images is not None and images[0] == 0
    assert store_url is not None or not list((tmp_path / "images").iterdir())  # its file went with it


async def test_export_prints_what_is_kept_about_one_member(tmp_path: Path, store_url: str | None) -> None:
    database = tmp_path / "bot.sqlite3"
    store = await JobStore(database, url=store_url).open()
    for made in (job(4000, "mine"), job(4001, "someone else's"), job(4000, "mine too")):
        await store.add(made, StoredReply(3000, 42, None))
    await store.close()
    env = {"DISCORD__TOKEN": "t", "DATABASE__PATH": str(database)} | ({"DATABASE__URL": store_url} if store_url else {})
    code, out, _ = await run_cli("export", "4000", env=env, cwd=tmp_path)
    assert code == 0
    exported = json.loads(out)
    assert exported["user_id"] == 4000
    assert [j["params"]["prompt"] for j in exported["jobs"]] == ["mine", "mine too"]
    assert {"id", "state", "created", "template", "message_id", "channel_id"} <= set(exported["jobs"][0])


async def test_writes_made_at_once_all_land_in_order_and_a_refused_one_fails_alone(
    tmp_path: Path, store_url: str | None
) -> None:
    """Writes that arrive together share a commit (`batch.py`): each is committed when its caller resumes, a
    job's insert still precedes its update in the same group, and a write the database refuses (here a job id
    that is taken) fails only its own caller."""
    database = tmp_path / "bot.sqlite3"
    store = await JobStore(database, url=store_url).open()
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
        rows = await committed(database, store_url, "SELECT id, state FROM jobs")
    finally:
        await store.close()
    assert list(outcomes[:3]) == [None, None, None]
    assert isinstance(outcomes[3], StoreError) and "could not be written" in str(outcomes[3])
    assert rows == {first.id: "cancelled", second.id: "queued"}


async def committed(database: Path, url: str | None, sql: str) -> dict[Any, Any]:
    """Rows as another connection sees them: only what is committed."""
    if url is None:
        with sqlite3.connect(database) as other:
            return dict(other.execute(sql).fetchall())
    other = await asyncpg.connect(url)
    try:
        return {row[0]: row[1] for row in await other.fetch(sql)}
    finally:
        await other.close()


async def test_a_database_from_before_numbered_migrations_keeps_every_job_and_setting(tmp_path: Path) -> None:
    """A SQLite file as the store made it before migrations were numbered (no schema_migrations, a jobs table
    without the columns added since the first release) opens with every row kept and the columns added."""
    database = tmp_path / "bot.sqlite3"
    with sqlite3.connect(database) as old:
        old.executescript(FIRST_RELEASE_SCHEMA)
        old.execute(
            "INSERT INTO jobs (id, seq, user_id, guild_id, channel_id, message_id, reply_token, template, graph, "
            "params, output_nodes, image_targets, seed, state, attempts, created) "
            "VALUES ('j1', 1, 4000, 2000, 3000, 42, NULL, 'txt2img', '{}', '{\"prompt\": \"a fox\"}', '[\"9\"]', "
            "'{}', 7, 'queued', 0, 1.0)"
        )
        old.execute("INSERT INTO member_settings VALUES (4000, 'template', 'quick')")
        old.execute("INSERT INTO guild_settings VALUES (2000, 'policy', '{}')")
    store = await JobStore(database).open()
    try:
        [(found, reply)] = await store.unfinished()
        assert found.id == "j1" and found.request.kind == "imagine" and found.request.locale == "en-US"
        assert reply.message_id == 42
        assert await store.member_settings(4000) == {"template": "quick"}
        assert await store.guild_setting(2000, "policy") == "{}"
        versions = [row[0] for row in await store.database.fetch_all("SELECT version FROM schema_migrations")]
    finally:
        await store.close()
    assert versions == [m.version for m in MIGRATIONS]  # every migration, once
    reopened = await JobStore(database).open()  # applied once: nothing is done again
    await reopened.close()


FIRST_RELEASE_SCHEMA = """
CREATE TABLE jobs (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, user_id INTEGER NOT NULL, guild_id INTEGER,
    channel_id INTEGER NOT NULL, message_id INTEGER, reply_token TEXT, template TEXT NOT NULL, graph TEXT NOT NULL,
    params TEXT NOT NULL, output_nodes TEXT NOT NULL, image_targets TEXT NOT NULL, seed INTEGER, state TEXT NOT NULL,
    backend TEXT, prompt_id TEXT, attempts INTEGER NOT NULL, created REAL NOT NULL, started REAL, finished REAL,
    error TEXT, outputs TEXT);
CREATE TABLE job_images (job_id TEXT NOT NULL, param TEXT NOT NULL, filename TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (job_id, param));
CREATE TABLE held_results (job_id TEXT NOT NULL, user_id INTEGER NOT NULL, n INTEGER NOT NULL,
    filename TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (job_id, n));
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE member_settings (user_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (user_id, key));
CREATE TABLE guild_settings (guild_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (guild_id, key));
"""


async def test_copy_database_moves_every_job_reply_image_setting_and_policy_into_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    database = tmp_path / "bot.sqlite3"
    source = await JobStore(database).open()
    queued, done = job(4000, "still queued", image=True), job(4001, "delivered")
    await source.add(queued, StoredReply(3000, 42, "token-1"))
    await source.add(done, StoredReply(3000, 43, None))
    done.move(JobState.CANCELLED)
    await source.save(done)
    await source.set_meta("comfy_client_id", "c0ffee")
    await source.set_member_setting(4000, "template", "quick")
    await source.set_guild_setting(2000, "policy", '{"channels": [3000]}')
    await held.hold(source, done.id, 4001, [held.HeldFile("kept.png", b"\x89PNG kept")])
    await source.close()

    env = {"DISCORD__TOKEN": "t", "DATABASE__PATH": str(database)}
    code, out, _ = await run_cli("copy-database", postgres_url, env=env, cwd=tmp_path)
    assert code == 0, out
    assert "2 jobs, 1 job_images, 1 held_results" in out and "password" not in out.split("(")[0]

    target = await JobStore(database, url=postgres_url).open()
    try:
        [(found, reply)] = await target.unfinished()
        assert found.id == queued.id and found.request.bound.images["image"].data == b"\x89PNG"
        assert (reply.message_id, reply.token) == (42, "token-1")
        assert (await target.get(done.id)) is not None
        assert await target.get_meta("comfy_client_id") == "c0ffee"
        assert await target.member_settings(4000) == {"template": "quick"}
        assert await target.guild_setting(2000, "policy") == '{"channels": [3000]}'
        assert await held.held(target, 4001) == {done.id: [held.HeldFile("kept.png", b"\x89PNG kept")]}
    finally:
        await target.close()
    again, out, _ = await run_cli("copy-database", postgres_url, env=env, cwd=tmp_path)
    assert again == 1 and "already holds 2 job(s): copy into an empty one" in out


async def test_a_postgresql_that_does_not_answer_is_named_without_its_password(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://bot:hunter2@127.0.0.1:{port}/bot"
    with pytest.raises(StoreError) as refused:
        await JobStore(tmp_path / "bot.sqlite3", url=url).open()
    assert str(refused.value).startswith(f"the database postgresql://127.0.0.1:{port}/bot cannot be opened: ")
    assert "hunter2" not in str(refused.value)


async def test_two_processes_opening_one_new_postgresql_at_once_migrate_it_once(
    tmp_path: Path, postgres_url: str
) -> None:
    """Two processes starting together (a holder and a standby, or `check`) do not race the migrations."""
    first, second = (JobStore(tmp_path / name, url=postgres_url) for name in ("a.sqlite3", "b.sqlite3"))
    await asyncio.gather(first.open(), second.open())
    try:
        versions = [row[0] for row in await first.database.fetch_all("SELECT version FROM schema_migrations")]
    finally:
        await first.close()
        await second.close()
    assert sorted(versions) == [m.version for m in MIGRATIONS]  # each once

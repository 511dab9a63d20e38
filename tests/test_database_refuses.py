"""A database that refuses writes (locked by another program past the busy timeout, a full disk): the running
job ends with a message its member can act on, it no longer counts against their cap, a job asked for meanwhile
is refused with the same message, and the ended job's state is written once the database takes writes again."""

from __future__ import annotations

import asyncio
import resource
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from bot.jobs.model import JobState
from bot.settings import LimitSettings
from tests.discord_helpers import final, imagine
from tests.fakes.discord_api import FakeDiscord
from tests.stack import Stack, shipped_comfy
from tests.test_shutdown import bot_process, environment

COULD_NOT_SAVE = "❌ The bot could not save this job (its database is busy or its disk is full)"


def stored_state(database: Path, prompt: str) -> tuple[str, str]:
    with sqlite3.connect(database) as db:
        row = db.execute("SELECT state, error FROM jobs WHERE params LIKE ?", (f'%"{prompt}"%',)).fetchone()
    assert row is not None, prompt
    return str(row[0]), str(row[1])


async def test_a_database_locked_past_its_bound_ends_the_job_with_a_message(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    database = stack.folder / "data" / "bot.sqlite3"
    comfy.hold()
    async with stack.start(busy_timeout=0.3, limits=LimitSettings(jobs_per_user=1)) as app:
        locked = await imagine(discord, "a fox behind a lock")
        await discord.until(lambda: any(j.state is JobState.RUNNING for j in app.engine.active.values()), within=30)
        other = sqlite3.connect(database, isolation_level=None)  # a backup or the sqlite3 shell, holding the lock
        other.execute("BEGIN IMMEDIATE")
        try:
            comfy.release()
            await discord.until(final(discord, locked), within=30)
            meanwhile = await imagine(discord, "asked while it is locked")
            await discord.until(final(discord, meanwhile), within=30)
        finally:
            other.rollback()
            other.close()
        assert discord.original(locked).content.startswith(COULD_NOT_SAVE)
        assert discord.original(meanwhile).content.startswith(COULD_NOT_SAVE)
        after = await imagine(discord, "once the lock is gone")  # a cap of 1: the ended jobs do not count
        await discord.until(final(discord, after), within=30)
        assert discord.original(after).embeds[0]["title"] == "Done"
        state, error = stored_state(database, "a fox behind a lock")
        assert state == "failed" and "could not save" in error


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prlimit on another process is Linux's")
async def test_a_full_disk_ends_the_running_job_with_a_message_and_the_bot_goes_on(tmp_path: Path) -> None:
    """The bot as a real process whose file-size limit is lowered while a job runs (as a full disk refuses
    writes), then raised again."""
    comfy = await shipped_comfy()
    discord = await FakeDiscord(window=1.0).start()
    env = environment(tmp_path, comfy, discord) | {"DATABASE__BUSY_TIMEOUT": "1", "LIMITS__JOBS_PER_USER": "1"}
    database = tmp_path / "data" / "bot.sqlite3"
    try:
        comfy.hold()
        async with bot_process(env, discord) as bot:
            full = await imagine(discord, "a fox on a full disk")
            await comfy.until(lambda: comfy.running is not None, within=30)
            soft, hard = resource.prlimit(bot.pid, resource.RLIMIT_FSIZE)
            resource.prlimit(bot.pid, resource.RLIMIT_FSIZE, (1, hard))  # no file of the bot's can be written
            comfy.release()
            await discord.until(final(discord, full), within=30)
            meanwhile = await imagine(discord, "asked while the disk is full")
            await discord.until(final(discord, meanwhile), within=30)
            resource.prlimit(bot.pid, resource.RLIMIT_FSIZE, (soft, hard))  # space again
            after = await imagine(discord, "with room on the disk")
            await discord.until(final(discord, after), within=60)
            bot.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(bot.wait(), 20)
            stderr = (await bot.stderr.read()).decode() if bot.stderr else ""
        assert code == 0, stderr[-2000:]
        assert discord.original(full).content.startswith(COULD_NOT_SAVE)
        assert discord.original(meanwhile).content.startswith(COULD_NOT_SAVE)
        assert discord.original(after).embeds[0]["title"] == "Done", stderr[-2000:]
        state, error = stored_state(database, "a fox on a full disk")
        assert state == "failed" and "could not save" in error
        assert "Traceback" not in stderr
    finally:
        await discord.stop()
        await comfy.stop()

"""The database, as a process sees it: a corrupt file or a second bot process stops start-up at once with a
message; one damaged record of an unfinished job is set aside, not fatal to the others."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bot.jobs.store import JobStore, StoreError
from bot.jobs.store.batch import Statement
from bot.process.instance import InstanceLock
from tests.cli import nowhere, run_cli
from tests.discord_helpers import final, imagine
from tests.stack import Stack
from tests.test_cli import configured


@pytest.mark.parametrize("command", ["check", "bot"])
async def test_a_corrupt_database_stops_with_a_message_within_seconds(tmp_path: Path, command: str) -> None:
    env = configured(tmp_path, nowhere()) | {"DISCORD__API_BASE": f"{nowhere()}/api/v10"}
    database = tmp_path / "data" / "bot.sqlite3"
    database.parent.mkdir(parents=True)
    database.write_bytes(b"this is not a database" * 500)
    code, out, err = await asyncio.wait_for(run_cli(command, env=env, cwd=tmp_path), 30)
    assert code == 1
    assert f"database {database}" in out + err and "file is not a database" in out + err


async def test_a_second_bot_process_on_the_same_database_refuses_to_start(tmp_path: Path) -> None:
    env = configured(tmp_path, nowhere()) | {"DISCORD__API_BASE": f"{nowhere()}/api/v10"}
    first = InstanceLock(tmp_path / "data" / "bot.sqlite3").acquire()  # as a running bot holds it
    try:
        code, _, err = await asyncio.wait_for(run_cli("bot", env=env, cwd=tmp_path), 30)
    finally:
        first.release()
    assert code == 1 and f"another bot process (pid {os.getpid()})" in err and "DATABASE__PATH" in err
    again = InstanceLock(tmp_path / "data" / "bot.sqlite3").acquire()  # released: the next one may start
    again.release()


async def test_the_same_database_through_a_symlink_is_the_same_database(tmp_path: Path) -> None:
    env = configured(tmp_path, nowhere()) | {"DISCORD__API_BASE": f"{nowhere()}/api/v10"}
    real = tmp_path / "data" / "bot.sqlite3"
    real.parent.mkdir(parents=True)
    (tmp_path / "elsewhere.sqlite3").symlink_to(real)
    first = InstanceLock(real).acquire()  # as a running bot holds it
    try:
        env |= {"DATABASE__PATH": str(tmp_path / "elsewhere.sqlite3")}
        code, _, err = await asyncio.wait_for(run_cli("bot", env=env, cwd=tmp_path), 30)
    finally:
        first.release()
    assert code == 1 and f"another bot process (pid {os.getpid()})" in err


async def test_one_damaged_record_is_set_aside_and_the_others_run(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    comfy.hold()
    async with stack.start() as app:
        damaged = await imagine(discord, "damaged")
        fine = await imagine(discord, "fine")
        await discord.until(lambda: all(i.message_id and discord.original(i).embeds for i in (damaged, fine)))
        job = await app.store.by_message(damaged.message_id or 0)
        assert job is not None
    store = await JobStore(stack.folder / "data" / "bot.sqlite3").open()
    await store.write(Statement("UPDATE jobs SET params = '{not json' WHERE id = ?", (job.id,)))
    await store.close()
    comfy.release()
    async with stack.start() as app:
        await discord.until(final(discord, fine), within=30)
        await app.engine.wait_idle()
        row = await app.store.database.fetch_one("SELECT state, error FROM jobs WHERE id = ?", (job.id,))
        assert row is not None
        state, error = row[0], row[1]
    assert state == "failed" and "damaged" in error
    assert discord.original(fine).embeds[0]["title"] == "Done"


async def test_opening_a_store_that_is_not_a_database_raises_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    path.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(StoreError, match="cannot be opened"):
        await JobStore(path).open()

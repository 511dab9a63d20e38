"""The dispatcher lease on a real PostgreSQL: one holder at a time, named for `check`, taken by a standby once
the holder's session ends."""

from __future__ import annotations

import asyncio

from bot.jobs.store.lease import DispatcherLease


async def test_one_holder_at_a_time_and_a_standby_takes_it_when_the_session_ends(postgres_url: str) -> None:
    first = DispatcherLease(postgres_url, retry=0.05, name="host-a:1")
    second = DispatcherLease(postgres_url, retry=0.05, name="host-b:2")
    try:
        assert await first.acquire(asyncio.Event())
        assert not await second.try_once()  # held: the standby waits
        holder = await second.holder()
        assert holder is not None and holder.startswith("host-a:1, since ")
        await first.release()  # the session ends (as a killed process's does)
        assert await asyncio.wait_for(second.acquire(asyncio.Event()), 5)
        assert (await first.holder() or "").startswith("host-b:2, since ")
        await second.release()
        assert await first.holder() is None  # nobody holds it
    finally:
        await first.release()
        await second.release()


async def test_check_lists_the_holder_and_the_standby_and_forgets_a_process_that_left(postgres_url: str) -> None:
    first = DispatcherLease(postgres_url, retry=0.05, name="host-a:1")
    second = DispatcherLease(postgres_url, retry=0.05, name="host-b:2")
    stop = asyncio.Event()
    try:
        assert await first.acquire(asyncio.Event())
        waiting = asyncio.create_task(second.acquire(stop))  # a standby: it signs in as one on each try
        seen: dict[str, str] = {}
        async with asyncio.timeout(5):
            while "host-b:2" not in seen:
                seen = {name: role for name, role, _ in await first.processes()}
                await asyncio.sleep(0.05)  # the standby's next try (polling a table, not a synchronisation)
        assert seen == {"host-a:1": "holder", "host-b:2": "standby"}
        stop.set()
        assert await waiting is False  # stopped while waiting
        await second.release()
        assert [name for name, _, _ in await first.processes()] == ["host-a:1"]
    finally:
        stop.set()
        await first.release()
        await second.release()

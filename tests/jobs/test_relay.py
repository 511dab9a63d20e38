"""The relayed events' table on a real PostgreSQL: an event is taken once, by whichever process claims it first
(the holder, or its sender at the deadline), and the holder is woken for each one sent."""

from __future__ import annotations

import asyncio
import time

from bot.jobs.store.relay import RelayBox


async def test_a_relayed_event_wakes_the_listener_and_is_taken_once(postgres_url: str) -> None:
    sender, holder = await RelayBox(postgres_url, "a").open(), await RelayBox(postgres_url, "b").open()
    woken: asyncio.Queue[int] = asyncio.Queue()
    try:
        await holder.listen(woken.put_nowait)
        sent = await sender.send("INTERACTION_CREATE", {"id": "1", "token": "t", "type": 2}, time.monotonic() - 0.5)
        assert await asyncio.wait_for(woken.get(), 10) == sent
        assert await holder.waiting() == [sent]
        taken = await asyncio.gather(holder.claim(sent), sender.claim(sent), holder.claim(sent))
        claimed = [t for t in taken if t is not None]
        assert len(claimed) == 1 and claimed[0][:2] == ("INTERACTION_CREATE", {"id": "1", "token": "t", "type": 2})
        assert 0.5 <= claimed[0][2] < 10  # its age, by the database's clock: the sender held it 0.5 s
        assert await holder.waiting() == []
    finally:
        await sender.close()
        await holder.close()

"""Gateway events handed from one bot process to another through PostgreSQL.

When several processes share a bot (each connects some of its gateway shards, `DISCORD__SHARD_IDS`), only the
holder of the dispatcher lease (`lease.py`) runs jobs. Every other process puts each interaction and reaction it
receives in the `relayed` table and wakes the holder with `NOTIFY` (postgresql.org/docs/current/sql-notify.html:
delivered to every session that `LISTEN`s, at the sender's commit). The holder claims a row by deleting it, so
an event is taken once even when the holder changes; a sender that finds its row unclaimed when its deadline
comes takes it back the same way, and answers the member itself. The payload is not in the notification (at most
8,000 bytes there; an interaction may be larger): the row holds it.

How old an event is, is read on one clock, the database's: the row's `at` is the database's time when the sender
received it (its time at the insert, less how long the sender held it, by the sender's monotonic clock), and the
holder reads the age against the database's time too. Two hosts' wall clocks are never compared (a sender 3 s
behind the holder used to have every interaction dropped as late).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]

CHANNEL = "comfybot_relay"
TABLE = (
    "CREATE TABLE IF NOT EXISTS relayed (id BIGSERIAL PRIMARY KEY, event TEXT NOT NULL, data TEXT NOT NULL, "
    "at DOUBLE PRECISION NOT NULL, sender TEXT NOT NULL)"
)
Relayed = tuple[str, dict[str, Any], float]  # (event, its payload, seconds since the sender received it)
NOW = "extract(epoch FROM clock_timestamp())"  # the database's time, in seconds


class RelayBox:
    def __init__(self, url: str, sender: str) -> None:
        self.url, self.sender = url, sender
        self._pool: Any = None
        self._listening: Any = None

    async def open(self) -> RelayBox:
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4)
        with contextlib.suppress(asyncpg.UniqueViolationError):  # two processes creating it at once
            await self._pool.execute(TABLE)
        return self

    async def send(self, event: str, data: dict[str, Any], received: float) -> int:
        """Put one event (received at `received`, by `time.monotonic()`) in the table and wake the holder (one
        statement: the notification goes at its commit)."""
        return int(
            await self._pool.fetchval(
                "WITH r AS (INSERT INTO relayed (event, data, at, sender) "
                f"VALUES ($1, $2, {NOW} - $3, $4) RETURNING id) SELECT id FROM r, pg_notify($5, r.id::text)",
                event,
                json.dumps(data),
                max(0.0, time.monotonic() - received),
                self.sender,
                CHANNEL,
            )
        )

    async def claim(self, relay_id: int) -> Relayed | None:
        """Take one event (None: another process took it already)."""
        row = await self._pool.fetchrow(
            f"DELETE FROM relayed WHERE id = $1 RETURNING event, data, {NOW} - at AS age", relay_id
        )
        return None if row is None else (str(row["event"]), json.loads(row["data"]), float(row["age"]))

    async def waiting(self) -> list[int]:
        """The events nobody has taken yet, oldest first."""
        return [int(r["id"]) for r in await self._pool.fetch("SELECT id FROM relayed ORDER BY id")]

    async def listen(self, woken: Callable[[int], None]) -> None:
        """Call `woken(id)` for each event sent from now on (on a connection of its own, as LISTEN needs)."""
        self._listening = await asyncpg.connect(self.url)
        await self._listening.add_listener(CHANNEL, lambda _c, _pid, _channel, payload: woken(int(payload)))

    async def close(self) -> None:
        if self._listening is not None:
            with contextlib.suppress(Exception):
                await self._listening.close()
            self._listening = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

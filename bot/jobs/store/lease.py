"""One bot process at a time runs the jobs of a PostgreSQL database: the holder of the dispatcher lease. The others
wait as hot standbys, and one of them takes over when the holder stops or dies.

The lease is a PostgreSQL session advisory lock (`pg_try_advisory_lock`, postgresql.org/docs/current/
explicit-locking.html#ADVISORY-LOCKS) held on a connection of its own. PostgreSQL releases it when that session
ends, and a process that is killed (SIGKILL, a crashed host whose socket resets) ends its session with it, so
a standby that tries every `retry` seconds holds it within about that time. The holder checks its session
every `retry` seconds too: a lease it can no longer prove it holds (the database restarted, the network
parted) stops the process, which then waits as a standby, so two processes never run the jobs together.

Who holds it is written in the `lease` table, for `check` and the logs; the lock, not the row, is the lease.
(SQLite needs none: one process per file, `instance.py`.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from typing import Any

import asyncpg  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

LOCK_KEY = 0x636F6D6679_0001  # "comfy" and the dispatcher's number: one key per database
IDLE_ENDS_LEASE = 4  # times `retry`: a lease session silent this long is ended by PostgreSQL


class LeaseLost(Exception):
    """The holder can no longer prove it holds the lease."""


class DispatcherLease:
    def __init__(self, url: str, *, retry: float = 2.0, name: str | None = None) -> None:
        self.url, self.retry = url, retry
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._connection: Any = None
        self.held_since: float | None = None
        self._proven: float | None = None  # when (monotonic) the holder last proved it holds the lease
        self._proof = asyncio.Event()  # set at each proof, for those waiting until it is fresh again

    async def acquire(self, stop: asyncio.Event, *, waiting_as: str = "standby") -> bool:
        """Wait until this process holds the lease (True), or until `stop` is set (False). Meanwhile it is listed
        in the role `waiting_as`: a "standby", or "relaying" the events of its shards to the holder."""
        told = False
        while not stop.is_set():
            try:
                if await self.try_once():
                    return True
                await self._beat(waiting_as)
                if not told:
                    log.warning(
                        "another bot process holds the dispatcher lease (%s); %s",
                        await self.holder() or "?",
                        "waiting as a standby" if waiting_as == "standby" else "relaying to it, and waiting",
                    )
                    told = True
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("the dispatcher lease cannot be asked for now: %s", exc)
                await self._drop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.retry)
        return False

    async def try_once(self) -> bool:
        """One try for the lease: True when this process holds it now."""
        if self._connection is None:
            self._connection = await asyncpg.connect(self.url)
            # A holder that stops answering (frozen, or its host gone without closing the socket) must lose the
            # lease too: PostgreSQL ends a session idle this long (14+: postgresql.org/docs/current/
            # runtime-config-client.html#GUC-IDLE-SESSION-TIMEOUT), and with it the lock. The holder writes every
            # `retry` seconds, and stops running jobs once its proof is `2 * retry` old (`fresh`).
            with contextlib.suppress(asyncpg.PostgresError):  # an older server: only a closed socket ends it
                await self._connection.execute(f"SET idle_session_timeout = {int(IDLE_ENDS_LEASE * self.retry * 1000)}")
            with contextlib.suppress(asyncpg.UniqueViolationError):  # two processes creating them at once
                await self._connection.execute(
                    "CREATE TABLE IF NOT EXISTS lease (name TEXT PRIMARY KEY, holder TEXT NOT NULL, "
                    "since DOUBLE PRECISION NOT NULL, heartbeat DOUBLE PRECISION NOT NULL)"
                )
            with contextlib.suppress(asyncpg.UniqueViolationError):
                await self._connection.execute(
                    "CREATE TABLE IF NOT EXISTS bot_processes (name TEXT PRIMARY KEY, role TEXT NOT NULL, "
                    "heartbeat DOUBLE PRECISION NOT NULL)"
                )
        if not await self._connection.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
            return False
        self.held_since = time.time()
        self._proved()
        await self._beat("holder")
        await self._connection.execute(
            "INSERT INTO lease (name, holder, since, heartbeat) VALUES ('dispatcher', $1, $2, $2) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, since = excluded.since, "
            "heartbeat = excluded.heartbeat",
            self.name,
            self.held_since,
        )
        log.info("this process (%s) holds the dispatcher lease", self.name)
        return True

    async def keep(self) -> None:
        """While held: prove it every `retry` seconds (and write the heartbeat); raises LeaseLost when it cannot."""
        while True:
            await asyncio.sleep(self.retry)
            try:
                await self._connection.execute(
                    "UPDATE lease SET heartbeat = $1 WHERE name = 'dispatcher' AND holder = $2", time.time(), self.name
                )
                await self._beat("holder")
                self._proved()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self._proven = None
                raise LeaseLost(f"the dispatcher lease's session ended: {exc}") from None

    def _proved(self) -> None:
        self._proven = time.monotonic()
        self._proof.set()
        self._proof.clear()  # the waiters woken now see it fresh; later ones wait for the next proof

    async def until_fresh(self) -> None:
        """Until `fresh()`: at once for a holder in good standing; after the next proof for one whose proof lapsed
        (a slow database); for ever for one that lost the lease (it is stopping: its tasks are cancelled)."""
        while not self.fresh():
            await self._proof.wait()

    def fresh(self) -> bool:
        """Whether this process proved it holds the lease lately enough to run jobs: within `2 * retry` seconds,
        well before PostgreSQL would end a silent holder's session (`IDLE_ENDS_LEASE * retry`) and another
        process could take the lease. A process that was frozen wakes up not fresh, and runs nothing more."""
        return self._proven is not None and time.monotonic() - self._proven < 2 * self.retry

    async def keep_or_stop(self, stop: asyncio.Event) -> None:
        """`keep()`; a lease the process can no longer prove it holds sets `stop` (it can start again as a
        standby), so that no two processes run the jobs together."""
        try:
            await self.keep()
        except LeaseLost as exc:
            log.error("%s: stopping, so that no two processes run the jobs together", exc)
            stop.set()

    async def holder(self) -> str | None:
        """Who holds the lease, as it wrote itself down (name and since when)."""
        connection = self._connection or await asyncpg.connect(self.url)
        try:
            row = await connection.fetchrow("SELECT holder, since, heartbeat FROM lease WHERE name = 'dispatcher'")
            held = await connection.fetchval(  # the lock itself, in pg_locks (a bigint key: classid, objid)
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
                "AND ((classid::bigint << 32) | objid::bigint) = $1)",
                LOCK_KEY,
            )
        except asyncpg.UndefinedTableError:
            return None
        finally:
            if connection is not self._connection:
                await connection.close()
        if row is None or not held:
            return None
        return f"{row['holder']}, since {time.strftime('%H:%M:%S', time.localtime(row['since']))}"

    async def _beat(self, role: str) -> None:
        """This process is alive, in this role: what `check` lists."""
        await self._connection.execute(
            "INSERT INTO bot_processes (name, role, heartbeat) VALUES ($1, $2, $3) "
            "ON CONFLICT (name) DO UPDATE SET role = excluded.role, heartbeat = excluded.heartbeat",
            self.name,
            role,
            time.time(),
        )

    async def processes(self) -> list[tuple[str, str, float]]:
        """(name, role, seconds since its last sign of life) of the processes seen within 5 tries, newest first."""
        connection = self._connection or await asyncpg.connect(self.url)
        try:
            rows = await connection.fetch(
                "SELECT name, role, heartbeat FROM bot_processes WHERE heartbeat > $1 ORDER BY heartbeat DESC",
                time.time() - 5 * self.retry,
            )
        except asyncpg.UndefinedTableError:
            return []
        finally:
            if connection is not self._connection:
                await connection.close()
        return [(str(r["name"]), str(r["role"]), time.time() - float(r["heartbeat"])) for r in rows]

    async def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.execute("DELETE FROM bot_processes WHERE name = $1", self.name)
        await self._drop()

    async def _drop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()  # the session ends: the lock goes with it
            self._connection = None
        self.held_since = None

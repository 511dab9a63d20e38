"""The process's role, chosen once at start (`role_for`), each an object with `claim`, `start` and `stop`:

- `Alone`: one process on SQLite; the file's lock (`instance.py`) keeps a second one out.
- `StandbyThenHolder`: a process with all the shards on PostgreSQL; it waits as a standby until it holds the
  dispatcher lease (`jobs/store/lease.py`), then runs the jobs, fenced by the lease, and stops if it loses it.
- `RelayingShard`: a process with some of the shards on PostgreSQL; it connects its shards at once and relays
  what they receive to the holder (`relaying.py`) until it takes the lease itself (`App.lead`).
- `Syncing`: `python -m bot sync`: it logs in, pushes the commands and leaves; it runs nothing.

`claim` comes before anything touches Discord or ComfyUI (False: SIGTERM while waiting); `start` follows the
login; `stop` follows the app's close, and lets go of whatever `claim` took."""

from __future__ import annotations

import asyncio
import os
import socket

from ..jobs.store.lease import DispatcherLease
from ..jobs.store.relay import RelayBox
from ..settings import Settings
from .app import App
from .instance import InstanceLock
from .relaying import GatewayRelay


class Role:
    name = "none"  # as the metrics describe the process
    database = "sqlite"

    @property
    def process(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    async def claim(self, terminated: asyncio.Event) -> bool:
        return True

    async def start(self, app: App, terminated: asyncio.Event) -> None:
        """The app has logged in; run what this role runs."""

    async def stop(self) -> None:
        """After the app closed."""


class Syncing(Role):
    def __init__(self, database: str) -> None:
        self.database = database


class Alone(Role):
    def __init__(self, lock: InstanceLock) -> None:
        self._lock = lock

    async def claim(self, terminated: asyncio.Event) -> bool:
        self._lock.acquire()
        return True

    async def start(self, app: App, terminated: asyncio.Event) -> None:
        await app.start()  # recovered jobs are shown now that the bot knows who it is

    async def stop(self) -> None:
        self._lock.release()


class StandbyThenHolder(Role):
    name, database = "held", "postgresql"

    def __init__(self, lease: DispatcherLease) -> None:
        self._lease = lease
        self._keeper: asyncio.Task[None] | None = None

    @property
    def process(self) -> str:
        return self._lease.name

    async def claim(self, terminated: asyncio.Event) -> bool:
        if not await self._lease.acquire(terminated):
            return False
        self._keeper = asyncio.create_task(self._lease.keep_or_stop(terminated))
        return True

    async def start(self, app: App, terminated: asyncio.Event) -> None:
        app.engine.fence = self._lease
        await app.start()

    async def stop(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
        await self._lease.release()


class RelayingShard(Role):
    name, database = "relaying", "postgresql"

    def __init__(self, lease: DispatcherLease, url: str) -> None:
        self._lease, self._url = lease, url
        self._relay: GatewayRelay | None = None
        self._leading: asyncio.Task[None] | None = None

    @property
    def process(self) -> str:
        return self._lease.name

    async def start(self, app: App, terminated: asyncio.Event) -> None:
        await app.serve_metrics()
        self._relay = GatewayRelay(app.bot, await RelayBox(self._url, self._lease.name).open())
        self._relay.relay()  # before the shards connect: nothing they receive is handled here yet
        self._leading = asyncio.create_task(app.lead(self._lease, self._relay, terminated), name="lead")

    async def stop(self) -> None:
        if self._leading is not None:
            self._leading.cancel()
            await asyncio.gather(self._leading, return_exceptions=True)
        if self._relay is not None:
            await self._relay.close()
        await self._lease.release()


def role_for(settings: Settings, *, sync_only: bool) -> Role:
    """One process per database runs the jobs: on SQLite the file's lock, on PostgreSQL the dispatcher lease."""
    url = settings.database.url.get_secret_value() if settings.database.url else None
    if url is None:  # even to sync: the file is the running bot's
        return Alone(InstanceLock(settings.database.path))
    if sync_only:
        return Syncing("postgresql")
    lease = DispatcherLease(url, retry=settings.database.lease_retry)
    return RelayingShard(lease, url) if settings.shares_work else StandbyThenHolder(lease)

"""The running bot: its parts, and their lifecycle (log in, start, close) with the retention task beside them.
`__main__.assemble` builds it."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aiohttp import web

from .bot import ComfyBot
from .comfy.pool import BackendPool
from .jobs.access import Access
from .jobs.engine import JobEngine
from .jobs.store import JobStore, StoreError, records
from .metrics import Metrics, serve
from .settings import Settings
from .templates.library import TemplateLibrary
from .ui.presenter import ProgressPresenter

log = logging.getLogger("bot")


@dataclass
class App:
    bot: ComfyBot
    engine: JobEngine
    presenter: ProgressPresenter
    pool: BackendPool
    library: TemplateLibrary
    store: JobStore
    metrics: Metrics
    settings: Settings
    access: Access
    metrics_port: int | None = None
    _metrics_runner: web.AppRunner | None = None
    _pruner: asyncio.Task[None] | None = None

    async def _prune_forever(self) -> None:
        """Forget finished jobs past the retention period: at start, then every 6 hours."""
        while True:
            cutoff = time.time() - self.settings.database.retention_days * 86400
            try:
                forgotten = await records.prune(self.store, cutoff)
            except StoreError as exc:  # tried again next time; nothing is lost by waiting
                log.warning("retention: %s", exc)
                forgotten = 0
            if forgotten:
                log.info(
                    "forgot %d finished job(s) older than %g days", forgotten, self.settings.database.retention_days
                )
            await asyncio.sleep(6 * 3600)

    async def login(self, token: str) -> None:
        """Log in to Discord (REST: the application's id, the commands synced) before anything is shown: a
        recovered job's message can only be edited once the bot knows which application it is."""
        await self.bot.login(token)
        self.access.add_operators(await self.bot.operators())

    async def start(self) -> None:
        """Recover unfinished jobs and run them; the caller has logged in, and connects after (or before: a
        process that shares the bot starts when it takes the dispatcher lease)."""
        await self.pool.start()
        await self.engine.start()
        self._pruner = asyncio.create_task(self._prune_forever(), name="retention")
        await self.serve_metrics()

    async def catch_up(self) -> None:
        """What another process changed while this one relayed to it: the store's counters, the servers' rules."""
        await self.store.catch_up()
        await self.access.policies.load()

    async def serve_metrics(self) -> None:
        """Serve `/metrics` (once: a process that relays serves them before it runs jobs)."""
        if self.settings.metrics.enabled and self._metrics_runner is None:
            config = self.settings.metrics
            self._metrics_runner, self.metrics_port = await serve(self.metrics, config.host, config.port)

    async def close(self) -> None:
        """Stop taking and showing work first, then leave Discord, then ComfyUI, then the database."""
        if self._pruner is not None:
            self._pruner.cancel()
            await asyncio.gather(self._pruner, return_exceptions=True)
        await self.engine.close()
        await self.presenter.close()
        await self.bot.close()
        await self.pool.close()
        await self.store.close()
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
        self.metrics.unwatch()

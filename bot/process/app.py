"""The running bot: its parts, and their lifecycle (log in, start, run until SIGTERM, close; or relay, then lead,
when it shares the bot with other processes) with the retention task beside them. `__main__.assemble` builds
it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass

from aiohttp import web

from ..bot import ComfyBot
from ..comfy.pool import BackendPool
from ..jobs.access import Access
from ..jobs.admission import Admission
from ..jobs.engine import JobEngine
from ..jobs.store import JobStore, StoreError, records
from ..jobs.store.lease import DispatcherLease
from ..media.pool import MediaPool
from ..settings import Settings
from ..templates.library import TemplateLibrary
from ..ui.presenter import ProgressPresenter
from .metrics import Metrics, serve
from .relaying import GatewayRelay

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
    media: MediaPool
    admission: Admission
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
        for state in self.pool.states.values():
            if not state.healthy:
                log.warning(
                    "ComfyUI server %s does not answer at %s (%s): is ComfyUI running there? Jobs wait until it does",
                    state.backend.name,
                    self._shown_url(state.backend.name),
                    state.error,
                )
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
            if exposed := config.exposure():
                log.warning("%s", exposed)
            self._metrics_runner, self.metrics_port = await serve(
                self.metrics, config.host, config.port, self.readiness
            )

    async def close(self) -> None:
        """Stop taking and showing work first, then leave Discord, then ComfyUI, then the database."""
        if self._pruner is not None:
            self._pruner.cancel()
            await asyncio.gather(self._pruner, return_exceptions=True)
        await self.engine.close()
        await self.presenter.close()
        await self.bot.close()
        await self.pool.close()
        await self.media.close()
        await self.store.close()
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
        self.metrics.unwatch()

    # ---- a process's life ---------------------------------------------------------------------------

    async def lead(self, lease: DispatcherLease, relay: GatewayRelay, terminated: asyncio.Event) -> None:
        """A process sharing the bot: relay until it holds the dispatcher lease; then run the jobs (those in
        flight followed again, as after a restart), take what the other processes relay, and handle its own
        shards here."""
        shards = ",".join(str(n) for n in self.settings.discord.shard_ids or ())
        if not await lease.acquire(terminated, waiting_as=f"relaying shard(s) {shards}"):
            return
        await self.catch_up()
        self.engine.fence = lease
        await self.start()
        await relay.take()
        relay.handle_here()
        self.metrics.describe_process(lease.name, "postgresql", "held")
        await lease.keep_or_stop(terminated)

    async def readiness(self) -> list[str]:
        """What keeps this process from serving members, for /readyz: [] when it is connected to Discord, its
        database answers, and at least one ComfyUI server answers."""
        problems = []
        if not self.bot.is_ready() or self.bot.is_closed():
            problems.append("not connected to Discord")
        try:
            await asyncio.wait_for(self.store.job_count(), 5)
        except (StoreError, TimeoutError) as exc:
            problems.append(f"the database does not answer: {exc or 'no answer in 5 s'}")
        if not any(state.healthy for state in self.pool.states.values()):
            problems.append("no ComfyUI server answers: " + ", ".join(self.pool.states) + " (see /status or check)")
        return problems

    def _shown_url(self, name: str) -> str:
        return next((b.shown_url for b in self.settings.comfy.backends if b.display_name == name), "?")

    def ready_line(self) -> str:
        """Who the bot is, where, on what: one line once it is connected."""
        servers = []
        for name, state in self.pool.states.items():
            if state.healthy and state.stats is not None:
                devices = ", ".join(d.name for d in state.stats.devices) or "no device"
                servers.append(f"{name} (ComfyUI {state.stats.comfyui_version}, {devices})")
            else:
                servers.append(f"{name} not answering at {self._shown_url(name)}")
        names = ", ".join(sorted(self.library.templates)) or "none"
        return (
            f"ready: {self.bot.user} in {len(self.bot.guilds)} server(s); ComfyUI: {'; '.join(servers)}; "
            f"{len(self.library.templates)} template(s): {names}"
        )

    async def _say_ready(self) -> None:
        await self.bot.wait_until_ready()
        log.info("%s", self.ready_line())

    async def until_terminated(self, terminated: asyncio.Event) -> None:
        """Run the bot until it stops, or until SIGTERM: then take no new work (members are told the bot is
        restarting) and flush the final messages being sent, within half the shutdown bound (closing has the
        rest). Jobs running in ComfyUI are left running: they are followed again after the restart."""
        connected = asyncio.create_task(self.bot.connect(), name="discord")
        signalled = asyncio.create_task(terminated.wait(), name="sigterm")
        ready = asyncio.create_task(self._say_ready(), name="ready")
        try:
            done, _ = await asyncio.wait({connected, signalled}, return_when=asyncio.FIRST_COMPLETED)
            if connected in done:
                signalled.cancel()
                connected.result()  # raises what stopped it
                return
            log.warning("SIGTERM: taking no new work; answering what was asked, flushing final messages, then closing")
            self.bot.stopping = True
            began, half = time.monotonic(), self.settings.discord.shutdown_timeout / 2
            await bounded(self._answered(), half)  # what members asked before the signal is answered, then
            await bounded(self.presenter.drain(), half - (time.monotonic() - began))  # the final messages shown
            await self.bot.leave_gateway()  # no interaction comes in any more
            connected.cancel()
            await asyncio.gather(connected, return_exceptions=True)
            await bounded(self._answered(), half - (time.monotonic() - began))  # those that came meanwhile
        finally:
            ready.cancel()

    async def _answered(self) -> None:
        """Until every interaction received so far has been handled (the bot takes no new one meanwhile)."""
        while handling := self.bot.answering_now():
            await asyncio.wait(handling)


async def bounded(step: Awaitable[None], seconds: float) -> None:
    try:
        await asyncio.wait_for(step, max(seconds, 0.1))
    except TimeoutError:
        log.warning("shutting down: a step took more than %.0f s; going on", seconds)

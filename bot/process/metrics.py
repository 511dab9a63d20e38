"""Prometheus metrics (off by default; bound to 127.0.0.1 unless told otherwise).

Counts and timings of jobs are recorded by a listener wrapped around the job messages; live values (queue
depth, Discord edits and 429s, backend health) are read when Prometheus scrapes, so nothing else knows of this.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ..comfy.pool import BackendPool
from ..jobs.engine import JobEngine
from ..jobs.events import Cancelled, Delivered, Failed, JobEvent
from ..jobs.model import Job, JobState
from ..jobs.ports import JobListener, QueuePositions
from ..jobs.store import StoredReply
from ..ui.presenter import ProgressPresenter

RATE_LIMIT_LOGGERS = ("discord.http", "discord.webhook.async_")
DELIVERY_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)
RUN_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600)


class RateLimitCounter(logging.Handler):
    """Counts the 429s discord.py reports (it retries them itself and says so in its log)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "rate limited" in record.getMessage().lower():
            self.count += 1


class _Live(Collector):
    def __init__(
        self, engine: JobEngine, pool: BackendPool, presenter: ProgressPresenter, rate_limits: RateLimitCounter
    ) -> None:
        self.engine, self.pool, self.presenter, self.rate_limits = engine, pool, presenter, rate_limits
        self.process: dict[str, str] = {}  # this process: its name, its database, whether it holds the lease

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield GaugeMetricFamily("comfybot_queue_depth", "Jobs waiting in the queue", value=len(self.engine.scheduler))
        yield GaugeMetricFamily("comfybot_jobs_active", "Jobs not finished", value=len(self.engine.active))
        yield CounterMetricFamily("comfybot_discord_edits", "Message edits sent to Discord", value=self.presenter.edits)
        yield CounterMetricFamily(
            "comfybot_discord_rate_limited", "429 answers from Discord", value=self.rate_limits.count
        )
        up = GaugeMetricFamily("comfybot_backend_up", "1 when a ComfyUI backend is healthy", labels=["backend"])
        busy = GaugeMetricFamily("comfybot_backend_in_flight", "Prompts a backend holds", labels=["backend"])
        warm = GaugeMetricFamily(
            "comfybot_backend_model_warm",
            "1 for each model a backend's last prompt loaded",
            labels=["backend", "model"],
        )
        load = GaugeMetricFamily(
            "comfybot_backend_model_load_seconds",
            "What loading models takes on a backend, as measured",
            labels=["backend"],
        )
        for name, state in self.pool.states.items():
            up.add_metric([name], 1.0 if state.healthy else 0.0)
            busy.add_metric([name], state.in_flight)
            for model in sorted(state.warm):
                warm.add_metric([name, model], 1.0)
            if state.load_seconds is not None:
                load.add_metric([name], state.load_seconds)
        yield from (up, busy, warm, load)
        if self.process:
            info = GaugeMetricFamily(
                "comfybot_process", "This bot process: its database and the dispatcher lease", labels=list(self.process)
            )
            info.add_metric(list(self.process.values()), 1.0)
            yield info


class Metrics(JobListener):
    """Wraps the job listener: records outcomes and timings, then passes everything on unchanged."""

    def __init__(self, inner: JobListener) -> None:
        self.inner = inner
        self.registry = CollectorRegistry()
        self.jobs = Counter("comfybot_jobs", "Finished jobs by outcome", ["outcome"], registry=self.registry)
        self.wait = Histogram(
            "comfybot_job_wait_seconds", "Accepted to started", buckets=WAIT_BUCKETS, registry=self.registry
        )
        self.run = Histogram(
            "comfybot_job_run_seconds", "Started to finished", buckets=RUN_BUCKETS, registry=self.registry
        )
        self.delivery = Histogram(
            "comfybot_delivery_seconds",
            "ComfyUI done to the result shown on Discord (fetched, fitted, uploaded)",
            buckets=DELIVERY_BUCKETS,
            registry=self.registry,
        )
        self._delivering: dict[str, float] = {}  # job id -> when ComfyUI was done with it (monotonic)
        self.rate_limits = RateLimitCounter()

    def watch(self, engine: JobEngine, pool: BackendPool, presenter: ProgressPresenter) -> None:
        self._live = _Live(engine, pool, presenter, self.rate_limits)
        self.registry.register(self._live)
        for name in RATE_LIMIT_LOGGERS:
            logging.getLogger(name).addHandler(self.rate_limits)

    def describe_process(self, process: str, database: str, lease: str) -> None:
        """What `comfybot_process` says of this process (lease: "held" on PostgreSQL, "none" on SQLite)."""
        self._live.process = {"process": process, "database": database, "lease": lease}

    def unwatch(self) -> None:
        """Stop counting 429s (the loggers are global: a closed bot must not keep its handler there)."""
        for name in RATE_LIMIT_LOGGERS:
            logging.getLogger(name).removeHandler(self.rate_limits)

    def job_changed(self, job: Job, event: JobEvent) -> None:
        if job.state is JobState.DELIVERING:
            self._delivering.setdefault(job.id, time.monotonic())
        self.inner.job_changed(job, event)

    def restore(self, job: Job, reply: StoredReply) -> None:
        self.inner.restore(job, reply)

    def queue_moved(self, queue: QueuePositions) -> None:
        self.inner.queue_moved(queue)

    async def job_finished(self, job: Job, event: JobEvent) -> None:
        try:
            await self.inner.job_finished(job, event)
        finally:
            outcome = {Delivered: "delivered", Failed: "failed", Cancelled: "cancelled"}.get(type(event), "other")
            self.jobs.labels(outcome).inc()
            delivering = self._delivering.pop(job.id, None)
            if delivering is not None and isinstance(event, Delivered):
                self.delivery.observe(time.monotonic() - delivering)
            now = time.time()
            if job.started is not None:
                self.wait.observe(max(0.0, job.started - job.created))
                self.run.observe(max(0.0, now - job.started))

    def text(self) -> bytes:
        return generate_latest(self.registry)


async def serve(
    metrics: Metrics, host: str, port: int, readiness: Callable[[], Awaitable[list[str]]] | None = None
) -> tuple[web.AppRunner, int]:
    """GET /metrics, /healthz and /readyz on host:port (0: any free port); the runner (to clean up) and the port
    bound. /healthz: the process lives and its event loop answers. /readyz: `readiness()` finds nothing wrong
    (200), or 503 with what is wrong, one line each, for an orchestrator's probes and for the person reading."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=metrics.text(), content_type="text/plain", charset="utf-8")

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        problems = await readiness() if readiness is not None else []
        if problems:
            return web.Response(status=503, text="".join(f"{line}\n" for line in problems))
        return web.Response(text="ready\n")

    app = web.Application()
    app.router.add_get("/metrics", handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    return runner, (sockets[0].getsockname()[1] if sockets else port)

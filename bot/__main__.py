"""Composition root: Settings -> ComfyUI backends -> templates -> engine -> presenter -> Discord bot.

`python -m bot` runs the bot; `check` validates the settings and reaches each backend; `templates` lists the
workflow templates; `sync` pushes the slash commands to Discord now. Nothing else builds objects.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import uuid
from dataclasses import dataclass

import aiohttp

from .bot import ComfyBot
from .cogs.imagine import ImagineCog
from .cogs.queue import BackendCog, QueueCog
from .cogs.results import ResultsCog
from .comfy.backend import ComfyBackend
from .comfy.client import ComfyClient
from .comfy.errors import ComfyError
from .comfy.pool import BackendPool
from .comfy.stream import ComfyStream
from .jobs.engine import JobEngine
from .jobs.followups import FollowUps
from .jobs.store import SqliteJobStore
from .logs import configure_logging
from .settings import BackendSettings, ConfigError, Settings, load_settings, templates_folder
from .templates.library import TemplateLibrary
from .templates.listing import describe_library
from .ui.job_messages import JobMessages
from .ui.presenter import ProgressPresenter

log = logging.getLogger("bot")


def make_client(session: aiohttp.ClientSession, backend: BackendSettings, settings: Settings) -> ComfyClient:
    headers = {}
    if backend.auth_value is not None:
        headers[backend.auth_header] = backend.auth_value.get_secret_value()
    return ComfyClient(
        session, backend.url, headers=headers, timeout=settings.comfy.request_timeout, retries=settings.comfy.retries
    )


@dataclass
class App:
    bot: ComfyBot
    engine: JobEngine
    presenter: ProgressPresenter
    pool: BackendPool
    library: TemplateLibrary
    store: SqliteJobStore

    async def start(self, token: str) -> None:
        """Recover unfinished jobs, then connect to Discord (the caller runs `bot.start` or `bot.login`)."""
        await self.pool.start()
        await self.engine.start()

    async def close(self) -> None:
        """Stop taking and showing work first, then leave Discord, then ComfyUI, then the database."""
        await self.engine.close()
        await self.presenter.close()
        await self.bot.close()
        await self.pool.close()
        await self.store.close()


async def assemble(
    settings: Settings, session: aiohttp.ClientSession, *, force_sync: bool = False, guild_ready_timeout: float = 2.0
) -> App:
    """Build everything; `App.start()` then recovers jobs and starts the backends' health checks."""
    data = settings.database.path.parent
    store = await SqliteJobStore(settings.database.path).open()
    client_id = await store.get_meta("comfy_client_id")
    if client_id is None:  # kept across restarts: the bot keeps following the prompts it submitted
        client_id = uuid.uuid4().hex
        await store.set_meta("comfy_client_id", client_id)
    backends = []
    for config in settings.comfy.backends:
        client = make_client(session, config, settings)
        stream = ComfyStream(client, client_id, silence_timeout=settings.comfy.silence_timeout)
        backends.append(ComfyBackend(config.display_name, client, stream))
    pool = BackendPool(
        backends,
        weights={b.display_name: b.weight for b in settings.comfy.backends},
        check_interval=settings.comfy.health_interval,
    )
    library = TemplateLibrary(settings.templates.dir)
    report = library.reload()
    for error in report.errors.values():
        log.warning("template refused: %s", error)
    discord_settings = settings.discord
    presenter = ProgressPresenter(
        message_interval=discord_settings.edit_interval,
        channel_edits=discord_settings.channel_edits,
        channel_window=discord_settings.channel_window,
    )
    presenter.start()
    followups = FollowUps(library)
    messages = JobMessages(presenter, handoff_after=discord_settings.token_handoff, followups=followups)
    engine = JobEngine(pool, store, messages, running_per_user=settings.limits.running_per_user)
    models = await checkpoint_names(backends)
    cogs = [
        ImagineCog(library, engine, messages, settings.limits, models=models),
        QueueCog(engine, pool),
        BackendCog(pool),
        ResultsCog(engine, store, messages, followups, settings.limits, discord_settings.moderator_role_ids),
    ]
    bot = ComfyBot(
        discord_settings,
        cogs,
        sync_state=data / "commands.sha256",
        force_sync=force_sync,
        guild_ready_timeout=guild_ready_timeout,
    )
    messages.client = bot
    return App(bot, engine, presenter, pool, library, store)


async def checkpoint_names(backends: list[ComfyBackend]) -> list[str]:
    names: set[str] = set()
    for backend in backends:
        try:
            info = await backend.client.object_info("CheckpointLoaderSimple")
        except ComfyError as exc:
            log.warning("%s: cannot list checkpoints yet: %s", backend.name, exc)
            continue
        spec = info.get("CheckpointLoaderSimple")
        if spec is not None and spec.required.get("ckpt_name") is not None:
            names.update(spec.required["ckpt_name"].choices or ())
    return sorted(names)


async def run(settings: Settings, *, sync_only: bool = False) -> None:
    async with aiohttp.ClientSession() as session:
        app = await assemble(settings, session, force_sync=sync_only)
        token = settings.discord.token.get_secret_value()
        try:
            if sync_only:
                await app.bot.login(token)  # runs setup_hook, which syncs
            else:
                await app.start(token)
                await app.bot.start(token)
        finally:
            await app.close()


async def probe_backends(settings: Settings) -> bool:
    """One line per backend: reachable, version, devices. True when every backend answered."""
    healthy = True
    async with aiohttp.ClientSession() as session:
        for backend in settings.comfy.backends:
            client = make_client(session, backend, settings)
            try:
                stats = await client.system_stats()
                nodes = await client.object_info()
            except ComfyError as exc:
                healthy = False
                print(f"[fail] {backend.display_name}: {exc}")
                continue
            devices = ", ".join(f"{d.name} ({d.vram_free // 2**20} MiB free)" for d in stats.devices) or "none"
            print(f"[ok]   {backend.display_name}: ComfyUI {stats.comfyui_version}, {len(nodes)} node types, {devices}")
    return healthy


def list_templates() -> int:
    """`python -m bot templates`: every template with its parameters, targets and warnings."""
    library = TemplateLibrary(templates_folder())
    report = library.reload()
    print(describe_library(library, report))
    return 1 if report.errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="A Discord bot that drives ComfyUI.")
    parser.add_argument(
        "command",
        nargs="?",
        default="run",
        choices=["run", "check", "templates", "sync"],
        help="run: the bot (default); check: validate the settings and reach each backend; "
        "templates: list the workflow templates; sync: push the slash commands to Discord now",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "templates":
            return list_templates()
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.logging.level, settings.logging.format)
    if args.command == "check":
        healthy = asyncio.run(probe_backends(settings))
        print("Configuration is valid." + ("" if healthy else " Some ComfyUI backends could not be reached."))
        return 0 if healthy else 1
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a person stops the bot
        asyncio.run(run(settings, sync_only=args.command == "sync"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Composition root: Settings -> ComfyUI backends -> templates -> engine -> presenter -> Discord bot.

`python -m bot` runs the bot; `check` validates the settings and reaches each backend; `templates` lists the
workflow templates; `sync` pushes the slash commands to Discord now. Nothing else builds objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import uuid
from pathlib import Path

import aiohttp

from . import discord_internals
from .admin import cli
from .bot import ComfyBot, cannot_connect
from .cogs.buttons import ButtonRoutes
from .cogs.config import ConfigCog
from .cogs.imagine import ImagineCog
from .cogs.info import InfoCog
from .cogs.member_settings import SettingsCog
from .cogs.queue import BackendCog, QueueCog
from .cogs.reactions import ReactionsCog
from .cogs.results import ResultsCog
from .comfy.backend import ComfyBackend
from .comfy.client import ComfyClient
from .comfy.connections import fleet_session
from .comfy.pool import BackendPool
from .comfy.stream import ComfyStream
from .jobs.access import Access
from .jobs.admission import Admission
from .jobs.budgets import Budgets
from .jobs.controls import Controls
from .jobs.engine import JobEngine
from .jobs.followups import FollowUps
from .jobs.policy import Policies, Policy
from .jobs.store import JobStore, StoreError
from .jobs.views import Views
from .media.pool import MediaPool
from .process import collector, event_loop
from .process.app import App, bounded
from .process.logs import configure_logging
from .process.metrics import Metrics
from .process.roles import role_for
from .settings import ConfigError, DiscordSettings, Settings, load_settings, load_settings_without_discord
from .settings.comfy import BackendSettings
from .templates.catalog import catalog_of
from .templates.library import TemplateLibrary
from .ui.job_messages import JobMessages
from .ui.presenter import ProgressPresenter

log = logging.getLogger("bot")


def use_discord_api(api_base: str) -> None:
    """Where Discord's REST API is (real Discord, a proxy, or the tests' fake): a process talks to one Discord.
    Set here, once, before the bot is built."""
    discord_internals.use_api(api_base)


async def open_store(settings: Settings, url: str | None = None) -> JobStore:
    """The configured database; or, given `url`, that one (None for the SQLite file, whatever is configured)."""
    database = settings.database
    if url is None and database.url is not None:
        url = database.url.get_secret_value()
    return await JobStore(database.path, busy_timeout=database.busy_timeout, url=url).open()


def make_library(settings: Settings) -> TemplateLibrary:
    return TemplateLibrary(settings.templates.dir)


def comfy_session(settings: Settings) -> aiohttp.ClientSession:
    """The session the ComfyUI clients share, its connections sized from the fleet (comfy/connections.py)."""
    return fleet_session([backend.url for backend in settings.comfy.backends])


def make_client(session: aiohttp.ClientSession, backend: BackendSettings, settings: Settings) -> ComfyClient:
    headers = {}
    if backend.auth_value is not None:
        headers[backend.auth_header] = backend.auth_value.get_secret_value()
    return ComfyClient(
        session,
        backend.url,
        headers=headers,
        timeout=settings.comfy.request_timeout,
        retries=settings.comfy.retries,
        name=backend.display_name,
        max_reply_bytes=settings.comfy.max_reply_bytes,
        min_transfer_rate=settings.comfy.min_transfer_rate,
        transfer_grace=settings.comfy.transfer_grace,
        extra_data={"api_key_comfy_org": backend.api_key_comfy_org.get_secret_value()}
        if backend.api_key_comfy_org is not None
        else None,
    )


def make_backend(
    session: aiohttp.ClientSession, backend: BackendSettings, settings: Settings, client_id: str
) -> ComfyBackend:
    """One ComfyUI server: its REST client and its one WebSocket, under `client_id`."""
    client = make_client(session, backend, settings)
    stream = ComfyStream(
        client,
        client_id,
        silence_timeout=settings.comfy.silence_timeout,
        max_frame_bytes=settings.comfy.max_frame_bytes,
        reconnect_delay=settings.comfy.reconnect_delay,
        reconnect_max_delay=settings.comfy.reconnect_max_delay,
    )
    return ComfyBackend(backend.display_name, client, stream)


def cli_parts(settings: Settings) -> cli.Parts:
    return cli.Parts(
        open_store=lambda: open_store(settings),
        store_at=lambda url: open_store(
            settings.model_copy(update={"database": settings.database.model_copy(update={"url": None})}), url
        ),
        library=lambda: make_library(settings),
        backend=lambda session, backend, client_id: make_backend(session, backend, settings, client_id),
    )


async def assemble(
    settings: Settings, session: aiohttp.ClientSession, *, force_sync: bool = False, guild_ready_timeout: float = 2.0
) -> App:
    """Build everything; `App.start()` then recovers jobs and starts the backends' health checks. What fails on
    the way closes the database it opened (its thread would keep the process alive)."""
    store = await open_store(settings)
    try:
        return await _assemble_around(store, settings, session, force_sync, guild_ready_timeout)
    except BaseException:
        await store.close()
        raise


async def _assemble_around(
    store: JobStore, settings: Settings, session: aiohttp.ClientSession, force_sync: bool, guild_ready_timeout: float
) -> App:
    data = settings.database.path.parent
    client_id = await store.get_meta("comfy_client_id")
    if client_id is None:  # kept across restarts: the bot keeps following the prompts it submitted
        client_id = uuid.uuid4().hex
        await store.set_meta("comfy_client_id", client_id)
    backends = [make_backend(session, config, settings, client_id) for config in settings.comfy.backends]
    for config in settings.comfy.backends:
        log.info("ComfyUI server %s is %s", config.display_name, config.shown_url)
    pool = BackendPool(
        backends,
        weights={b.display_name: b.weight for b in settings.comfy.backends},
        check_interval=settings.comfy.health_interval,
        warm_routing=settings.comfy.warm_routing,
    )
    library = make_library(settings)
    report = await library.refresh()
    for error in report.errors.values() if report else ():
        log.warning("template refused: %s", error)

    async def nodes_read() -> None:  # UI-format exports are converted once a server's node definitions are known
        converted = await library.refresh(catalog_of(pool.node_definitions()))
        for error in converted.errors.values() if converted else ():
            log.warning("template refused: %s", error)

    pool.on_nodes = nodes_read
    discord_settings = settings.discord
    presenter = ProgressPresenter(
        message_interval=discord_settings.edit_interval,
        bucket_edits=discord_settings.bucket_edits,
        bucket_window=discord_settings.bucket_window,
        progress_per_second=discord_settings.progress_per_second,
    )
    presenter.start()
    followups = FollowUps(library)
    use_discord_api(discord_settings.api_base)
    bot = ComfyBot(
        discord_settings,
        sync_state=data / "commands.sha256",
        force_sync=force_sync,
        guild_ready_timeout=guild_ready_timeout,
    )
    media = MediaPool(settings.limits.media_workers, settings.limits.media_memory)
    messages = JobMessages(
        presenter,
        bot,
        handoff_after=discord_settings.token_handoff,
        followups=followups,
        store=store,
        media=media,
        media_seconds=settings.limits.media_seconds,
    )
    defaults = settings.policy
    policies = Policies(
        Policy(
            channels=frozenset(defaults.channel_ids),
            roles=frozenset(defaults.role_ids),
            admin_roles=frozenset(defaults.admin_role_ids),
            dms=defaults.dms,
            banned_words=tuple(defaults.banned_words),
            spoiler_outside_nsfw=defaults.spoiler_outside_nsfw,
            allow_private=defaults.allow_private,
        ),
        store,
    )
    await policies.load()
    metrics = Metrics(messages)
    engine = JobEngine(
        pool,
        store,
        metrics,
        running_per_user=settings.limits.running_per_user,
        max_file_bytes=settings.comfy.max_file_bytes,
        max_job_bytes=settings.comfy.max_job_bytes,
        deadline=settings.limits.job_deadline,
        delivery_timeout=settings.comfy.delivery_timeout,
        guild_shares=settings.limits.guild_shares,
        budgets=Budgets(policies.of),
        fair_by_gpu_time=settings.limits.fair_by_gpu_time,
    )
    metrics.watch(engine, pool, presenter)
    access = Access(policies, discord_settings.moderator_role_ids, discord_settings.operator_ids)
    admission = Admission(library, engine, store, policies, settings.limits, followups, access, media)
    views, controls = Views(engine, pool, store), Controls(engine, pool, store, access)
    results, queue = ResultsCog(admission, controls, messages, policies), QueueCog(views, controls)
    cogs = [
        ImagineCog(admission, library, messages, views),
        ConfigCog(policies, access, controls),
        SettingsCog(controls, library, policies, admission),
        queue,
        BackendCog(views, controls),
        results,
        ReactionsCog(admission, controls, messages),
        InfoCog(views, controls, library, access),
    ]
    bot.serve(cogs, ButtonRoutes(results, queue))
    return App(bot, engine, presenter, pool, library, store, metrics, settings, access, media, admission)


async def run(settings: Settings, *, sync_only: bool = False) -> None:
    terminated = asyncio.Event()
    with contextlib.suppress(NotImplementedError):  # SIGTERM: docker stop, systemd, every orchestrator
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated.set)
    role = role_for(settings, sync_only=sync_only)  # chosen once (process/roles.py)
    if not await role.claim(terminated):  # before anything touches Discord or ComfyUI
        return  # SIGTERM while waiting
    try:
        async with comfy_session(settings) as session:
            app = await assemble(settings, session, force_sync=sync_only)
            app.metrics.describe_process(role.process, role.database, role.name)
            try:
                await app.login(settings.discord.token.get_secret_value())  # runs setup_hook, which syncs
                if not sync_only:
                    await role.start(app, terminated)
                    collector.settle()
                    await app.until_terminated(terminated)
            finally:
                await bounded(app.close(), settings.discord.shutdown_timeout)
    finally:
        await role.stop()


USAGE = """python -m bot [command]
  (none)            run the bot
  check             check the settings, the database, each ComfyUI server and every template on each
  templates         list the workflow templates, their parameters and targets
  run TEMPLATE ...  run a template without Discord and save the images (--help for its options)
  invite            print the link that adds the bot to a server, with the permissions it needs
  sync              push the slash commands to Discord now
  export USER_ID    print, as JSON, everything the bot keeps about a member
  copy-database URL copy the SQLite file into an empty PostgreSQL database (then set DATABASE__URL)"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "bot"
    known = ("bot", "check", "invite", "templates", "run", "sync", "export", "copy-database")
    if command in ("-h", "--help") or command not in known:
        program = Path(sys.argv[0]).name  # `comfy-discord-bot` once installed with pip or pipx
        print(USAGE if program in ("__main__.py", "-m", "") else USAGE.replace("python -m bot", program, 1))
        return 0 if command in ("-h", "--help") else 2
    try:
        if command == "templates":
            return cli.list_templates(cli_parts)
        if command == "run":  # no Discord needed: a placeholder token
            run_args = cli.parse_run_args(args[1:])
            try:
                values = cli.run_values(run_args)
            except OSError as exc:
                print(f"cannot read an image: {exc}", file=sys.stderr)
                return 1
            settings = load_settings(discord=DiscordSettings(token="unused"))
        elif command == "check":  # checks the rest without a token
            settings, no_discord = load_settings_without_discord()
        else:
            settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.logging.level, settings.logging.format)
    if command == "check":
        return 1 if event_loop.run(cli.check(settings, cli_parts(settings), without_discord=no_discord)) else 0
    if command == "invite":
        return event_loop.run(cli.invite(settings))
    if command == "run":
        try:
            return event_loop.run(cli.run(settings, cli_parts(settings), run_args, values))
        except KeyboardInterrupt:  # Ctrl-C: the prompt was cancelled on the server on the way out
            return 130
    if command == "copy-database":
        if len(args) != 2 or not args[1].startswith(("postgresql://", "postgres://")):
            print("usage: python -m bot copy-database postgresql://user:password@host:5432/db", file=sys.stderr)
            return 2
        return event_loop.run(cli.copy_database(settings, cli_parts(settings), args[1]))
    if command == "export":
        if len(args) != 2 or not args[1].isdigit():
            print("usage: python -m bot export USER_ID", file=sys.stderr)
            return 2
        try:
            print(json.dumps(event_loop.run(cli.export(cli_parts(settings), int(args[1]))), indent=2, default=str))
        except StoreError as exc:
            print(exc, file=sys.stderr)
            return 1
        return 0
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a person stops the bot
            event_loop.run(run(settings, sync_only=command == "sync"))
    except StoreError as exc:  # one line, in the log's own format (JSON lines when so configured)
        log.error("%s", exc)
        return 1
    except Exception as exc:  # Discord refusing the token or out of reach: said in one line, the process ends
        line = cannot_connect(exc, settings.discord.api_base)
        if line is None:  # a fault nobody foresaw: said once, and the process ends (a supervisor restarts it)
            log.exception("the bot stopped")
        else:
            log.error("%s", line)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Discord bot: the fewest intents that work, cogs handed in, commands synced only when they change."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import discord
import yarl
from discord.ext import commands

from . import discord_internals as internals
from .cogs.failures import tell_failure
from .settings import DiscordSettings
from .ui.buttons import ButtonHandlers, CancelButton, PickSelect, ResultButton, taking_work
from .ui.mentions import NOBODY
from .ui.translator import CatalogueTranslator

log = logging.getLogger(__name__)
INTERACTION_TASKS = (  # the names of the tasks discord.py handles an interaction in, and the bot's forms' own
    "CommandTree-invoker",
    "discord-ui-view-dispatch-",
    "discord-ui-dynamic-item-",
    "discord-ui-modal-dispatch-",
    "discord.py: on_interaction",
)


def intents() -> discord.Intents:
    """Guilds (channels, roles) and guild reactions (🔄 rerolls). No message content, no members."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_reactions = True
    return wanted


TOKEN_REFUSED = (
    "Discord refused the token (DISCORD__TOKEN): copy it again from "
    "https://discord.com/developers/applications -> your application -> Bot -> Reset Token"
)


def cannot_connect(exc: BaseException, api_base: str) -> str | None:
    """Why the bot could not log in to Discord or reach it, in one line an operator can act on; None when `exc`
    (or what caused it) is not about that."""
    host = yarl.URL(api_base).host or api_base
    seen: set[int] = set()
    found: BaseException | None = exc
    while found is not None and id(found) not in seen:
        seen.add(id(found))
        reason = _reason(found)
        if reason == "token":
            return TOKEN_REFUSED
        if reason is not None:
            return (
                f"Discord cannot be reached at {host}: {reason}; check this machine's network, DNS, firewall or proxy"
            )
        found = found.__cause__ or found.__context__
    return None


def _reason(exc: BaseException) -> str | None:
    if isinstance(exc, discord.LoginFailure) or (isinstance(exc, discord.HTTPException) and exc.status == 401):
        return "token"
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return "it refused the gateway intents the bot asks for"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"its TLS certificate is not trusted here ({exc.certificate_error})"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "its name does not resolve (DNS)"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"the connection failed ({exc.os_error.strerror or exc.os_error})"
    if isinstance(exc, aiohttp.ClientConnectionError):
        return f"the connection broke ({exc})"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, discord.DiscordServerError | discord.GatewayNotFound):
        return "it answers with errors (an outage: https://discordstatus.com); the bot can be started again later"
    return None


class ComfyBot(commands.AutoShardedBot):
    def __init__(
        self,
        settings: DiscordSettings,
        *,
        sync_state: Path,
        force_sync: bool = False,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        internals.quiet_voice()  # the bot has no voice: warnings that its libraries are missing say nothing useful
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            help_command=None,
            guild_ready_timeout=guild_ready_timeout,
            allowed_mentions=NOBODY,  # a prompt or a name quoted back never pings anyone
            shard_count=settings.shard_count,  # None: as many as Discord recommends, all in this process
            shard_ids=settings.shard_ids,  # type: ignore[arg-type]  # None (all) is its default, though typed a list
        )
        self._settings = settings
        self._cogs_to_add: list[commands.Cog] = []
        self.buttons: ButtonHandlers | None = None  # what every past message's buttons call (`serve`)
        self._sync_state = sync_state
        self._force_sync = force_sync
        self.stopping = False  # set on SIGTERM: commands are answered "restarting", nothing new is taken
        if settings.gateway_url:
            internals.use_gateway(self, settings.gateway_url)  # one process talks to one Discord

    def serve(self, cogs: Sequence[commands.Cog], buttons: ButtonHandlers | None = None) -> None:
        """The cogs to add when the bot logs in (they are built with the bot, which some of them need), and what
        the buttons call."""
        self._cogs_to_add.extend(cogs)
        self.buttons = buttons

    async def setup_hook(self) -> None:
        for cog in self._cogs_to_add:
            await self.add_cog(cog)
        self.add_dynamic_items(CancelButton, ResultButton, PickSelect)  # every past message's buttons keep working
        await self.tree.set_translator(CatalogueTranslator())
        self.tree.on_error = self._command_failed  # type: ignore[method-assign]
        self.tree.interaction_check = taking_work  # type: ignore[method-assign]  # (while stopping: answered)
        await self.sync_commands(force=self._force_sync)

    async def operators(self) -> set[int]:
        """The application's owner, or its team's members (docs.discord.com/developers/resources/application):
        the bot's operators, beside `DISCORD__OPERATOR_IDS`."""
        info = await self.application_info()
        if info.team is not None:
            return {member.id for member in info.team.members}
        return {info.owner.id}

    async def leave_gateway(self) -> None:
        """Close every shard's gateway connection (nothing more is received), keeping the REST session for the
        answers still being sent."""
        for shard in self.shards.values():
            await shard.disconnect()

    @staticmethod
    def answering_now() -> list[asyncio.Task[Any]]:
        """The interactions being handled now (commands, buttons and menus, forms): discord.py's own tasks for
        them, known by the names discord.py 2.7 gives them (app_commands/tree.py, ui/view.py, ui/modal.py; the
        version is pinned below 2.8), and the bot's own form handler's."""
        return [
            task
            for task in asyncio.all_tasks()
            if task.get_name().startswith(INTERACTION_TASKS) and not task.done() and task is not asyncio.current_task()
        ]

    async def _command_failed(
        self, interaction: discord.Interaction, error: discord.app_commands.AppCommandError
    ) -> None:
        await tell_failure(interaction, error)

    async def _command_payload(self) -> str:
        """What a sync would send, translations included (a changed translation is a change)."""
        translator = self.tree.translator
        commands_ = [
            await command.get_translated_payload(self.tree, translator) if translator else command.to_dict(self.tree)
            for command in self.tree.get_commands()
        ]
        return json.dumps({"commands": commands_, "guilds": sorted(self._settings.dev_guild_ids)}, sort_keys=True)

    async def sync_commands(self, *, force: bool = False) -> bool:
        """Sync application commands when they changed since the last sync (Discord allows 200 command
        creates a day per guild), or when forced. Development guilds get them at once; otherwise global."""
        digest = hashlib.sha256((await self._command_payload()).encode()).hexdigest()
        if not force and self._sync_state.exists() and self._sync_state.read_text().strip() == digest:
            log.info("application commands unchanged; not syncing")
            return False
        if self._settings.dev_guild_ids:
            for guild_id in self._settings.dev_guild_ids:
                guild = discord.Object(guild_id)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
        else:
            await self.tree.sync()
        self._sync_state.parent.mkdir(parents=True, exist_ok=True)
        self._sync_state.write_text(digest + "\n")
        log.info("application commands synced")
        return True

"""A bot spread over several processes: each connects some of the gateway shards (`DISCORD__SHARD_IDS`), and
Discord sends a server's events to its shard only (docs.discord.com/developers/topics/gateway#sharding). One
process, the holder of the dispatcher lease, runs the jobs: the fair queue, the caps, the cooldowns, the edit
budget and every message of every job are its own, in one place, so two processes never admit past a cap, double
a reroll or exceed Discord's limits together.

The other processes relay what members do (interactions, reactions) to it through PostgreSQL
(`jobs/store/relay.py`), and the holder handles each as if its own gateway had received it: an interaction's
answer goes over REST with the interaction's token, which any process may use. A relayed event carries the
server's roles from the sender's cache, which the holder (not connected to that shard) does not have. A reaction
is acted on with the member and the roles Discord itself answers (GET /guilds/{id}/members/{user} and the
server), never those the row claims: anyone who can write the table could claim a moderator's roles.

While no process holds the lease (a takeover: about `DATABASE__LEASE_RETRY` seconds), a sender takes back an
interaction nobody took within `ANSWER_AFTER` seconds and tells the member to try again; a reaction waits up to
`REACTION_AGE` seconds for the next holder.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import discord

from .. import discord_internals as internals
from ..bot import ComfyBot
from ..cogs.reactions import CROSS, REROLL
from ..cogs.replies import tell
from ..jobs.store.relay import RelayBox

log = logging.getLogger(__name__)

INTERACTION, REACTION = "INTERACTION_CREATE", "MESSAGE_REACTION_ADD"
AUTOCOMPLETE = 4  # an interaction's type (interactions/receiving-and-responding#interaction-object-interaction-type)
ANSWER_AFTER = 2.0  # seconds: Discord allows 3 to acknowledge an interaction; the sender answers in the third
INTERACTION_AGE = 2.7  # past this, a relayed interaction can no longer be acknowledged in time: it is dropped
REACTION_AGE = 60.0  # a reaction has no deadline: it waits this long for a holder
FOLLOWED = (REROLL, CROSS)  # the reactions the bot acts on (cogs/reactions.py)


class GatewayRelay:
    def __init__(self, bot: ComfyBot, box: RelayBox, *, sweep_every: float = 2.0) -> None:
        self.bot, self.box, self.sweep_every = bot, box, sweep_every
        self._state = internals.connection(bot)
        self._own = {event: internals.parsers(self._state)[event] for event in (INTERACTION, REACTION)}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    # ---- a process that does not hold the lease ---------------------------------------------------------

    def relay(self) -> None:
        """From now on, every interaction and reaction this process receives goes to the lease's holder."""
        for event in self._own:
            internals.parsers(self._state)[event] = functools.partial(self._received, event)

    def handle_here(self) -> None:
        """From now on (this process holds the lease), what this process receives is handled here."""
        internals.parsers(self._state).update(self._own)

    def _received(self, event: str, data: dict[str, Any]) -> None:
        if event == REACTION and (data["emoji"].get("name") not in FOLLOWED or self._by_the_bot(data)):
            return  # a reaction the bot does nothing with (most of them): not worth a write to the database
        self._spawn(self._send(event, data, time.monotonic()))

    def _by_the_bot(self, data: dict[str, Any]) -> bool:
        return self.bot.user is not None and int(data["user_id"]) == self.bot.user.id

    async def _send(self, event: str, data: dict[str, Any], received: float) -> None:
        guild = self.bot.get_guild(int(data["guild_id"])) if data.get("guild_id") else None
        if guild is not None:  # the member's roles, which the holder does not have when not on this shard
            data = {
                **data,
                "guild": {"id": str(guild.id), "owner_id": str(guild.owner_id), "roles": _roles(guild, data)},
            }
        try:
            relay_id = await self.box.send(event, data, received)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("a %s could not be relayed: %s", event.lower(), exc)
            if event == INTERACTION:
                await self._answer_here(data)
            return
        if event != INTERACTION:
            return
        await asyncio.sleep(ANSWER_AFTER)  # Discord's deadline: the member is answered either way
        try:
            unclaimed = await self.box.claim(relay_id) is not None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:  # whether it was taken is unknown
            log.warning("a relayed interaction could not be checked: %s", exc)
            return
        if unclaimed:  # nobody took it: no process holds the lease just now
            await self._answer_here(data)

    async def _answer_here(self, data: dict[str, Any]) -> None:
        """The member is told the bot is restarting (an autocomplete gets no choices), in their language."""
        interaction = internals.interaction(self._state, data)
        try:
            if data.get("type") == AUTOCOMPLETE:
                await interaction.response.autocomplete([])
            else:
                await tell(interaction, "shutdown.restarting", warn=True)
        except discord.HTTPException as exc:
            log.info("an interaction during a takeover could not be answered: %s", exc)

    # ---- the lease's holder ---------------------------------------------------------------------------

    async def take(self) -> None:
        """Handle what the other processes relay: woken by each, and sweeping now and then for any missed."""
        await self.box.listen(lambda relay_id: self._spawn(self._take(relay_id)))
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="relay-sweeper")

    async def _sweep_forever(self) -> None:
        while True:
            try:
                for relay_id in await self.box.waiting():
                    await self._take(relay_id)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("relayed events cannot be read now: %s", exc)
            await asyncio.sleep(self.sweep_every)

    async def _take(self, relay_id: int) -> None:
        claimed = await self.box.claim(relay_id)
        if claimed is None:
            return  # taken already (by this process's sweep, or by its sender at the deadline)
        event, data, age = claimed
        if age > (INTERACTION_AGE if event == INTERACTION else REACTION_AGE):
            log.warning("a relayed %s came %.1f s late (by the database's clock): dropped", event.lower(), age)
            return
        if event == REACTION:
            await self._reaction(data)
        else:
            self._own[event](data)

    async def _reaction(self, data: dict[str, Any]) -> None:
        """As discord.py reads a reaction, with the member and their server's roles read from Discord itself,
        not taken from the row: a row claims what its writer wants (a user in no server, a moderator's role).
        A reaction by someone who is not a member of the server is dropped."""
        data.pop("guild", None)  # what the sender saw of the server: Discord is asked instead
        if not data.get("guild_id"):
            self._own[REACTION](data)  # a direct message: no member, no roles
            return
        guild_id, user_id = int(data["guild_id"]), int(data["user_id"])
        try:
            data["member"] = await self.bot.http.get_member(guild_id, user_id)
            guild = self.bot.get_guild(guild_id)
            known = None if guild is not None else await self.bot.http.get_guild(guild_id)
        except discord.NotFound:
            log.warning("a relayed reaction by user %s, who is not a member of server %s: dropped", user_id, guild_id)
            return
        except discord.HTTPException as exc:
            log.warning("a relayed reaction could not be checked with Discord (%s): dropped", exc)
            return
        if known is None:
            self._own[REACTION](data)
            return
        roles = {"id": str(guild_id), "owner_id": known["owner_id"], "roles": known["roles"]}
        self.bot.dispatch("raw_reaction_add", internals.reaction_with_member(self._state, data, roles))

    # ---- both ---------------------------------------------------------------------------------------

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("relaying failed", exc_info=exc)

    async def close(self) -> None:
        for task in [*self._tasks, *([self._sweeper] if self._sweeper else [])]:
            task.cancel()
        await asyncio.gather(*self._tasks, *([self._sweeper] if self._sweeper else []), return_exceptions=True)
        await self.box.close()


def _roles(guild: discord.Guild, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The member's roles and @everyone (whose id is the server's) as Discord's payload has them
    (resources/guild#role-object): enough to rebuild the member's roles and server-wide permissions."""
    wanted = {int(r) for r in data.get("member", {}).get("roles", [])} | {guild.id}
    return [
        {
            "id": str(role.id),
            "name": role.name,
            "permissions": str(role.permissions.value),
            "position": role.position,
            "color": role.color.value,
            "hoist": role.hoist,
            "managed": role.managed,
            "mentionable": role.mentionable,
            "flags": 0,
        }
        for role in guild.roles
        if role.id in wanted
    ]

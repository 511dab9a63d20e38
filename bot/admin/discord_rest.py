"""What `check` and `invite` ask Discord, over its REST API with the bot token (no gateway, no discord.py):
whom the token belongs to, which commands are synced, and what the bot may do in each channel of its servers.
Routes: docs.discord.com/developers/resources/application#get-current-application, resources/user
(#get-current-user-guilds), resources/guild (#get-guild-channels, #get-guild-roles, #get-guild-member),
interactions/application-commands#get-global-application-commands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from .. import permissions

TEXT_CHANNELS = (0, 5)  # text and announcement channels: where members ask for images
TIMEOUT = aiohttp.ClientTimeout(total=15)


class DiscordRestError(Exception):
    """Discord refused or could not be reached; the message never holds the token."""


@dataclass(frozen=True, slots=True)
class Application:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class ChannelReport:
    guild: str
    channel: str
    missing: list[str]  # permission names, in bot.permissions.NEEDED's order


class DiscordRest:
    def __init__(self, session: aiohttp.ClientSession, api_base: str, token: str) -> None:
        self.session, self.api_base = session, api_base.rstrip("/")
        self._headers = {"Authorization": f"Bot {token}"}

    async def get(self, path: str) -> Any:
        try:
            async with self.session.get(f"{self.api_base}{path}", headers=self._headers, timeout=TIMEOUT) as response:
                if response.status == 401:
                    raise DiscordRestError("Discord refused the token (401): copy it again from the developer portal")
                if response.status >= 400:
                    raise DiscordRestError(f"Discord answered {response.status} to GET {path}")
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DiscordRestError(f"Discord cannot be reached at {self.api_base}: {exc.__class__.__name__}") from None

    async def application(self) -> Application:
        data = await self.get("/applications/@me")
        return Application(int(data["id"]), str(data.get("name") or "?"))

    async def command_names(self, application_id: int, guild_id: int | None = None) -> list[str]:
        where = f"/guilds/{guild_id}" if guild_id is not None else ""
        return sorted(str(c.get("name")) for c in await self.get(f"/applications/{application_id}{where}/commands"))

    async def channel_reports(self, bot_id: int) -> list[ChannelReport]:
        """Every text channel of every server the bot is in, with what it lacks there."""
        reports = []
        for guild in await self.get("/users/@me/guilds"):
            guild_id = int(guild["id"])
            detail = await self.get(f"/guilds/{guild_id}")
            roles = {int(r["id"]): int(r["permissions"]) for r in await self.get(f"/guilds/{guild_id}/roles")}
            member = await self.get(f"/guilds/{guild_id}/members/{bot_id}")
            member_roles = [int(r) for r in member.get("roles") or []]
            for channel in await self.get(f"/guilds/{guild_id}/channels"):
                if channel.get("type") not in TEXT_CHANNELS:
                    continue
                overwrites = [
                    (int(o["id"]), int(o["type"]), int(o["allow"]), int(o["deny"]))
                    for o in channel.get("permission_overwrites") or []
                ]
                granted = permissions.channel_permissions(
                    guild_id=guild_id,
                    owner_id=int(detail.get("owner_id") or 0),
                    member_id=bot_id,
                    member_roles=member_roles,
                    roles=roles,
                    overwrites=overwrites,
                )
                reports.append(
                    ChannelReport(str(guild.get("name")), str(channel.get("name")), permissions.missing(granted))
                )
        return reports

"""discord.py's private API, behind one small adapter: the few places where the bot reaches past discord.py's
public interface, named once, so a discord.py upgrade that changes them breaks here and in
`tests/test_discord_internals.py` (which checks each one against the installed discord.py), not somewhere deep.

- Where Discord is: REST's base (`http.Route.BASE`, one class attribute a process shares) and the gateway
  (`gateway.DiscordWebSocket.DEFAULT_GATEWAY`, and the URL `HTTPClient.get_bot_gateway` answers).
- Voice: the bot has none; discord.py's warnings about voice's missing libraries are turned off
  (`VoiceClient.warn_nacl`, `warn_dave`).
- Relaying between processes (`relaying.py`): the connection state of a client (`Client._connection`), its
  gateway event parsers (`ConnectionState.parsers`), a server known only by a payload
  (`ConnectionState._get_or_create_unavailable_guild`), and the objects discord.py builds from payloads
  (`Interaction`, `RawReactionActionEvent`, `Member`).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

import discord
import yarl

Parser = Callable[[dict[str, Any]], None]


def use_api(api_base: str) -> None:
    """Where Discord's REST API is (real Discord, a proxy, or the tests' fake), for REST and webhooks alike."""
    discord.http.Route.BASE = api_base


def use_gateway(client: discord.Client, url: str) -> None:
    """The gateway Discord's REST names is replaced by `url`; so is the one discord.py connects to without asking
    (a shard count given, or a session Discord invalidated)."""
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
    original = client.http.get_bot_gateway

    async def get_bot_gateway() -> Any:
        shards, _, limits = await original()
        return shards, url, limits

    client.http.get_bot_gateway = get_bot_gateway  # type: ignore[method-assign]


def quiet_voice() -> None:
    """No warning that voice's libraries are missing: the bot has no voice."""
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False


def connection(client: discord.Client) -> Any:
    """The client's connection state (what parses gateway events and holds the cache)."""
    return client._connection


def parsers(state: Any) -> MutableMapping[str, Parser]:
    """The state's gateway event parsers, by event name (`INTERACTION_CREATE`, `MESSAGE_REACTION_ADD`, ...)."""
    found: MutableMapping[str, Parser] = state.parsers
    return found


def interaction(state: Any, data: dict[str, Any]) -> discord.Interaction[Any]:
    """An interaction as discord.py builds it from a gateway payload (one another process received)."""
    return discord.Interaction(data=data, state=state)  # type: ignore[arg-type]


def reaction_with_member(state: Any, data: dict[str, Any], guild: dict[str, Any]) -> discord.RawReactionActionEvent:
    """A reaction as discord.py reads one, with its member in a server this process knows only from `guild` (its
    id, owner and roles): discord.py's own parser would leave the member out."""
    made = state._get_or_create_unavailable_guild(int(guild["id"]), data=guild)
    emoji = discord.PartialEmoji.from_dict(data["emoji"])
    raw = discord.RawReactionActionEvent(data, emoji, "REACTION_ADD")  # type: ignore[arg-type]
    raw.member = discord.Member(data=data["member"], guild=made, state=state)
    return raw

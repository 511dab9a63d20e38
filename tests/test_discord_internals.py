"""The parts of discord.py's private API the bot uses (`bot/discord_internals.py`) still exist, in the shape the
adapter uses them, in the installed discord.py: an upgrade that changes one fails here, by name."""

from __future__ import annotations

import inspect

import discord
import discord.gateway
import discord.http
import discord.state
import pytest

from bot import discord_internals


def parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("what", "present"),
    [
        ("http.Route.BASE: where REST goes", lambda: isinstance(discord.http.Route.BASE, str)),
        (
            "gateway.DiscordWebSocket.DEFAULT_GATEWAY: the gateway connected to without asking",
            lambda: hasattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY"),
        ),
        (
            "HTTPClient.get_bot_gateway() -> (shards, url, limits)",
            lambda: parameters(discord.http.HTTPClient.get_bot_gateway)[:1] == ["self"],
        ),
        (
            "VoiceClient.warn_nacl and warn_dave",
            lambda: hasattr(discord.VoiceClient, "warn_nacl") and hasattr(discord.VoiceClient, "warn_dave"),
        ),
        (
            "Client._connection is a ConnectionState with its parsers",
            lambda: "parsers" in discord.state.ConnectionState.__init__.__code__.co_names,
        ),
        (
            "ConnectionState._get_or_create_unavailable_guild(guild_id, *, data)",
            lambda: (
                parameters(discord.state.ConnectionState._get_or_create_unavailable_guild)[:2] == ["self", "guild_id"]
                and "data" in parameters(discord.state.ConnectionState._get_or_create_unavailable_guild)
            ),
        ),
        ("Interaction(*, data, state)", lambda: {"data", "state"} <= set(parameters(discord.Interaction))),
        (
            "RawReactionActionEvent(data, emoji, event_type)",
            lambda: parameters(discord.RawReactionActionEvent)[:3] == ["data", "emoji", "event_type"],
        ),
        ("Member(*, data, guild, state)", lambda: {"data", "guild", "state"} <= set(parameters(discord.Member))),
    ],
)
def test_each_private_part_the_adapter_uses_is_still_there(what: str, present: object) -> None:
    assert callable(present) and present(), f"discord.py {discord.__version__} changed {what}"


async def test_a_client_has_the_connection_state_and_parsers_the_adapter_reads() -> None:
    client = discord.Client(intents=discord.Intents.none())
    try:
        state = discord_internals.connection(client)
        parsers = discord_internals.parsers(state)
        assert callable(parsers["INTERACTION_CREATE"]) and callable(parsers["MESSAGE_REACTION_ADD"])
    finally:
        await client.close()

"""The objects the fake Discord keeps and the JSON it sends for them: users, members, channels, the guild,
messages, interactions. Ids and permission bits are Discord's (docs.discord.com/developers/topics/permissions)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]
API = "/api/v10"
BOT_ID = 1000
BOT_ROLE_ID = 1001
GUILD_ID = 2000
OTHER_GUILD_ID = 2100  # another server the bot is in: its people must not reach the first one's jobs
OTHER_CHANNEL_ID = 3100  # a channel of OTHER_GUILD_ID
CHANNEL_ID = 3000
OWNER_ID = 3999  # the guild's owner: nobody the tests play, so members are ordinary members
USER_ID = 4000
MODERATOR_ROLE_ID = 5000
HELPER_ROLE_ID = 5001  # an ordinary role, which a server may make one of its admin roles with /config
DM_CHANNEL_ID = 6000  # + the member's id: each member's direct messages with the bot
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
MiB = 2**20
UPLOAD_LIMIT = 10 * MiB  # docs.discord.com/developers/reference#uploading-files: 10 MiB unless boosted
UPLOAD_LIMIT_BY_TIER = {0: 10 * MiB, 1: 10 * MiB, 2: 50 * MiB, 3: 100 * MiB}

ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
USE_APPLICATION_COMMANDS = 1 << 31
# An ordinary member: view, send, history, embeds, files, reactions, application commands (no moderation).
MEMBER_PERMISSIONS = (
    ADD_REACTIONS | VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
) | USE_APPLICATION_COMMANDS
# What the bot's role grants across the guild (a channel may deny some of it to the bot).
BOT_ROLE_PERMISSIONS = MEMBER_PERMISSIONS | MANAGE_MESSAGES | USE_EXTERNAL_EMOJIS

EPHEMERAL = 1 << 6
LOADING = 1 << 7


def user(user_id: int, name: str, *, bot: bool = False) -> Json:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
        "flags": 0,
        "public_flags": 0,
        "primary_guild": None,
    }


def numbered(components: list[Json]) -> list[Json]:
    """Components as Discord answers them: each with its numeric `id` (assigned in order where the request gave
    none) and a select menu's `min_values`/`max_values` (1 by default): components/reference#anatomy-of-a-component."""
    ids = itertools.count(1)

    def filled(component: Json) -> Json:
        made = {**component, "id": component.get("id") or next(ids)}
        if isinstance(made.get("emoji"), dict):  # a Unicode emoji is answered by its name alone
            made["emoji"] = {k: v for k, v in made["emoji"].items() if v is not None}
        if made.get("type") in (3, 5, 6, 7, 8):  # select menus
            made.setdefault("min_values", 1)
            made.setdefault("max_values", 1)
        if isinstance(made.get("components"), list):
            made["components"] = [filled(c) for c in made["components"]]
        return made

    return [filled(c) for c in components]


def snowflakes() -> Iterator[int]:
    """Ids as Discord makes them: milliseconds since 2015 in the high bits (discord.py reads creation times
    from them), a counter below."""
    for counter in itertools.count(1):
        yield ((int(time.time() * 1000) - 1_420_070_400_000) << 22) | (counter & 0xFFF)


def member_payload(user_id: int, overrides: Json | None = None) -> Json:
    """A guild member as interactions carry it: an ordinary member unless `overrides` says otherwise."""
    return {
        "user": user(user_id, f"member{user_id}"),
        "roles": [],
        "joined_at": "2026-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
        "permissions": str(MEMBER_PERMISSIONS),
    } | (overrides or {})


def channel_payload(channel_id: int = CHANNEL_ID, *, bot_denied: int = 0, guild_id: int = GUILD_ID) -> Json:
    """A text channel of a fake guild; what it denies the bot is a member overwrite, as Discord sends it."""
    overwrites = [{"id": str(BOT_ID), "type": 1, "allow": "0", "deny": str(bot_denied)}] if bot_denied else []
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(guild_id),
        "name": f"art-{channel_id}" if channel_id != CHANNEL_ID else "art",
        "position": 0,
        "permission_overwrites": overwrites,
        "nsfw": False,
        "parent_id": None,
        "rate_limit_per_user": 0,
    }


def role(role_id: int, name: str, permissions: int, position: int, *, managed: bool = False) -> Json:
    return {
        "id": str(role_id),
        "name": name,
        "permissions": str(permissions),
        "position": position,
        "color": 0,
        "hoist": False,
        "managed": managed,
        "mentionable": False,
        "flags": 0,
    }


def guild_payload(channels: list[Json], premium_tier: int, guild_id: int = GUILD_ID) -> Json:
    bot_member = {
        "user": user(BOT_ID, "comfybot", bot=True),
        "roles": [str(BOT_ROLE_ID)],
        "joined_at": "2026-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
    }
    return {
        "id": str(guild_id),
        "name": "Community" if guild_id == GUILD_ID else f"Community {guild_id}",
        "icon": None,
        "owner_id": str(OWNER_ID),
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [
            role(guild_id, "@everyone", MEMBER_PERMISSIONS, 0),
            role(MODERATOR_ROLE_ID, "Moderators", MEMBER_PERMISSIONS, 1),
            role(HELPER_ROLE_ID, "Helpers", MEMBER_PERMISSIONS, 1),
            role(BOT_ROLE_ID, "comfybot", BOT_ROLE_PERMISSIONS, 2, managed=True),
        ],
        "emojis": [],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "vanity_url_code": None,
        "description": None,
        "banner": None,
        "premium_tier": premium_tier,
        "preferred_locale": "en-US",
        "public_updates_channel_id": None,
        "nsfw_level": 0,
        "stickers": [],
        "premium_progress_bar_enabled": False,
        "joined_at": "2026-01-01T00:00:00+00:00",
        "large": False,
        "unavailable": False,
        "member_count": 2,
        "voice_states": [],
        "members": [bot_member],
        "channels": channels,
        "threads": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


@dataclass
class File:
    filename: str
    data: bytes
    content_type: str


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[File]
    status: int = 0
    code: int = 0  # Discord's error code, when refused
    at: float = field(default_factory=time.monotonic)


@dataclass
class Message:
    id: int
    channel_id: int
    content: str = ""
    embeds: list[Json] = field(default_factory=list)
    files: list[File] = field(default_factory=list)
    components: list[Json] = field(default_factory=list)
    flags: int = 0
    edits: int = 0
    pinged: list[int] = field(default_factory=list)  # users this message notified when it was created
    guild_id: int = GUILD_ID  # the server of its channel

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    def payload(self, base: str) -> Json:
        return {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "guild_id": str(self.guild_id),
            "author": user(BOT_ID, "comfybot", bot=True),
            "content": self.content,
            "timestamp": "2026-11-25T00:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [user(u, f"member{u}") for u in self.pinged],
            "mention_roles": [],
            "pinned": False,
            "type": 0,
            "flags": self.flags,
            "embeds": [{"type": "rich", **e} for e in self.embeds],  # Discord fills in an embed's type
            "components": numbered(self.components),
            "attachments": [
                {
                    "id": str(self.id * 100 + n),
                    "filename": f.filename,
                    "size": len(f.data),
                    "url": f"{base}/attachments/{self.id}/{n}/{f.filename}",
                    "proxy_url": f"{base}/attachments/{self.id}/{n}/{f.filename}",
                    "content_type": f.content_type,
                }
                for n, f in enumerate(self.files)
            ],
        }


COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5


@dataclass
class Interaction:
    id: int
    token: str
    channel_id: int
    user_id: int
    kind: int = COMMAND
    attachment_size_limit: int = UPLOAD_LIMIT  # the member's Nitro may make it larger than the guild's
    source_message_id: int | None = None  # the message whose component was used
    guild_id: int = GUILD_ID
    created: float = field(default_factory=time.monotonic)
    callback_type: int | None = None
    callback_data: Any = None  # what the bot answered with (a modal's custom id and inputs, for instance)
    message_id: int | None = None
    ephemeral: bool = False
    refused: list[int] = field(default_factory=list)  # codes of callbacks Discord refused

"""A loopback fake of Discord's API that the real discord.py connects to: gateway and REST.

The gateway: HELLO, heartbeat ACK, IDENTIFY -> READY -> GUILD_CREATE, dispatches filtered by the intents the
bot identified with. REST: the routes the bot uses, with the rules that matter enforced as Discord does:
3 s to acknowledge an interaction (10062 after), an interaction token that expires (401 / 50027; 15 minutes by
default, shorter in tests), the upload limit (413 / 40005), 10 attachments, content and embed limits (50035),
and a per-channel edit limit answered with real 429s (with the headers discord.py needs to wait and retry).
Every request is recorded, so tests assert on what went over the wire.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, WSMsgType, web

Json = dict[str, Any]
API = "/api/v10"
BOT_ID = 1000
GUILD_ID = 2000
CHANNEL_ID = 3000
USER_ID = 4000
MODERATOR_ROLE_ID = 5000
DM_CHANNEL_ID = 6000  # + the member's id: each member's direct messages with the bot
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
UPLOAD_LIMIT = 10 * 2**20
# An ordinary member: view, send, history, embeds, files, reactions, application commands (no moderation).
MEMBER_PERMISSIONS = str((1 << 6) | (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 31))


def user(user_id: int, name: str, *, bot: bool = False) -> Json:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
        "flags": 0,
    }


def _snowflakes() -> Iterator[int]:
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
        "permissions": MEMBER_PERMISSIONS,
    } | (overrides or {})


def channel_payload(channel_id: int = CHANNEL_ID) -> Json:
    """A text channel of the fake guild (the guild lists only CHANNEL_ID; interactions may name others)."""
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(GUILD_ID),
        "name": "art",
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "rate_limit_per_user": 0,
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

    def payload(self, base: str) -> Json:
        return {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "guild_id": str(GUILD_ID),
            "author": user(BOT_ID, "comfybot", bot=True),
            "content": self.content,
            "timestamp": "2026-11-25T00:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "type": 0,
            "flags": self.flags,
            "embeds": self.embeds,
            "components": self.components,
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


@dataclass
class Interaction:
    id: int
    token: str
    channel_id: int
    user_id: int
    created: float = field(default_factory=time.monotonic)
    callback_type: int | None = None
    callback_data: Any = None  # what the bot answered with (a modal's custom id and inputs, for instance)
    message_id: int | None = None
    ephemeral: bool = False


RECORDED = web.RequestKey("recorded", Request)


class _TooLarge(Exception):
    """A file over the upload limit: 413, code 40005."""


class InvalidForm(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)


class FakeDiscord:
    def __init__(
        self,
        *,
        token_lifetime: float = 15 * 60,
        ack_deadline: float = 3.0,
        edits_per_window: int = 5,
        window: float = 5.0,
    ) -> None:
        self.token_lifetime = token_lifetime
        self.ack_deadline = ack_deadline
        self.edits_per_window = edits_per_window
        self.window = window
        self.upload_limit = UPLOAD_LIMIT
        self.deny_channel_edits = False  # as if the bot lacked the permission in that channel
        self.uploads: dict[str, File] = {}  # attachments members sent with commands
        self.reactions: list[tuple[str, int, str, str]] = []  # (method, message id, emoji, user or @me)
        self.deleted: list[int] = []  # message ids deleted through the channel route
        self.requests: list[Request] = []
        self.messages: dict[int, Message] = {}
        self.interactions: dict[str, Interaction] = {}
        self.commands: dict[str, list[Json]] = {}  # "global" or guild id -> commands
        self.command_puts = 0
        self.rate_limited = 0  # 429s answered
        self.faults: deque[int] = deque()  # statuses (429, 5xx) the next message and interaction requests get
        self.faulted: dict[int, int] = {}  # status -> how many were answered that way
        self.identified: list[Json] = []
        self.gateways: list[web.WebSocketResponse] = []
        self._edit_times: dict[int, deque[float]] = {}
        self._ids = _snowflakes()
        self._seq = itertools.count(1)
        self._pulse = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle and waiting -----------------------------------------------------------------------

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> FakeDiscord:
        app = web.Application(middlewares=[self._record], client_max_size=64 * 2**20)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", API + "/{path:.*}", self._rest)
        app.router.add_get("/attachments/{mid}/{n}/{name}", self._attachment)
        app.router.add_get("/uploads/{aid}/{name}", self._upload)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        for ws in list(self.gateways):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def notify(self) -> None:
        self._pulse.set()
        self._pulse = asyncio.Event()

    async def until(self, predicate: Any, within: float = 20.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                await self._pulse.wait()

    # ---- gateway ---------------------------------------------------------------------------------------

    async def _send(self, ws: web.WebSocketResponse, op: int, data: Any, event: str | None = None) -> None:
        payload = {"op": op, "d": data, "s": next(self._seq) if op == 0 else None, "t": event}
        await ws.send_str(json.dumps(payload))

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await self._send(ws, 10, {"heartbeat_interval": 41250})
        intents = 0
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                payload = json.loads(message.data)
                if payload["op"] == 1:
                    await self._send(ws, 11, None)
                elif payload["op"] == 2:
                    identify = payload["d"]
                    self.identified.append(identify)
                    intents = identify.get("intents", 0)
                    ws["intents"] = intents
                    await self._ready(ws, identify.get("shard", [0, 1]))
                    self.gateways.append(ws)
                    self.notify()
        finally:
            if ws in self.gateways:
                self.gateways.remove(ws)
        return ws

    async def _ready(self, ws: web.WebSocketResponse, shard: list[int]) -> None:
        await self._send(
            ws,
            0,
            {
                "v": 10,
                "user": user(BOT_ID, "comfybot", bot=True),
                "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
                "session_id": "fake-session",
                "resume_gateway_url": self.gateway_url,
                "shard": shard,
                "application": {"id": str(BOT_ID), "flags": 0},
            },
            "READY",
        )
        await self._send(ws, 0, self.guild_payload(), "GUILD_CREATE")

    def guild_payload(self) -> Json:
        everyone = {
            "id": str(GUILD_ID),
            "name": "@everyone",
            "permissions": "2248473465835073",
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        channel = channel_payload()
        bot_member = {
            "user": user(BOT_ID, "comfybot", bot=True),
            "roles": [],
            "joined_at": "2026-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
        }
        return {
            "id": str(GUILD_ID),
            "name": "Community",
            "icon": None,
            "owner_id": str(USER_ID),
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [everyone, {**everyone, "id": str(MODERATOR_ROLE_ID), "name": "Moderators", "position": 1}],
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
            "premium_tier": 0,
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
            "channels": [channel],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    async def dispatch(self, event: str, data: Json, *, intent: int = 0) -> None:
        """Send a dispatch to every identified session whose intents include `intent` (0: always sent)."""
        for ws in list(self.gateways):
            if intent == 0 or ws["intents"] & intent:
                await self._send(ws, 0, data, event)

    async def click(self, message: Message, custom_id: str, *, user_id: int = USER_ID) -> Interaction:
        """A member presses a button on `message`: a component interaction goes out."""
        interaction = Interaction(next(self._ids), f"token-{next(self._ids)}", message.channel_id, user_id)
        self.interactions[interaction.token] = interaction
        data = {"custom_id": custom_id, "component_type": 2}
        payload = self._interaction(interaction, 3, data, member_payload(user_id))
        await self.dispatch("INTERACTION_CREATE", {**payload, "message": message.payload(self._base())})
        return interaction

    async def react(
        self, message: Message, emoji: str, *, user_id: int = USER_ID, roles: list[int] | None = None, bot: bool = False
    ) -> None:
        """A reaction added to `message` (sent only to sessions with the guild-reactions intent)."""
        member = member_payload(user_id) | {"roles": [str(r) for r in roles or []]}
        if bot:
            member["user"] = user(BOT_ID, "comfybot", bot=True)
        await self.dispatch(
            "MESSAGE_REACTION_ADD",
            {
                "user_id": str(BOT_ID if bot else user_id),
                "channel_id": str(message.channel_id),
                "message_id": str(message.id),
                "guild_id": str(GUILD_ID),
                "member": member,
                "emoji": {"id": None, "name": emoji},
                "burst": False,
                "type": 0,
                "message_author_id": str(BOT_ID),
            },
            intent=INTENT_GUILD_MESSAGE_REACTIONS,
        )

    async def submit_modal(self, custom_id: str, values: dict[str, str], *, user_id: int = USER_ID) -> Interaction:
        """A member submits a modal the bot opened (`custom_id` from the type-9 callback): one text input each."""
        interaction = Interaction(next(self._ids), f"token-{next(self._ids)}", CHANNEL_ID, user_id)
        self.interactions[interaction.token] = interaction
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]} for key, value in values.items()
        ]
        data = {"custom_id": custom_id, "components": rows}
        await self.dispatch("INTERACTION_CREATE", self._interaction(interaction, 5, data, member_payload(user_id)))
        return interaction

    def attachment(self, filename: str, data: bytes, content_type: str = "image/png") -> tuple[str, Json]:
        """A file a member attached to a command: its id, and the `resolved` payload that carries it."""
        attachment_id = str(next(self._ids))
        self.uploads[attachment_id] = File(filename, data, content_type)
        url = f"{self._base()}/uploads/{attachment_id}/{filename}"
        body = {
            "id": attachment_id,
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }
        return attachment_id, {"attachments": {attachment_id: body}}

    async def interact(
        self,
        name: str,
        options: list[Json] | None = None,
        *,
        user_id: int = USER_ID,
        locale: str = "en-US",
        resolved: Json | None = None,
        member: Json | None = None,
        channel_id: int = CHANNEL_ID,
    ) -> Interaction:
        """A member runs a slash command: INTERACTION_CREATE goes out; the returned record follows it.
        `member` overrides member fields (`{"permissions": "32"}` makes them a moderator)."""
        interaction = Interaction(next(self._ids), f"token-{next(self._ids)}", channel_id, user_id)
        self.interactions[interaction.token] = interaction
        data: Json = {"id": str(next(self._ids)), "name": name, "type": 1, "options": options or []}
        if resolved:
            data["resolved"] = resolved
        payload = self._interaction(interaction, 2, data, member_payload(user_id, member), locale=locale)
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction

    def _interaction(
        self, interaction: Interaction, kind: int, data: Json, member: Json, *, locale: str = "en-US"
    ) -> Json:
        return {
            "id": str(interaction.id),
            "application_id": str(BOT_ID),
            "type": kind,
            "data": data,
            "token": interaction.token,
            "version": 1,
            "guild_id": str(GUILD_ID),
            "channel_id": str(interaction.channel_id),
            "channel": channel_payload(interaction.channel_id),
            "member": member,
            "app_permissions": "2248473465835073",
            "locale": locale,
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(GUILD_ID)},
            "context": 0,
            "attachment_size_limit": self.upload_limit,
        }

    # ---- REST ------------------------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith(API):
            return await handler(request)  # type: ignore[no-any-return]
        body, files = None, []
        if request.content_type == "multipart/form-data":
            async for part in await request.multipart():
                if not isinstance(part, BodyPartReader):
                    continue
                raw = await part.read()
                if part.name == "payload_json":
                    body = json.loads(raw)
                else:
                    files.append(File(part.filename or "", bytes(raw), part.headers.get("Content-Type", "")))
        elif request.can_read_body:
            raw = await request.read()
            body = json.loads(raw) if raw else None
        recorded = Request(request.method, request.path[len(API) :], dict(request.query), body, files)
        self.requests.append(recorded)
        request[RECORDED] = recorded
        try:
            response = await handler(request)
        except InvalidForm as exc:
            response = self._error(400, 50035, f"Invalid Form Body: {exc}")
        except _TooLarge:
            response = self._error(413, 40005, "Request entity too large")
        recorded.status = response.status
        self.notify()
        return response  # type: ignore[no-any-return]

    def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        # discord.py reads JSON only with exactly this content type: no "; charset=utf-8", so bytes, not text.
        return web.Response(
            body=json.dumps(data).encode(), status=status, content_type="application/json", headers=headers
        )

    def _error(self, status: int, code: int, message: str) -> web.Response:
        return self._json({"code": code, "message": message}, status)

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        recorded = request[RECORDED]
        parts = path.split("/")
        method = request.method
        if path == "gateway/bot":
            return self._json(
                {
                    "url": self.gateway_url,
                    "shards": 1,
                    "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
                }
            )
        if path == "users/@me":
            return self._json(user(BOT_ID, "comfybot", bot=True))
        if path == "users/@me/channels" and method == "POST":  # open a DM with a member
            recipient = int((recorded.json or {})["recipient_id"])
            dm = {"id": str(DM_CHANNEL_ID + recipient), "type": 1, "last_message_id": None}
            return self._json({**dm, "recipients": [user(recipient, f"member{recipient}")]})
        if parts[0] == "users" and len(parts) == 2 and method == "GET":
            return self._json(user(int(parts[1]), f"member{parts[1]}"))
        if path == "oauth2/applications/@me":
            return self._json(
                {
                    "id": str(BOT_ID),
                    "name": "comfybot",
                    "icon": None,
                    "description": "",
                    "bot_public": True,
                    "bot_require_code_grant": False,
                    "verify_key": "00",
                    "owner": user(USER_ID, "owner"),
                    "flags": 0,
                    "team": None,
                }
            )
        if parts[0] == "applications" and parts[-1] == "commands":
            return self._commands(method, "global" if len(parts) == 3 else parts[3], recorded.json)
        if self.faults and parts[0] in ("interactions", "webhooks", "channels"):
            return self._fault(self.faults.popleft())
        if parts[0] == "interactions":
            return self._callback(parts[1], parts[2], recorded)
        if parts[0] == "webhooks":
            return self._webhook(method, parts[2], parts[3:], recorded)
        if parts[0] == "channels" and len(parts) >= 3 and parts[2] == "messages":
            return self._channel_message(method, int(parts[1]), parts[3:], recorded)
        return self._error(404, 0, f"no such route in the fake: {method} {path}")

    def _fault(self, status: int) -> web.Response:
        """An outage answer, as Discord gives them: 429 with when to retry, or a bare 5xx."""
        self.faulted[status] = self.faulted.get(status, 0) + 1
        if status == 429:
            headers = {"Retry-After": "0.2", "X-RateLimit-Scope": "shared", "Via": "1.1 google"}
            body = {"message": "You are being rate limited.", "retry_after": 0.2, "global": False}
            return self._json(body, 429, headers)
        return web.Response(status=status, text="upstream unavailable")

    def _commands(self, method: str, scope: str, body: Any) -> web.Response:
        if method == "PUT":
            self.command_puts += 1
            self.commands[scope] = [
                {
                    **cmd,
                    "id": str(next(self._ids)),
                    "application_id": str(BOT_ID),
                    "version": "1",
                    "default_member_permissions": cmd.get("default_member_permissions"),
                    "type": cmd.get("type", 1),
                }
                for cmd in body or []
            ]
        return self._json(self.commands.get(scope, []))

    def _callback(self, interaction_id: str, token: str, recorded: Request) -> web.Response:
        interaction = self.interactions.get(token)
        if interaction is None or str(interaction.id) != interaction_id:
            return self._error(404, 10062, "Unknown interaction")
        if time.monotonic() - interaction.created > self.ack_deadline:
            return self._error(404, 10062, "Unknown interaction")
        if interaction.callback_type is not None:
            return self._error(400, 40060, "Interaction has already been acknowledged.")
        body = recorded.json or {}
        interaction.callback_type = body.get("type")
        interaction.callback_data = body.get("data")
        data = body.get("data") or {}
        interaction.ephemeral = bool((data.get("flags") or 0) & 64)
        message = self._store(
            Message(next(self._ids), interaction.channel_id, flags=64 if interaction.ephemeral else 0),
            data,
            recorded.files,
            edit=False,
        )
        interaction.message_id = message.id
        return self._json(
            {
                "interaction": {
                    "id": interaction_id,
                    "type": 2,
                    "response_message_id": str(message.id),
                    "response_message_loading": body.get("type") == 5,
                    "response_message_ephemeral": interaction.ephemeral,
                },
                "resource": {"type": body.get("type"), "message": message.payload(self._base())},
            }
        )

    def _base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _webhook(self, method: str, token: str, rest: list[str], recorded: Request) -> web.StreamResponse:
        interaction = self.interactions.get(token)
        if interaction is None:
            return self._error(404, 10015, "Unknown Webhook")
        if time.monotonic() - interaction.created > self.token_lifetime:
            return self._error(401, 50027, "Invalid Webhook Token")
        if not rest:  # POST /webhooks/{app}/{token}: a follow-up message
            created = self._store(
                Message(next(self._ids), interaction.channel_id), recorded.json or {}, recorded.files, edit=False
            )
            return self._json(created.payload(self._base()))
        target = interaction.message_id if rest[1] == "@original" else int(rest[1])
        message = self.messages.get(target or 0)
        if message is None:
            return self._error(404, 10008, "Unknown Message")
        if method == "GET":
            return self._json(message.payload(self._base()))
        if method == "DELETE":
            del self.messages[message.id]
            return web.Response(status=204)
        return self._edit(message, recorded)

    def _channel_message(self, method: str, channel_id: int, rest: list[str], recorded: Request) -> web.StreamResponse:
        if method == "POST" and not rest:
            created = self._store(Message(next(self._ids), channel_id), recorded.json or {}, recorded.files, edit=False)
            return self._json(created.payload(self._base()))
        if len(rest) >= 3 and rest[1] == "reactions":  # PUT .../reactions/{emoji}/@me, DELETE .../{emoji}/{user}
            self.reactions.append((method, int(rest[0]), rest[2], rest[3] if len(rest) > 3 else ""))
            return web.Response(status=204)
        message = self.messages.get(int(rest[0])) if rest else None
        if message is None or message.channel_id != channel_id or message.flags & 64:
            return self._error(404, 10008, "Unknown Message")  # ephemeral replies are not channel messages
        if method == "PATCH":
            if self.deny_channel_edits:
                return self._error(403, 50013, "Missing Permissions")
            return self._edit(message, recorded)
        if method == "GET":
            return self._json(message.payload(self._base()))
        if method == "DELETE":
            del self.messages[message.id]
            self.deleted.append(message.id)
            return web.Response(status=204)
        return self._error(405, 0, "method not allowed in the fake")

    def _edit(self, message: Message, recorded: Request) -> web.Response:
        window = self._edit_times.setdefault(message.channel_id, deque())
        now = time.monotonic()
        while window and now - window[0] >= self.window:
            window.popleft()
        bucket = {"X-RateLimit-Limit": str(self.edits_per_window), "X-RateLimit-Bucket": f"edit-{message.channel_id}"}
        if len(window) >= self.edits_per_window:
            self.rate_limited += 1
            retry_after = round(self.window - (now - window[0]), 3)
            headers = {
                **bucket,
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset-After": str(retry_after),
                "X-RateLimit-Reset": str(time.time() + retry_after),
                "X-RateLimit-Scope": "user",
                "Retry-After": str(max(1, round(retry_after))),
                "Via": "1.1 google",
            }
            return self._json(
                {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}, 429, headers
            )
        window.append(now)
        self._store(message, recorded.json or {}, recorded.files, edit=True)
        reset_after = round(self.window - (now - window[0]), 3)
        headers = {
            **bucket,
            "X-RateLimit-Remaining": str(self.edits_per_window - len(window)),
            "X-RateLimit-Reset-After": str(reset_after),
            "X-RateLimit-Reset": str(time.time() + reset_after),
        }
        return self._json(message.payload(self._base()), headers=headers)

    def _store(self, message: Message, data: Json, files: list[File], *, edit: bool) -> Message:
        content = data.get("content")
        embeds = data.get("embeds")
        if content is not None and len(content) > 2000:
            raise InvalidForm("content: Must be 2000 or fewer in length.")
        if embeds is not None:
            if len(embeds) > 10:
                raise InvalidForm("embeds: Must be 10 or fewer in length.")
            total = sum(
                len(e.get("title") or "")
                + len(e.get("description") or "")
                + len((e.get("footer") or {}).get("text", ""))
                + sum(len(f.get("name", "")) + len(f.get("value", "")) for f in e.get("fields") or [])
                for e in embeds
            )
            if total > 6000 or any(len(e.get("description") or "") > 4096 for e in embeds):
                raise InvalidForm("embeds: Embed size exceeds maximum size of 6000")
            if any(len(e.get("fields") or []) > 25 or len(e.get("title") or "") > 256 for e in embeds):
                raise InvalidForm("embeds: fields or title too long")
        kept = (
            [
                message.files[int(a["id"]) - message.id * 100]
                for a in data.get("attachments") or []
                if isinstance(a.get("id"), str)
                and a["id"].isdigit()
                and int(a["id"]) >= message.id * 100
                and int(a["id"]) - message.id * 100 < len(message.files)
            ]
            if edit
            else []
        )
        new_files = kept + files if "attachments" in data or files else message.files
        if len(new_files) > 10:
            raise InvalidForm("attachments: Must be 10 or fewer in length.")
        if any(len(f.data) > self.upload_limit for f in files):
            raise _TooLarge
        if content is not None:
            message.content = content
        if embeds is not None:
            message.embeds = embeds
        if "components" in data:
            message.components = data["components"] or []
        message.files = new_files
        if edit:
            message.edits += 1
        self.messages[message.id] = message
        return message

    async def _attachment(self, request: web.Request) -> web.Response:
        message = self.messages.get(int(request.match_info["mid"]))
        if message is None:
            return web.Response(status=404)
        file = message.files[int(request.match_info["n"])]
        return web.Response(body=file.data, content_type=file.content_type or "application/octet-stream")

    async def _upload(self, request: web.Request) -> web.Response:
        file = self.uploads.get(request.match_info["aid"])
        if file is None:
            return web.Response(status=404)
        return web.Response(body=file.data, content_type=file.content_type)

    # ---- what tests look at ----------------------------------------------------------------------------

    def original(self, interaction: Interaction) -> Message:
        assert interaction.message_id is not None, "the interaction was never acknowledged"
        return self.messages[interaction.message_id]

    def sent(self, method: str, prefix: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

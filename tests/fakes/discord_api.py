"""A loopback fake of Discord's API that the real discord.py connects to: gateway and REST.

The gateway: HELLO, heartbeat ACK, IDENTIFY -> READY -> GUILD_CREATE, dispatches filtered by the intents the
bot identified with. REST: the routes the bot uses, strict as Discord is (each rule cites Discord's
documentation where it is enforced):
- bodies: `discord_rules` (content, embeds, components, modals, command registration: 400 50035 / 50006);
- interactions (interactions/receiving-and-responding): 3 s to acknowledge (10062), once (40060); a refused
  callback acknowledges nothing; a deferred reply (type 5) is a loading message that the first follow-up or an
  edit of @original fills in, keeping its ephemerality; a deferred update (type 6) creates no message and makes
  @original the message whose component was used; the token lives 15 minutes (401 50027); ephemeral messages
  are not reachable through channel routes (404 10008);
- rate limits: `discord_ratelimit` (per-route buckets with X-RateLimit-* headers, per token for interaction
  webhooks, the global 50/s);
- uploads (reference#uploading-files): 10 attachments; 10 MiB a file on the bot's own routes unless the guild's
  boost tier raises it; an interaction's `attachment_size_limit` on that interaction's webhook only (413 40005);
- permissions (topics/permissions): the bot's role and a channel's overwrites decide what it may do there
  (403 50013); interactions carry `app_permissions`; a member may have direct messages closed (403 50007).
Every request is recorded, with its status and Discord's code, so tests assert on what went over the wire.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import deque
from typing import Any

from aiohttp import BodyPartReader, WSMsgType, web

from .discord_payloads import (
    ADD_REACTIONS,
    API,
    ATTACH_FILES,
    AUTOCOMPLETE,
    BOT_ID,
    BOT_ROLE_PERMISSIONS,
    CHANNEL_ID,
    COMMAND,
    COMPONENT,
    DM_CHANNEL_ID,
    EMBED_LINKS,
    EPHEMERAL,
    GUILD_ID,
    INTENT_GUILD_MESSAGE_REACTIONS,
    LOADING,
    MANAGE_MESSAGES,
    MODAL_SUBMIT,
    MODERATOR_ROLE_ID,
    OWNER_ID,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    UPLOAD_LIMIT,
    UPLOAD_LIMIT_BY_TIER,
    USER_ID,
    VIEW_CHANNEL,
    File,
    Interaction,
    Json,
    Message,
    Request,
    channel_payload,
    guild_payload,
    member_payload,
    snowflakes,
    user,
)
from .discord_ratelimit import Limited, RateLimits
from .discord_rules import Refused, check_commands, check_message, check_modal, check_not_empty, invalid

__all__ = [
    "BOT_ID",
    "CHANNEL_ID",
    "DM_CHANNEL_ID",
    "GUILD_ID",
    "MODERATOR_ROLE_ID",
    "OWNER_ID",
    "USER_ID",
    "FakeDiscord",
    "File",
    "Interaction",
    "Message",
    "Refused",
    "Request",
]
RECORDED = web.RequestKey("recorded", Request)
MENTION = re.compile(r"<@!?(\d+)>")
# interactions/receiving-and-responding#interaction-response-object-interaction-callback-type
PONG, MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, AUTOCOMPLETE_RESULT, MODAL = 1, 4, 5, 6, 7, 8, 9
ALLOWED_CALLBACKS = {
    COMMAND: {MESSAGE, DEFERRED_MESSAGE, MODAL},
    COMPONENT: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, MODAL},
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE},
}


class FakeDiscord:
    def __init__(
        self,
        *,
        token_lifetime: float = 15 * 60,
        ack_deadline: float = 3.0,
        edits_per_window: int = 5,
        window: float = 5.0,
        token: str = "test-token",
    ) -> None:
        self.token = token  # the bot token it accepts
        self.token_lifetime = token_lifetime
        self.ack_deadline = ack_deadline
        # `window` is Discord's 5 s edit window, compressed in tests: every bucket is compressed alike
        self.limits = RateLimits(scale=window / 5.0, limits={"message-edit": edits_per_window})
        self.upload_limit = UPLOAD_LIMIT  # per file on the bot's own routes (the guild's, by boost tier)
        self.attachment_size_limit: int | None = None  # what interactions carry (None: the guild's limit)
        self.premium_tier = 0
        self.bot_denied: dict[int, int] = {}  # channel -> permissions its overwrites deny the bot
        self.dms_closed: set[int] = set()  # members who accept no direct messages from the bot
        self.uploads: dict[str, File] = {}  # attachments members sent with commands
        self.reactions: list[tuple[str, int, str, str]] = []  # (method, message id, emoji, user or @me)
        self.deleted: list[int] = []  # message ids deleted (by any route)
        self.requests: list[Request] = []
        self.messages: dict[int, Message] = {}
        self.interactions: dict[str, Interaction] = {}
        self.commands: dict[str, list[Json]] = {}  # "global" or guild id -> commands
        self.command_puts = 0
        self.faults: deque[int] = deque()  # statuses (429, 5xx) the next message and interaction requests get
        self.faulted: dict[int, int] = {}  # status -> how many were answered that way
        self.identified: list[Json] = []
        self.gateways: list[web.WebSocketResponse] = []
        self._ids = snowflakes()
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

    @property
    def window(self) -> float:
        """Discord's 5 s rate-limit window as this fake runs it (tests compress it; every bucket alike)."""
        return self.limits.scale * 5.0

    @window.setter
    def window(self, seconds: float) -> None:
        self.limits.scale = seconds / 5.0

    @property
    def rate_limited(self) -> int:
        """429s the fake answered on its own (injected faults are not counted)."""
        return self.limits.total

    async def start(self) -> FakeDiscord:
        app = web.Application(middlewares=[self._record], client_max_size=256 * 2**20)
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

    # ---- the guild: boosts and permissions -----------------------------------------------------------

    def set_premium_tier(self, tier: int) -> None:
        """Before the bot connects: the guild's boost tier, which sets the upload limit of its channels."""
        self.premium_tier, self.upload_limit = tier, UPLOAD_LIMIT_BY_TIER[tier]

    def bot_permissions(self, channel_id: int) -> int:
        return BOT_ROLE_PERMISSIONS & ~self.bot_denied.get(channel_id, 0)

    async def deny(self, channel_id: int, permissions: int) -> None:
        """A channel's overwrites deny the bot `permissions` from now on (the bot is told, as by Discord)."""
        self.bot_denied[channel_id] = permissions
        await self.dispatch("CHANNEL_UPDATE", channel_payload(channel_id, bot_denied=permissions))

    def _need(self, channel_id: int, permissions: int) -> None:
        if channel_id >= DM_CHANNEL_ID and channel_id - DM_CHANNEL_ID in self.dms_closed:
            raise Refused(403, 50007, "Cannot send messages to this user")
        if channel_id >= DM_CHANNEL_ID:
            return
        if self.bot_permissions(channel_id) & permissions != permissions:
            raise Refused(403, 50013, "Missing Permissions")

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
        channels = {CHANNEL_ID, *self.bot_denied}
        listed = [channel_payload(c, bot_denied=self.bot_denied.get(c, 0)) for c in sorted(channels)]
        return guild_payload(listed, self.premium_tier)

    async def dispatch(self, event: str, data: Json, *, intent: int = 0) -> None:
        """Send a dispatch to every identified session whose intents include `intent` (0: always sent)."""
        for ws in list(self.gateways):
            if intent == 0 or ws["intents"] & intent:
                await self._send(ws, 0, data, event)

    def _new_interaction(
        self, channel_id: int, user_id: int, kind: int, source_message_id: int | None = None
    ) -> Interaction:
        limit = max(self.upload_limit, self.attachment_size_limit or 0)
        interaction = Interaction(
            next(self._ids),
            f"token-{next(self._ids)}",
            channel_id,
            user_id,
            kind=kind,
            attachment_size_limit=limit,
            source_message_id=source_message_id,
        )
        self.interactions[interaction.token] = interaction
        return interaction

    async def click(self, message: Message, custom_id: str, *, user_id: int = USER_ID, **data: Any) -> Interaction:
        """A member uses a component on `message` (a button; a select menu with `values=[...]`)."""
        interaction = self._new_interaction(message.channel_id, user_id, COMPONENT, message.id)
        body = {"custom_id": custom_id, "component_type": 3 if "values" in data else 2, **data}
        payload = self._interaction(interaction, body, member_payload(user_id))
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

    async def submit_modal(
        self, custom_id: str, values: dict[str, str], *, user_id: int = USER_ID, message: Message | None = None
    ) -> Interaction:
        """A member submits a modal the bot opened (`custom_id` from the type-9 callback): one text input each.
        `message`: the message whose button opened it."""
        channel = message.channel_id if message is not None else CHANNEL_ID
        interaction = self._new_interaction(channel, user_id, MODAL_SUBMIT, message.id if message else None)
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]} for key, value in values.items()
        ]
        data = {"custom_id": custom_id, "components": rows}
        payload = self._interaction(interaction, data, member_payload(user_id))
        if message is not None:
            payload["message"] = message.payload(self._base())
        await self.dispatch("INTERACTION_CREATE", payload)
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
        interaction = self._new_interaction(channel_id, user_id, COMMAND)
        data: Json = {"id": str(next(self._ids)), "name": name, "type": 1, "options": options or []}
        if resolved:
            data["resolved"] = resolved
        payload = self._interaction(interaction, data, member_payload(user_id, member), locale=locale)
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction

    def _interaction(self, interaction: Interaction, data: Json, member: Json, *, locale: str = "en-US") -> Json:
        return {
            "id": str(interaction.id),
            "application_id": str(BOT_ID),
            "type": interaction.kind,
            "data": data,
            "token": interaction.token,
            "version": 1,
            "guild_id": str(GUILD_ID),
            "channel_id": str(interaction.channel_id),
            "channel": channel_payload(
                interaction.channel_id, bot_denied=self.bot_denied.get(interaction.channel_id, 0)
            ),
            "member": member,
            "app_permissions": str(self.bot_permissions(interaction.channel_id)),
            "locale": locale,
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(GUILD_ID)},
            "context": 0,
            "attachment_size_limit": interaction.attachment_size_limit,
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
        except Refused as exc:
            recorded.code = exc.code
            response = self._error(exc.status, exc.code, exc.message)
        except Limited as exc:
            recorded.code = 429
            response = self._json(exc.body, 429, exc.headers)
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
        if request.headers.get("Authorization") != f"Bot {self.token}" and parts[0] not in ("interactions", "webhooks"):
            return self._error(401, 0, "401: Unauthorized")  # topics/oauth2#bot-users: a bot's token, or nothing
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
        if path == "users/@me/guilds":
            return self._json([{"id": str(GUILD_ID), "name": "Community", "icon": None, "owner": False}])
        if parts[0] == "guilds" and method == "GET":
            return self._guild_route(parts[1:])
        if parts[0] == "users" and len(parts) == 2 and method == "GET":
            return self._json(user(int(parts[1]), f"member{parts[1]}"))
        if path in ("oauth2/applications/@me", "applications/@me"):
            return self._json(
                {
                    "id": str(BOT_ID),
                    "name": "comfybot",
                    "icon": None,
                    "description": "",
                    "bot_public": True,
                    "bot_require_code_grant": False,
                    "verify_key": "00",
                    "owner": user(OWNER_ID, "owner"),
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

    def _guild_route(self, rest: list[str]) -> web.Response:
        """GET /guilds/{id}[/roles|/channels|/members/{user}] (resources/guild), as the bot token sees them."""
        if rest[0] != str(GUILD_ID):
            raise Refused(404, 10004, "Unknown Guild")
        guild = self.guild_payload()
        if len(rest) == 1:
            return self._json({k: v for k, v in guild.items() if k not in ("channels", "members")})
        if rest[1] in ("roles", "channels"):
            return self._json(guild[rest[1]])
        if rest[1] == "members" and len(rest) == 3:
            member = next((m for m in guild["members"] if m["user"]["id"] == rest[2]), None)
            if member is None:
                raise Refused(404, 10007, "Unknown Member")
            return self._json(member)
        return self._error(404, 0, "no such guild route in the fake")

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
            check_commands(body or [])
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

    # ---- interactions ----------------------------------------------------------------------------------

    def _callback(self, interaction_id: str, token: str, recorded: Request) -> web.Response:
        interaction = self.interactions.get(token)
        if interaction is None or str(interaction.id) != interaction_id:
            raise Refused(404, 10062, "Unknown interaction")
        if time.monotonic() - interaction.created > self.ack_deadline:
            raise Refused(404, 10062, "Unknown interaction")
        if interaction.callback_type is not None:
            raise Refused(400, 40060, "Interaction has already been acknowledged.")
        body = recorded.json or {}
        kind, data = body.get("type"), body.get("data") or {}
        try:
            message = self._respond(interaction, kind, data, recorded.files)
        except Refused as exc:
            interaction.refused.append(exc.code)
            raise  # a refused callback acknowledges nothing: the interaction can still be answered
        interaction.callback_type, interaction.callback_data = kind, body.get("data")
        resource: Json = {"type": kind}
        if message is not None:
            interaction.message_id = message.id
            resource["message"] = message.payload(self._base())
        return self._json(
            {
                "interaction": {
                    "id": interaction_id,
                    "type": interaction.kind,
                    "response_message_id": str(message.id) if message else None,
                    "response_message_loading": kind == DEFERRED_MESSAGE,
                    "response_message_ephemeral": interaction.ephemeral,
                },
                "resource": resource,
            }
        )

    def _respond(self, interaction: Interaction, kind: Any, data: Json, files: list[File]) -> Message | None:
        """The message an accepted callback makes or changes (None: a modal, an autocomplete, a deferred
        update); Refused before anything changes when Discord would refuse it."""
        if kind not in ALLOWED_CALLBACKS[interaction.kind]:
            raise invalid("type", f"Interaction callback type {kind} is not valid for this interaction")
        if kind == MODAL:
            check_modal(data)
            return None
        if kind == AUTOCOMPLETE_RESULT:
            if len(data.get("choices") or []) > 25:
                raise invalid("data.choices", "Must be 25 or fewer in length.")
            return None
        ephemeral = bool((data.get("flags") or 0) & EPHEMERAL)
        if kind == DEFERRED_MESSAGE:
            interaction.ephemeral = ephemeral
            message = Message(next(self._ids), interaction.channel_id, flags=LOADING | (EPHEMERAL if ephemeral else 0))
            self.messages[message.id] = message
            return message
        if kind == MESSAGE:
            message = Message(next(self._ids), interaction.channel_id, flags=EPHEMERAL if ephemeral else 0)
            interaction.ephemeral = ephemeral
            return self._store(message, data, files, edit=False, limit=interaction.attachment_size_limit)
        source = self.messages.get(interaction.source_message_id or 0)
        if source is None:
            raise Refused(404, 10008, "Unknown Message")
        interaction.ephemeral = source.ephemeral
        if kind == UPDATE:
            self._store(source, data, files, edit=True, limit=interaction.attachment_size_limit)
        return source  # DEFERRED_UPDATE: @original is the component's message; nothing is created

    def _base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _webhook(self, method: str, token: str, rest: list[str], recorded: Request) -> web.StreamResponse:
        interaction = self.interactions.get(token)
        if interaction is None:
            raise Refused(404, 10015, "Unknown Webhook")
        if time.monotonic() - interaction.created > self.token_lifetime:
            raise Refused(401, 50027, "Invalid Webhook Token")
        headers = self.limits.take("interaction-webhook", token, global_bound=False)
        if interaction.callback_type is None:
            raise Refused(404, 10015, "Unknown Webhook")  # nothing to follow up before the acknowledgement
        limit = interaction.attachment_size_limit
        data = recorded.json or {}
        if not rest:  # POST /webhooks/{app}/{token}: a follow-up message
            original = self.messages.get(interaction.message_id or 0)
            if interaction.callback_type == DEFERRED_MESSAGE and original is not None and original.flags & LOADING:
                # the first follow-up after a deferred reply is that reply: it keeps the defer's ephemerality
                self._store(original, data, recorded.files, edit=True, limit=limit)
                original.flags &= ~LOADING
                original.edits -= 1
                return self._json(original.payload(self._base()), headers=headers)
            ephemeral = EPHEMERAL if (data.get("flags") or 0) & EPHEMERAL else 0
            message = Message(next(self._ids), interaction.channel_id, flags=ephemeral)
            created = self._store(message, data, recorded.files, edit=False, limit=limit)
            return self._json(created.payload(self._base()), headers=headers)
        target = interaction.message_id if rest[1] == "@original" else int(rest[1])
        found = self.messages.get(target or 0)
        if found is None:
            raise Refused(404, 10008, "Unknown Message")
        message = found
        if method == "GET":
            return self._json(message.payload(self._base()), headers=headers)
        if method == "DELETE":
            del self.messages[message.id]
            self.deleted.append(message.id)
            return web.Response(status=204, headers=headers)
        self._store(message, data, recorded.files, edit=True, limit=limit)
        message.flags &= ~LOADING
        return self._json(message.payload(self._base()), headers=headers)

    # ---- channel routes --------------------------------------------------------------------------------

    def _channel_message(self, method: str, channel_id: int, rest: list[str], recorded: Request) -> web.StreamResponse:
        data = recorded.json or {}
        resource = str(channel_id)
        if method == "POST" and not rest:
            headers = self.limits.take("message-create", resource)
            needed = VIEW_CHANNEL | SEND_MESSAGES | (EMBED_LINKS if data.get("embeds") else 0)
            self._need(channel_id, needed | (ATTACH_FILES if recorded.files else 0))
            message = Message(next(self._ids), channel_id)
            created = self._store(message, data, recorded.files, edit=False, limit=self.upload_limit)
            return self._json(created.payload(self._base()), headers=headers)
        if len(rest) >= 3 and rest[1] == "reactions":  # PUT .../reactions/{emoji}/@me, DELETE .../{emoji}/{user}
            headers = self.limits.take("reaction", resource)
            self._message(channel_id, rest[0])
            who = rest[3] if len(rest) > 3 else ""
            if method == "PUT":
                self._need(channel_id, VIEW_CHANNEL | READ_MESSAGE_HISTORY | ADD_REACTIONS)
            elif who != "@me":
                self._need(channel_id, VIEW_CHANNEL | MANAGE_MESSAGES)  # another user's reaction
            self.reactions.append((method, int(rest[0]), rest[2], who))
            return web.Response(status=204, headers=headers)
        if not rest:
            return self._error(405, 0, "method not allowed in the fake")
        if method == "GET":
            self._need(channel_id, VIEW_CHANNEL | READ_MESSAGE_HISTORY)
            return self._json(self._message(channel_id, rest[0]).payload(self._base()))
        if method == "PATCH":
            headers = self.limits.take("message-edit", resource)
            message = self._message(channel_id, rest[0])
            self._need(channel_id, VIEW_CHANNEL | (EMBED_LINKS if data.get("embeds") else 0))
            self._need(channel_id, ATTACH_FILES if recorded.files else 0)
            self._store(message, data, recorded.files, edit=True, limit=self.upload_limit)
            return self._json(message.payload(self._base()), headers=headers)
        if method == "DELETE":
            headers = self.limits.take("message-delete", resource)
            message = self._message(channel_id, rest[0])
            self._need(channel_id, VIEW_CHANNEL)  # the bot's own message: no Manage Messages needed
            del self.messages[message.id]
            self.deleted.append(message.id)
            return web.Response(status=204, headers=headers)
        return self._error(405, 0, "method not allowed in the fake")

    def _message(self, channel_id: int, message_id: str) -> Message:
        message = self.messages.get(int(message_id)) if message_id.isdigit() else None
        if message is None or message.channel_id != channel_id or message.ephemeral:
            raise Refused(404, 10008, "Unknown Message")  # ephemeral replies are not channel messages
        return message

    def _store(self, message: Message, data: Json, files: list[File], *, edit: bool, limit: int) -> Message:
        """Apply a create or an edit to `message`, refusing (before changing anything) what Discord refuses."""
        check_message(data)
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
            raise invalid("attachments", "Must be 10 or fewer in length.")
        if any(len(f.data) > limit for f in files):
            raise Refused(413, 40005, "Request entity too large")
        content = data["content"] if data.get("content") is not None else (message.content if edit else "")
        embeds = data["embeds"] if data.get("embeds") is not None else (message.embeds if edit else [])
        components = data["components"] or [] if "components" in data else message.components
        check_not_empty(content, embeds, len(new_files), components)
        message.content, message.embeds, message.components, message.files = content, embeds, components, new_files
        if edit:
            message.edits += 1
        else:
            message.pinged = _pinged(content, data.get("allowed_mentions"))
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

    def refused(self) -> list[Request]:
        """Every request Discord would have refused for breaking a rule (4xx other than injected faults)."""
        return [r for r in self.requests if 400 <= r.status < 500 and r.status != 429]


def _pinged(content: str, allowed: Json | None) -> list[int]:
    """Who a new message notifies (resources/message#allowed-mentions-object): every mentioned user unless
    `allowed_mentions` says otherwise."""
    mentioned = [int(m) for m in MENTION.findall(content)]
    if allowed is None:
        return mentioned
    if "users" in (allowed.get("parse") or []):
        return mentioned
    listed = {int(u) for u in allowed.get("users") or []}
    return [m for m in mentioned if m in listed]

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
Beside this module: discord_payloads (the objects and their JSON), discord_members (what members do),
discord_routes (the message routes), discord_rules and discord_ratelimit (what Discord refuses).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections import deque
from typing import Any

from aiohttp import BodyPartReader, WSMsgType, web

from . import discord_openapi
from .discord_members import MemberActions
from .discord_payloads import (
    API,
    BOT_ID,
    BOT_ROLE_PERMISSIONS,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    GUILD_ID,
    MODERATOR_ROLE_ID,
    OWNER_ID,
    UPLOAD_LIMIT,
    UPLOAD_LIMIT_BY_TIER,
    USER_ID,
    File,
    Interaction,
    Json,
    Message,
    Request,
    channel_payload,
    guild_payload,
    snowflakes,
    user,
)
from .discord_ratelimit import Limited, RateLimits
from .discord_routes import MessageRoutes, error_answer, json_answer
from .discord_rules import Refused, check_commands

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
# Discord is a remote service: every REST answer and gateway dispatch is this far away (± `jitter`), for the whole
# suite unless a test says otherwise; on loopback, races that real latency exposes would be won by luck.
LATENCY = 0.04  # 20-60 ms with the default jitter of ±50 %
RECORDED = web.RequestKey("recorded", Request)


class FakeDiscord:
    def __init__(
        self,
        *,
        token_lifetime: float = 15 * 60,
        ack_deadline: float = 3.0,
        edits_per_window: int = 5,
        window: float = 5.0,
        token: str = "test-token",
        latency: float = LATENCY,
    ) -> None:
        self.latency = latency  # seconds each REST answer and gateway dispatch takes, ± `jitter` of it
        self.jitter = 0.5
        self._jitter = random.Random(1234)  # the same delays on every run
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
        self.attachment_delay = 0.0  # seconds the CDN takes to serve a message's attachment
        # answer interaction callbacks with only what Discord's spec requires (InteractionCallbackResponse:
        # `interaction` with its `id` and `type`; `resource` and `response_message_id` are optional)
        self.sparse_callbacks = False
        # answers checked against the response schemas of Discord's spec (the fake's own tests): what does not fit
        self.check_answers = False
        self.answer_problems: list[str] = []
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
        # the servers the bot is in, each with its one channel (GUILD_ID's channels are CHANNEL_ID and the denied)
        self.guilds: dict[int, tuple[int, ...]] = {GUILD_ID: (CHANNEL_ID,)}
        self.members: dict[tuple[int, int], Json] = {}  # (guild, user) -> the members tests made act, as stored
        self.recommended_shards = 1  # what GET /gateway/bot answers
        self.gateways: list[web.WebSocketResponse] = []
        self._ids = snowflakes()
        self._seq = itertools.count(1)
        self._pulse = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.routes = MessageRoutes(self)  # the message routes, answered as Discord answers them
        self.people = MemberActions(self)  # what members do, sent to the bot through the gateway
        people = self.people
        self.click, self.react, self.submit_modal = people.click, people.react, people.submit_modal
        self.interact, self.autocomplete, self.attachment = people.interact, people.autocomplete, people.attachment

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
        app.router.add_get("/attachments/{mid}/{n}/{name}", self.routes.attachment)
        app.router.add_get("/uploads/{aid}/{name}", self.routes.upload)
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
                    shard = identify.get("shard", [0, 1])
                    if not (isinstance(shard, list) and len(shard) == 2 and 0 <= shard[0] < shard[1]):
                        # topics/opcodes-and-status-codes#gateway-close-event-codes: 4010 Invalid shard
                        await ws.close(code=4010, message=b"Invalid shard.")
                        break
                    intents = identify.get("intents", 0)
                    ws["intents"] = intents
                    ws["shard"] = (shard[0], shard[1])
                    await self._ready(ws, shard)
                    self.gateways.append(ws)
                    self.notify()
        finally:
            if ws in self.gateways:
                self.gateways.remove(ws)
        return ws

    # ---- shards (topics/gateway#sharding): a guild's events go to shard (guild_id >> 22) % num_shards only,
    # direct messages to shard 0 only ------------------------------------------------------------------

    def add_guild(self, guild_id: int, *channel_ids: int) -> None:
        """Before the bot connects: another server the bot is in, with these channels."""
        self.guilds[guild_id] = channel_ids

    def guild_of(self, channel_id: int) -> int:
        """The server a channel is in (GUILD_ID for its own channels and any the fake does not list)."""
        return next((g for g, channels in self.guilds.items() if channel_id in channels), GUILD_ID)

    @staticmethod
    def shard_of(guild_id: int | None, count: int) -> int:
        return 0 if guild_id is None else (guild_id >> 22) % count

    def _on_shard(self, ws: web.WebSocketResponse, guild_id: int | None) -> bool:
        shard, count = ws.get("shard", (0, 1))
        return bool(self.shard_of(guild_id, count) == shard)

    async def _ready(self, ws: web.WebSocketResponse, shard: list[int]) -> None:
        mine = [g for g in self.guilds if self._on_shard(ws, g)]
        await self._send(
            ws,
            0,
            {
                "v": 10,
                "user": user(BOT_ID, "comfybot", bot=True),
                "guilds": [{"id": str(g), "unavailable": True} for g in mine],
                "session_id": "fake-session",
                "resume_gateway_url": self.gateway_url,
                "shard": shard,
                "application": {"id": str(BOT_ID), "flags": 0},
            },
            "READY",
        )
        for guild_id in mine:
            await self._send(ws, 0, self.guild_payload(guild_id), "GUILD_CREATE")

    def guild_payload(self, guild_id: int = GUILD_ID) -> Json:
        if guild_id != GUILD_ID:
            return guild_payload([channel_payload(c, guild_id=guild_id) for c in self.guilds[guild_id]], 0, guild_id)
        channels = {CHANNEL_ID, *self.bot_denied}
        listed = [channel_payload(c, bot_denied=self.bot_denied.get(c, 0)) for c in sorted(channels)]
        return guild_payload(listed, self.premium_tier)

    async def _far(self) -> None:
        """Discord is a remote service: tens of milliseconds away (a fixed seed, so every run waits alike)."""
        if self.latency:
            await asyncio.sleep(self.latency * self._jitter.uniform(1 - self.jitter, 1 + self.jitter))

    async def dispatch(self, event: str, data: Json, *, intent: int = 0) -> None:
        """Send a dispatch to every identified session whose intents include `intent` (0: always sent) and whose
        shard the event's guild is on (a direct message: shard 0)."""
        await self._far()
        guild = data.get("guild_id") if isinstance(data, dict) else None
        guild_id = int(guild) if guild is not None else None
        for ws in list(self.gateways):
            if (intent == 0 or ws["intents"] & intent) and self._on_shard(ws, guild_id):
                await self._send(ws, 0, data, event)

    # ---- REST ------------------------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith(API):
            return await handler(request)  # type: ignore[no-any-return]
        await self._far()
        body, files, malformed = None, [], False
        try:
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
        except ValueError:  # reference#error-messages: 50109, "The request body contains invalid JSON."
            malformed = True
        except ConnectionResetError:  # the client closed its connection mid-body (a process stopping): no one to
            return web.Response(status=400)  # answer, and nothing Discord would record either
        recorded = Request(request.method, request.path[len(API) :], dict(request.query), body, files)
        self.requests.append(recorded)
        request[RECORDED] = recorded
        invalid = discord_openapi.request_errors(request.method, recorded.path, body)
        try:
            if malformed:
                raise Refused(400, 50109, "The request body contains invalid JSON.")
            if invalid:  # what Discord's own description of its API refuses, refused as Discord does
                recorded.code = 50035
                response = json_answer(discord_openapi.error_body(invalid), 400)
            else:
                response = await handler(request)
        except Refused as exc:
            recorded.code = exc.code
            response = error_answer(exc.status, exc.code, exc.message)
        except Limited as exc:
            recorded.code = 429
            response = json_answer(exc.body, 429, exc.headers)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:  # never a 500 for a body:
            recorded.code = 50035  # a value the fake could not use is a form body Discord would refuse
            response = error_answer(400, 50035, f"Invalid Form Body ({type(exc).__name__}: {exc})")
        recorded.status = response.status
        if self.check_answers and isinstance(response, web.Response) and response.content_type == "application/json":
            answered = json.loads(response.body) if isinstance(response.body, bytes) and response.body else None
            for problem in discord_openapi.answer_errors(request.method, recorded.path, response.status, answered):
                self.answer_problems.append(f"{request.method} {recorded.path} {response.status} {problem}")
        self.notify()
        return response

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        recorded = request[RECORDED]
        parts = path.split("/")
        method = request.method
        if request.headers.get("Authorization") != f"Bot {self.token}" and parts[0] not in ("interactions", "webhooks"):
            return error_answer(401, 0, "401: Unauthorized")  # topics/oauth2#bot-users: a bot's token, or nothing
        if path == "gateway/bot":
            return json_answer(
                {
                    "url": self.gateway_url,
                    "shards": self.recommended_shards,
                    "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
                }
            )
        if path == "users/@me":  # the spec's UserPIIResponse: the user, and what only they see of themselves
            return json_answer(user(BOT_ID, "comfybot", bot=True) | {"mfa_enabled": False, "locale": "en-US"})
        if path == "users/@me/channels" and method == "POST":  # open a DM with a member
            recipient = int((recorded.json or {})["recipient_id"])
            dm = {"id": str(DM_CHANNEL_ID + recipient), "type": 1, "last_message_id": None}
            return json_answer({**dm, "recipients": [user(recipient, f"member{recipient}")]})
        if path == "users/@me/guilds":
            return json_answer([{"id": str(g), "name": "Community", "icon": None, "owner": False} for g in self.guilds])
        if parts[0] == "guilds" and method == "GET":
            return self._guild_route(parts[1:])
        if parts[0] == "users" and len(parts) == 2 and method == "GET":
            return json_answer(user(int(parts[1]), f"member{parts[1]}"))
        if path in ("oauth2/applications/@me", "applications/@me"):
            return json_answer(
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
                    "flags_new": "0",
                    "type": None,
                    "team": None,
                    "redirect_uris": [],
                    "interactions_endpoint_url": None,
                    "role_connections_verification_url": None,
                    "approximate_guild_count": len(self.guilds),
                    "approximate_user_install_count": 0,
                    "approximate_user_authorization_count": 0,
                    "explicit_content_filter": 0,
                    "eligible_oauth2_scopes": [],
                }
            )
        if parts[0] == "applications" and parts[-1] == "commands":
            return self._commands(method, "global" if len(parts) == 3 else parts[3], recorded.json)
        if self.faults and parts[0] in ("interactions", "webhooks", "channels"):
            return self._fault(self.faults.popleft())
        if parts[0] == "interactions":
            return self.routes.callback(parts[1], parts[2], recorded)
        if parts[0] == "webhooks":
            return self.routes.webhook(method, parts[2], parts[3:], recorded)
        if parts[0] == "channels" and len(parts) >= 3 and parts[2] == "messages":
            return self.routes.channel_message(method, int(parts[1]), parts[3:], recorded)
        return error_answer(404, 0, f"no such route in the fake: {method} {path}")

    def _guild_route(self, rest: list[str]) -> web.Response:
        """GET /guilds/{id}[/roles|/channels|/members/{user}] (resources/guild), as the bot token sees them."""
        if not rest[0].isdigit() or int(rest[0]) not in self.guilds:
            raise Refused(404, 10004, "Unknown Guild")
        guild = self.guild_payload(int(rest[0]))
        if len(rest) == 1:
            return json_answer({k: v for k, v in guild.items() if k not in ("channels", "members")})
        if rest[1] in ("roles", "channels"):
            return json_answer(guild[rest[1]])
        if rest[1] == "members" and len(rest) == 3:
            member = next((m for m in guild["members"] if m["user"]["id"] == rest[2]), None)
            member = member or self.members.get((int(rest[0]), int(rest[2]) if rest[2].isdigit() else 0))
            if member is None:
                raise Refused(404, 10007, "Unknown Member")
            return json_answer(member)
        return error_answer(404, 0, "no such guild route in the fake")

    def _fault(self, status: int) -> web.Response:
        """An outage answer, as Discord gives them: 429 with when to retry, or a bare 5xx."""
        self.faulted[status] = self.faulted.get(status, 0) + 1
        if status == 429:
            headers = {"Retry-After": "0.2", "X-RateLimit-Scope": "shared", "Via": "1.1 google"}
            body = {"code": 0, "message": "You are being rate limited.", "retry_after": 0.2, "global": False}
            return json_answer(body, 429, headers)
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
                    # answered as Discord stores them: a permission set as a string, the install contexts filled in
                    "default_member_permissions": _permission_string(cmd.get("default_member_permissions")),
                    "type": cmd.get("type", 1),
                    "integration_types": cmd.get("integration_types") or [0],
                }
                for cmd in body or []
            ]
        return json_answer(self.commands.get(scope, []))

    # ---- what tests look at ----------------------------------------------------------------------------

    def original(self, interaction: Interaction) -> Message:
        assert interaction.message_id is not None, "the interaction was never acknowledged"
        return self.messages[interaction.message_id]

    def sent(self, method: str, prefix: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    def refused(self) -> list[Request]:
        """Every request Discord would have refused for breaking a rule (4xx other than injected faults)."""
        return [r for r in self.requests if 400 <= r.status < 500 and r.status != 429]


def _permission_string(value: Any) -> str | None:
    return None if value is None else str(value)

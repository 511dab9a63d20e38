"""The fake Discord's message routes: interaction callbacks, interaction webhooks and channel messages, each
answered as Discord answers it (the rules and their sources are listed in discord_api.py's docstring)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .discord_payloads import (
    ADD_REACTIONS,
    ATTACH_FILES,
    AUTOCOMPLETE,
    COMMAND,
    COMPONENT,
    DM_CHANNEL_ID,
    EMBED_LINKS,
    EPHEMERAL,
    LOADING,
    MANAGE_MESSAGES,
    MODAL_SUBMIT,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    File,
    Interaction,
    Json,
    Message,
    Request,
)
from .discord_rules import Refused, check_message, check_modal, check_not_empty, invalid

if TYPE_CHECKING:
    from .discord_api import FakeDiscord

MENTION = re.compile(r"<@!?(\d+)>")
# interactions/receiving-and-responding#interaction-response-object-interaction-callback-type
PONG, MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, AUTOCOMPLETE_RESULT, MODAL = 1, 4, 5, 6, 7, 8, 9
ALLOWED_CALLBACKS = {
    COMMAND: {MESSAGE, DEFERRED_MESSAGE, MODAL},
    COMPONENT: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, MODAL},
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE},
}


class MessageRoutes:
    """The routes of one FakeDiscord, whose state (its messages, interactions, limits, members' settings) they
    read and change."""

    def __init__(self, discord: FakeDiscord) -> None:
        self.discord = discord

    def _need(self, channel_id: int, permissions: int) -> None:
        if channel_id >= DM_CHANNEL_ID and channel_id - DM_CHANNEL_ID in self.discord.dms_closed:
            raise Refused(403, 50007, "Cannot send messages to this user")
        if channel_id >= DM_CHANNEL_ID:
            return
        if self.discord.bot_permissions(channel_id) & permissions != permissions:
            raise Refused(403, 50013, "Missing Permissions")

    # ---- interactions ----------------------------------------------------------------------------------

    def callback(self, interaction_id: str, token: str, recorded: Request) -> web.Response:
        interaction = self.discord.interactions.get(token)
        if interaction is None or str(interaction.id) != interaction_id:
            raise Refused(404, 10062, "Unknown interaction")
        if time.monotonic() - interaction.created > self.discord.ack_deadline:
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
        answered: Json = {"id": interaction_id, "type": interaction.kind}
        if message is not None:
            interaction.message_id = message.id
        if self.discord.sparse_callbacks:
            return json_answer({"interaction": answered})
        if message is not None:
            answered["response_message_id"] = str(message.id)  # a snowflake, never null: absent when none
        if message is not None and kind in (MESSAGE, UPDATE):  # the spec's resources: a message made or changed
            resource["message"] = message.payload(self.base())
        answered["response_message_loading"] = kind == DEFERRED_MESSAGE
        answered["response_message_ephemeral"] = interaction.ephemeral
        return json_answer({"interaction": answered, **({"resource": resource} if "message" in resource else {})})

    def _respond(self, interaction: Interaction, kind: Any, data: Json, files: list[File]) -> Message | None:
        """The message an accepted callback makes or changes (None: a modal, an autocomplete, a deferred
        update); Refused before anything changes when Discord would refuse it."""
        if kind not in ALLOWED_CALLBACKS[interaction.kind]:
            raise invalid("type", f"Interaction callback type {kind} is not valid for this interaction")
        if kind == MODAL:
            check_modal(data)
            return None
        if kind == AUTOCOMPLETE_RESULT:
            # interactions/application-commands#application-command-object-application-command-option-choice-
            # structure: up to 25 choices, each a name of 1-100 characters and a string value of at most 100
            choices = data.get("choices") or []
            if len(choices) > 25:
                raise invalid("data.choices", "Must be 25 or fewer in length.")
            for n, choice in enumerate(choices):
                if not 1 <= len(str(choice.get("name") or "")) <= 100:
                    raise invalid(f"data.choices.{n}.name", "Must be between 1 and 100 in length.")
                if isinstance(choice.get("value"), str) and len(choice["value"]) > 100:
                    raise invalid(f"data.choices.{n}.value", "Must be 100 or fewer in length.")
            return None
        ephemeral = bool((data.get("flags") or 0) & EPHEMERAL)
        if kind == DEFERRED_MESSAGE:
            interaction.ephemeral = ephemeral
            message = Message(
                next(self.discord._ids),
                interaction.channel_id,
                flags=LOADING | (EPHEMERAL if ephemeral else 0),
                guild_id=interaction.guild_id,
            )
            self.discord.messages[message.id] = message
            return message
        if kind == MESSAGE:
            message = Message(
                next(self.discord._ids),
                interaction.channel_id,
                flags=EPHEMERAL if ephemeral else 0,
                guild_id=interaction.guild_id,
            )
            interaction.ephemeral = ephemeral
            return self._store(message, data, files, edit=False, limit=interaction.attachment_size_limit)
        source = self.discord.messages.get(interaction.source_message_id or 0)
        if source is None:
            raise Refused(404, 10008, "Unknown Message")
        interaction.ephemeral = source.ephemeral
        if kind == UPDATE:
            self._store(source, data, files, edit=True, limit=interaction.attachment_size_limit)
        return source  # DEFERRED_UPDATE: @original is the component's message; nothing is created

    def base(self) -> str:
        return f"http://127.0.0.1:{self.discord.port}"

    def webhook(self, method: str, token: str, rest: list[str], recorded: Request) -> web.StreamResponse:
        interaction = self.discord.interactions.get(token)
        if interaction is None:
            raise Refused(404, 10015, "Unknown Webhook")
        if time.monotonic() - interaction.created > self.discord.token_lifetime:
            raise Refused(401, 50027, "Invalid Webhook Token")
        headers = self.discord.limits.take("interaction-webhook", token, global_bound=False)
        if interaction.callback_type is None:
            raise Refused(404, 10015, "Unknown Webhook")  # nothing to follow up before the acknowledgement
        limit = interaction.attachment_size_limit
        data = recorded.json or {}
        if not rest:  # POST /webhooks/{app}/{token}: a follow-up message
            self.discord.limits.take("channel-webhook-create", str(interaction.channel_id), global_bound=False)
            original = self.discord.messages.get(interaction.message_id or 0)
            if interaction.callback_type == DEFERRED_MESSAGE and original is not None and original.flags & LOADING:
                # the first follow-up after a deferred reply is that reply: it keeps the defer's ephemerality
                self._store(original, data, recorded.files, edit=True, limit=limit)
                original.flags &= ~LOADING
                original.edits -= 1
                return json_answer(original.payload(self.base()), headers=headers)
            ephemeral = EPHEMERAL if (data.get("flags") or 0) & EPHEMERAL else 0
            message = Message(
                next(self.discord._ids), interaction.channel_id, flags=ephemeral, guild_id=interaction.guild_id
            )
            created = self._store(message, data, recorded.files, edit=False, limit=limit)
            return json_answer(created.payload(self.base()), headers=headers)
        target = interaction.message_id if rest[1] == "@original" else int(rest[1])
        found = self.discord.messages.get(target or 0)
        if found is None:
            raise Refused(404, 10008, "Unknown Message")
        message = found
        if method == "GET":
            return json_answer(message.payload(self.base()), headers=headers)
        if method == "DELETE":
            del self.discord.messages[message.id]
            self.discord.deleted.append(message.id)
            return web.Response(status=204, headers=headers)
        self._store(message, data, recorded.files, edit=True, limit=limit)
        message.flags &= ~LOADING
        return json_answer(message.payload(self.base()), headers=headers)

    # ---- channel routes --------------------------------------------------------------------------------

    def channel_message(self, method: str, channel_id: int, rest: list[str], recorded: Request) -> web.StreamResponse:
        data = recorded.json or {}
        resource = str(channel_id)
        if method == "POST" and not rest:
            headers = self.discord.limits.take("message-create", resource)
            needed = VIEW_CHANNEL | SEND_MESSAGES | (EMBED_LINKS if data.get("embeds") else 0)
            self._need(channel_id, needed | (ATTACH_FILES if recorded.files else 0))
            message = Message(next(self.discord._ids), channel_id, guild_id=self.discord.guild_of(channel_id))
            created = self._store(message, data, recorded.files, edit=False, limit=self.discord.upload_limit)
            return json_answer(created.payload(self.base()), headers=headers)
        if len(rest) >= 3 and rest[1] == "reactions":  # PUT .../reactions/{emoji}/@me, DELETE .../{emoji}/{user}
            headers = self.discord.limits.take("reaction", resource)
            self._message(channel_id, rest[0])
            who = rest[3] if len(rest) > 3 else ""
            if method == "PUT":
                self._need(channel_id, VIEW_CHANNEL | READ_MESSAGE_HISTORY | ADD_REACTIONS)
            elif who != "@me":
                self._need(channel_id, VIEW_CHANNEL | MANAGE_MESSAGES)  # another user's reaction
            self.discord.reactions.append((method, int(rest[0]), rest[2], who))
            return web.Response(status=204, headers=headers)
        if not rest:
            return error_answer(405, 0, "method not allowed in the fake")
        if method == "GET":
            self._need(channel_id, VIEW_CHANNEL | READ_MESSAGE_HISTORY)
            return json_answer(self._message(channel_id, rest[0]).payload(self.base()))
        if method == "PATCH":
            headers = self.discord.limits.take("message-edit", resource)
            message = self._message(channel_id, rest[0])
            self._need(channel_id, VIEW_CHANNEL | (EMBED_LINKS if data.get("embeds") else 0))
            self._need(channel_id, ATTACH_FILES if recorded.files else 0)
            self._store(message, data, recorded.files, edit=True, limit=self.discord.upload_limit)
            return json_answer(message.payload(self.base()), headers=headers)
        if method == "DELETE":
            headers = self.discord.limits.take("message-delete", resource)
            message = self._message(channel_id, rest[0])
            self._need(channel_id, VIEW_CHANNEL)  # the bot's own message: no Manage Messages needed
            del self.discord.messages[message.id]
            self.discord.deleted.append(message.id)
            return web.Response(status=204, headers=headers)
        return error_answer(405, 0, "method not allowed in the fake")

    def _message(self, channel_id: int, message_id: str) -> Message:
        message = self.discord.messages.get(int(message_id)) if message_id.isdigit() else None
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
        self.discord.messages[message.id] = message
        return message

    async def attachment(self, request: web.Request) -> web.Response:
        if self.discord.attachment_delay:
            await asyncio.sleep(self.discord.attachment_delay)  # a slow CDN, as a test asks (not synchronisation)
        message = self.discord.messages.get(int(request.match_info["mid"]))
        if message is None:
            return web.Response(status=404)
        file = message.files[int(request.match_info["n"])]
        return web.Response(body=file.data, content_type=file.content_type or "application/octet-stream")

    async def upload(self, request: web.Request) -> web.Response:
        file = self.discord.uploads.get(request.match_info["aid"])
        if file is None:
            return web.Response(status=404)
        return web.Response(body=file.data, content_type=file.content_type)


def json_answer(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py reads JSON only with exactly this content type: no "; charset=utf-8", so bytes, not text.
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json", headers=headers)


def error_answer(status: int, code: int, message: str) -> web.Response:
    return json_answer({"code": code, "message": message}, status)


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

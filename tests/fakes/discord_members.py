"""What members do, as the fake Discord sends it to the bot: slash commands, button presses and menu picks,
modal submissions, reactions, attachments (each an INTERACTION_CREATE or MESSAGE_REACTION_ADD dispatch)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .discord_payloads import (
    AUTOCOMPLETE,
    BOT_ID,
    CHANNEL_ID,
    COMMAND,
    COMPONENT,
    INTENT_GUILD_MESSAGE_REACTIONS,
    MODAL_SUBMIT,
    USER_ID,
    File,
    Interaction,
    Json,
    Message,
    channel_payload,
    member_payload,
    user,
)

if TYPE_CHECKING:
    from .discord_api import FakeDiscord


class MemberActions:
    """What members do on one FakeDiscord, sent through its gateway."""

    def __init__(self, discord: FakeDiscord) -> None:
        self.discord = discord

    def _new_interaction(
        self, channel_id: int, user_id: int, kind: int, source_message_id: int | None = None
    ) -> Interaction:
        limit = max(self.discord.upload_limit, self.discord.attachment_size_limit or 0)
        interaction = Interaction(
            next(self.discord._ids),
            f"token-{next(self.discord._ids)}",
            channel_id,
            user_id,
            kind=kind,
            attachment_size_limit=limit,
            source_message_id=source_message_id,
            guild_id=self.discord.guild_of(channel_id),
        )
        self.discord.interactions[interaction.token] = interaction
        return interaction

    async def click(
        self, message: Message, custom_id: str, *, user_id: int = USER_ID, member: Json | None = None, **data: Any
    ) -> Interaction:
        """A member uses a component on `message` (a button; a select menu with `values=[...]`); `member`
        overrides member fields, as for `interact`."""
        interaction = self._new_interaction(message.channel_id, user_id, COMPONENT, message.id)
        body = {"custom_id": custom_id, "component_type": 3 if "values" in data else 2, **data}
        payload = self.payload_of(interaction, body, member_payload(user_id, member))
        await self.discord.dispatch(
            "INTERACTION_CREATE", {**payload, "message": message.payload(self.discord.routes.base())}
        )
        return interaction

    async def react(
        self, message: Message, emoji: str, *, user_id: int = USER_ID, roles: list[int] | None = None, bot: bool = False
    ) -> None:
        """A reaction added to `message` (sent only to sessions with the guild-reactions intent)."""
        member = member_payload(user_id) | {"roles": [str(r) for r in roles or []]}
        if bot:
            member["user"] = user(BOT_ID, "comfybot", bot=True)
        else:  # a member of the server from now on, as GET /guilds/{id}/members/{user} answers (no `permissions`)
            stored = {k: v for k, v in member.items() if k != "permissions"}
            self.discord.members[(self.discord.guild_of(message.channel_id), user_id)] = stored
        await self.discord.dispatch(
            "MESSAGE_REACTION_ADD",
            {
                "user_id": str(BOT_ID if bot else user_id),
                "channel_id": str(message.channel_id),
                "message_id": str(message.id),
                "guild_id": str(self.discord.guild_of(message.channel_id)),
                "member": member,
                "emoji": {"id": None, "name": emoji},
                "burst": False,
                "type": 0,
                "message_author_id": str(BOT_ID),
            },
            intent=INTENT_GUILD_MESSAGE_REACTIONS,
        )

    async def submit_modal(
        self,
        custom_id: str,
        values: dict[str, str],
        *,
        user_id: int = USER_ID,
        message: Message | None = None,
        member: Json | None = None,
    ) -> Interaction:
        """A member submits a modal the bot opened (`custom_id` from the type-9 callback): one text input each.
        `message`: the message whose button opened it; `member` overrides member fields (their roles), as for
        `click`."""
        channel = message.channel_id if message is not None else CHANNEL_ID
        interaction = self._new_interaction(channel, user_id, MODAL_SUBMIT, message.id if message else None)
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]} for key, value in values.items()
        ]
        data = {"custom_id": custom_id, "components": rows}
        payload = self.payload_of(interaction, data, member_payload(user_id, member))
        if message is not None:
            payload["message"] = message.payload(self.discord.routes.base())
        await self.discord.dispatch("INTERACTION_CREATE", payload)
        return interaction

    def attachment(self, filename: str, data: bytes, content_type: str = "image/png") -> tuple[str, Json]:
        """A file a member attached to a command: its id, and the `resolved` payload that carries it."""
        attachment_id = str(next(self.discord._ids))
        self.discord.uploads[attachment_id] = File(filename, data, content_type)
        url = f"{self.discord.routes.base()}/uploads/{attachment_id}/{filename}"
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
        guild_id: int | None = None,
    ) -> Interaction:
        """A member runs a slash command: INTERACTION_CREATE goes out; the returned record follows it.
        `member` overrides member fields (`{"permissions": "32"}` makes them a moderator); `guild_id` is the
        server they are in (with one of its channels; by default the channel's)."""
        interaction = self._new_interaction(channel_id, user_id, COMMAND)
        if guild_id is not None:
            interaction.guild_id = guild_id
        data: Json = {"id": str(next(self.discord._ids)), "name": name, "type": 1, "options": options or []}
        if resolved:
            data["resolved"] = resolved
        payload = self.payload_of(interaction, data, member_payload(user_id, member), locale=locale)
        await self.discord.dispatch("INTERACTION_CREATE", payload)
        return interaction

    async def autocomplete(
        self, name: str, options: list[Json], focused: str, *, user_id: int = USER_ID
    ) -> Interaction:
        """A member types into option `focused` of a slash command: an APPLICATION_COMMAND_AUTOCOMPLETE
        interaction (type 4) with the options typed so far, the focused one marked (docs.discord.com/developers/
        interactions/receiving-and-responding#interaction-object-application-command-data-structure)."""
        interaction = self._new_interaction(CHANNEL_ID, user_id, AUTOCOMPLETE)
        typed = [{**o, "focused": True} if o["name"] == focused else o for o in options]
        data: Json = {"id": str(next(self.discord._ids)), "name": name, "type": 1, "options": typed}
        await self.discord.dispatch("INTERACTION_CREATE", self.payload_of(interaction, data, member_payload(user_id)))
        return interaction

    def payload_of(self, interaction: Interaction, data: Json, member: Json, *, locale: str = "en-US") -> Json:
        return {
            "id": str(interaction.id),
            "application_id": str(BOT_ID),
            "type": interaction.kind,
            "data": data,
            "token": interaction.token,
            "version": 1,
            "guild_id": str(interaction.guild_id),
            "channel_id": str(interaction.channel_id),
            "channel": channel_payload(
                interaction.channel_id,
                bot_denied=self.discord.bot_denied.get(interaction.channel_id, 0),
                guild_id=interaction.guild_id,
            ),
            "member": member,
            "app_permissions": str(self.discord.bot_permissions(interaction.channel_id)),
            "locale": locale,
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(interaction.guild_id)},
            "context": 0,
            "attachment_size_limit": interaction.attachment_size_limit,
        }

"""Where one job's message lives and how to reach it now, route by route.

Each route has its own rules (docs.discord.com/developers/reference#uploading-files and
interactions/receiving-and-responding): the interaction's webhook takes files up to the interaction's
`attachment_size_limit` (the member's Nitro may raise it), the channel route up to the guild's limit (its boost
tier), a direct message up to 10 MiB; so results are fitted to the route actually used. An ephemeral reply is
reachable only through its token; past it, a private result goes by direct message; when the member's direct
messages are closed, `Unreachable` says so (the caller holds the result for /history).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

import discord

from bot.i18n import Text

from .fit import fit_content
from .mentions import only_them
from .render import Rendered

log = logging.getLogger(__name__)
DEFAULT_UPLOAD_LIMIT = 10 * 2**20  # a guild without boosts, and direct messages
MakeView = Callable[[int], Awaitable[Rendered]]  # the upload limit of the route used -> what to send through it


class Unreachable(Exception):
    """The member cannot be shown this result anywhere the bot may post it (their direct messages are closed)."""


@dataclass
class MessageTarget:
    """Where one job's message lives, and how to edit it now."""

    client: discord.Client
    channel_id: int
    user_id: int
    message_id: int | None
    token: str | None
    created: float  # wall clock of the interaction
    handoff_after: float
    interaction_limit: int = DEFAULT_UPLOAD_LIMIT  # the interaction's attachment_size_limit
    guild_id: int | None = None
    moved: bool = False  # edits go through the channel route now
    private: bool = False  # an ephemeral reply: only its token can edit it; past that, the result goes by DM
    notes: list[Text] = field(default_factory=list)  # said with the final message (where it had to go instead)

    def _token_alive(self) -> bool:
        return self.token is not None and not self.moved and time.time() - self.created < self.handoff_after

    def _webhook(self) -> discord.Webhook:
        """The interaction's webhook as an application webhook (as `Interaction.followup` is), so discord.py
        lets it send ephemeral follow-ups."""
        assert self.token is not None and self.client.application_id is not None
        webhook = discord.Webhook.partial(self.client.application_id, self.token, client=self.client)
        webhook.type = discord.WebhookType.application
        return webhook

    def bucket(self) -> Hashable:
        """The rate-limit bucket the next edit counts against: the interaction's webhook is bucketed by its token,
        the bot-token routes by their channel (docs.discord.com/developers/topics/rate-limits)."""
        if self._token_alive() and self.message_id is not None:
            return ("interaction", self.token)
        return ("direct", self.user_id) if self.private else ("channel", self.channel_id)

    def channel_limit(self) -> int:
        guild = self.client.get_guild(self.guild_id) if self.guild_id is not None else None
        return guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT

    def limit_now(self) -> int:
        """The upload limit of the route the next message will take."""
        if self._token_alive():
            return self.interaction_limit
        return DEFAULT_UPLOAD_LIMIT if self.private else self.channel_limit()

    async def edit(self, make: MakeView, *, final: bool) -> None:
        """Edit the job's message. When it cannot be edited at all, progress is skipped and only the final
        state is posted, once, as a new message that mentions the member (never one message per update)."""
        if self._token_alive() and self.message_id is not None:
            view = await make(self.limit_now())
            try:
                await self._webhook().edit_message(
                    self.message_id, content=view.content, embed=view.embed, attachments=view.files, view=view.view
                )
                return
            except discord.HTTPException as exc:
                if exc.status != 401 and exc.code != 50027:
                    raise
                log.info("interaction token expired; moving to the channel route")
        self.moved = True
        if self.private:
            if final:  # nobody else may see it: the member's DMs are the only private place left
                await self._direct(await make(DEFAULT_UPLOAD_LIMIT))
            return
        channel = self.client.get_partial_messageable(self.channel_id, guild_id=self.guild_id)
        view = await make(self.channel_limit())
        if self.message_id is not None:
            try:
                await channel.get_partial_message(self.message_id).edit(
                    content=view.content, embed=view.embed, attachments=view.files, view=view.view
                )
                return
            except (discord.Forbidden, discord.NotFound) as exc:
                if not final:
                    log.info("cannot edit the job's message (%s); the result will be posted anew", exc)
                    return
                log.info("cannot edit the job's message through the channel (%s); posting a new one", exc)
                view = await make(self.channel_limit())  # afresh: a sent file's stream has been read
        try:
            await self._post(channel, view)
        except discord.Forbidden as exc:
            if not final:
                raise
            log.info(
                "the bot may not post in channel %s (%s); sending the result by direct message", self.channel_id, exc
            )
            self.notes.append(Text("delivery.not_in_channel", channel=f"<#{self.channel_id}>"))
            await self._direct(await make(DEFAULT_UPLOAD_LIMIT))

    async def _post(self, channel: discord.PartialMessageable, view: Rendered) -> None:
        text = fit_content(f"<@{self.user_id}> {view.content}".strip())
        buttons = view.view if view.view is not None else discord.utils.MISSING
        embed = view.embed if view.embed is not None else discord.utils.MISSING
        message = await channel.send(
            content=text, embed=embed, files=view.files, view=buttons, allowed_mentions=only_them(self.user_id)
        )
        self.message_id = message.id

    async def _direct(self, view: Rendered) -> None:
        user = await self.client.fetch_user(self.user_id)
        embed = view.embed if view.embed is not None else discord.utils.MISSING
        try:
            await user.send(content=view.content or None, embed=embed, files=view.files)
        except discord.Forbidden as exc:  # 50007: their direct messages are closed
            raise Unreachable(str(exc)) from exc

    async def follow_up(self, files: list[discord.File]) -> None:
        if self._token_alive():
            await self._webhook().send(files=files, ephemeral=self.private)
        elif self.private:
            try:
                await (await self.client.fetch_user(self.user_id)).send(files=files)
            except discord.Forbidden as exc:
                raise Unreachable(str(exc)) from exc
        else:
            await self.client.get_partial_messageable(self.channel_id, guild_id=self.guild_id).send(files=files)

    async def tell_held(self, locale: str) -> None:
        """Where the member can see it: their result is waiting in /history (the result itself is not shown)."""
        text = Text("delivery.held").render(locale)
        channel = self.client.get_partial_messageable(self.channel_id, guild_id=self.guild_id)
        try:
            await channel.send(fit_content(f"<@{self.user_id}> {text}"), allowed_mentions=only_them(self.user_id))
        except discord.HTTPException as exc:
            log.warning("could not tell member %s that their result is held: %s", self.user_id, exc)

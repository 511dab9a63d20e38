"""The engine's listener on Discord: each job's message follows its state within the edit budget.

A job's message is the interaction's reply. Interaction tokens die after 15 minutes, so once a job is older
than `handoff_after` (14 minutes by default) its message is edited through the bot-token channel route; where
that is impossible (an ephemeral reply, a missing permission) a new message mentions the member instead. What
a target needs is kept in the store, so a restarted bot edits the same messages.

Each route has its own rules (docs.discord.com/developers/reference#uploading-files and
interactions/receiving-and-responding): the interaction's webhook takes files up to the interaction's
`attachment_size_limit` (the member's Nitro may raise it), the channel route up to the guild's limit (its boost
tier), a direct message up to 10 MiB; so results are fitted to the route actually used. An ephemeral reply is
reachable only through its token; past it, a private result goes by direct message, and when the member's
direct messages are closed it is held for `/history`, and the member is told so.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import discord

from bot.i18n import Text
from bot.jobs import held
from bot.jobs.events import Delivered, JobEvent
from bot.jobs.followups import FollowUps
from bot.jobs.model import Job
from bot.jobs.ports import JobListener
from bot.jobs.store import SqliteJobStore, StoredReply
from bot.media import FittedImage, fit_image

from .fit import fit_content
from .mentions import only_them
from .presenter import ProgressPresenter
from .render import Rendered, ResultActions, render_final, render_plain, render_progress

log = logging.getLogger(__name__)
DEFAULT_UPLOAD_LIMIT = 10 * 2**20  # a guild without boosts, and direct messages
BACKOFF = (2.0, 4.0, 8.0)  # seconds before each new try of a final message Discord failed to take
MakeView = Callable[[int], Rendered]  # the upload limit of the route used -> what to send through it


class Unreachable(Exception):
    """The member cannot be shown this result anywhere the bot may post it (their direct messages are closed)."""


async def _patiently(action: Callable[[], Awaitable[None]]) -> None:
    """A final message is not given up on a Discord outage: 5xx and 429 answers are tried again, with backoff,
    after discord.py's own retries (a progress update is simply superseded, so only finals come here)."""
    for delay in (*BACKOFF, None):
        try:
            await action()
            return
        except discord.HTTPException as exc:
            if delay is None or not (exc.status >= 500 or exc.status == 429):
                raise
            log.warning("Discord did not take a final message (%s); trying again in %.0f s", exc.status, delay)
            await asyncio.sleep(delay)


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
            view = make(self.limit_now())
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
                await self._direct(make(DEFAULT_UPLOAD_LIMIT))
            return
        channel = self.client.get_partial_messageable(self.channel_id, guild_id=self.guild_id)
        view = make(self.channel_limit())
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
                view = make(self.channel_limit())  # afresh: a sent file's stream has been read
        try:
            await self._post(channel, view)
        except discord.Forbidden as exc:
            if not final:
                raise
            log.info(
                "the bot may not post in channel %s (%s); sending the result by direct message", self.channel_id, exc
            )
            self.notes.append(Text("delivery.not_in_channel", channel=f"<#{self.channel_id}>"))
            await self._direct(make(DEFAULT_UPLOAD_LIMIT))

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


def _plainly(view: MakeView, locale: str, limit: int) -> Rendered:
    return render_plain(view(limit), locale)


class JobMessages(JobListener):
    def __init__(
        self,
        presenter: ProgressPresenter,
        *,
        handoff_after: float = 14 * 60,
        followups: FollowUps | None = None,
        store: SqliteJobStore | None = None,
    ) -> None:
        self.presenter = presenter
        self.followups = followups
        self.store = store
        self.handoff_after = handoff_after
        self.client: discord.Client | None = None  # set once the bot exists
        self._targets: dict[str, MessageTarget] = {}

    def _target(self, interaction: discord.Interaction, message_id: int | None, private: bool = False) -> MessageTarget:
        return MessageTarget(
            interaction.client,
            interaction.channel_id or 0,
            interaction.user.id,
            message_id,
            interaction.token,
            interaction.created_at.timestamp(),
            self.handoff_after,
            getattr(interaction, "filesize_limit", None) or DEFAULT_UPLOAD_LIMIT,
            guild_id=interaction.guild_id,
            private=private,
        )

    def attach(self, job: Job, interaction: discord.Interaction, message_id: int | None) -> None:
        self._targets[job.id] = self._target(interaction, message_id, job.request.private)

    def attach_channel(self, job: Job, client: discord.Client, channel_id: int, message_id: int) -> None:
        """A job whose message the bot posted itself (a reroll from a reaction): edited through the channel."""
        self._targets[job.id] = MessageTarget(
            client,
            channel_id,
            job.user_id,
            message_id,
            None,
            job.created,
            self.handoff_after,
            guild_id=job.request.guild_id,
        )

    def attach_direct(self, job: Job, client: discord.Client, channel_id: int) -> None:
        """A private job with no interaction (a reaction's reroll): no message until its result, by DM."""
        self._targets[job.id] = MessageTarget(
            client, channel_id, job.user_id, None, None, job.created, self.handoff_after, private=True
        )

    def restore(self, job: Job, reply: StoredReply) -> None:
        if self.client is None:
            return
        self._targets[job.id] = MessageTarget(
            self.client,
            reply.channel_id,
            job.user_id,
            reply.message_id,
            reply.token,
            job.created,
            self.handoff_after,
            guild_id=job.request.guild_id,
            private=job.request.private,
        )

    async def refuse(self, interaction: discord.Interaction, message_id: int | None, text: str) -> None:
        """A request that never became a job: the reason (in the member's language) replaces the reply, within
        the same edit budget."""
        target = self._target(interaction, message_id)
        key = f"refusal-{interaction.id}"
        refusal = Rendered(content=fit_content(text))

        async def send(_: object) -> None:
            await target.edit(lambda _limit: refusal, final=True)

        await self.presenter.show_final(key, interaction.channel_id or 0, send, text)

    def job_changed(self, job: Job, event: JobEvent) -> None:
        target = self._targets.get(job.id)
        if target is None:
            return
        values, locale = job.request.bound.values, job.request.locale

        async def send(state: JobEvent) -> None:
            await target.edit(lambda _limit: render_progress(state, values, job.id, locale), final=False)

        self.presenter.show(job.id, job.request.channel_id, send, event)

    async def job_finished(self, job: Job, event: JobEvent) -> None:
        target = self._targets.get(job.id)
        if target is None:
            return
        bound = job.request.bound
        fitted: dict[int, list[FittedImage]] = {}  # upload limit -> the images fitted to it

        def images(limit: int) -> list[FittedImage]:
            if isinstance(event, Delivered) and limit not in fitted:
                fitted[limit] = [fit_image(image.data, image.filename, limit) for image in event.images]
            return fitted.get(limit, [])

        actions = ResultActions(
            job.id,
            can_vary=self.followups is not None and self.followups.vary_template() is not None,
            can_upscale=self.followups is not None and self.followups.upscale_template() is not None,
            kind=job.request.kind,
            note=job.request.note,
            spoiler=job.request.spoiler,
            locale=job.request.locale,
        )

        def view(limit: int) -> Rendered:  # afresh for each try: a sent file's stream has been read
            return render_final(event, bound.values, bound.template, images(limit), actions, notes=target.notes)

        batches = len(view(DEFAULT_UPLOAD_LIMIT).followups)  # more than 10 images continue in follow-up messages

        async def send(_: JobEvent) -> None:
            try:
                try:
                    await _patiently(lambda: target.edit(view, final=True))
                except discord.HTTPException as exc:
                    if exc.status != 400:
                        raise
                    log.error(
                        "job %s: Discord refused the final message (%s: %s); sending it plainly",
                        job.id,
                        exc.code,
                        exc.text,
                    )
                    plain = functools.partial(_plainly, view, job.request.locale)
                    await _patiently(lambda: target.edit(plain, final=True))
                for index in range(batches):
                    await _patiently(functools.partial(follow_up, index))
            except Unreachable as exc:
                await self._hold(job, target, images(DEFAULT_UPLOAD_LIMIT), exc)

        async def follow_up(index: int) -> None:
            await target.follow_up(view(target.limit_now()).followups[index])

        first = target.message_id
        try:
            await self.presenter.show_final(job.id, job.request.channel_id, send, event)
        finally:
            self._targets.pop(job.id, None)
        if target.message_id is not None and target.message_id != first and self.store is not None:
            await self.store.moved(job.id, target.channel_id, target.message_id)

    async def _hold(self, job: Job, target: MessageTarget, images: list[FittedImage], why: Exception) -> None:
        """Nowhere to show the result now: keep it for /history and tell the member so where they can see it."""
        log.info("job %s: the member cannot be reached (%s); the result is held for /history", job.id, why)
        if self.store is None or not images:
            raise why
        files = [held.HeldFile(image.filename, image.data) for image in images]
        await held.hold(self.store, job.id, job.user_id, files)
        await target.tell_held(job.request.locale)

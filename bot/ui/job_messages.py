"""The engine's listener on Discord: each job's message follows its state within the edit budget.

A job's message is the interaction's reply. Interaction tokens die after 15 minutes, so once a job is older
than `handoff_after` (14 minutes by default) its message is edited through the bot-token channel route; where
that is impossible (an ephemeral reply, a missing permission) a new message mentions the member instead. What
a target needs is kept in the store, so a restarted bot edits the same messages.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import discord

from bot.jobs.events import Delivered, JobEvent
from bot.jobs.followups import FollowUps
from bot.jobs.model import Job
from bot.jobs.ports import JobListener
from bot.jobs.store import StoredReply
from bot.media import fit_image

from .presenter import ProgressPresenter
from .render import Rendered, ResultActions, render_final, render_progress

log = logging.getLogger(__name__)
DEFAULT_UPLOAD_LIMIT = 10 * 2**20
BACKOFF = (2.0, 4.0, 8.0)  # seconds before each new try of a final message Discord failed to take


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
    upload_limit: int = DEFAULT_UPLOAD_LIMIT
    moved: bool = False  # edits go through the channel route now
    private: bool = False  # an ephemeral reply: only its token can edit it; past that, the result goes by DM

    def _token_alive(self) -> bool:
        return self.token is not None and not self.moved and time.time() - self.created < self.handoff_after

    def _webhook(self) -> discord.Webhook:
        assert self.token is not None and self.client.application_id is not None
        return discord.Webhook.partial(self.client.application_id, self.token, client=self.client)

    async def edit(self, view: Rendered, *, final: bool) -> None:
        """Edit the job's message. When it cannot be edited at all, progress is skipped and only the final
        state is posted, once, as a new message that mentions the member (never one message per update)."""
        if self._token_alive() and self.message_id is not None:
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
                await self._direct(view)
            return
        channel = self.client.get_partial_messageable(self.channel_id)
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
        text = f"<@{self.user_id}> {view.content}".strip()
        buttons = view.view if view.view is not None else discord.utils.MISSING
        embed = view.embed if view.embed is not None else discord.utils.MISSING
        message = await channel.send(content=text, embed=embed, files=view.files, view=buttons)
        self.message_id = message.id

    async def _direct(self, view: Rendered) -> None:
        user = await self.client.fetch_user(self.user_id)
        embed = view.embed if view.embed is not None else discord.utils.MISSING
        await user.send(content=view.content or None, embed=embed, files=view.files)

    async def follow_up(self, files: list[discord.File]) -> None:
        if self._token_alive():
            await self._webhook().send(files=files, ephemeral=self.private)
        elif self.private:
            await (await self.client.fetch_user(self.user_id)).send(files=files)
        else:
            await self.client.get_partial_messageable(self.channel_id).send(files=files)


class JobMessages(JobListener):
    def __init__(
        self, presenter: ProgressPresenter, *, handoff_after: float = 14 * 60, followups: FollowUps | None = None
    ) -> None:
        self.presenter = presenter
        self.followups = followups
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
            private=private,
        )

    def attach(self, job: Job, interaction: discord.Interaction, message_id: int | None) -> None:
        self._targets[job.id] = self._target(interaction, message_id, job.request.private)

    def attach_channel(self, job: Job, client: discord.Client, channel_id: int, message_id: int) -> None:
        """A job whose message the bot posted itself (a reroll from a reaction): edited through the channel."""
        self._targets[job.id] = MessageTarget(
            client, channel_id, job.user_id, message_id, None, job.created, self.handoff_after
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
            private=job.request.private,
        )

    async def refuse(self, interaction: discord.Interaction, message_id: int | None, text: str) -> None:
        """A request that never became a job: the reason (in the member's language) replaces the reply, within
        the same edit budget."""
        target = self._target(interaction, message_id)
        key = f"refusal-{interaction.id}"

        async def send(_: object) -> None:
            await target.edit(Rendered(content=text), final=True)

        await self.presenter.show_final(key, interaction.channel_id or 0, send, text)

    def job_changed(self, job: Job, event: JobEvent) -> None:
        target = self._targets.get(job.id)
        if target is None:
            return
        values, locale = job.request.bound.values, job.request.locale

        async def send(state: JobEvent) -> None:
            await target.edit(render_progress(state, values, job.id, locale), final=False)

        self.presenter.show(job.id, job.request.channel_id, send, event)

    async def job_finished(self, job: Job, event: JobEvent) -> None:
        target = self._targets.get(job.id)
        if target is None:
            return
        bound = job.request.bound
        images = []
        if isinstance(event, Delivered):
            images = [fit_image(image.data, image.filename, target.upload_limit) for image in event.images]
        actions = ResultActions(
            job.id,
            can_vary=self.followups is not None and self.followups.vary_template() is not None,
            can_upscale=self.followups is not None and self.followups.upscale_template() is not None,
            kind=job.request.kind,
            note=job.request.note,
            spoiler=job.request.spoiler,
            locale=job.request.locale,
        )

        def view() -> Rendered:  # afresh for each try: a sent file's stream has been read
            return render_final(event, bound.values, bound.template, images, actions)

        batches = len(view().followups)  # more than 10 images continue in follow-up messages

        async def send(_: JobEvent) -> None:
            await _patiently(lambda: target.edit(view(), final=True))
            for index in range(batches):
                await _patiently(functools.partial(follow_up, index))

        async def follow_up(index: int) -> None:
            await target.follow_up(view().followups[index])

        try:
            await self.presenter.show_final(job.id, job.request.channel_id, send, event)
        finally:
            self._targets.pop(job.id, None)

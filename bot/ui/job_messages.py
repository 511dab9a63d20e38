"""The engine's listener on Discord: each job's message follows its state within the edit budget.

A job's message is the interaction's reply. Interaction tokens die after 15 minutes, so once a job is older
than `handoff_after` (14 minutes by default) its message is edited through the bot-token channel route; where
that is impossible (an ephemeral reply, a missing permission) a new message mentions the member instead.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import discord

from bot.jobs.engine import JobListener
from bot.jobs.events import Delivered, JobEvent
from bot.jobs.model import Job
from bot.media import fit_image

from .presenter import ProgressPresenter
from .render import Rendered, render_final, render_progress

log = logging.getLogger(__name__)
DEFAULT_UPLOAD_LIMIT = 10 * 2**20


@dataclass
class MessageTarget:
    """Where one job's message lives, and how to edit it now."""

    interaction: discord.Interaction
    handoff_after: float
    message_id: int | None = None
    created: float = field(default_factory=time.monotonic)
    moved: bool = False  # edits go through the channel route now

    @property
    def upload_limit(self) -> int:
        return getattr(self.interaction, "filesize_limit", DEFAULT_UPLOAD_LIMIT) or DEFAULT_UPLOAD_LIMIT

    async def edit(self, view: Rendered) -> None:
        if not self.moved and time.monotonic() - self.created < self.handoff_after:
            try:
                message = await self.interaction.edit_original_response(
                    content=view.content, embed=view.embed, attachments=view.files
                )
                self.message_id = message.id
                return
            except discord.HTTPException as exc:
                if exc.status != 401 and exc.code != 50027:
                    raise
                log.info("interaction token expired; moving to the channel route")
        self.moved = True
        await self._edit_in_channel(view)

    async def _edit_in_channel(self, view: Rendered) -> None:
        channel = self.interaction.channel
        if not isinstance(channel, discord.abc.Messageable):
            raise RuntimeError("the job's channel cannot take messages")
        if self.message_id is not None and hasattr(channel, "get_partial_message"):
            try:
                await channel.get_partial_message(self.message_id).edit(
                    content=view.content, embed=view.embed, attachments=view.files
                )
                return
            except (discord.Forbidden, discord.NotFound) as exc:
                log.info("cannot edit the job's message through the channel (%s); posting a new one", exc)
        mention = self.interaction.user.mention
        text = f"{mention} {view.content}".strip()
        if view.embed is not None:
            message = await channel.send(content=text, embed=view.embed, files=view.files)
        else:
            message = await channel.send(content=text, files=view.files)
        self.message_id = message.id

    async def follow_up(self, files: list[discord.File]) -> None:
        if not self.moved:
            await self.interaction.followup.send(files=files)
        elif isinstance(self.interaction.channel, discord.abc.Messageable):
            await self.interaction.channel.send(files=files)


class JobMessages(JobListener):
    def __init__(self, presenter: ProgressPresenter, *, handoff_after: float = 14 * 60) -> None:
        self.presenter = presenter
        self.handoff_after = handoff_after
        self._targets: dict[str, MessageTarget] = {}

    async def refuse(self, interaction: discord.Interaction, message_id: int | None, text: str) -> None:
        """A request that never became a job: the reason replaces the reply, within the same edit budget."""
        target = MessageTarget(interaction, self.handoff_after, message_id)
        key = f"refusal-{interaction.id}"

        async def send(_: object) -> None:
            await target.edit(Rendered(content=text))

        self.presenter.show(key, interaction.channel_id or 0, send, text, final=True)
        try:
            await self.presenter.wait_final(key)
        finally:
            self.presenter.forget(key)

    def attach(self, job: Job, interaction: discord.Interaction, message_id: int | None) -> None:
        self._targets[job.id] = MessageTarget(interaction, self.handoff_after, message_id)

    def target(self, job: Job) -> MessageTarget:
        return self._targets[job.id]

    def job_changed(self, job: Job, event: JobEvent) -> None:
        target = self._targets.get(job.id)
        if target is None:
            return
        values = job.request.bound.values

        async def send(state: JobEvent) -> None:
            await target.edit(render_progress(state, values))

        self.presenter.show(job.id, job.request.channel_id, send, event)

    async def job_finished(self, job: Job, event: JobEvent) -> None:
        target = self._targets.get(job.id)
        if target is None:
            return
        bound = job.request.bound
        images = []
        if isinstance(event, Delivered):
            images = [fit_image(image.data, image.filename, target.upload_limit) for image in event.images]
        view = render_final(event, bound.values, bound.template, images)

        async def send(_: JobEvent) -> None:
            await target.edit(view)
            for batch in view.followups:
                await target.follow_up(batch)

        self.presenter.show(job.id, job.request.channel_id, send, event, final=True)
        try:
            await self.presenter.wait_final(job.id)
        finally:
            self.presenter.forget(job.id)
            self._targets.pop(job.id, None)

"""The engine's listener on Discord: each job's message follows its state within the edit budget.

A job's message is the interaction's reply. Interaction tokens die after 15 minutes, so once a job is older
than `handoff_after` (14 minutes by default) its message is edited through the bot-token channel route; where
that is impossible (an ephemeral reply, a missing permission) a new message mentions the member instead. What
a target needs is kept in the store, so a restarted bot edits the same messages. Results are fitted to the
route a message takes (message_target.py); a private result nobody may be sent is held for `/history`, and the
member is told so.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

import discord

from bot.jobs.events import Delivered, JobEvent, Queued, WaitingForBackend
from bot.jobs.followups import FollowUps
from bot.jobs.model import Job
from bot.jobs.ports import JobListener, QueuePositions
from bot.jobs.store import JobStore, StoredReply, StoreError, held
from bot.media.fit import FittedResult, fit_result, unfitted
from bot.media.pool import MediaPool

from .fit import fit_content
from .message_target import DEFAULT_UPLOAD_LIMIT, MakeView, MessageTarget, Unreachable
from .presenter import ProgressPresenter, Urgency
from .render import Rendered, ResultActions, render_final, render_plain, render_progress

log = logging.getLogger(__name__)
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


async def _plainly(view: MakeView, locale: str, limit: int) -> Rendered:
    return render_plain(await view(limit), locale)


def _ready(rendered: Rendered) -> MakeView:
    """A message that is the same whatever the route."""

    async def make(_limit: int) -> Rendered:
        return rendered

    return make


class JobMessages(JobListener):
    def __init__(
        self,
        presenter: ProgressPresenter,
        client: discord.Client,
        *,
        handoff_after: float = 14 * 60,
        followups: FollowUps | None = None,
        store: JobStore | None = None,
        media: MediaPool | None = None,
        media_seconds: float = 120.0,
    ) -> None:
        self.presenter = presenter
        self.followups = followups
        self.store = store
        self.media = media or MediaPool()
        self.media_seconds = media_seconds
        self.handoff_after = handoff_after
        self.client = client  # for messages with no interaction behind them (restored jobs, reactions' rerolls)
        self._targets: dict[str, MessageTarget] = {}
        self._queue: QueuePositions | None = None  # where queued jobs stand, as the engine counts it

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

    def attach_channel(self, job: Job, channel_id: int, message_id: int) -> None:
        """A job whose message the bot posted itself (a reroll from a reaction): edited through the channel."""
        self._targets[job.id] = MessageTarget(
            self.client,
            channel_id,
            job.user_id,
            message_id,
            None,
            job.created,
            self.handoff_after,
            guild_id=job.request.guild_id,
        )

    def attach_direct(self, job: Job, channel_id: int) -> None:
        """A private job with no interaction (a reaction's reroll): no message until its result, by DM."""
        self._targets[job.id] = MessageTarget(
            self.client, channel_id, job.user_id, None, None, job.created, self.handoff_after, private=True
        )

    def restore(self, job: Job, reply: StoredReply) -> None:
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
            await target.edit(_ready(refusal), final=True)

        await self.presenter.show_final(key, target.bucket, send, text)

    def job_changed(self, job: Job, event: JobEvent) -> None:
        target = self._targets.get(job.id)
        if target is None:
            return
        values, locale = job.request.bound.values, job.request.locale

        async def send(state: JobEvent) -> None:
            await target.edit(_ready(render_progress(state, values, job.id, locale)), final=False)

        if isinstance(event, Queued):  # its place is read when there is budget to show it
            self.presenter.show_live(job.id, target.bucket, send, functools.partial(self._place, job, event))
        else:
            urgency = Urgency.QUEUED if isinstance(event, WaitingForBackend) else Urgency.RUNNING
            self.presenter.show(job.id, target.bucket, send, event, urgency=urgency)

    def queue_moved(self, queue: QueuePositions) -> None:
        self._queue = queue
        self.presenter.refresh_live()

    def _place(self, job: Job, told: Queued) -> Queued | None:
        if self._queue is None:
            return told
        position = self._queue.position(job)
        return None if position is None else Queued(position)

    async def job_finished(self, job: Job, event: JobEvent) -> None:
        target = self._targets.get(job.id)
        if target is None:
            return
        bound = job.request.bound
        fitted: dict[int, list[FittedResult]] = {}  # upload limit -> the results fitted to it

        async def results(limit: int) -> list[FittedResult]:
            if isinstance(event, Delivered) and limit not in fitted:
                fitted[limit] = [await self._fit(job.user_id, file.data, file.filename, limit) for file in event.files]
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

        async def view(limit: int) -> Rendered:  # afresh for each try: a sent file's stream has been read
            return render_final(event, bound.values, bound.template, await results(limit), actions, notes=target.notes)

        shown = len(event.files) if isinstance(event, Delivered) else 0
        batches = max(0, -(-shown // 10) - 1)  # more than 10 images continue in follow-up messages

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
                await self._hold(job, target, await results(DEFAULT_UPLOAD_LIMIT), exc)

        async def follow_up(index: int) -> None:
            await target.follow_up((await view(target.limit_now())).followups[index])

        first = target.message_id
        try:
            await self.presenter.show_final(job.id, target.bucket, send, event)
        finally:
            self._targets.pop(job.id, None)
        if target.message_id is not None and target.message_id != first and self.store is not None:
            try:
                await self.store.moved(job.id, target.channel_id, target.message_id)
            except StoreError as exc:  # the result is shown; only its reactions will not find the new message
                log.warning("job %s: where its result went is not recorded: %s", job.id, exc)

    async def _fit(self, member: int, data: bytes, filename: str, limit: int) -> FittedResult:
        """Re-encoding is CPU work (seconds for a large image, minutes for a video): it runs in the media pool, in
        the member's turn, within its time and memory, so the event loop keeps answering interactions within
        Discord's 3 seconds meanwhile."""
        if len(data) <= limit:
            return fit_result(data, filename, limit)  # fits as it is: nothing to encode
        try:
            return await self.media.run(member, self.media_seconds, fit_result, data, filename, limit)
        except Exception as exc:  # a bomb past Pillow's guard, a size WebP cannot hold, MemoryError, FFmpeg, the
            log.warning("%s (%d bytes) could not be re-encoded: %r", filename, len(data), exc)  # time limit: told
            return unfitted(data, filename, limit)

    async def _hold(self, job: Job, target: MessageTarget, images: list[FittedResult], why: Exception) -> None:
        """Nowhere to show the result now: keep it for /history and tell the member so where they can see it."""
        log.info("job %s: the member cannot be reached (%s); the result is held for /history", job.id, why)
        if self.store is None or not images:
            raise why
        files = [held.HeldFile(image.filename, image.data) for image in images]
        await held.hold(self.store, job.id, job.user_id, files)
        await target.tell_held(job.request.locale)

"""The typed service the persistent buttons call (`ui/buttons.ButtonHandlers`): a result's buttons and menus go
to `ResultsCog`, a progress message's Cancel to `QueueCog`."""

from __future__ import annotations

import discord

from bot.jobs.model import Job

from .queue import QueueCog
from .results import ResultsCog


class ButtonRoutes:
    def __init__(self, results: ResultsCog, queue: QueueCog) -> None:
        self._results, self._queue = results, queue

    async def job(self, job_id: str) -> Job | None:
        return await self._results.job(job_id)

    async def result_button(
        self, interaction: discord.Interaction, action: str, job: Job | None, index: int | None
    ) -> None:
        await self._results.on_button(interaction, action, job, index)

    async def cancel_button(self, interaction: discord.Interaction, job_id: str) -> None:
        await self._queue.cancel_for(interaction, job_id, typed=False)

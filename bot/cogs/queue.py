"""/queue, /cancel, and (admins) /clearqueue; the ❌ button on progress messages lands here too."""

from __future__ import annotations

import time

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import Listed, Text
from bot.jobs.controls import Controls
from bot.jobs.errors import RefusedRequest
from bot.jobs.model import JobState
from bot.jobs.views import Backend, QueuedJob, Views
from bot.ui.fit import as_typed
from bot.ui.panels import Field, panel

from .actors import asker
from .failures import answering
from .replies import say, show, tell


def _estimate(seconds: float) -> Text:
    if seconds < 1:
        return Text("queue.now")
    return (
        Text("queue.in_min", minutes=f"{seconds / 60:.0f}")
        if seconds >= 90
        else Text("queue.in_s", seconds=f"{seconds:.0f}")
    )


class QueueCog(commands.Cog, name="QueueCog"):
    def __init__(self, views: Views, controls: Controls) -> None:
        self.views, self.controls = views, controls

    @staticmethod
    def _line(job: QueuedJob, now: float) -> Text:
        prompt = as_typed(job.prompt[:60])
        if job.state is JobState.QUEUED:
            position = job.position
            where = (
                Text("queue.starts", position=position, when=_estimate(job.wait)) if position else Text("queue.waiting")
            )
        else:
            state = Text(f"state.{job.state.value}")
            seconds = f"{now - job.started:.0f}" if job.started else "0"
            where = Text("queue.active", state=state, backend=job.backend or "?", seconds=seconds)
        return Text("queue.line", id=job.id[:8], where=where, prompt=prompt)

    @app_commands.command(name="queue", description="Your jobs, the queue, and the servers")
    async def queue(self, interaction: discord.Interaction) -> None:
        now, view = time.time(), self.views.queue(interaction.user.id)
        lines = say(interaction, Listed([say(interaction, self._line(job, now)) for job in view.mine], 1000, "\n"))
        waiting = say(interaction, "queue.in_queue", count=view.waiting)
        fields = [
            Field(say(interaction, "queue.yours"), lines or say(interaction, "queue.none"), inline=False),
            Field(say(interaction, "queue.waiting_title"), waiting, inline=False),
        ]
        fields += [_backend(interaction, backend) for backend in view.backends]
        await show(interaction, panel(say(interaction, "queue.title"), fields=fields))

    @app_commands.command(name="cancel", description="Cancel one of your jobs (moderators: anyone's)")
    @app_commands.describe(job="The job, from /queue (your most recent one if empty)")
    async def cancel(self, interaction: discord.Interaction, job: str | None = None) -> None:
        mine = self.views.jobs_of(interaction.user.id)
        if job is None:
            if not mine:
                await tell(interaction, "cancel.none")
                return
            job = mine[-1].id
        await self.cancel_for(interaction, job)

    @cancel.autocomplete("job")
    async def _own_jobs(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        jobs = self.views.jobs_of(interaction.user.id)
        return [
            app_commands.Choice(name=f"{j.id[:8]} {str(j.request.bound.values.get('prompt', ''))[:80]}", value=j.id)
            for j in jobs
            if j.id.startswith(current)
        ][:25]

    @answering
    async def cancel_for(self, interaction: discord.Interaction, job_id: str, *, typed: bool = True) -> None:
        """Cancel, if the caller owns the job or moderates its server; the answer is only for them. A typed id
        gets the same answer whether the job does not exist or is not theirs; a Cancel button, on a message they
        see, is told whose job it is."""
        match = self.controls.cancellable(asker(interaction), job_id, typed=typed)
        if match is None:
            await tell(interaction, "cancel.unknown")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        mine = match.user_id == interaction.user.id
        by = Text("by.you") if mine else Text("by.moderator", name=interaction.user.display_name)
        await tell(interaction, await self.controls.cancel(match.id, by))

    @app_commands.command(
        name="clearqueue", description="Cancel every job of this server that has not started (admins)"
    )
    @app_commands.describe(everywhere="Every server's queue (the bot's operators only)")
    @app_commands.default_permissions(manage_guild=True)
    async def clear_queue(self, interaction: discord.Interaction, everywhere: bool = False) -> None:
        by = Text("by.admin", name=interaction.user.display_name)
        asking = asker(interaction)
        self.controls.may_clear(asking, everywhere=everywhere)  # refused before the acknowledgement
        await interaction.response.defer(ephemeral=True, thinking=True)
        count = await self.controls.clear_queue(asking, by, everywhere=everywhere)
        await tell(interaction, "clearqueue.done", count=count)


class BackendCog(
    commands.GroupCog, group_name="backend", group_description="Pause or resume ComfyUI servers (operators)"
):
    """Pause a server (it finishes what it runs and takes nothing new) or resume it. The servers are shared by
    every Discord server the bot is in: only the bot's operators may."""

    def __init__(self, views: Views, controls: Controls) -> None:
        self.views, self.controls = views, controls
        super().__init__()

    async def _names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        names = self.views.backend_names()
        return [app_commands.Choice(name=n, value=n) for n in names if current.lower() in n.lower()][:25]

    async def _set(self, interaction: discord.Interaction, name: str, *, paused: bool) -> None:
        if not self.controls.access.operator(asker(interaction)):
            raise RefusedRequest("backend.operators")
        if not self.controls.set_paused(name, paused=paused):
            await tell(interaction, "backend.unknown", name=name, known=", ".join(self.views.backend_names()))
            return
        await tell(interaction, "backend.paused" if paused else "backend.resumed", name=name)

    @app_commands.command(name="pause", description="Let a server finish what it runs and take nothing new")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(name="The server's name, as in /status")
    @app_commands.autocomplete(name=_names)
    async def pause(self, interaction: discord.Interaction, name: str) -> None:
        await self._set(interaction, name, paused=True)

    @app_commands.command(name="resume", description="Let a paused server take jobs again")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(name="The server's name, as in /status")
    @app_commands.autocomplete(name=_names)
    async def resume(self, interaction: discord.Interaction, name: str) -> None:
        await self._set(interaction, name, paused=False)


def _backend(interaction: discord.Interaction, backend: Backend) -> Field:
    status = say(interaction, "health.paused" if backend.paused else "health.up" if backend.healthy else "health.down")
    devices = ", ".join(
        say(interaction, "queue.device", name=d.name, free=f"{d.vram_free / 2**30:.1f}") for d in backend.devices
    )
    running = min(backend.in_flight, 1)
    counts = say(interaction, "queue.counts", running=running, waiting=max(0, backend.in_flight - 1))
    return Field(f"{backend.name} ({status})", f"{counts}\n{devices or say(interaction, 'health.no_device')}")

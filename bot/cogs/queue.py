"""/queue, /cancel, and (admins) /clearqueue; the ❌ button on progress messages lands here too."""

from __future__ import annotations

import time

import discord
from discord import app_commands
from discord.ext import commands

from bot.comfy.pool import BackendPool
from bot.jobs.engine import JobEngine
from bot.jobs.model import Job, JobState


def _is_admin(interaction: discord.Interaction) -> bool:
    permissions = interaction.permissions
    return bool(permissions.manage_guild or permissions.administrator)


def _estimate(seconds: float) -> str:
    return (
        "now" if seconds < 1 else f"in about {seconds / 60:.0f} min" if seconds >= 90 else f"in about {seconds:.0f} s"
    )


class QueueCog(commands.Cog, name="QueueCog"):
    def __init__(self, engine: JobEngine, pool: BackendPool) -> None:
        self.engine = engine
        self.pool = pool

    def _line(self, job: Job, now: float) -> str:
        prompt = str(job.request.bound.values.get("prompt") or job.request.bound.template)[:60]
        if job.state is JobState.QUEUED:
            position = self.engine.position(job)
            per_job = min((s.seconds_per_job for s in self.pool.states.values() if s.healthy), default=10.0)
            slots = max(1, sum(1 for s in self.pool.states.values() if s.healthy and not s.paused))
            wait = ((position or 1) - 1) / slots * per_job
            where = f"#{position}, starts {_estimate(wait)}" if position else "waiting for a backend"
        else:
            where = f"{job.state.value} on {job.backend}" + (f" for {now - job.started:.0f} s" if job.started else "")
        return f"`{job.id[:8]}` {where}: {prompt}"

    @app_commands.command(name="queue", description="Your jobs, the queue, and the servers")
    async def queue(self, interaction: discord.Interaction) -> None:
        now = time.time()
        mine = self.engine.jobs_of(interaction.user.id)
        embed = discord.Embed(title="Queue", colour=discord.Colour.blurple())
        embed.add_field(
            name="Your jobs", value="\n".join(self._line(job, now) for job in mine) or "None.", inline=False
        )
        embed.add_field(name="Waiting", value=f"{len(self.engine.scheduler)} job(s) in the queue", inline=False)
        for name, state in self.pool.states.items():
            status = "paused" if state.paused else "up" if state.healthy else "down"
            devices = ", ".join(
                f"{d.name}: {d.vram_free / 2**30:.1f} GiB free" for d in (state.stats.devices if state.stats else ())
            )
            running = min(state.in_flight, 1)
            embed.add_field(
                name=f"{name} ({status})",
                value=f"running {running}, waiting {max(0, state.in_flight - 1)}\n{devices or 'no device info'}",
            )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="cancel", description="Cancel one of your jobs (moderators: anyone's)")
    @app_commands.describe(job="The job, from /queue (your most recent one if empty)")
    async def cancel(self, interaction: discord.Interaction, job: str | None = None) -> None:
        mine = self.engine.jobs_of(interaction.user.id)
        if job is None:
            if not mine:
                await interaction.response.send_message("You have no job to cancel.", ephemeral=True)
                return
            job = mine[-1].id
        await self.cancel_for(interaction, job)

    @cancel.autocomplete("job")
    async def _own_jobs(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        jobs = self.engine.jobs_of(interaction.user.id)
        return [
            app_commands.Choice(name=f"{j.id[:8]} {str(j.request.bound.values.get('prompt', ''))[:80]}", value=j.id)
            for j in jobs
            if j.id.startswith(current)
        ][:25]

    async def cancel_for(self, interaction: discord.Interaction, job_id: str) -> None:
        """Cancel, if the caller owns the job or may moderate; the answer is only for them."""
        match = next((j for j in self.engine.active.values() if j.id == job_id or j.id.startswith(job_id)), None)
        if match is None:
            await interaction.response.send_message("That job has already ended or does not exist.", ephemeral=True)
            return
        if match.user_id != interaction.user.id and not _is_admin(interaction):
            await interaction.response.send_message(
                "Only the member who started a job, or a moderator, can cancel it.", ephemeral=True
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        by = "you" if match.user_id == interaction.user.id else f"{interaction.user.display_name} (moderator)"
        outcome = await self.engine.cancel(match.id, by)
        await interaction.followup.send(outcome, ephemeral=True)

    @app_commands.command(name="clearqueue", description="Cancel every job that has not started (admins)")
    @app_commands.default_permissions(manage_guild=True)
    async def clear_queue(self, interaction: discord.Interaction) -> None:
        if not _is_admin(interaction):
            await interaction.response.send_message("Only admins can clear the queue.", ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        count = await self.engine.clear_queue(f"{interaction.user.display_name} (admin)")
        await interaction.followup.send(f"Cleared {count} queued job(s).", ephemeral=True)


class BackendCog(commands.GroupCog, group_name="backend", group_description="Manage ComfyUI servers (admins)"):
    """Pause a server (it finishes what it runs and takes nothing new) or resume it."""

    def __init__(self, pool: BackendPool) -> None:
        self.pool = pool
        super().__init__()

    async def _names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=n) for n in self.pool.states if current.lower() in n.lower()][:25]

    async def _set(self, interaction: discord.Interaction, name: str, *, paused: bool) -> None:
        if not _is_admin(interaction):
            await interaction.response.send_message("Only admins can pause or resume servers.", ephemeral=True)
            return
        if name not in self.pool.states:
            known = ", ".join(self.pool.states)
            await interaction.response.send_message(f"No server named {name!r}; known: {known}.", ephemeral=True)
            return
        if paused:
            self.pool.pause(name)
            text = f"{name} is paused: it finishes what it runs and takes nothing new."
        else:
            self.pool.resume(name)
            text = f"{name} takes jobs again."
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="pause", description="Let a server finish what it runs and take nothing new")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.autocomplete(name=_names)
    async def pause(self, interaction: discord.Interaction, name: str) -> None:
        await self._set(interaction, name, paused=True)

    @app_commands.command(name="resume", description="Let a paused server take jobs again")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.autocomplete(name=_names)
    async def resume(self, interaction: discord.Interaction, name: str) -> None:
        await self._set(interaction, name, paused=False)

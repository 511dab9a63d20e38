"""/status, /models, /workflows and /history: what members and admins want to know, all ephemeral."""

from __future__ import annotations

import statistics
import time

import discord
from discord import app_commands
from discord.ext import commands

from bot.comfy.pool import BackendPool
from bot.jobs import records
from bot.jobs.engine import JobEngine
from bot.jobs.store import SqliteJobStore
from bot.templates.library import LoadReport, TemplateLibrary
from bot.templates.listing import describe_library

PAGE = 20
DAY = 24 * 3600


def _seconds(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} s" if values else "n/a"


class InfoCog(commands.Cog, name="InfoCog"):
    def __init__(self, engine: JobEngine, pool: BackendPool, store: SqliteJobStore, library: TemplateLibrary) -> None:
        self.engine, self.pool, self.store, self.library = engine, pool, store, library

    @app_commands.command(name="status", description="The ComfyUI servers, the queue, and today's jobs")
    async def status(self, interaction: discord.Interaction) -> None:
        today = await records.since(self.store, time.time() - DAY)
        waits = [s - c for _, c, s, _ in today if s is not None]
        runs = [f - s for state, _, s, f in today if state == "delivered" and s is not None and f is not None]
        embed = discord.Embed(title="Status", colour=discord.Colour.blurple())
        embed.add_field(name="Queue", value=f"{len(self.engine.scheduler)} waiting, {len(self.engine.active)} open")
        embed.add_field(
            name="Last 24 hours", value=f"{len(today)} jobs; median wait {_seconds(waits)}, median run {_seconds(runs)}"
        )
        for name, state in self.pool.states.items():
            health = "paused" if state.paused else "up" if state.healthy else f"down ({state.error or 'no answer'})"
            devices = "\n".join(
                f"{d.name}: {d.vram_free / 2**30:.1f} of {d.vram_total / 2**30:.1f} GiB free"
                for d in (state.stats.devices if state.stats else ())
            )
            embed.add_field(
                name=f"{name}: {health}",
                value=f"{state.in_flight} prompt(s), ~{state.seconds_per_job:.0f} s a job\n"
                f"{devices or 'no device info'}",
                inline=False,
            )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="models", description="The checkpoints the servers have")
    @app_commands.describe(page="Page number")
    async def models(self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 1000] = 1) -> None:
        names = sorted(
            {
                name
                for state in self.pool.states.values()
                if state.capability is not None
                for name in state.capability.choices.get(("CheckpointLoaderSimple", "ckpt_name"), ())
            }
        )
        pages = max(1, -(-len(names) // PAGE))
        shown = names[(page - 1) * PAGE : page * PAGE]
        text = "\n".join(f"`{name}`" for name in shown) or "No checkpoints known yet."
        embed = discord.Embed(title=f"Models (page {min(page, pages)} of {pages})", description=text)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="workflows", description="The workflow templates and their options (admins: reload)")
    @app_commands.describe(reload="Read workflows/ again (admins)")
    async def workflows(self, interaction: discord.Interaction, reload: bool = False) -> None:
        permissions = interaction.permissions
        if reload and not (permissions.manage_guild or permissions.administrator):
            await interaction.response.send_message("Only admins can reload the workflows.", ephemeral=True)
            return
        report = self.library.reload() if reload else LoadReport(tuple(sorted(self.library.templates)), {})
        text = describe_library(self.library, report)
        await interaction.response.send_message(f"```\n{text[:1900]}\n```", ephemeral=True)

    @app_commands.command(name="history", description="Your recent results")
    async def history(self, interaction: discord.Interaction) -> None:
        results = await records.recent_results(self.store, interaction.user.id)
        lines = [
            f"[{prompt[:60] or job_id[:8]}](https://discord.com/channels/{guild or '@me'}/{channel}/{message})"
            for job_id, guild, channel, message, prompt in results
            if message is not None
        ]
        embed = discord.Embed(title="Your recent results", description="\n".join(lines) or "Nothing yet.")
        await interaction.response.send_message(embed=embed, ephemeral=True)

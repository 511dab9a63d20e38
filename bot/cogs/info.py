"""/status, /models, /workflows, /history and /usage: what members and admins want to know, all ephemeral."""

from __future__ import annotations

import io
import statistics

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import Text
from bot.jobs.access import Access
from bot.jobs.controls import Controls
from bot.jobs.errors import RefusedRequest
from bot.jobs.views import Views
from bot.templates.library import TemplateLibrary
from bot.templates.listing import describe_library
from bot.ui.fit import as_typed
from bot.ui.panels import Field, panel

from .actors import asker
from .replies import locale_of, say, show

PAGE = 20
USAGE_MEMBERS = 20  # members listed in an admin's /usage (the most GPU time first)


def _seconds(values: tuple[float, ...]) -> Text:
    return Text("status.seconds", seconds=f"{statistics.median(values):.1f}") if values else Text("status.na")


class InfoCog(commands.Cog, name="InfoCog"):
    def __init__(self, views: Views, controls: Controls, library: TemplateLibrary, access: Access) -> None:
        self.views, self.controls, self.library, self.access = views, controls, library, access

    @app_commands.command(name="status", description="The ComfyUI servers, the queue, and today's jobs")
    async def status(self, interaction: discord.Interaction) -> None:
        view = await self.views.status()
        queue = say(interaction, "status.queue", waiting=view.waiting, open=view.open)
        day = say(interaction, "status.day", count=view.today, wait=_seconds(view.waits), run=_seconds(view.runs))
        fields = [Field(say(interaction, "queue.title"), queue), Field(say(interaction, "status.day_title"), day)]
        for state in view.backends:
            if state.paused or state.healthy:
                health = say(interaction, "health.paused" if state.paused else "health.up")
            else:
                health = say(
                    interaction, "health.down_because", error=state.error or say(interaction, "health.no_answer")
                )
            devices = "\n".join(
                say(
                    interaction,
                    "status.device",
                    name=d.name,
                    free=f"{d.vram_free / 2**30:.1f}",
                    total=f"{d.vram_total / 2**30:.1f}",
                )
                for d in state.devices
            )
            load = say(interaction, "status.load", prompts=state.in_flight, seconds=f"{state.seconds_per_job:.0f}")
            if state.warm:  # what is loaded there, and what loading another model takes
                took = (
                    say(interaction, "status.seconds", seconds=f"{state.load_seconds:.1f}")
                    if state.load_seconds
                    else say(interaction, "status.na")
                )
                load += "\n" + say(interaction, "status.warm", models=", ".join(state.warm), seconds=took)
            no_device = say(interaction, "health.no_device")
            fields.append(Field(f"{state.name}: {health}", f"{load}\n{devices or no_device}", inline=False))
        await show(interaction, panel(say(interaction, "status.title"), fields=fields))

    @app_commands.command(name="models", description="The checkpoints the servers have")
    @app_commands.describe(page="Page number")
    async def models(self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 1000] = 1) -> None:
        names = self.views.choices("CheckpointLoaderSimple", "ckpt_name")
        pages = max(1, -(-len(names) // PAGE))
        shown = names[(page - 1) * PAGE : page * PAGE]
        text = "\n".join(f"`{name}`" for name in shown) or say(interaction, "models.none")
        await show(
            interaction, panel(say(interaction, "models.title", page=min(page, pages), pages=pages), description=text)
        )

    @app_commands.command(name="workflows", description="The workflow templates and their options (operators: reload)")
    @app_commands.describe(reload="Read workflows/ again (the bot's operators)")
    async def workflows(self, interaction: discord.Interaction, reload: bool = False) -> None:
        asking = asker(interaction)
        if reload and not self.access.operator(asking):  # every server shares the workflows
            raise RefusedRequest("workflows.operators")
        report = self.library.last
        if reload:  # reading every file may take longer than Discord's 3 s: the answer follows
            await interaction.response.defer(ephemeral=True, thinking=True)
            report = await self.library.refresh() or report
        reasons = self.access.operator(asking) or self.access.admin(asking)  # refusals name files and nodes
        text = f"```\n{describe_library(self.library, report, locale_of(interaction), reasons=reasons)[:1900]}\n```"
        if reload:
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(
        name="usage", description="Your GPU time today and this week, and your budget (admins: every member's)"
    )
    async def usage(self, interaction: discord.Interaction) -> None:
        who = asker(interaction)
        if who.guild_id is None:
            await show(interaction, panel(say(interaction, "usage.title"), description=say(interaction, "usage.dms")))
            return
        admin = self.access.admin(who)
        view = self.views.usage(who, admin=admin)
        mine = view.mine

        def minutes(seconds: float) -> str:  # under a minute in seconds, so a quick job's time shows
            if seconds < 60:
                return say(interaction, "usage.seconds", seconds=f"{seconds:.1f}")
            return say(interaction, "usage.minutes", minutes=f"{seconds / 60:.1f}")

        def budget(seconds: float) -> str:
            return minutes(seconds) if seconds else say(interaction, "usage.none")

        tier = (
            say(interaction, "usage.tier", weight=f"{view.weight:g}", role=f"<@&{view.role}>")
            if view.role is not None
            else say(interaction, "usage.tier_base")
        )
        lines = [
            say(
                interaction,
                "usage.mine",
                today=minutes(mine.today),
                daily=budget(mine.daily),
                week=minutes(mine.week),
                weekly=budget(mine.weekly),
                tier=tier,
            )
        ]
        if mine.over:
            past = {"relax": "usage.relaxed", "refuse": "usage.refused"}[mine.over_budget]
            lines.append(say(interaction, past, resets=f"<t:{int(view.resets)}:R>"))
        if admin:  # every member's this week, the most first (in the description: 4,096 chars)
            lines.append(f"\n**{say(interaction, 'usage.members')}**")
            lines += [
                say(interaction, "usage.member", user=user, week=minutes(u.week), today=minutes(u.today))
                for user, u in view.members[:USAGE_MEMBERS]
            ] or [say(interaction, "usage.nobody")]
            if len(view.members) > USAGE_MEMBERS:
                lines.append(say(interaction, "usage.more", count=len(view.members) - USAGE_MEMBERS))
        await show(interaction, panel(say(interaction, "usage.title"), description="\n".join(lines)))

    @app_commands.command(name="history", description="Your recent results")
    async def history(self, interaction: discord.Interaction) -> None:
        view = await self.views.history(interaction.user.id)
        lines = [
            f"[{as_typed(r.prompt[:60]) or r.job_id[:8]}]"
            f"(https://discord.com/channels/{r.guild_id or '@me'}/{r.channel_id}/{r.message_id})"
            for r in view.results
            if r.message_id is not None
        ]
        kept = view.held
        listed = "\n".join(lines) or ("" if kept else say(interaction, "history.none"))
        if kept:
            listed = f"{say(interaction, 'history.held', count=len(kept))}\n{listed}".strip()
        await show(interaction, panel(say(interaction, "history.title"), description=listed))
        for job_id, files in kept:  # ephemeral follow-ups: the only private place left
            for start in range(0, len(files), 10):
                attached = [discord.File(io.BytesIO(f.data), filename=f.filename) for f in files[start : start + 10]]
                await interaction.followup.send(files=attached, ephemeral=True)
            await self.controls.release(job_id)

"""Follow-ups on delivered results by button (Reroll, Vary, Upscale, Edit, Info, Delete; U1..Un, V1..Vn), on
any result ever made: jobs are looked up in the database by id, so everything works after a restart. Follow-ups
go through the same queue, caps and fairness as /imagine, and their result links to its parent. Reactions are
in reactions.py; who may, in `jobs/access.py`, asked by the door (`jobs/admission.py`)."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import Text
from bot.jobs.admission import Admission, Knock, RequestError, Ticket
from bot.jobs.controls import Controls
from bot.jobs.errors import RefusedRequest
from bot.jobs.followups import FollowUpError
from bot.jobs.model import Job
from bot.jobs.policy import Policies
from bot.templates.params import ImageData
from bot.ui.buttons import taking_work
from bot.ui.fit import as_typed
from bot.ui.job_messages import JobMessages
from bot.ui.panels import Field, panel

from .actors import asker, bot_permissions
from .failures import answering
from .replies import loading, locale_of, show, tell

log = logging.getLogger(__name__)


def _id(message: discord.Message | None) -> int | None:
    return message.id if message is not None else None


EDIT_FORM = re.compile(r"job:edit-form:(?P<job>[0-9a-f-]{36})")


class EditModal(discord.ui.Modal):
    """The Edit form. Its custom id names the job, and its submission is handled by `ResultsCog.on_interaction`
    from that id and the values sent, not by this object: a form opened before a restart or a lease takeover
    is answered by whichever process receives it, as buttons are."""

    def __init__(self, job: Job, locale: str) -> None:
        super().__init__(title=Text("edit.title").render(locale), timeout=600, custom_id=f"job:edit-form:{job.id}")
        values = job.request.bound.values
        for name, required in (("prompt", True), ("negative", False)):
            self.add_item(
                discord.ui.TextInput(
                    label=Text(f"edit.{name}").render(locale),
                    style=discord.TextStyle.paragraph,
                    custom_id=name,
                    required=required,
                    default=str(values.get(name) or "")[:4000],
                    max_length=4000,
                )
            )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Nothing here: the submission is the cog's (see the class)."""


def _form_values(data: Any) -> dict[str, str]:
    """The text inputs of a submitted form, by custom id (in action rows, or in labels)."""
    values: dict[str, str] = {}
    rows = data.get("components") if isinstance(data, dict) else None
    for row in rows if isinstance(rows, list) else []:
        inner = (row.get("components") or [row.get("component")]) if isinstance(row, dict) else []
        for item in inner:
            if isinstance(item, dict) and isinstance(item.get("custom_id"), str):
                values[item["custom_id"]] = str(item.get("value") or "")
    return values


def jump_link(guild_id: int | None, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def note_of(guild_id: int | None, channel_id: int, message_id: int | None) -> str | None:
    """What a follow-up's result links back to."""
    return jump_link(guild_id, channel_id, message_id) if message_id is not None else None


class ResultsCog(commands.Cog, name="ResultsCog"):
    def __init__(self, admission: Admission, controls: Controls, messages: JobMessages, policies: Policies) -> None:
        self.admission, self.controls, self.messages, self.policies = admission, controls, messages, policies

    async def job(self, job_id: str) -> Job | None:
        """The job a button names (any ever made: the database has them)."""
        return await self.controls.result(job_id)

    @answering
    async def on_button(
        self, interaction: discord.Interaction, action: str, job: Job | None, index: int | None
    ) -> None:
        """A result's button or menu: its custom id loaded `job`; the door checks the member (`Admission.open`)."""
        if job is None:
            await tell(interaction, "results.unknown")
            return
        if action == "info":
            await show(interaction, self._info(job, locale_of(interaction)))
            return
        if action == "delete":
            self.admission.may_delete(asker(interaction), job)
            await self._delete(interaction)
            return
        knock = Knock(asker(interaction), action, job, bot_permissions=bot_permissions(interaction))
        if action == "edit":  # the door is at the form's submission; the form opens only if it would open now
            reason = self.admission.refusal(knock)
            if reason is not None:
                raise RefusedRequest.saying(reason)
            await interaction.response.send_modal(EditModal(job, locale_of(interaction)))
            return
        note = note_of(interaction.guild_id, interaction.channel_id or 0, _id(interaction.message))
        with self.admission.open(knock) as ticket:
            if action == "reroll":
                await self._start(interaction, ticket, await ticket.reroll(note))
                return
            # the result is downloaded: acknowledge first (Discord allows 3 s; a download may not)
            message_id = await loading(interaction, ephemeral=ticket.private)
            result = await self._result(interaction.message, index or 1)
            new = await (ticket.vary if action == "vary" else ticket.upscale)(result, note)
            await self._start(interaction, ticket, new, message_id)

    @staticmethod
    async def _delete(interaction: discord.Interaction) -> None:
        """Through the interaction, which reaches the result whether it is public or ephemeral: a deferred
        update makes @original the message whose button was pressed; then the member is told what happened."""
        try:
            await interaction.response.defer()
            await interaction.delete_original_response()
        except discord.NotFound as exc:
            if exc.code != 10008:
                raise
            await tell(interaction, "results.gone")  # another press (or a moderator) deleted it a moment ago
            return
        except discord.HTTPException as exc:
            log.info("could not delete a result: %s", exc)
            await tell(interaction, "results.not_deleted", warn=True)
            return
        await tell(interaction, "results.deleted")

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A submitted Edit form, whichever process opened it and whenever (see `EditModal`)."""
        data: dict[str, Any] = {}
        if interaction.type is discord.InteractionType.modal_submit and isinstance(interaction.data, dict):
            data = dict(interaction.data)
        match = EDIT_FORM.fullmatch(str(data.get("custom_id", "")))
        if match is None or not await taking_work(interaction):
            return
        job = await self.controls.result(match["job"])
        if job is None:
            await tell(interaction, "results.unknown")
            return
        values = _form_values(data)
        await self.run_edit(interaction, job, interaction.message, values.get("prompt", ""), values.get("negative", ""))

    @answering
    async def run_edit(
        self, interaction: discord.Interaction, job: Job, message: discord.Message | None, prompt: str, negative: str
    ) -> None:
        knock = Knock(asker(interaction), "edit", job, (prompt, negative), bot_permissions(interaction))
        with self.admission.open(knock) as ticket:  # the form may have been open a while: checked again
            note = note_of(interaction.guild_id, interaction.channel_id or 0, _id(message))
            await self._start(interaction, ticket, await ticket.edit(prompt, negative, note))

    async def _start(
        self, interaction: discord.Interaction, ticket: Ticket, job: Job, message_id: int | None = None
    ) -> None:
        """The job's own message: the loading reply (made now, if not made before the result was downloaded)."""
        if not interaction.response.is_done():
            message_id = await loading(interaction, ephemeral=ticket.private)
        self.messages.attach(job, interaction, message_id)
        await ticket.accept(job, message_id, interaction.token)

    @staticmethod
    async def _result(message: discord.Message | None, index: int) -> ImageData:
        attachments = message.attachments if message is not None else []
        if not 1 <= index <= len(attachments):
            raise FollowUpError("results.no_image", index=index)
        attachment = attachments[index - 1]
        try:
            return ImageData(await attachment.read(), attachment.filename)
        except discord.HTTPException as exc:
            raise RequestError("results.unreadable", error=str(exc)) from None

    @staticmethod
    def _info(job: Job, locale: str) -> discord.Embed:
        values = job.request.bound.values
        empty = Text("info.empty").render(locale)
        fields = [
            Field(n, as_typed(v)[:1000] or empty, inline=n in ("seed", "steps", "cfg")) for n, v in values.items()
        ]
        options = " ".join(f"{k}:{v}" for k, v in values.items() if k != "prompt" and isinstance(v, int | float))
        typed = str(values.get("prompt", "")).replace("`", "\u02cb")  # in a code block: a backtick would close it
        line = f"/imagine prompt:{typed} {options} template:{job.request.bound.template}"
        fields.append(Field(Text("info.again").render(locale), f"```{line[:1000]}```", inline=False))
        return panel(Text("info.title").render(locale), fields=fields)

    # ---- per-server policy -------------------------------------------------------------------------------

    @app_commands.command(name="rerolls", description="Who may reroll or vary others' results here (admins)")
    @app_commands.describe(who="owners: only the member who made it, and moderators; everyone: any member")
    @app_commands.choices(
        who=[
            app_commands.Choice(name="owners and moderators", value="owners"),
            app_commands.Choice(name="everyone", value="everyone"),
        ]
    )
    @app_commands.default_permissions(manage_guild=True)
    async def rerolls(self, interaction: discord.Interaction, who: str) -> None:
        if interaction.guild_id is None or not self.controls.access.admin(asker(interaction)):
            raise RefusedRequest("rerolls.admins")
        policy = self.policies.of(interaction.guild_id)
        await self.policies.set(interaction.guild_id, replace(policy, everyone_follows_up=who == "everyone"))
        await tell(interaction, "rerolls.everyone" if who == "everyone" else "rerolls.owners")

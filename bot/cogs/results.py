"""Follow-ups on delivered results by button (Reroll, Vary, Upscale, Edit, Info, Delete; U1..Un, V1..Vn), on
any result ever made: jobs are looked up in the database by id, so everything works after a restart. Follow-ups
go through the same queue, caps and fairness as /imagine, and their result links to its parent. Reactions are
in reactions.py; who may, in followup_rules.py."""

from __future__ import annotations

import logging
import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import Text, text_of
from bot.jobs.admission import Asker
from bot.jobs.errors import RefusedRequest
from bot.jobs.followups import FollowUpError
from bot.jobs.model import Job, JobRequest
from bot.jobs.store import StoredReply
from bot.templates.errors import TemplateError
from bot.templates.params import ImageData
from bot.ui.buttons import taking_work
from bot.ui.fit import as_typed
from bot.ui.panels import Field, panel

from .actors import actor, asker_of
from .bot_permissions import missing_permissions
from .failures import Refused, answering
from .followup_rules import FollowUpCog, note_of
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


class ResultsCog(FollowUpCog, name="ResultsCog"):
    @answering
    async def on_button(self, interaction: discord.Interaction, action: str, job_id: str, index: int | None) -> None:
        job = await self.store.get(job_id)
        if job is None:
            await tell(interaction, "results.unknown")
            return
        if action == "info":
            await show(interaction, self._info(job, locale_of(interaction)))
            return
        asking = actor(interaction)
        refusal = await self.rules.not_yours(job, asking, action)
        if refusal is not None:
            raise Refused(refusal)
        if action == "delete":
            await self._delete(interaction)
            return
        asker = asker_of(interaction)
        private = self.admission.private(asker)
        prompt = str(job.request.bound.values.get("prompt") or "")
        refusal = (
            self.admission.refusal(asker, prompt)
            or missing_permissions(interaction, private=private)
            or self.admission.cooldown(interaction.user.id)
        )
        if refusal is not None:
            raise Refused(refusal)
        with self.admission.reserved(interaction.user.id) as problem:  # checked and reserved at once
            if problem is not None:
                raise Refused(problem)
            await self._follow_up(interaction, job, action, index, asker, private)

    async def _follow_up(
        self, interaction: discord.Interaction, job: Job, action: str, index: int | None, asker: Asker, private: bool
    ) -> None:
        if action == "edit":
            await interaction.response.send_modal(EditModal(job, locale_of(interaction)))
            return
        note = note_of(interaction.guild_id, interaction.channel_id or 0, _id(interaction.message))
        message_id = None
        try:
            if action == "reroll":
                request = self.admission.reroll(job, asker, note, private=private)
            else:  # the result image is downloaded: acknowledge first (Discord allows 3 s; a download may not)
                message_id = await loading(interaction, ephemeral=private)
                image = await self._result_image(interaction.message, index or 1)
                make = self.admission.vary if action == "vary" else self.admission.upscale
                request = await make(job, asker, image, note, private=private)
        except (RefusedRequest, TemplateError) as exc:
            await self._refuse(interaction, message_id, text_of(exc))
            return
        except discord.HTTPException as exc:
            await self._refuse(interaction, message_id, Text("results.unreadable", error=str(exc)))
            return
        await self._start_from_interaction(interaction, request, message_id)

    async def _refuse(self, interaction: discord.Interaction, message_id: int | None, text: Text) -> None:
        """Before the acknowledgement: an answer only the member sees; after it: in place of the loading reply."""
        if not interaction.response.is_done():
            await tell(interaction, text, warn=True)
            return
        await self.messages.refuse(interaction, message_id, "⚠️ " + text.render(locale_of(interaction)))

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
        job = await self.store.get(match["job"])
        if job is None:
            await tell(interaction, "results.unknown")
            return
        values = _form_values(data)
        await self.run_edit(interaction, job, interaction.message, values.get("prompt", ""), values.get("negative", ""))

    @answering
    async def run_edit(
        self, interaction: discord.Interaction, job: Job, message: discord.Message | None, prompt: str, negative: str
    ) -> None:
        asker = asker_of(interaction)
        refusal = self.admission.refusal(asker, prompt, negative)
        if refusal is not None:
            raise Refused(refusal)
        with self.admission.reserved(interaction.user.id) as problem:  # the form may have been open a while
            if problem is not None:
                raise Refused(problem)
            note = note_of(interaction.guild_id, interaction.channel_id or 0, _id(message))
            private = self.admission.private(asker)
            try:
                request = self.admission.edit(job, asker, prompt, negative, note, private=private)
            except (RefusedRequest, TemplateError) as exc:
                raise Refused(text_of(exc)) from None
            await self._start_from_interaction(interaction, request)

    async def _start_from_interaction(
        self, interaction: discord.Interaction, request: JobRequest, message_id: int | None = None
    ) -> None:
        if not interaction.response.is_done():  # the job's own message
            message_id = await loading(interaction, ephemeral=request.private)
        job = Job(request)
        self.messages.attach(job, interaction, message_id)
        await self.engine.accept(job, StoredReply(request.channel_id, message_id, interaction.token))

    @staticmethod
    async def _result_image(message: discord.Message | None, index: int) -> ImageData:
        attachments = message.attachments if message is not None else []
        if not 1 <= index <= len(attachments):
            raise FollowUpError("results.no_image", index=index)
        attachment = attachments[index - 1]
        return ImageData(await attachment.read(), attachment.filename)

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
        if interaction.guild_id is None or not self.rules.access.admin(actor(interaction)):
            raise Refused(Text("rerolls.admins"))
        await self.store.set_guild_setting(interaction.guild_id, "rerolls", who)
        await tell(interaction, "rerolls.everyone" if who == "everyone" else "rerolls.owners")

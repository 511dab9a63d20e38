"""Persistent buttons: custom ids carry the job id, so they work on any message, across restarts. A pressed
button's custom id loads its job, and its callback calls the bot's typed `ButtonHandlers`; who may press it is
the door's to say (`jobs/admission.py`)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import discord

from bot.i18n import Text
from bot.jobs.model import Job

CANCEL_PREFIX = "job:cancel:"


async def taking_work(interaction: discord.Interaction) -> bool:
    """While the bot shuts down (`stopping`, set on SIGTERM), an interaction of any kind (a command, a button, a
    menu, a form) is answered in the member's language instead of started: none is left unanswered."""
    if not getattr(interaction.client, "stopping", False):
        return True
    text = "⚠️ " + Text("shutdown.restarting").render(str(interaction.locale))
    await interaction.response.send_message(text, ephemeral=True)
    return False


@runtime_checkable
class ButtonHandlers(Protocol):
    """What the buttons call, typed: the bot's `buttons` (the cogs' `ButtonRoutes`)."""

    async def job(self, job_id: str) -> Job | None:
        """The job a custom id names (any ever made), or None."""

    async def result_button(
        self, interaction: discord.Interaction, action: str, job: Job | None, index: int | None
    ) -> None: ...

    async def cancel_button(self, interaction: discord.Interaction, job_id: str) -> None: ...


def _handlers(interaction: discord.Interaction) -> ButtonHandlers | None:
    handlers = getattr(interaction.client, "buttons", None)
    return handlers if isinstance(handlers, ButtonHandlers) else None


async def _unavailable(interaction: discord.Interaction) -> None:
    text = Text("buttons.unavailable").render(str(interaction.locale))
    await interaction.response.send_message(text, ephemeral=True)


async def _job(interaction: discord.Interaction, job_id: str) -> Job | None:
    handlers = _handlers(interaction)
    return await handlers.job(job_id) if handlers is not None else None


class CancelButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"job:cancel:(?P<job>[0-9a-f-]{36})"):
    def __init__(self, job_id: str, locale: str | None = None) -> None:
        label = Text("buttons.cancel").render(locale)
        super().__init__(
            discord.ui.Button(
                label=label, emoji="❌", style=discord.ButtonStyle.secondary, custom_id=CANCEL_PREFIX + job_id
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> CancelButton:
        return cls(match["job"])

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await taking_work(interaction)

    async def callback(self, interaction: discord.Interaction) -> None:
        handlers = _handlers(interaction)
        if handlers is None:
            await _unavailable(interaction)
            return
        await handlers.cancel_button(interaction, self.job_id)


def progress_view(job_id: str, locale: str | None = None) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id, locale))
    return view


RESULT_ACTIONS = {  # action -> (emoji, style); the label is the catalogue's "buttons.<action>"
    "reroll": ("🔄", discord.ButtonStyle.primary),
    "vary": (None, discord.ButtonStyle.secondary),
    "upscale": (None, discord.ButtonStyle.secondary),
    "edit": ("✏️", discord.ButtonStyle.secondary),
    "info": ("\u2139\ufe0f", discord.ButtonStyle.secondary),
    "delete": ("🗑️", discord.ButtonStyle.danger),
}


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"job:(?P<action>reroll|vary|upscale|edit|info|delete):(?P<job>[0-9a-f-]{36})(?::(?P<index>\d{1,2}))?",
):
    """A button on a delivered result. `index` (1-based) picks one image of a batch: U1..Un, V1..Vn."""

    def __init__(self, action: str, job_id: str, index: int | None = None, locale: str | None = None) -> None:
        emoji, style = RESULT_ACTIONS[action]
        label = Text(f"buttons.{action}").render(locale)
        if index is not None:
            label = f"{'U' if action == 'upscale' else 'V'}{index}"
            emoji = None
        custom_id = f"job:{action}:{job_id}" + (f":{index}" if index is not None else "")
        super().__init__(discord.ui.Button(label=label, emoji=emoji, style=style, custom_id=custom_id))
        self.action, self.job_id, self.index = action, job_id, index
        self.job: Job | None = None  # loaded from the custom id when pressed

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> ResultButton:
        index = int(match["index"]) if match["index"] else None
        pressed = cls(match["action"], match["job"], index)
        pressed.job = await _job(interaction, match["job"])
        return pressed

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await taking_work(interaction)

    async def callback(self, interaction: discord.Interaction) -> None:
        handlers = _handlers(interaction)
        if handlers is None:
            await _unavailable(interaction)
            return
        await handlers.result_button(interaction, self.action, self.job, self.index)


class PickSelect(
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=r"job:pick:(?P<action>vary|upscale):(?P<job>[0-9a-f-]{36})",
):
    """For a batch of more than 5 images: one menu picks the image to upscale (or vary), so every control of a
    result fits Discord's 5 rows of 5 (docs.discord.com/developers/components/reference#action-row)."""

    def __init__(self, action: str, job_id: str, images: int = 1, locale: str | None = None) -> None:
        prefix = "U" if action == "upscale" else "V"
        options = [discord.SelectOption(label=f"{prefix}{n}", value=str(n)) for n in range(1, min(images, 25) + 1)]
        super().__init__(
            discord.ui.Select(
                custom_id=f"job:pick:{action}:{job_id}",
                placeholder=Text(f"buttons.pick_{action}").render(locale),
                options=options,
            )
        )
        self.action, self.job_id = action, job_id
        self.job: Job | None = None  # loaded from the custom id when picked

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> PickSelect:
        picked = cls(match["action"], match["job"])
        picked.job = await _job(interaction, match["job"])
        return picked

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await taking_work(interaction)

    async def callback(self, interaction: discord.Interaction) -> None:
        values = self.item.values or ["1"]  # what the member picked
        index = int(values[0]) if values[0].isdigit() else 1
        handlers = _handlers(interaction)
        if handlers is None:
            await _unavailable(interaction)
            return
        await handlers.result_button(interaction, self.action, self.job, index)


PER_IMAGE_BUTTONS = 5  # up to this many images: a row of U buttons and a row of V buttons; more: a menu each


def result_view(
    job_id: str, images: int, *, can_vary: bool, can_upscale: bool, locale: str | None = None
) -> discord.ui.View:
    """Controls under a result, in at most 5 rows: for a batch, a row of U1..Un and of V1..Vn (a menu each past 5
    images); then Reroll, Edit, Info; then Delete."""
    view = discord.ui.View(timeout=None)
    rows: list[list[discord.ui.Item[Any]]] = []
    if images > 1:
        for action, allowed in (("upscale", can_upscale), ("vary", can_vary)):
            if allowed and images <= PER_IMAGE_BUTTONS:
                rows.append([ResultButton(action, job_id, n, locale) for n in range(1, images + 1)])
            elif allowed:
                rows.append([PickSelect(action, job_id, images, locale)])
    actions = ["reroll"] + (["vary"] if images == 1 and can_vary else [])
    actions += (["upscale"] if images == 1 and can_upscale else []) + ["edit", "info"]
    rows.append([ResultButton(a, job_id, 1 if a in ("vary", "upscale") else None, locale) for a in actions])
    rows.append([ResultButton("delete", job_id, locale=locale)])
    for number, row in enumerate(rows):
        for item in row:
            item.item.row = number  # type: ignore[attr-defined]
            view.add_item(item)
    return view

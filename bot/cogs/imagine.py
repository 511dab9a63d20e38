"""/imagine: a prompt and options (or inline flags) become a job on a workflow template."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import LocalizedError, Text, excerpt, text_of
from bot.jobs.engine import JobEngine
from bot.jobs.model import Job, JobRequest
from bot.jobs.policy import Policies
from bot.jobs.store import SqliteJobStore, StoredReply
from bot.settings import LimitSettings
from bot.templates.errors import TemplateError
from bot.templates.library import TemplateLibrary
from bot.templates.params import ImageData
from bot.templates.template import SEED_MAX, Template
from bot.ui.job_messages import JobMessages

from .admission import admitted, missing_permissions
from .flags import FlagError, parse_aspect, parse_flags, size_for
from .replies import locale_of, say, tell

log = logging.getLogger(__name__)
ASPECTS = ["1:1", "3:2", "2:3", "4:3", "3:4", "16:9", "9:16"]
# slash option -> template parameter
PARAMETER_OF = {
    "negative": "negative",
    "seed": "seed",
    "steps": "steps",
    "cfg": "cfg",
    "model": "model",
    "count": "batch_size",
}


class RequestError(LocalizedError, ValueError):
    """What the member asked for cannot be run; the message says why and what to change."""


class ImagineCog(commands.Cog):
    def __init__(
        self,
        library: TemplateLibrary,
        engine: JobEngine,
        messages: JobMessages,
        limits: LimitSettings,
        *,
        default_template: str = "txt2img",
        models: list[str] | None = None,
        policies: Policies,
        store: SqliteJobStore,
    ) -> None:
        self.policies = policies
        self.store = store
        self.library = library
        self.engine = engine
        self.messages = messages
        self.limits = limits
        self.default_template = default_template
        self.models = models if models is not None else []

    @app_commands.command(name="imagine", description="Make an image from a prompt")
    @app_commands.describe(
        prompt="What to draw; inline flags work too: --ar 16:9 --seed 42 --no text --steps 30",
        negative="What to avoid",
        aspect="Aspect ratio",
        seed="Noise seed (empty or -1 for a random one)",
        steps="Sampling steps",
        cfg="How closely to follow the prompt",
        model="Checkpoint",
        count="How many images",
        template="Workflow template",
        image="An image to start from (for templates that take one)",
    )
    @app_commands.choices(aspect=[app_commands.Choice(name=a, value=a) for a in ASPECTS])
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 6000],
        negative: str | None = None,
        aspect: str | None = None,
        seed: app_commands.Range[int, -1, SEED_MAX] | None = None,
        steps: app_commands.Range[int, 1, 1000] | None = None,
        cfg: app_commands.Range[float, 0.0, 100.0] | None = None,
        model: str | None = None,
        count: app_commands.Range[int, 1, 16] | None = None,
        template: str | None = None,
        image: discord.Attachment | None = None,
    ) -> None:
        policy = self.policies.of(interaction.guild_id)
        roles = [r.id for r in getattr(interaction.user, "roles", [])]
        refusal = policy.refusal(
            in_dm=interaction.guild_id is None, channel_id=interaction.channel_id or 0, roles=roles, text=prompt
        )
        if refusal is not None:  # from memory, before anything slow: the answer can still be ephemeral
            await tell(interaction, refusal, warn=True)
            return
        private = policy.allow_private and self.store.wants_private(interaction.user.id)
        lacking = missing_permissions(interaction, private=private)
        if lacking is not None:  # told now, ephemerally, rather than failing when the result is posted
            await tell(interaction, lacking, warn=True)
            return
        with admitted(self.engine, self.limits, interaction.user.id) as problem:  # checked and reserved at once
            await self._make(
                interaction,
                prompt,
                image,
                private,
                problem,
                {
                    "negative": negative,
                    "aspect": aspect,
                    "seed": seed,
                    "steps": steps,
                    "cfg": cfg,
                    "model": model,
                    "count": count,
                    "template": template,
                },
            )

    async def _make(
        self,
        interaction: discord.Interaction,
        prompt: str,
        image: discord.Attachment | None,
        private: bool,
        problem: Text | None,
        given: dict[str, Any],
    ) -> None:
        """Acknowledge, then make the job (or say why not) while the member's place is reserved."""
        callback = await interaction.response.defer(thinking=True, ephemeral=private)  # Discord allows 3 seconds
        message_id = getattr(callback, "message_id", None)
        try:
            if problem is not None:
                raise RequestError("raw", message=problem)
            given = {k: v for k, v in given.items() if v is not None}
            request = await self._request(interaction, prompt, given, image, private)
        except (RequestError, FlagError, TemplateError) as exc:
            await self.messages.refuse(interaction, message_id, "⚠️ " + say(interaction, text_of(exc)))
            return
        job = Job(request)
        self.messages.attach(job, interaction, message_id)
        await self.engine.accept(job, StoredReply(request.channel_id, message_id, interaction.token))

    @imagine.autocomplete("template")
    async def _templates(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        names = [n for n in sorted(self.library.templates) if current.lower() in n]
        return [app_commands.Choice(name=n, value=n) for n in names[:25]]

    @imagine.autocomplete("model")
    async def _models(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        names = [n for n in self.models if current.lower() in n.lower()]
        return [app_commands.Choice(name=n[:100], value=n[:100]) for n in names[:25]]

    async def _request(
        self,
        interaction: discord.Interaction,
        prompt: str,
        given: dict[str, Any],
        image: discord.Attachment | None,
        private: bool,
    ) -> JobRequest:
        limits = self.limits
        parsed = parse_flags(prompt)
        for option, value in parsed.options.items():
            if option in given:
                raise RequestError("imagine.both", option=option)
            given[option] = value
        text = parsed.text
        if len(text) > limits.prompt_max_length:
            raise RequestError("imagine.too_long", length=len(text), limit=limits.prompt_max_length)
        defaults = await self.store.member_settings(interaction.user.id)  # after the defer: it may be slow
        chosen = self.library.get(str(given.pop("template", defaults.get("template", self.default_template))))
        if "aspect" not in given and "aspect" in defaults and "width" in chosen.parameters:
            given["aspect"] = defaults["aspect"]
        if "negative" not in given and "negative" in defaults and "negative" in chosen.parameters:
            given["negative"] = defaults["negative"]
        values: dict[str, Any] = {"prompt": text} if "prompt" in chosen.parameters else {}
        if "prompt" not in chosen.parameters and text:
            raise RequestError("imagine.no_prompt", template=chosen.name)
        aspect = given.pop("aspect", None)
        if aspect is not None:
            values.update(self._size(chosen, str(aspect)))
        for option, value in given.items():
            parameter = PARAMETER_OF[option]
            if parameter not in chosen.parameters:
                raise RequestError("imagine.no_option", template=chosen.name, option=option)
            values[parameter] = value
        steps = values.get("steps")
        if steps is not None and _number(steps, "steps") > limits.steps_max:
            raise RequestError("imagine.steps_max", limit=limits.steps_max, got=steps)
        if image is not None:
            name = next((p.name for p in chosen.parameters.values() if p.type == "image"), None)
            if name is None:
                raise RequestError("imagine.no_image", template=chosen.name)
            values[name] = ImageData(await image.read(), image.filename)
        bound = chosen.bind(values)
        unrunnable = self.engine.pool.never_runnable(bound.graph)
        if unrunnable is not None:
            raise RequestError("imagine.unrunnable", detail=unrunnable)
        for side in ("width", "height"):
            if isinstance(bound.values.get(side), int) and bound.values[side] > limits.image_max_side:
                raise RequestError("imagine.side_max", side=side, limit=limits.image_max_side)
        policy = self.policies.of(interaction.guild_id)
        spoiler = policy.spoiler(
            template_nsfw=chosen.nsfw, channel_nsfw=bool(getattr(interaction.channel, "nsfw", False))
        )
        return JobRequest(
            interaction.user.id,
            interaction.guild_id,
            interaction.channel_id or 0,
            bound,
            spoiler=spoiler,
            locale=locale_of(interaction),
            private=private,
        )

    def _size(self, template: Template, aspect: str) -> dict[str, int]:
        if "width" not in template.parameters or "height" not in template.parameters:
            raise RequestError("imagine.no_size", template=template.name)
        defaults = template.bind({}).values
        area = int(defaults["width"]) * int(defaults["height"])
        width, height = size_for(parse_aspect(aspect), area, self.limits.image_max_side)
        return {"width": width, "height": height}


def _number(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise RequestError("imagine.number", name=name, got=excerpt(repr(value))) from None

"""/imagine: a prompt and options (or inline flags) become a job on a workflow template, through the one
admission path (`bot/jobs/admission.py`); this cog reads Discord's input and answers."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.comfy.pool import BackendPool
from bot.i18n import Text, text_of
from bot.jobs.admission import Admission, Asker, RequestError
from bot.jobs.engine import JobEngine
from bot.jobs.errors import RefusedRequest
from bot.jobs.model import Job
from bot.jobs.store import StoredReply
from bot.templates.errors import TemplateError
from bot.templates.library import TemplateLibrary
from bot.templates.params import ImageData
from bot.templates.template import SEED_MAX
from bot.ui.job_messages import JobMessages

from .actors import asker_of
from .bot_permissions import missing_permissions
from .replies import loading, say, tell

log = logging.getLogger(__name__)
ASPECTS = ["1:1", "3:2", "2:3", "4:3", "3:4", "16:9", "9:16"]


class ImagineCog(commands.Cog):
    def __init__(
        self,
        admission: Admission,
        library: TemplateLibrary,
        engine: JobEngine,
        messages: JobMessages,
        pool: BackendPool,
    ) -> None:
        self.admission = admission
        self.library = library
        self.engine = engine
        self.messages = messages
        self.pool = pool

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
        lora="A LoRA (more, with a strength: <lora:name:0.8> in the prompt)",
        audio="A sound to start from (for templates that take one)",
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
        lora: str | None = None,
        audio: discord.Attachment | None = None,
    ) -> None:
        asker = asker_of(interaction)
        refusal = self.admission.refusal(asker, prompt, negative or "")
        if refusal is not None:  # from memory, before anything slow: the answer can still be ephemeral
            await tell(interaction, refusal, warn=True)
            return
        private = self.admission.private(asker)
        lacking = missing_permissions(interaction, private=private)
        if lacking is not None:  # told now, ephemerally, rather than failing when the result is posted
            await tell(interaction, lacking, warn=True)
            return
        given = {
            "negative": negative,
            "aspect": aspect,
            "seed": seed,
            "steps": steps,
            "cfg": cfg,
            "model": model,
            "count": count,
            "template": template,
            "lora": lora,
        }
        with self.admission.reserved(interaction.user.id) as problem:  # checked and reserved at once
            await self._make(interaction, asker, prompt, (image, audio), private, problem, given)

    async def _make(
        self,
        interaction: discord.Interaction,
        asker: Asker,
        prompt: str,
        files: tuple[discord.Attachment | None, discord.Attachment | None],  # the image and the sound attached
        private: bool,
        problem: Text | None,
        given: dict[str, Any],
    ) -> None:
        """Acknowledge, then make the job (or say why not) while the member's place is reserved."""
        message_id = await loading(interaction, ephemeral=private)
        try:
            if problem is not None:
                raise RequestError("raw", message=problem)
            for file in files:
                if file is not None and (too_big := self.admission.attachment_too_big(file.size)) is not None:
                    raise RequestError("raw", message=too_big)  # not downloaded at all
            image, sound = [ImageData(await f.read(), f.filename) if f is not None else None for f in files]
            options = {k: v for k, v in given.items() if v is not None}
            request = await self.admission.imagine(asker, prompt, options, image, private=private, audio=sound)
        except (RefusedRequest, TemplateError) as exc:
            await self.messages.refuse(interaction, message_id, "⚠️ " + say(interaction, text_of(exc)))
            return
        job = Job(request)
        self.messages.attach(job, interaction, message_id)
        await self.engine.accept(job, StoredReply(request.channel_id, message_id, interaction.token))

    @imagine.autocomplete("template")
    async def _templates(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        names = [n for n in sorted(self.library.templates) if current.lower() in n]
        return [app_commands.Choice(name=n, value=n) for n in names[:25]]

    @imagine.autocomplete("lora")
    async def _loras(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        loras = self.pool.choices("LoraLoader", "lora_name")  # what the servers' loras folders hold now
        names = [n for n in loras if current.lower() in n.lower()]
        return [app_commands.Choice(name=n[:100], value=n[:100]) for n in names[:25]]

    @imagine.autocomplete("model")
    async def _models(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        models = self.pool.choices("CheckpointLoaderSimple", "ckpt_name")  # what the servers have now
        names = [n for n in models if current.lower() in n.lower()]
        return [app_commands.Choice(name=n[:100], value=n[:100]) for n in names[:25]]

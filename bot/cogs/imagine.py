"""/imagine: a prompt and options (or inline flags) become a job on a workflow template, through the one
admission path (`bot/jobs/admission.py`); this cog reads Discord's input and answers."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.jobs.admission import Admission, Knock, RequestError
from bot.jobs.views import Views
from bot.templates.library import TemplateLibrary
from bot.templates.params import ImageData
from bot.templates.template import SEED_MAX
from bot.ui.job_messages import JobMessages

from .actors import asker, bot_permissions
from .replies import loading

log = logging.getLogger(__name__)
ASPECTS = ["1:1", "3:2", "2:3", "4:3", "3:4", "16:9", "9:16"]


class ImagineCog(commands.Cog):
    def __init__(self, admission: Admission, library: TemplateLibrary, messages: JobMessages, views: Views) -> None:
        self.admission, self.library, self.messages, self.views = admission, library, messages, views

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
        knock = Knock(asker(interaction), texts=(prompt, negative or ""), bot_permissions=bot_permissions(interaction))
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
        with self.admission.open(knock) as ticket:  # refused from memory, before anything slow: ephemerally
            message_id = await loading(interaction, ephemeral=ticket.private)
            files = (image, audio)  # the image and the sound attached
            for file in files:
                if file is not None and (too_big := self.admission.attachment_too_big(file.size)) is not None:
                    raise RequestError.saying(too_big)  # not downloaded at all
            image_data, sound = [ImageData(await f.read(), f.filename) if f is not None else None for f in files]
            options = {k: v for k, v in given.items() if v is not None}
            job = await ticket.imagine(prompt, options, image_data, sound)
            self.messages.attach(job, interaction, message_id)
            await ticket.accept(job, message_id, interaction.token)

    @imagine.autocomplete("template")
    async def _templates(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        names = [n for n in sorted(self.library.templates) if current.lower() in n]
        return [app_commands.Choice(name=n, value=n) for n in names[:25]]

    @imagine.autocomplete("lora")
    async def _loras(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        loras = self.views.choices("LoraLoader", "lora_name")  # what the servers' loras folders hold now
        names = [n for n in loras if current.lower() in n.lower()]
        return [app_commands.Choice(name=n[:100], value=n[:100]) for n in names[:25]]

    @imagine.autocomplete("model")
    async def _models(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        models = self.views.choices("CheckpointLoaderSimple", "ckpt_name")  # what the servers have now
        names = [n for n in models if current.lower() in n.lower()]
        return [app_commands.Choice(name=n[:100], value=n[:100]) for n in names[:25]]

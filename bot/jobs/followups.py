"""What a follow-up on a finished result binds: reroll, vary, upscale, edit. `admission.py` holds each draft to
the same rules, caps and queue as `/imagine`.

- Reroll: the same template and values, a new random seed (images the member attached are used again).
- Vary: an img2img template (an image input, a prompt and a denoise) from the chosen result image, with the
  result's prompt and a small denoise, so it stays close to the original.
- Upscale: a template with an image input and no prompt (the shipped `upscale`), from the chosen result image.
- Edit: new prompt and negative, the same seed, so only the words change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.templates.library import TemplateLibrary
from bot.templates.params import FILE_TYPES, ImageData
from bot.templates.template import LORAS, Template

from .errors import RefusedRequest
from .model import Job

VARY_DENOISE = 0.35


class FollowUpError(RefusedRequest, ValueError):
    """This follow-up cannot be made; the message says why."""


@dataclass(frozen=True, slots=True)
class Draft:
    """What to bind, before admission holds it to the rules: a template, its values, the kind of job."""

    template: str
    values: dict[str, Any]
    kind: str  # imagine, reroll, vary, upscale, edit
    parent_id: str | None = None  # the result it comes from


def _image_param(template: Template) -> str | None:
    return next((p.name for p in template.parameters.values() if p.type == "image"), None)


class FollowUps:
    def __init__(self, library: TemplateLibrary) -> None:
        self.library = library

    def vary_template(self) -> Template | None:
        for template in self.library.templates.values():
            params = template.parameters
            if _image_param(template) and "prompt" in params and "denoise" in params:
                return template
        return None

    def upscale_template(self) -> Template | None:
        for template in self.library.templates.values():
            if _image_param(template) and "prompt" not in template.parameters:
                return template
        return None

    def _template(self, job: Job) -> Template:
        template = self.library.templates.get(job.request.bound.template)
        if template is None:
            raise FollowUpError("followup.template_gone", template=job.request.bound.template)
        return template

    def _same_values(self, job: Job, template: Template) -> dict[str, Any]:
        bound = job.request.bound
        values: dict[str, Any] = {}
        for name, param in template.parameters.items():
            if param.type in FILE_TYPES:
                if name in bound.images:
                    values[name] = bound.images[name]
            elif name in bound.values:
                values[name] = bound.values[name]
        if bound.values.get(LORAS) and template.max_loras:  # the LoRAs the member added, again
            values[LORAS] = bound.values[LORAS][: template.max_loras]
        return values

    def reroll(self, job: Job) -> Draft:
        template = self._template(job)
        values = self._same_values(job, template)
        values.pop("seed", None)
        return Draft(template.name, values, "reroll", job.id)

    def edit(self, job: Job, prompt: str, negative: str | None) -> Draft:
        template = self._template(job)
        if "prompt" not in template.parameters:
            raise FollowUpError("followup.no_prompt", template=template.name)
        values = self._same_values(job, template)
        values["prompt"] = prompt
        if negative is not None and "negative" in template.parameters:
            values["negative"] = negative
        return Draft(template.name, values, "edit", job.id)

    def vary(self, job: Job, image: ImageData) -> Draft:
        template = self.vary_template()
        image_param = _image_param(template) if template else None
        if template is None or image_param is None:
            raise FollowUpError("followup.no_vary")
        previous = job.request.bound.values
        values: dict[str, Any] = {image_param: image, "denoise": VARY_DENOISE}
        for name in ("prompt", "negative", "model"):
            if name in template.parameters and previous.get(name) is not None:
                values[name] = previous[name]
        return Draft(template.name, values, "vary", job.id)

    def upscale(self, job: Job, image: ImageData) -> Draft:
        template = self.upscale_template()
        image_param = _image_param(template) if template else None
        if template is None or image_param is None:
            raise FollowUpError("followup.no_upscale")
        return Draft(template.name, {image_param: image}, "upscale", job.id)

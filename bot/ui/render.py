"""What a job's message looks like in each state: queue position, progress with a preview, results, errors."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import discord

from bot.i18n import Text
from bot.jobs.events import Cancelled, Delivered, Failed, JobEvent, Queued, Running, Starting, WaitingForBackend
from bot.media.fit import FittedResult

from .buttons import progress_view, result_view
from .fit import as_typed, fit_content, fit_embed, shown

BAR = 20
COLOR_WORKING = discord.Colour.blurple()
COLOR_DONE = discord.Colour.green()


@dataclass
class Rendered:
    content: str = ""
    embed: discord.Embed | None = None
    files: list[discord.File] = field(default_factory=list)
    view: discord.ui.View | None = None  # None removes any buttons
    followups: list[list[discord.File]] = field(default_factory=list)  # more than 10 images


def progress_bar(value: float, maximum: float) -> str:
    fraction = 0.0 if maximum <= 0 else max(0.0, min(1.0, value / maximum))
    filled = round(fraction * BAR)
    return "▰" * filled + "▱" * (BAR - filled) + f" {fraction:.0%}"


def _working(title: str, description: str, prompt: Any, locale: str) -> discord.Embed:
    embed = discord.Embed(title=title, description=description, colour=COLOR_WORKING)
    embed.add_field(name=_say(locale, "result.prompt"), value=shown(as_typed(prompt), 300, _none(locale)), inline=False)
    return embed


def _none(locale: str) -> str:
    return _say(locale, "result.none")


def _fitted(rendered: Rendered, locale: str) -> Rendered:
    """Whatever went into it, what is sent fits Discord's limits (bot/ui/fit.py)."""
    rendered.content = fit_content(rendered.content)
    if rendered.embed is not None:
        rendered.embed = fit_embed(rendered.embed, _none(locale))
    return rendered


def _say(locale: str, key: str, **params: Any) -> str:
    return Text(key, **params).render(locale)


def render_progress(event: JobEvent, values: Mapping[str, Any], job_id: str, locale: str = "en-US") -> Rendered:
    return _fitted(_progress(event, values, job_id, locale), locale)


def _progress(event: JobEvent, values: Mapping[str, Any], job_id: str, locale: str) -> Rendered:
    prompt = values.get("prompt")
    view = progress_view(job_id, locale)
    if isinstance(event, Queued):
        ahead = (
            _say(locale, "progress.next")
            if event.position == 1
            else _say(locale, "progress.position", position=event.position)
        )
        return Rendered(embed=_working(_say(locale, "progress.queued"), ahead, prompt, locale), view=view)
    if isinstance(event, Starting):
        text = _say(locale, "progress.on", backend=event.backend)
        return Rendered(embed=_working(_say(locale, "progress.starting"), text, prompt, locale), view=view)
    if isinstance(event, WaitingForBackend):
        embed = _working(_say(locale, "progress.waiting"), event.reason.render(locale), prompt, locale)
        return Rendered(embed=embed, view=view)
    if isinstance(event, Running):
        node = f" · {event.node}" if event.node else ""
        steps = f" ({event.value:g}/{event.max:g})"
        text = f"{progress_bar(event.value, event.max)}{steps}{node} · {event.elapsed:.0f}s"
        embed = _working(_say(locale, "progress.running"), text, prompt, locale)
        files = []
        if event.preview:
            extension = "png" if "png" in event.preview_mime else "jpg"
            files.append(discord.File(_bytes(event.preview), filename=f"preview.{extension}"))
            embed.set_image(url=f"attachment://preview.{extension}")
        return Rendered(embed=embed, files=files, view=view)
    raise ValueError(f"not a progress state: {event!r}")


@dataclass(frozen=True, slots=True)
class ResultActions:
    """Which follow-ups a delivered result offers (they depend on the templates installed)."""

    job_id: str
    can_vary: bool
    can_upscale: bool
    kind: str = "imagine"  # what made it: imagine, reroll, vary, upscale, edit
    note: str | None = None  # the jump link of the result it comes from
    spoiler: bool = False
    locale: str = "en-US"


STILL_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")  # results an img2img or upscale template can take


def render_final(
    event: JobEvent,
    values: Mapping[str, Any],
    template: str,
    images: list[FittedResult],
    actions: ResultActions,
    *,
    notes: Sequence[Text] = (),
) -> Rendered:
    """The final message; `notes` say where it had to go instead of its place (shown with it)."""
    rendered = _final(event, values, template, images, actions)
    said = " ".join(note.render(actions.locale) for note in notes)
    if said and rendered.embed is not None:
        rendered.embed.description = f"{rendered.embed.description or ''}\n{said}".strip()
    elif said:
        rendered.content = f"{rendered.content}\n{said}"
    return _fitted(rendered, actions.locale)


def render_plain(rendered: Rendered, locale: str) -> Rendered:
    """The same result with nothing but a line of text and its files: what is sent when Discord refused the
    full message, so a result is never lost to a message rule."""
    line = rendered.content or "✅ " + (rendered.embed.title if rendered.embed and rendered.embed.title else "")
    return Rendered(content=fit_content(line.strip() or _say(locale, "result.done")), files=rendered.files)


def _final(
    event: JobEvent, values: Mapping[str, Any], template: str, images: list[FittedResult], actions: ResultActions
) -> Rendered:
    locale = actions.locale
    none = _none(locale)
    if isinstance(event, Failed):
        return Rendered(content=f"❌ {event.message.render(locale)}")
    if isinstance(event, Cancelled):
        return Rendered(content="🚫 " + _say(locale, "result.cancelled", by=event.by))
    if not isinstance(event, Delivered):
        raise ValueError(f"not a final state: {event!r}")
    note = None
    if actions.note and actions.kind != "imagine":
        note = _say(locale, "result.of", kind=Text(f"kind.{actions.kind}"), link=actions.note)
    said = "\n\n".join(text for text in (note, *event.texts) if text)  # text outputs, fitted with the embed
    embed = discord.Embed(title=_say(locale, "result.done"), colour=COLOR_DONE, description=said or None)
    if values.get("prompt") is not None:
        embed.add_field(
            name=_say(locale, "result.prompt"), value=shown(as_typed(values["prompt"]), 1000, none), inline=False
        )
    if str(values.get("negative") or "").strip():
        embed.add_field(
            name=_say(locale, "result.negative"), value=shown(as_typed(values["negative"]), 500), inline=False
        )
    for name in ("seed", "steps", "cfg", "model"):
        if values.get(name) is not None:  # a seed of 0 is a seed: shown as "0"
            embed.add_field(name=_say(locale, f"result.{name}"), value=shown(as_typed(values[name]), 100, none))
    if values.get("width") and values.get("height"):
        embed.add_field(name=_say(locale, "result.size"), value=f"{values['width']}x{values['height']}")
    embed.add_field(name=_say(locale, "result.template"), value=template)
    embed.add_field(name=_say(locale, "result.backend"), value=event.backend)
    embed.add_field(name=_say(locale, "result.time"), value=f"{event.seconds:.1f}s")
    notes = sorted({image.note.render(locale) for image in images if image.note})
    if notes:
        embed.set_footer(text="; ".join(notes))
    files = [
        discord.File(_bytes(image.data), filename=image.filename, spoiler=actions.spoiler)
        for image in images
        if image.attached
    ]
    still = bool(files) and all(PurePath(f.filename or "").suffix.lower() in STILL_SUFFIXES for f in files)
    view = result_view(  # a video, a sound or a text is not varied or upscaled as an image is
        actions.job_id,
        len(files[:10]),
        can_vary=actions.can_vary and still,
        can_upscale=actions.can_upscale and still,
        locale=locale,
    )
    return Rendered(
        embed=embed, files=files[:10], view=view, followups=[files[i : i + 10] for i in range(10, len(files), 10)]
    )


def _bytes(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)

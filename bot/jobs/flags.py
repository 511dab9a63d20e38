"""Inline flags inside a prompt, as Midjourney users type them: `a fox --ar 16:9 --seed 42 --no text`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.i18n import excerpt

from .errors import RefusedRequest

FLAGS = {
    "ar": "aspect",
    "aspect": "aspect",
    "seed": "seed",
    "no": "negative",
    "negative": "negative",
    "steps": "steps",
    "cfg": "cfg",
    "count": "count",
    "n": "count",
    "model": "model",
    "template": "template",
    "fps": "fps",  # a video template's frames per second (CreateVideo)
    "length": "length",  # and its length in frames
    "frames": "length",
}
_FLAG = re.compile(r"(?:(?<=\s)|^)--([A-Za-z][\w-]*)")


class FlagError(RefusedRequest, ValueError):
    """A flag the member typed cannot be used; the message says which and what is known."""


@dataclass(frozen=True, slots=True)
class ParsedPrompt:
    text: str
    options: dict[str, str]  # option name -> raw value


def parse_flags(prompt: str) -> ParsedPrompt:
    matches = list(_FLAG.finditer(prompt))
    if not matches:
        return ParsedPrompt(prompt.strip(), {})
    options: dict[str, str] = {}
    for index, match in enumerate(matches):
        name = match.group(1).lower()
        option = FLAGS.get(name)
        if option is None:
            known = ", ".join(f"--{flag}" for flag in FLAGS)
            raise FlagError("flags.unknown", flag=excerpt(match.group(1), 40), known=known)
        end = matches[index + 1].start() if index + 1 < len(matches) else len(prompt)
        value = prompt[match.end() : end].strip()
        if not value:
            raise FlagError("flags.needs_value", flag=name, example=_EXAMPLES.get(option, "..."))
        if option in options:
            raise FlagError("flags.twice", flag=name)
        options[option] = value
    return ParsedPrompt(prompt[: matches[0].start()].strip(), options)


_EXAMPLES = {
    "aspect": "16:9",
    "seed": "42",
    "negative": "text",
    "steps": "30",
    "cfg": "7",
    "count": "2",
    "fps": "16",
    "length": "33",
}


def parse_aspect(value: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d{1,2})\s*[:x/]\s*(\d{1,2})\s*", value)
    if not match or not int(match.group(1)) or not int(match.group(2)):
        raise FlagError("flags.aspect_form", value=excerpt(value, 40))
    width, height = int(match.group(1)), int(match.group(2))
    if not 1 / 4 <= width / height <= 4:
        raise FlagError("flags.aspect_extreme", value=excerpt(value, 40))
    return width, height


def size_for(aspect: tuple[int, int], area: int, max_side: int) -> tuple[int, int]:
    """Width and height with about `area` pixels, multiples of 64, the longer side at most `max_side`."""
    ratio = aspect[0] / aspect[1]
    width = (area * ratio) ** 0.5
    height = width / ratio
    scale = min(1.0, max_side / max(width, height))
    return max(64, round(width * scale / 64) * 64), max(64, round(height * scale / 64) * 64)

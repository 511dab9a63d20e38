"""`<lora:name:0.8>` in a prompt, as Automatic1111 and its followers write it: the LoRA `name` at strength 0.8
(1.0 when left out). The tags leave the prompt's text; each name is matched to a LoRA a ComfyUI server has:
exactly, with `.safetensors` added, or by its file name without folder and suffix, ignoring case."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from bot.i18n import excerpt

from .errors import RefusedRequest

TAG = re.compile(r"<lora:([^:<>]{1,200})(?::(-?\d+(?:\.\d+)?))?>", re.IGNORECASE)
STRENGTH = (-10.0, 10.0)  # LoraLoader's own bounds (strength_model: min -100, max 100; -10..10 is plenty)


class LoraError(RefusedRequest, ValueError):
    """A `<lora:...>` tag names no LoRA the servers have, or asks too much; the message says which."""


@dataclass(frozen=True, slots=True)
class Tagged:
    text: str  # the prompt without its tags
    loras: tuple[tuple[str, float], ...]  # (name as the member wrote it, strength)


def take_loras(prompt: str) -> Tagged:
    loras = []
    for match in TAG.finditer(prompt):
        strength = float(match.group(2)) if match.group(2) is not None else 1.0
        if not STRENGTH[0] <= strength <= STRENGTH[1]:
            raise LoraError("lora.strength", name=excerpt(match.group(1), 60), strength=match.group(2))
        loras.append((match.group(1).strip(), strength))
    text = re.sub(r"\s{2,}", " ", TAG.sub(" ", prompt)).strip() if loras else prompt
    return Tagged(text, tuple(loras))


def resolve(name: str, available: Sequence[str]) -> str:
    """The server's name for the LoRA a member wrote."""
    if name in available:
        return name
    wanted = name.lower().removesuffix(".safetensors")
    for candidate in available:
        path = PurePosixPath(candidate.replace("\\", "/"))
        if candidate.lower().removesuffix(".safetensors") == wanted or path.stem.lower() == wanted:
            return candidate
    shown = ", ".join(PurePosixPath(c.replace("\\", "/")).stem for c in available[:15]) or "none"
    raise LoraError("lora.unknown", name=excerpt(name, 60), known=shown)

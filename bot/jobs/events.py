"""What the engine tells the presentation about a job (the latest of these is what a member sees)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.comfy.errors import PromptRejected
from bot.i18n import Joined, Text


@dataclass(frozen=True, slots=True)
class Queued:
    position: int  # 1 = next


@dataclass(frozen=True, slots=True)
class Starting:
    backend: str


@dataclass(frozen=True, slots=True)
class WaitingForBackend:
    reason: Text


@dataclass(frozen=True, slots=True)
class Running:
    value: float
    max: float
    node: str | None
    elapsed: float
    preview: bytes | None = None
    preview_mime: str = "image/jpeg"


@dataclass(frozen=True, slots=True)
class ResultFile:
    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Delivered:
    files: tuple[ResultFile, ...]  # the results: images, animations, videos, sounds
    seconds: float
    backend: str
    texts: tuple[str, ...] = ()  # what text outputs showed (PreviewAny, SaveText)


@dataclass(frozen=True, slots=True)
class Failed:
    message: Text  # for the member: what happened and what to do


@dataclass(frozen=True, slots=True)
class Cancelled:
    by: Text = field(default_factory=lambda: Text("by.you"))


JobEvent = Queued | Starting | WaitingForBackend | Running | Delivered | Failed | Cancelled
FINAL_EVENTS = (Delivered, Failed, Cancelled)


def rejection_message(exc: PromptRejected) -> Text:
    nodes = "; ".join(node.summary() for node in exc.node_errors.values())
    return Text("failed.rejected", detail=nodes or exc.error.message)


def waiting_reason(blockers: list[tuple[str, str, str]]) -> Text:
    """Why a job waits, from the pool's (backend, kind, detail) list."""
    if not blockers:
        return Text("waiting.none_configured")
    reasons = [Text(f"waiting.{kind}", backend=name, detail=detail) for name, kind, detail in blockers]
    return Text("waiting.reasons", reasons=Joined(reasons))

"""What the engine tells the presentation about a job (the latest of these is what a member sees)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.comfy.errors import PromptRejected


@dataclass(frozen=True, slots=True)
class Queued:
    position: int  # 1 = next


@dataclass(frozen=True, slots=True)
class Starting:
    backend: str


@dataclass(frozen=True, slots=True)
class WaitingForBackend:
    reason: str


@dataclass(frozen=True, slots=True)
class Running:
    value: float
    max: float
    node: str | None
    elapsed: float
    preview: bytes | None = None
    preview_mime: str = "image/jpeg"


@dataclass(frozen=True, slots=True)
class ResultImage:
    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Delivered:
    images: tuple[ResultImage, ...]
    seconds: float
    backend: str


@dataclass(frozen=True, slots=True)
class Failed:
    message: str  # for the member: what happened and what to do


@dataclass(frozen=True, slots=True)
class Cancelled:
    by: str = "you"


JobEvent = Queued | Starting | WaitingForBackend | Running | Delivered | Failed | Cancelled
FINAL_EVENTS = (Delivered, Failed, Cancelled)


def rejection_message(exc: PromptRejected) -> str:
    nodes = "; ".join(node.summary() for node in exc.node_errors.values())
    return f"ComfyUI refused the workflow: {nodes or exc.error.message}. An admin should check this template."

"""What a member sees of a running prompt: ComfyUI's events folded into the newest `Running` state."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from bot.comfy.events import Event, Executing, PreviewImage, Progress

from .events import Running


class ProgressTracker:
    """Remembers the node running and the newest preview; each `progress` event gives a `Running` to show."""

    def __init__(self, graph: Mapping[str, Any], started: float | None) -> None:
        self.graph = graph
        self.started = started
        self.node: str | None = None
        self.preview: PreviewImage | None = None

    def see(self, event: Event) -> Running | None:
        if isinstance(event, Executing) and event.node is not None:
            self.node = self.graph.get(event.node, {}).get("class_type", event.node)
        elif isinstance(event, PreviewImage):
            self.preview = event
        elif isinstance(event, Progress):
            elapsed = time.time() - (self.started or time.time())
            image, mime = (self.preview.image, self.preview.mime) if self.preview else (None, "image/jpeg")
            return Running(event.value, event.max, self.node, elapsed, image, mime)
        return None

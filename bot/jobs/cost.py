"""What a job costs on a GPU, measured from ComfyUI's own events, and what the next one of a template is expected
to cost on a server.

A job's GPU time is its prompt's execution, from `execution_start` to `execution_success` (the server's own
timestamps when it sends both, as the recorded server does; else when they arrived). The time its model loaders
ran (a loader ComfyUI did not answer from its cache: `execution_cached` lists those it did) is counted apart, as
loading: it is what a server with that model already loaded would not spend. Both are kept with the job in the
store; estimates are a moving average per template and server, from the jobs as they end and, at start, from
the store's latest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bot.comfy.events import Event, Executing, ExecutionCached, ExecutionStart, ExecutionSuccess, Progress
from bot.comfy.loaders import LOADERS

SMOOTHING = 0.3  # the weight of the newest job in a moving average


class CostMeter:
    """One run's GPU time and loading time, from its events as they arrive."""

    def __init__(self, graph: Mapping[str, Any], clock: Callable[[], float] = time.monotonic) -> None:
        self._loaders = {
            node for node, body in graph.items() if isinstance(body, dict) and body.get("class_type") in LOADERS
        }
        self._clock = clock
        self._started: float | None = None
        self._ended: float | None = None
        self._server: list[int | None] = [None, None]  # the server's start and success timestamps (ms)
        self._loading_since: float | None = None
        self.load_seconds = 0.0
        self.loads = 0  # loaders that ran (read a file)

    def see(self, event: Event) -> None:
        now = self._clock()
        if isinstance(event, ExecutionStart):
            self._started, self._server[0] = now, event.timestamp
        elif isinstance(event, ExecutionCached):
            self._loaders -= set(event.nodes)  # answered from ComfyUI's cache: no file read
        elif isinstance(event, Executing | Progress | ExecutionSuccess):
            if self._loading_since is not None:
                self.load_seconds += now - self._loading_since
                self._loading_since = None
            if isinstance(event, Executing) and event.node in self._loaders:
                self._loading_since = now
                self.loads += 1
            if isinstance(event, ExecutionSuccess):
                self._ended, self._server[1] = now, event.timestamp

    def gpu_seconds(self) -> float | None:
        """The execution's seconds, loading excluded; None when the run was not seen from its start."""
        if self._started is None:
            return None
        start, end = self._server
        if start is not None and end is not None and end >= start:
            total = (end - start) / 1000
        else:
            total = (self._ended if self._ended is not None else self._clock()) - self._started
        return max(0.0, total - self.load_seconds)


class CostEstimates:
    """Expected GPU seconds of a template's next job, per server (a moving average), else across servers."""

    def __init__(self, default: float = 10.0) -> None:
        self.default = default
        self._by_server: dict[tuple[str, str], float] = {}
        self._by_template: dict[str, float] = {}

    def record(self, template: str, backend: str, seconds: float) -> None:
        self._by_server[template, backend] = _averaged(self._by_server.get((template, backend)), seconds)
        self._by_template[template] = _averaged(self._by_template.get(template), seconds)

    def seed(self, measured: Iterable[tuple[str, str, float]]) -> None:
        """From the store's latest jobs, oldest first: (template, server, GPU seconds)."""
        for template, backend, seconds in measured:
            self.record(template, backend, seconds)

    def estimate(self, template: str, backend: str | None = None, expected: float | None = None) -> float:
        """Measured there, else measured anywhere, else `expected` (the template's manifest), else the default."""
        if backend is not None and (template, backend) in self._by_server:
            return self._by_server[template, backend]
        return self._by_template.get(template, expected or self.default)


def _averaged(known: float | None, seconds: float) -> float:
    return seconds if known is None else known + SMOOTHING * (seconds - known)

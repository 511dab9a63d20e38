"""Several ComfyUI backends: health, what each can run, how long each takes, and draining.

A backend is healthy while `/system_stats` answers; `failures_to_down` failed checks in a row take it out
(and `on_down` is told, so its jobs can be reconciled or re-queued); it returns when it answers again. What it
can run is read from `/object_info` each time it comes up: node types, and the values combo inputs accept
(checkpoints, samplers, ...). A paused backend finishes what it runs and takes nothing new.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .backend import ComfyBackend
from .errors import ComfyError
from .loaders import models_of
from .models import NodeInfo, SystemStats

log = logging.getLogger(__name__)
# inputs naming a file in the server's input folder, which the bot uploads with the job: their lists are not
# what the job can use
UPLOADED = {("LoadImage", "image"), ("LoadImageMask", "image"), ("LoadAudio", "audio"), ("LoadVideo", "file")}
CHECKED_GRAPHS = 1024  # graphs whose checks are remembered (held meanwhile, so few; the oldest go first)
MIN_LOAD_SECONDS = 0.25  # model loads quicker than this (cached files, a CPU test server) do not steer routing


@dataclass(frozen=True)
class Capability:
    node_types: frozenset[str]
    choices: Mapping[tuple[str, str], frozenset[str]]  # (node type, input) -> accepted values

    def problems(self, graph: Mapping[str, Any]) -> list[str]:
        """Why this backend cannot run `graph` (empty when it can)."""
        found = []
        for node_id, node in graph.items():
            kind = node.get("class_type", "")
            if kind not in self.node_types:
                found.append(f"node {node_id}: {kind} is not installed")
                continue
            for name, value in (node.get("inputs") or {}).items():
                allowed = self.choices.get((kind, name))
                if allowed is not None and isinstance(value, str) and value not in allowed:
                    shown = value if len(value) <= 80 else value[:79] + "…"  # a member may have typed it
                    found.append(f"node {node_id}: {name} {shown!r} is not available")
        return found


async def _nothing() -> None:
    return None


def capability_of(object_info: Mapping[str, NodeInfo]) -> Capability:
    choices = {
        (kind, name): frozenset(spec.choices)
        for kind, info in object_info.items()
        for name, spec in (*info.required.items(), *info.optional.items())
        if spec.choices is not None and (kind, name) not in UPLOADED  # uploads arrive later
    }
    return Capability(frozenset(object_info), choices)


@dataclass
class BackendState:
    backend: ComfyBackend
    weight: float = 1.0
    healthy: bool = False
    paused: bool = False
    failures: int = 0
    capability: Capability | None = None
    nodes: Mapping[str, NodeInfo] | None = None  # its `/object_info` (shared by servers with the same one)
    stats: SystemStats | None = None
    seconds_per_job: float = 10.0  # moving average of recent jobs
    warm: frozenset[str] = frozenset()  # the models its last prompt loaded ("LoaderClass:file", loaders.py)
    load_seconds: float | None = None  # moving average of the time its model loads took, as measured
    in_flight: int = 0
    done: int = 0
    error: str = field(default="not checked yet")


class BackendPool:
    def __init__(
        self,
        backends: Sequence[ComfyBackend],
        *,
        weights: Mapping[str, float] | None = None,
        check_interval: float = 10.0,
        failures_to_down: int = 2,
        warm_routing: bool = True,
    ) -> None:
        self.warm_routing = warm_routing  # False: by expected wait only, wherever models are loaded
        self.states = {b.name: BackendState(b, (weights or {}).get(b.name, 1.0)) for b in backends}
        self.check_interval = check_interval
        self.failures_to_down = failures_to_down
        self.on_down: Callable[[ComfyBackend], None] = lambda backend: None
        self.on_up: Callable[[ComfyBackend], None] = lambda backend: None
        self.on_nodes: Callable[[], Awaitable[None]] = _nothing  # a server's node definitions were read and differ
        self._task: asyncio.Task[None] | None = None
        self._interned: dict[object, tuple[Capability, Mapping[str, NodeInfo]]] = {}
        # graph -> (the graph, its problems by capability, the models it loads): worked out once per job's graph
        self._checked: OrderedDict[int, tuple[Mapping[str, Any], dict[int, list[str]], frozenset[str]]] = OrderedDict()
        self._fleet_load: float | None = None  # the mean of the servers' measured load times
        self._waiting: OrderedDict[int, float] = OrderedDict()  # graph -> since when it waits for a warm server

    @property
    def backends(self) -> list[ComfyBackend]:
        return [state.backend for state in self.states.values()]

    def get(self, name: str) -> ComfyBackend | None:
        state = self.states.get(name)
        return state.backend if state else None

    async def start(self) -> None:
        for state in self.states.values():
            state.backend.start()
        await self.check_all()
        self._task = asyncio.create_task(self._check_forever(), name="backend-health")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for state in self.states.values():
            await state.backend.close()

    async def check_all(self) -> None:
        await asyncio.gather(*(self.check(state) for state in self.states.values()))

    async def check(self, state: BackendState) -> None:
        client = state.backend.client
        try:
            state.stats = await client.system_stats()
            if not state.healthy or state.capability is None:
                before = state.capability
                state.capability, state.nodes = self._capability(await client.object_info())
                if state.capability is not before:
                    await self.on_nodes()
        except ComfyError as exc:
            state.failures += 1
            state.error = str(exc)
            if state.healthy and state.failures >= self.failures_to_down:
                state.healthy = False
                log.warning("%s is down: %s", state.backend.name, exc)
                self.on_down(state.backend)
            return
        state.failures, state.error = 0, ""
        if not state.backend.stream.connected:
            state.backend.stream.retry_now()  # it answers again: its socket need not wait out the backoff
        if not state.healthy:
            state.healthy = True
            log.info("%s is up", state.backend.name)
            self.on_up(state.backend)

    async def _check_forever(self) -> None:
        """Every `check_interval`, each server. Nothing a server answers, nor a fault of what listens to these
        checks, ends the loop: it is logged, and the next round comes (a dead health check would leave every
        job waiting for a backend forever)."""
        while True:
            await asyncio.sleep(self.check_interval)
            try:
                await self.check_all()
            except Exception:
                log.exception(
                    "a health check of the ComfyUI servers failed; checking again in %g s", self.check_interval
                )

    def pause(self, name: str) -> None:
        self.states[name].paused = True

    def resume(self, name: str) -> None:
        self.states[name].paused = False
        self.on_up(self.states[name].backend)

    def take(self, name: str, graph: Mapping[str, Any] | None = None) -> None:
        """A prompt is now held by this backend (submitted, or followed again after a restart); once it runs, the
        models its loaders name are the ones warm there."""
        state = self.states[name]
        state.in_flight += 1
        if graph is not None:
            state.warm = models_of(graph)

    def loaded(self, name: str, seconds: float) -> None:
        """A prompt there read its models from disk in `seconds` (its loaders were not answered from cache)."""
        state = self.states[name]
        state.load_seconds = seconds if state.load_seconds is None else 0.7 * state.load_seconds + 0.3 * seconds
        measured = [s.load_seconds for s in self.states.values() if s.load_seconds is not None]
        self._fleet_load = sum(measured) / len(measured)  # once per load, not per routing decision

    def release(self, name: str) -> None:
        """A prompt this backend held has ended (or was never submitted)."""
        self.states[name].in_flight -= 1

    def finished(self, name: str, seconds: float) -> None:
        state = self.states[name]
        state.done += 1
        state.seconds_per_job = seconds if state.done == 1 else 0.7 * state.seconds_per_job + 0.3 * seconds

    def _usable(self, state: BackendState) -> bool:
        return state.healthy and not state.paused and state.backend.stream.connected and state.capability is not None

    def _runs(self, state: BackendState, graph: Mapping[str, Any]) -> bool:
        return self._usable(state) and state.capability is not None and not self._problems(state.capability, graph)

    def _capability(self, object_info: Mapping[str, NodeInfo]) -> tuple[Capability, Mapping[str, NodeInfo]]:
        """Servers with the same nodes and models share one Capability (a fleet is mostly alike)."""
        made = capability_of(object_info)
        return self._interned.setdefault((made.node_types, frozenset(made.choices.items())), (made, object_info))

    def node_definitions(self) -> list[tuple[str, Mapping[str, NodeInfo]]]:
        """(server, its `/object_info`) of every server that has answered, the healthy ones first."""
        known = [(not s.healthy, s.backend.name, s.nodes) for s in self.states.values() if s.nodes is not None]
        return [(name, nodes) for _, name, nodes in sorted(known, key=lambda entry: entry[0])]

    def _facts(self, graph: Mapping[str, Any]) -> tuple[Mapping[str, Any], dict[int, list[str]], frozenset[str]]:
        """What is worked out once per job's graph: a job is checked when it is asked for, queued and dispatched,
        on every server."""
        entry = self._checked.get(id(graph))
        if entry is None or entry[0] is not graph:  # (the graph is held, so its id is not reused meanwhile)
            entry = self._checked[id(graph)] = (graph, {}, models_of(graph))
            if len(self._checked) > CHECKED_GRAPHS:
                self._checked.popitem(last=False)
        return entry

    def _problems(self, capability: Capability, graph: Mapping[str, Any]) -> list[str]:
        """`capability.problems(graph)`, once per job's graph and distinct capability (most servers are alike)."""
        entry = self._facts(graph)
        found = entry[1].get(id(capability))
        if found is None:
            found = entry[1][id(capability)] = capability.problems(graph)
        return found

    def room(self, per_backend: int) -> bool:
        return any(s.in_flight < per_backend and self._usable(s) for s in self.states.values())

    def condition(self) -> object:
        return tuple((self._usable(s), id(s.capability)) for s in self.states.values())

    def choose(self, graph: Mapping[str, Any], per_backend: int) -> ComfyBackend | None:
        """The usable backend with room that would finish `graph` soonest, loading its models where they are not
        warm (at the measured load time); or None, also when a busy backend with them warm would finish it sooner
        than any with room: the job waits for it, once for at most one load time (so no model is starved)."""
        models = self._facts(graph)[2]

        def finish(state: BackendState) -> float:
            cold = bool(models) and not models <= state.warm
            return (state.in_flight + 1) * self._speed(state) / state.weight + (self._load(state) if cold else 0.0)

        runnable = [s for s in self.states.values() if self._runs(s, graph)]
        best = min((s for s in runnable if s.in_flight < per_backend), key=finish, default=None)
        if best is not None and models and not models <= best.warm and self._load(best):
            warm = [s for s in runnable if s.in_flight >= per_backend and models <= s.warm]
            sooner = min(warm, key=finish, default=None)
            if sooner is not None and finish(sooner) < finish(best):
                waiting = self._waiting.setdefault(id(graph), time.monotonic())
                if len(self._waiting) > CHECKED_GRAPHS:
                    self._waiting.popitem(last=False)
                if time.monotonic() - waiting < self._load(best):
                    return None
        self._waiting.pop(id(graph), None)
        return best.backend if best else None

    def _load(self, state: BackendState) -> float:
        """Seconds loading a job's models there takes: measured there, else the fleet's mean of what it measured;
        0 while nothing was measured or loads are too quick to matter (then where models are warm is ignored)."""
        if not self.warm_routing:
            return 0.0
        seconds = state.load_seconds if state.load_seconds is not None else self._fleet_load
        return seconds if seconds is not None and seconds >= MIN_LOAD_SECONDS else 0.0

    def _speed(self, state: BackendState) -> float:
        """Seconds a job takes there: measured, or (for one that has not finished a job yet) the fleet's mean, so
        a new backend is not ranked by a guess that keeps it idle while the others have room."""
        if state.done:
            return state.seconds_per_job
        measured = [s.seconds_per_job for s in self.states.values() if s.done]
        return sum(measured) / len(measured) if measured else state.seconds_per_job

    def choices(self, node_type: str, input_name: str) -> list[str]:
        """The values an input accepts on any backend, as last read (a server that is down may return with them):
        checkpoints, samplers..., sorted."""
        found: set[str] = set()
        for state in self.states.values():
            if state.capability is not None:
                found.update(state.capability.choices.get((node_type, input_name), ()))
        return sorted(found)

    def able(self, graph: Mapping[str, Any]) -> list[str]:
        """Names of healthy backends that could run `graph` at all (busy or not)."""
        return [name for name, s in self.states.items() if self._runs(s, graph)]

    def never_runnable(self, graph: Mapping[str, Any]) -> str | None:
        """When every backend is up and known and none of them has what `graph` needs, why (else None)."""
        states = list(self.states.values())
        if not states or any(not s.healthy or s.capability is None for s in states):
            return None  # a backend that is down may have it when it returns
        problems = [(s.backend.name, self._problems(s.capability, graph)) for s in states if s.capability is not None]
        if any(not found for _, found in problems):
            return None
        return "; ".join(f"{name}: {found[0]}" for name, found in problems)

    def why_not(self, graph: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        """Why no backend can run this graph: (backend, "unreachable" | "paused" | "missing", detail) each;
        empty when no backend is configured."""
        reasons = []
        for name, state in self.states.items():
            if not state.healthy or not state.backend.stream.connected:
                reasons.append((name, "unreachable", ""))
            elif state.paused:
                reasons.append((name, "paused", ""))
            elif state.capability is not None and (problems := self._problems(state.capability, graph)):
                reasons.append((name, "missing", problems[0]))
        return reasons

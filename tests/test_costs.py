"""Each job's cost, measured from ComfyUI's events and kept in the store (`bot/jobs/cost.py`): its GPU seconds,
and apart the seconds its model loaders read files; estimates per template and server follow, across restarts."""

from __future__ import annotations

import re

import pytest

from bot.jobs.cost import CostEstimates
from tests.discord_helpers import deliver
from tests.fakes.discord_api import Message
from tests.stack import Stack

LOAD = 0.4  # seconds the fake ComfyUI takes to read a checkpoint


def job_of(result: Message) -> str:
    [found] = {
        m[1]
        for row in result.components
        for c in row["components"]
        if (m := re.match(r"job:\w+:([0-9a-f-]{36})", c.get("custom_id", "")))
    }
    return found


async def test_a_jobs_gpu_time_and_its_model_load_are_measured_kept_and_estimated(stack: Stack) -> None:
    comfy = stack.comfys[0]
    comfy.model_load_seconds, comfy.step_delay = LOAD, 0.02
    async with stack.start() as app:
        _, first = await deliver(stack.discord, "a fox --steps 5")  # the checkpoint is read from disk
        _, second = await deliver(stack.discord, "an owl --steps 5")  # the same checkpoint: ComfyUI's cache
        measured = [await app.store.get(job_of(result)) for result in (first, second)]
        estimate = app.engine.costs.estimate("txt2img", "gpu1")
    async with stack.start() as app:
        after_restart = app.engine.costs.estimate("txt2img", "gpu1")
    loaded, cached = measured
    assert loaded is not None and cached is not None
    assert loaded.load_seconds is not None and loaded.load_seconds >= LOAD / 2  # seen between two messages
    assert cached.load_seconds == 0.0
    assert loaded.gpu_seconds is not None and cached.gpu_seconds is not None
    assert 0 < loaded.gpu_seconds < LOAD and 0 < cached.gpu_seconds < LOAD  # the load is counted apart
    assert min(loaded.gpu_seconds, cached.gpu_seconds) <= estimate <= max(loaded.gpu_seconds, cached.gpu_seconds)
    assert after_restart == pytest.approx(estimate)  # seeded from the store


def test_an_unmeasured_templates_cost_is_its_manifests_until_a_job_is_measured() -> None:
    """The fair queue's first guess of a template's cost: its manifest's `gpu_seconds`, else 10 s; a measured
    job replaces it."""
    costs = CostEstimates()
    assert costs.estimate("video", expected=30.0) == 30.0 and costs.estimate("image") == 10.0
    costs.record("video", "gpu1", 24.0)
    assert costs.estimate("video", expected=30.0) == 24.0

"""Routing that keeps models warm (`BackendPool.choose`): a job goes where its checkpoint is already loaded when
that is sooner than loading it elsewhere (at the load time measured), and waits for such a server at most one
load time. Where loads are quick (under 0.25 s: every other test's fake servers) routing is by expected wait alone,
as the routing tests elsewhere show unchanged."""

from __future__ import annotations

from pathlib import Path

from tests.discord_helpers import deliver, final, imagine
from tests.stack import Stack, checkpoints, stacked

MODELS = ("sd15.safetensors", "sdxl.safetensors")
LOAD = 1.0  # seconds each fake server takes to read a checkpoint: several jobs' worth, as on real GPUs


async def loads_for_alternating_models(stack: Stack, *, affinity: bool) -> int:
    """8 jobs at once, checkpoints alternating (the second's jobs twice as long, so servers free up out of step),
    from 8 members; how many checkpoint reads the servers did."""
    for comfy in stack.comfys:
        comfy.model_load_seconds, comfy.step_delay = LOAD, 0.05
        checkpoints(comfy).extend(MODELS)
    async with stack.start(comfy_settings={"warm_routing": affinity}) as app:  # off: by expected wait only
        for model in MODELS:  # each server learns what a load costs, and has a checkpoint warm
            await deliver(stack.discord, f"warm {model} --steps 2", model=model)
        before = sum(len(c.executor.loads) for c in stack.comfys)
        asked = [
            await imagine(stack.discord, f"job {n} --steps {2 + 2 * (n % 2)}", user=5000 + n, model=MODELS[n % 2])
            for n in range(8)
        ]
        for interaction in asked:
            await stack.discord.until(final(stack.discord, interaction), within=60)
        await app.engine.wait_idle()
    return sum(len(c.executor.loads) for c in stack.comfys) - before


async def test_jobs_go_where_their_checkpoint_is_warm_and_load_fewer_models(tmp_path: Path) -> None:
    async for stack in stacked(2, tmp_path / "warm"):
        warm = await loads_for_alternating_models(stack, affinity=True)
    async for stack in stacked(2, tmp_path / "blind"):
        blind = await loads_for_alternating_models(stack, affinity=False)
    assert warm <= 2 < blind, (warm, blind)

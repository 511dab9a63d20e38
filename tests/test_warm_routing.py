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


async def test_a_job_whose_warm_server_stays_busy_goes_cold_elsewhere_after_one_load_time(tmp_path: Path) -> None:
    """Affinity never starves a model: the only server with SDXL warm is kept busy (its running prompt and the
    next both held), so a member's SDXL job waits for it at most one load time, then runs on the other server,
    loading SDXL there, while the busy one still holds its prompts."""
    async for stack in stacked(2, tmp_path):
        for comfy in stack.comfys:
            comfy.model_load_seconds, comfy.step_delay = LOAD, 0.05
            checkpoints(comfy).extend(MODELS)
        async with stack.start() as app:
            await deliver(stack.discord, f"warm {MODELS[1]} --steps 2", model=MODELS[1])  # one server has SDXL warm
            [warm] = [n for n, s in app.pool.states.items() if any(m.endswith(MODELS[1]) for m in s.warm)]
            busy_comfy, other = (stack.comfys[0], stack.comfys[1]) if warm == "gpu1" else stack.comfys[::-1]
            busy_comfy.hold()
            busy = [await imagine(stack.discord, f"busy {n} --steps 2", user=6000 + n, model=MODELS[1]) for n in (0, 1)]
            await stack.discord.until(lambda held=app.pool.states[warm]: held.in_flight == 2)
            starved = await imagine(stack.discord, "lonely sdxl --steps 2", user=6100, model=MODELS[1])
            await stack.discord.until(final(stack.discord, starved), within=30)
            still_held = busy_comfy.running is not None
            busy_comfy.release()
            for interaction in busy:
                await stack.discord.until(final(stack.discord, interaction), within=30)
        assert still_held and stack.discord.original(starved).embeds[0]["title"] == "Done"
        assert stack.ran(other) == ["lonely sdxl"]  # SDXL loaded there, as it was nowhere else free
        assert [p.split()[0] for p in stack.ran(busy_comfy)] == ["warm", "busy", "busy"]

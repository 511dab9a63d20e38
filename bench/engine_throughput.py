"""How well the engine keeps several GPUs busy: 4 fake backends at ~0.5 s per job, 200 jobs from 20 members.

Printed: the makespan (first submission to the last prompt finished on a ComfyUI) over the ideal
(200 x 0.5 s / 4 = 25 s), and the median idle gap of a backend between two consecutive jobs (measured inside
the fake servers: from one prompt's last event to the worker taking the next). Discord's edit budget is made
loose here (the results of 200 jobs in one channel would otherwise be paced by Discord, not by the GPUs).

    python -m bench.engine_throughput [--jobs 200] [--members 20] [--backends 4] [--seconds 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from pathlib import Path

from bot.settings import LimitSettings
from tests.discord_helpers import assembled, option, settings_between
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.discord_api import USER_ID, FakeDiscord
from tests.stack import SHIPPED, checkpoints, with_workflows

STEPS = 10


async def measure(jobs: int, members: int, backends: int, seconds: float) -> None:
    comfys = [await FakeComfy(step_delay=seconds / STEPS).start() for _ in range(backends)]
    for comfy in comfys:
        checkpoints(comfy).append(SHIPPED)
    discord = await FakeDiscord(edits_per_window=10_000).start()
    limits = LimitSettings(jobs_per_user=jobs, queue_max=jobs * 2)
    try:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            with_workflows(folder)
            settings = settings_between(
                [(c.base_url, f"gpu{n}") for n, c in enumerate(comfys, 1)],
                discord.api_base,
                folder,
                limits=limits,
                channel_edits=1000,
                channel_window=1.0,
                edit_interval=0.2,
            )
            async with assembled(settings) as app:
                start = time.monotonic()
                interactions = []
                for n in range(jobs):
                    prompt = option("prompt", f"job {n} --steps {STEPS}")
                    interactions.append(await discord.interact("imagine", [prompt], user_id=USER_ID + n % members))
                # every job accepted (its message shows it), then every job ended
                await discord.until(
                    lambda: all(i.message_id in discord.messages and discord.original(i).embeds for i in interactions),
                    within=300,
                )
                async with asyncio.timeout(300):
                    await app.engine.wait_idle()
                makespan = max(t for c in comfys for t in c.finished_at.values()) - start
    finally:
        await discord.stop()
        for comfy in comfys:
            await comfy.stop()
    gaps = []
    for comfy in comfys:
        runs = sorted((comfy.started_at[p], comfy.finished_at[p]) for p in comfy.finished_at)
        gaps += [max(0.0, nxt[0] - prev[1]) for prev, nxt in itertools.pairwise(runs)]
    ideal = jobs * seconds / backends
    per_backend = [len(c.finished_at) for c in comfys]
    print(f"{jobs} jobs from {members} members on {backends} backends at {seconds} s a job (ideal {ideal:.1f} s)")
    print(f"makespan {makespan:.2f} s; makespan / ideal = {makespan / ideal:.3f}")
    print(
        f"median idle gap of a backend between two jobs: {statistics.median(gaps) * 1000:.2f} ms "
        f"(p95 {sorted(gaps)[int(0.95 * (len(gaps) - 1))] * 1000:.2f} ms)"
    )
    print(f"jobs per backend: {per_backend}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--backends", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args()
    asyncio.run(measure(args.jobs, args.members, args.backends, args.seconds))


if __name__ == "__main__":
    main()

"""How well the engine keeps several GPUs busy while Discord is as it really is: 4 fake backends at ~0.5 s per
job, 200 jobs from 20 members, the results going to `--channels` channels, under the bot's production edit
budget (4 edits per 5 s per channel) with Discord 50 ms away.

Printed, from the fake servers' own timestamps:
- each backend's busy fraction: the sum of its execution times over the span from its first start to its last
  finish (1.0: never idle while it had work);
- the makespan (first submission to the last prompt finished) over the measured execution time per backend
  (the sum of every execution time, divided by the backends): 1.0 is a fleet that never waited;
- p50 and p95 of "ComfyUI finished -> its result on Discord";
- the median and p95 idle gap of a backend between two jobs.

    python -m bench.engine_throughput [--jobs 200] [--members 20] [--backends 4] [--seconds 0.5] [--channels 1]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import statistics
import tempfile
import time
from pathlib import Path

from bot.settings import LimitSettings
from tests.discord_helpers import assembled, option, settings_between
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.discord_api import CHANNEL_ID, USER_ID, FakeDiscord, Message
from tests.stack import SHIPPED, checkpoints, with_workflows

STEPS = 10
JOB_IN = re.compile(r"^job:[a-z]+:([0-9a-f-]{36})")


def job_id_of(message: Message) -> str:
    """The job a result message shows, from its buttons."""
    ids = {
        m.group(1)
        for row in message.components
        for c in row["components"]
        if (m := JOB_IN.match(c.get("custom_id", "")))
    }
    [found] = ids
    return found


async def measure(jobs: int, members: int, backends: int, seconds: float, channels: int) -> None:
    comfys = [await FakeComfy(step_delay=seconds / STEPS).start() for _ in range(backends)]
    for comfy in comfys:
        checkpoints(comfy).append(SHIPPED)
    discord = await FakeDiscord(latency=0.05).start()  # Discord's own rules and windows, 50 ms away
    limits = LimitSettings(jobs_per_user=jobs, queue_max=jobs * 2)
    try:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            with_workflows(folder)
            settings = settings_between(
                [(c.base_url, f"gpu{n}") for n, c in enumerate(comfys, 1)],
                discord.api_base,
                folder,
                limits=limits,  # the edit budget is the production default: 4 edits per 5 s per channel
            )
            async with assembled(settings) as app:
                start = time.monotonic()
                interactions = []
                for n in range(jobs):
                    prompt = option("prompt", f"job {n} --steps {STEPS}")
                    channel = CHANNEL_ID + n % channels
                    member = USER_ID + n % members
                    interactions.append(await discord.interact("imagine", [prompt], user_id=member, channel_id=channel))
                # every job accepted (its message shows it), then every job ended
                await discord.until(
                    lambda: all(i.message_id in discord.messages and discord.original(i).embeds for i in interactions),
                    within=300,
                )
                async with asyncio.timeout(1800):
                    await app.engine.wait_idle()
                makespan = max(t for c in comfys for t in c.finished_at.values()) - start
    finally:
        await discord.stop()
        for comfy in comfys:
            await comfy.stop()
    shown = {}  # prompt id -> when its result reached Discord
    for asked in interactions:
        job = job_id_of(discord.original(asked))
        at = min(r.at for r in discord.requests if asked.token in r.path and r.files and r.status == 200)
        shown.update({p: at for c in comfys for p in c.finished_at if p.startswith(job)})
    finished = {p: t for c in comfys for p, t in c.finished_at.items()}
    delays = sorted(shown[p] - finished[p] for p in shown)
    executions = [c.finished_at[p] - c.started_at[p] for c in comfys for p in c.finished_at]
    busy = []
    for comfy in comfys:
        if comfy.finished_at:
            span = max(comfy.finished_at.values()) - min(comfy.started_at[p] for p in comfy.finished_at)
            busy.append(sum(comfy.finished_at[p] - comfy.started_at[p] for p in comfy.finished_at) / span)
    gaps = []
    for comfy in comfys:
        runs = sorted((comfy.started_at[p], comfy.finished_at[p]) for p in comfy.finished_at)
        gaps += [max(0.0, nxt[0] - prev[1]) for prev, nxt in itertools.pairwise(runs)]
    ideal = sum(executions) / backends
    per_backend = [len(c.finished_at) for c in comfys]
    print(
        f"{jobs} jobs from {members} members on {backends} backends at {seconds} s a job, "
        f"results in {channels} channel(s)"
    )
    print(f"busy fraction per backend: {', '.join(f'{b:.3f}' for b in busy)}")
    print(
        f"makespan {makespan:.2f} s; over the measured execution time per backend ({ideal:.2f} s): "
        f"{makespan / ideal:.3f}"
    )
    print(
        f"ComfyUI finished -> result on Discord: p50 {statistics.median(delays) * 1000:.0f} ms, "
        f"p95 {delays[int(0.95 * (len(delays) - 1))] * 1000:.0f} ms"
    )
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
    parser.add_argument("--channels", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(measure(args.jobs, args.members, args.backends, args.seconds, args.channels))


if __name__ == "__main__":
    main()

"""Edits Discord receives when 20 members run /imagine at once in one channel, at the default edit budget.

The fake Discord enforces Discord's per-channel rule (5 edits per 5 s, answered with real 429s); the bot's
budget is its default (one edit per 1.5 s per message, 4 per 5 s per channel). Printed: 429s, edits per job,
the most edits in any 5 s in the channel, and how long until the last result arrived.

    python bench/imagine_edits.py [--jobs 20] [--steps 8]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.harness import bot_between_fakes
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.discord_api import USER_ID, FakeDiscord


async def measure(jobs: int, steps: int) -> None:
    comfy = await FakeComfy(step_delay=0.05).start()
    discord = await FakeDiscord().start()
    try:
        async with bot_between_fakes(comfy, discord):
            start = time.monotonic()
            prompt = {"name": "prompt", "type": 3, "value": f"a lighthouse --steps {steps}"}
            interactions = [await discord.interact("imagine", [prompt], user_id=USER_ID + n) for n in range(jobs)]

            def delivered() -> bool:
                return all(
                    (m := discord.messages.get(i.message_id or 0)) is not None
                    and any(e.get("title") == "Done" for e in m.embeds)
                    for i in interactions
                )

            await discord.until(delivered, within=600)
            elapsed = time.monotonic() - start
    finally:
        await discord.stop()
        await comfy.stop()
    edits = [r for r in discord.requests if r.method == "PATCH" and r.status == 200]
    per_job = [sum(1 for r in edits if i.token in r.path) for i in interactions]
    times = [r.at for r in edits]
    busiest = max(sum(1 for t in times if s <= t < s + 5.0) for s in times)
    print(f"jobs: {jobs} at {steps} steps, one channel, one member each")
    print(f"429s received: {discord.rate_limited}")
    print(f"edits per job: min {min(per_job)}, mean {sum(per_job) / jobs:.1f}, max {max(per_job)}")
    print(f"most edits in any 5 s in the channel: {busiest} (Discord allows 5)")
    print(f"all {jobs} results delivered after {elapsed:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(measure(args.jobs, args.steps))


if __name__ == "__main__":
    main()

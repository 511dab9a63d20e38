"""From ComfyUI's last event to the final attachment arriving at Discord, for 1 MiB images.

A fake ComfyUI that finishes at once writes a ~1 MiB PNG; the bot reads history, fetches the file from /view,
and edits the reply with it as a multipart upload to the fake Discord. Jobs run one after another; the edit
budget is made loose (20 edits per 0.5 s) so that the figure is the pipeline's own time, not waiting for budget.

    python bench/delivery_latency.py [--jobs 30]
"""

from __future__ import annotations

import argparse
import asyncio

from bench.harness import bot_between_fakes, percentile
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.discord_api import FakeDiscord, Request


async def measure(jobs: int) -> None:
    comfy = await FakeComfy(output_side=600, output_noise=True).start()
    discord = await FakeDiscord(edits_per_window=100).start()
    latencies: list[float] = []
    sizes: list[int] = []
    try:
        async with bot_between_fakes(comfy, discord, bucket_edits=20, bucket_window=0.5):
            for n in range(jobs):
                prompt = {"name": "prompt", "type": 3, "value": f"noise {n} --steps 1"}
                interaction = await discord.interact("imagine", [prompt])

                def done(request: Request) -> bool:
                    return interaction.token in request.path and any(  # noqa: B023
                        embed.get("title") == "Done" for embed in (request.json or {}).get("embeds") or []
                    )

                await discord.until(lambda: any(done(r) for r in discord.requests), within=60)
                final = next(r for r in discord.requests if done(r))
                finished = max(comfy.finished_at.values())
                latencies.append(final.at - finished)
                sizes.append(len(final.files[0].data))
    finally:
        await discord.stop()
        await comfy.stop()
    print(f"jobs: {jobs}, image size {sum(sizes) / len(sizes) / 2**20:.2f} MiB (PNG, sent as is)")
    print(
        f"last ComfyUI event -> attachment at Discord: p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
        f"p95 {percentile(latencies, 0.95) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(measure(args.jobs))


if __name__ == "__main__":
    main()

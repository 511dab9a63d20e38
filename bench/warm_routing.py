"""Warm routing, side by side: 8 fake ComfyUI servers, three checkpoints at 8 s a load, 2 s jobs from 40 members
each keeping to one checkpoint; the bot as a real process, production edit budget, Discord 50 ms away. The same
traffic with COMFY__WARM_ROUTING on (today's default) and off (routing by expected wait only, as before).

    .venv/bin/python -m bench.warm_routing               # 400 jobs each way
    .venv/bin/python -m bench.warm_routing --jobs 200

Printed for each: model loads per 100 jobs, the share of busy time spent loading, the makespan over the measured
execution per server (which includes loading), and the usual figures of `bench/fleet.py`.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from bench.fleet import Plan, parser, plan_of, run


async def both(plan: Plan) -> None:
    figures = {}
    for warm in (False, True):
        print(f"\n--- warm routing {'on' if warm else 'off'} ---")
        figures[warm] = await run(replace(plan, warm_routing=warm))
    print("\n                          off (before)   on")
    for key, name, form in (
        ("loads_per_100", "model loads per 100 jobs", "{:.1f}"),
        ("loading", "busy time loading", "{:.1%}"),
        ("makespan_ratio", "makespan / execution", "{:.3f}"),
    ):
        print(f"{name:<26}{form.format(figures[False][key]):<15}{form.format(figures[True][key])}")


def main() -> None:
    defaults = Plan(backends=8, jobs=400, members=40, channels=8, seconds=2.0, rate=20.0, models=3, load=8.0)
    asyncio.run(both(plan_of(parser(__doc__.splitlines()[0], defaults).parse_args())))


if __name__ == "__main__":
    main()

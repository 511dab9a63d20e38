"""How well the bot keeps several GPUs busy while Discord is as it really is: 4 fake backends at 0.5 s per job,
200 jobs from 20 members, the results going to `--channels` channels (1, 5, 20), under the production edit budget
with Discord 50 ms away; the bot a real process, the fakes in a process of their own.

    .venv/bin/python -m bench.engine_throughput --channels 1
    .venv/bin/python -m bench.engine_throughput --channels 20

Figures (each backend's busy fraction, makespan over measured execution time, "ComfyUI finished -> result on
Discord" p50/p95, backend idle gaps, CPU per job): see `bench/fleet.py`.
"""

from __future__ import annotations

import asyncio

from bench.fleet import Plan, parser, plan_of, run


def main() -> None:
    defaults = Plan(backends=4, jobs=200, members=20, channels=1, rate=50.0)
    asyncio.run(run(plan_of(parser(__doc__.splitlines()[0], defaults).parse_args())))


if __name__ == "__main__":
    main()

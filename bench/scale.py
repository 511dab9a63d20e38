"""Scale: 32 fake ComfyUI servers, 10,000 half-second jobs from 500 members in 50 channels, the bot as a real
process with its production edit budget and Discord 50 ms away (the fakes in a process of their own).

    .venv/bin/python -m bench.scale                  # the burst: busy fraction, makespan, CPU per job, RSS
    .venv/bin/python -m bench.scale --steady         # 500 queued + 20 in flight held steady, on 10 servers
    .venv/bin/python -m bench.scale --large          # 200 servers, 100,000 two-second jobs from 5,000 members

Figures: see `bench/fleet.py`.
"""

from __future__ import annotations

import asyncio
import sys

from bench.fleet import Plan, parser, plan_of, run


def main() -> None:
    steady, large = "--steady" in sys.argv, "--large" in sys.argv
    defaults = Plan(backends=10, jobs=3000) if steady else Plan()
    if large:  # two-second jobs: 100 a second is what 2 cores can dispatch and show beside the fakes' process
        defaults = Plan(backends=200, jobs=100_000, members=5000, channels=100, seconds=2.0)
        sys.argv.remove("--large")
    asyncio.run(run(plan_of(parser(__doc__.splitlines()[0], defaults).parse_args())))


if __name__ == "__main__":
    main()

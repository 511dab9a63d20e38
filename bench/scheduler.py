"""The fair queue alone, in-process: the cost of queueing, placing, dispatching and settling a job with 10,000 and
100,000 jobs queued from 5,000 members, in one server and across 20. Each operation should grow with log n, not n.

    .venv/bin/python -m bench.scheduler
"""

from __future__ import annotations

import itertools
import time

from bot.jobs.model import Job, JobRequest
from bot.jobs.scheduler import FairScheduler
from bot.templates.template import BoundWorkflow

_seq = itertools.count(1)


def job(user: int, guild: int) -> Job:
    made = Job(JobRequest(user, guild, 1, BoundWorkflow("t", {}, {}, ("9",))))
    made.seq = next(_seq)
    return made


def measure(queued: int, guilds: int) -> str:
    scheduler = FairScheduler(cost=lambda j: 2.0)
    jobs = [job(n % 5000, 1 + n % guilds) for n in range(queued)]
    began = time.perf_counter()
    for made in jobs:
        scheduler.push(made)
    push = (time.perf_counter() - began) / len(jobs)
    sample = jobs[:: max(1, queued // 1000)]
    began = time.perf_counter()
    for made in sample:
        scheduler.place(made.id)
    place = (time.perf_counter() - began) / len(sample)
    began = time.perf_counter()
    popped = [scheduler.pop(lambda j, relaxed: True) for _ in range(5000)]
    pop = (time.perf_counter() - began) / len(popped)
    began = time.perf_counter()
    for taken in popped:
        if taken is not None:
            scheduler.settle(taken[0], 2.05)  # a little off its estimate, as measured jobs are
    settle = (time.perf_counter() - began) / len(popped)
    return (
        f"{queued:>7} queued, {guilds:>2} server(s): push {push * 1e6:5.1f} us, place {place * 1e6:5.1f} us, "
        f"pop {pop * 1e6:5.1f} us, settle {settle * 1e6:5.1f} us"
    )


def main() -> None:
    for queued in (10_000, 100_000):
        for guilds in (1, 20):
            print(measure(queued, guilds), flush=True)


if __name__ == "__main__":
    main()

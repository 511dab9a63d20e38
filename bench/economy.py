"""A fair GPU economy, side by side: today's scheduler (turns counted in GPU-seconds, warm routing) against the one
before (a turn per job, routing by expected wait only), on the same traffic in one run. The bot is a real process
with the production edit budget; Discord is 50 ms away.

    .venv/bin/python -m bench.economy                 # the mixed fleet and the pair, at a tenth of real time
    .venv/bin/python -m bench.economy --scale 0.05 --pair-minutes 30

The mixed fleet: 8 fake ComfyUI servers, three checkpoints at 8 s a load, 2 s image and 30 s video jobs from 40
members with uneven demand (10 make videos, 8 to 16 each; 30 make images, 60 to 150 each; each keeps to one
checkpoint; 8 of them hold a role of weight 2, set with `/config set role_weights`, and ask for twice as much),
asked in turns at 100 a second. Printed for each: Jain's index of GPU-seconds among the members of equal weight
while every member still had demand (from the first start to the first moment a member's last job started), the same
over every member with each member's GPU-seconds divided by their weight, the lowest and highest member's share over
their fair share, model loads per 100 jobs, the share of busy time spent loading, the makespan over the measured
executions per server, the queue wait (asked to started) p50/p95 per tier, and the bot's CPU per job.

The pair: one server, one member making 30 s videos and one making 2 s images, each keeping six jobs open;
printed, the video maker's lowest and highest share of GPU time over every 10-minute window (10 s apart).

Times are scaled by `--scale` (0.1: a 2 s image takes 0.2 s, a load 0.8 s) and printed in real seconds; the
ratios do not depend on it.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from bench.fleet import bot_process, cpu_seconds, ended, model_name
from bench.harness import percentile
from tests.discord_helpers import answer, option
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.discord_api import CHANNEL_ID, USER_ID, FakeDiscord, Interaction
from tests.fakes.discord_payloads import HELPER_ROLE_ID
from tests.stack import checkpoints, shipped_comfy

IMAGE_STEPS, VIDEO_STEPS = 2, 30  # at one step a second (scaled): a 2 s image, a 30 s video
LOAD = 8.0
WINDOW = 600.0
MODES = {"before": {"COMFY__WARM_ROUTING": "false", "LIMITS__FAIR_BY_GPU_TIME": "false"}, "now": {}}
ADMIN = {"permissions": str(1 << 5)}


@dataclass(frozen=True)
class Member:
    number: int
    video: bool
    jobs: int
    booster: bool

    @property
    def user_id(self) -> int:
        return USER_ID + self.number

    @property
    def weight(self) -> float:
        return 2.0 if self.booster else 1.0


def members(count: int = 40) -> list[Member]:
    """Uneven demand: every fourth member makes videos (8 to 16), the others images (60 to 150); every fifth, from
    the second, holds the weight-2 role, and asks for twice as much (so every member has demand for long)."""
    made = []
    for n in range(count):
        video, booster = n % 4 == 0, n % 5 == 1
        jobs = 8 + 2 * (n % 5) if video else 60 + (n % 7) * 15
        made.append(Member(n, video, jobs * (2 if booster else 1), booster))
    return made


def interleaved(people: list[Member]) -> Iterator[Member]:
    """Members ask in turns, each until their demand is asked."""
    left = {m.number: m.jobs for m in people}
    while any(left.values()):
        for member in people:
            if left[member.number]:
                left[member.number] -= 1
                yield member


@dataclass
class Run:
    """One prompt as the fake servers ran it."""

    member: int
    start: float
    end: float
    loads: int
    asked: float

    def gpu(self, load: float) -> float:
        return max(0.0, self.end - self.start - self.loads * load)


@dataclass
class Traffic:
    discord: FakeDiscord
    asked: dict[int, tuple[Member, Interaction]] = field(default_factory=dict)  # index -> who, the interaction
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def ask(self, index: int, member: Member, model: int) -> None:
        steps = VIDEO_STEPS if member.video else IMAGE_STEPS
        options = [option("prompt", f"job {index} --steps {steps}"), option("model", model_name(model))]
        if member.video:
            options.append(option("template", "quick"))  # its own template: its own measured cost
        who = {"roles": [str(HELPER_ROLE_ID)]} if member.booster else None

        async def interact() -> None:
            made = await self.discord.interact(
                "imagine", options, user_id=member.user_id, channel_id=CHANNEL_ID, member=who
            )
            self.asked[index] = (member, made)

        task = asyncio.create_task(interact())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def refused(self) -> int:
        """Asks answered with a refusal instead of a job (none expected: the caps are above the demand)."""
        messages = (self.discord.messages.get(i.message_id or 0) for _, i in self.asked.values())
        return sum(1 for m in messages if m is not None and not m.embeds and m.content.startswith(("⚠️", "🚫")))

    def finished(self, total: int) -> bool:
        """Every ask was made and has ended (a result or a failure) or was refused."""
        if len(self.asked) < total:
            return False
        return self.refused() + sum(ended(self.discord, i) for _, i in self.asked.values()) >= total

    async def until_ended(self, total: int) -> None:
        while not self.finished(total):  # noqa: ASYNC110
            await asyncio.sleep(0.5)  # a bench samples on a clock


def runs_of(comfys: list[FakeComfy], traffic: Traffic) -> list[Run]:
    found = []
    for comfy in comfys:
        for prompt_id, end in comfy.finished_at.items():
            text = comfy.history[prompt_id]["prompt"][2]["6"]["inputs"]["text"]
            if not text.startswith("job "):
                continue
            member, interaction = traffic.asked[int(text.split()[1])]
            loads = comfy.executor.loaded_by.get(prompt_id, 0)
            found.append(Run(member.number, comfy.started_at[prompt_id], end, loads, interaction.created))
    return found


def jain(values: list[float]) -> float:
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values)) if values else float("nan")


def within(runs: list[Run], member: int, start: float, end: float, load: float) -> float:
    """A member's GPU-seconds inside [start, end] (a run cut by the bounds counts in part; loads apart)."""
    total = 0.0
    for run in runs:
        if run.member == member and run.end > start and run.start < end:
            share = (min(end, run.end) - max(start, run.start)) / (run.end - run.start)
            total += run.gpu(load) * share
    return total


async def mixed(mode: str, scale: float, backends: int, rate: float, verbose: bool = False) -> dict[str, float]:
    people = members()
    comfys = [await shipped_comfy(step_delay=scale) for _ in range(backends)]
    for comfy in comfys:
        comfy.model_load_seconds = LOAD * scale
        checkpoints(comfy).extend(model_name(n) for n in range(3))
    discord = await FakeDiscord(latency=0.05).start()
    traffic = Traffic(discord)
    order = list(interleaved(people))
    try:
        async with bot_process(
            comfys, discord, LIMITS__JOBS_PER_USER="400", LIMITS__QUEUE_MAX="5000", **MODES[mode]
        ) as (pid, _):
            options = [option("option", "role_weights"), option("value", f"<@&{HELPER_ROLE_ID}>=2")]
            rule = await discord.interact("config", [{"name": "set", "type": 1, "options": options}], member=ADMIN)
            await answer(discord, rule)
            cpu0, began = cpu_seconds(pid), time.monotonic()
            for index, member in enumerate(order):
                traffic.ask(index, member, member.number % 3)
                lag = began + (index + 1) / rate - time.monotonic()
                if lag > 0:
                    await asyncio.sleep(lag)
            await traffic.until_ended(len(order))
            cpu = cpu_seconds(pid) - cpu0
            if traffic.refused():
                print(f"refused: {traffic.refused()} asks", flush=True)
    finally:
        await discord.stop()
        for comfy in comfys:
            await comfy.stop()
    runs = runs_of(comfys, traffic)
    load = LOAD * scale
    first = min(r.start for r in runs)
    last_start = {m.number: max(r.start for r in runs if r.member == m.number) for m in people}
    until = min(last_start.values())  # from here on some member has nothing left to ask for
    print(f"every member had demand until {(until - first) / scale:.0f} s", flush=True)
    used = {m.number: within(runs, m.number, first, until, load) for m in people}
    equal = [used[m.number] for m in people if not m.booster]
    weighted = [used[m.number] / m.weight for m in people]
    fair = {m.number: m.weight / sum(p.weight for p in people) for m in people}
    total = sum(used.values())
    ratios = [used[n] / total / fair[n] for n in used] if total else [float("nan")]
    if verbose:
        for m in sorted(people, key=lambda m: used[m.number] / fair[m.number]):
            print(
                f"  member {m.number:2}: {'video' if m.video else 'image'}, model {m.number % 3}, weight "
                f"{m.weight:g}: {used[m.number] / scale:6.0f} GPU-s, {used[m.number] / total / fair[m.number]:.2f} "
                f"of a fair share; jobs run {sum(1 for r in runs if r.member == m.number)}/{m.jobs}"
            )
    executions = sum(r.end - r.start for r in runs)
    loads = sum(r.loads for r in runs)
    makespan = max(r.end for r in runs) - first
    waits = {
        tier: [r.start - r.asked for r in runs if people[r.member].booster == booster]
        for tier, booster in (("booster", True), ("member", False))
    }
    figures = {
        "jain": jain(equal),
        "jain_weighted": jain(weighted),
        "lowest": min(ratios),
        "highest": max(ratios),
        "window": (until - first) / scale,
        "loads_per_100": loads / len(runs) * 100,
        "loading": loads * load / executions,
        "makespan": makespan / (executions / backends),
        "cpu_ms": cpu / len(runs) * 1000,
    }
    for tier, values in waits.items():
        figures[f"{tier}_p50"], figures[f"{tier}_p95"] = (
            percentile(values, 0.5) / scale,
            percentile(values, 0.95) / scale,
        )
    return figures


async def pair(mode: str, scale: float, minutes: float) -> tuple[float, float]:
    """One server, a video maker and an image maker each keeping six jobs open (so the image maker always has
    some queued, though asking takes a Discord round trip): the video maker's lowest and highest share of GPU time
    over the 10-minute windows."""
    comfy = await shipped_comfy(step_delay=scale)
    checkpoints(comfy).append(model_name(0))
    discord = await FakeDiscord(latency=0.05).start()
    traffic = Traffic(discord)
    video, image = Member(0, True, 0, False), Member(1, False, 0, False)
    index = 0
    try:
        async with bot_process([comfy], discord, LIMITS__JOBS_PER_USER="8", **MODES[mode]):
            began = time.monotonic()
            while time.monotonic() - began < minutes * 60 * scale:
                for member in (video, image):
                    mine = [i for m, i in traffic.asked.values() if m is member]
                    if sum(1 for i in mine if not ended(discord, i)) < 6 and len(traffic.tasks) == 0:
                        traffic.ask(index, member, 0)
                        index += 1
                await asyncio.sleep(0.05 * scale / 0.1)  # a bench samples on a clock
    finally:
        await discord.stop()
        await comfy.stop()
    runs = runs_of([comfy], traffic)
    first, last = min(r.start for r in runs), max(r.end for r in runs)
    shares, start = [], first + 60 * scale  # (from the first minute: both members have asked by then)
    while start + WINDOW * scale <= last:
        end = start + WINDOW * scale
        v, i = (within(runs, m, start, end, 0.0) for m in (0, 1))
        shares.append(v / (v + i))
        start += 10 * scale
    return (min(shares), max(shares)) if shares else (float("nan"), float("nan"))


async def main_async(args: argparse.Namespace) -> None:
    figures: dict[str, dict[str, float]] = {}
    pairs: dict[str, tuple[float, float]] = {}
    for mode in args.modes:
        print(f"--- {mode}: the mixed fleet ---", flush=True)
        figures[mode] = await mixed(mode, args.scale, args.backends, args.rate, args.verbose)
        print({key: round(value, 3) for key, value in figures[mode].items()}, flush=True)
        if args.pair_minutes:
            print(f"--- {mode}: the pair on one server ---", flush=True)
            pairs[mode] = await pair(mode, args.scale, args.pair_minutes)
            print(f"video maker's share: {pairs[mode][0]:.1%} to {pairs[mode][1]:.1%}", flush=True)
    rows = (
        ("jain", "Jain's index, equal weight, unmet demand", "{:.3f}", "≥ 0.95"),
        ("jain_weighted", "Jain's index of GPU-s / weight, all", "{:.3f}", ""),
        ("lowest", "lowest member's share / fair share", "{:.2f}", ""),
        ("highest", "highest member's share / fair share", "{:.2f}", ""),
        ("window", "while every member had demand (s)", "{:.0f}", ""),
        ("loads_per_100", "model loads per 100 jobs", "{:.1f}", "3x fewer"),
        ("loading", "busy time loading", "{:.1%}", "≤ 10 %"),
        ("makespan", "makespan / execution per server", "{:.3f}", ""),
        ("member_p50", "queue wait p50, weight 1 (s)", "{:.0f}", ""),
        ("member_p95", "queue wait p95, weight 1 (s)", "{:.0f}", ""),
        ("booster_p50", "queue wait p50, weight 2 (s)", "{:.0f}", ""),
        ("booster_p95", "queue wait p95, weight 2 (s)", "{:.0f}", ""),
        ("cpu_ms", "bot CPU per job (ms)", "{:.1f}", ""),
    )
    print(f"\n{'':44}" + "".join(f"{mode:>10}" for mode in figures) + "   target")
    for key, name, form, target in rows:
        print(f"{name:<44}" + "".join(f"{form.format(f[key]):>10}" for f in figures.values()) + f"   {target}")
    if pairs:
        for mode, (low, high) in pairs.items():  # (only the modes run)
            print(f"pair, video maker's share of GPU time per 10-min window, {mode}: {low:.1%} to {high:.1%}")
        print("(target: within 45-55 %)")


def main() -> None:
    made = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    made.add_argument("--scale", type=float, default=0.1, help="seconds of the bench per real second")
    made.add_argument("--backends", type=int, default=8)
    made.add_argument("--rate", type=float, default=100.0, help="interactions per second while asking")
    made.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    made.add_argument("--verbose", action="store_true", help="each member's GPU time against their fair share")
    made.add_argument("--pair-minutes", type=float, default=25.0, help="real minutes of the pair (0: skip it)")
    asyncio.run(main_async(made.parse_args()))


if __name__ == "__main__":
    main()

"""The bot as a real process (`python -m bot`, as in production) against a fleet of fake ComfyUI servers and the
fake Discord, which run in this process, one of their own, so their CPU is not the bot's. Discord is 50 ms away
(± 50 %) with its own rules and windows, and the bot keeps its production edit budget. `bench.engine_throughput`
and `bench.scale` measure with it.

Printed: each backend's busy fraction (its execution time over the span from its first start to its last
finish), the makespan over the measured execution time per backend, the bot's CPU per job (user + sys of the bot
process, from the first request to the last result, over the jobs), its peak RSS, "ComfyUI finished -> result on
Discord" p50/p95, interactions Discord saw unanswered within 3 s (10062), 429s, and WebSockets reopened.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from pathlib import Path

from bench.harness import percentile
from tests.discord_helpers import option
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.discord_api import CHANNEL_ID, USER_ID, FakeDiscord, Interaction, Message
from tests.stack import ROOT, checkpoints, process_environment, shipped_comfy, with_workflows

STEPS = 10
JOB_IN = re.compile(r"^job:[a-z]+:([0-9a-f-]{36})")
TICK = os.sysconf("SC_CLK_TCK")
FINAL_TITLES = {"Done", "Failed", "Cancelled"}
Figures = dict[str, float]


@dataclass
class Plan:
    backends: int = 32
    jobs: int = 10_000
    members: int = 500
    channels: int = 50
    seconds: float = 0.5  # each job's execution time on its server
    rate: float = 250.0  # interactions per second while asking
    steady: bool = False  # hold `queued` queued and 2 per backend in flight instead
    queued: int = 500
    profile: str = ""  # a file: the bot runs under cProfile and writes its profile there
    models: int = 1  # checkpoints asked for: each member keeps to one (member number modulo this)
    load: float = 0.0  # seconds a server takes to read a checkpoint that is not its last prompt's
    warm_routing: bool = True  # the bot's COMFY__WARM_ROUTING


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


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / TICK  # utime, stime


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ended(discord: FakeDiscord, interaction: Interaction | None) -> bool:
    if interaction is None:
        return False  # not dispatched yet
    if interaction.callback_type is None and time.monotonic() - interaction.created > 5:
        return True  # never acknowledged: Discord told the member it failed (counted as unanswered)
    message = discord.messages.get(interaction.message_id or 0)
    return bool(message and message.embeds and message.embeds[0].get("title") in FINAL_TITLES)


class Traffic:
    """Members asking in turn, across channels; which of their asks have ended."""

    def __init__(self, discord: FakeDiscord, plan: Plan) -> None:
        self.discord, self.plan = discord, plan
        self.asked: list[Interaction | None] = []
        self.open: set[int] = set()  # indexes not ended yet
        self._tasks: set[asyncio.Task[None]] = set()

    def ask(self) -> None:
        index = len(self.asked)
        member, channel = USER_ID + index % self.plan.members, CHANNEL_ID + index % self.plan.channels

        async def interact() -> None:
            options = [option("prompt", f"job {index} --steps {STEPS}")]
            if self.plan.models > 1:
                options.append(option("model", model_name(member % self.plan.models)))
            self.asked[index] = await self.discord.interact("imagine", options, user_id=member, channel_id=channel)

        self.asked.append(None)  # until dispatched
        self.open.add(index)
        task = asyncio.create_task(interact())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def sweep(self) -> int:
        """Forget the asks that have ended; how many are still open."""
        self.open = {i for i in self.open if not ended(self.discord, self.asked[i])}
        return len(self.open)

    async def until_swept(self, open_at_most: int = 0) -> None:
        while self.sweep() > open_at_most:  # noqa: ASYNC110 (a bench samples on a clock: O(n) per event is O(n²))
            await asyncio.sleep(0.5)


def model_name(number: int) -> str:
    return f"model-{number}.safetensors"


@asynccontextmanager
async def bot_process(
    comfys: list[FakeComfy], discord: FakeDiscord, profile: str = "", **settings: str
) -> AsyncIterator[tuple[int, str]]:
    """`python -m bot` between the fakes, with the production edit budget and `settings`, once it is connected and
    has read its backends: (its pid, its log file)."""
    log = tempfile.NamedTemporaryFile(prefix="bench-bot-", suffix=".log", delete=False)  # noqa: SIM115
    with tempfile.TemporaryDirectory() as name:
        folder = with_workflows(Path(name))
        environment = process_environment(
            folder,
            comfys,
            discord,
            DISCORD__BUCKET_WINDOW="5",  # the production budget: 4 edits per 5 s per bucket
            DISCORD__EDIT_INTERVAL="1.5",
            LOGGING__LEVEL="WARNING",
            **settings,
        )
        profiled = ["-m", "cProfile", "-o", profile] if profile else []
        bot = await asyncio.create_subprocess_exec(
            sys.executable, *profiled, "-m", "bot", env=environment, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            await discord.until(lambda: bool(discord.identified and discord.gateways), within=60)
            await asyncio.sleep(1.0)  # a bench, not a test: let the bot read its backends
            yield bot.pid, log.name
        finally:
            bot.terminate()
            await asyncio.wait_for(bot.wait(), 30)


async def run(plan: Plan) -> Figures:
    comfys = [await shipped_comfy(step_delay=plan.seconds / STEPS) for _ in range(plan.backends)]
    for comfy in comfys:
        comfy.model_load_seconds = plan.load
        checkpoints(comfy).extend(model_name(n) for n in range(plan.models))
    discord = await FakeDiscord(latency=0.05).start()  # Discord's own windows, 50 ms away
    traffic = Traffic(discord, plan)
    try:
        async with bot_process(
            comfys,
            discord,
            plan.profile,
            LIMITS__JOBS_PER_USER=str(plan.jobs // plan.members + 5),
            LIMITS__QUEUE_MAX=str(plan.jobs + 100),
            COMFY__WARM_ROUTING=str(plan.warm_routing).lower(),
        ) as (pid, log):
            measure = steady(traffic, comfys, pid) if plan.steady else burst(traffic, pid)
            fakes0 = time.process_time()
            figures = await measure
            figures["fakes_cpu"] = time.process_time() - fakes0
            figures["rss"] = peak_rss_mib(pid)
    finally:
        await discord.stop()
        for comfy in comfys:
            await comfy.stop()
    report(plan, comfys, discord, [i for i in traffic.asked if i is not None], figures, log)
    return figures


async def burst(traffic: Traffic, pid: int) -> Figures:
    cpu0, began = cpu_seconds(pid), time.monotonic()
    for n in range(traffic.plan.jobs):
        traffic.ask()
        lag = began + (n + 1) / traffic.plan.rate - time.monotonic()
        if lag > 0:
            await asyncio.sleep(lag)
    await traffic.until_swept()
    return {"cpu": cpu_seconds(pid) - cpu0, "span": time.monotonic() - began}


async def steady(traffic: Traffic, comfys: list[FakeComfy], pid: int) -> Figures:
    """Keep `queued` + 2 per backend open: a new ask for each that ends, until `jobs` have been asked."""
    plan = traffic.plan
    held = plan.queued + 2 * plan.backends
    for _ in range(held):
        traffic.ask()
    await traffic.until_swept(held - 1)  # the queue is full and moving: measure from here
    cpu0, began, done0 = cpu_seconds(pid), time.monotonic(), sum(len(c.finished_at) for c in comfys)
    while len(traffic.asked) < plan.jobs:
        for _ in range(held - traffic.sweep()):
            traffic.ask()
        await asyncio.sleep(0.2)  # sampled on a clock, as above
    figures = {
        "cpu": cpu_seconds(pid) - cpu0,
        "span": time.monotonic() - began,
        "ran": float(sum(len(c.finished_at) for c in comfys) - done0),
    }
    await traffic.until_swept()
    return figures


def busy_fractions(comfys: list[FakeComfy]) -> list[float]:
    busy = []
    for comfy in comfys:
        if comfy.finished_at:
            first = min(comfy.started_at[p] for p in comfy.finished_at)
            work = sum(comfy.finished_at[p] - comfy.started_at[p] for p in comfy.finished_at)
            busy.append(work / (max(comfy.finished_at.values()) - first))
    return busy


def delivery_delays(discord: FakeDiscord, comfys: list[FakeComfy], asked: list[Interaction]) -> list[float]:
    """Per job: from its server's last event to the first request that carried its result to Discord."""
    finished: dict[str, float] = {}  # job id -> its prompt's last event (a prompt id is "<job id>-<attempt>")
    for comfy in comfys:
        for prompt, at in comfy.finished_at.items():
            job = prompt.rsplit("-", 1)[0]
            finished[job] = max(at, finished.get(job, at))
    shown: dict[str, float] = {}
    for r in discord.requests:
        if r.files and r.status == 200 and "/webhooks/" in r.path:
            token = r.path.split("/")[r.path.split("/").index("webhooks") + 2]
            shown.setdefault(token, r.at)
    delays = []
    for interaction in asked:
        message = discord.messages.get(interaction.message_id or 0)
        if message is None or not message.components or interaction.token not in shown:
            continue
        job = job_id_of(message)
        if job in finished:
            delays.append(shown[interaction.token] - finished[job])
    return delays


def report(
    plan: Plan, comfys: list[FakeComfy], discord: FakeDiscord, asked: list[Interaction], figures: Figures, log: str
) -> None:
    finished = [t for c in comfys for t in c.finished_at.values()]
    busy = busy_fractions(comfys)
    executions = sum(c.finished_at[p] - c.started_at[p] for c in comfys for p in c.finished_at)
    makespan = max(finished) - min(t for c in comfys for t in c.started_at.values())
    delays = delivery_delays(discord, comfys, asked)
    titles = [discord.messages[i.message_id].embeds[0].get("title") for i in asked if i.message_id in discord.messages]
    unanswered = sum(1 for r in discord.requests if r.code == 10062) + sum(1 for i in asked if i.callback_type is None)
    reopened = sum(c.ws_connects for c in comfys) - len(comfys)
    jobs = figures.get("ran", float(len(finished)))
    loads = sum(len(c.executor.loads) for c in comfys)
    figures["loads_per_100"] = loads / max(1.0, jobs) * 100
    figures["loading"] = loads * plan.load / executions if executions else 0.0
    figures["makespan_ratio"] = makespan / (executions / len(comfys)) if executions else float("nan")
    mode = f"steady: {plan.queued} queued + {2 * plan.backends} in flight" if plan.steady else "burst"
    print(
        f"{mode}; {len(asked)} asks from {plan.members} members in {plan.channels} channel(s); {plan.backends} "
        f"backends at {plan.seconds} s a job; Discord 50 ms away, production edit budget"
    )
    print(f"results: {dict(sorted((str(t), titles.count(t)) for t in set(titles)))}")
    if plan.models > 1 or plan.load:
        print(
            f"model loads: {loads} ({figures['loads_per_100']:.1f} per 100 jobs), {figures['loading']:.1%} of busy "
            f"time loading; {plan.models} checkpoints at {plan.load:g} s a load, warm routing "
            f"{'on' if plan.warm_routing else 'off'}"
        )
    shown = ", ".join(f"{b:.3f}" for b in busy) if len(busy) <= 8 else f"min {min(busy):.3f}, max {max(busy):.3f}"
    print(f"busy fraction per backend: {shown} (median {statistics.median(busy):.3f})")
    if not plan.steady:
        ideal = executions / len(comfys)
        print(
            f"makespan {makespan:.1f} s over the measured execution time per backend {ideal:.1f} s: "
            f"{makespan / ideal:.3f}"
        )
    gaps = []
    for comfy in comfys:
        runs = sorted((comfy.started_at[p], comfy.finished_at[p]) for p in comfy.finished_at)
        gaps += [max(0.0, nxt[0] - prev[1]) for prev, nxt in itertools.pairwise(runs)]
    if gaps:
        print(
            f"idle gap of a backend between two jobs: p50 {percentile(gaps, 0.5) * 1000:.1f} ms, "
            f"p95 {percentile(gaps, 0.95) * 1000:.1f} ms, max {max(gaps) * 1000:.0f} ms, "
            f"in all {sum(gaps) / len(comfys):.1f} s per backend"
        )
    print(f"the fakes' own process: {figures['fakes_cpu'] / figures['span']:.0%} of a core")
    cpu, span = figures["cpu"], figures["span"]
    print(f"bot CPU: {cpu:.1f} s over {jobs:.0f} jobs in {span:.0f} s = {cpu / jobs * 1000:.2f} ms per job")
    print(f"bot peak RSS: {figures['rss']:.0f} MiB")
    if delays:
        print(
            f"ComfyUI finished -> result on Discord: p50 {percentile(delays, 0.5) * 1000:.0f} ms, "
            f"p95 {percentile(delays, 0.95) * 1000:.0f} ms"
        )
    print(
        f"interactions unanswered within 3 s (10062): {unanswered}; 429s: {discord.rate_limited}; "
        f"WebSockets reopened: {reopened}"
    )
    edits = sum(1 for r in discord.requests if r.method == "PATCH" and r.status == 200)
    print(f"message edits Discord took: {edits} ({edits / max(1, len(asked)):.1f} per ask)")
    per_backend = sorted(len(c.finished_at) for c in comfys)
    print(f"jobs per backend: min {per_backend[0]}, max {per_backend[-1]}; the bot's log: {log}")


def parser(description: str, plan: Plan) -> argparse.ArgumentParser:
    """The command line of a bench over `run`, with `plan`'s values as its defaults."""
    made = argparse.ArgumentParser(description=description)
    for name in ("backends", "jobs", "members", "channels", "queued", "models"):
        made.add_argument(f"--{name}", type=int, default=getattr(plan, name))
    made.add_argument("--load", type=float, default=plan.load, help="seconds a server takes to read a checkpoint")
    made.add_argument("--seconds", type=float, default=plan.seconds, help="each job's execution time")
    made.add_argument("--rate", type=float, default=plan.rate, help="interactions per second while asking")
    made.add_argument("--steady", action="store_true", default=plan.steady, help="hold --queued queued instead")
    made.add_argument("--profile", default="", help="run the bot under cProfile, writing to this file")
    made.add_argument("--no-warm-routing", dest="warm_routing", action="store_false", default=plan.warm_routing)
    return made


def plan_of(args: argparse.Namespace) -> Plan:
    return Plan(**{f.name: getattr(args, f.name) for f in fields(Plan)})

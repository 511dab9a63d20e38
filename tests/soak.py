"""Soak: community traffic against the bot as a real process, between fake ComfyUI servers and the fake Discord,
with faults on a schedule; prints what happened to every job. The harness of `bench/soak.py` and of
`tests/test_soak.py` (which runs a short soak in CI).

    .venv/bin/python -m bench.soak                  # the full soak: 3 backends, 50 members, 2,000 jobs
    .venv/bin/python -m bench.soak --jobs 300 --kills 1
    .venv/bin/python -m bench.soak --processes 2 --database postgres   # two processes on one PostgreSQL
    .venv/bin/python -m bench.soak --processes 2 --database postgres --shards   # each connects one shard

Members (50 by default, in 20 channels) run /imagine with random templates and options (some of them wrong, on
purpose), press Reroll and Cancel, and react 🔄. Meanwhile, at fixed points of the traffic: a ComfyUI restarts
and forgets its queue, another's WebSocket is cut mid-run, Discord answers a burst of 429s and then a burst of
5xx, and the bot is killed with SIGKILL and started again (`--kills`, twice by default). Traffic pauses while the
bot is down: Discord would not deliver those interactions either.

With `--database postgres` the bot keeps its jobs in a PostgreSQL the soak starts on 127.0.0.1 (`initdb`,
`pg_ctl`); with `--processes 2` too, a second bot process waits as a standby for the dispatcher lease: each
kill is a SIGKILL of the process that holds it (the standby takes over; the killed one comes back as the new
standby), and once, the standby is stopped with SIGTERM and started again. With `--shards` too, the two
processes share the bot: each connects one of its two gateway shards (half the channels are in a server on the
second shard), the holder runs the jobs and the other relays to it; a kill is a SIGKILL of the holder (the other
takes the lease; the killed one connects its shard again and relays), and the one that relays is SIGTERMed once.

At the end every accepted job is read back from the bot's database and matched to what Discord shows. A job is
lost when it never ended, or ended "delivered" without its result on Discord; it is doubled when its result is
on more than one message. Both must be 0. `tests/test_soak.py` runs a short soak in CI and fails on either.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from tests import postgres
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.discord_api import CHANNEL_ID, LATENCY, USER_ID, FakeDiscord, Message
from tests.stack import process_environment, shipped_comfy, with_workflows

SHARD_GUILD_ID = (1 << 22) | 2000  # on shard 1 of 2: (guild_id >> 22) % 2 (topics/gateway#sharding)
HOLDS = b") holds the dispatcher lease"  # what a process logs when it takes the lease

ROOT = Path(__file__).resolve().parent.parent
JOB_IN = re.compile(r"^job:(?:cancel|reroll|info):([0-9a-f-]{36})")
WORDS = ["fox", "harbour", "lantern", "forest", "neon", "castle", "river", "owl", "storm", "glass", "garden", "comet"]


@dataclass
class Plan:
    backends: int = 3
    members: int = 50
    channels: int = 20
    jobs: int = 2000  # asked for: /imagine, Reroll presses and 🔄 reactions
    rate: float = 14.0  # asks per second
    kills: int = 2
    seed: int = 7
    drain: float = 240.0  # seconds the last jobs may take once the traffic stops
    latency: float = LATENCY * 1000  # ms each Discord answer and dispatch takes (± 50 %), as a remote service
    processes: int = 1  # 2: a standby beside the lease holder (PostgreSQL only)
    shards: bool = False  # with 2 processes: each connects one of two shards, the holder's partner relays
    database: str = "sqlite"  # or "postgres"


@dataclass
class Report:
    asked: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    delivered: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    cancelled: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    refused: int = 0  # answered with a reason, no job (a wrong option, over the cap)
    unanswered: int = 0  # interactions in flight when the bot was killed
    second_shard: int = 0  # interactions in the server on shard 1 (`--shards`: relayed while the other holds)
    faults: dict[int, int] = field(default_factory=dict)  # status -> injected
    rate_limited: int = 0  # 429s the fake answered on its own (the edit budget overrun)
    waits: list[float] = field(default_factory=list)
    acks: dict[str, list[float]] = field(default_factory=dict)  # seconds to acknowledge, by where it came in
    peak_rss: int = 0  # bytes, the largest of the bot processes
    seconds: float = 0.0

    def lines(self) -> list[str]:
        waits = sorted(self.waits) or [0.0]
        p95 = waits[min(len(waits) - 1, int(len(waits) * 0.95))]
        failed = ", ".join(f"{n} {reason}" for reason, n in self.failed.most_common()) or "none"
        return [
            f"asked:       {sum(self.asked.values())} ({', '.join(f'{k} {v}' for k, v in sorted(self.asked.items()))})",
            f"accepted:    {self.accepted}",
            f"delivered:   {self.delivered}",
            f"failed:      {sum(self.failed.values())} ({failed})",
            f"cancelled:   {self.cancelled}",
            f"refused:     {self.refused} (answered with the reason, no job)",
            f"unanswered:  {self.unanswered} (in flight when the bot was killed)",
            *([f"shard 1:     {self.second_shard} interactions (in its own server)"] if self.second_shard else []),
            f"lost:        {len(self.lost)}",
            f"doubled:     {len(self.doubled)}",
            f"429s:        {self.faults.get(429, 0)} injected + {self.rate_limited} from the edit limit",
            f"5xx:         {sum(n for s, n in self.faults.items() if s >= 500)} injected",
            f"wait:        p50 {statistics.median(waits) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (accepted to running)",
            *(
                f"answered:    p50 {_ms(times, 0.5)}, p95 {_ms(times, 0.95)} ({where}: interaction to acknowledgement)"
                for where, times in sorted(self.acks.items())
            ),
            f"peak RSS:    {self.peak_rss / 2**20:.0f} MiB (bot process)",
            f"took:        {self.seconds:.0f} s",
        ]


class BotProcess:
    """`python -m bot` in its own process, so it can be killed like a real one."""

    def __init__(self, env: dict[str, str], folder: Path, name: str = "bot") -> None:
        self.env, self.folder, self.name = env, folder, name
        self.process: asyncio.subprocess.Process | None = None
        self.peak_rss = 0
        self._sampler: asyncio.Task[None] | None = None

    @property
    def log(self) -> Path:
        return self.folder / f"{self.name}.log"

    def said(self, text: bytes) -> int:
        """How many times its log has said `text`."""
        return self.log.read_bytes().count(text) if self.log.exists() else 0

    async def start(self, discord: FakeDiscord, *, standby: bool = False) -> None:
        """Started, and connected to Discord; a `standby` only waiting for the dispatcher lease (as it logs)."""
        identified = len(discord.identified)
        said = self.said(b"waiting as a standby")
        log = self.log.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=self.folder, env=self.env, stdout=log, stderr=log
        )
        log.close()
        if standby:
            await until(lambda: self.said(b"waiting as a standby") > said, 60)
        else:
            await discord.until(lambda: len(discord.identified) > identified, within=60)
            await discord.until(lambda: any(ws.closed is False for ws in discord.gateways), within=60)
        self._sampler = asyncio.create_task(self._sample(self.process.pid))

    async def _sample(self, pid: int) -> None:
        while True:
            self.peak_rss = max(self.peak_rss, peak_rss(pid))
            await asyncio.sleep(0.5)

    async def _end(self, sig: int) -> None:
        if self.process is None:
            return
        if self._sampler is not None:
            self.peak_rss = max(self.peak_rss, peak_rss(self.process.pid))
            self._sampler.cancel()
        self.process.send_signal(sig)
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        self.process = None

    async def kill(self) -> None:
        await self._end(signal.SIGKILL)

    async def stop(self) -> None:
        await self._end(signal.SIGTERM)


async def until(condition: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the soak waited too long")
        await asyncio.sleep(0.1)  # polling a file another process writes (not a test's synchronisation)


def peak_rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def bot_environment(folder: Path, comfys: list[FakeComfy], discord: FakeDiscord) -> dict[str, str]:
    """The test stack's process environment, with the soak's own limits: many jobs, no cooldown."""
    return process_environment(
        with_workflows(folder),
        comfys,
        discord,
        DISCORD__TOKEN="soak-token",
        COMFY__RETRIES="2",
        COMFY__HEALTH_INTERVAL="1.0",
        COMFY__SILENCE_TIMEOUT="10",
        LIMITS__JOBS_PER_USER="4",
        LIMITS__RUNNING_PER_USER="2",
        LIMITS__QUEUE_MAX="5000",
        LIMITS__REROLL_COOLDOWN="0",
    )


class Members:
    """What members do: ask, press buttons, react; and who owns which message."""

    def __init__(self, plan: Plan, discord: FakeDiscord, rng: random.Random) -> None:
        self.plan, self.discord, self.rng = plan, discord, rng
        self.owner: dict[int, int] = {}  # message id -> the member it answers
        self.pending: list[tuple[Any, int]] = []  # (interaction, member) until their message exists

    def _member(self) -> int:
        return USER_ID + self.rng.randrange(self.plan.members)

    def _bind(self) -> None:
        still = []
        for interaction, member in self.pending:
            if interaction.message_id is not None:
                self.owner[interaction.message_id] = member
            else:
                still.append((interaction, member))
        self.pending = still
        for message in self.discord.messages.values():
            mention = re.match(r"<@(\d+)>", message.content)
            if mention and message.id not in self.owner:
                self.owner[message.id] = int(mention.group(1))

    def _with(self, action: str) -> list[Message]:
        self._bind()
        return [
            m
            for m in self.discord.messages.values()
            if m.id in self.owner and any(c["custom_id"].startswith(f"job:{action}:") for c in _components(m))
        ]

    async def imagine(self) -> None:
        member, channel = self._member(), CHANNEL_ID + self.rng.randrange(self.plan.channels)
        prompt = " ".join(self.rng.choices(WORDS, k=self.rng.randint(1, 6)))
        options = [{"name": "template", "type": 3, "value": self.rng.choice(["txt2img", "quick"])}]
        options.append({"name": "steps", "type": 4, "value": self.rng.randint(3, 8)})
        if self.rng.random() < 0.5:
            options.append({"name": "seed", "type": 4, "value": self.rng.randrange(2**32)})
        if self.rng.random() < 0.03:
            prompt += " --ar 9:1"  # too extreme: refused with a reason
        if self.rng.random() < 0.02:
            prompt += " --frobnicate 3"  # an unknown flag
        options.insert(0, {"name": "prompt", "type": 3, "value": prompt})
        interaction = await self.discord.interact("imagine", options, user_id=member, channel_id=channel)
        self.pending.append((interaction, member))

    async def press(self, action: str) -> bool:
        """The owner of a random message with this button presses it (Reroll on results, Cancel on progress)."""
        shown = self._with(action)
        if not shown:
            return False
        message = self.rng.choice(shown)
        custom_id = next(c["custom_id"] for c in _components(message) if c["custom_id"].startswith(f"job:{action}:"))
        interaction = await self.discord.click(message, custom_id, user_id=self.owner[message.id])
        self.pending.append((interaction, self.owner[message.id]))
        return True

    async def react(self) -> bool:
        results = self._with("reroll")
        if not results:
            return False
        message = self.rng.choice(results)
        await self.discord.react(message, "🔄", user_id=self.owner[message.id])
        return True


def _ms(times: list[float], quantile: float) -> str:
    ordered = sorted(times)
    return f"{ordered[min(len(ordered) - 1, int(len(ordered) * quantile))] * 1000:.0f} ms"


def _components(message: Message) -> list[dict[str, Any]]:
    return [c for row in message.components for c in row.get("components", []) if "custom_id" in c]


async def soak(plan: Plan, folder: Path, say: Callable[[str], None] = print, database: str | None = None) -> Report:
    """`database`: a PostgreSQL URL (else the SQLite file in `folder`)."""
    rows: Rows = postgres_rows(database) if database else sqlite_rows(folder)
    rng = random.Random(plan.seed)
    report = Report()
    started = time.monotonic()
    comfys = [await shipped_comfy() for _ in range(plan.backends)]
    discord = await FakeDiscord(window=1.0, token="soak-token", latency=plan.latency / 1000).start()
    say(f"Discord latency {plan.latency:.0f} ms ± 50 %")
    env = bot_environment(folder, comfys, discord) | ({"DATABASE__URL": database} if database else {})
    if plan.shards:  # a second server, on shard 1 of 2, holds every other channel
        discord.add_guild(SHARD_GUILD_ID, *(CHANNEL_ID + k for k in range(1, plan.channels, 2)))
        env |= {"DISCORD__SHARD_COUNT": "2", "LOGGING__LEVEL": "INFO"}
    bots = [
        BotProcess(env | ({"DISCORD__SHARD_IDS": str(n - 1)} if plan.shards else {}), folder, f"bot-{n}")
        for n in range(1, plan.processes + 1)
    ]
    members = Members(plan, discord, rng)
    # Faults, at fractions of the traffic: (when, what)
    schedule: list[tuple[float, str]] = [(0.20, "restart"), (0.30, "429"), (0.35, "cut"), (0.55, "5xx")]
    schedule += [((k + 1) / (plan.kills + 1) - 0.05, "kill") for k in range(plan.kills)]
    schedule += [(0.45, "term standby")] if plan.processes > 1 else []
    schedule.sort()
    try:
        await bots[0].start(discord)
        if plan.shards:
            await until(lambda: bots[0].said(HOLDS) > 0, 60)
        for standby in bots[1:]:
            await standby.start(discord, standby=not plan.shards)
        for n in range(plan.jobs):
            while schedule and n >= schedule[0][0] * plan.jobs:
                await fault(schedule.pop(0)[1], comfys, discord, bots, say, shards=plan.shards)
            roll = rng.random()
            if roll < 0.04 and await members.press("cancel"):
                report.asked["cancel"] += 1
            if roll < 0.08 and await members.press("reroll"):
                report.asked["reroll"] += 1
            elif 0.08 <= roll < 0.12 and await members.react():
                report.asked["reaction"] += 1
            else:
                await members.imagine()
                report.asked["imagine"] += 1
            await asyncio.sleep(1 / plan.rate)  # the traffic's pace (not a synchronisation)
        say(f"traffic done after {time.monotonic() - started:.0f} s; draining")
        await drain(rows, plan.drain, discord)
        for bot in reversed(bots):
            await bot.stop()
        await account(report, rows, discord)
        report.peak_rss = max(bot.peak_rss for bot in bots)
    finally:
        for bot in reversed(bots):
            await bot.stop()
        await discord.stop()
        for comfy in comfys:
            await comfy.stop()
    report.seconds = time.monotonic() - started
    return report


async def fault(
    kind: str, comfys: list[FakeComfy], discord: FakeDiscord, bots: list[BotProcess], say: Any, *, shards: bool = False
) -> None:
    say(f"fault: {kind}")
    if kind == "restart":
        await comfys[0].restart()
    elif kind == "cut":
        await comfys[-1].drop_sockets()
    elif kind == "429":
        discord.faults.extend([429] * 20)
    elif kind == "5xx":
        discord.faults.extend([503] * 6 + [502] * 4)
    elif kind == "kill" and len(bots) == 1:
        await bots[0].kill()
        await bots[0].start(discord)
    elif kind == "kill" and shards:  # the holder dies; the other takes the lease; the killed one relays again
        took = bots[1].said(HOLDS)
        await bots[0].kill()
        await until(lambda: bots[1].said(HOLDS) > took, 60)
        bots.append(bots.pop(0))
        await bots[-1].start(discord)
    elif kind == "term standby" and shards:
        await bots[1].stop()
        await bots[1].start(discord)
    elif kind == "kill":  # the lease holder dies; the standby takes over, the killed one is the next standby
        identified = len(discord.identified)
        await bots[0].kill()
        await discord.until(lambda: len(discord.identified) > identified, within=60)
        bots.append(bots.pop(0))
        await bots[-1].start(discord, standby=True)
    elif kind == "term standby":
        await bots[1].stop()
        await bots[1].start(discord, standby=True)


Rows = Callable[[str], Awaitable[list[Any]]]  # the bot's database, read as an operator would


def sqlite_rows(folder: Path) -> Rows:
    async def rows(query: str) -> list[Any]:
        with sqlite3.connect(f"file:{folder / 'data' / 'bot.sqlite3'}?mode=ro", uri=True, timeout=10) as db:
            return db.execute(query).fetchall()

    return rows


def postgres_rows(url: str) -> Rows:
    async def rows(query: str) -> list[Any]:
        connection = await asyncpg.connect(url)
        try:
            return [tuple(row) for row in await connection.fetch(query)]
        finally:
            await connection.close()

    return rows


async def drain(rows: Rows, limit: float, discord: FakeDiscord) -> None:
    """Until every ask has been answered and every accepted job has ended. The last asks may still be on their way
    when the traffic stops (an interaction not yet acknowledged, a reaction not yet read): the store must show no
    open job twice in a row, the asks all answered."""
    deadline = time.monotonic() + limit
    quiet = 0
    while time.monotonic() < deadline and quiet < 2:
        now = time.monotonic()  # (an interaction unanswered past Discord's 3 s is dead: one in flight at a kill)
        answered = all(i.callback_type is not None or now - i.created > 3 for i in discord.interactions.values())
        open_jobs = await rows("SELECT id FROM jobs WHERE finished IS NULL")
        quiet = quiet + 1 if answered and not open_jobs else 0
        await asyncio.sleep(0.5)


async def account(report: Report, rows: Rows, discord: FakeDiscord) -> None:
    shown: dict[str, set[int]] = {}
    for message in discord.messages.values():
        if message.files:
            for component in _components(message):
                found = JOB_IN.match(component["custom_id"])
                if found and component["custom_id"].startswith("job:info:"):
                    shown.setdefault(found.group(1), set()).add(message.id)
    jobs = await rows("SELECT id, state, created, started, error FROM jobs")
    report.accepted = len(jobs)
    for job_id, state, created, begun, error in jobs:
        if begun is not None:
            report.waits.append(begun - created)
        if state == "delivered":
            report.delivered += 1
            if job_id not in shown:
                report.lost.append(job_id)
        elif state == "failed":
            report.failed[re.sub(r"[0-9a-f-]{36}", "<id>", str(error))[:70]] += 1
        elif state == "cancelled":
            report.cancelled += 1
        else:
            report.lost.append(job_id)
    report.doubled = [job_id for job_id, messages in shown.items() if len(messages) > 1]
    for interaction in discord.interactions.values():
        answer = discord.messages.get(interaction.message_id or 0)
        if interaction.callback_type is None:
            report.unanswered += 1
        elif answer is not None and answer.content.startswith("⚠️") and not answer.embeds:
            report.refused += 1
    report.second_shard = sum(1 for i in discord.interactions.values() if i.guild_id == SHARD_GUILD_ID)
    callbacks = {r.path.split("/")[-2]: r.at for r in discord.requests if r.path.endswith("/callback")}
    for interaction in discord.interactions.values():
        if interaction.token in callbacks:
            where = f"the server on shard {1 if interaction.guild_id == SHARD_GUILD_ID else 0}"
            report.acks.setdefault(where, []).append(callbacks[interaction.token] - interaction.created)
    report.faults = dict(discord.faulted)
    report.rate_limited = discord.rate_limited


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Plan()
    for name in ("backends", "members", "channels", "jobs", "kills", "seed"):
        parser.add_argument(f"--{name}", type=int, default=getattr(defaults, name))
    parser.add_argument("--rate", type=float, default=defaults.rate)
    parser.add_argument("--latency", type=float, default=defaults.latency, help="ms Discord takes to answer")
    parser.add_argument("--processes", type=int, default=1, choices=(1, 2), help="2: a standby (PostgreSQL)")
    parser.add_argument("--database", default="sqlite", choices=("sqlite", "postgres"))
    parser.add_argument("--shards", action="store_true", help="with --processes 2: each connects one shard")
    args = parser.parse_args()
    if args.processes > 1 and args.database != "postgres":
        parser.error("--processes 2 needs --database postgres (SQLite is one process's file)")
    if args.shards and args.processes != 2:
        parser.error("--shards needs --processes 2")
    plan = Plan(**{k: v for k, v in vars(args).items()})
    with tempfile.TemporaryDirectory() as name, contextlib.ExitStack() as stack:
        url = stack.enter_context(postgres.running_postgres()) if args.database == "postgres" else None
        report = asyncio.run(soak(plan, Path(name), database=url))
        print("\n".join(report.lines()))
        if report.lost or report.doubled:
            print(f"LOST: {report.lost[:10]}\nDOUBLED: {report.doubled[:10]}")
            for log in sorted(Path(name).glob("bot*.log")):
                print(log.read_text()[-4000:])
            sys.exit(1)


if __name__ == "__main__":
    main()

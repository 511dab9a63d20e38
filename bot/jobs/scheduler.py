"""Fair order by GPU time: guilds share the fleet, members share their guild, each in proportion to its weight, and
time is counted in GPU-seconds, not in jobs. A member making 30 s videos and one making 2 s images get the same
GPU time, not the same number of turns.

Start-time fair queuing (Goyal, Vin and Cheng, 1996) at two levels:
- **Members inside a guild.** A queued job gets a tag when it is queued: the later of its guild's virtual time
  (the tag of the job it dispatched last) and its member's finish (the tag of their previous job plus its cost
  divided by their weight). The guild's jobs go in tag order. A member who was idle comes back at the guild's
  virtual time: no credit is saved up by waiting.
- **Guilds on the fleet.** Each guild has a virtual service, its GPU-seconds dispatched divided by its share
  (the operator's setting); the guild with the least goes next. A guild that was idle comes back at the fleet's
  virtual time (the service of the guild dispatched last).
- **Estimated, then measured.** A job is charged its template's estimated cost (`CostEstimates`) when queued and
  dispatched, and corrected by what it measured when it ends (`settle`): the member's later jobs move by the
  difference.
- **Two lanes.** A member past their budget in relax mode queues in the relaxed lane, which runs only where the
  normal lane has nothing a backend could take (the engine places it only on an idle backend).

A job's place is counted, not simulated, in O(guilds * log n): its rank in its guild (a `CostTree` keyed by tag)
gives the GPU-seconds ahead of it there, hence the virtual service at which its guild reaches it; each other guild
is ahead by the jobs it reaches before that (its own tree, searched by cost). Queueing, dispatching and cancelling
cost O(log n) each (a member's later jobs are re-tagged when one of theirs is cancelled or settled: their own
jobs, a few). `ordered()` (the whole order) is for listings and tests.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from .cost_tree import CostTree
from .model import Job

T = TypeVar("T")
Key = tuple[int, int]  # (guild, member)
Tag = tuple[float, int, str]  # (virtual start, seq, job id): the order inside a guild
MIN_COST = 1e-3  # seconds: a job is never free (a tag must move)
SMALL = 0.25  # of a job's cost: a member's cost corrections are applied to their queued jobs once they add up to it


@dataclass(eq=False)
class _Guild:
    tree: CostTree = field(default_factory=CostTree)  # its queued jobs by tag, with their costs
    members: dict[Key, deque[tuple[Tag, Job]]] = field(default_factory=dict)  # members with queued jobs
    heads: list[tuple[Tag, Key]] = field(default_factory=list)  # members by their first job's tag (lazy)
    vtime: float = 0.0  # the tag of the job it dispatched last
    served: float = 0.0  # GPU-seconds dispatched over its share

    def head(self, key: Key) -> Tag | None:
        jobs = self.members.get(key)
        return jobs[0][0] if jobs else None

    def first(self) -> Iterator[Key]:
        """Its members in the order of their first job's tag (stale heap entries dropped on the way)."""
        heads = self.heads
        while heads and self.head(heads[0][1]) != heads[0][0]:
            heapq.heappop(heads)
        if not heads:
            return
        first = heads[0][1]
        yield first
        yield from sorted((k for k in self.members if k != first), key=lambda k: self.head(k) or ())

    def reheap(self, key: Key) -> None:
        head = self.head(key)
        if head is not None:
            heapq.heappush(self.heads, (head, key))
            if len(self.heads) > 2 * len(self.members) + 16:  # mostly stale: rebuilt, amortized O(1)
                self.heads[:] = [(h, k) for k in self.members if (h := self.head(k)) is not None]
                heapq.heapify(self.heads)


@dataclass(frozen=True, slots=True)
class _Queued:
    lane: _Lane
    guild: int
    key: Key
    cost: float
    counted: bool  # its cost is in its member's finish (a retry put first is not)


class _Lane:
    def __init__(self, share: Callable[[int], float]) -> None:
        self.share = share
        self.guilds: dict[int, _Guild] = {}
        self.active: dict[int, _Guild] = {}  # guilds with queued jobs
        self.finish: dict[Key, float] = {}  # each member's virtual finish
        self.lag: dict[Key, float] = {}  # a member's measured-cost corrections not yet applied (`settle`)
        self.vtime = 0.0  # the service of the guild dispatched last
        self.count = 0

    def guild(self, guild_id: int) -> _Guild:
        guild = self.active.get(guild_id)
        if guild is None:
            guild = self.guilds.setdefault(guild_id, _Guild())
            guild.served = max(guild.served, self.vtime)  # back from idle: no credit saved up
            self.active[guild_id] = guild
        return guild

    def add(self, guild: _Guild, key: Key, tag: Tag, job: Job, cost: float, *, front: bool) -> None:
        jobs = guild.members.setdefault(key, deque())
        (jobs.appendleft if front else jobs.append)((tag, job))
        guild.tree.add(tag, cost)
        guild.reheap(key)
        self.count += 1

    def take(self, guild_id: int, key: Key, tag: Tag, job: Job) -> None:
        guild = self.active[guild_id]
        jobs = guild.members[key]
        jobs.remove((tag, job))
        guild.tree.remove(tag)
        if not jobs:
            del guild.members[key]
        else:
            guild.reheap(key)
        if not guild.members:
            del self.active[guild_id]
            guild.heads.clear()
        self.count -= 1

    def _starts(self, guild_id: int, guild: _Guild) -> Iterator[tuple[float, int, str]]:
        """The guild's queued jobs in its order, each with the virtual service at which the guild reaches it."""
        share, ahead = self.share(guild_id), 0.0
        for tag, cost in guild.tree:
            yield guild.served + ahead / share, guild_id, tag[2]
            ahead += cost

    def order(self) -> Iterator[Job]:
        """Every queued job in the order it would go if any backend could take any job."""
        queued = {tag[2]: job for guild in self.active.values() for jobs in guild.members.values() for tag, job in jobs}
        streams = [self._starts(guild_id, guild) for guild_id, guild in self.active.items()]
        for _, _, job_id in heapq.merge(*streams):
            yield queued[job_id]


class FairScheduler:
    def __init__(
        self,
        cost: Callable[[Job], float] = lambda job: 1.0,
        share: Callable[[int], float] = lambda guild: 1.0,
    ) -> None:
        self._cost, self._share = cost, share
        self._lanes = (_Lane(share), _Lane(share))  # normal, relaxed
        self._where: dict[str, tuple[_Queued, Tag]] = {}
        self._charged: dict[str, _Queued] = {}  # dispatched jobs, until they are settled
        self.version = 0  # changes whenever any queued job's place may have changed

    @staticmethod
    def _key(job: Job) -> Key:
        return job.request.guild_id or 0, job.user_id

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, job_id: str) -> bool:
        return job_id in self._where

    @property
    def relaxed(self) -> int:
        """Jobs in the relaxed lane."""
        return self._lanes[1].count

    def push(self, job: Job, *, front: bool = False, relaxed: bool = False) -> None:
        """Queue a job; `front` puts it first among its member's (a job that must be retried); `relaxed` in the
        lane that runs only on backends the normal lane leaves idle."""
        lane = self._lanes[relaxed]
        key = self._key(job)
        guild = lane.guild(key[0])
        cost = max(MIN_COST, self._cost(job))
        head = guild.head(key)
        if front:
            start = guild.vtime if head is None else min(guild.vtime, math.nextafter(head[0], -math.inf))
        else:
            start = max(guild.vtime, lane.finish.get(key, 0.0))
            lane.finish[key] = start + cost / job.request.weight
        tag: Tag = (start, job.seq, job.id)
        lane.add(guild, key, tag, job, cost, front=front)
        self._where[job.id] = _Queued(lane, key[0], key, cost, counted=not front), tag
        self.version += 1

    def remove(self, job_id: str) -> Job | None:
        """Take a queued job out (cancelled); its member's later jobs move up by its cost."""
        found = self._where.pop(job_id, None)
        if found is None:
            return None
        queued, tag = found
        job = next(j for t, j in queued.lane.active[queued.guild].members[queued.key] if t == tag)
        queued.lane.take(queued.guild, queued.key, tag, job)
        if queued.counted:
            shift = -queued.cost / job.request.weight
            queued.lane.finish[queued.key] += shift
            self._retag(queued.lane, queued.guild, queued.key, tag, shift)
        self.version += 1
        return job

    def _retag(self, lane: _Lane, guild_id: int, key: Key, after: Tag | None, shift: float) -> None:
        """Move the member's queued jobs after `after` (None: all) by `shift` of virtual time (never to before
        their guild's virtual time: a cancel gives no credit)."""
        guild = lane.active.get(guild_id)
        jobs = guild.members.get(key) if guild is not None else None
        if guild is None or not jobs or shift == 0:
            return
        moved: deque[tuple[Tag, Job]] = deque()
        for tag, job in jobs:
            if after is not None and tag <= after:
                moved.append((tag, job))
                continue
            queued, _ = self._where[job.id]
            start = max(guild.vtime, tag[0] + shift) if shift < 0 else tag[0] + shift
            retagged = (start, tag[1], tag[2])
            guild.tree.remove(tag)
            guild.tree.add(retagged, queued.cost)
            self._where[job.id] = queued, retagged
            moved.append((retagged, job))
        guild.members[key] = moved
        guild.reheap(key)

    def pop(self, place: Callable[[Job, bool], T | None]) -> tuple[Job, T] | None:
        """The next job by fairness that `place` finds a place for (a backend that can run it now, its member
        under the running cap; the flag says it is from the relaxed lane), with that place; or None."""
        for relaxed, lane in enumerate(self._lanes):
            for guild_id, guild in self._guilds(lane):
                for key in guild.first():  # (iteration ends at the first job placed, before anything changes)
                    tag, job = guild.members[key][0]
                    found = place(job, bool(relaxed))
                    if found is None:
                        continue
                    queued, _ = self._where.pop(job.id)
                    lane.take(guild_id, key, tag, job)
                    guild.vtime = max(guild.vtime, tag[0])
                    lane.vtime = max(lane.vtime, guild.served)
                    guild.served += queued.cost / self._share(guild_id)
                    self._charged[job.id] = queued
                    self.version += 1
                    return job, found
        return None

    def _guilds(self, lane: _Lane) -> Iterator[tuple[int, _Guild]]:
        """The lane's guilds with queued jobs, least served first (sorted only past the first: usually it places)."""
        if not lane.active:
            return

        def rank(guild_id: int) -> tuple[float, int]:
            return lane.active[guild_id].served, guild_id

        first = min(lane.active, key=rank)
        yield first, lane.active[first]
        for guild_id in sorted((g for g in lane.active if g != first), key=rank):
            yield guild_id, lane.active[guild_id]

    def settle(self, job: Job, measured: float | None) -> None:
        """A dispatched job ended: charge what it measured instead of its estimate (None: keep the estimate)."""
        queued = self._charged.pop(job.id, None)
        if queued is None or measured is None:
            return
        difference = max(MIN_COST, measured) - queued.cost
        guild = queued.lane.guilds[queued.guild]
        guild.served += difference / self._share(queued.guild)
        if queued.counted:
            lane, key = queued.lane, queued.key
            lag = lane.lag.pop(key, 0.0) + difference / job.request.weight
            # A small error (a job's measured time a little off its estimate) is carried until it adds up to a
            # quarter of a job: re-tagging every queued job of the member at each end would cost more than
            # the order it corrects
            guild_jobs = lane.active.get(queued.guild)
            if (
                guild_jobs is not None
                and key in guild_jobs.members
                and abs(lag) < SMALL * queued.cost / job.request.weight
            ):
                lane.lag[key] = lag
            else:
                lane.finish[key] = lane.finish.get(key, 0.0) + lag
                self._retag(lane, queued.guild, key, None, lag)
        self.version += 1

    def move(self, key: Key, *, relaxed: bool) -> int:
        """Move a member's queued jobs to the relaxed lane, or back; how many moved."""
        source = self._lanes[not relaxed]
        guild = source.active.get(key[0])
        jobs = list(guild.members.get(key, ())) if guild is not None else []
        for _, job in jobs:
            self.remove(job.id)
            self.push(job, relaxed=relaxed)
        return len(jobs)

    def members(self, *, relaxed: bool) -> list[Key]:
        """The members with jobs in a lane."""
        return [key for guild in self._lanes[relaxed].active.values() for key in guild.members]

    def place(self, job_id: str) -> tuple[int, float] | None:
        """Where a queued job stands in the fair order (1 = next), if every job could go anywhere, and the
        estimated GPU-seconds of the jobs ahead of it; or None."""
        found = self._where.get(job_id)
        if found is None:
            return None
        queued, tag = found
        lane = queued.lane
        share = self._share(queued.guild)
        count, ahead = lane.active[queued.guild].tree.before(tag)
        start = lane.active[queued.guild].served + ahead / share
        for guild_id, guild in lane.active.items():
            if guild_id == queued.guild:
                continue
            n, cost = guild.tree.leading(_before(guild.served, self._share(guild_id), start, guild_id < queued.guild))
            count, ahead = count + n, ahead + cost
        if lane is self._lanes[1]:
            count, ahead = (
                count + self._lanes[0].count,
                ahead + sum(g.tree.total for g in self._lanes[0].active.values()),
            )
        return count + 1, ahead

    def position(self, job_id: str) -> int | None:
        place = self.place(job_id)
        return place[0] if place is not None else None

    def ordered(self) -> list[Job]:
        """Every queued job in the order it would be dispatched (listings, and the reference `position()` is
        tested against): the normal lane's, then the relaxed lane's."""
        return [job for lane in self._lanes for job in lane.order()]


def _before(served: float, share: float, start: float, tie_goes_first: bool) -> Callable[[float], bool]:
    """Whether a guild at `served` with `share` starts a job that has `before` GPU-seconds ahead of it in the
    guild before virtual time `start` (at the same time, the lower guild id goes first)."""
    if tie_goes_first:
        return lambda before: served + before / share <= start
    return lambda before: served + before / share < start

"""Fair order: the least recently served guild first, within it the least recently served member, each
member's jobs in the order they asked. One member's batch of 20 does not hold up everyone else.

That order is a rotation: each guild with queued jobs takes one turn per round (the served one goes to the end),
and within a guild each member takes one turn per guild turn. So a job's place is counted, not simulated: the
job that is guild G's t-th to go is preceded by every guild's first t jobs and, in its own round, by one job
of each guild ahead of G that still has one. `position()` costs O(guilds + the guild's members), whatever the
queue's length; `ordered()` (the whole order, by simulation) is for listings and tests.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from .model import Job

T = TypeVar("T")
Key = tuple[int, int]  # (guild, member)


def _preceding(counts: Iterable[tuple[int, bool]], turn: int) -> int:
    """How many go before the `turn`-th (0-based) of one entrant in a rotation: each other entrant's
    (`count`, `ahead` of it in the rotation) contributes its first `turn` turns, and one more if it is ahead and
    has one left in that round."""
    return turn + sum(min(count, turn + 1) if ahead else min(count, turn) for count, ahead in counts)


class FairScheduler:
    def __init__(self) -> None:
        self._jobs: dict[Key, deque[Job]] = {}  # (guild, user) -> their queued jobs, oldest first
        self._where: dict[str, Key] = {}  # job id -> its member's key
        self._members: dict[int, dict[Key, None]] = {}  # guild -> its members with queued jobs
        self._guild_jobs: dict[int, int] = {}
        self._served_guild: dict[int, int] = {}
        self._served_user: dict[Key, int] = {}
        self._rank: dict[Key, tuple[int, int]] = {}  # member -> (last served, their first job's seq): lowest first
        # guild -> its members by rank, lowest first; an entry whose rank is no longer the member's is stale and
        # dropped when it reaches the top (each rerank adds one entry, so the work per rank is O(log members))
        self._by_rank: dict[int, list[tuple[tuple[int, int], Key]]] = {}
        self._tick = 0
        self.version = 0  # changes whenever any queued job's place may have changed

    @staticmethod
    def _key(job: Job) -> Key:
        return job.request.guild_id or 0, job.user_id

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, job_id: str) -> bool:
        return job_id in self._where

    def push(self, job: Job, *, front: bool = False) -> None:
        """Queue a job; `front` puts it first among its member's (a job that must be retried)."""
        key = self._key(job)
        jobs = self._jobs.get(key)
        if jobs is None:
            jobs = self._jobs[key] = deque()
            self._members.setdefault(key[0], {})[key] = None
        if front:
            jobs.appendleft(job)
        else:
            jobs.append(job)
        self._where[job.id] = key
        self._guild_jobs[key[0]] = self._guild_jobs.get(key[0], 0) + 1
        self._rerank(key)
        self.version += 1

    def _rerank(self, key: Key) -> None:
        jobs = self._jobs.get(key)
        if jobs:
            rank = self._served_user.get(key, 0), jobs[0].seq
            if self._rank.get(key) != rank:
                self._rank[key] = rank
                heap = self._by_rank.setdefault(key[0], [])
                heapq.heappush(heap, (rank, key))
                if len(heap) > 2 * len(self._members[key[0]]) + 16:  # mostly stale: rebuilt, amortized O(1)
                    heap[:] = [(self._rank[k], k) for k in self._members[key[0]]]
                    heapq.heapify(heap)
        else:
            self._rank.pop(key, None)

    def _first(self, guild: int) -> Key:
        """The guild's member owed the next turn (the lowest rank), stale entries dropped on the way."""
        heap, rank = self._by_rank[guild], self._rank
        while rank.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][1]

    def _taken(self, key: Key, job: Job) -> None:
        del self._where[job.id]
        self._guild_jobs[key[0]] -= 1
        if not self._jobs[key]:
            del self._jobs[key]
            del self._members[key[0]][key]
            if not self._members[key[0]]:
                del self._members[key[0]], self._guild_jobs[key[0]], self._by_rank[key[0]]
        self._rerank(key)
        self.version += 1

    def remove(self, job_id: str) -> Job | None:
        key = self._where.get(job_id)
        if key is None:
            return None
        jobs = self._jobs[key]
        job = next(j for j in jobs if j.id == job_id)
        jobs.remove(job)
        self._taken(key, job)
        return job

    def _guild_rank(self, guild: int) -> tuple[int, int]:
        served = self._served_guild.get(guild, 0)
        if served:
            return served, 0  # a served guild's turn is its last service (no two alike)
        return 0, self._rank[self._first(guild)][1]  # none of its members served yet: the oldest first job

    def _candidates(self) -> Iterator[Key]:
        """Members with queued jobs, in the order they are owed a turn (a guild's members sorted only when
        reached: the first usually has a place)."""
        guilds = self._members if len(self._members) == 1 else sorted(self._members, key=self._guild_rank)
        for guild in guilds:  # (iteration ends at the first member placed, before `pop` changes anything)
            members = self._members[guild]
            first = self._first(guild)  # usually the only one looked at
            yield first
            yield from sorted((k for k in members if k != first), key=self._rank.__getitem__)

    def pop(self, place: Callable[[Job], T | None]) -> tuple[Job, T] | None:
        """The next job by fairness that `place` finds a place for (a backend that can run it now, its member
        under the running cap), with that place; or None."""
        for key in self._candidates():
            job = self._jobs[key][0]
            found = place(job)
            if found is None:
                continue
            self._tick += 1
            self._served_guild[key[0]] = self._tick
            self._served_user[key] = self._tick
            self._jobs[key].popleft()
            self._taken(key, job)  # (ranks the member by this service)
            return job, found
        return None

    def position(self, job_id: str) -> int | None:
        """Where a queued job stands in the fair order (1 = next), if every job could go anywhere; or None."""
        key = self._where.get(job_id)
        if key is None:
            return None
        mine = self._jobs[key]
        index = next(i for i, j in enumerate(mine) if j.id == job_id)
        guild = key[0]
        rank, jobs = self._rank, self._jobs
        mine_rank = rank[key]
        members = ((len(jobs[k]), rank[k] < mine_rank) for k in self._members[guild] if k != key)
        turn = _preceding(members, index)  # its place in its own guild's order
        guild_rank = self._guild_rank(guild)
        guilds = ((self._guild_jobs[g], self._guild_rank(g) < guild_rank) for g in self._members if g != guild)
        return _preceding(guilds, turn) + 1

    def ordered(self) -> list[Job]:
        """Every queued job in the order it would be dispatched, by simulation (listings, and the reference
        `position()` is tested against)."""
        copy = FairScheduler()
        for jobs in self._jobs.values():
            for job in jobs:
                copy.push(job)
        copy._served_guild = dict(self._served_guild)
        copy._served_user = dict(self._served_user)
        copy._tick = self._tick
        for key in copy._jobs:
            copy._rerank(key)
        order = []
        while (popped := copy.pop(lambda job: True)) is not None:
            order.append(popped[0])
        return order

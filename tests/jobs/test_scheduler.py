"""Fair order across members and guilds."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.jobs.model import Job, JobRequest
from bot.jobs.scheduler import FairScheduler
from bot.templates.template import BoundWorkflow

_seq = itertools.count(1)


def job(user: int, guild: int = 1) -> Job:
    made = Job(JobRequest(user, guild, 10, BoundWorkflow("t", {}, {}, ("9",))))
    made.seq = next(_seq)
    return made


def next_job(scheduler: FairScheduler, runnable: Callable[[Job], bool] = lambda j: True) -> Job | None:
    """The job the scheduler would start next where `runnable` says a backend could take it."""
    popped = scheduler.pop(lambda j: True if runnable(j) else None)
    return popped[0] if popped else None


def test_a_member_with_one_job_goes_before_the_rest_of_a_batch() -> None:
    scheduler = FairScheduler()
    batch = [job(user=1) for _ in range(10)]
    for queued in batch:
        scheduler.push(queued)
    first = next_job(scheduler)  # A's first starts at once
    late = job(user=2)
    scheduler.push(late)
    assert first is batch[0]
    assert next_job(scheduler) is late  # B's runs second
    assert [j.id for j in scheduler.ordered()] == [j.id for j in batch[1:]]


def test_round_robin_across_members_then_guilds() -> None:
    scheduler = FairScheduler()
    a = [job(user=1, guild=1) for _ in range(3)]
    b = [job(user=2, guild=1) for _ in range(3)]
    c = [job(user=3, guild=2) for _ in range(3)]
    for queued in (*a, *b, *c):
        scheduler.push(queued)
    order = [next_job(scheduler) for _ in range(9)]
    assert order[:3] == [a[0], c[0], b[0]]  # guild 1, guild 2, guild 1 (its other member)
    assert order[3:6] == [c[1], a[1], c[2]]
    assert len(scheduler) == 0 or next_job(scheduler) is None


def test_runnable_skips_jobs_no_backend_can_take_and_retries_go_first() -> None:
    scheduler = FairScheduler()
    blocked, other = job(user=1), job(user=2)
    scheduler.push(blocked)
    scheduler.push(other)
    assert next_job(scheduler, lambda j: j is not blocked) is other
    retry = job(user=1)
    scheduler.push(retry, front=True)
    assert next_job(scheduler) is retry
    assert scheduler.remove(blocked.id) is blocked and len(scheduler) == 0


# A step: push a job of (guild, member) [front], pop (refusing members in a set), or remove the n-th queued job.
Step = tuple[str, int, int, bool]
steps = st.lists(
    st.tuples(st.sampled_from(["push", "push", "pop", "remove"]), st.integers(1, 3), st.integers(1, 4), st.booleans()),
    max_size=60,
)


def refusing(user: int | None) -> Callable[[Job], bool]:
    """A pop that may not place this member's jobs (as one at their running cap)."""
    return lambda j: j.user_id % 10 != user


@settings(max_examples=200, deadline=None)
@given(steps)
@example([("push", 1, 1, False), ("push", 2, 2, False), ("pop", 1, 1, False), ("push", 1, 3, True)])
def test_a_counted_position_is_the_simulated_order(plan: list[Step]) -> None:
    """`position()` counts where a job stands without simulating; after any pushes (to the back or, for a
    retry, the front), pops (some members refused, as a member at their running cap is) and cancels, it is the
    job's place in the simulated order."""
    scheduler = FairScheduler()
    for action, guild, user, flag in plan:
        if action == "push":
            scheduler.push(job(user=guild * 10 + user, guild=guild), front=flag)
        elif action == "pop":
            next_job(scheduler, refusing(user if flag else None))
        elif scheduler.ordered():
            queued = scheduler.ordered()
            scheduler.remove(queued[(guild * user) % len(queued)].id)
        order = scheduler.ordered()
        assert [scheduler.position(j.id) for j in order] == list(range(1, len(order) + 1))
        assert len(scheduler) == len(order)


class NaiveFairness:
    """The fair order by its definition, with nothing kept but each queue and when each guild and member was
    last served: the reference the scheduler's incremental ranks are checked against."""

    def __init__(self) -> None:
        self.queues: dict[tuple[int, int], list[Job]] = {}
        self.served: dict[object, int] = {}
        self.tick = 0

    def push(self, made: Job, front: bool) -> None:
        queue = self.queues.setdefault((made.request.guild_id or 0, made.user_id), [])
        queue.insert(0, made) if front else queue.append(made)

    def remove(self, job_id: str) -> None:
        for queue in self.queues.values():
            queue[:] = [j for j in queue if j.id != job_id]

    def pop(self, runnable: Callable[[Job], bool]) -> Job | None:
        members = [(key, queue) for key, queue in self.queues.items() if queue]
        guilds = {key[0] for key, _ in members}

        def guild_rank(guild: int) -> tuple[int, int]:
            return self.served.get(("guild", guild), 0), min(q[0].seq for k, q in members if k[0] == guild)

        def member_rank(item: tuple[tuple[int, int], list[Job]]) -> tuple[int, int]:
            return self.served.get(item[0], 0), item[1][0].seq

        for guild in sorted(guilds, key=guild_rank):
            for key, queue in sorted((m for m in members if m[0][0] == guild), key=member_rank):
                if runnable(queue[0]):
                    self.tick += 1
                    self.served[("guild", guild)] = self.served[key] = self.tick
                    return queue.pop(0)
        return None


@settings(max_examples=200, deadline=None)
@given(steps)
def test_the_scheduler_pops_what_the_definition_of_fairness_says(plan: list[Step]) -> None:
    """The scheduler keeps members' ranks in heaps (stale entries dropped lazily); whatever the pushes, front
    pushes, refused pops and cancels, it serves the job the plain definition of the order serves."""
    scheduler, reference = FairScheduler(), NaiveFairness()
    for action, guild, user, flag in plan:
        if action == "push":
            made = job(user=guild * 10 + user, guild=guild)
            scheduler.push(made, front=flag)
            reference.push(made, flag)
        elif action == "pop":
            runnable = refusing(user if flag else None)
            assert next_job(scheduler, runnable) is reference.pop(runnable)
        elif len(scheduler):
            queued = scheduler.ordered()
            victim = queued[(guild * user) % len(queued)].id
            scheduler.remove(victim)
            reference.remove(victim)
    while (popped := next_job(scheduler)) is not None:
        assert popped is reference.pop(lambda j: True)
    assert reference.pop(lambda j: True) is None

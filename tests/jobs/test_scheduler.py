"""Fair order across members and guilds, in GPU time."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.jobs.model import Job, JobRequest
from bot.jobs.scheduler import FairScheduler
from bot.templates.template import BoundWorkflow

_seq = itertools.count(1)


COSTS = {"image": 2.0, "video": 30.0}  # GPU seconds


def job(user: int, guild: int = 1, template: str = "t", weight: float = 1.0) -> Job:
    made = Job(JobRequest(user, guild, 10, BoundWorkflow(template, {}, {}, ("9",)), weight=weight))
    made.seq = next(_seq)
    return made


def cost(made: Job) -> float:
    return COSTS.get(made.request.bound.template, 1.0)


def next_job(scheduler: FairScheduler, runnable: Callable[[Job], bool] = lambda j: True) -> Job | None:
    """The job the scheduler would start next where `runnable` says a backend could take it."""
    popped = scheduler.pop(lambda j, relaxed: True if runnable(j) else None)
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


def one_backend(
    scheduler: FairScheduler,
    demand: dict[int, Job],
    seconds: float,
    measured: Callable[[Job], float] = cost,
    charge: bool = True,
) -> list[tuple[int, float, float]]:
    """Run the queue on one backend for `seconds`: each member in `demand` keeps three jobs like theirs queued
    (steady demand), each job's measured time charged when it ends (`charge`). Each run is (member, start,
    end)."""
    for made in demand.values():
        for _ in range(3):
            scheduler.push(
                job(made.user_id, made.request.guild_id or 0, made.request.bound.template, made.request.weight)
            )
    runs, now = [], 0.0
    while now < seconds and (popped := next_job(scheduler)) is not None:
        took = measured(popped)
        scheduler.settle(popped, took if charge else None)
        runs.append((popped.user_id, now, now + took))
        now += took
        scheduler.push(
            job(popped.user_id, popped.request.guild_id or 0, popped.request.bound.template, popped.request.weight)
        )
    return runs


def shares(runs: list[tuple[int, float, float]], start: float, end: float) -> dict[int, float]:
    """Each member's share of the GPU time within [start, end)."""
    used: dict[int, float] = {}
    for member, began, ended in runs:
        used[member] = used.get(member, 0.0) + max(0.0, min(end, ended) - max(start, began))
    total = sum(used.values())
    return {member: seconds / total for member, seconds in used.items()}


def windows(runs: list[tuple[int, float, float]], length: float = 600.0) -> Iterator[dict[int, float]]:
    """The shares in every window of `length` seconds, 10 s apart, over the runs."""
    last = runs[-1][2]
    start = 0.0
    while start + length <= last:
        yield shares(runs, start, start + length)
        start += 10.0


def test_a_member_making_videos_and_one_making_images_get_equal_gpu_time() -> None:
    """30 s videos against 2 s images on one backend: about half the GPU time each in every 10-minute window
    (turns per job give the videos about 94 %)."""
    video, image = job(1, template="video"), job(2, template="image")
    runs = one_backend(FairScheduler(cost=cost), {1: video, 2: image}, 3600)
    for window in windows(runs):
        assert 0.45 <= window[1] <= 0.55, window
    by_turns = shares(one_backend(FairScheduler(), {1: video, 2: image}, 3600, charge=False), 0, 3600)
    assert by_turns[1] > 0.9  # what counting jobs gives


def test_a_wrong_estimate_is_corrected_by_what_jobs_measure() -> None:
    """Every template estimated at 10 s: the measured 30 s and 2 s correct each member's later turns, so the
    shares still hold in every window."""
    video, image = job(1, template="video"), job(2, template="image")
    runs = one_backend(FairScheduler(cost=lambda j: 10.0), {1: video, 2: image}, 3600)
    for window in windows(runs):
        assert 0.45 <= window[1] <= 0.55, window


def jain(values: list[float]) -> float:
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values))


def test_members_of_equal_weight_get_equal_gpu_time_whatever_their_jobs_cost() -> None:
    """Twelve members with jobs from 1 s to 40 s, all with unmet demand: Jain's index of their GPU time is at
    least 0.95."""
    costs = {f"t{n}": float(n) for n in (1, 2, 3, 5, 8, 13, 21, 34, 40, 4, 6, 30)}
    demand = {n: job(n, template=f"t{c:g}") for n, c in enumerate(costs.values())}
    scheduler = FairScheduler(cost=lambda j: costs[j.request.bound.template])
    runs = one_backend(scheduler, demand, 7200, measured=lambda j: costs[j.request.bound.template])
    used = shares(runs, 0, runs[-1][2])
    assert jain(list(used.values())) >= 0.95, used


def test_a_role_weight_and_a_guild_share_give_that_much_more_gpu_time() -> None:
    """A member of weight 2 gets two thirds of their guild's GPU time; a guild of share 3 three quarters of the
    fleet's."""
    runs = one_backend(
        FairScheduler(cost=cost), {1: job(1, template="video", weight=2), 2: job(2, template="image")}, 3600
    )
    assert abs(shares(runs, 0, 3600)[1] - 2 / 3) < 0.03
    guilds = FairScheduler(cost=cost, share=lambda guild: 3.0 if guild == 7 else 1.0)
    runs = one_backend(guilds, {1: job(1, guild=7, template="image"), 2: job(2, guild=8, template="video")}, 3600)
    assert abs(shares(runs, 0, 3600)[1] - 3 / 4) < 0.03


def test_a_member_back_from_idle_saved_up_no_credit() -> None:
    """A member who has run alone for an hour and one who arrives now then take turns by GPU time: the newcomer
    does not get the next hour to themselves."""
    scheduler = FairScheduler(cost=cost)
    runs = one_backend(scheduler, {1: job(1, template="image")}, 3600)
    assert runs
    for _ in range(3):
        scheduler.push(job(2, template="image"))
    order = [next_job(scheduler) for _ in range(6)]
    assert [j.user_id for j in order if j is not None].count(1) == 3


def test_the_relaxed_lane_runs_only_what_the_normal_lane_leaves() -> None:
    """A relaxed job (its member past their budget) goes only when no normal job can be placed, and its place
    counts every normal job before it."""
    scheduler = FairScheduler(cost=cost)
    relaxed, normal = job(1, template="image"), job(2, template="video")
    scheduler.push(relaxed, relaxed=True)
    scheduler.push(normal)
    assert scheduler.place(relaxed.id) == (2, 30.0) and scheduler.position(normal.id) == 1
    assert scheduler.pop(lambda j, lane: (j, lane) if j is relaxed else None) == (relaxed, (relaxed, True))
    scheduler.push(later := job(1, template="image"), relaxed=True)
    assert scheduler.move((1, 1), relaxed=False) == 1  # their budget reset: back in the normal lane
    assert scheduler.position(later.id) == 2  # back at the guild's virtual time, after the job queued before it
    assert [next_job(scheduler), next_job(scheduler)] == [normal, later]


# A step: push a job of (guild, member) [front / the relaxed lane], pop (refusing a member), settle the job
# popped last with a measured cost, remove the n-th queued job, or move a member between lanes.
Step = tuple[str, int, int, bool]
steps = st.lists(
    st.tuples(
        st.sampled_from(["push", "push", "push", "pop", "remove", "settle", "move"]),
        st.integers(1, 3),
        st.integers(1, 4),
        st.booleans(),
    ),
    max_size=60,
)
TEMPLATES = ("image", "video", "t")


def refusing(user: int | None) -> Callable[[Job], bool]:
    """A pop that may not place this member's jobs (as one at their running cap)."""
    return lambda j: j.user_id % 10 != user


@settings(max_examples=300, deadline=None)
@given(steps)
@example([("push", 1, 1, False), ("push", 2, 2, False), ("pop", 1, 1, False), ("push", 1, 3, True)])
@example([("push", 1, 1, True), ("push", 2, 1, False), ("push", 1, 1, False), ("pop", 1, 1, False)])
def test_a_counted_position_is_the_simulated_order(plan: list[Step]) -> None:
    """`position()` counts where a job stands without simulating; after any pushes (costs of 1, 2 and 30 s;
    weights 1 and 2; guild shares 1 and 2; the relaxed lane; a retry put first), pops (some members refused, as
    a member at their running cap is), measured costs, cancels and lane moves, it is the job's place in the
    simulated order, and the order is the one `pop` follows."""
    scheduler = FairScheduler(cost=cost, share=lambda guild: 2.0 if guild == 2 else 1.0)
    popped: list[Job] = []
    for action, guild, user, flag in plan:
        member = guild * 10 + user
        if action == "push":
            made = job(member, guild, TEMPLATES[user % 3], weight=2.0 if user == 4 else 1.0)
            scheduler.push(made, front=flag and user % 2 == 0, relaxed=flag and user % 2 == 1)
        elif action == "pop":
            if (taken := next_job(scheduler, refusing(user if flag else None))) is not None:
                popped.append(taken)
        elif action == "settle" and popped:
            scheduler.settle(popped.pop(), float(user * 7) if flag else None)
        elif action == "move":
            scheduler.move((guild, member), relaxed=flag)
        elif scheduler.ordered():
            queued = scheduler.ordered()
            scheduler.remove(queued[(guild * user) % len(queued)].id)
        order = scheduler.ordered()
        assert [scheduler.position(j.id) for j in order] == list(range(1, len(order) + 1))
        assert len(scheduler) == len(order)
    order = scheduler.ordered()
    assert [next_job(scheduler) for _ in order] == order
    assert next_job(scheduler) is None

"""Choosing a backend: the one that would run a job soonest, a new one ranked like the fleet it joins."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from bot.comfy.pool import BackendPool, Capability


def backend(name: str) -> Any:
    return SimpleNamespace(name=name, stream=SimpleNamespace(connected=True))


def test_a_backend_that_has_not_finished_a_job_yet_gets_work_while_the_others_have_room() -> None:
    pool = BackendPool([backend("old"), backend("new")])
    for state in pool.states.values():
        state.healthy, state.capability = True, Capability(frozenset(), {})
    for _ in range(5):
        pool.finished("old", 1.0)  # one second a job; "new" has no measure yet (its default guess is 10 s)
    chosen = []
    for _ in range(2):  # two jobs at low load, room for two each
        picked = pool.choose({}, per_backend=2)
        assert picked is not None
        pool.take(picked.name)
        chosen.append(picked.name)
    assert sorted(chosen) == ["new", "old"]

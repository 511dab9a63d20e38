"""A short soak in CI: the bot as a real process under community traffic, a ComfyUI restart, a cut WebSocket,
Discord 429 and 5xx bursts and a SIGKILL; no accepted job may be lost or delivered twice.
The full soak is `python -m bench.soak` (figures in its output)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak import Plan, soak


@pytest.mark.timeout(120)
async def test_a_short_soak_loses_and_doubles_no_job(tmp_path: Path) -> None:
    plan = Plan(backends=2, members=20, channels=6, jobs=220, rate=16.0, kills=1, drain=60.0)
    report = await soak(plan, tmp_path, say=lambda _: None)
    print("\n" + "\n".join(report.lines()))
    assert report.accepted > 120 and report.delivered > 100  # the traffic really ran
    assert report.faults.get(429) and report.faults.get(503)  # and the faults really happened
    assert report.lost == [] and report.doubled == []


@pytest.mark.timeout(150)
@pytest.mark.parametrize("shards", [False, True], ids=["standby", "shards"])
async def test_two_processes_on_postgresql_lose_and_double_no_job_through_two_takeovers(
    tmp_path: Path, postgres_url: str, shards: bool
) -> None:
    """The lease holder is SIGKILLed twice (the other process takes over each time) and the other SIGTERMed once:
    as a standby, or (`shards`) sharing the bot, each process connected to one shard, the other relaying."""
    plan = Plan(
        backends=2, members=20, channels=6, jobs=180, rate=16.0, kills=2, drain=60.0, processes=2, shards=shards
    )
    report = await soak(plan, tmp_path, say=lambda _: None, database=postgres_url)
    print("\n" + "\n".join(report.lines()))
    assert report.accepted > 100 and report.delivered > 90
    assert report.lost == [] and report.doubled == []
    assert not shards or report.second_shard > 50  # half the traffic came through the other shard

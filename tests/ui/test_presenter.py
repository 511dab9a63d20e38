"""The edit budget serves people first: finals before progress, running jobs' progress before queued places,
each Discord bucket budgeted on its own, and a move of the queue costing what can be shown, not the queue."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Hashable
from typing import Any

import pytest

from bot.ui.presenter import LIVE_READS_PER_SEND, ProgressPresenter, Urgency


class Wire:
    """What went to Discord: (key, state, when) in the order the edits completed."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, float]] = []
        self.changed = asyncio.Event()

    def send(self, key: str) -> Callable[[Any], Any]:
        async def send(state: Any) -> None:
            await asyncio.sleep(0)  # an edit completes later than it is made, as over a socket
            self.sent.append((key, state, time.monotonic()))
            self.changed.set()

        return send

    async def until(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    def keys(self) -> list[str]:
        return [key for key, _, _ in self.sent]


def bucket(name: Hashable) -> Callable[[], Hashable]:
    return lambda: name


@pytest.fixture
async def presenter() -> AsyncIterator[ProgressPresenter]:
    made = ProgressPresenter(message_interval=0.0, bucket_edits=2, bucket_window=0.5, progress_per_second=1000)
    made.start()
    yield made
    await made.close()


async def test_a_final_goes_before_progress_waiting_in_its_bucket(presenter: ProgressPresenter) -> None:
    wire = Wire()
    channel = bucket("channel 1")
    for n in range(6):  # more progress than the bucket takes in one window
        presenter.show(f"p{n}", channel, wire.send(f"p{n}"), "step")
    final = asyncio.create_task(presenter.show_final("result", channel, wire.send("result"), "done"))
    await final
    assert wire.keys().index("result") <= 2  # at most what was already in flight went first
    await wire.until(lambda: len(wire.sent) == 7)


async def test_running_progress_goes_before_queued_places(presenter: ProgressPresenter) -> None:
    wire = Wire()
    channel = bucket("channel 1")
    presenter.show("queued", channel, wire.send("queued"), "waiting", urgency=Urgency.QUEUED)
    presenter.show_live("placed", channel, wire.send("placed"), lambda: 7)
    presenter.show("running", channel, wire.send("running"), "50 %", urgency=Urgency.RUNNING)
    await wire.until(lambda: len(wire.sent) == 3)
    assert wire.keys() == ["running", "queued", "placed"]


async def test_each_bucket_has_its_own_budget(presenter: ProgressPresenter) -> None:
    """Two edits per 0.5 s per bucket: eight results to eight members' replies (eight tokens) go at once, eight
    to one channel take three more windows."""
    wire = Wire()
    began = time.monotonic()
    tokens = [presenter.show_final(f"t{n}", bucket(f"token {n}"), wire.send(f"t{n}"), n) for n in range(8)]
    await asyncio.gather(*tokens)
    apart = time.monotonic() - began
    await asyncio.gather(*(presenter.show_final(f"c{n}", bucket("channel"), wire.send(f"c{n}"), n) for n in range(8)))
    together = time.monotonic() - began - apart
    assert apart < 0.25  # eight buckets: no window to wait for
    assert together >= 1.5  # one bucket, two per 0.5 s: the last two wait three windows
    in_channel = [at for key, _, at in wire.sent if key.startswith("c")]
    assert all(b - a >= 0.5 for a, b in zip(in_channel, in_channel[2:], strict=False))  # never 3 in a window


async def test_a_place_is_read_when_sent_and_an_unchanged_one_is_not_sent(presenter: ProgressPresenter) -> None:
    wire = Wire()
    place = {"now": 3}
    presenter.show_live("job", bucket("token"), wire.send("job"), lambda: place["now"])
    await wire.until(lambda: len(wire.sent) == 1)
    presenter.refresh_live()  # the queue moved, this job's place did not
    await presenter.show_final("other", bucket("token 2"), wire.send("other"), "done")
    await wire.until(lambda: "other" in wire.keys())  # noqa: SIM118 (keys() is the Wire's list of sent keys)
    place["now"] = 2
    presenter.refresh_live()
    await wire.until(lambda: len(wire.sent) == 3)
    assert [(key, state) for key, state, _ in wire.sent if key == "job"] == [("job", 3), ("job", 2)]


async def test_one_move_of_a_long_queue_reads_only_what_can_be_shown() -> None:
    presenter = ProgressPresenter(message_interval=0.0, bucket_edits=4, bucket_window=5.0, progress_per_second=10)
    presenter.start()
    wire, reads = Wire(), [0]

    def place(n: int) -> Callable[[], int]:
        def read() -> int:
            reads[0] += 1
            return n

        return read

    try:
        for n in range(5000):
            presenter.show_live(f"q{n}", bucket(f"token {n}"), wire.send(f"q{n}"), place(n))
        await wire.until(lambda: len(wire.sent) >= 10)  # the allowance of one second
        assert reads[0] <= 10 * LIVE_READS_PER_SEND
    finally:
        await presenter.close()


async def test_progress_held_by_its_interval_does_not_hold_queued_places() -> None:
    presenter = ProgressPresenter(message_interval=30.0, bucket_edits=4, bucket_window=5.0, progress_per_second=10)
    presenter.start()
    wire = Wire()
    try:
        presenter.show("running", bucket("token 1"), wire.send("running"), "10 %")
        await wire.until(lambda: len(wire.sent) == 1)
        presenter.show("running", bucket("token 1"), wire.send("running"), "20 %")  # may wait 30 s: it does
        presenter.show_live("queued", bucket("token 2"), wire.send("queued"), lambda: 4)
        await wire.until(lambda: "queued" in wire.keys())  # noqa: SIM118 (the Wire's sent keys)
        assert wire.keys() == ["running", "queued"]
    finally:
        await presenter.close()


async def test_a_bucket_not_used_for_a_window_is_forgotten(presenter: ProgressPresenter) -> None:
    """One window per interaction token ever edited would grow for the life of the bot."""
    wire = Wire()
    finals = [presenter.show_final(f"t{n}", bucket(f"token {n}"), wire.send(f"t{n}"), n) for n in range(50)]
    await asyncio.gather(*finals)
    assert len(presenter._windows) == 50
    sent, presenter._swept = time.monotonic(), -math.inf  # (a sweep is due)
    presenter._forget_windows(sent + 0.25)  # within the window (0.5 s): each is still counted
    assert len(presenter._windows) == 50
    presenter._forget_windows(sent + 1.0)  # a window after the last edit: nothing left to count
    assert presenter._windows == {}

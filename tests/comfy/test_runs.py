"""A prompt from submission to its one terminal outcome, over real sockets against the fake ComfyUI."""

from __future__ import annotations

import logging

import pytest

from bot.comfy import events as ev
from bot.comfy.backend import ComfyBackend
from bot.comfy.client import ComfyClient
from bot.comfy.run import Outcome, PromptRun, RunFailed, RunInterrupted, RunLost, RunSucceeded
from tests.conftest import BackendFactory, graph
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.proxy import SilentProxy
from tests.stack import checkpoints


async def collect(run: PromptRun) -> tuple[list[ev.Event], Outcome]:
    events: list[ev.Event] = []
    async for item in run:
        if isinstance(item, RunSucceeded | RunFailed | RunInterrupted | RunLost):
            return events, item
        events.append(item)
    raise AssertionError("the run ended without an outcome")


async def first(run: PromptRun, kind: type) -> ev.Event:
    """Consume the run's events up to the first of `kind`."""
    async for item in run:
        if isinstance(item, kind):
            return item  # type: ignore[return-value]
    raise AssertionError(f"no {kind.__name__} before the outcome")


@pytest.mark.parametrize("metadata", [True, False], ids=["type4-previews", "type1-previews"])
async def test_success_with_progress_and_previews(
    fake: FakeComfy, make_backend: BackendFactory, client: ComfyClient, metadata: bool
) -> None:
    fake.supports_preview_metadata = metadata
    backend = make_backend()
    if metadata:
        await fake.until(lambda: any(conn.negotiated for conn in fake.conns))
    run = await backend.submit(graph("txt2img", **{"3__steps": 3}))
    events, outcome = await collect(run)

    assert isinstance(outcome, RunSucceeded)
    files = outcome.results()
    assert [f.type for f in files] == ["output", "output"]  # batch of 2
    # one socket from execution_start to the end: the `executed` frames are the outputs, history is not read
    assert not outcome.from_history and not [path for _, path, _ in fake.requests if path.startswith("/history")]
    for ref in files:
        assert (await client.view(ref)).startswith(b"\x89PNG")
    progress = [e for e in events if isinstance(e, ev.Progress)]
    assert [(p.value, p.max) for p in progress] == [(1, 3), (2, 3), (3, 3)]
    previews = [e for e in events if isinstance(e, ev.PreviewImage)]
    assert len(previews) == 3
    assert all(p.prompt_id == run.prompt_id and p.image.startswith(b"\xff\xd8") for p in previews)
    kinds = [type(e) for e in events]
    assert kinds.index(ev.ExecutionStart) < kinds.index(ev.Progress) < kinds.index(ev.Executed)
    if metadata:  # a type-4 preview comes before its progress message, a type-1 preview after it
        assert kinds.index(ev.PreviewImage) < kinds.index(ev.Progress)
    else:
        assert kinds.index(ev.Progress) < kinds.index(ev.PreviewImage)


async def test_fully_cached_rerun_still_yields_the_files(fake: FakeComfy, backend: ComfyBackend) -> None:
    _, first_outcome = await collect(await backend.submit(graph("txt2img")))
    again_events, again = await collect(await backend.submit(graph("txt2img")))
    assert not [path for _, path, _ in fake.requests if path.startswith("/history")]  # `executed` came for both

    assert isinstance(first_outcome, RunSucceeded) and isinstance(again, RunSucceeded)
    assert not any(isinstance(e, ev.Progress) for e in again_events)
    assert not any(isinstance(e, ev.Executing) and e.node is not None for e in again_events)
    assert again.results() == first_outcome.results()  # the old file names, as the real server sends
    assert any(isinstance(e, ev.ExecutionCached) and len(e.nodes) == 7 for e in again_events)


async def test_run_time_error_is_a_typed_failure(fake: FakeComfy, backend: ComfyBackend) -> None:
    fake.failures["CheckpointLoaderSimple"] = (
        "safetensors._safetensors_rust.SafetensorError",
        "Error while deserializing header: header too large\n",
    )
    _, outcome = await collect(await backend.submit(graph("txt2img")))

    assert isinstance(outcome, RunFailed)
    assert outcome.node_type == "CheckpointLoaderSimple" and outcome.node_id == "4"
    assert outcome.exception_type == "safetensors._safetensors_rust.SafetensorError"
    assert (
        outcome.message == "CheckpointLoaderSimple (node 4) failed: Error while deserializing header: header too large"
    )


async def test_interrupt_ends_the_run_at_once_and_touches_no_other_prompt(
    fake: FakeComfy, backend: ComfyBackend, client: ComfyClient
) -> None:
    fake.hold()
    running = await backend.submit(graph("txt2img", **{"3__steps": 40, "3__seed": 1}))
    waiting = await backend.submit(graph("txt2img", **{"3__steps": 2, "3__seed": 2}))
    await first(running, ev.ExecutionStart)

    await client.interrupt(waiting.prompt_id)  # not running: a silent no-op, as on the real server
    await client.interrupt(running.prompt_id)
    fake.release()

    events, outcome = await collect(running)
    assert isinstance(outcome, RunInterrupted) and outcome.node_type == "KSampler"
    assert not any(isinstance(e, ev.Progress) and e.value > 1 for e in events)
    _, other = await collect(waiting)
    assert isinstance(other, RunSucceeded)
    assert [body for method, path, body in fake.requests if path == "/interrupt"] == [
        f'{{"prompt_id": "{waiting.prompt_id}"}}'.encode(),
        f'{{"prompt_id": "{running.prompt_id}"}}'.encode(),
    ]


async def test_socket_cut_mid_run_and_the_run_finishing_while_disconnected(
    fake: FakeComfy, backend: ComfyBackend
) -> None:
    fake.hold()
    run = await backend.submit(graph("txt2img", **{"3__steps": 4}))
    await first(run, ev.ExecutionStart)

    fake.refuse_ws = True  # the socket cannot come back until the run is over
    await fake.drop_sockets()
    fake.release()
    await fake.until(lambda: run.prompt_id in fake.history)
    fake.refuse_ws = False

    _, outcome = await collect(run)
    assert isinstance(outcome, RunSucceeded) and outcome.from_history
    assert len(outcome.results()) == 2
    assert backend.stream.connects >= 2


async def test_server_restart_that_lost_the_prompt_fails_clearly(fake: FakeComfy, backend: ComfyBackend) -> None:
    fake.hold()
    run = await backend.submit(graph("txt2img", **{"3__steps": 4}))
    await first(run, ev.ExecutionStart)

    await fake.restart()

    _, outcome = await collect(run)
    assert isinstance(outcome, RunLost)
    assert "no longer has this prompt" in outcome.reason


async def test_prompt_deleted_from_the_queue_is_found_lost_after_a_silence(
    fake: FakeComfy, make_backend: BackendFactory, client: ComfyClient
) -> None:
    backend = make_backend(silence_timeout=0.2)
    fake.hold()
    running = await backend.submit(graph("txt2img", **{"3__seed": 1}))
    deleted = await backend.submit(graph("txt2img", **{"3__seed": 2}))

    await client.delete_from_queue(deleted.prompt_id)  # ComfyUI sends no event for this, ever

    _, outcome = await collect(deleted)
    assert isinstance(outcome, RunLost)
    fake.release()
    _, kept = await collect(running)
    assert isinstance(kept, RunSucceeded)


async def test_unknown_messages_and_malformed_frames_are_ignored_and_logged(
    fake: FakeComfy, backend: ComfyBackend, caplog: pytest.LogCaptureFixture
) -> None:
    fake.hold()
    run = await backend.submit(graph("txt2img"))
    await first(run, ev.ExecutionStart)
    with caplog.at_level(logging.WARNING, logger="bot.comfy.stream"):
        await fake.inject('{"type": "crystools.monitor", "data": {"cpu_utilization": 12}}')
        await fake.inject("{this is not json")
        await fake.inject(b"\x00\x00\x00\x04\x00\x00\x10\x00{")
        fake.release()
        _, outcome = await collect(run)

    assert isinstance(outcome, RunSucceeded)
    assert backend.stream.malformed == 2
    assert sum("malformed frame" in r.getMessage() for r in caplog.records) == 2
    assert backend.stream.connects == 1  # the stream went on over the same socket


async def test_preview_image_nodes_are_never_results_when_images_are_saved(backend: ComfyBackend) -> None:
    workflow = graph("txt2img")
    workflow["20"] = {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}}
    events, outcome = await collect(await backend.submit(workflow))

    assert isinstance(outcome, RunSucceeded)
    assert {ref.type for ref in outcome.results()} == {"output"}
    assert {ref.type for refs in outcome.outputs.values() for ref in refs} == {"output", "temp"}
    assert any(isinstance(e, ev.PreviewImage) for e in events)  # live previews came, and are not results


async def test_only_preview_nodes_give_temp_results_and_text_frames(
    fake: FakeComfy, backend: ComfyBackend, client: ComfyClient
) -> None:
    uploaded = await client.upload_image(b"\x89PNG fake bytes", "lab_j.png", overwrite=True)
    workflow = graph("preview_text", **{"1__image": uploaded.ref.as_input()})
    events, outcome = await collect(await backend.submit(workflow))

    assert isinstance(outcome, RunSucceeded)
    assert [ref.type for ref in outcome.results()] == ["temp", "temp"]
    assert ev.NodeText("2", "width: 64, height: 64\n batch size: 1") in events


async def test_partially_valid_prompt_reports_the_dropped_branch(backend: ComfyBackend) -> None:
    workflow = graph("txt2img")
    workflow["12"] = {**workflow["3"], "inputs": {**workflow["3"]["inputs"], "steps": 0}}
    workflow["11"] = {"class_type": "VAEDecode", "inputs": {"samples": ["12", 0], "vae": ["4", 2]}}
    workflow["10"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "bad", "images": ["11", 0]}}
    run = await backend.submit(workflow)
    _, outcome = await collect(run)

    assert isinstance(outcome, RunSucceeded)
    assert list(outcome.dropped) == ["12"]
    assert outcome.dropped["12"].errors[0].type == "value_smaller_than_min"
    assert set(outcome.outputs) == {"9"}


async def test_a_restarted_bot_follows_prompts_under_the_same_client_id(
    fake: FakeComfy, make_backend: BackendFactory
) -> None:
    old = make_backend(client_id="stable-id")
    await old.stream.wait_connected()
    finished = await old.submit(graph("txt2img", **{"3__seed": 1}))
    await fake.until(lambda: finished.prompt_id in fake.history)
    fake.hold()
    running = await old.submit(graph("txt2img", **{"3__seed": 2, "3__steps": 3}))
    await fake.until(lambda: fake.running is not None and fake.running.prompt_id == running.prompt_id)
    await old.close()  # the bot stops; ComfyUI goes on

    new = make_backend(client_id="stable-id")
    done_while_away = new.follow(finished.prompt_id)
    still_running = new.follow(running.prompt_id)
    _, outcome = await collect(done_while_away)
    assert isinstance(outcome, RunSucceeded) and len(outcome.results()) == 2
    await new.stream.wait_connected()
    fake.release()
    events, live = await collect(still_running)
    assert isinstance(live, RunSucceeded)
    assert any(isinstance(e, ev.Progress) for e in events)  # live events reach the new socket


async def test_cached_prompt_cannot_outrun_its_subscriber(backend: ComfyBackend) -> None:
    await (await backend.submit(graph("txt2img"))).outcome()
    outcomes = [await (await backend.submit(graph("txt2img"))).outcome() for _ in range(20)]
    assert all(isinstance(o, RunSucceeded) and len(o.results()) == 2 for o in outcomes)


async def test_idle_minutes_between_jobs_lose_no_result(fake: FakeComfy, make_backend: BackendFactory) -> None:
    """A NAT or proxy silently drops the idle socket. The heartbeat finds it dead and the bot reconnects under
    the same client id; when the server learns late that the old connection is gone, it forgets the id and the
    new socket goes deaf (recorded real-server behaviour). The next job must still be delivered."""
    proxy = await SilentProxy(fake.port).start()
    try:
        backend = make_backend(url=proxy.base_url, heartbeat=0.2, echo_timeout=0.5, silence_timeout=1.0)
        _, outcome = await collect(await backend.submit(graph("txt2img", **{"3__seed": 1})))
        assert isinstance(outcome, RunSucceeded)

        proxy.blackhole()  # the idle connection dies without a word
        await fake.until(lambda: len(fake.conns) == 2)  # the heartbeat noticed; a new socket registered
        await proxy.release()  # the server learns late that the old one is gone...
        await fake.until(lambda: len(fake.conns) == 1 and not fake.sockets)  # ...and forgets the id

        _, outcome = await collect(await backend.submit(graph("txt2img", **{"3__seed": 2})))
        assert isinstance(outcome, RunSucceeded) and len(outcome.results()) == 2
        assert backend.stream.connects >= 2
    finally:
        await proxy.stop()


async def test_a_deaf_socket_is_reopened_after_a_submission_gets_no_echo(
    fake: FakeComfy, make_backend: BackendFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The state the server bug leaves: our socket open, our client id forgotten. Every submission makes the
    server broadcast `status`; hearing nothing after one means the socket is deaf."""
    backend = make_backend(echo_timeout=0.3)
    await backend.stream.wait_connected()
    fake.sockets.clear()  # the server forgot our id; the socket stays open and hears nothing

    with caplog.at_level(logging.WARNING, logger="bot.comfy.stream"):
        _, outcome = await collect(await backend.submit(graph("txt2img")))

    assert isinstance(outcome, RunSucceeded) and len(outcome.results()) == 2
    assert backend.stream.connects == 2
    assert any("no frame after a submission" in r.getMessage() for r in caplog.records)


async def test_re_attaching_many_prompts_reads_the_queue_once_or_twice(
    fake: FakeComfy, make_backend: BackendFactory
) -> None:
    old = make_backend(client_id="stable-id")
    runs = [await old.submit(graph("txt2img", **{"3__seed": n})) for n in range(8)]
    await fake.until(lambda: all(run.prompt_id in fake.history for run in runs))
    await old.close()
    before = len(fake.requests)

    new = make_backend(client_id="stable-id")
    followed = [new.follow(run.prompt_id) for run in runs]  # as recovery at start-up does
    outcomes = [await run.outcome() for run in followed]

    assert all(isinstance(outcome, RunSucceeded) for outcome in outcomes)
    queue_reads = [path for _, path, _ in fake.requests[before:] if path == "/queue"]
    assert 1 <= len(queue_reads) <= 2


async def test_a_model_is_loaded_only_when_the_loader_is_not_the_last_prompts(
    fake: FakeComfy, backend: ComfyBackend
) -> None:
    """As recorded (b_cached_rerun.json): a loader with the last prompt's inputs is in `execution_cached` and reads
    nothing; another checkpoint is read from disk, taking the server's load time."""
    fake.model_load_seconds = 0.05
    checkpoints(fake).append("sdxl.safetensors")
    other = {"4__ckpt_name": "sdxl.safetensors"}
    outcomes = []
    for prompt in (graph("txt2img"), graph("txt2img", **{"6__text": "an owl"}), graph("txt2img", **other)):
        events, outcome = await collect(await backend.submit(prompt))
        cached = next(e for e in events if isinstance(e, ev.ExecutionCached))
        outcomes.append((isinstance(outcome, RunSucceeded), "4" in cached.nodes))
    assert outcomes == [(True, False), (True, True), (True, False)]
    assert fake.executor.loads == [graph("txt2img")["4"]["inputs"]["ckpt_name"], "sdxl.safetensors"]

"""The REST client against the fake ComfyUI: typed results, typed errors, retries only where safe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.comfy.client import ComfyClient, redacted
from bot.comfy.errors import ComfyNotFound, ComfyProtocolError, ComfyRejected, ComfyUnavailable, PromptRejected
from bot.comfy.events import FileRef
from tests.conftest import graph
from tests.fakes.comfy_server import FakeComfy

RECORDED = json.loads((Path(__file__).parent.parent / "fixtures" / "prompt_responses.json").read_text())
REJECTIONS = [r for r in RECORDED if r["status"] == 400]


def prompt_posts(fake: FakeComfy) -> int:
    return sum(1 for method, path, _ in fake.requests if (method, path) == ("POST", "/prompt"))


@pytest.mark.parametrize("recorded", REJECTIONS, ids=[r["label"] for r in REJECTIONS])
async def test_each_recorded_rejection_becomes_a_typed_error(
    fake: FakeComfy, client: ComfyClient, recorded: dict[str, Any]
) -> None:
    fake.answer_next("POST", "/prompt", 400, recorded["body"])
    with pytest.raises(PromptRejected) as caught:
        await client.submit(graph("txt2img"), client_id="me")

    error, body = caught.value, recorded["body"]
    assert error.error.type == body["error"]["type"]
    assert error.error.message == body["error"]["message"]
    assert set(error.node_errors) == set(body["node_errors"])
    for node_id, node in body["node_errors"].items():
        assert error.node_errors[node_id].class_type == node["class_type"]
        assert [i.message for i in error.node_errors[node_id].errors] == [e["message"] for e in node["errors"]]
        assert [i.details for i in error.node_errors[node_id].errors] == [e["details"] for e in node["errors"]]
        assert f"node {node_id} ({node['class_type']})" in str(error)
    assert prompt_posts(fake) == 1  # a rejection is final: never re-posted


async def test_a_rejection_message_names_the_node_and_the_reason(client: ComfyClient) -> None:
    workflow = graph("txt2img", **{"4__ckpt_name": "does_not_exist.safetensors"})
    with pytest.raises(PromptRejected) as caught:
        await client.submit(workflow, client_id="me")
    assert str(caught.value) == (
        "Prompt outputs failed validation\n"
        "node 4 (CheckpointLoaderSimple): Value not in list: "
        "ckpt_name: 'does_not_exist.safetensors' not in ['sd15-random.safetensors']"
    )
    assert caught.value.node_errors["4"].errors[0].input_name == "ckpt_name"


async def test_submit_uses_our_prompt_id_and_client_id(fake: FakeComfy, client: ComfyClient) -> None:
    result = await client.submit(graph("txt2img"), client_id="me", prompt_id="chosen-id")
    assert result.prompt_id == "chosen-id" and not result.recovered
    body = json.loads(next(b for m, p, b in fake.requests if p == "/prompt"))
    assert body["client_id"] == "me" and body["prompt_id"] == "chosen-id"


async def test_a_lost_answer_is_looked_up_not_posted_again(fake: FakeComfy, client: ComfyClient) -> None:
    fake.hold()
    fake.fail_next("POST", "/prompt", "lost")  # ComfyUI queues it; the answer never arrives
    result = await client.submit(graph("txt2img"), client_id="me", prompt_id="p1")

    assert result.recovered and result.prompt_id == "p1"
    assert prompt_posts(fake) == 1
    queue = await client.queue()
    assert [e.prompt_id for e in (*queue.running, *queue.pending)] == ["p1"]
    fake.release()


async def test_a_prompt_that_did_not_arrive_is_posted_again(fake: FakeComfy, client: ComfyClient) -> None:
    fake.fail_next("POST", "/prompt", "drop")  # the connection died before ComfyUI saw the prompt
    result = await client.submit(graph("txt2img"), client_id="me", prompt_id="p2")
    assert result.prompt_id == "p2" and not result.recovered
    assert prompt_posts(fake) == 2
    await fake.until(lambda: "p2" in fake.history)
    assert len(fake.history) == 1


async def test_a_5xx_on_submit_is_checked_then_retried(fake: FakeComfy, client: ComfyClient) -> None:
    fake.fail_next("POST", "/prompt", "500")
    result = await client.submit(graph("txt2img"), client_id="me")
    assert prompt_posts(fake) == 2 and not result.recovered
    assert ("GET", "/queue") in [(m, p) for m, p, _ in fake.requests]


async def test_idempotent_calls_retry_5xx_then_give_up(fake: FakeComfy, client: ComfyClient) -> None:
    fake.fail_next("GET", "/queue", "500", times=2)
    assert len(await client.queue()) == 0  # third attempt answers
    fake.fail_next("GET", "/queue", "500", times=3)
    with pytest.raises(ComfyUnavailable, match="HTTP 500"):
        await client.queue()


async def test_garbage_and_timeouts_become_typed_errors(fake: FakeComfy, session: aiohttp.ClientSession) -> None:
    quick = ComfyClient(session, fake.base_url, timeout=0.2, retries=0)
    fake.fail_next("GET", "/system_stats", "garbage")
    with pytest.raises(ComfyProtocolError):
        await quick.system_stats()
    fake.fail_next("GET", "/system_stats", "slow", delay=1.0)
    with pytest.raises(ComfyUnavailable, match="timed out"):
        await quick.system_stats()


async def test_a_server_that_is_down_is_unavailable(session: aiohttp.ClientSession) -> None:
    fake = await FakeComfy().start()
    url = fake.base_url
    await fake.stop()
    with pytest.raises(ComfyUnavailable, match="unavailable"):
        await ComfyClient(session, url, retries=1, backoff=0.01).queue()


async def test_queue_shapes_delete_clear_and_front(fake: FakeComfy, client: ComfyClient) -> None:
    fake.hold()
    ids = [(await client.submit(graph("txt2img", **{"3__seed": n}), client_id="me")).prompt_id for n in range(3)]
    await fake.until(lambda: fake.running is not None)
    jumped = await client.submit(graph("txt2img", **{"3__seed": 9}), client_id="me", front=True)

    queue = await client.queue()
    assert [e.prompt_id for e in queue.running] == [ids[0]]
    assert [e.prompt_id for e in queue.pending] == [jumped.prompt_id, ids[1], ids[2]]  # front first, then order
    assert queue.pending[0].number < 0 and queue.running[0].client_id == "me"
    assert queue.running[0].output_nodes == ("9",)

    await client.delete_from_queue(ids[1])
    await client.delete_from_queue(ids[0])  # running: ComfyUI ignores this
    queue = await client.queue()
    assert queue.is_running(ids[0]) and not queue.has(ids[1])
    await client.clear_queue()
    queue = await client.queue()
    assert [e.prompt_id for e in queue.running] == [ids[0]] and queue.pending == ()
    fake.release()
    await fake.until(lambda: ids[0] in fake.history)
    assert await client.history_entry(ids[1]) is None  # a deleted prompt leaves no trace


async def test_history_listing_and_deletion(fake: FakeComfy, client: ComfyClient) -> None:
    ids = [(await client.submit(graph("txt2img", **{"3__seed": n}), client_id="me")).prompt_id for n in range(3)]
    await fake.until(lambda: len(fake.history) == 3)

    entry = await client.history_entry(ids[0])
    assert entry is not None and entry.status == "success" and entry.completed
    assert [f.filename for f in entry.files] == ["lab_a_00001_.png", "lab_a_00002_.png"]
    assert list(await client.history(max_items=2)) == ids[1:]
    assert list(await client.history(max_items=1, offset=0)) == ids[:1]
    assert await client.history_entry("00000000-0000-0000-0000-000000000000") is None

    await client.delete_history(ids[0], "not-a-real-id")
    assert list(await client.history()) == ids[1:]
    await client.clear_history()
    assert await client.history() == {}


async def test_view_streams_files_and_maps_errors(fake: FakeComfy, client: ComfyClient) -> None:
    fake.files[("output", "", "big.png")] = b"\x89PNG" + bytes(300_000)
    chunks = [chunk async for chunk in client.iter_view(FileRef("big.png"), chunk_size=65536)]
    assert len(chunks) > 1 and b"".join(chunks) == fake.files[("output", "", "big.png")]
    with pytest.raises(ComfyProtocolError, match="larger than"):
        await client.view(FileRef("big.png"), max_bytes=1000)

    with pytest.raises(ComfyNotFound):
        await client.view(FileRef("does_not_exist_00001_.png"))
    with pytest.raises(ComfyNotFound):
        await client.view(FileRef("big.png", type="input"))  # right name, wrong type
    for bad, status in [
        (FileRef("../../etc/passwd"), 400),
        (FileRef("/etc/passwd"), 400),
        (FileRef("big.png", type="bogus"), 400),
        (FileRef("passwd", subfolder="../../../../../etc"), 403),
    ]:
        with pytest.raises(ComfyRejected) as caught:
            await client.view(bad)
        assert caught.value.status == status


async def test_upload_dedups_renames_and_refuses_traversal(client: ComfyClient) -> None:
    first = await client.upload_image(b"\x89PNG one", "lab_upload.png", overwrite=True)
    same = await client.upload_image(b"\x89PNG one", "lab_upload.png")
    other = await client.upload_image(b"\x89PNG two", "lab_upload.png")
    nested = await client.upload_image(b"\x89PNG two", "lab_upload.png", subfolder="discord")

    assert (first.name, same.name, other.name) == ("lab_upload.png", "lab_upload.png", "lab_upload (1).png")
    assert nested.ref == FileRef("lab_upload.png", "discord", "input")
    assert nested.ref.as_input() == "discord/lab_upload.png"
    assert await client.view(other.ref) == b"\x89PNG two"
    with pytest.raises(ComfyRejected) as caught:
        await client.upload_image(b"\x89PNG", "evil.png", subfolder="../../")
    assert caught.value.status == 400


async def test_uploaded_image_feeds_img2img(fake: FakeComfy, client: ComfyClient) -> None:
    uploaded = await client.upload_image(b"\x89PNG input", "lab_upload.png", overwrite=True)
    result = await client.submit(graph("img2img", **{"10__image": uploaded.ref.as_input()}), client_id="me")
    await fake.until(lambda: result.prompt_id in fake.history)
    with pytest.raises(PromptRejected, match=r"Invalid image file: not_uploaded\.png"):
        await client.submit(graph("img2img", **{"10__image": "not_uploaded.png"}), client_id="me")


async def test_information_endpoints(client: ComfyClient) -> None:
    stats = await client.system_stats()
    assert stats.comfyui_version == "0.3.64" and stats.devices[0].type == "cpu"
    nodes = await client.object_info()
    assert nodes["KSampler"].required["steps"].min == 1
    assert "euler" in (nodes["KSampler"].required["sampler_name"].choices or ())
    assert nodes["SaveImage"].output_node
    assert (await client.object_info("CheckpointLoaderSimple"))["CheckpointLoaderSimple"].required[
        "ckpt_name"
    ].choices == ("sd15-random.safetensors",)
    assert await client.object_info("NoSuchNode") == {}
    await client.free()
    await client.interrupt("not-running")  # idle: a no-op


async def test_auth_header_is_sent_and_never_shown(fake: FakeComfy, session: aiohttp.ClientSession) -> None:
    secret = "Bearer s3cret-token"
    url = fake.base_url.replace("http://", "http://user:hunter2@")
    guarded = ComfyClient(session, url, headers={"X-Api-Key": secret}, retries=0)
    await guarded.queue()
    assert fake.headers_seen[-1]["X-Api-Key"] == secret
    fake.fail_next("GET", "/queue", "500")
    with pytest.raises(ComfyUnavailable) as caught:
        await guarded.queue()
    assert "s3cret" not in str(caught.value) and "hunter2" not in str(caught.value)
    assert redacted(url) == fake.base_url

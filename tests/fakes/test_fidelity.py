"""The fake ComfyUI answers every recorded POST /prompt as the real server did (status, error, node errors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.comfy_server import FakeComfy

RECORDED = json.loads((Path(__file__).parent.parent / "fixtures" / "prompt_responses.json").read_text())


def node_errors(body: dict[str, Any]) -> dict[str, Any]:
    """Node errors without the parts the real server fills from a Python set or a traceback."""
    return {
        node: {
            "class_type": entry["class_type"],
            "dependent_outputs": sorted(entry["dependent_outputs"]),
            "errors": sorted((e["type"], e["message"], e["details"]) for e in entry["errors"]),
        }
        for node, entry in (body.get("node_errors") or {}).items()
    }


@pytest.mark.parametrize("recorded", RECORDED, ids=[r["label"] for r in RECORDED])
async def test_fake_answers_like_the_recording(
    fake: FakeComfy, session: aiohttp.ClientSession, recorded: dict[str, Any]
) -> None:
    if "link to a node id that does not exist" in recorded["label"]:
        pytest.skip("the real server blames the upstream KSampler through a KeyError; the fake blames the link")
    for name in ("lab_upload.png", "fake.png"):
        fake.files[("input", "", name)] = b"\x89PNG"
    fake.files[("input", "discord", "lab_upload.png")] = b"\x89PNG"
    if "corrupt checkpoint" in recorded["label"]:  # the recorder had put this file in models/checkpoints
        fake.object_info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0].append("broken.safetensors")
    if recorded["request"] is not None:
        payload = json.dumps(recorded["request"]).encode()
    else:
        payload = (recorded["raw_request"] or "").encode()

    async with session.post(fake.base_url + "/prompt", data=payload) as response:
        assert response.status == recorded["status"]
        if "text" in recorded:
            assert response.content_type == "text/plain"
            assert await response.text() == recorded["text"]
            return
        body = await response.json()
    expected = recorded["body"]
    if "error" in expected:
        assert body["error"] == expected["error"]
    else:
        assert set(body) == {"prompt_id", "number", "node_errors"}
        if recorded["request"].get("prompt_id"):
            assert body["prompt_id"] == recorded["request"]["prompt_id"]
    assert node_errors(body) == node_errors(expected)


FRAMES = Path(__file__).parent.parent / "fixtures" / "frames"


def shape(frame: str | bytes) -> str:
    """A frame as its kind: the message type, `executing:null`, or `bin<type>`; progress_state is skipped."""
    if isinstance(frame, bytes):
        return f"bin{int.from_bytes(frame[:4], 'big')}"
    message = json.loads(frame)
    if message["type"] == "executing" and message["data"]["node"] is None:
        return "executing:null"
    return str(message["type"])


def recorded_shapes(scenario: str) -> list[str]:
    shapes = []
    for line in (FRAMES / f"{scenario}.jsonl").read_text().splitlines():
        frame = json.loads(line)
        raw = frame["text"] if frame["frame"] == "text" else bytes.fromhex(f"{frame['event_type']:08x}")
        shapes.append(shape(raw))
    return [s for s in shapes if s != "progress_state"]


async def run_and_capture(
    ws: aiohttp.ClientWebSocketResponse, session: aiohttp.ClientSession, url: str, prompt: Any
) -> list[str]:
    async with session.post(url + "/prompt", json={"prompt": prompt, "client_id": "recorder"}) as response:
        assert response.status == 200
    shapes: list[str] = []
    async for message in ws:
        kind = shape(message.data)
        if kind != "progress_state":
            shapes.append(kind)
        if kind == "executing:null":
            return shapes
    raise AssertionError("socket closed")


async def test_message_order_of_cold_cached_and_partly_cached_runs(
    fake: FakeComfy, session: aiohttp.ClientSession
) -> None:
    graph = json.loads((Path(__file__).parent.parent / "fixtures" / "graphs" / "txt2img.json").read_text())
    cold, cached = recorded_shapes("a_txt2img_batch2"), recorded_shapes("b_cached_rerun")
    async with session.ws_connect(fake.base_url + "/ws?clientId=recorder") as ws:
        first = await ws.receive()
        assert shape(first.data) == "status" and json.loads(first.data)["data"]["sid"] == "recorder"
        assert ["status", *await run_and_capture(ws, session, fake.base_url, graph)] == cold
        assert ["status", *await run_and_capture(ws, session, fake.base_url, graph)] == cached[:9]
        graph["6"]["inputs"]["text"] = "a photo of a dog"
        assert await run_and_capture(ws, session, fake.base_url, graph) == cached[9:]

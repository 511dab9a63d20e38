"""Every frame a real ComfyUI sent in the recordings parses into the event its type announces."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest

from bot.comfy import events as ev
from bot.comfy.events import MalformedFrame, parse_binary, parse_text

FRAMES = Path(__file__).parent.parent / "fixtures" / "frames"
SCENARIOS = sorted(path.stem for path in FRAMES.glob("*.jsonl"))
TEXT_TYPES = {
    "status": ev.Status,
    "feature_flags": ev.FeatureFlags,
    "execution_start": ev.ExecutionStart,
    "execution_cached": ev.ExecutionCached,
    "executing": ev.Executing,
    "progress": ev.Progress,
    "progress_state": ev.ProgressState,
    "executed": ev.Executed,
    "execution_success": ev.ExecutionSuccess,
    "execution_error": ev.ExecutionError,
    "execution_interrupted": ev.ExecutionInterrupted,
}
BINARY_TYPES = {1: ev.PreviewImage, 3: ev.NodeText, 4: ev.PreviewImage}


def test_every_scenario_is_replayed() -> None:
    assert len(SCENARIOS) == 10


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_recorded_frames_parse_into_their_events(scenario: str) -> None:
    seen: set[type] = set()
    for line in (FRAMES / f"{scenario}.jsonl").read_text().splitlines():
        frame = json.loads(line)
        if frame["frame"] == "text":
            message = json.loads(frame["text"])
            event = parse_text(frame["text"])
            assert isinstance(event, TEXT_TYPES[message["type"]])
            data = message["data"]
            if "prompt_id" in data:
                assert getattr(event, "prompt_id", None) == data["prompt_id"]
            if isinstance(event, ev.Executed):
                assert [f.filename for f in event.files] == [i["filename"] for i in data["output"]["images"]]
            if isinstance(event, ev.Status):
                assert event.queue_remaining == data["status"]["exec_info"]["queue_remaining"]
        else:
            raw = base64.b64decode(frame["b64"])
            event = parse_binary(raw)
            assert isinstance(event, BINARY_TYPES[frame["event_type"]])
            if isinstance(event, ev.PreviewImage) and not frame["truncated"]:
                assert event.image[:3] == b"\xff\xd8\xff" and event.mime == "image/jpeg"
                assert (event.prompt_id is not None) == (frame["event_type"] == 4)
        seen.add(type(event))
    assert ev.Status in seen


def test_executing_end_and_reconnect_shapes() -> None:
    end = parse_text('{"type":"executing","data":{"node":null,"prompt_id":"p"}}')
    replay = parse_text('{"type":"executing","data":{"node":"3"}}')
    assert isinstance(end, ev.Executing) and end.prompt_finished
    assert isinstance(replay, ev.Executing) and not replay.prompt_finished and replay.prompt_id is None


def test_text_frame_of_get_image_size() -> None:
    frame = struct.pack(">II", 3, 1) + b"2" + b"width: 64, height: 64\n batch size: 1"
    assert parse_binary(frame) == ev.NodeText("2", "width: 64, height: 64\n batch size: 1")


def test_unknown_types_are_none() -> None:
    assert parse_text('{"type":"crystools.monitor","data":{"cpu_utilization":3}}') is None
    assert parse_binary(struct.pack(">II", 9, 0) + b"xx") is None


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[]",
        '{"data":{}}',
        '{"type":"progress","data":"nope"}',
        '{"type":"progress","data":{"value":"many","max":3}}',
        '{"type":"status","data":{"status":{}}}',
        '{"type":"executed","data":{"node":"9","prompt_id":"p"}}',
        '{"type":"execution_start","data":{}}',
    ],
)
def test_malformed_text_frames_raise(raw: str) -> None:
    with pytest.raises(MalformedFrame):
        parse_text(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\x00",
        struct.pack(">II", 4, 500) + b"{}",
        struct.pack(">II", 4, 2) + b"[]",
        struct.pack(">II", 4, 3) + b"{{{",
        struct.pack(">II", 3, 9) + b"2",
        struct.pack(">II", 3, 1) + b"2" + b"\xff\xfe",
    ],
)
def test_malformed_binary_frames_raise(raw: bytes) -> None:
    with pytest.raises(MalformedFrame):
        parse_binary(raw)

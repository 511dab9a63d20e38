"""Typed ComfyUI WebSocket events and the parser that makes them from frames.

Text frames are `{"type": ..., "data": {...}}`; binary frames start with a big-endian u32 event type:
1 = preview `[1][format][image]`, 3 = node text `[3][len][node id][text]`,
4 = preview with metadata `[4][json_len][json][image]`. Unknown types parse to `None` (extensions send their
own); a frame that is not what its type promises raises `MalformedFrame`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from pydantic import TypeAdapter, ValidationError

from . import json_text


class MalformedFrame(ValueError):
    """A frame that cannot be parsed into the event its type announces."""


SAFE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".gif", ".mp4", ".webm", ".mov", ".wav", ".mp3", ".flac", ".opus", ".ogg"}
    | {".txt", ".glb", ".svg"}
)
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}")


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file on a ComfyUI server, as `/view` and `LoadImage` address it."""

    filename: str
    subfolder: str = ""
    type: str = "output"

    def as_input(self) -> str:
        """The value a LoadImage node takes for this file ("sub/name.png")."""
        return f"{self.subfolder}/{self.filename}" if self.subfolder else self.filename

    def safe_name(self, fallback: str) -> str:
        """A name to save or attach this file under, never a path from the server (`../`, `/etc/...`): its own
        base name when that is plain (letters, digits, `._-`) with a known suffix, else `fallback` and the
        suffix (`.bin` for an unknown one)."""
        name = PurePosixPath(self.filename.replace("\\", "/")).name
        suffix = PurePosixPath(name).suffix.lower()
        if PLAIN_NAME.fullmatch(name) and suffix in SAFE_SUFFIXES:
            return name
        return fallback + (suffix if suffix in SAFE_SUFFIXES else ".bin")


@dataclass(frozen=True, slots=True)
class Status:
    queue_remaining: int
    sid: str | None = None


@dataclass(frozen=True, slots=True)
class FeatureFlags:
    supports_preview_metadata: bool = False
    max_upload_size: int | None = None


@dataclass(frozen=True, slots=True)
class ExecutionStart:
    prompt_id: str
    timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class ExecutionCached:
    prompt_id: str
    nodes: tuple[str, ...] = ()
    timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class Executing:
    """A node started; `node is None` with a prompt id means the prompt is finished.

    After a reconnect the server sends one with only `node` (no prompt id)."""

    node: str | None
    prompt_id: str | None = None
    display_node: str | None = None

    @property
    def prompt_finished(self) -> bool:
        return self.node is None and self.prompt_id is not None


@dataclass(frozen=True, slots=True)
class Progress:
    value: float
    max: float
    prompt_id: str | None = None
    node: str | None = None


@dataclass(frozen=True, slots=True)
class NodeProgress:
    state: str
    value: float = 0.0
    max: float = 1.0


@dataclass(frozen=True, slots=True)
class ProgressState:
    prompt_id: str
    nodes: Mapping[str, NodeProgress] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Executed:
    """An output node finished; `files` are its images (and any other file lists it reported)."""

    node: str
    prompt_id: str
    display_node: str | None = None
    files: tuple[FileRef, ...] = ()
    texts: tuple[str, ...] = ()  # what a text output shows (PreviewAny, SaveText: `{"text": [...]}`)


@dataclass(frozen=True, slots=True)
class ExecutionSuccess:
    prompt_id: str
    timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class ExecutionError:
    prompt_id: str
    node_id: str | None = None
    node_type: str | None = None
    exception_type: str = ""
    exception_message: str = ""
    traceback: tuple[str, ...] = ()
    executed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExecutionInterrupted:
    prompt_id: str
    node_id: str | None = None
    node_type: str | None = None
    executed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PreviewImage:
    """A live preview. `prompt_id` is known only from type-4 frames; the stream fills it in for type 1."""

    image: bytes
    mime: str
    prompt_id: str | None = None
    node_id: str | None = None


@dataclass(frozen=True, slots=True)
class NodeText:
    """Binary type 3: text a node shows (broadcast to every socket, no prompt id)."""

    node_id: str
    text: str


Event = (
    Status
    | FeatureFlags
    | ExecutionStart
    | ExecutionCached
    | Executing
    | Progress
    | ProgressState
    | Executed
    | ExecutionSuccess
    | ExecutionError
    | ExecutionInterrupted
    | PreviewImage
    | NodeText
)
TERMINAL_EVENTS = (ExecutionSuccess, ExecutionError, ExecutionInterrupted)


def files_in_output(output: Mapping[str, Any]) -> tuple[FileRef, ...]:
    """Every `{filename, subfolder, type}` item in a node's `output` (or history `outputs[node]`)."""
    files: list[FileRef] = []
    for items in output.values():
        if not isinstance(items, list):
            continue
        for item in items:
            if isinstance(item, Mapping) and isinstance(item.get("filename"), str):
                files.append(_FILE.validate_python(item))
    return tuple(files)


_FILE: TypeAdapter[FileRef] = TypeAdapter(FileRef)


def texts_in_output(output: Mapping[str, Any]) -> tuple[str, ...]:
    """The strings of a node's `output.text` (PreviewAny sends `{"text": ["..."]}`, as recorded)."""
    items = output.get("text")
    return tuple(item for item in items if isinstance(item, str)) if isinstance(items, list) else ()


def _adapter(cls: type[Any]) -> Callable[[Any], Any]:
    return TypeAdapter(cls).validate_python


_STATUS = _adapter(Status)
_EXECUTED_HEAD = _adapter(Executed)


def _status(data: Mapping[str, Any]) -> Status:
    try:
        remaining = data["status"]["exec_info"]["queue_remaining"]
    except (KeyError, TypeError):
        raise MalformedFrame("status without status.exec_info.queue_remaining") from None
    status: Status = _STATUS({"queue_remaining": remaining, "sid": data.get("sid")})
    return status


def _executed(data: Mapping[str, Any]) -> Executed:
    if not isinstance(data.get("output"), Mapping):
        raise MalformedFrame("executed without an output object")
    head: Executed = _EXECUTED_HEAD(data)
    output = data["output"]
    return Executed(head.node, head.prompt_id, head.display_node, files_in_output(output), texts_in_output(output))


_TEXT_PARSERS: dict[str, Callable[[Any], Any]] = {
    "status": _status,
    "feature_flags": _adapter(FeatureFlags),
    "execution_start": _adapter(ExecutionStart),
    "execution_cached": _adapter(ExecutionCached),
    "executing": _adapter(Executing),
    "progress": _adapter(Progress),
    "progress_state": _adapter(ProgressState),
    "executed": _executed,
    "execution_success": _adapter(ExecutionSuccess),
    "execution_error": _adapter(ExecutionError),
    "execution_interrupted": _adapter(ExecutionInterrupted),
}


def parse_text(raw: str | bytes) -> Event | None:
    """Parse one text frame. `None` for a type this client does not know."""
    try:
        message = json_text.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedFrame(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise MalformedFrame("not a {type, data} object")
    parser = _TEXT_PARSERS.get(message["type"])
    if parser is None:
        return None
    data = message.get("data")
    if not isinstance(data, dict):
        raise MalformedFrame(f"{message['type']} without a data object")
    try:
        event: Event = parser(data)
    except ValidationError as exc:
        raise MalformedFrame(f"{message['type']}: {exc.error_count()} invalid field(s)") from None
    return event


_U32 = struct.Struct(">I")
_U32x2 = struct.Struct(">II")
_IMAGE_FORMATS = {1: "image/jpeg", 2: "image/png"}
PREVIEW_IMAGE = 1
TEXT = 3
PREVIEW_IMAGE_WITH_METADATA = 4


def parse_binary(frame: bytes) -> Event | None:
    """Parse one binary frame. `None` for an event type this client does not know."""
    if len(frame) < 8:
        raise MalformedFrame(f"binary frame of {len(frame)} bytes is shorter than its header")
    kind, second = _U32x2.unpack_from(frame)
    if kind == PREVIEW_IMAGE:
        return PreviewImage(image=frame[8:], mime=_IMAGE_FORMATS.get(second, "application/octet-stream"))
    if kind == PREVIEW_IMAGE_WITH_METADATA:
        end = 8 + second
        if end > len(frame):
            raise MalformedFrame("preview metadata runs past the end of the frame")
        try:
            meta = json_text.loads(frame[8:end])
        except ValueError:
            raise MalformedFrame("preview metadata is not JSON") from None
        if not isinstance(meta, dict):
            raise MalformedFrame("preview metadata is not an object")
        return PreviewImage(
            image=frame[end:],
            mime=str(meta.get("image_type") or "image/jpeg"),
            prompt_id=_opt_str(meta.get("prompt_id")),
            node_id=_opt_str(meta.get("display_node_id") or meta.get("node_id")),
        )
    if kind == TEXT:
        end = 8 + second
        if end > len(frame):
            raise MalformedFrame("node id runs past the end of the text frame")
        try:
            return NodeText(node_id=frame[8:end].decode(), text=frame[end:].decode())
        except UnicodeDecodeError:
            raise MalformedFrame("text frame is not UTF-8") from None
    return None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
